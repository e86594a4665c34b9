"""The physics steps of the engine's dask graph with memory bounded by small HR blocks (issue 23).

Two scanline chunkings meet here (both LR scanlines, ``blocks`` and ``lr_chunks`` of
:func:`xr_s5sr.tiling.group_chunks`):

* **LR chunks** (tens of LR rows, each holding the longest halo): every long-reach step runs
  on LR arrays only, in these chunks — the back-projection coefficients
  (:func:`coefficients_graph`, an LR → LR solve reaching tens of rows) and the Gram solve of the
  consistency projection (:func:`solve_graph`, on the LR misfit).
* **HR blocks** (a few LR rows, from the output memory budget): HR arrays are chunked in
  these and only meet short-reach steps — ``U`` (2 LR rows), ``A`` with its spill and ``Aᵀ``
  (:data:`~xr_s5sr.operators.DEGRADE_REACH` rows), pointwise steps. LR arrays go from one
  chunking to the other with ``rechunk`` (:func:`xr_s5sr.tiling.rows_around`).

The consistency step and its non-negative form (:func:`xr_s5sr.constrained.nonnegative_multipliers`)
are written in their LR-dual form: every iterate is ``z = x + Aᵀ λ`` with LR multipliers
``λ``, so an iteration is one HR task per block (``A min(x + Aᵀ λ − lower, 0)``, an LR part)
and LR work; no HR array of one iteration is kept for the next. The HR estimate ``x`` itself is
either stored (networks) or rebuilt in every task from its LR coefficients (``x = U c``,
back-projection: then no HR array outlives its task).

Inside a task the channels are processed in groups of :data:`CHANNEL_GROUP` (every operator
here acts on each channel alone), so a task's temporaries are a fraction of its block.

Boundary: numpy blocks and dask arrays whose last three axes are (scanline, ground_pixel,
spectral_channel), leading axes chunked by one (:func:`xr_s5sr.tiling.map_cubes`). The maths is
that of :mod:`xr_s5sr.physics`, :mod:`xr_s5sr.adaptive` and :mod:`xr_s5sr.constrained`; the
engine (:mod:`xr_s5sr.engine`) wires these pieces.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

import numpy as np

from xr_s5sr import tiling
from xr_s5sr.adaptive import DETAIL_RADIUS, gram_solve_rows, row_regularisation
from xr_s5sr.bands import SCALE
from xr_s5sr.constrained import NONNEGATIVE_ITERATIONS, nonnegative_multipliers
from xr_s5sr.missing import footprint
from xr_s5sr.operators import DEGRADE_REACH, degrade_adjoint, upsample
from xr_s5sr.physics import (
    UPSAMPLE_REACH,
    backprojection_coefficients,
    degrade_with_spill,
    gram_inverse_taps,
    gram_solve,
)
from xr_s5sr.spec import FILL_REACH

if TYPE_CHECKING:
    from xr_s5sr.spec import ModelSpec

#: Channels one task processes at a time (every physics operator acts on each channel alone):
#: a band-3 HR block of 17 LR rows then has ~30 MB temporaries per step instead of ~240 MB.
CHANNEL_GROUP = 64


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
    window when the detail is gated), ``block`` (fewest LR rows of an HR block: the spill of
    ``A``; the missing-value fill's reach, as the blocks had before) and ``long`` (fewest rows
    of an LR chunk: every overlap depth on the LR chunks)."""

    coefficients = max(0, halo - UPSAMPLE_REACH) if spec.uses_physics_base else 0
    network = min(halo, spec.tile_halo) + (DETAIL_RADIUS + 1 if spec.gates_detail else 0)
    solve = 0
    if spec.consistency:
        regularisation = 0.0 if spec.reads_statistics else spec.fixed_regularisation
        solve = solve_reach(cast(int, spec.band), regularisation)
    return {
        "coefficients": coefficients,
        "network": network,
        "block": max(FILL_REACH, DEGRADE_REACH if spec.consistency else 1),
        "long": max(FILL_REACH, coefficients, solve),
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


def solve_block(
    misfit: np.ndarray,
    settings: np.ndarray | None,
    before: int,
    after: int,
    *,
    band: int,
    regularisation: float,
) -> np.ndarray:
    """``(A Aᵀ + μ)⁻¹`` of the rows ``before:len-after`` of an LR misfit block: the fixed
    ``regularisation``, or each row's blended μ (:func:`xr_s5sr.adaptive.gram_solve_rows`)."""

    misfit = np.asarray(misfit, dtype=np.float32)
    out = np.empty((misfit.shape[0] - before - after, *misfit.shape[1:]), np.float32)
    for group in channel_groups(misfit.shape[2]):
        part = np.ascontiguousarray(misfit[..., group])
        if settings is None:
            solved = gram_solve(part, band, regularisation=regularisation)
        else:
            solved = gram_solve_rows(part, band, settings)
        out[..., group] = solved[before : misfit.shape[0] - after]
    return out


def spilled_graph(
    step: Any, lr: Any, settings: Any, chunks: tuple[int, ...], depth: int, pad: int, **kwargs: Any
) -> Any:
    """``step`` (:func:`coefficient_block`, :func:`solve_block`) over the LR ``chunks`` of a
    dask LR array (any chunking), each reading ``depth + pad`` rows each side and giving its
    rows and ``pad`` rows each side (fewer at the granule's ends): the spilled layout that
    :func:`xr_s5sr.tiling.rows_around` reads the HR blocks' rows from (``spilled=(chunks,
    pad)``), so that a block needs only the chunk it lies in."""
    arrays = [tiling.rows_around(lr, chunks, depth + pad)]
    if settings is not None:
        arrays.append(tiling.rows_around(settings, chunks, depth + pad))
    return tiling.map_cubes(
        _spilled_task,
        *arrays,
        chunks=(tiling.spilled_sizes(chunks, pad), *lr.chunks[-2:]),
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
    before, after = tiling.rows_context(block_info, lr_chunks, depth + pad)
    keep_before, keep_after = tiling.rows_context(block_info, lr_chunks, pad)
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
) -> Any:
    """Back-projection coefficients of a dask LR array on the LR ``chunks``, in the spilled
    layout with :data:`~xr_s5sr.physics.UPSAMPLE_REACH` rows (what ``U`` of a block reads),
    with the method's band, iterations and fixed regularisation (or the rows' ``settings``);
    ``depth``: LR rows of context, ``iterations ×`` the reach of ``A U`` for the exact result."""

    return spilled_graph(
        coefficient_block,
        lr,
        settings,
        chunks,
        depth,
        UPSAMPLE_REACH,
        band=cast(int, spec.band),
        iterations=spec.iterations,
        regularisation=spec.fixed_regularisation,
    )


def solve_graph(
    misfit: Any, settings: Any, chunks: tuple[int, ...], *, band: int, regularisation: float
) -> Any:
    """``(A Aᵀ + μ)⁻¹`` of a dask LR misfit on the LR ``chunks``, in the spilled layout with
    :data:`DEGRADE_REACH` rows (what ``Aᵀ`` of a block reads), with the taps' reach of context
    (that of μ = 0, the longest, when the μ are per row)."""
    return spilled_graph(
        solve_block,
        misfit,
        settings,
        chunks,
        solve_reach(band, regularisation if settings is None else 0.0),
        DEGRADE_REACH,
        band=band,
        regularisation=regularisation,
    )


def solve_reach(band: int, regularisation: float = 0.0) -> int:
    """LR rows each side that the Gram solve of :func:`solve_block` reads."""

    return int(gram_inverse_taps(band, 0, regularisation).size // 2)


# ------------------------------------------------------------------------------ HR, short reach
def hr_step(
    source: np.ndarray,
    multipliers: np.ndarray | None,
    lower: np.ndarray | None,
    *,
    mode: str,
    band: int,
    rebuild: bool,
    context: tuple[int, int, int, int] = (0, 0, 0, 0),
) -> np.ndarray:
    """One HR block's part of the consistency step, channel group by channel group.

    ``z = x + Aᵀ λ``, with ``x`` the block's estimate (``source`` itself, or with ``rebuild``
    ``U`` of its LR back-projection coefficients ``source``) and ``λ`` the LR ``multipliers``
    of the block's rows and up to :data:`DEGRADE_REACH` rows each side (zeros beyond the
    granule); then, by ``mode``: ``"degrade"``: ``A z`` with spill
    (:func:`xr_s5sr.physics.degrade_with_spill`, ``n + 2·spill`` LR rows); ``"negative"``:
    ``A min(z − lower, 0)`` with spill; ``"final"``: ``z``, or ``max(z, lower)``. ``lower``:
    LR lower bound of the block's rows (:func:`xr_s5sr.constrained.lower_bound`), repeated
    over each LR pixel's HR footprint. ``context``: LR rows of context (before, after) of an
    LR ``source``, then of ``multipliers``.
    """

    source_before, source_after, lam_before, lam_after = context
    if rebuild:
        n_core, width = source.shape[0] - source_before - source_after, SCALE * source.shape[1]
    else:
        n_core, width = source.shape[0] // SCALE, source.shape[1]
    n_chan, spill = source.shape[2], DEGRADE_REACH
    if mode == "final":
        out = np.empty((SCALE * n_core, width, n_chan), np.float32)
    else:
        out = np.empty((n_core + 2 * spill, width // SCALE, n_chan), np.float32)
    for group in channel_groups(n_chan):
        if rebuild:
            z = upsample_rows(source[..., group], source_before, source_before + n_core)
        else:
            z = np.array(source[..., group], dtype=np.float32, copy=True)
        if multipliers is not None:
            z += _adjoint_rows(multipliers[..., group], lam_before, lam_after, band, width)
        # Non-negative data have a zero bound: no HR bound array then.
        bound = None
        if lower is not None and lower[..., group].any():
            bound = footprint(lower[..., group])
        if mode == "final":
            if lower is not None:
                np.maximum(z, 0.0 if bound is None else bound, out=z)
            out[..., group] = z
            continue
        if mode == "negative":
            z = np.minimum(z if bound is None else z - bound, 0.0)
        out[..., group] = degrade_with_spill(np.nan_to_num(z, copy=False), band, spill)
    return out


def _adjoint_rows(lam: np.ndarray, before: int, after: int, band: int, width: int) -> np.ndarray:
    """``Aᵀ λ`` on the HR rows of the LR rows ``before:len-after`` of ``lam``, from those rows
    and :data:`DEGRADE_REACH` rows each side (zeros where ``lam`` has fewer: the granule's
    ends)."""

    spill = DEGRADE_REACH
    n_core = lam.shape[0] - before - after
    low, high = before - min(before, spill), before + n_core + min(after, spill)
    kept = np.pad(
        lam[low:high], ((spill - (before - low), spill - (high - before - n_core)), (0, 0), (0, 0))
    )
    correction = degrade_adjoint(kept, band, (SCALE * kept.shape[0], width))
    return np.asarray(correction[SCALE * spill : SCALE * (spill + n_core)])


def lr_sum(parts: np.ndarray) -> np.ndarray:
    """The LR rows of a whole granule's part (:func:`hr_step`): its spill cut off."""
    return np.ascontiguousarray(parts[DEGRADE_REACH : parts.shape[0] - DEGRADE_REACH])


def _consistency_terms(spec: ModelSpec) -> tuple[int, float, int | None]:
    """Band, fixed regularisation and non-negative iterations (None: the projection alone)
    of a method's consistency step."""
    iterations = NONNEGATIVE_ITERATIONS if spec.nonnegative else None
    return cast(int, spec.band), spec.fixed_regularisation, iterations


def consistent_numpy(
    estimate: np.ndarray,
    lr: np.ndarray,
    settings: np.ndarray | None,
    lower: np.ndarray | None,
    *,
    spec: ModelSpec,
) -> np.ndarray:
    """The consistency step of a whole (finite) granule in memory, in the same LR-dual form as
    :func:`consistent_graph`: the projection, or with ``spec.nonnegative`` the non-negative
    consistent solution above ``lower`` (:func:`xr_s5sr.constrained.nonnegative_multipliers`),
    damped by the method's fixed regularisation or the rows' ``settings``."""
    band, regularisation, iterations = _consistency_terms(spec)

    def solve(misfit: np.ndarray) -> np.ndarray:
        return solve_block(misfit, settings, 0, 0, band=band, regularisation=regularisation)

    def hr(mode: str, lam: np.ndarray | None) -> np.ndarray:
        return hr_step(estimate, lam, lower, mode=mode, band=band, rebuild=False)

    first = solve(np.nan_to_num(lr) - lr_sum(hr("degrade", None)))
    if iterations is None:
        return hr("final", first)
    multipliers = nonnegative_multipliers(
        first, lambda lam: solve(lr_sum(hr("negative", lam))), iterations
    )
    return hr("final", multipliers)


def consistent_graph(
    source: Any,
    lr: Any,
    settings: Any,
    lower: Any,
    *,
    spec: ModelSpec,
    blocks: tuple[int, ...],
    lr_chunks: tuple[int, ...],
    rebuild: bool,
) -> Any:
    """:func:`consistent_numpy` as a dask graph: HR work on the HR ``blocks`` (LR rows each),
    LR solves on the ``lr_chunks`` (groups of blocks).

    ``source``: the HR estimate chunked by ``4·blocks``, or with ``rebuild`` its LR
    back-projection coefficients (:func:`coefficients_graph` on ``lr_chunks``; each task
    rebuilds its rows of ``x = U c``).
    ``lower``: the LR lower bound (any chunking), or None (no bound: the projection only, with
    ``spec.nonnegative`` False). Returns the HR result chunked by ``4·blocks``.
    """
    band, regularisation, iterations = _consistency_terms(spec)

    if rebuild:
        source = tiling.rows_around(
            source, blocks, UPSAMPLE_REACH, spilled=(lr_chunks, UPSAMPLE_REACH)
        )
    bound = None if lower is None else tiling.rows_around(lower, blocks, 0)
    n_pixel, n_chan = lr.shape[-2:]

    def hr(mode: str, lam: Any) -> Any:
        arrays = [source]
        if lam is not None:
            spilled = (lr_chunks, DEGRADE_REACH)
            arrays.append(tiling.rows_around(lam, blocks, DEGRADE_REACH, spilled=spilled))
        if bound is not None and mode != "degrade":
            arrays.append(bound)
        layout = ("source", *(("multipliers",) if lam is not None else ()))
        layout += ("lower",) if len(arrays) > len(layout) else ()
        if mode == "final":
            chunks = (tuple(SCALE * b for b in blocks), (SCALE * n_pixel,), (n_chan,))
        else:
            chunks = (tuple(b + 2 * DEGRADE_REACH for b in blocks), (n_pixel,), (n_chan,))
        out = tiling.map_cubes(
            _hr_task,
            *arrays,
            chunks=chunks,
            layout=layout,
            blocks=blocks,
            mode=mode,
            band=band,
            rebuild=rebuild,
        )
        if mode == "final":
            return out
        return tiling.sum_spills(out, DEGRADE_REACH)

    def solve(misfit: Any) -> Any:
        return solve_graph(misfit, settings, lr_chunks, band=band, regularisation=regularisation)

    import dask.array as da

    first = solve(da.nan_to_num(lr) - hr("degrade", None))
    if iterations is None:
        return hr("final", first)
    multipliers = nonnegative_multipliers(first, lambda lam: solve(hr("negative", lam)), iterations)
    return hr("final", multipliers)


def _hr_task(
    *arrays: np.ndarray,
    layout: tuple[str, ...],
    blocks: tuple[int, ...],
    mode: str,
    band: int,
    rebuild: bool,
    block_info: dict[Any, Any] | None = None,
) -> np.ndarray:
    """:func:`hr_step` of one HR block inside ``map_blocks`` (the rows of context of its
    LR inputs from the block's place, :func:`xr_s5sr.tiling.rows_context`)."""

    named = dict(zip(layout, arrays, strict=True))
    source_context = tiling.rows_context(block_info, blocks, UPSAMPLE_REACH if rebuild else 0)
    lam_context = tiling.rows_context(block_info, blocks, DEGRADE_REACH)
    return hr_step(
        named["source"],
        named.get("multipliers"),
        named.get("lower"),
        mode=mode,
        band=band,
        rebuild=rebuild,
        context=(*source_context, *lam_context),
    )
