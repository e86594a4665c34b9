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
    A dask input is split into scanline blocks (ground_pixel and spectral_channel whole) whose
    size comes from ``memory_budget`` alone (a band-3 default block: 18 LR scanlines), not
    from the reach of the method. Two chunkings meet (:mod:`xr_s5sr.physics_graph`): the
    long-reach steps — the back-projection coefficients (an LR → LR solve reaching tens of
    scanlines) and the Gram solve of the consistency projection — run on LR arrays only, in LR
    chunks that group whole blocks and hold that reach; HR arrays stay in the small blocks and
    meet only short-reach steps (``U``, ``A`` with its spill, ``Aᵀ``, the network's own halo,
    the detail gate), each block's task reading the exact LR rows around it from the chunks
    they lie in (:func:`xr_s5sr.row_reads.rows_around`; no copy of them in the graph). The
    consistency step and its non-negative iteration run in their LR-dual form ``z = x + Aᵀ λ``
    (:func:`xr_s5sr.constrained.nonnegative_multipliers`): every iteration is one HR task per
    block and LR work, and back-projection rebuilds its estimate ``U c`` inside each task, so
    no HR array outlives its task; a network's estimate is stored. Results equal a single
    whole-array run (to float rounding). Inside a block, network tiles bounded by an
    activation budget are run one after the other, each with the network's own halo, so peak
    memory does not grow with the block size and results stay exact.

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

from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from xr_s5sr import physics_graph, row_reads, tiling
from xr_s5sr.adaptive import blend_windows, detail_gate, row_variance, window_values
from xr_s5sr.bands import SCALE
from xr_s5sr.constrained import lower_bound
from xr_s5sr.errors import (
    ChannelMismatchError,
    DimensionError,
    S5SRArgumentError,
    WeightsError,
)
from xr_s5sr.missing import (
    MISSING_POLICIES,
    Missing,
    fill_block,
    mask_missing,
    strict_radius,
)
from xr_s5sr.network_tiles import run_tiles
from xr_s5sr.noise import ordered_sigma
from xr_s5sr.physics import UPSAMPLE_REACH, window_reach
from xr_s5sr.spec import (
    FILL_REACH,
    ModelSpec,
    check_dtype,
    check_run_options,
    is_module,
    model_spec,
    resolve_device,
)
from xr_s5sr.spectral import compose_intensity, intensity_gain
from xr_s5sr.subspace import prior_and_statistics

if TYPE_CHECKING:
    from xr_s5sr.models import S5DSCR

#: Default size of one output block, bytes (sets the scanline chunking of the result and the
#: HR blocks of every method, the physics included).
DEFAULT_OUTPUT_BUDGET = 256 * 2**20
#: Default memory allowed for network activations of one block, bytes: with two dask workers,
#: each holding one default output block and its activations, a 450 × 497 band streams to zarr
#: in < 3 GiB RSS. A default block (17 LR scanlines + 2 × 4 halo) then runs as two tiles of the
#: fused path, which costs ~10 % more work in halo rows than one tile.
DEFAULT_ACTIVATION_BUDGET = 3 * 2**28


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
    return_settings: bool = False,
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
    return_settings : bool, default False
        Also return the automatic settings the result used (the plausibility report of
        :mod:`xr_s5sr.inference`).

    Returns
    -------
    numpy.ndarray or dask.array.Array
        float32, same axis order as ``x``, 4× larger along scanline and ground_pixel; dask in →
        dask out (lazy), with regular scanline chunks (:func:`xr_s5sr.tiling.scan_chunks`).
        With ``return_settings``: a pair ``(result, settings)``, ``settings`` the float64
        ``(extra dims…, window, 2)`` array of ``[μ, σ²]`` per settings window
        (:func:`xr_s5sr.adaptive.windows`) from the same tasks the result uses (lazy for
        dask), or None for methods without automatic settings.

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
        out, settings = _super_resolve_dask(
            cube, halo, output_chunks, memory_budget, missing, options, noise, first_scanline
        )
    else:
        raw = np.asarray(cube, dtype=np.float32)
        n_scan, n_pixel, n_chan = raw.shape[-3:]
        out = np.empty((*raw.shape[:-3], SCALE * n_scan, SCALE * n_pixel, n_chan), np.float32)
        found: dict[tuple[int, ...], Any] = {}
        for element in np.ndindex(raw.shape[:-3]):
            element_sigma = None if noise is None else np.asarray(noise[element])
            out[element], found[element] = _super_resolve_numpy(
                raw[element], missing, options, element_sigma, first_scanline
            )
        settings = None
        if spec.reads_statistics:
            settings = np.stack([found[e] for e in np.ndindex(raw.shape[:-3])])
            settings = settings.reshape((*raw.shape[:-3], *settings.shape[1:]))
    out = out.transpose(tuple(int(i) for i in np.argsort(order)))
    return (out, settings) if return_settings else out


