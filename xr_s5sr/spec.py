"""What a super-resolution task runs: :class:`ModelSpec` and its resolution from user choices.

Boundary: turns ``model=``/``weights=``/``device=``/``dtype=``/``consistency=`` into a small,
picklable, tokenizable spec (validated eagerly, weights verified), and a spec into the callable a
block runs on a worker (through the one model cache of :mod:`xr_s5sr.cache`). No arrays, no
tiling: :mod:`xr_s5sr.engine` does that.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal, cast

from xr_s5sr.adaptive import settings_reach
from xr_s5sr.bands import SCALE
from xr_s5sr.errors import BandError, S5SRArgumentError, WeightsError
from xr_s5sr.fused import FusedS5DSCR
from xr_s5sr.options import (
    AUTO,
    COMPUTE_DTYPES,
    SuperResolveOptions,
    check_choice,
    check_flag,
    check_regularisation,
    check_torch_threads,
)

if TYPE_CHECKING:
    import os

    import torch

    from xr_s5sr.models import S5DSCR
    from xr_s5sr.weights import WeightsSpec

#: Receptive radius (LR pixels) of PyTorch bicubic ×4: taps at floor((i + 0.5)/4 − 0.5) − 1 … + 2.
BICUBIC_RADIUS = 2
#: Training-free methods accepted as ``model=``.
PHYSICS_METHODS = ("bicubic", "backprojection")
#: LR pixels a missing value's fill reaches (spatial fill passes of the engine's
#: ``_fill_missing``).
FILL_REACH = 4
#: A crop halo larger than any swath: keep every ground pixel (clipped to the granule).
WHOLE_SWATH = 2**31 - 1


@dataclass(frozen=True)
class ModelSpec:
    """Small, picklable description of what a graph task runs.

    Build it with :func:`model_spec`. The module itself is only carried for in-memory models
    (already eval-mode and BatchNorm-folded, on CPU); weights files are re-loaded per process.

    Attributes
    ----------
    name : str
        ``"bicubic"``, ``"backprojection"``, a preset name (``"s5dscr"``, ``"s5dscr_s"``) or
        ``"custom"``.
    key : str
        sha256 of the weights file, or of the in-memory module's state_dict; ``""`` without one.
    channels : int or None
        Spectral channels the model expects (None: any).
    receptive_radius : int
        LR pixels each side the network part of an HR pixel depends on.
    multiplier : int
        Depthwise channel multiplier (0 without a network); sizes the activation estimate.
    device : str
        torch device, e.g. ``"cpu"`` or ``"cuda:0"``.
    dtype : {"float32", "bfloat16", "float16"}
        Compute precision of the network.
    config : str
        JSON of the network's :class:`~xr_s5sr.models.ModelConfig` (``""`` without one).
    weights : xr_s5sr.weights.WeightsSpec or None
        Weights file to load on each process.
    module : xr_s5sr.models.S5DSCR or None
        Folded snapshot of an in-memory module (excluded from equality and tokens).
    hr_reach : int
        HR pixels each side the residual stack reaches, ``L·(k//2)`` (0 without a network).
    fused : bool
        Use the fused CPU path (:class:`~xr_s5sr.fused.FusedS5DSCR`) for networks on CPU; False
        runs the module's own ``forward`` (reference, used by tests and benchmarks).
    band : int or None
        S5P band (selects the degradation of the physics steps); None for bicubic alone.
    scaling : {"", "zscore", "local"}
        Network input scaling (``"local"``: scale-equivariant detail on the physics inverse).
    consistency : bool
        Project the result onto the HR images whose degradation is the input.
    iterations : int
        Back-projection iterations of the physics inverse.
    regularisation : float or "auto"
        Tikhonov weight μ of the projection and of the physics inverse's damping
        (dimensionless; 0: exact data consistency); ``"auto"``: chosen per window of
        scanlines from the data (:mod:`xr_s5sr.adaptive`).
    detail_gate : bool
        The network's :attr:`~xr_s5sr.models.ModelConfig.detail_gate` (False for
        self-supervised fine-tuned networks).
    nonnegative : bool
        With ``consistency``: solve for the non-negative consistent result
        (:func:`xr_s5sr.constrained.nonnegative_consistency`) instead of the projection alone.
    spectral_prior : bool
        Project the LR spectra onto each window's signal subspace before the physics steps
        (:mod:`xr_s5sr.subspace`); applies to the methods with a physics step
        (:attr:`uses_spectral_prior`), never to bicubic.
    sharp_prior : bool
        With the spectral prior: the automatic settings read the denoised cube and its noise
        instead of the original data (sharper; higher PSNR and larger spectral angle on dim
        scenes, :func:`xr_s5sr.subspace.prior_and_statistics`).
    spectral_composition : bool
        Networks with the consistency step: before it, every HR spectrum of the estimate takes
        the shape of the interpolated data's spectrum at that pixel, scaled to the estimate's
        intensity (:func:`xr_s5sr.spectral.compose_intensity`, :attr:`composes_spectra`).
    """

    name: str
    key: str
    channels: int | None
    receptive_radius: int
    multiplier: int
    device: str
    dtype: str
    config: str = ""
    weights: WeightsSpec | None = None
    module: S5DSCR | None = field(default=None, repr=False, compare=False)
    hr_reach: int = 0
    fused: bool = True
    band: int | None = None
    scaling: str = ""
    consistency: bool = False
    iterations: int = 8
    regularisation: float | str = 0.0
    detail_gate: bool = True
    nonnegative: bool = True
    spectral_prior: bool = True
    sharp_prior: bool = False
    spectral_composition: bool = False

    @property
    def is_network(self) -> bool:
        """True for S5-DSCR networks, False for the training-free methods."""
        return self.name not in PHYSICS_METHODS

    @property
    def uses_physics_base(self) -> bool:
        """True when the result starts from the physics inverse (back-projection)."""
        return self.name == "backprojection" or self.scaling == "local"

    @property
    def uses_regularisation(self) -> bool:
        """True when μ matters: a physics inverse to damp or a projection to regularise."""
        return self.consistency or self.uses_physics_base

    @property
    def gates_detail(self) -> bool:
        """True for networks adding detail to the physics inverse that keep the detail gate:
        the detail is weighed by the data's local detail (:func:`xr_s5sr.adaptive.detail_gate`)."""
        return self.scaling == "local" and self.is_network and self.detail_gate

    @property
    def reads_statistics(self) -> bool:
        """True when the method needs the data's statistics: the automatic μ, the
        noise variance of the detail gate (:mod:`xr_s5sr.adaptive`) or that of the spectral
        prior's windows (:mod:`xr_s5sr.subspace`); the caller then passes the file's σ and
        first scanline, and a crop keeps whole scanlines (:func:`crop_halo`)."""
        return (
            (self.regularisation == AUTO and self.uses_regularisation)
            or self.gates_detail
            or self.uses_spectral_prior
        )

    @property
    def uses_spectral_prior(self) -> bool:
        """True when the LR cube is replaced by its projection onto the granule's own spectral
        subspace before anything else (:func:`xr_s5sr.subspace.spectral_prior`): the flag is on
        and the method has a physics step (back-projection or the consistency projection) and
        a band; bicubic and networks run alone never are."""
        return self.spectral_prior and self.uses_regularisation and self.band is not None

    @property
    def composes_spectra(self) -> bool:
        """True when the network's estimate takes the spectral shape of the interpolated data
        before the consistency step (:func:`xr_s5sr.spectral.compose_intensity`): the flag is
        on, and the method is a network followed by the consistency step."""
        return self.spectral_composition and self.is_network and self.consistency

    @property
    def fixed_regularisation(self) -> float:
        """μ when it is a number (0 when automatic)."""
        return 0.0 if self.regularisation == AUTO else float(self.regularisation)

    @property
    def window_regularisation(self) -> float | None:
        """μ that every settings window uses: None when each window chooses it ("auto")."""
        return None if self.regularisation == AUTO else self.fixed_regularisation

    @property
    def uses_fused_path(self) -> bool:
        """True when blocks run through :class:`FusedS5DSCR` (a network, on CPU, ``fused``)."""
        return self.is_network and self.fused and self.device == "cpu"

    @property
    def tile_halo(self) -> int:
        """LR pixels around a network tile that make its core exact: ``(hr_reach + 5) // 4 + 1``.

        A tile clamps the bicubic taps at its edges, which spoils its first and last 6 HR rows
        (taps reach 2 LR pixels), and zero-pads every convolution, which spoils ``hr_reach``
        more rows inwards; the core is exact when ``4·halo > 5 + hr_reach``. The local scale
        adds its window radius. 4 LR pixels for S5-DSCR, 2 for S5-DSCR-S and bicubic.
        """
        from xr_s5sr.models import LOCAL_SCALE_RADIUS

        extra = LOCAL_SCALE_RADIUS if self.scaling == "local" else 0
        return (self.hr_reach + 5) // SCALE + 1 + extra

    @property
    def halo(self) -> int:
        """LR scanlines a block needs from its neighbours: the largest reach of its steps."""
        if not self.uses_physics_base:
            return self.tile_halo
        from xr_s5sr.physics import backprojection_halo

        return max(self.tile_halo, backprojection_halo(cast(int, self.band), self.iterations))

    def __dask_tokenize__(self) -> tuple[object, ...]:
        # The key identifies the weights; hashing the module itself would be slow or random.
        return (
            type(self).__name__,
            self.name,
            self.key,
            self.channels,
            self.receptive_radius,
            self.multiplier,
            self.device,
            self.dtype,
            self.config,
            self.hr_reach,
            self.fused,
            self.band,
            self.scaling,
            self.consistency,
            self.iterations,
            self.regularisation,
            self.nonnegative,
            self.spectral_prior,
            self.sharp_prior,
            self.spectral_composition,
        )


