"""The physics steps of the engine's dask graph with memory bounded by small HR blocks (issue 23).

Two scanline chunkings meet here (both LR scanlines, ``blocks`` and ``lr_chunks`` of
:func:`xr_s5sr.tiling.group_chunks`):

* **LR chunks** (tens of LR rows, each holding the longest halo): the back-projection
  coefficients (:func:`coefficients_graph`, an LR → LR solve reaching tens of rows) run on LR
  arrays only, in these chunks.
* **HR blocks** (a few LR rows, from the output memory budget): HR arrays are chunked in
  these. The consistency step and its non-negative form (:func:`consistent_graph`) run as one
  task per block on a *window*: the block's rows and :func:`xr_s5sr.physics.window_halo` LR
  rows each side (7 to 24), whose result at the block's rows equals the whole granule's within
  1e-6 of its scale. So every output block reads a bounded number of LR rows and no task
  waits on a chain of neighbours: the graph streams along the orbit in the memory of a few
  blocks, whatever its length. A block's task reads its rows straight from the chunks they lie
  in (:func:`xr_s5sr.row_reads.rows_around`): the graph holds no copy of them.

Inside a window the step is written in its LR-dual form
(:func:`xr_s5sr.constrained.nonnegative_multipliers`): every iterate is ``z = x + Aᵀ λ`` with LR
multipliers ``λ``; windows whose projection has no value below the bound skip the iterations.
The HR estimate ``x`` is either stored (networks) or rebuilt in the task from its LR
coefficients (``x = U c``, back-projection).

Inside a task the channels are processed in groups of :data:`CHANNEL_GROUP` (every operator
here acts on each channel alone), so a task's temporaries are a fraction of its block.

Boundary: numpy blocks and dask arrays whose last three axes are (scanline, ground_pixel,
spectral_channel), leading axes chunked by one (:func:`xr_s5sr.row_reads.map_cubes`). The maths is
that of :mod:`xr_s5sr.physics`, :mod:`xr_s5sr.adaptive` and :mod:`xr_s5sr.constrained`; the
engine (:mod:`xr_s5sr.engine`) wires these pieces.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from xr_s5sr import row_reads, tiling
from xr_s5sr.adaptive import DETAIL_RADIUS, gram_solve_rows, row_regularisation
from xr_s5sr.bands import SCALE
from xr_s5sr.constrained import (
    LOWER_BOUND_REACH,
    NONNEGATIVE_ITERATIONS,
    lower_bound,
    nonnegative_multipliers,
)
from xr_s5sr.missing import footprint, mask_missing
from xr_s5sr.operators import DEGRADE_REACH, degrade_adjoint, upsample
from xr_s5sr.physics import (
    UPSAMPLE_REACH,
    backprojection_coefficients,
    degrade_with_spill,
    gram_solve,
    window_halo,
    window_reach,
)
from xr_s5sr.spec import FILL_REACH

if TYPE_CHECKING:
    from xr_s5sr.spec import ModelSpec

#: Channels one task processes at a time (every physics operator acts on each channel alone):
#: a step's ~7 HR temporaries are then ~20 MB for a band-3 window of 44 LR rows (measured: a
#: window of 64 channels peaks 0.27 GiB above its inputs in groups of 16, 0.58 GiB in groups of
#: 64, and runs faster: the groups stay in cache).
CHANNEL_GROUP = 16
#: Channels of one dask chunk of the consistency windows (:func:`consistent_graph`): a task
#: holds one chunk of its window, and a band-3 block becomes 8 tasks.
CHANNEL_CHUNK = 64


def channel_groups(n_chan: int) -> list[slice]:
    """Slices of at most :data:`CHANNEL_GROUP` channels covering ``n_chan``."""
    return [slice(c, min(c + CHANNEL_GROUP, n_chan)) for c in range(0, n_chan, CHANNEL_GROUP)]


def upsample_rows(lr: np.ndarray, start: int, stop: int, kind: str = "cubic") -> np.ndarray:
    """HR rows of LR rows ``start:stop`` of ``lr`` interpolated ×4 (:func:`physics.upsample`),
    using :data:`~xr_s5sr.physics.UPSAMPLE_REACH` LR rows of context each side where ``lr``
    has them (clamped at its true edges)."""

    low, high = max(0, start - UPSAMPLE_REACH), min(lr.shape[0], stop + UPSAMPLE_REACH)
    hr = upsample(np.ascontiguousarray(lr[low:high]), kind=kind)  # type: ignore[arg-type]
    return np.ascontiguousarray(hr[SCALE * (start - low) : SCALE * (stop - low)])


def graph_reaches(spec: ModelSpec, halo: int) -> dict[str, int]:
    """LR rows of context of the graph's steps: ``coefficients`` (the back-projection's solve:
    ``halo`` less the interpolation's reach), ``network`` (a tile's halo, and the detail gate's
    window when the detail is gated), ``block`` (fewest LR rows of an HR block: the missing-value
    fill's reach, and the spill of ``A`` with consistency, as the blocks had before) and
    ``long`` (fewest rows of an LR chunk: every overlap depth on the LR chunks)."""

    coefficients = max(0, halo - UPSAMPLE_REACH) if spec.uses_physics_base else 0
    network = min(halo, spec.tile_halo) + (DETAIL_RADIUS + 1 if spec.gates_detail else 0)
    return {
        "coefficients": coefficients,
        "network": network,
        "block": max(FILL_REACH, DEGRADE_REACH if spec.consistency else 1),
        "long": max(FILL_REACH, coefficients),
    }


# ------------------------------------------------------------------------------- LR, long reach
def coefficient_block(
    block: np.ndarray,
    settings: np.ndarray | None,
    before: int,
    after: int,
    *,
    band: int,
    iterations: int,
    regularisation: float,
) -> np.ndarray:
    """Back-projection coefficients (:func:`xr_s5sr.physics.backprojection_coefficients`) of
    the rows ``before:len-after`` of a finite LR block, damped by each row's μ when
    ``settings`` (:func:`xr_s5sr.adaptive.blend_rows`) are given, else by ``regularisation``."""

    # The rows' blended regularisation where the settings are automatic.
    per_row: float | np.ndarray = regularisation
    if settings is not None:
        per_row = row_regularisation(settings).astype(np.float32)
    block = np.asarray(block, dtype=np.float32)
    out = np.empty((block.shape[0] - before - after, *block.shape[1:]), np.float32)
    for group in channel_groups(block.shape[2]):
        part = np.ascontiguousarray(block[..., group])
        solved = backprojection_coefficients(
            part, band, iterations=iterations, regularisation=per_row
        )
        out[..., group] = solved[before : block.shape[0] - after]
    return out


def spilled_graph(
    step: Any, lr: Any, settings: Any, chunks: tuple[int, ...], depth: int, pad: int, **kwargs: Any
) -> Any:
    """``step`` (:func:`coefficient_block`) over the LR ``chunks`` of a
    dask LR array (any chunking), each reading ``depth + pad`` rows each side and giving its
    rows and ``pad`` rows each side (fewer at the granule's ends): the spilled layout that
    :func:`xr_s5sr.row_reads.rows_around` reads the HR blocks' rows from (``spilled=(chunks,
    pad)``), so that a block needs only the chunk it lies in."""
    arrays = [row_reads.rows_around(lr, chunks, depth + pad)]
    if settings is not None:
        arrays.append(row_reads.rows_around(settings, chunks, depth + pad))
    return row_reads.map_cubes(
        _spilled_task,
        *arrays,
        chunks=(row_reads.spilled_sizes(chunks, pad), *lr.chunks[-2:]),
        step=step,
        lr_chunks=chunks,
        depth=depth,
        pad=pad,
        **kwargs,
    )


def _spilled_task(
    *blocks: np.ndarray,
    step: Any,
    lr_chunks: tuple[int, ...],
    depth: int,
    pad: int,
    block_info: dict[Any, Any] | None = None,
    **kwargs: Any,
) -> np.ndarray:
    """One LR chunk of :func:`spilled_graph`: ``step(block, settings or None, before, after)``
    keeping the chunk's rows and up to ``pad`` rows each side."""
    before, after = row_reads.rows_context(block_info, lr_chunks, depth + pad)
    keep_before, keep_after = row_reads.rows_context(block_info, lr_chunks, pad)
    settings = blocks[1] if len(blocks) > 1 else None
    return step(  # type: ignore[no-any-return]
        blocks[0], settings, before - keep_before, after - keep_after, **kwargs
    )