def _super_resolve_numpy(
    raw: np.ndarray,
    missing: Missing,
    options: dict[str, Any],
    sigma: np.ndarray | None,
    first_scanline: int,
) -> tuple[np.ndarray, np.ndarray | None]:
    """One whole (scanline, ground_pixel, spectral_channel) cube in memory, and its windows'
    ``[μ, σ²]`` (None without automatic settings)."""
    spec: ModelSpec = options["spec"]
    block = fill_block(raw)
    block, statistics, sigma = prior_and_statistics(block, raw, spec, sigma, first_scanline)
    settings = values = None
    if spec.reads_statistics:
        values = window_values(
            statistics,
            cast(int, spec.band),
            first=first_scanline,
            regularisation=spec.window_regularisation,
            sigma=sigma,
            prepare=fill_block,
        )
        settings = blend_windows(values, raw.shape[0], first_scanline)
    out = _process_block(block, 0, 0, settings=settings, **options)
    if spec.consistency:
        out = physics_graph.consistent_numpy(
            out,
            block,
            settings,
            lower_bound(block) if spec.nonnegative else None,
            spec=spec,
        )
    return mask_missing(out, raw, 0, 0, spec, missing), values


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
) -> tuple[Any, Any]:
    """The graph: extra (leading) axes become block axes of one element each, so every task
    sees one (scanline block, ground_pixel, spectral_channel) cube and the graph of a stack of
    granules is the graphs of the granules side by side. LR arrays live in LR chunks holding
    the long halos; HR arrays in small blocks from ``memory_budget``
    (:mod:`xr_s5sr.physics_graph`). Returns the result and the windows' settings
    (:func:`xr_s5sr.tiling.settings_graph`, the tasks the result blends)."""
    import dask

    spec: ModelSpec = options["spec"]
    lead = cube.ndim - 3
    n_pixel, n_chan = cube.shape[-2:]
    reach = physics_graph.graph_reaches(spec, halo)
    blocks = tiling.scan_chunks(
        cube.chunks[-3], n_pixel * n_chan, reach["block"], output_chunks, memory_budget
    )
    lr_chunks = tiling.group_chunks(blocks, reach["long"])
    raw = cube.astype(np.float32).rechunk(
        {**dict.fromkeys(range(lead), 1), lead: lr_chunks, lead + 1: -1, lead + 2: -1}
    )
    # The filled LR granule: every step below reads `lr` (LR → LR steps go right here).
    lr = tiling.map_scan_overlap(fill_block, raw, FILL_REACH, "none")
    if sigma is not None:
        sigma = tiling.like_chunks(sigma, raw)
    lr, statistics, sigma = prior_and_statistics(lr, raw, spec, sigma, first_scanline)
    settings, per_window = tiling.settings_graph(
        statistics, spec, sigma, first_scanline, prepare=fill_block
    )
    hr_chunks = (tuple(SCALE * c for c in blocks), (SCALE * n_pixel,), (n_chan,))
    # Back-projection with consistency stores no HR estimate: every consistency window
    # rebuilds its rows U c from the LR coefficients (which then spill as far as it reads).
    # A network's output is stored.
    rebuild = spec.name == "backprojection" and spec.consistency
    pad = window_reach(cast(int, spec.band)) + UPSAMPLE_REACH if rebuild else UPSAMPLE_REACH
    coefficients = None
    if spec.uses_physics_base:
        coefficients = physics_graph.coefficients_graph(
            lr,
            settings,
            lr_chunks,
            spec=spec,
            depth=reach["coefficients"],
            pad=pad,
        )
    if spec.module is not None:
        # One graph key holds the module: dask-distributed ships it once per worker instead of
        # inside every task (a 497-channel S5-DSCR is ~16 MB).
        options = {**options, "spec": dask.delayed(spec, pure=True)}
    source = coefficients
    if not rebuild:
        plan = (blocks, lr_chunks, pad)
        source = _estimate_graph(
            lr, settings, coefficients, plan, reach, hr_chunks, options, spec.name
        )
    radius = strict_radius(spec) if missing == "strict" else 0
    if spec.consistency:
        # The windows mask missing values themselves: a separate masking task would wait for
        # its raw rows, which dask's order schedules late, holding every finished HR block.
        out = physics_graph.consistent_graph(
            source,
            lr,
            settings,
            spec=spec,
            blocks=blocks,
            rebuild=(lr_chunks, pad) if rebuild else None,
            mask=(raw, radius, options["spec"], missing),
        )
    else:
        out = row_reads.map_cubes(
            _mask_task,
            source,
            row_reads.rows_around(raw, blocks, radius),
            chunks=hr_chunks,
            blocks=blocks,
            radius=radius,
            spec=options["spec"],
            missing=missing,
        )
    # Splits blocks only: every HR chunk is one block's rows of one channel group, whatever
    # the method (zarr chunks of tens of MB, and no task holds a whole HR block's channels).
    wanted = tiling.output_scan_chunks(blocks, output_chunks)
    out = out.rechunk(
        {lead: tuple(SCALE * c for c in wanted), lead + 2: physics_graph.CHANNEL_CHUNK}
    )
    return out, per_window


