"""dask graph building blocks of the engine: scanline block plans and halos, one element of
the extra dims per block, the per-window adaptive settings (the physics steps on them:
:mod:`xr_s5sr.physics_graph`; rows read inside block tasks: :mod:`xr_s5sr.row_reads`) and
the memory budget of network tiles.

Chunk plans (:func:`scan_chunks`, :func:`regular_plan`) are regular by construction: equal
blocks, the last one no larger and still holding the halo, so results are valid Zarr arrays
without a rechunk; :func:`align_chunks` gives the other variables of a result the same chunks.

Boundary: dask and numpy arrays whose last three axes are (scanline, ground_pixel,
spectral_channel) and whose leading axes (extra dims) are chunked one element per block. Only
LR data cross block borders. :mod:`xr_s5sr.engine` builds its graph from these pieces; the
maths lives in :mod:`xr_s5sr.physics` and :mod:`xr_s5sr.adaptive`.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from xr_s5sr.adaptive import (
    blend_rows,
    bracketing,
    window_centres,
    window_reads,
    window_settings,
    windows,
)
from xr_s5sr.bands import SCALE
from xr_s5sr.errors import DimensionError
from xr_s5sr.fused import STRIP_PIXELS
from xr_s5sr.row_reads import RowSlice, delayed_on_rows, per_element

if TYPE_CHECKING:
    from xr_s5sr.spec import ModelSpec


def settings_graph(
    lr: Any,
    spec: ModelSpec,
    sigma: Any = None,
    first: int = 0,
    prepare: Callable[[np.ndarray], np.ndarray] | None = None,
) -> tuple[Any, Any]:
    """The automatic settings of a dask LR array: blended per row
    (:func:`xr_s5sr.adaptive.blend_rows`) and per window, or ``(None, None)`` when the
    method needs no statistic.

    Parameters
    ----------
    lr : dask.array.Array
        (extra dims…, scanline, ground_pixel, spectral_channel), extra dims chunked by one;
        finite unless ``prepare`` makes each window's rows finite.
    spec : ModelSpec
        The method (automatic or fixed μ, detail gate).
    sigma : dask.array.Array, optional
        σ of every LR value from the file (same shape); None: estimated from the data.
    first : int
        Absolute scanline index of the first row (fixes the windows).
    prepare : callable, optional
        Applied to each window's rows before the statistics (the engine fills missing values
        there, so that a window reads its rows and nothing around them).

    Returns
    -------
    (dask.array.Array, dask.array.Array) or (None, None)
        Per row: float64 (extra dims…, scanline, 1, 4), chunked like ``lr`` along scanline;
        each chunk of rows depends only on the (at most a few) windows whose centres bracket
        it, so computing part of the result never reads the whole granule. Per window:
        float64 (extra dims…, window, 2), ``[μ, σ²]`` (the plausibility report). Both are
        built on the same tasks, one per window reading the window's rows and their
        :func:`~xr_s5sr.adaptive.statistics_reach`, so computing both estimates every window
        once.
    """
    if not spec.reads_statistics:
        return None, None
    import dask
    import dask.array as da

    lead = lr.ndim - 3
    n_scan = lr.shape[-3]
    centres = window_centres(windows(n_scan, first))
    chunk_starts = np.cumsum((0, *lr.chunks[-3]))
    rows_of = np.empty(lr.shape[:lead], dtype=object)
    windows_of = np.empty(lr.shape[:lead], dtype=object)
    for element in np.ndindex(lr.shape[:lead]):
        values = _window_tasks(lr, element, spec, sigma, first, prepare)
        parts = []
        for a, b in itertools.pairwise(chunk_starts):
            near = bracketing(centres, int(a), int(b))
            rows = dask.delayed(_blend, pure=True)(int(a), int(b), centres[near], *values[near])
            parts.append(da.from_delayed(rows, (int(b - a), 1, 4), dtype=np.float64))
        rows_of[element] = da.concatenate(parts, axis=0).reshape((1,) * lead + (n_scan, 1, 4))
        stacked = da.stack([da.from_delayed(t, (2,), dtype=np.float64) for t in values])
        windows_of[element] = stacked.reshape((1,) * lead + stacked.shape)
    if not lead:
        return rows_of[()], windows_of[()]
    return (
        concatenate_elements(rows_of.tolist(), 0),
        concatenate_elements(windows_of.tolist(), 0),
    )


def _window_tasks(
    lr: Any,
    element: tuple[int, ...],
    spec: ModelSpec,
    sigma: Any,
    first: int,
    prepare: Callable[[np.ndarray], np.ndarray] | None,
) -> list[Any]:
    """One pure delayed :func:`~xr_s5sr.adaptive.window_settings` per window of ``element``."""
    band = cast(int, spec.band)
    n_scan = lr.shape[-3]
    tasks = []
    for start, stop in windows(n_scan, first):
        low, high = window_reads(n_scan, band, int(start), int(stop))
        tasks.append(
            delayed_on_rows(
                _prepared_settings,
                RowSlice(lr, element, low, high),
                band,
                int(start - low),
                int(high - stop),
                prepare=prepare,
                at_start=low == 0,
                at_end=high == n_scan,
                regularisation=spec.window_regularisation,
                sigma=None if sigma is None else RowSlice(sigma, element, low, high),
            )
        )
    return tasks


def _prepared_settings(
    rows: np.ndarray,
    *args: Any,
    prepare: Callable[[np.ndarray], np.ndarray] | None,
    **kwargs: Any,
) -> np.ndarray:
    """:func:`~xr_s5sr.adaptive.window_settings` of a window's rows, ``prepare``-d first."""
    return window_settings(rows if prepare is None else prepare(rows), *args, **kwargs)


