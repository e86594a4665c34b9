"""dask graph building blocks of the engine: scanline blocks with halos, one element of the
extra dims per block, the distributed data-consistency projection and the per-window
adaptive settings.

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

from xr_s5sr.bands import SCALE
from xr_s5sr.errors import DimensionError
from xr_s5sr.spec import AUTO

if TYPE_CHECKING:
    from xr_s5sr.spec import ModelSpec


def map_cubes(
    func: Callable[..., np.ndarray],
    *arrays: Any,
    chunks: tuple[tuple[int, ...], ...],
    dtype: type = np.float32,
    **kwargs: Any,
) -> Any:
    """``dask.array.map_blocks`` of a function of 3-D blocks over arrays whose leading axes
    (chunks of one element) are extra dims: ``chunks`` are the output's last three."""
    import dask.array as da

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


def settings_graph(
    lr: Any,
    spec: ModelSpec,
    sigma: Any = None,
    first: int = 0,
    prepare: Callable[[np.ndarray], np.ndarray] | None = None,
) -> Any:
    """Blended per-row settings (:func:`xr_s5sr.adaptive.blend_rows`) of a dask LR array, or
    None when the method needs no statistic.

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
    dask.array.Array or None
        float64 (extra dims…, scanline, 1, 4), chunked like ``lr`` along scanline. Each
        window's settings are one task reading the window's rows and their
        :func:`~xr_s5sr.adaptive.statistics_reach`; each chunk of rows depends only on the
        (at most a few) windows whose centres bracket it, so computing part of the result
        never reads the whole granule.
    """
    if not spec.reads_statistics:
        return None
    import dask
    import dask.array as da

    from xr_s5sr.adaptive import (
        bracketing,
        window_centres,
        window_reads,
        window_settings,
        windows,
    )

    band = cast(int, spec.band)
    fixed = None if spec.regularisation == AUTO else spec.fixed_regularisation
    lead = lr.ndim - 3
    n_scan = lr.shape[-3]
    bounds = windows(n_scan, first)
    centres = window_centres(bounds)
    chunk_starts = np.cumsum((0, *lr.chunks[-3]))
    elements = np.empty(lr.shape[:lead], dtype=object)
    for element in np.ndindex(lr.shape[:lead]):
        values = []
        for start, stop in bounds:
            low, high = window_reads(n_scan, band, int(start), int(stop))
            rows = lr[(*element, slice(low, high))]
            values.append(
                dask.delayed(window_settings, pure=True)(
                    rows if prepare is None else dask.delayed(prepare, pure=True)(rows),
                    band,
                    int(start - low),
                    int(high - stop),
                    at_start=low == 0,
                    at_end=high == n_scan,
                    regularisation=fixed,
                    sigma=None if sigma is None else sigma[(*element, slice(low, high))],
                )
            )
        parts = []
        for a, b in itertools.pairwise(chunk_starts):
            near = bracketing(centres, int(a), int(b))
            rows = dask.delayed(_blend, pure=True)(int(a), int(b), centres[near], *values[near])
            parts.append(da.from_delayed(rows, (int(b - a), 1, 4), dtype=np.float64))
        elements[element] = da.concatenate(parts, axis=0).reshape((1,) * lead + (n_scan, 1, 4))
    return _concatenate_elements(elements.tolist(), 0) if lead else elements[()]


def _concatenate_elements(nested: Any, axis: int) -> Any:
    """One dask array from nested lists of per-element arrays (list depth = leading axes)."""
    import dask.array as da

    if not isinstance(nested, list):
        return nested
    return da.concatenate([_concatenate_elements(n, axis + 1) for n in nested], axis=axis)


def _blend(start: int, stop: int, centres: np.ndarray, *values: np.ndarray) -> np.ndarray:
    from xr_s5sr.adaptive import blend_rows

    return blend_rows(start, stop, centres, np.stack(values))


