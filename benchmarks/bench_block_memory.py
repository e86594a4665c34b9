"""Peak memory and time of the physics inverse on a lazily generated band orbit, with and
without the non-negative consistency step (issues 23 and 26).

Run from a source checkout::

    python benchmarks/bench_block_memory.py [--scanlines 192] [--out FILE]

Each variant runs in a fresh process (so its peak RSS is its own): ``model="backprojection"``
(automatic settings, consistency) on :func:`xr_s5sr.orbit.make_orbit` band 3 (450 ground
pixels, 497 channels, input chunks of 64 scanlines), reduced with ``.sum()`` on dask's threaded
scheduler with two workers, so that nothing but the graph's own blocks is held. Results go to
``--out`` (JSON, with the run record). Not collected by pytest.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import resource
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def measure(n_scan: int, nonnegative: bool) -> dict[str, Any]:
    """One variant in this (fresh) process: seconds, peak RSS and the scanline chunks."""
    import dask

    from xr_s5sr.engine import super_resolve_array
    from xr_s5sr.orbit import make_orbit
    from xr_s5sr.spec import model_spec

    lr = make_orbit(3, n_scan, 450, seed=0, chunks=64).radiance.data
    spec = model_spec("backprojection", band=3, device="cpu", nonnegative=nonnegative)
    out = super_resolve_array(lr, spec)
    start = time.perf_counter()
    with dask.config.set(scheduler="threads", num_workers=2):
        out.sum().compute()
    return {
        "nonnegative": nonnegative,
        "seconds": time.perf_counter() - start,
        "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "hr_scanline_chunks": list(out.chunks[0][:2]),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scanlines", type=int, default=192)
    parser.add_argument(
        "--out", type=Path, default=ROOT / "benchmarks" / "results-block-memory.json"
    )
    args = parser.parse_args(argv)
    from xr_s5sr.versions import run_record

    runs = []
    for nonnegative in (False, True):
        with multiprocessing.get_context("spawn").Pool(1) as pool:
            run = pool.apply(measure, (args.scanlines, nonnegative))
        runs.append(run)
        print(
            f"backprojection nonnegative={nonnegative}: {run['seconds']:.1f} s, "
            f"peak RSS {run['peak_rss_bytes'] / 2**30:.2f} GiB, "
            f"HR chunks {run['hr_scanline_chunks']}",
            flush=True,
        )
    result = {"scanlines": args.scanlines, "runs": runs, "record": run_record()}
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