def coefficients_graph(
    lr: Any,
    settings: Any,
    chunks: tuple[int, ...],
    *,
    spec: ModelSpec,
    depth: int,
    pad: int = UPSAMPLE_REACH,
) -> Any:
    """Back-projection coefficients of a dask LR array on the LR ``chunks``, in the spilled
    layout with ``pad`` rows (at least :data:`~xr_s5sr.physics.UPSAMPLE_REACH`, what ``U`` of
    a block reads; more for the consistency windows that rebuild their estimate), with the
    method's band, iterations and fixed regularisation (or the rows' ``settings``);
    ``depth``: LR rows of context, ``iterations ×`` the reach of ``A U`` for the exact result."""

    return spilled_graph(
        coefficient_block,
        lr,
        settings,
        chunks,
        depth,
        pad,
        band=cast(int, spec.band),
        iterations=spec.iterations,
        regularisation=spec.fixed_regularisation,
    )


# ------------------------------------------------------------------------------ HR, short reach
def hr_iterate(estimate: np.ndarray, multipliers: np.ndarray, band: int) -> np.ndarray:
    """``z = x + Aᵀ λ`` of one HR window (one channel group of it: the caller,
    :func:`consistent_window`, cuts the channels), with ``x`` the ``estimate`` and ``λ`` the
    LR ``multipliers`` of its rows (zeros beyond them): a new float32 array."""
    # Aᵀ λ is a new float32 array: add the estimate to it (one pass, no copy).
    z = _adjoint_rows(multipliers, band, estimate.shape[1])
    z += estimate
    return z