def model_spec(
    model: str = "s5dscr",
    *,
    band: int | None = None,
    weights: str | os.PathLike[str] | torch.nn.Module | None = None,
    device: str | None = None,
    dtype: str = "float32",
    consistency: bool | None = None,
    iterations: int = 8,
    regularisation: float | str = AUTO,
    nonnegative: bool = True,
    spectral_prior: bool = True,
    sharp_prior: bool = False,
    spectral_composition: bool = False,
) -> ModelSpec:
    """Resolve a method choice into a :class:`ModelSpec`, loading and validating it eagerly.

    Parameters
    ----------
    model : str, default "s5dscr"
        Preset of the shipped weights (``"s5dscr"``, ``"s5dscr_s"``), ``"backprojection"`` for
        the training-free physics inverse, or ``"bicubic"`` for PyTorch bicubic ×4 (no
        physics). Ignored when ``weights`` is a module.
    band : int, optional
        S5P band; required for weights files and for the physics steps.
    weights : path or xr_s5sr.models.S5DSCR, optional
        None: shipped weights of (band, model) via :func:`xr_s5sr.weights.resolve_weights`; a
        path: that weights file; a module: this in-memory model. A snapshot of the module is
        taken now (eval mode, BatchNorm folded); later changes to the module do not apply.
    device : str, optional
        ``"cpu"``, ``"cuda"``/``"cuda:<n>"``, or None for CUDA when available, else CPU.
    dtype : {"float32", "bfloat16", "float16"}, default "float32"
        Compute precision; float16 on CUDA only. Output is float32 in every case.
    consistency : bool, optional
        Project the result onto the data (:func:`xr_s5sr.physics.project`). Default: True for
        back-projection and for networks whose band is known (given, or recorded by a
        ``scaling="local"`` network), False for bicubic.
    iterations : int, default 8
        Back-projection iterations of the physics inverse.
    regularisation : float or "auto", default "auto"
        Tikhonov weight μ (dimensionless, so scale equivariance holds for any μ) of the
        consistency projection and of the damping of the physics inverse
        (:func:`xr_s5sr.physics.project`, :func:`xr_s5sr.physics.backproject`). 0 makes
        ``degrade(result) == input`` exactly and amplifies the noise where the blur nearly
        erases a pattern; μ > 0 keeps a misfit there. ``"auto"``: μ per window of scanlines
        from the data by the discrepancy principle (:mod:`xr_s5sr.adaptive`): no noise gives
        μ = 0, dim or featureless scenes a larger μ. Ignored by bicubic.
    nonnegative : bool, default True
        With the consistency projection: the non-negative radiance closest to consistency
        (:func:`xr_s5sr.constrained.nonnegative_consistency`); False: the projection alone (an
        exact inverse can then give negative radiance near dark absorption lines and edges).
    spectral_prior : bool, default True
        Methods with a physics step: first replace every LR spectrum by its projection onto
        the signal subspace of its window of scanlines, of a dimension chosen from the noise
        (:func:`xr_s5sr.subspace.spectral_prior`); the result is then consistent with those
        denoised data. Noise-free data are unchanged. False: the LR data as they are.
    sharp_prior : bool, default False
        With ``spectral_prior``: choose the automatic μ and the detail gate for the denoised
        data and their (lower) noise rather than for the data as given: sharper, +1.6 dB on
        the dim band-7 ``continuum`` scene of ``docs/physics.md`` but a spectral angle above
        bicubic's there; the default keeps the angle at or below bicubic's.
    spectral_composition : bool, default False
        Networks followed by the consistency step: before that step, the spectrum of every HR
        pixel of the estimate is replaced by the interpolated data's spectrum there, scaled to
        the estimate's intensity (a Brovey-type composition,
        :func:`xr_s5sr.spectral.compose_intensity`): the network sharpens the intensity, the
        consistency step restores what the data demand channel by channel. A lower spectral
        angle, at the cost of a larger misfit χ² on noisy scenes with edges
        (``docs/physics.md``). False: the network's spectra as they are.
        :func:`xr_s5sr.models.compose` computes it with ``composition=True``; fine-tuning
        trains without it.

    Returns
    -------
    ModelSpec

    Examples
    --------
    >>> model_spec("bicubic", device="cpu").receptive_radius
    2
    >>> model_spec("backprojection", band=3, device="cpu").consistency
    True
    """
    regularisation = check_regularisation(regularisation)
    check_flag("spectral_prior", spectral_prior)
    spec = _method_spec(model, band, weights, device, dtype, consistency, iterations)
    if not nonnegative:
        spec = replace(spec, nonnegative=False)
    if not spectral_prior or sharp_prior:
        spec = replace(spec, spectral_prior=spectral_prior, sharp_prior=sharp_prior)
    check_flag("spectral_composition", spectral_composition)
    if spectral_composition:
        spec = replace(spec, spectral_composition=True)
    if regularisation and spec.uses_regularisation:
        spec = replace(spec, regularisation=regularisation)
    return spec


