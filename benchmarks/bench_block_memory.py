"""Peak memory and time of the physics path on lazily generated band-3 orbits of several
lengths: is the memory flat in the granule's length (issues 23 and 26)?

Run from a source checkout::

    python benchmarks/bench_block_memory.py [--scanlines 96,192,384] [--methods ...]
        [--default-scanlines 96,192] [--merge] [--out FILE]

Each case runs in a fresh process (so its peak RSS is its own): ``super_resolve_array`` of
:func:`xr_s5sr.orbit.make_orbit` band 3 (450 ground pixels, 497 channels, input chunks of 64
scanlines) with one method, reduced with ``.sum()`` on dask's threaded scheduler with two
workers, so that nothing but the graph's own blocks is held. Methods:

``backprojection``
    the training-free physics inverse with its default settings (automatic μ, consistency,
    the non-negative step);
``backprojection_projected``
    the same with ``nonnegative=False`` (the consistency projection alone);
``s5dscr``
    the default (S5-DSCR on the physics inverse, automatic settings, non-negative consistency),
    run on the ``--default-scanlines`` lengths only.

``--held 384,1536`` runs each method on the sync scheduler at 48 ground pixels and records
the most bytes of task results held at once (``held_bytes_48_pixels``): is the graph's own
memory flat in the length? ``--order 96,384,...`` runs nothing: it records, per method and
length, the most task results dask's static order holds at once in the case's graph
(``live_results``).

Results go to ``--out`` (JSON: one entry per case with the commit that ran it, and the run
record); ``--merge`` keeps the other entries already in the file (a case measured again on
the same commit replaces its entry), so that the runs of the code before a change stay next to
those after it.
Not collected by pytest.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

#: Keyword arguments of :func:`xr_s5sr.spec.model_spec` by method label.
METHODS: dict[str, dict[str, Any]] = {
    "backprojection": {"model": "backprojection"},
    "backprojection_projected": {"model": "backprojection", "nonnegative": False},
    "s5dscr": {"model": "s5dscr"},
}


def measure(method: str, n_scan: int) -> dict[str, Any]:
    """One case in this (fresh) process: seconds, peak RSS and the scanline chunks."""
    import dask

    from xr_s5sr.engine import super_resolve_array
    from xr_s5sr.orbit import make_orbit
    from xr_s5sr.spec import model_spec
    from xr_s5sr.versions import run_record

    lr = make_orbit(3, n_scan, 450, seed=0, chunks=64).radiance.data
    spec = model_spec(band=3, device="cpu", **METHODS[method])
    out = super_resolve_array(lr, spec)
    start = time.perf_counter()
    with dask.config.set(scheduler="threads", num_workers=2):
        out.sum().compute()
    return {
        "method": method,
        "scanlines": n_scan,
        "nonnegative": spec.nonnegative,
        "seconds": time.perf_counter() - start,
        "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "hr_scanline_chunks": list(out.chunks[0][:2]),
        "commit": run_record()["commit"],
    }


def live_results(method: str, n_scan: int) -> int:
    """Most task results dask's static order (``dask.order``, which the threaded scheduler
    follows) holds at once for a case's graph: built, not computed (a graph-level reading of
    how the peak grows with the length)."""
    import dask
    import dask.array as da
    import numpy as np
    from dask.order import diagnostics

    from xr_s5sr.engine import super_resolve_array
    from xr_s5sr.spec import model_spec

    lr = da.zeros((n_scan, 450, 497), chunks=(64, -1, -1), dtype=np.float32)
    out = super_resolve_array(lr, model_spec(band=3, device="cpu", **METHODS[method])).sum()
    (optimised,) = dask.optimize(out)  # the graph the scheduler runs (slices fused)
    _, pressure = diagnostics(dict(optimised.__dask_graph__()))
    return max(pressure)


def held_bytes(method: str, n_scan: int, ground_pixels: int = 48) -> int:
    """Most bytes of task results dask holds at once for a case, computed on the sync
    scheduler (which follows ``dask.order``) with a callback that sums the cached results after
    every task: the graph's own memory, without the interpreter, torch or allocator slack.
    ``ground_pixels`` narrows the orbit so that long granules run in minutes."""
    import dask

    from xr_s5sr.engine import super_resolve_array
    from xr_s5sr.orbit import make_orbit
    from xr_s5sr.spec import model_spec

    lr = make_orbit(3, n_scan, ground_pixels, seed=0, chunks=64).radiance.data
    out = super_resolve_array(lr, model_spec(band=3, device="cpu", **METHODS[method])).sum()
    return most_held_bytes(lambda: dask.compute(out, scheduler="sync"))


def most_held_bytes(run: Callable[[], Any]) -> int:
    """Most bytes of task results a dask local scheduler holds at once while ``run()``
    computes (a callback sums the scheduler's cache after every task)."""
    from dask.callbacks import Callback

    most = [0]

    class Held(Callback):  # type: ignore[misc]
        def _posttask(self, key: Any, result: Any, dsk: Any, state: Any, id: Any) -> None:
            cached = sum(getattr(value, "nbytes", 0) for value in state["cache"].values())
            most[0] = max(most[0], cached)

    with Held():
        run()
    return most[0]


def cases(scanlines: list[int], methods: list[str], default: list[int]) -> list[tuple[str, int]]:
    """(method, scanlines) of every run: the default network on ``default`` lengths only."""
    return [
        (method, n) for method in methods for n in (default if method == "s5dscr" else scanlines)
    ]


def _ints(text: str) -> list[int]:
    return [int(v) for v in text.split(",") if v]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scanlines", type=_ints, default=[96, 192, 384])
    parser.add_argument("--default-scanlines", type=_ints, default=[96, 192])
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--merge", action="store_true", help="keep the other runs in --out")
    parser.add_argument(
        "--order",
        type=_ints,
        default=[],
        help="lengths at which to record the graph's live results (no run; with --merge)",
    )
    parser.add_argument(
        "--held",
        type=_ints,
        default=[],
        help="lengths at which to record the most bytes of task results held (48 ground "
        "pixels, sync scheduler; no run; with --merge)",
    )
    parser.add_argument(
        "--out", type=Path, default=ROOT / "benchmarks" / "results-block-memory.json"
    )
    args = parser.parse_args(argv)
    from xr_s5sr.versions import run_record

    record = run_record()
    # --merge keeps what the file already holds (the runs of earlier code beside the new ones).
    previous = json.loads(args.out.read_text()) if args.merge and args.out.exists() else {}
    runs: list[dict[str, Any]] = previous.get("runs", [])
    pressure: dict[str, dict[str, int]] = previous.get("live_results", {})
    held: dict[str, dict[str, int]] = previous.get("held_bytes_48_pixels", {})

    def write() -> None:
        result = {
            "runs": runs,
            "live_results": pressure,
            "held_bytes_48_pixels": held,
            "record": record,
        }
        args.out.write_text(json.dumps(result, indent=1) + "\n")

    if args.held:
        for method in args.methods.split(","):
            held[method] = {str(n): held_bytes(method, n) for n in args.held}
            print(f"{method}: most bytes held {held[method]}", flush=True)
        write()
        return 0
    if args.order:
        for method in args.methods.split(","):
            pressure[method] = {str(n): live_results(method, n) for n in args.order}
            print(f"{method}: most live task results {pressure[method]}", flush=True)
        write()
        return 0
    for method, n_scan in cases(args.scanlines, args.methods.split(","), args.default_scanlines):
        with multiprocessing.get_context("spawn").Pool(1) as pool:
            run = pool.apply(measure, (method, n_scan))
        # A case measured again on this commit replaces its earlier run.
        runs = [
            r
            for r in runs
            if (r.get("commit"), r.get("method"), r.get("scanlines"))
            != (run["commit"], method, n_scan)
        ]
        runs.append(run)
        print(
            f"{method} {n_scan} scanlines: {run['seconds']:.1f} s, "
            f"peak RSS {run['peak_rss_bytes'] / 2**30:.2f} GiB, "
            f"HR chunks {run['hr_scanline_chunks']}",
            flush=True,
        )
        write()  # after every case: a long series keeps what it measured
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