def degrade_rows(z: np.ndarray, band: int) -> np.ndarray:
    """``A z`` of a finite HR window with spill (:func:`xr_s5sr.physics.degrade_with_spill`,
    ``n + 2·spill`` LR rows), float32."""
    return np.asarray(degrade_with_spill(z, band, DEGRADE_REACH), dtype=np.float32)


def negative_part(z: np.ndarray, bound: np.ndarray | None) -> np.ndarray:
    """``min(z − lower, 0)`` in place of ``z`` (``bound``: the HR lower bound, None for 0); a
    NaN (a missing estimate) has no negative part."""
    if bound is not None:
        z -= bound
    return np.fmin(z, 0.0, out=z)


def _adjoint_rows(lam: np.ndarray, band: int, width: int) -> np.ndarray:
    """``Aᵀ λ`` on the HR rows of the LR rows of ``lam``, zero beyond them."""
    spill = DEGRADE_REACH
    kept = np.pad(lam, ((spill, spill), (0, 0), (0, 0)))
    correction = degrade_adjoint(kept, band, (SCALE * kept.shape[0], width))
    return np.asarray(correction[SCALE * spill : SCALE * (spill + lam.shape[0])])


def consistency_terms(spec: ModelSpec) -> dict[str, Any]:
    """Keywords of :func:`consistent_window` for a method: its band, fixed regularisation and
    non-negative iterations (None: the projection alone)."""
    return {
        "band": cast(int, spec.band),
        "regularisation": spec.fixed_regularisation,
        "iterations": NONNEGATIVE_ITERATIONS if spec.nonnegative else None,
    }