def options_spec(options: SuperResolveOptions) -> ModelSpec:
    """The :class:`ModelSpec` of validated options (:func:`model_spec` of their method keywords).

    Examples
    --------
    >>> options = SuperResolveOptions(band=3, model="backprojection", device="cpu")
    >>> options_spec(options).name, options_spec(options).regularisation
    ('backprojection', 'auto')
    """
    return model_spec(
        options.model,
        band=options.band,
        weights=options.weights,
        device=options.device,
        dtype=options.dtype,
        consistency=options.consistency,
        regularisation=options.regularisation,
        nonnegative=options.nonnegative,
        spectral_prior=options.spectral_prior,
        sharp_prior=options.sharp_prior,
        spectral_composition=options.spectral_composition,
    )


def _method_spec(
    model: str,
    band: int | None,
    weights: str | os.PathLike[str] | torch.nn.Module | None,
    device: str | None,
    dtype: str,
    consistency: bool | None,
    iterations: int,
) -> ModelSpec:
    from xr_s5sr.models import S5DSCR, fold_batchnorm

    device = resolve_device(device)
    dtype = check_dtype(dtype, device)
    if iterations < 0:
        raise S5SRArgumentError(f"iterations must be a non-negative integer, got {iterations}.")
    if weights is None and model in PHYSICS_METHODS:
        use_projection = (model != "bicubic") if consistency is None else bool(consistency)
        if (model == "backprojection" or use_projection) and band is None:
            raise BandError(
                f"model={model!r} with the physics steps needs the S5P band: pass band=<2..8>."
            )
        return ModelSpec(
            model,
            "",
            None,
            BICUBIC_RADIUS,
            0,
            device,
            dtype,
            band=band,
            consistency=use_projection,
            iterations=iterations,
        )
    if is_module(weights):
        if not isinstance(weights, S5DSCR):
            raise WeightsError(
                f"weights= must be a path or an xr_s5sr.models.S5DSCR module, got a "
                f"{type(weights).__name__}. Build the network with xr_s5sr.models.S5DSCR or "
                "save it with xr_s5sr.weights.save_weights and pass the file path."
            )
        snapshot = fold_batchnorm(weights).cpu().requires_grad_(False)
        return _network_spec(
            snapshot,
            _preset_name(weights),
            _state_sha256(weights),
            device,
            dtype,
            band,
            consistency,
            iterations,
            module=snapshot,
        )
    if band is None:
        raise BandError("Loading weights needs the S5P band: pass band=<2..8>.")
    from xr_s5sr.weights import cached_model, resolve_weights

    resolved = resolve_weights(band, model, cast("str | os.PathLike[str] | None", weights))
    loaded = cached_model(resolved, device)
    return _network_spec(
        loaded,
        resolved.model,
        resolved.sha256,
        device,
        dtype,
        band,
        consistency,
        iterations,
        weights=resolved,
    )


