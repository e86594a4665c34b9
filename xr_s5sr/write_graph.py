"""Computing a writer's graph with every store task a leaf of its own (issue 23).

xarray's writers (``to_zarr`` / ``to_netcdf`` with ``compute=False``) return a delayed whose
graph ends each variable in one task that reads all of its store tasks, and one more that
closes the store. ``dask.order`` holds back a ready task whose path leads to such a reducer
until the reducer's other inputs are near, so the last step of a block (the default's
consistency window) waits while the steps before it run ahead over the granule, and what they
made is held meanwhile (``benchmarks/bench_graph_order.py`` counts the network blocks alive at
once in both graphs). :func:`compute_write` runs the store tasks as leaves first, on the
scheduler dask would use, then the closing tasks on their results in this process (a store
task returns nothing worth keeping), as xarray's own ``compute=True`` closes its store here.

Boundary: dask collections in, computed values out, on whichever scheduler dask would use
(the threaded one, or a ``dask.distributed`` client); the writers of :mod:`xr_s5sr.store` call
it through :func:`xr_s5sr.plausibility.record_report`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: ``dask.utils.key_split`` of the writer's reducers: dask's per-collection ``finalize-…``
#: tasks and xarray's ``_finalize_store`` (key_split drops the leading underscore).
REDUCER_PREFIXES = ("finalize-", "finalize_store")


def _nested(keys: Any, values: Mapping[Any, Any]) -> Any:
    """``keys`` (a collection's ``__dask_keys__``, nested lists) with each key's value."""
    if isinstance(keys, list):
        return [_nested(k, values) for k in keys]
    return values[keys]


def compute_write(write: Any, extra: Mapping[str, Any]) -> tuple[Any, dict[str, Any]]:
    """``dask.compute(write, extra)`` with the store tasks of ``write`` as leaves.

    Parameters
    ----------
    write : dask.delayed.Delayed
        A writer's delayed (xarray's ``to_zarr`` or ``to_netcdf`` with ``compute=False``).
    extra : mapping
        Other values computed in the same pass, optimised together with ``write`` as
        ``dask.compute`` would; entries that are not dask collections are returned as they
        are.

    Returns
    -------
    tuple
        ``write``'s result and ``extra`` computed.
    """
    import dask
    from dask.base import get_scheduler
    from dask.core import flatten, get_dependencies
    from dask.utils import key_split

    lazy = {name: value for name, value in extra.items() if dask.is_dask_collection(value)}
    optimised = dask.optimize(write, *lazy.values())
    graph: dict[Any, Any] = {}
    for collection in optimised:
        graph.update(collection.__dask_graph__())
    reducers = {k for k in graph if key_split(k).startswith(REDUCER_PREFIXES)}
    if not reducers:  # a writer graph of another shape: nothing to take apart
        return dask.compute(write, dict(extra))  # type: ignore[no-any-return]
    stored = {d for k in reducers for d in get_dependencies(graph, k)} - reducers
    wanted = [*stored, *(k for c in optimised[1:] for k in flatten(c.__dask_keys__()))]
    schedule = get_scheduler(collections=[write])
    first = {k: v for k, v in graph.items() if k not in reducers}
    done = dict(zip(wanted, schedule(first, wanted), strict=True))
    # The closing tasks, on the store tasks' results (given as data), here in this process:
    # xarray's compute=True closes its store here too once the data are written. No
    # callbacks: a progress bar has counted the write's tasks already.
    closing = {**{k: done[k] for k in stored}, **{k: graph[k] for k in reducers}}
    keys = optimised[0].__dask_keys__()
    results = dask.get(closing, list(flatten(keys)), callbacks=())
    finalize, args = optimised[0].__dask_postcompute__()
    written = finalize(_nested(keys, dict(zip(flatten(keys), results, strict=True))), *args)
    values = dict(extra)
    for name, collection in zip(lazy, optimised[1:], strict=True):
        finalize, args = collection.__dask_postcompute__()
        values[name] = finalize(_nested(collection.__dask_keys__(), done), *args)
    return written, values


__all__ = ["REDUCER_PREFIXES", "compute_write"]
