"""How far dask's static order lets the network run ahead of the consistency windows (issue 23,
a diagnostic: builds graphs, computes nothing).

Run from a source checkout (seconds; minutes with ``--held``)::

    python benchmarks/bench_graph_order.py [--scanlines 384,1536,4000] [--held 384]
        [--out FILE]

For a lazily generated band-3 orbit (:func:`xr_s5sr.orbit.make_orbit`, 450 × 497, input chunks
of 64 scanlines) the default ``super_resolve`` is written with xarray's ``to_zarr(...,
compute=False)`` and the graph that ``compute`` would run (``dask.optimize``) is ranked by
``dask.order.order``, the order the threaded scheduler follows and the distributed scheduler
uses to break ties. Walking the ranks, a network block (tasks ``s5sr-…``, one HR block of all
channels each) is alive from its own rank to that of the last task reading it; the JSON keeps
the most blocks alive at once, of how many.

The same is done with the writer's finalize tasks taken out of the graph (``finalize-…`` and
xarray's ``_finalize_store``: each reads every store task of a variable, so every store is one
reducer's input). ``dask.order`` holds back tasks whose path leads to a reducer that still
misses inputs; without those reducers every store is a leaf of its own. The difference between
the two is what xarray's writer graph costs in run-ahead.

A scheduler does not follow the ranks blindly: it runs the tasks that a finished task has
just made ready first. ``--held`` lengths are therefore also computed, both graphs, on the
synchronous scheduler at 48 ground pixels (minutes instead of hours), recording the most
bytes of task results it held at once. Not collected by pytest.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

#: Task-name prefixes of the writer's reducers over every store of a variable.
FINALIZE_PREFIXES = ("finalize-", "finalize_store")


def network_blocks_alive(graph: Mapping[Any, Any]) -> tuple[int, int]:
    """(most network blocks alive at once, network blocks) in ``dask.order``'s ranks of
    ``graph``: a block is alive from its rank to the rank of its last reader."""
    from dask.core import get_dependencies
    from dask.order import order
    from dask.utils import key_split

    ranks = order(graph)
    readers: dict[Any, list[Any]] = {}
    for key in graph:
        for dependency in get_dependencies(graph, key):
            readers.setdefault(dependency, []).append(key)
    # The estimate tasks are named s5sr-<method> (dask.utils.key_split keeps "s5sr").
    network = [k for k in graph if key_split(k) == "s5sr"]
    events = []
    for key in network:
        last = max((ranks[r] for r in readers.get(key, [])), default=ranks[key])
        events += [(ranks[key], 1), (last, -1)]
    alive = most = 0
    for _, change in sorted(events):
        alive += change
        most = max(most, alive)
    return most, len(network)


def held_bytes(graph: Mapping[Any, Any], keys: list[Any]) -> int:
    """Most bytes of task results the synchronous scheduler holds at once computing ``keys``
    of ``graph`` (:func:`bench_block_memory.most_held_bytes`)."""
    import dask
    from bench_block_memory import most_held_bytes

    return most_held_bytes(lambda: dask.get(graph, keys))


def leaves(graph: Mapping[Any, Any]) -> list[Any]:
    """The keys of ``graph`` that no task reads."""
    from dask.core import get_dependencies

    read = {d for key in graph for d in get_dependencies(graph, key)}
    return [key for key in graph if key not in read]


def without_finalize(graph: Mapping[Any, Any]) -> dict[Any, Any]:
    """``graph`` less the writer's reducers over its stores (:data:`FINALIZE_PREFIXES`)."""
    from dask.utils import key_split

    return {k: v for k, v in graph.items() if not key_split(k).startswith(FINALIZE_PREFIXES)}


def writer_graph(n_scan: int, ground_pixels: int, directory: str) -> dict[Any, Any]:
    """The optimised graph of the default ``super_resolve`` of an ``n_scan``-scanline orbit
    written with xarray's ``to_zarr(compute=False)`` into ``directory``."""
    import dask

    import xr_s5sr  # noqa: F401  (registers .s5sr)
    from xr_s5sr.orbit import make_orbit

    orbit = make_orbit(3, n_scan, ground_pixels, chunks=64)
    delayed = orbit.s5sr.super_resolve(torch_threads=1).to_zarr(
        Path(directory) / "orbit.zarr", mode="w", compute=False
    )
    (optimised,) = dask.optimize(delayed)
    return dict(optimised.__dask_graph__())


def held(n_scan: int, ground_pixels: int = 48) -> dict[str, Any]:
    """Most bytes the synchronous scheduler holds writing a narrow orbit, with xarray's graph
    and with the stores as leaves."""
    with tempfile.TemporaryDirectory() as tmp:
        graph = writer_graph(n_scan, ground_pixels, tmp)
        xarray_writer = held_bytes(graph, leaves(graph))
    with tempfile.TemporaryDirectory() as tmp:
        graph = without_finalize(writer_graph(n_scan, ground_pixels, tmp))
        stores_as_leaves = held_bytes(graph, leaves(graph))
    return {
        "scanlines": n_scan,
        "ground_pixels": ground_pixels,
        "held_bytes_xarray_writer": xarray_writer,
        "held_bytes_stores_as_leaves": stores_as_leaves,
    }


def measure(n_scan: int) -> dict[str, Any]:
    """The two orders of the default's writer graph for an ``n_scan``-scanline orbit."""
    with tempfile.TemporaryDirectory() as tmp:
        graph = writer_graph(n_scan, 450, tmp)
    most, blocks = network_blocks_alive(graph)
    most_leaves, _ = network_blocks_alive(without_finalize(graph))
    return {
        "scanlines": n_scan,
        "tasks": len(graph),
        "network_blocks": blocks,
        "most_alive_xarray_writer": most,
        "most_alive_stores_as_leaves": most_leaves,
    }


def main(argv: list[str] | None = None) -> int:
    from xr_s5sr.versions import run_record

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scanlines", default="384,1536,4000")
    parser.add_argument("--held", default="384", help="lengths run on the sync scheduler")
    parser.add_argument(
        "--out", type=Path, default=ROOT / "benchmarks" / "results-graph-order.json"
    )
    args = parser.parse_args(argv)
    rows = []
    for n_scan in (int(n) for n in args.scanlines.split(",")):
        row = measure(n_scan)
        print(json.dumps(row), flush=True)
        rows.append(row)
    runs = []
    for n_scan in (int(n) for n in args.held.split(",") if n):
        run = held(n_scan)
        print(json.dumps(run), flush=True)
        runs.append(run)
    result = {"band": 3, "ground_pixels": 450, "input_chunks": 64, "rows": rows, "held": runs}
    result["record"] = run_record()
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
