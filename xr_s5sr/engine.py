"""Arrays-only engine: seam-free ×4 super-resolution of radiance cubes over scanline blocks.

Boundary: numpy and dask arrays with axes (scanline, ground_pixel, spectral_channel) (any order
via ``axes=``) in and out; no xarray (:mod:`xr_s5sr.inference` wraps this for Datasets). The
numpy/dask branch happens once, in :func:`super_resolve_array`. torch is imported inside
functions only.

Methods (:class:`ModelSpec`)
    ``bicubic``: PyTorch bicubic ×4 (the paper's baseline). ``backprojection``: the training-free
    physics inverse (:func:`xr_s5sr.physics.backproject`). Networks: S5-DSCR modules;
    ``scaling="local"`` networks add their scale-equivariant detail to the physics inverse.
    With ``consistency`` (default for everything but bicubic) the result is projected onto
    the HR images whose degradation is the input (:func:`xr_s5sr.physics.project`).

Adaptive settings
    With ``regularisation="auto"`` (the default) the damping of the physics inverse and the
    Tikhonov weight of the projection come from each granule's data, and a local-scaling
    network's detail is gated by the data's local detail (:mod:`xr_s5sr.adaptive`): μ and the
    noise variance are estimated per window of scanlines fixed in absolute scanline index
    (from the file's σ when given, ``sigma=``) and blended per row between windows
    (:func:`xr_s5sr.tiling.settings_graph`); every block reads the settings of its own rows,
    so no block depends on the whole granule.

Tiling
    A dask input is split into scanline blocks (ground_pixel and spectral_channel whole), each
    extended by :attr:`ModelSpec.halo` LR scanlines from its neighbours with
    ``dask.array.overlap.overlap(boundary="none")``; every block is super-resolved and the halo
    (×4) is cropped on its interior sides only. The halo is the reach of the method (network
    receptive field, local scale window, back-projection), which makes the result identical to
    a single whole-array run. Inside a block, network tiles bounded by an activation budget are
    run one after the other, each with the network's own halo, so peak memory does not grow
    with the block size and results stay exact. The consistency projection needs the
    degradation of the whole HR result near each block: every block degrades its own part (with
    its spill of 6 LR rows each side), the parts are summed over their overlaps, and the LR
    misfit is filtered and back-projected with halos from :mod:`xr_s5sr.physics` — only LR data
    cross block borders, so the projection costs a few passes over the HR block. The graph
    pieces live in :mod:`xr_s5sr.tiling`.

Missing values
    Filled before any processing and masked after it by :mod:`xr_s5sr.missing`.

Models on workers
    Graph tasks carry a small frozen :class:`~xr_s5sr.spec.ModelSpec` (weights file and sha256,
    device, compute dtype). Each process loads the eval-mode, BatchNorm-folded module once
    through the one model cache of :mod:`xr_s5sr.weights`; the folded snapshot of an in-memory
    module travels inside its spec, which dask graphs hold as one key, so it is shipped once per
    worker, not per task.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Literal, cast

import numpy as np

from xr_s5sr import tiling
from xr_s5sr.bands import SCALE
from xr_s5sr.constrained import (
    NONNEGATIVE_ITERATIONS,
    lower_bound,
    nonnegative_consistency,
)
from xr_s5sr.errors import (
    ChannelMismatchError,
    DimensionError,
    OutOfDistributionWarning,
    S5SRArgumentError,
    WeightsError,
)
from xr_s5sr.fused import FusedS5DSCR
from xr_s5sr.missing import (
    MISSING_POLICIES,
    Missing,
    fill_block,
    footprint,
    mask_block,
    mask_missing,
    strict_radius,
)
from xr_s5sr.noise import ordered_sigma
from xr_s5sr.spec import (
    AUTO,
    FILL_REACH,
    ModelSpec,
    check_dtype,
    check_run_options,
    is_module,
    model_spec,
    resolve_device,
    resolve_runner,
)
from xr_s5sr.subspace import prior_and_statistics

if TYPE_CHECKING:
    from xr_s5sr.models import S5DSCR

#: Default size of one output block, bytes (sets the scanline chunking of the result).
DEFAULT_OUTPUT_BUDGET = 256 * 2**20
#: Default memory allowed for network activations of one block, bytes: with two dask workers,
#: each holding one default output block and its activations, a 450 × 497 band streams to zarr
#: in < 3 GiB RSS. A default block (17 LR scanlines + 2 × 4 halo) then runs as two tiles of the
#: fused path, which costs ~10 % more work in halo rows than one tile.
DEFAULT_ACTIVATION_BUDGET = 3 * 2**28
#: Median over pixels of the mean squared normalised network input above which the input is
#: reported as far outside the training data (training data: about 1).
OUT_OF_DISTRIBUTION_LEVEL = 25.0


#: Blocks being super-resolved in this process (shares torch threads among them).
_ACTIVE_BLOCKS = 0
_ACTIVE_BLOCKS_LOCK = threading.Lock()


# ---------------------------------------------------------------------------------- array engine
def super_resolve_array(
    x: Any,
    model: ModelSpec | S5DSCR | str,
    *,
    axes: Sequence[int] = (0, 1, 2),
    device: str | None = None,
    dtype: str | None = None,
    output_chunks: int | None = None,
    memory_budget: int = DEFAULT_OUTPUT_BUDGET,
    activation_budget: int = DEFAULT_ACTIVATION_BUDGET,
    torch_threads: int | None = None,
    halo: int | None = None,
    missing: Missing = "fill",
    sigma: Any = None,
    first_scanline: int = 0,
) -> Any:
    """Super-resolve a radiance cube ×4 along scanline and ground_pixel.

    Parameters
    ----------
    x : numpy.ndarray or dask.array.Array
        LR radiance, 3-D, any real dtype (computed in float32), radiance units.
    model : ModelSpec, xr_s5sr.models.S5DSCR or "bicubic"
        What to run; a module or "bicubic" is turned into a spec with :func:`model_spec`
        (build other methods, e.g. back-projection, with :func:`model_spec`).
    axes : sequence of int, default (0, 1, 2)
        Positions of the (scanline, ground_pixel, spectral_channel) axes in ``x``.
    device : str, optional
        Overrides the spec's device (see :func:`model_spec`).
    dtype : {"float32", "bfloat16", "float16"}, optional
        Overrides the spec's compute precision.
    output_chunks : int, optional
        dask only: HR scanlines per output chunk, a multiple of 4. Default: the input's
        (made regular, holding the halo) if blocks fit ``memory_budget``, else ones that do.
    memory_budget : int, default 256 MiB
        Bytes of one float32 output block, used when ``output_chunks`` is None.
    activation_budget : int, default 768 MiB
        Bytes of network activations of a block (estimated, strip temporaries of every torch
        thread included); a block that needs more is cut into tiles.
    torch_threads : int, optional
        ``torch.set_num_threads`` while a block runs (restored afterwards). Default: the calling
        thread's torch threads divided among the blocks running concurrently in the process
        (dask-distributed workers start with one thread).
    halo : int, optional
        LR scanlines shared between neighbouring blocks. Default: :attr:`ModelSpec.halo`, the
        smallest that makes the result exact; smaller values are for tests that must see seams.
    missing : {"fill", "strict"}, default "fill"
        Policy for non-finite input values (see the module docstring).
    sigma : numpy.ndarray or dask.array.Array, optional
        Noise σ of every input value (radiance units, same shape and axes as ``x``, e.g.
        :func:`xr_s5sr.noise.sigma_from_snr_db` of the file's ``radiance_noise``): the
        automatic settings use it instead of estimating the noise from the data.
    first_scanline : int, default 0
        Absolute scanline index of the first row: the settings windows are fixed in that index
        (:func:`xr_s5sr.adaptive.windows`), so a crop keeps the windows of the whole orbit.

    Returns
    -------
    numpy.ndarray or dask.array.Array
        float32, same axis order as ``x``, 4× larger along scanline and ground_pixel; dask in →
        dask out (lazy), with regular scanline chunks (:func:`xr_s5sr.tiling.scan_chunks`).

    Raises
    ------
    DimensionError
        If ``x`` is not 3-D, ``axes`` is not a permutation of (0, 1, 2), a spatial axis is empty,
        or ``output_chunks`` is not a positive multiple of 4.
    S5SRArgumentError
        If ``torch_threads`` is not an int >= 1, or ``output_chunks`` is given for numpy input
        (:func:`xr_s5sr.spec.check_run_options`).
    ChannelMismatchError
        If the channel count differs from the model's.

    Examples
    --------
    >>> from xr_s5sr.models import S5DSCR
    >>> net = S5DSCR(channels=4, layers=1, kernel_size=3, multiplier=1)
    >>> super_resolve_array(np.ones((6, 5, 4), np.float32), net, device="cpu").shape
    (24, 20, 4)
    """
    spec = _as_spec(model, device, dtype)
    order = _check_axes(x, axes)
    cube = x.transpose(order)
    _check_cube(cube.shape, spec)
    if halo is None:
        halo = spec.halo
    if halo < 0:
        raise S5SRArgumentError(f"halo must be a non-negative number of LR scanlines, got {halo}.")
    if missing not in MISSING_POLICIES:
        raise S5SRArgumentError(f"missing must be one of {MISSING_POLICIES}, got {missing!r}.")
    import dask

    lazy = dask.is_dask_collection(cube)
    check_run_options(torch_threads, output_chunks, lazy=lazy)
    options: dict[str, Any] = {
        "spec": spec,
        "activation_budget": activation_budget,
        "torch_threads": torch_threads,
    }
    noise = None if sigma is None else ordered_sigma(sigma, x.shape, order)
    if lazy:
        out = _super_resolve_dask(
            cube, halo, output_chunks, memory_budget, missing, options, noise, first_scanline
        )
    else:
        raw = np.asarray(cube, dtype=np.float32)
        n_scan, n_pixel, n_chan = raw.shape[-3:]
        out = np.empty((*raw.shape[:-3], SCALE * n_scan, SCALE * n_pixel, n_chan), np.float32)
        for element in np.ndindex(raw.shape[:-3]):
            element_sigma = None if noise is None else np.asarray(noise[element])
            out[element] = _super_resolve_numpy(
                raw[element], missing, options, element_sigma, first_scanline
            )
    return out.transpose(tuple(int(i) for i in np.argsort(order)))


def _super_resolve_numpy(
    raw: np.ndarray,
    missing: Missing,
    options: dict[str, Any],
    sigma: np.ndarray | None,
    first_scanline: int,
) -> np.ndarray:
    """One whole (scanline, ground_pixel, spectral_channel) cube in memory."""
    spec: ModelSpec = options["spec"]
    block = fill_block(raw)
    block, statistics, sigma = prior_and_statistics(block, raw, spec, sigma, first_scanline)
    settings = None
    if spec.reads_statistics:
        from xr_s5sr.adaptive import row_settings

        settings = row_settings(
            statistics,
            cast(int, spec.band),
            first=first_scanline,
            regularisation=None if spec.regularisation == AUTO else spec.fixed_regularisation,
            sigma=sigma,
            prepare=fill_block,
        )
    out = _process_block(block, 0, 0, settings=settings, **options)
    if spec.consistency:
        band = cast(int, spec.band)
        mu = spec.fixed_regularisation
        nothing = np.zeros_like(block)
        out = _consistent(
            out,
            lambda v: _project_whole(v, block, band, mu, settings),
            # M n = P(−n; y = 0) + n, the formula of the dask graph (same rounding).
            lambda n: _project_whole(-n, nothing, band, mu, settings) + n,
            spec,
            0.0 if block.min() >= 0 else footprint(lower_bound(block)),
        )
    return mask_missing(out, raw, 0, 0, spec, missing)


def _as_spec(model: ModelSpec | S5DSCR | str, device: str | None, dtype: str | None) -> ModelSpec:
    if isinstance(model, ModelSpec):
        changes: dict[str, Any] = {}
        if device is not None:
            changes["device"] = resolve_device(device)
        if dtype is not None:
            changes["dtype"] = check_dtype(dtype, changes.get("device", model.device))
        elif "device" in changes:
            check_dtype(model.dtype, changes["device"])
        return replace(model, **changes) if changes else model
    if isinstance(model, str) and model == "bicubic":
        return model_spec("bicubic", device=device, dtype=dtype or "float32")
    if is_module(model):
        return model_spec(weights=model, device=device, dtype=dtype or "float32")  # type: ignore[arg-type]
    raise WeightsError(
        f"model must be a ModelSpec, an xr_s5sr.models.S5DSCR module or 'bicubic', got "
        f"{model!r}. For shipped weights or back-projection build a spec with "
        "model_spec(name, band=<n>)."
    )


def _check_axes(x: Any, axes: Sequence[int]) -> tuple[int, ...]:
    """Transpose order putting the extra axes first (in their order), then the three roles."""
    if x.ndim < 3:
        raise DimensionError(
            f"Expected a (scanline, ground_pixel, spectral_channel) array, got shape "
            f"{tuple(x.shape)} ({x.ndim}-D). Add the missing dims (e.g. a single channel)."
        )
    roles = tuple(int(a) % x.ndim for a in axes if -x.ndim <= int(a) < x.ndim)
    if len(axes) != 3 or len(roles) != 3 or len(set(roles)) != 3:
        raise DimensionError(
            f"axes must give the positions of (scanline, ground_pixel, spectral_channel) as "
            f"three distinct axes of the {x.ndim}-D array, got {tuple(axes)}."
        )
    return tuple(a for a in range(x.ndim) if a not in roles) + roles


def _check_cube(shape: tuple[int, ...], spec: ModelSpec) -> None:
    n_scan, n_pixel, n_chan = shape[-3:]
    if n_scan < 1 or n_pixel < 1 or 0 in shape[:-3]:
        raise DimensionError(
            f"Super-resolution needs at least one scanline and one ground pixel in every "
            f"element, got shape {shape} (extra dims first, then scanline, ground_pixel, "
            "spectral_channel). Check the selection of the input."
        )
    if spec.channels is not None and n_chan != spec.channels:
        raise ChannelMismatchError(
            f"The model expects {spec.channels} spectral channels but the input has {n_chan}. "
            "Use the weights of the band the radiance comes from (band=<n>, or weights= for that "
            "band), and do not subset spectral_channel before super-resolving."
        )


def _super_resolve_dask(
    cube: Any,
    halo: int,
    output_chunks: int | None,
    memory_budget: int,
    missing: Missing,
    options: dict[str, Any],
    sigma: Any = None,
    first_scanline: int = 0,
) -> Any:
    """The graph: extra (leading) axes become block axes of one element each, so every task
    sees one (scanline block, ground_pixel, spectral_channel) cube and the graph of a stack of
    granules is the graphs of the granules side by side."""
    import dask

    spec: ModelSpec = options["spec"]
    lead = cube.ndim - 3
    n_pixel, n_chan = cube.shape[-2:]
    scan_chunks = tiling.scan_chunks(
        cube.chunks[-3],
        n_pixel * n_chan,
        max(halo, spec.min_block, FILL_REACH),
        output_chunks,
        memory_budget,
    )
    raw = cube.astype(np.float32).rechunk(
        {**dict.fromkeys(range(lead), 1), lead: scan_chunks, lead + 1: -1, lead + 2: -1}
    )
    lr = tiling.map_scan_overlap(fill_block, raw, FILL_REACH, "none")
    lr, statistics, sigma = prior_and_statistics(lr, raw, spec, sigma, first_scanline)
    if sigma is not None:
        sigma = tiling.like_chunks(sigma, raw)
    settings = tiling.settings_graph(statistics, spec, sigma, first_scanline, prepare=fill_block)
    blocks = [tiling.with_neighbours(lr, halo, "none")]
    if settings is not None:
        blocks.append(tiling.with_neighbours(settings, halo, "none"))
    if spec.module is not None:
        # One graph key holds the module: dask-distributed ships it once per worker instead of
        # inside every task (a 497-channel S5-DSCR is ~16 MB).
        options = {**options, "spec": dask.delayed(spec, pure=True)}
    estimate = tiling.map_cubes(
        _scan_block,
        *blocks,
        chunks=(tuple(SCALE * c for c in scan_chunks), (SCALE * n_pixel,), (n_chan,)),
        halo=halo,
        **options,
        token=f"s5sr-{spec.name}",
    )
    if spec.consistency:
        import dask.array as da

        band = cast(int, spec.band)
        mu = spec.fixed_regularisation
        nothing = da.zeros_like(lr)
        lower = tiling.map_cubes(
            footprint,
            tiling.map_scan_overlap(lower_bound, lr, 1, "nearest"),
            chunks=estimate.chunks[-3:],
        )
        estimate = _consistent(
            estimate,
            lambda v: tiling.project_dask(v, lr, band, mu, settings),
            # M n = P(−n; y = 0) + n: the same distributed projection, with zero data.
            lambda n: tiling.project_dask(-n, nothing, band, mu, settings) + n,
            spec,
            lower,
        )
    radius = strict_radius(spec) if missing == "strict" else 0
    context = tiling.with_neighbours(raw, radius, "none")
    out = tiling.map_cubes(
        mask_block,
        estimate,
        context,
        chunks=estimate.chunks[-3:],
        radius=radius if len(scan_chunks) > 1 else 0,
        spec=options["spec"],
        missing=missing,
    )
    wanted = tiling.output_scan_chunks(scan_chunks, output_chunks)  # splits blocks only
    return out.rechunk({lead: tuple(SCALE * c for c in wanted)}) if wanted != scan_chunks else out


def _consistent(
    estimate: Any,
    project: Callable[[Any], Any],
    correct: Callable[[Any], Any],
    spec: ModelSpec,
    lower: Any,
) -> Any:
    """The data-consistency step of the composition, numpy or dask alike: ``project`` alone, or
    (default) the consistent solution above ``lower`` (0 for non-negative data,
    :func:`xr_s5sr.constrained.lower_bound` on the HR grid otherwise) built from it and the
    correction ``correct = Aᵀ B⁻¹ A`` (:func:`xr_s5sr.constrained.nonnegative_consistency`)."""
    if not spec.nonnegative:
        return project(estimate)
    return nonnegative_consistency(estimate, project, correct, NONNEGATIVE_ITERATIONS, lower)


def _project_whole(
    estimate: np.ndarray,
    lr: np.ndarray,
    band: int,
    regularisation: float,
    settings: np.ndarray | None = None,
) -> np.ndarray:
    """Data-consistency projection of a whole HR array (numpy); NaN stay where they are.
    ``settings``: per-row blended μ (:func:`xr_s5sr.adaptive.gram_solve_rows`), else the
    fixed ``regularisation``."""
    from xr_s5sr.adaptive import gram_solve_rows
    from xr_s5sr.operators import degrade, degrade_adjoint
    from xr_s5sr.physics import gram_solve

    finite = np.isfinite(estimate).all()
    filled = estimate if finite else np.nan_to_num(estimate, nan=0.0, posinf=0.0, neginf=0.0)
    misfit = np.nan_to_num(lr, nan=0.0, posinf=0.0, neginf=0.0) - degrade(filled, band)
    if settings is None:
        solved = gram_solve(misfit, band, regularisation=regularisation)
    else:
        solved = gram_solve_rows(misfit, band, settings)
    correction = degrade_adjoint(solved, band, estimate.shape[:2])
    estimate += correction
    return estimate


def _scan_block(
    block: np.ndarray,
    settings: np.ndarray | None = None,
    *,
    halo: int,
    block_info: dict[Any, Any] | None = None,
    **options: Any,
) -> np.ndarray:
    """Block of an overlapped array (with the rows' settings, overlapped alike): the
    outermost blocks have no halo on their outer side."""
    before, after = tiling.block_halos(block_info, 0, halo)
    return _process_block(block, before, after, settings=settings, **options)


def _process_block(
    block: np.ndarray,
    before: int,
    after: int,
    *,
    spec: ModelSpec,
    activation_budget: int,
    torch_threads: int | None,
    settings: np.ndarray | None = None,
) -> np.ndarray:
    """Super-resolve the scanlines ``before:len-after`` of a finite LR block (scan, pixel,
    channel): bicubic, the physics inverse (damped by each row's μ) and the network tiles
    (detail gated with each row's noise variance); not the projection. ``settings``: the
    rows' blended settings (:func:`xr_s5sr.adaptive.blend_rows`), None for the spec's fixed μ
    and no noise."""
    block = np.asarray(block, dtype=np.float32)
    n_ext, n_pixel, n_chan = block.shape
    n_core = n_ext - before - after
    if spec.uses_physics_base:
        from xr_s5sr.physics import backprojection_coefficients

        band = cast(int, spec.band)
        regularisation: float | np.ndarray = spec.fixed_regularisation
        if settings is not None:
            from xr_s5sr.adaptive import row_regularisation

            regularisation = row_regularisation(settings).astype(np.float32)
        coefficients = backprojection_coefficients(
            block, band, iterations=spec.iterations, regularisation=regularisation
        )
        out = _upsample_rows(coefficients, before, before + n_core, "cubic")
    else:
        out = np.zeros((SCALE * n_core, SCALE * n_pixel, n_chan), np.float32)
    if spec.name != "backprojection":
        gate = None
        if spec.gates_detail:
            from xr_s5sr.adaptive import detail_gate, row_variance

            gate = detail_gate(block, 0.0 if settings is None else row_variance(settings))
        _run_tiles(block, before, n_core, out, spec, activation_budget, torch_threads, gate)
    return out


def _upsample_rows(
    lr: np.ndarray, start: int, stop: int, kind: Literal["cubic", "linear"]
) -> np.ndarray:
    """HR rows of LR rows ``start:stop`` of ``lr`` interpolated ×4 (:func:`physics.upsample`),
    using 2 LR rows of context each side where ``lr`` has them (clamped at its true edges)."""
    from xr_s5sr.operators import upsample
    from xr_s5sr.physics import UPSAMPLE_REACH

    low, high = max(0, start - UPSAMPLE_REACH), min(lr.shape[0], stop + UPSAMPLE_REACH)
    hr = upsample(np.ascontiguousarray(lr[low:high]), kind=kind)
    return np.ascontiguousarray(hr[SCALE * (start - low) : SCALE * (stop - low)])


def _run_tiles(
    block: np.ndarray,
    before: int,
    n_core: int,
    out: np.ndarray,
    spec: ModelSpec,
    activation_budget: int,
    torch_threads: int | None,
    gate: np.ndarray | None = None,
) -> None:
    """Add the network's (or bicubic's) output of the core rows to ``out``, tile by tile;
    ``gate`` (LR, like ``block``) weighs a local-scaling network's detail."""
    import torch

    runner = resolve_runner(spec)
    n_ext, n_pixel, n_chan = block.shape
    halo = spec.tile_halo
    local = spec.scaling == "local"
    # Strip temporaries of every worker thread come out of the budget before the tiles do.
    max_workers = torch_threads if torch_threads is not None else torch.get_num_threads()
    rows, cols = tiling.tile_shape(
        n_core,
        n_pixel,
        halo,
        tiling.activation_bytes_per_lr_pixel(spec, n_chan),
        activation_budget - max_workers * tiling.strip_bytes(spec, n_chan),
    )
    checked = False
    with _torch_threads(torch_threads) as apply_threads, torch.inference_mode(), _autocast(spec):
        for r0 in range(before, before + n_core, rows):
            r1 = min(r0 + rows, before + n_core)
            for c0 in range(0, n_pixel, cols):
                c1 = min(c0 + cols, n_pixel)
                apply_threads()
                # Each tile sees `halo` extra LR pixels where the block has them: exact.
                a, b = max(0, r0 - halo), min(n_ext, r1 + halo)
                c, d = max(0, c0 - halo), min(n_pixel, c1 + halo)
                target = out[SCALE * (r0 - before) : SCALE * (r1 - before), SCALE * c0 : SCALE * c1]
                tile = np.ascontiguousarray(block[a:b, c:d])
                scale = None
                if local:
                    scale = _local_scale(tile)
                    tile = tile / scale[..., None]
                    weight = scale if gate is None else scale * gate[a:b, c:d]
                if spec.is_network and not checked:
                    _check_distribution(tile, runner, spec)
                    checked = True
                hr = _run_tile(runner, tile, spec, (r0 - a, r1 - a), (c0 - c, c1 - c))
                if scale is not None:
                    from xr_s5sr.operators import upsample

                    hr_scale = upsample(weight, kind="linear")[
                        SCALE * (r0 - a) : SCALE * (r1 - a), SCALE * (c0 - c) : SCALE * (c1 - c)
                    ]
                    hr *= hr_scale[..., None]
                target += hr


def _run_tile(
    runner: Any, tile: np.ndarray, spec: ModelSpec, rows: tuple[int, int], cols: tuple[int, int]
) -> np.ndarray:
    """HR output of the core ``rows``/``cols`` (LR, within the tile) of one tile."""
    import torch

    core = (SCALE * cols[0], SCALE * cols[1])
    if isinstance(runner, FusedS5DSCR):
        # The block's torch threads become strip workers of one thread each.
        hr = runner.upscale(tile, rows, workers=torch.get_num_threads())
        return hr[:, core[0] : core[1]].numpy()
    # (1, C, h, w) view of the (h, w, C) tile: channels-last, no transposing copy.
    lr = torch.from_numpy(tile).permute(2, 0, 1)[None].to(spec.device)
    if spec.scaling == "local":
        # The tile was divided by its local scale already: R of the scale-free input.
        hr = runner.output_std[:, None, None] * runner.residual_normalised(runner.normalise(lr))
    else:
        hr = runner(lr)
    hr = hr[0].permute(1, 2, 0).float()
    hr = hr[SCALE * rows[0] : SCALE * rows[1], core[0] : core[1]]
    return hr.cpu().numpy()


def _local_scale(tile: np.ndarray) -> np.ndarray:
    """:func:`xr_s5sr.models.local_scale` of an (h, w, C) tile, as an (h, w) array."""
    import torch

    from xr_s5sr.models import local_scale

    return local_scale(torch.from_numpy(tile).permute(2, 0, 1)[None])[0, 0].numpy()


def _check_distribution(tile: np.ndarray, runner: Any, spec: ModelSpec) -> None:
    """Warn when the normalised network input is far from the training data (median level)."""
    mean = runner.input_mean.detach().cpu().numpy()
    std = runner.input_std.detach().cpu().numpy()
    level = float(np.median(np.mean(np.square((tile - mean) / std), axis=-1)))
    if level > OUT_OF_DISTRIBUTION_LEVEL:
        kind = (
            "spectral shape (radiance divided by its local level)"
            if spec.scaling == "local"
            else "brightness or spectral shape"
        )
        warnings.warn(
            f"The input's {kind} lies far outside the training data of the {spec.name!r} "
            f"weights: mean squared normalised input {level:.3g} (training data: about 1). "
            "The result may be unreliable: compare with model='backprojection' (training-free) "
            "or fine-tune the weights on your data.",
            OutOfDistributionWarning,
            stacklevel=2,
        )


def _autocast(spec: ModelSpec) -> Any:
    """``torch.autocast`` for reduced precision on the reference path (the fused path casts)."""
    if spec.dtype == "float32" or spec.uses_fused_path:
        return nullcontext()
    import torch

    return torch.autocast(device_type=spec.device.split(":")[0], dtype=getattr(torch, spec.dtype))


@contextmanager
def _torch_threads(threads: int | None) -> Iterator[Callable[[], None]]:
    """Torch intra-op threads of one block; yields a callable that (re)applies them per tile.

    ``threads`` if given; otherwise this thread's torch threads shared among the blocks running
    in this process at that moment (two dask threads on two cores: one torch thread each, as
    two OpenMP teams of two oversubscribe the cores; a single numpy call keeps them all).
    torch threads are per calling thread, so concurrent blocks do not disturb each other; the
    previous value is restored at the end.
    """
    import torch

    global _ACTIVE_BLOCKS
    previous = torch.get_num_threads()
    with _ACTIVE_BLOCKS_LOCK:
        _ACTIVE_BLOCKS += 1

    def apply() -> None:
        wanted = threads if threads is not None else max(1, previous // max(1, _ACTIVE_BLOCKS))
        if torch.get_num_threads() != wanted:
            torch.set_num_threads(wanted)

    try:
        apply()
        yield apply
    finally:
        with _ACTIVE_BLOCKS_LOCK:
            _ACTIVE_BLOCKS -= 1
        if torch.get_num_threads() != previous:
            torch.set_num_threads(previous)


__all__ = [
    "DEFAULT_ACTIVATION_BUDGET",
    "DEFAULT_OUTPUT_BUDGET",
    "super_resolve_array",
]