def consistent_window(
    estimate_of: Callable[[slice], np.ndarray],
    lr: np.ndarray,
    settings: np.ndarray | None,
    lower: np.ndarray | None,
    *,
    band: int,
    regularisation: float,
    iterations: int | None,
    spill: tuple[int, int] = (0, 0),
    keep: tuple[int, int] | None = None,
) -> np.ndarray:
    """The consistency step of one window of LR rows, in the LR-dual form
    (:func:`xr_s5sr.constrained.nonnegative_multipliers`): the projection, or with
    ``iterations`` the non-negative consistent solution above ``lower``, damped by the fixed
    ``regularisation`` or the rows' ``settings``; channel group by channel group (every step
    acts on each channel alone), so temporaries are a fraction of the window.

    Parameters
    ----------
    estimate_of : callable
        Channel slice ↦ the HR estimate (float32) of the window's rows and ``spill`` LR rows
        (before, after) of its surroundings, (4·(n + before + after), 4·pixel, channels).
    lr : numpy.ndarray
        The window's ``n`` finite LR rows (scanline, ground_pixel, channel).
    settings : numpy.ndarray or None
        Their blended settings (:func:`xr_s5sr.adaptive.blend_rows`), None for the fixed μ.
    lower : numpy.ndarray or None
        LR lower bound of the estimate's rows (:func:`xr_s5sr.constrained.lower_bound`), None
        for the projection alone.
    band, regularisation, iterations
        :func:`consistency_terms`.
    spill : (int, int)
        LR rows of the estimate before and after the window, at most
        :data:`~xr_s5sr.operators.DEGRADE_REACH`: with them ``A`` of the window's rows is exact.
        The multipliers are zero outside the window (as beyond a granule's ends), so the
        window's rows equal the whole granule's result up to the taps of ``(A Aᵀ)⁻¹`` beyond
        its edges: :func:`xr_s5sr.physics.window_halo` rows of context make that < 1e-6.
    keep : (int, int), optional
        LR rows ``start:stop`` of the window to return (default: all).

    Returns
    -------
    numpy.ndarray
        HR result of the kept rows, float32.
    """
    before, after = spill
    n_rows = lr.shape[0]
    first, last = (0, n_rows) if keep is None else keep

    def window_rows(parts: np.ndarray) -> np.ndarray:
        # A of the estimate's rows spills DEGRADE_REACH rows each side: keep the window's.
        return parts[DEGRADE_REACH + before : DEGRADE_REACH + before + n_rows]

    def solve(misfit: np.ndarray) -> np.ndarray:
        # (A Aᵀ + μ)⁻¹: the fixed regularisation, or each row's blended μ.
        misfit = np.ascontiguousarray(misfit, dtype=np.float32)
        if settings is None:
            solved = gram_solve(misfit, band, regularisation=regularisation)
        else:
            solved = gram_solve_rows(misfit, band, settings)
        return np.asarray(solved, dtype=np.float32)

    out = np.empty((SCALE * (last - first), SCALE * lr.shape[1], lr.shape[2]), np.float32)
    for group in channel_groups(lr.shape[2]):
        # One contiguous copy: every pass below reads it.
        estimate = np.ascontiguousarray(estimate_of(group), dtype=np.float32)
        # Non-negative data have a zero bound: no HR bound array then.
        bound = None
        if lower is not None and lower[..., group].any():
            bound = footprint(lower[..., group])

        def z_of(lam: np.ndarray) -> np.ndarray:
            lam = np.pad(lam, ((before, after), (0, 0), (0, 0)))
            return hr_iterate(estimate, lam, band)  # noqa: B023

        # A missing (NaN) estimate counts as 0 in A x; negative parts never hold a NaN.
        finite = np.nan_to_num(estimate) if np.isnan(estimate).any() else estimate
        projected = solve(np.nan_to_num(lr[..., group]) - window_rows(degrade_rows(finite, band)))
        z = z_of(projected)
        # Where the projection leaves no value below the bound, the non-negative iterations
        # keep its multipliers (their negative part is zero): its iterate is the result.
        # Otherwise the iteration's first step reuses this iterate's negative part.
        if iterations is not None and (z < (0.0 if bound is None else bound)).any():
            first_negative = solve(window_rows(degrade_rows(negative_part(z, bound), band)))

            def solve_negative(lam: np.ndarray) -> np.ndarray:
                if lam is projected:  # noqa: B023
                    return first_negative  # noqa: B023
                negative = negative_part(z_of(lam), bound)  # noqa: B023
                return solve(window_rows(degrade_rows(negative, band)))

            z = z_of(nonnegative_multipliers(projected, solve_negative, iterations))
        if lower is not None:
            np.maximum(z, 0.0 if bound is None else bound, out=z)
        out[..., group] = z[SCALE * (before + first) : SCALE * (before + last)]
    return out


