"""What a ``LocalCluster`` holds while streaming an orbit to zarr (issue 23, a diagnostic).

Run from a source checkout::

    python benchmarks/bench_distributed_held.py [--scanlines 256,768] [--method backprojection]
        [--writer xarray|leaves] [--merge] [--out benchmarks/results-distributed-held.json]

A lazily generated band-3 orbit (:func:`xr_s5sr.orbit.make_orbit`, 450 × 497, input chunks of
64 scanlines) super-resolved and written with xarray's ``to_zarr`` on a ``LocalCluster`` of
two one-thread worker processes, a fresh cluster per length. Every 2 s the scheduler is asked
for the tasks held in memory; the JSON keeps, per length, the largest total, by task prefix
(bytes, count), the wall time, each worker's peak RSS and the run record (``--merge`` keeps
the runs of other methods and lengths). Compare with
``bench_block_memory.py --held``, the same graph on the sync scheduler. Not collected by
pytest.
"""

from __future__ import annotations

import argparse
import collections
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def held_by_prefix(dask_scheduler: Any) -> dict[str, tuple[int, int]]:
    """Bytes and count of the tasks in memory, by task prefix (runs on the scheduler)."""
    size: collections.Counter[str] = collections.Counter()
    count: collections.Counter[str] = collections.Counter()
    for task in dask_scheduler.tasks.values():
        if task.state == "memory":
            size[task.prefix.name] += task.nbytes
            count[task.prefix.name] += 1
    return {name: (size[name], count[name]) for name in size}


def _peak_rss_bytes() -> int:
    """This process's peak resident set size, bytes (Linux reports kiB; runs on a worker)."""
    import resource

    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--scanlines", default="256,768", help="comma-separated lengths, one cluster each"
    )
    parser.add_argument("--method", default="backprojection")
    parser.add_argument(
        "--writer",
        choices=("xarray", "leaves"),
        default="xarray",
        help="xarray's compute of its to_zarr graph, or xr_s5sr.write_graph.compute_write of "
        "the same graph (every store a leaf)",
    )
    parser.add_argument(
        "--out", type=Path, default=ROOT / "benchmarks" / "results-distributed-held.json"
    )
    parser.add_argument(
        "--merge", action="store_true", help="keep the runs of other methods/lengths in --out"
    )
    args = parser.parse_args(argv)
    from xr_s5sr.versions import run_record

    record = run_record()
    runs = [
        measure(args.method, int(n), args.writer) | {"record": record}
        for n in args.scanlines.split(",")
    ]

    def case(run: dict[str, Any]) -> tuple[str, int, str]:
        return run["method"], run["scanlines"], run.get("writer", "xarray")

    if args.merge and args.out.exists():
        new = {case(r) for r in runs}
        kept = json.loads(args.out.read_text())["runs"]
        runs = [r for r in kept if case(r) not in new] + runs
    args.out.write_text(json.dumps({"runs": runs}, indent=1) + "\n")
    return 0


def measure(method: str, scanlines: int, writer: str = "xarray") -> dict[str, Any]:
    """One run on a fresh cluster: wall time, most bytes held, by prefix, peak RSS."""
    from concurrent.futures import ThreadPoolExecutor

    from dask.distributed import Client, LocalCluster

    import xr_s5sr  # noqa: F401  (registers .s5sr)
    from xr_s5sr.orbit import make_orbit
    from xr_s5sr.write_graph import compute_write

    store = Path(tempfile.mkdtemp(prefix="xr_s5sr-held-")) / "orbit.zarr"
    most: dict[str, tuple[int, int]] = {}
    with (
        LocalCluster(n_workers=2, threads_per_worker=1, processes=True, memory_limit=None) as c,
        Client(c) as client,
    ):
        orbit = make_orbit(3, scanlines, 450, 0, chunks=64)
        result = orbit.s5sr.super_resolve(model=method, torch_threads=1)
        start = time.perf_counter()
        delayed = result.to_zarr(store, mode="w", compute=False)
        # Both run in the background while this thread asks the scheduler what it holds.
        background = ThreadPoolExecutor(1)
        future = (
            client.compute(delayed)
            if writer == "xarray"
            else background.submit(compute_write, delayed, {})
        )
        while not future.done():
            held = client.run_on_scheduler(held_by_prefix)
            if sum(b for b, _ in held.values()) > sum(b for b, _ in most.values()):
                most = held
            time.sleep(2)
        future.result()
        background.shutdown()
        wall = time.perf_counter() - start
        peak_rss = client.run(_peak_rss_bytes)
    shutil.rmtree(store.parent, ignore_errors=True)
    total = sum(b for b, _ in most.values())
    held_gib = total / 2**30
    rss = ", ".join(f"{b / 2**30:.2f}" for b in sorted(peak_rss.values()))
    print(
        f"{method} ({writer}) {scanlines} scanlines: {wall:.0f} s, most held {held_gib:.2f} GiB, "
        f"worker peak RSS {rss} GiB",
        flush=True,
    )
    return {
        "method": method,
        "scanlines": scanlines,
        "writer": writer,
        "wall_s": wall,
        "most_held_bytes": total,
        "worker_peak_rss_bytes": sorted(peak_rss.values()),
        "held_by_prefix": dict(sorted(most.items(), key=lambda kv: -kv[1][0])),
    }


if __name__ == "__main__":
    raise SystemExit(main())