def concatenate_elements(nested: Any, axis: int) -> Any:
    """One dask array from nested lists of per-element arrays (list depth = leading axes)."""
    import dask.array as da

    if not isinstance(nested, list):
        return nested
    return da.concatenate([concatenate_elements(n, axis + 1) for n in nested], axis=axis)


def _blend(start: int, stop: int, centres: np.ndarray, *values: np.ndarray) -> np.ndarray:

    return blend_rows(start, stop, centres, np.stack(values))


def like_chunks(array: Any, like: Any) -> Any:
    """``array`` (numpy or dask, the shape of ``like``) as a dask array chunked like ``like``."""
    import dask
    import dask.array as da

    if dask.is_dask_collection(array):
        return array.rechunk(like.chunks)
    return da.from_array(np.asarray(array), chunks=like.chunks)


def with_neighbours(array: Any, depth: int, boundary: Any) -> Any:
    """Scanline blocks (axis −3) extended by ``depth`` rows of their neighbours (``boundary``
    outside); the array itself when there is one block or no depth."""
    if not depth or len(array.chunks[-3]) == 1:
        return array
    import dask.array as da

    return da.overlap.overlap(
        array, depth=scan_depth(array.ndim, depth), boundary=boundary, allow_rechunk=False
    )


def scan_depth(ndim: int, depth: int) -> dict[int, int]:
    """Overlap depths: ``depth`` along scanline (axis −3), none along the other axes."""
    return {axis: depth if axis == ndim - 3 else 0 for axis in range(ndim)}


def map_scan_overlap(
    func: Callable[..., np.ndarray], array: Any, depth: int, boundary: Any, **kwargs: Any
) -> Any:
    """``func`` on scanline blocks that see ``depth`` rows of their neighbours (float32 out)."""
    options: dict[str, Any] = {
        "dtype": np.float32,
        "meta": np.empty((0,) * array.ndim, np.float32),
        "function": func,
    }
    if len(array.chunks[-3]) == 1:
        return array.map_blocks(per_element, **options, **kwargs)
    return array.map_overlap(
        per_element,
        depth=scan_depth(array.ndim, depth),
        boundary=boundary,
        allow_rechunk=False,
        **options,
        **kwargs,
    )