def consistent_numpy(
    estimate: np.ndarray,
    lr: np.ndarray,
    settings: np.ndarray | None,
    lower: np.ndarray | None,
    *,
    spec: ModelSpec,
) -> np.ndarray:
    """The consistency step of a whole (finite) granule in memory (:func:`consistent_window`
    with the granule as its window)."""
    return consistent_window(
        lambda group: estimate[..., group], lr, settings, lower, **consistency_terms(spec)
    )


def consistent_graph(
    source: Any,
    lr: Any,
    settings: Any,
    *,
    spec: ModelSpec,
    blocks: tuple[int, ...],
    rebuild: tuple[tuple[int, ...], int] | None = None,
    mask: tuple[Any, int, Any, str] | None = None,
) -> Any:
    """:func:`consistent_window` on every HR block of ``blocks`` (LR rows each) with
    :func:`xr_s5sr.physics.window_halo` LR rows of context each side: one task per block, so
    an output block reads a bounded number of rows and the memory is that of a few blocks,
    whatever the granule's length. There is one task per block and channel group of
    :data:`CHANNEL_CHUNK` (every step acts on each channel alone), so a task holds one group
    of its window, not the window's whole HR cube; it takes its group from the inputs'
    whole-channel chunks as views (no task splits them ahead). The result keeps those groups
    as its channel chunks (merging them would copy every HR block once more and hold the
    merged block until its last reader has run).

    ``source``: the HR estimate chunked by ``4·blocks``, or with ``rebuild = (chunks, pad)``
    its LR back-projection coefficients in the spilled layout of ``chunks`` with ``pad ≥``
    :func:`window_reach` ``+ UPSAMPLE_REACH`` rows (:func:`coefficients_graph`; each task
    rebuilds its rows of ``x = U c``). With ``spec.nonnegative`` each task computes the LR
    lower bound (:func:`xr_s5sr.constrained.lower_bound`) of its rows from ``lr`` itself: a
    separate bound array would be one more input whose tasks dask orders late, and every
    finished network block would wait for them in memory. ``mask``: ``(raw, radius, spec,
    missing)``, the raw LR granule (a block reads its rows and ``radius`` rows each side) and
    the policy of :func:`xr_s5sr.missing.mask_missing`, applied in the same task (``spec``
    may be a ``dask.delayed``). Every array has one chunk along ground_pixel and
    spectral_channel. Returns the HR result chunked by ``4·blocks`` and :data:`CHANNEL_CHUNK`
    channels.
    """
    halo, reach = window_halo(cast(int, spec.band)), window_reach(cast(int, spec.band))
    n_pixel = lr.shape[-2]
    masking: dict[str, Any] = {}
    grouped = functools.partial(row_reads.rows_around, blocks=blocks, split_channels=True)
    if rebuild is None:
        hr_blocks = tuple(SCALE * b for b in blocks)
        arrays = [grouped(source, blocks=hr_blocks, depth=SCALE * reach)]
    else:
        arrays = [grouped(source, depth=reach + UPSAMPLE_REACH, spilled=rebuild)]
    arrays.append(grouped(lr, depth=halo))
    layout = ["source", "lr"]
    if settings is not None:
        arrays.append(row_reads.rows_around(settings, blocks, halo))
        layout.append("settings")
    if spec.nonnegative:
        arrays.append(grouped(lr, depth=reach + LOWER_BOUND_REACH))
        layout.append("bound_rows")
    if mask is not None:
        raw, radius, method, missing = mask
        arrays.append(grouped(raw, depth=radius))
        layout.append("raw")
        masking = {"radius": radius, "spec": method, "missing": missing}
    groups = tiling.regular_chunks(lr.shape[-1], CHANNEL_CHUNK)
    result = row_reads.map_cubes(
        _window_task,
        *arrays,
        chunks=(tuple(SCALE * b for b in blocks), (SCALE * n_pixel,), groups),
        layout=tuple(layout),
        blocks=blocks,
        halo=halo,
        reach=reach,
        rebuild=rebuild is not None,
        masking=masking,
        **consistency_terms(spec),
    )
    return result