def like_chunks(array: Any, like: Any) -> Any:
    """``array`` (numpy or dask, the shape of ``like``) as a dask array chunked like ``like``."""
    import dask
    import dask.array as da

    if dask.is_dask_collection(array):
        return array.rechunk(like.chunks)
    return da.from_array(np.asarray(array), chunks=like.chunks)


def per_element(
    *blocks: np.ndarray,
    function: Callable[..., np.ndarray],
    block_info: dict[Any, Any] | None = None,
    **kwargs: Any,
) -> Any:
    """``function`` of the 3-D cube inside blocks whose leading axes hold one element
    (``block_info`` passed on to functions that take it)."""
    from dask.utils import has_keyword

    if has_keyword(function, "block_info"):
        kwargs["block_info"] = block_info
    lead = blocks[0].ndim - 3
    out = function(*(block.reshape(block.shape[lead:]) for block in blocks), **kwargs)
    return out.reshape((1,) * lead + out.shape)


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


def project_dask(estimate: Any, lr: Any, band: int, regularisation: float, settings: Any) -> Any:
    """Data-consistency projection across scanline blocks, moving only LR data between blocks.

    1. every HR block degrades itself, seen as zero outside (``spill`` LR rows each side);
    2. the parts are summed where they overlap (overlap-add): the degradation of the whole
       estimate, on the LR chunks;
    3. each block takes the misfit with the input around it (``radius + spill`` rows of its
       neighbours), solves ``(A Aᵀ + μ)⁻¹`` for its rows and ``spill`` rows each side (taps
       reach ``radius`` LR rows): with the fixed ``regularisation`` when ``settings`` is None,
       else with the per-row blend of the windows' μ
       (:func:`xr_s5sr.adaptive.gram_solve_rows`; the halo is then that of μ = 0, the longest
       taps), and adds the back-projection ``Aᵀ`` of that solve to its HR rows.

    Steps 3's solve and back-projection share one task, so an output block depends on LR
    blocks at most two away on each side plus the estimate's own halo (``tests/
    test_adaptive.py``: the first 64 HR scanlines of a 768-scanline band-7 granule read 250
    LR scanlines).
    """
    import dask.array as da

    from xr_s5sr.physics import DEGRADE_REACH, gram_inverse_taps

    spill = DEGRADE_REACH
    radius = gram_inverse_taps(band, 0, regularisation if settings is None else 0.0).size // 2
    scan_chunks = lr.chunks[-3]
    parts = map_cubes(
        degrade_part,
        estimate,
        chunks=(tuple(c + 2 * spill for c in scan_chunks), *lr.chunks[-2:]),
        band=band,
        spill=spill,
    )
    parts = with_neighbours(parts, 2 * spill, 0)
    degraded = map_cubes(
        overlap_add, parts, chunks=lr.chunks[-3:], spill=spill, single=len(scan_chunks) == 1
    )
    depth = radius + spill
    arrays = [estimate, with_neighbours(da.nan_to_num(lr) - degraded, depth, "none")]
    if settings is not None:
        arrays.append(with_neighbours(settings, depth, "none"))
    return map_cubes(
        correct_block,
        *arrays,
        chunks=estimate.chunks[-3:],
        band=band,
        depth=depth,
        spill=spill,
        regularisation=regularisation,
    )


def degrade_part(block: np.ndarray, *, band: int, spill: int) -> np.ndarray:
    from xr_s5sr.physics import degrade_with_spill

    filled = np.nan_to_num(block, nan=0.0, posinf=0.0, neginf=0.0)
    return degrade_with_spill(filled, band, spill)


def overlap_add(block: np.ndarray, *, spill: int, single: bool) -> np.ndarray:
    """Own LR rows of a part plus what its neighbours spill into them (:func:`project_dask`)."""
    if single:
        return np.ascontiguousarray(block[spill : block.shape[0] - spill])
    n_core = block.shape[0] - 6 * spill
    own = block[3 * spill : 3 * spill + n_core].copy()
    own[:spill] += block[spill : 2 * spill]
    own[n_core - spill :] += block[4 * spill + n_core : 5 * spill + n_core]
    return own