def group_chunks(blocks: tuple[int, ...], minimum: int) -> tuple[int, ...]:
    """LR chunks of the long-reach steps: consecutive ``blocks`` grouped into the fewest rows
    that reach ``minimum`` (their overlap depth: halo work at most ~3× the chunk; a short last
    group joins the one before).

    Examples
    --------
    >>> group_chunks((8, 8, 8, 8, 8, 3), 10)
    (16, 16, 11)
    """
    groups: list[int] = []
    current = 0
    for block in blocks:
        current += block
        if current >= minimum:
            groups.append(current)
            current = 0
    if current:
        if groups and current < minimum:
            groups[-1] += current
        else:
            groups.append(current)
    return tuple(groups)


def scan_chunks(
    current: tuple[int, ...],
    row_elements: int,
    halo: int,
    output_chunks: int | None,
    memory_budget: int,
) -> tuple[int, ...]:
    """LR scanline chunks of the blocks: regular (:func:`regular_plan`) and none shorter than
    ``halo``, so the HR result (4× these) is a valid Zarr chunking without any rechunk.

    Parameters
    ----------
    current : tuple of int
        The input's scanline chunks.
    row_elements : int
        Values in one LR scanline (ground pixels × channels).
    halo : int
        Fewest LR scanlines a block may have (``dask.array.overlap.overlap`` with
        ``allow_rechunk=False`` needs every chunk to hold the halo).
    output_chunks : int or None
        HR scanlines per output chunk asked for by the user (a multiple of 4). Blocks then
        group whole output chunks (:func:`output_scan_chunks` splits them back).
    memory_budget : int
        Bytes of one float32 HR block when ``output_chunks`` is None.

    Returns
    -------
    tuple of int
        Chunks summing to ``sum(current)``. Without ``output_chunks`` they are regular: equal,
        the last one no larger than the first. The input's chunks are kept when they already
        are regular, hold the halo and fit the budget; otherwise the size nearest to the
        input's largest chunk (capped by the budget) whose remainder holds the halo is used.
    """
    n_scan = sum(current)
    if output_chunks is not None:
        if output_chunks < SCALE or output_chunks % SCALE:
            raise DimensionError(
                f"output_chunks must be a positive multiple of {SCALE} HR scanlines (each LR "
                f"scanline gives {SCALE}), got {output_chunks}. Use e.g. "
                f"{max(SCALE, SCALE * round(output_chunks / SCALE))}."
            )
        size = output_chunks // SCALE
        # Whole output chunks per block, enough of them to hold the halo; a short last block
        # is merged into its neighbour and only ever split again (no data crosses blocks).
        blocks = list(regular_chunks(n_scan, size * max(1, -(-halo // size))))
        if len(blocks) > 1 and blocks[-1] < halo:
            last = blocks.pop()
            blocks[-1] += last
        return tuple(blocks)
    hr_row_bytes = SCALE * SCALE * row_elements * np.dtype(np.float32).itemsize
    max_rows = max(1, memory_budget // hr_row_bytes)
    if max(current) <= max_rows and is_valid_plan(current, halo):
        return current
    return regular_plan(n_scan, min(max(current), max_rows), halo, limit=max_rows)


def output_scan_chunks(blocks: tuple[int, ...], output_chunks: int | None) -> tuple[int, ...]:
    """LR scanline chunks of the result: ``blocks`` (:func:`scan_chunks`), or the user's
    ``output_chunks`` (HR scanlines) as regular chunks, each inside one block."""
    if output_chunks is None:
        return blocks
    return regular_chunks(sum(blocks), output_chunks // SCALE)


def regular_chunks(total: int, size: int) -> tuple[int, ...]:
    """``total`` in chunks of ``size`` and a smaller remainder (the Zarr rule).

    Examples
    --------
    >>> regular_chunks(10, 4)
    (4, 4, 2)
    """
    return (size,) * (total // size) + ((total % size,) if total % size else ())


def is_valid_plan(chunks: tuple[int, ...], minimum: int, multiple: int = 1) -> bool:
    """True when ``chunks`` are regular (equal but a last one no larger), each holds
    ``minimum`` and all but the last are multiples of ``multiple`` (one chunk: always)."""
    if len(chunks) == 1:
        return True
    first = chunks[0]
    return (
        first % multiple == 0
        and all(c == first for c in chunks[:-1])
        and minimum <= chunks[-1] <= first
    )


def regular_plan(
    total: int, size: int, minimum: int, multiple: int = 1, limit: int | None = None
) -> tuple[int, ...]:
    """Regular chunks of about ``size`` whose every chunk, the remainder too, holds ``minimum``.

    Blocks are planned regular from the start (rather than a merged last block rechunked
    afterwards): the output then needs no rechunk, which would cost a copy of the last blocks
    and an extra graph layer. The size nearest to ``size`` that works is used (of two equally
    near, the larger: fewer halos), first among sizes up to ``limit`` (the memory budget),
    then above it; sizes are multiples of ``multiple``. One chunk when no size fits.

    Parameters
    ----------
    total : int
        Length of the axis.
    size : int
        Wanted chunk size.
    minimum : int
        Fewest elements any chunk may have (e.g. an overlap depth).
    multiple : int, default 1
        Chunk sizes (but the remainder) are multiples of it.
    limit : int, optional
        Largest size preferred (no limit when None).

    Returns
    -------
    tuple of int
        Chunk sizes summing to ``total``.

    Examples
    --------
    >>> chunks = regular_plan(4000, 64, 50)  # 64, 63 ... 59 leave < 50; 68 is as near as 60
    >>> chunks[0], chunks[-1], len(chunks)
    (68, 56, 59)
    >>> regular_plan(26, 8, 5, limit=8)
    (7, 7, 7, 5)
    """
    step = max(1, multiple)
    lowest = step * -(-max(1, minimum) // step)
    target = max(lowest, step * (max(1, size) // step))
    highest = total - 1 if limit is None else max(target, min(limit, total - 1))
    near = sorted(range(lowest, highest + 1, step), key=lambda c: (abs(c - target), -c))
    for candidate in (*near, *range(highest + 1, total)):
        remainder = total % candidate
        if candidate % step == 0 and (remainder == 0 or remainder >= minimum):
            return regular_chunks(total, candidate)
    return (total,)


def align_chunks(variables: dict[Any, Any], chunks: dict[Any, tuple[int, ...]]) -> dict[Any, Any]:
    """dask-backed variables rechunked to ``chunks`` along the dims they share with it.

    ``variables``: name → :class:`xarray.Variable`; numpy-backed ones are returned as they
    are. Gives every variable of a result the chunks of its radiance, so that the Dataset has
    one chunking per dim (``Dataset.chunks`` works) and every variable is a valid Zarr array.
    Coordinates and carried variables are small next to the radiance: the rechunk is cheap.
    """
    out = {}
    for name, variable in variables.items():
        wanted = {d: chunks[d] for d in variable.dims if d in chunks}
        current = dict(zip(variable.dims, variable.chunks or (), strict=False))
        if variable.chunks is not None and any(current[d] != c for d, c in wanted.items()):
            variable = variable.chunk(wanted)
        out[name] = variable
    return out


def block_halos(block_info: dict[Any, Any] | None, argument: int, halo: int) -> tuple[int, int]:
    """LR rows of context before and after the core of map_blocks argument ``argument``: the
    halo, except on the outer side of the first and last blocks."""
    if block_info is None:
        raise DimensionError("Scanline blocks run inside dask.array.map_blocks only.")
    index = block_info[argument]["chunk-location"][-3]
    count = block_info[argument]["num-chunks"][-3]
    return (halo if index > 0 else 0), (halo if index < count - 1 else 0)


# ---------------------------------------------------------------------------------- network tiles
def activation_bytes_per_lr_pixel(spec: ModelSpec, n_chan: int) -> int:
    """Estimated peak activation bytes per LR pixel of a tile.

    Fused CPU path: three tensors of HR size and C channels (the upsampled input in float32 and
    two residual buffers in the compute precision); the strips' temporaries are reserved apart
    (:func:`strip_bytes`).
    Reference path, measured on CPU: a folded S5-DSCR holds about ``2·m + 3`` float32 tensors
    of HR size at its peak (upsampled input, running residual, depthwise output of m·C channels
    and its reordered copy, pointwise output); bicubic about 2.
    """
    if spec.uses_fused_path:
        per_value = 4 + 2 * (4 if spec.dtype == "float32" else 2)
    elif spec.is_network:
        per_value = 4 * (2 * spec.multiplier + 3)
    else:
        per_value = 4 * 2
    return SCALE * SCALE * n_chan * per_value


def strip_bytes(spec: ModelSpec, n_chan: int) -> int:
    """Upper bound of the temporaries of one strip worker on the fused path (0 elsewhere).

    A strip holds at most ``2·m + 2`` float32-sized tensors of ``STRIP_PIXELS`` pixels and C
    channels: the m depthwise groups, their concatenation (bfloat16), the input cast of the
    first layer and the last layer's product.
    """
    if not spec.uses_fused_path:
        return 0
    return (2 * spec.multiplier + 2) * STRIP_PIXELS * n_chan * 4


def tile_shape(
    n_rows: int, n_cols: int, radius: int, bytes_per_pixel: int, budget: int
) -> tuple[int, int]:
    """Core (rows, cols) of the tiles of a block so that a tile with its halo fits ``budget``,
    chosen to compute the fewest LR pixels in all.

    A grid of ``k × j`` equal tiles (the last of a row or column no larger) computes about
    ``(n_rows + 2·radius·k) · (n_cols + 2·radius·(j − 1))`` pixels: every tile its halo rows
    (a block has context rows above and below), and no halo columns beyond the granule's
    sides (:func:`_tiles_across` sizes the widest tile). Of the grids whose tile with halo
    fits, the one computing least wins (of equals, the one with fewer tiles). Neither
    full-width strips nor square tiles are always that: a band-3 S5-DSCR block of 18 rows
    under the default budget computes 1.71× its pixels in two tiles of 18 × 225, 1.89× in
    squares of 18 × 76 (the fused path computes fewer of the halo rows than counted here).

    Examples
    --------
    >>> tile_shape(18, 450, 6, 1, 30 * 258)  # whole-height tiles, two across
    (18, 225)
    >>> tile_shape(40, 12, 2, 1, 80)  # 7 x 2 tiles
    (6, 6)
    >>> tile_shape(40, 12, 2, 1, 16 * 12)  # full-width strips
    (10, 12)
    """
    pixels = max(1, budget // bytes_per_pixel)
    best: tuple[tuple[int, int], tuple[int, int]] | None = None
    for k in range(1, n_rows + 1):
        rows = -(-n_rows // k)
        if k > 1 and rows == -(-n_rows // (k - 1)):
            continue  # the same tile height with more tiles
        across = _tiles_across(n_cols, radius, pixels // (rows + 2 * radius))
        if across is None:
            continue
        cost = ((n_rows + 2 * radius * k) * (n_cols + 2 * radius * (across - 1)), k * across)
        if best is None or cost < best[0]:
            best = (cost, (rows, -(-n_cols // across)))
    return (1, 1) if best is None else best[1]


def _tiles_across(n_cols: int, radius: int, width: int) -> int | None:
    """Fewest tiles across ``n_cols`` columns whose widest one, halo columns included, is at
    most ``width``: one tile has no halo columns, two have one each, more have two in the
    middle ones. None when not even one core column fits."""
    if n_cols <= width:
        return 1
    if -(-n_cols // 2) + radius <= width:
        return 2
    if width - 2 * radius < 1:
        return None
    return max(3, -(-n_cols // (width - 2 * radius)))