def _window_bound(
    rows: np.ndarray, block_info: dict[Any, Any] | None, blocks: tuple[int, ...], reach: int
) -> np.ndarray:
    """LR lower bound (:func:`xr_s5sr.constrained.lower_bound`) of a block's rows and ``reach``
    rows each side, from ``rows``: those and :data:`LOWER_BOUND_REACH` more each side (fewer
    at the granule's ends, where the bound's own edge rule then applies, as on the whole
    granule)."""
    wide_before, wide_after = row_reads.rows_context(block_info, blocks, reach + LOWER_BOUND_REACH)
    before, after = row_reads.rows_context(block_info, blocks, reach)
    bound = lower_bound(rows)
    return bound[wide_before - before : bound.shape[0] - (wide_after - after)]


def _window_task(
    *arrays: np.ndarray,
    layout: tuple[str, ...],
    blocks: tuple[int, ...],
    halo: int,
    reach: int,
    rebuild: bool,
    masking: dict[str, Any],
    block_info: dict[Any, Any] | None = None,
    **terms: Any,
) -> np.ndarray:
    """:func:`consistent_window` of one HR block inside ``map_blocks``, its rows of context
    from the block's place (:func:`xr_s5sr.row_reads.rows_context`); returns the block's rows,
    masked where ``masking`` says (:func:`xr_s5sr.missing.mask_missing`)."""
    named = dict(zip(layout, arrays, strict=True))
    lr_before, lr_after = row_reads.rows_context(block_info, blocks, halo)
    before, after = row_reads.rows_context(block_info, blocks, reach)
    n_rows = named["lr"].shape[0] + (before - lr_before) + (after - lr_after)
    source = named["source"]
    if rebuild:
        first, _ = row_reads.rows_context(block_info, blocks, reach + UPSAMPLE_REACH)
        first -= before

        def estimate_of(group: slice) -> np.ndarray:
            return upsample_rows(source[..., group], first, first + n_rows)

    else:

        def estimate_of(group: slice) -> np.ndarray:
            return source[..., group]

    lower = None
    if "bound_rows" in named:
        lower = _window_bound(named["bound_rows"], block_info, blocks, reach)
    out = consistent_window(
        estimate_of,
        named["lr"],
        named.get("settings"),
        lower,
        spill=(before - lr_before, after - lr_after),
        keep=(lr_before, named["lr"].shape[0] - lr_after),
        **terms,
    )
    if not masking:
        return out
    raw_before, raw_after = row_reads.rows_context(block_info, blocks, masking["radius"])
    return mask_missing(
        out, named["raw"], raw_before, raw_after, masking["spec"], masking["missing"]
    )