def correct_block(
    estimate: np.ndarray,
    difference: np.ndarray,
    settings: np.ndarray | None = None,
    *,
    band: int,
    depth: int,
    spill: int,
    regularisation: float,
    block_info: dict[Any, Any] | None = None,
) -> np.ndarray:
    """Step 3 of :func:`project_dask` for one HR block: ``difference`` (and ``settings``) are
    its LR rows with ``depth`` rows of context where the granule has them."""
    from xr_s5sr.adaptive import gram_solve_rows
    from xr_s5sr.physics import degrade_adjoint, gram_solve

    before, after = block_halos(block_info, 1, depth)
    misfit = np.ascontiguousarray(difference)
    if settings is None:
        solved = gram_solve(misfit, band, regularisation=regularisation)
    else:
        solved = gram_solve_rows(misfit, band, settings)
    # The solve of the block's rows and `spill` rows each side (zeros beyond the granule).
    n_core = misfit.shape[0] - before - after
    low, high = before - min(before, spill), before + n_core + min(after, spill)
    kept = np.pad(
        solved[low:high],
        ((spill - (before - low), spill - (high - before - n_core)), (0, 0), (0, 0)),
    )
    correction = degrade_adjoint(kept, band, (SCALE * kept.shape[0], estimate.shape[1]))
    out = np.array(estimate, dtype=np.float32, copy=True)
    out += correction[SCALE * spill : SCALE * spill + estimate.shape[0]]
    return out


def scan_chunks(
    current: tuple[int, ...],
    row_elements: int,
    halo: int,
    output_chunks: int | None,
    memory_budget: int,
) -> tuple[int, ...]:
    """LR scanline chunks: from ``output_chunks`` or the budget, none shorter than ``halo``."""
    n_scan = sum(current)
    if output_chunks is not None:
        if output_chunks < SCALE or output_chunks % SCALE:
            raise DimensionError(
                f"output_chunks must be a positive multiple of {SCALE} HR scanlines (each LR "
                f"scanline gives {SCALE}), got {output_chunks}. Use e.g. "
                f"{max(SCALE, SCALE * round(output_chunks / SCALE))}."
            )
        chunks = regular_chunks(n_scan, output_chunks // SCALE)
    else:
        hr_row_bytes = SCALE * SCALE * row_elements * np.dtype(np.float32).itemsize
        max_rows = max(1, memory_budget // hr_row_bytes)
        chunks = current if max(current) <= max_rows else budget_chunks(n_scan, max_rows, halo)
    merged: list[int] = []
    for size in chunks:
        # overlap(allow_rechunk=False) needs every chunk to hold the halo: merge short ones.
        if merged and merged[-1] < halo:
            merged[-1] += size
        else:
            merged.append(size)
    if len(merged) > 1 and merged[-1] < halo:
        last = merged.pop()
        merged[-1] += last
    return tuple(merged)


def regular_chunks(total: int, size: int) -> tuple[int, ...]:
    return (size,) * (total // size) + ((total % size,) if total % size else ())


def budget_chunks(total: int, size: int, halo: int) -> tuple[int, ...]:
    """Regular chunks of at most ``size`` whose last chunk also holds the halo if possible.

    Zarr stores need equal chunks but a smaller last one; merging a too-short last chunk into
    its neighbour would break that, so a slightly smaller regular size is preferred.
    """
    for candidate in range(size, halo - 1, -1):
        if total % candidate == 0 or total % candidate >= halo:
            return regular_chunks(total, candidate)
    return regular_chunks(total, size)


def block_halos(block_info: dict[Any, Any] | None, argument: int, halo: int) -> tuple[int, int]:
    """LR rows of context before and after the core of map_blocks argument ``argument``: the
    halo, except on the outer side of the first and last blocks."""
    if block_info is None:
        raise DimensionError("Scanline blocks run inside dask.array.map_blocks only.")
    index = block_info[argument]["chunk-location"][-3]
    count = block_info[argument]["num-chunks"][-3]
    return (halo if index > 0 else 0), (halo if index < count - 1 else 0)
