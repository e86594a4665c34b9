"""The allocator setting on a dask.distributed cluster: glibc as dask's workers leave it
(``XR_S5SR_MMAP_THRESHOLD=0``) against the package's setting (:mod:`xr_s5sr.allocator`).

Run from a source checkout::

    python benchmarks/bench_allocator.py                        # band 3, 128 scanlines
    python benchmarks/bench_allocator.py --methods backprojection --scanlines 64

Per method and setting, one fresh ``LocalCluster`` (two one-thread worker processes, which
dask starts with ``MALLOC_TRIM_THRESHOLD_=65536``) streams the lazy synthetic orbit
(:func:`xr_s5sr.orbit.make_orbit`) through ``super_resolve`` into zarr with xarray's own
writer (:func:`bench_orbit.run_method`). The two settings of a method run back to back in one
process; the ratio ``wall(untouched) / wall(tuned)`` is printed and written to ``--out`` (JSON,
with the run record of :func:`xr_s5sr.versions.run_record`). Not collected by pytest.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_orbit import METHODS, add_orbit_arguments, run_method  # noqa: E402

from xr_s5sr.allocator import ENVIRONMENT_VARIABLE, MMAP_THRESHOLD  # noqa: E402
from xr_s5sr.versions import run_record  # noqa: E402

#: Settings by label: the value of XR_S5SR_MMAP_THRESHOLD in the workers (None: unset).
SETTINGS = {"untouched": "0", "tuned": None}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_orbit_arguments(parser, scanlines=128)
    parser.add_argument("--methods", default="backprojection,s5dscr")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results-allocator.json")
    args = parser.parse_args(argv)
    record = run_record()
    runs = []
    for label in args.methods.split(","):
        walls = {}
        for setting, value in SETTINGS.items():
            if value is None:
                os.environ.pop(ENVIRONMENT_VARIABLE, None)
            else:
                os.environ[ENVIRONMENT_VARIABLE] = value
            run = run_method(label, METHODS[label], args)
            run["setting"] = setting
            run["mmap_threshold"] = MMAP_THRESHOLD if value is None else 0
            walls[setting] = run["wall_s"]
            runs.append(run)
            peak = max(run["worker_peak_rss_bytes"]) / 2**30
            print(f"{label:16s} {setting:9s} wall {run['wall_s']:7.1f} s  peak {peak:.2f} GiB")
        print(f"{label:16s} untouched / tuned: {walls['untouched'] / walls['tuned']:.2f}")
    os.environ.pop(ENVIRONMENT_VARIABLE, None)
    results = {"config": vars(args) | {"out": str(args.out)}, "runs": runs, "record": record}
    args.out.write_text(json.dumps(results, indent=1, default=str) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