def _network_spec(
    network: S5DSCR,
    name: str,
    key: str,
    device: str,
    dtype: str,
    band: int | None,
    consistency: bool | None,
    iterations: int,
    **source: Any,
) -> ModelSpec:
    config = network.config
    if config.scaling == "local":
        if band is not None and band != config.band:
            raise BandError(
                f"The network was trained for band {config.band} but band={band} was given: "
                f"pass band={config.band} or the weights of band {band}."
            )
        band = config.band
    # Default: project whenever the band is known (always for scaling="local" networks); an
    # in-memory z-score network without a band runs as it is.
    use_projection = (band is not None) if consistency is None else bool(consistency)
    if use_projection and band is None:
        raise BandError(
            "The data-consistency projection needs the S5P band: pass band=<2..8>, or "
            "consistency=False."
        )
    return ModelSpec(
        name=name,
        key=key,
        channels=network.channels,
        receptive_radius=network.receptive_radius,
        multiplier=config.multiplier,
        device=device,
        dtype=dtype,
        config=json.dumps(config.to_dict(), sort_keys=True),
        hr_reach=config.layers * (config.kernel_size // 2),
        band=band,
        scaling=config.scaling,
        consistency=use_projection,
        iterations=iterations,
        detail_gate=config.detail_gate,
        **source,
    )


def is_module(obj: object) -> bool:
    if obj is None or isinstance(obj, str) or hasattr(obj, "__fspath__"):
        return False
    from torch import nn

    return isinstance(obj, nn.Module)


def _preset_name(module: S5DSCR) -> str:
    """Preset whose (layers, kernel_size, multiplier) the module has, else ``"custom"``."""
    from xr_s5sr.models import PRESETS

    shape = {
        "layers": module.config.layers,
        "kernel_size": module.config.kernel_size,
        "multiplier": module.config.multiplier,
    }
    return next((name for name, preset in PRESETS.items() if preset == shape), "custom")


def _state_sha256(module: torch.nn.Module) -> str:
    """sha256 over the names, dtypes, shapes and bytes of a module's state_dict (sorted)."""
    import torch

    digest = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        flat = tensor.detach().cpu().contiguous().reshape(-1)
        digest.update(f"{name}|{flat.dtype}|{tuple(tensor.shape)}|".encode())
        digest.update(flat.view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def check_run_options(torch_threads: object, output_chunks: object, *, lazy: bool) -> None:
    """Refuse ``torch_threads`` and ``output_chunks`` values that would fail or be ignored.

    Parameters
    ----------
    torch_threads : object
        The user's ``torch_threads``: None or an int >= 1.
    output_chunks : object
        The user's ``output_chunks`` (HR scanlines per output chunk): None, or for dask input
        a multiple of 4, checked by :func:`xr_s5sr.tiling.scan_chunks`; any such value is
        honoured exactly (blocks hold whole output chunks and are split after the work).
    lazy : bool
        Whether the input is a dask array (only then has the output chunks).

    Raises
    ------
    S5SRArgumentError
        ``torch_threads`` not a whole number >= 1 (torch would fail inside a task), or
        ``output_chunks`` given for in-memory input (whose output is a numpy array).
    """
    check_torch_threads(torch_threads)
    if output_chunks is None:
        return
    if not lazy:
        raise S5SRArgumentError(
            f"output_chunks={output_chunks!r} sets the dask chunks of the output, but the input "
            "is in memory (numpy), so the output is a numpy array without chunks. Leave "
            "output_chunks out, or chunk the input along scanline first, e.g. "
            "ds.chunk({'scanline': 64})."
        )


def check_dtype(dtype: str, device: str) -> str:
    check_choice("dtype", dtype, COMPUTE_DTYPES)
    if dtype == "float16" and not device.startswith("cuda"):
        raise S5SRArgumentError(
            f"dtype='float16' needs a CUDA device, got device={device!r}. On CPU use "
            "dtype='bfloat16' (fast on CPUs with AVX512-BF16/AMX) or 'float32'."
        )
    return dtype


def resolve_device(device: str | None) -> str:
    import torch

    if device is None:
        return "cuda" if torch.cuda.is_available() else "cpu"
    kind = str(device).split(":")[0]
    if kind not in ("cpu", "cuda"):
        raise S5SRArgumentError(
            f"device must be 'cpu', 'cuda', 'cuda:<n>' or None, got {device!r}."
        )
    if kind == "cuda" and not torch.cuda.is_available():
        raise S5SRArgumentError(
            f"device={device!r} was requested but torch sees no CUDA device; pass device='cpu' "
            "or device=None (CUDA when available, else CPU)."
        )
    return str(device)


def resolve_model(spec: ModelSpec) -> Any:
    """The network a task runs: loaded once per process and device."""
    from xr_s5sr.cache import cached_model_object
    from xr_s5sr.weights import cached_model

    if spec.weights is not None:
        return cached_model(spec.weights, spec.device)
    module = spec.module
    if module is None:
        raise WeightsError(f"The network spec {spec.name!r} carries neither weights nor a module.")
    return cached_model_object(
        ("module", spec.key, spec.device),
        lambda: module if spec.device == "cpu" else _to_device(module, spec.device),
    )


def _to_device(module: S5DSCR, device: str) -> S5DSCR:
    import copy

    # A copy: moving the spec's own snapshot would change what later pickles of the spec carry.
    return copy.deepcopy(module).to(device)


def resolve_runner(spec: ModelSpec) -> Any:
    """What a block runs: bicubic, a :class:`FusedS5DSCR` on the fused path, or the module."""
    if not spec.is_network:
        from xr_s5sr.operators import bicubic_x4

        return bicubic_x4
    model = resolve_model(spec)
    if not spec.uses_fused_path:
        return model
    from xr_s5sr.cache import cached_model_object

    return cached_model_object(
        ("fused", spec.key, spec.device, spec.dtype),
        lambda: FusedS5DSCR(cast("S5DSCR", model), spec.dtype),
    )


def method_reach(spec: ModelSpec, axis: Literal[0, 1] = 0) -> int:
    """LR pixels each side along ``axis`` (0: scanline, 1: ground_pixel) that one output
    pixel of ``spec`` depends on: the network tile halo or the physics inverse's reach
    (:attr:`ModelSpec.halo` along scanline), plus the projection's reach with consistency.

    The one rule for how far a method looks: a crop of the input that keeps this many LR
    pixels around a region gives the whole-granule result inside the region
    (:meth:`xr_s5sr.accessor.S5SRAccessor.subset`), and ``missing="strict"`` masks this far
    around a missing value (:func:`xr_s5sr.missing.strict_radius`). The windows of the
    automatic settings are not included: :func:`crop_halo` adds them for crops.

    Examples
    --------
    >>> method_reach(model_spec("bicubic", device="cpu"))
    2
    """
    if not spec.uses_physics_base:
        reach = spec.tile_halo
    elif axis == 0:
        reach = spec.halo
    else:
        from xr_s5sr.physics import backprojection_reach

        physics = backprojection_reach(cast(int, spec.band), spec.iterations, which=axis)
        reach = max(spec.tile_halo, physics)
    if not spec.consistency:
        return reach
    from xr_s5sr.physics import projection_reach, window_reach

    # Along scanline the consistency step runs in windows (xr_s5sr.physics_graph); along
    # ground_pixel, never tiled, it reads the exact projection's reach.
    band = cast(int, spec.band)
    return reach + (window_reach(band) if axis == 0 else projection_reach(band, which=axis))


def crop_halo(spec: ModelSpec) -> tuple[int, int]:
    """LR pixels (scanline, ground_pixel) a crop must keep around a region so that its result
    inside the region equals the whole granule's: :func:`method_reach` plus the reach of the
    missing-value fill (a hole near the crop's edge is filled from fewer neighbours).

    A method that reads the data's statistics (automatic μ, detail gate) takes them per window
    of whole scanlines (:mod:`xr_s5sr.adaptive`): its crop keeps
    :func:`~xr_s5sr.adaptive.settings_reach` more scanlines and the whole swath across track
    (the ground-pixel halo is then larger than any granule, and the crop is clipped to it).
    The spectral prior's windows (:func:`xr_s5sr.subspace.prior_reach`) likewise.
    """
    scanline = method_reach(spec, 0) + FILL_REACH
    ground_pixel = method_reach(spec, 1) + FILL_REACH
    statistics = settings_reach(cast(int, spec.band)) if spec.reads_statistics else 0
    if spec.uses_spectral_prior:
        from xr_s5sr.subspace import prior_reach

        # The subspace windows are estimated on whole scanlines too (and before the rest).
        statistics = max(statistics, prior_reach() + FILL_REACH)
    if statistics:
        return scanline + statistics, WHOLE_SWATH
    return scanline, ground_pixel


__all__ = [
    "BICUBIC_RADIUS",
    "COMPUTE_DTYPES",
    "FILL_REACH",
    "PHYSICS_METHODS",
    "ModelSpec",
    "check_dtype",
    "crop_halo",
    "is_module",
    "method_reach",
    "model_spec",
    "options_spec",
    "resolve_device",
    "resolve_model",
    "resolve_runner",
]