def _estimate_graph(
    lr: Any,
    settings: Any,
    coefficients: Any,
    plan: tuple[tuple[int, ...], tuple[int, ...], int],
    reach: dict[str, int],
    chunks: tuple[tuple[int, ...], ...],
    options: dict[str, Any],
    name: str,
) -> Any:
    """The HR estimate (physics inverse and network detail, not the projection) on the HR
    blocks, from the LR rows around each (:func:`xr_s5sr.row_reads.rows_around`); ``plan``: the
    HR blocks, the LR chunks of the coefficients and their spilled rows; ``name``: the
    method's (names the tasks)."""
    blocks, lr_chunks, pad = plan
    arrays, layout = [], []
    if coefficients is not None:
        spilled = (lr_chunks, pad)
        arrays.append(row_reads.rows_around(coefficients, blocks, UPSAMPLE_REACH, spilled=spilled))
        layout.append("coefficients")
    if name != "backprojection":  # a network, or bicubic
        arrays.append(row_reads.rows_around(lr, blocks, reach["network"]))
        layout.append("lr")
        if settings is not None:
            arrays.append(row_reads.rows_around(settings, blocks, reach["network"]))
            layout.append("settings")
    return row_reads.map_cubes(
        _estimate_task,
        *arrays,
        chunks=chunks,
        layout=tuple(layout),
        blocks=blocks,
        depth=reach["network"],
        token=f"s5sr-{name}",
        **options,
    )


def _estimate_task(
    *arrays: np.ndarray,
    layout: tuple[str, ...],
    blocks: tuple[int, ...],
    depth: int,
    block_info: dict[Any, Any] | None = None,
    **options: Any,
) -> np.ndarray:
    """:func:`_process_block` of one HR block from its :func:`xr_s5sr.row_reads.rows_around`
    inputs (``layout`` names them)."""
    named = dict(zip(layout, arrays, strict=True))
    before, after = row_reads.rows_context(block_info, blocks, depth)
    coefficients = None
    if "coefficients" in named:
        c_before, c_after = row_reads.rows_context(block_info, blocks, UPSAMPLE_REACH)
        coefficients = (named["coefficients"], c_before, c_after)
    return _process_block(
        named.get("lr"),
        before,
        after,
        settings=named.get("settings"),
        coefficients=coefficients,
        **options,
    )


