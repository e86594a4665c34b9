"""LR rows read inside block tasks: the rows of each scanline block and any number of rows
around it (:func:`rows_around`, :func:`map_cubes`), or any row range of one element of the
extra dims as an argument of a delayed call (:class:`RowSlice`, :func:`delayed_on_rows`).

Why a module of its own: the graph holds no task that only copies rows. Such a task is cheap,
so a dask.distributed scheduler runs it far ahead of the tasks that read it and holds its copy
meanwhile; here each block's task joins its rows from the chunks they lie in, and a block
reads no chunk its rows do not touch.

Boundary: dask arrays whose last three axes are (scanline, ground_pixel, spectral_channel) and
whose leading axes (extra dims) are chunked one element per block; numpy blocks inside tasks.
:mod:`xr_s5sr.tiling` plans the blocks, :mod:`xr_s5sr.engine` and
:mod:`xr_s5sr.physics_graph` build their graphs from these pieces.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from xr_s5sr.allocator import tune_allocator
from xr_s5sr.errors import DimensionError


@dataclass(frozen=True)
class Rows:
    """The rows of every block of ``blocks`` and up to ``depth`` rows each side (fewer at the
    granule's ends) of a dask ``array``, for :func:`map_cubes` (built by :func:`rows_around`).

    Nothing is copied in the graph: the task of a block reads the chunks of ``array`` its rows
    touch and joins them itself. A separate task holding each block's rows would be a copy a
    few times the block, cheap to compute and so run far ahead of the tasks that read it by a
    dask.distributed scheduler, which holds every such copy meanwhile.
    """

    array: Any
    blocks: tuple[int, ...]
    depth: int
    spilled: tuple[tuple[int, ...], int] | None = None
    #: Whole-channel chunks, of which each task takes its output's channel chunk (a view):
    #: no task splits the chunks into channel pieces ahead of the tasks that read them.
    split_channels: bool = False

    def pieces(self) -> list[list[tuple[int, slice]]]:
        """Per block: (chunk index along scanline, rows of that chunk) of its rows, in order."""
        axis = self.array.ndim - 3
        starts = np.cumsum((0, *self.blocks))
        n_scan = int(starts[-1])
        places = _spilled_places(starts, *self.spilled) if self.spilled is not None else None
        edges = np.cumsum((0, *self.array.chunks[axis]))
        found = []
        for start, stop in itertools.pairwise(starts):
            low, high = max(0, int(start) - self.depth), min(n_scan, int(stop) + self.depth)
            if places is not None:
                offset = places[int(np.searchsorted(places[:, 0], start, side="right")) - 1, 1]
                low, high = low + int(offset), high + int(offset)
            found.append(_chunk_cuts(edges, low, high))
        return found


def _chunk_cuts(edges: np.ndarray, low: int, high: int) -> list[tuple[int, slice]]:
    """(chunk index, rows of that chunk) of the rows ``low:high`` of an axis whose chunks
    start at ``edges`` (cumulative sizes, from 0)."""
    first = int(np.searchsorted(edges, low, side="right")) - 1
    last = int(np.searchsorted(edges, high, side="left"))
    cuts = []
    for j in range(first, last):
        start, stop = int(edges[j]), int(edges[j + 1])
        cuts.append((j, slice(max(low, start) - start, min(high, stop) - start)))
    return cuts


@dataclass(frozen=True)
class RowSlice:
    """Rows ``low:high`` (along scanline, axis −3) of one element (leading indices) of a dask
    array, as an argument of :func:`delayed_on_rows`: joined inside the task that reads them."""

    array: Any
    element: tuple[int, ...]
    low: int
    high: int

    def task(self) -> tuple[Any, ...]:
        """The nested (legacy) task that joins the rows from the chunks they lie in."""
        lead = self.array.ndim - 3
        found = _chunk_cuts(np.cumsum((0, *self.array.chunks[lead])), self.low, self.high)
        keys = [(self.array.name, *self.element, j, 0, 0) for j, _ in found]
        return (_element_rows, keys, [cut for _, cut in found], lead)


def delayed_on_rows(
    func: Callable[..., Any], *args: Any, nout: int | None = None, **kwargs: Any
) -> Any:
    """``dask.delayed(func, pure=True)(*args, **kwargs)`` in which every :class:`RowSlice`
    argument is joined inside the call's own task. Passing a slice of a dask array to
    ``dask.delayed`` instead adds a task holding a copy of the rows until the call runs, which
    a dask.distributed scheduler computes far ahead of it. ``nout``: as for ``dask.delayed``.
    """
    import dask
    from dask.base import tokenize
    from dask.delayed import Delayed
    from dask.highlevelgraph import HighLevelGraph
    from dask.utils import apply, funcname

    dependencies: list[Any] = []

    def as_task(value: Any) -> Any:
        if isinstance(value, RowSlice):
            if len(value.array.chunks[-2]) != 1 or len(value.array.chunks[-1]) != 1:
                raise DimensionError("RowSlice arrays need one ground_pixel and channel chunk.")
            dependencies.append(value.array)
            return value.task()
        if dask.is_dask_collection(value):
            dependencies.append(value)
            return value.key
        return value

    described = [
        (a.array.name, a.element, a.low, a.high) if isinstance(a, RowSlice) else a
        for a in (*args, *kwargs.values())
    ]
    key = f"{funcname(func)}-{tokenize(func, described, list(kwargs))}"
    task = (
        apply,
        func,
        [as_task(a) for a in args],
        (dict, [[name, as_task(value)] for name, value in kwargs.items()]),
    )
    graph = HighLevelGraph.from_collections(key, {key: task}, dependencies=dependencies)
    return Delayed(key, graph, length=nout)


def _element_rows(parts: list[np.ndarray], rows: list[slice], lead: int) -> np.ndarray:
    """The 3-D cube of :func:`_joined_rows` (leading axes of one element dropped)."""
    return _joined_rows(parts, rows, lead)[(0,) * lead]


def _joined_rows(
    parts: list[np.ndarray], rows: list[slice], axis: int, channels: slice | None = None
) -> np.ndarray:
    """The rows ``rows`` of each chunk in ``parts``, joined along ``axis`` (a view for one),
    and of those the ``channels`` (last axis; None: all)."""
    index = (slice(None),) * axis
    picked = (Ellipsis, slice(None) if channels is None else channels)
    cut = [part[(*index, r)][picked] for part, r in zip(parts, rows, strict=True)]
    return cut[0] if len(cut) == 1 else np.concatenate(cut, axis=axis)


def map_cubes(
    func: Callable[..., np.ndarray],
    *arrays: Any,
    chunks: tuple[tuple[int, ...], ...],
    dtype: type = np.float32,
    **kwargs: Any,
) -> Any:
    """``dask.array.map_blocks`` of a function of 3-D blocks over arrays whose leading axes
    (chunks of one element) are extra dims: ``chunks`` are the output's last three.

    With :class:`Rows` among ``arrays`` (a plain array counts as the rows of its own chunks),
    the output has one block per block of their ``blocks`` (and per channel chunk of
    ``chunks``), and each task joins the
    rows of its block from the chunks they lie in (:meth:`Rows.pieces`); an input split along
    channels as the output is read chunk by chunk, else whole. ``token`` names the tasks."""
    import dask.array as da

    if any(isinstance(a, Rows) for a in arrays):
        inputs = [a if isinstance(a, Rows) else Rows(a, a.chunks[a.ndim - 3], 0) for a in arrays]
        return _map_rows(func, tuple(inputs), chunks, dtype, kwargs)
    first = arrays[0]
    lead = first.ndim - 3
    return da.map_blocks(
        per_element,
        *arrays,
        function=func,
        chunks=(*first.chunks[:lead], *chunks),
        dtype=dtype,
        meta=np.empty((0,) * first.ndim, dtype),
        **kwargs,
    )


def _map_rows(
    func: Callable[..., np.ndarray],
    inputs: tuple[Rows, ...],
    chunks: tuple[tuple[int, ...], ...],
    dtype: type,
    kwargs: dict[str, Any],
) -> Any:
    """:func:`map_cubes` of :class:`Rows` inputs: the graph written out, one task per block
    (legacy task tuples, which every dask version runs)."""
    import dask
    import dask.array as da
    from dask.base import tokenize
    from dask.highlevelgraph import HighLevelGraph
    from dask.utils import apply, funcname

    first = inputs[0].array
    lead = first.ndim - 3
    n_blocks, n_groups = len(inputs[0].blocks), len(chunks[2])
    if any(len(r.blocks) != n_blocks or r.array.numblocks[-2] != 1 for r in inputs):
        raise DimensionError(
            "Rows inputs need the same number of blocks and one ground_pixel chunk."
        )
    token = kwargs.pop("token", None) or funcname(func)
    dynamic = {k: v for k, v in kwargs.items() if dask.is_dask_collection(v)}
    static = {k: v for k, v in kwargs.items() if k not in dynamic}
    described = [(r.array.name, r.blocks, r.depth, r.spilled) for r in inputs]
    name = f"{token}-{tokenize(func, described, chunks, dtype, static, list(dynamic.values()))}"
    pieces = [r.pieces() for r in inputs]
    bounds = np.cumsum((0, *chunks[2]))
    group_slices = [slice(int(a), int(b)) for a, b in itertools.pairwise(bounds)]
    if any(r.split_channels and r.array.numblocks[-1] != 1 for r in inputs):
        raise DimensionError("Rows that split channels in the task need one channel chunk.")
    keyword_task = (dict, [[k, v.key] for k, v in dynamic.items()])
    layer: dict[Any, Any] = {}
    for element in np.ndindex(*first.numblocks[:lead]):
        for block in range(n_blocks):
            for group in range(n_groups):
                location = (*element, block, 0, group)
                arguments = []
                for rows, found in zip(inputs, pieces, strict=True):
                    channel = group if rows.array.numblocks[-1] == n_groups else 0
                    keys = [(rows.array.name, *element, j, 0, channel) for j, _ in found[block]]
                    cuts = [cut for _, cut in found[block]]
                    picked = group_slices[group] if rows.split_channels else None
                    arguments.append((_joined_rows, keys, cuts, lead, picked))
                call = functools.partial(
                    per_element,
                    function=func,
                    block_info={None: {"chunk-location": location}},
                    **static,
                )
                layer[(name, *location)] = (apply, call, arguments, keyword_task)
    graph = HighLevelGraph.from_collections(
        name, layer, dependencies=[r.array for r in inputs] + list(dynamic.values())
    )
    return da.Array(
        graph,
        name,
        chunks=(*first.chunks[:lead], *chunks),
        dtype=dtype,
        meta=np.empty((0,) * first.ndim, dtype),
    )


def per_element(
    *blocks: np.ndarray,
    function: Callable[..., np.ndarray],
    block_info: dict[Any, Any] | None = None,
    **kwargs: Any,
) -> Any:
    """``function`` of the 3-D cube inside blocks whose leading axes hold one element
    (``block_info`` passed on to functions that take it). Sets the process's allocator for
    large temporaries first (:func:`xr_s5sr.allocator.tune_allocator`: every block task of
    the engine runs here, on whichever process or worker dask picks)."""
    from dask.utils import has_keyword

    tune_allocator()
    if has_keyword(function, "block_info"):
        kwargs["block_info"] = block_info
    lead = blocks[0].ndim - 3
    out = function(*(block.reshape(block.shape[lead:]) for block in blocks), **kwargs)
    return out.reshape((1,) * lead + out.shape)


def rows_around(
    array: Any,
    blocks: tuple[int, ...],
    depth: int,
    spilled: tuple[tuple[int, ...], int] | None = None,
    split_channels: bool = False,
) -> Rows:
    """The rows of every block of ``blocks`` (LR scanline chunks) and up to ``depth`` rows each
    side (fewer at the granule's ends), as a :class:`Rows` input of :func:`map_cubes`: a block
    reads no chunk its rows do not touch, and the depth may exceed the blocks (unlike
    ``dask.array.overlap``). :func:`rows_context` gives a block's rows of context inside a task.

    ``array``: a dask array in any scanline chunking, or with ``spilled = (chunks, pad)`` one
    in the spilled layout of ``chunks`` (each chunk's rows and up to ``pad ≥ depth`` rows each
    side, :func:`spilled_sizes`; ``blocks`` then group into ``chunks``): each block's rows
    come from the chunk it lies in. ``split_channels``: see :class:`Rows`.
    """
    return Rows(array, tuple(int(b) for b in blocks), depth, spilled, split_channels)


def _spilled_places(starts: np.ndarray, chunks: tuple[int, ...], pad: int) -> np.ndarray:
    """(first row, offset) per chunk of a spilled layout: granule row ``r`` of chunk ``j``
    sits at ``r + offset_j`` in the spilled array."""
    n_scan = int(starts[-1])
    bounds = np.cumsum((0, *chunks))
    sizes = spilled_sizes(chunks, pad)
    positions = np.cumsum((0, *sizes[:-1]))
    lows = np.maximum(0, bounds[:-1] - pad)
    if int(bounds[-1]) != n_scan:
        raise DimensionError(f"Spilled chunks {chunks} do not cover {n_scan} scanlines.")
    return np.stack([bounds[:-1], positions - lows], axis=1)


def spilled_sizes(chunks: tuple[int, ...], pad: int) -> tuple[int, ...]:
    """Rows of each chunk of the spilled layout: the chunk and up to ``pad`` rows each side.

    Examples
    --------
    >>> spilled_sizes((10, 10, 5), 2)
    (12, 14, 7)
    """
    n_scan = sum(chunks)
    bounds = np.cumsum((0, *chunks))
    return tuple(int(min(n_scan, b + pad) - max(0, a - pad)) for a, b in itertools.pairwise(bounds))


def rows_context(
    block_info: dict[Any, Any] | None, blocks: tuple[int, ...], depth: int
) -> tuple[int, int]:
    """Rows of context (before, after) of the current block in :func:`rows_around` arrays."""
    if block_info is None:
        raise DimensionError("Scanline blocks run inside dask.array.map_blocks only.")
    index = block_info[None]["chunk-location"][-3]
    start = sum(blocks[:index])
    return min(depth, start), min(depth, sum(blocks) - start - blocks[index])