def _mask_task(
    out: np.ndarray,
    raw: np.ndarray,
    *,
    blocks: tuple[int, ...],
    radius: int,
    spec: ModelSpec,
    missing: Missing,
    block_info: dict[Any, Any] | None = None,
) -> np.ndarray:
    """:func:`xr_s5sr.missing.mask_missing` of one HR block (``raw``: its raw LR rows and up
    to ``radius`` rows each side); the block itself when those rows miss nothing."""
    if np.isfinite(raw).all():
        return out
    before, after = row_reads.rows_context(block_info, blocks, radius)
    copy = np.array(out, dtype=np.float32, copy=True)
    return mask_missing(copy, raw, before, after, spec, missing)


def _process_block(
    block: np.ndarray | None,
    before: int,
    after: int,
    *,
    spec: ModelSpec,
    activation_budget: int,
    torch_threads: int | None,
    settings: np.ndarray | None = None,
    coefficients: tuple[np.ndarray, int, int] | None = None,
) -> np.ndarray:
    """Super-resolve the scanlines ``before:len-after`` of a finite LR block (scan, pixel,
    channel): bicubic, the physics inverse (damped by each row's μ) and the network tiles
    (detail gated with each row's noise variance); not the projection. ``settings``: the
    rows' blended settings (:func:`xr_s5sr.adaptive.blend_rows`), None for the spec's fixed μ
    and no noise. ``coefficients``: the back-projection coefficients of the core rows and
    (before, after) rows of context, when computed elsewhere (the dask graph); else computed
    here from ``block`` (None only then for back-projection)."""
    block = None if block is None else np.asarray(block, dtype=np.float32)
    if spec.uses_physics_base:
        if coefficients is None:
            solved = physics_graph.coefficient_block(
                cast(np.ndarray, block),
                settings,
                0,
                0,
                band=cast(int, spec.band),
                iterations=spec.iterations,
                regularisation=spec.fixed_regularisation,
            )
            coefficients = (solved, before, after)
        lr, start, end = coefficients
        n_core = lr.shape[0] - start - end
        out = np.empty((SCALE * n_core, SCALE * lr.shape[1], lr.shape[2]), np.float32)
        for group in physics_graph.channel_groups(lr.shape[2]):
            out[..., group] = physics_graph.upsample_rows(lr[..., group], start, start + n_core)
    else:
        block = cast(np.ndarray, block)
        n_core = block.shape[0] - before - after
        out = np.zeros((SCALE * n_core, SCALE * block.shape[1], block.shape[2]), np.float32)
    if spec.name != "backprojection":
        block = cast(np.ndarray, block)
        gate = None
        if spec.gates_detail:
            gate = detail_gate(block, 0.0 if settings is None else row_variance(settings))
        run_tiles(block, before, n_core, out, spec, activation_budget, torch_threads, gate)
    if spec.composes_spectra:
        _compose_spectra(out, cast(np.ndarray, block), before, n_core)
    return out


def _compose_spectra(out: np.ndarray, block: np.ndarray, before: int, n_core: int) -> None:
    """:func:`xr_s5sr.spectral.compose_intensity` of the estimate ``out`` (HR rows of the
    block's core) in place, with the cubic interpolation ``U`` of the (prior-denoised) LR block
    as the reference. ``U`` acts on each channel alike, so the reference intensity is ``U`` of
    the LR intensity; the reference itself is interpolated one channel group at a time."""
    intensity = block.sum(axis=-1, keepdims=True, dtype=np.float64).astype(np.float32)
    reference_intensity = physics_graph.upsample_rows(intensity, before, before + n_core)
    gain = intensity_gain(out, reference_intensity)
    for group in physics_graph.channel_groups(block.shape[2]):
        reference = physics_graph.upsample_rows(block[..., group], before, before + n_core)
        out[..., group] = compose_intensity(out[..., group], reference, gain)


__all__ = [
    "DEFAULT_ACTIVATION_BUDGET",
    "DEFAULT_OUTPUT_BUDGET",
    "super_resolve_array",
]
