"""Seam-free ×4 super-resolution of radiance cubes, tiled over scanline blocks (numpy and dask).

Layering: everything above :func:`super_resolve_dataset` works on plain arrays with axes
(scanline, ground_pixel, spectral_channel) (any order via ``axes=``); the two ``*_dataset``
functions wrap that engine for :class:`xarray.Dataset` and build the HR coordinates. The accessor
calls the ``*_dataset`` functions; this module never imports the accessor. torch is imported inside
functions only.

Geometry
    HR pixel ``i`` sits at LR fractional index ``(i − 2)/4`` along scanline and ground_pixel (the
    degradation puts LR pixel ``j`` at HR pixel ``4j + 2``, SPEC §2–3); :func:`hr_positions`.

Tiling
    The numpy/dask branch happens once, in :func:`super_resolve_array`. A dask input is split into
    scanline blocks (ground_pixel and spectral_channel whole), each extended by ``halo`` LR
    scanlines from its neighbours with ``dask.array.overlap.overlap(boundary="none")``; every block
    is super-resolved and the halo (×4) is cropped on its interior sides only. ``halo`` defaults to
    the model's receptive radius, which makes the result identical to a single whole-array run. A
    numpy input is processed as one block. Inside a block, tiles bounded by an activation budget
    (full-width scanline strips, or square tiles when strips would be mostly halo) are run one
    after the other, each with its own receptive-radius halo, so peak memory does not grow with
    the block size and results stay exact.

Missing values
    Non-finite input values (NaN, ±inf) are replaced, for the network only, by the per-channel
    normalisation mean of the model (0 for bicubic), so they cannot produce extreme activations.
    Afterwards an HR pixel ``(i, j)`` is set to NaN when an input pixel ``(p, q)`` with
    ``|p − ⌊i/4⌋| ≤ r`` and ``|q − ⌊j/4⌋| ≤ r`` is non-finite, ``r`` being the receptive radius in
    LR pixels: in every channel for the networks (their 1×1 convolutions mix channels), in the same
    channel only for bicubic. That region contains everything the missing value can influence, so
    every other HR pixel equals the result of a run without the missing value. Negative radiance
    (noise in dark scenes) is not clipped: nothing in the networks requires non-negative input,
    the z-score normalisation accepts any value.

Models on workers
    Graph tasks carry a small frozen :class:`ModelSpec` (weights file and sha256, device, compute
    dtype). Each process loads the eval-mode, BatchNorm-folded module once, through
    :func:`xr_s5sr.weights.cached_model` for weights files and through a lock-guarded cache of this
    module for in-memory modules. The folded snapshot of an in-memory module travels inside its
    spec, which dask graphs hold as one key, so it is shipped once per worker, not per task.
"""

from __future__ import annotations

import hashlib
import json
import math
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal, cast

import numpy as np

from xr_s5sr.bands import SCALE
from xr_s5sr.errors import BandError, ChannelMismatchError, DimensionError, WeightsError

if TYPE_CHECKING:
    import os

    import torch
    import xarray as xr

    from xr_s5sr.models import S5DSCR
    from xr_s5sr.weights import WeightsSpec

#: Default size of one output block, bytes (sets the scanline chunking of the result).
DEFAULT_OUTPUT_BUDGET = 256 * 2**20
#: Default memory allowed for network activations of one tile, bytes.
DEFAULT_ACTIVATION_BUDGET = 2**30
#: Receptive radius (LR pixels) of PyTorch bicubic ×4: taps at floor((i + 0.5)/4 − 0.5) − 1 … + 2.
BICUBIC_RADIUS = 2
#: Compute precisions accepted by ``dtype=``; the output is float32 in every case.
COMPUTE_DTYPES = ("float32", "bfloat16")

_MODULE_CACHE_SIZE = 4
_MODULE_CACHE: OrderedDict[tuple[str, str], Any] = OrderedDict()
_MODULE_CACHE_LOCK = threading.Lock()


def hr_positions(n_lr: int) -> np.ndarray:
    """LR fractional index of each HR pixel along one axis: ``(i − 2)/4`` for ``i < 4·n_lr``.

    Parameters
    ----------
    n_lr : int
        Number of LR pixels along the axis.

    Returns
    -------
    numpy.ndarray
        float64 array of length ``4·n_lr``.

    Examples
    --------
    >>> hr_positions(2).tolist()
    [-0.5, -0.25, 0.0, 0.25, 0.5, 0.75, 1.0, 1.25]
    """
    return (np.arange(SCALE * n_lr) - SCALE // 2) / SCALE


# ---------------------------------------------------------------------------------- model spec
@dataclass(frozen=True)
class ModelSpec:
    """Small, picklable description of the model a graph task runs.

    Build it with :func:`model_spec`. The module itself is only carried for in-memory models
    (already eval-mode and BatchNorm-folded, on CPU); weights files are re-loaded per process.

    Attributes
    ----------
    name : str
        ``"bicubic"``, a preset name (``"s5dscr"``, ``"s5dscr_s"``) or ``"custom"``.
    key : str
        sha256 of the weights file, or of the in-memory module's state_dict; ``""`` for bicubic.
    channels : int or None
        Spectral channels the model expects (None: any, bicubic).
    receptive_radius : int
        LR pixels each side an HR pixel depends on; the default tiling halo.
    multiplier : int
        Depthwise channel multiplier (0 for bicubic); sizes the activation estimate.
    device : str
        torch device, e.g. ``"cpu"`` or ``"cuda:0"``.
    dtype : {"float32", "bfloat16"}
        Compute precision.
    config : str
        JSON of the network's :class:`~xr_s5sr.models.ModelConfig` (``""`` for bicubic).
    weights : xr_s5sr.weights.WeightsSpec or None
        Weights file to load on each process.
    module : xr_s5sr.models.S5DSCR or None
        Folded snapshot of an in-memory module (excluded from equality and tokens).
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

    @property
    def is_network(self) -> bool:
        """True for S5-DSCR networks, False for the bicubic pseudo-model."""
        return self.name != "bicubic"

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
        )


def model_spec(
    model: str = "s5dscr",
    *,
    band: int | None = None,
    weights: str | os.PathLike[str] | torch.nn.Module | None = None,
    device: str | None = None,
    dtype: str = "float32",
) -> ModelSpec:
    """Resolve a model choice into a :class:`ModelSpec`, loading and validating it eagerly.

    Parameters
    ----------
    model : str, default "s5dscr"
        Preset of the shipped weights (``"s5dscr"``, ``"s5dscr_s"``), or ``"bicubic"`` for the
        PyTorch bicubic ×4 baseline (no network). Ignored when ``weights`` is a module.
    band : int, optional
        S5P band; required to find weights files (shipped or given as a path).
    weights : path or xr_s5sr.models.S5DSCR, optional
        None: shipped weights of (band, model) via :func:`xr_s5sr.weights.resolve_weights`; a
        path: that weights file; a module: this in-memory model. A snapshot of the module is
        taken now (eval mode, BatchNorm folded); later changes to the module do not apply.
    device : str, optional
        ``"cpu"``, ``"cuda"``/``"cuda:<n>"``, or None for CUDA when available, else CPU.
    dtype : {"float32", "bfloat16"}, default "float32"
        Compute precision (bfloat16 runs under ``torch.autocast``).

    Returns
    -------
    ModelSpec

    Examples
    --------
    >>> model_spec("bicubic", device="cpu").receptive_radius
    2
    """
    from xr_s5sr.models import S5DSCR, fold_batchnorm

    device = _resolve_device(device)
    dtype = _check_dtype(dtype)
    if weights is None and model == "bicubic":
        return ModelSpec("bicubic", "", None, BICUBIC_RADIUS, 0, device, dtype)
    if _is_module(weights):
        if not isinstance(weights, S5DSCR):
            raise WeightsError(
                f"weights= must be a path or an xr_s5sr.models.S5DSCR module, got a "
                f"{type(weights).__name__}. Build the network with xr_s5sr.models.S5DSCR or "
                "save it with xr_s5sr.weights.save_weights and pass the file path."
            )
        snapshot = fold_batchnorm(weights).cpu().requires_grad_(False)
        return _network_spec(
            snapshot, _preset_name(weights), _state_sha256(weights), device, dtype, module=snapshot
        )
    if band is None:
        raise BandError("Loading weights needs the S5P band: pass band=<2..8>.")
    from xr_s5sr.weights import cached_model, resolve_weights

    resolved = resolve_weights(band, model, cast("str | os.PathLike[str] | None", weights))
    loaded = cached_model(resolved, device)
    return _network_spec(loaded, resolved.model, resolved.sha256, device, dtype, weights=resolved)


def _network_spec(
    network: S5DSCR, name: str, key: str, device: str, dtype: str, **source: Any
) -> ModelSpec:
    return ModelSpec(
        name=name,
        key=key,
        channels=network.channels,
        receptive_radius=network.receptive_radius,
        multiplier=network.config.multiplier,
        device=device,
        dtype=dtype,
        config=json.dumps(network.config.to_dict(), sort_keys=True),
        **source,
    )


def _is_module(obj: object) -> bool:
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


def _check_dtype(dtype: str) -> str:
    if dtype not in COMPUTE_DTYPES:
        raise ValueError(f"dtype must be one of {COMPUTE_DTYPES}, got {dtype!r}.")
    return dtype


def _resolve_device(device: str | None) -> str:
    import torch

    if device is None:
        return "cuda" if torch.cuda.is_available() else "cpu"
    kind = str(device).split(":")[0]
    if kind not in ("cpu", "cuda"):
        raise ValueError(f"device must be 'cpu', 'cuda', 'cuda:<n>' or None, got {device!r}.")
    if kind == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"device={device!r} was requested but torch sees no CUDA device; pass device='cpu' "
            "or device=None (CUDA when available, else CPU)."
        )
    return str(device)


def _resolve_model(spec: ModelSpec) -> Callable[[torch.Tensor], torch.Tensor]:
    """The callable a task runs: loaded once per process and device."""
    if not spec.is_network:
        from xr_s5sr.models import bicubic_x4

        return bicubic_x4
    if spec.weights is not None:
        from xr_s5sr.weights import cached_model

        return cached_model(spec.weights, spec.device)
    cache_key = (spec.key, spec.device)
    with _MODULE_CACHE_LOCK:
        module = _MODULE_CACHE.get(cache_key)
        if module is None:
            assert spec.module is not None, "a network ModelSpec carries weights or a module"
            module = spec.module if spec.device == "cpu" else _to_device(spec.module, spec.device)
            _MODULE_CACHE[cache_key] = module
            while len(_MODULE_CACHE) > _MODULE_CACHE_SIZE:
                _MODULE_CACHE.popitem(last=False)
        else:
            _MODULE_CACHE.move_to_end(cache_key)
    return module


def _to_device(module: S5DSCR, device: str) -> S5DSCR:
    import copy

    # A copy: moving the spec's own snapshot would change what later pickles of the spec carry.
    return copy.deepcopy(module).to(device)


def clear_model_cache() -> None:
    """Forget the in-memory modules cached by this process (weights files: see xr_s5sr.weights)."""
    with _MODULE_CACHE_LOCK:
        _MODULE_CACHE.clear()


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
) -> Any:
    """Super-resolve a radiance cube ×4 along scanline and ground_pixel.

    Parameters
    ----------
    x : numpy.ndarray or dask.array.Array
        LR radiance, 3-D, any real dtype (computed in float32), radiance units.
    model : ModelSpec, xr_s5sr.models.S5DSCR or "bicubic"
        What to run; a module or "bicubic" is turned into a spec with :func:`model_spec`.
    axes : sequence of int, default (0, 1, 2)
        Positions of the (scanline, ground_pixel, spectral_channel) axes in ``x``.
    device : str, optional
        Overrides the spec's device (see :func:`model_spec`).
    dtype : {"float32", "bfloat16"}, optional
        Overrides the spec's compute precision.
    output_chunks : int, optional
        dask only: HR scanlines per output chunk, a multiple of 4. Default: keep the input's
        scanline chunks when each output block fits ``memory_budget``, else chunks that do.
    memory_budget : int, default 256 MiB
        Bytes of one float32 output block, used when ``output_chunks`` is None.
    activation_budget : int, default 1 GiB
        Bytes of network activations per tile (estimated); larger blocks are tiled.
    torch_threads : int, optional
        ``torch.set_num_threads`` while a block runs (restored afterwards); dask-distributed
        workers default to one thread.
    halo : int, optional
        LR scanlines shared between neighbouring blocks. Default: the receptive radius, which
        makes the result exact; smaller values are for tests that must see seams.

    Returns
    -------
    numpy.ndarray or dask.array.Array
        float32, same axis order as ``x``, 4× larger along scanline and ground_pixel; dask in →
        dask out (lazy, output scanline chunks 4× the input's after rechunking).

    Raises
    ------
    DimensionError
        If ``x`` is not 3-D, ``axes`` is not a permutation of (0, 1, 2), a spatial axis is empty,
        or ``output_chunks`` is not a positive multiple of 4.
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
        halo = spec.receptive_radius
    if halo < 0:
        raise ValueError(f"halo must be a non-negative number of LR scanlines, got {halo}.")
    options: dict[str, Any] = {
        "spec": spec,
        "activation_budget": activation_budget,
        "torch_threads": torch_threads,
    }
    import dask

    if dask.is_dask_collection(cube):
        out = _super_resolve_dask(cube, halo, output_chunks, memory_budget, options)
    else:
        out = _process_block(np.asarray(cube), 0, 0, **options)
    return out.transpose(tuple(int(i) for i in np.argsort(order)))


def _as_spec(model: ModelSpec | S5DSCR | str, device: str | None, dtype: str | None) -> ModelSpec:
    if isinstance(model, ModelSpec):
        changes: dict[str, Any] = {}
        if device is not None:
            changes["device"] = _resolve_device(device)
        if dtype is not None:
            changes["dtype"] = _check_dtype(dtype)
        return replace(model, **changes) if changes else model
    if isinstance(model, str) and model == "bicubic":
        return model_spec("bicubic", device=device, dtype=dtype or "float32")
    if _is_module(model):
        return model_spec(weights=model, device=device, dtype=dtype or "float32")  # type: ignore[arg-type]
    raise WeightsError(
        f"model must be a ModelSpec, an xr_s5sr.models.S5DSCR module or 'bicubic', got "
        f"{model!r}. For shipped weights build a spec with model_spec(name, band=<n>)."
    )


def _check_axes(x: Any, axes: Sequence[int]) -> tuple[int, int, int]:
    if x.ndim != 3:
        raise DimensionError(
            f"Expected a 3-D (scanline, ground_pixel, spectral_channel) array, got shape "
            f"{tuple(x.shape)}. Select or squeeze other dims (e.g. time) first."
        )
    order = tuple(int(a) % 3 for a in axes)
    if len(order) != 3 or sorted(order) != [0, 1, 2]:
        raise DimensionError(
            f"axes must give the positions of (scanline, ground_pixel, spectral_channel) as a "
            f"permutation of (0, 1, 2), got {tuple(axes)}."
        )
    return order  # type: ignore[return-value]


def _check_cube(shape: tuple[int, ...], spec: ModelSpec) -> None:
    n_scan, n_pixel, n_chan = shape
    if n_scan < 1 or n_pixel < 1:
        raise DimensionError(
            f"Super-resolution needs at least one scanline and one ground pixel, got "
            f"{n_scan} scanline(s) × {n_pixel} ground pixel(s). Check the selection of the input."
        )
    if spec.channels is not None and n_chan != spec.channels:
        raise ChannelMismatchError(
            f"The model expects {spec.channels} spectral channels but the input has {n_chan}. "
            "Use the weights of the band the radiance comes from (band=<n>, or weights= for that "
            "band), and do not subset spectral_channel before super-resolving."
        )


def _super_resolve_dask(
    cube: Any, halo: int, output_chunks: int | None, memory_budget: int, options: dict[str, Any]
) -> Any:
    import dask
    import dask.array as da

    _, n_pixel, n_chan = cube.shape
    scan_chunks = _scan_chunks(cube.chunks[0], n_pixel * n_chan, halo, output_chunks, memory_budget)
    cube = cube.rechunk({0: scan_chunks, 1: -1, 2: -1})
    if halo and len(scan_chunks) > 1:
        cube = da.overlap.overlap(
            cube, depth={0: halo, 1: 0, 2: 0}, boundary="none", allow_rechunk=False
        )
    spec: ModelSpec = options["spec"]
    if spec.module is not None:
        # One graph key holds the module: dask-distributed ships it once per worker instead of
        # inside every task (a 497-channel S5-DSCR is ~16 MB).
        options = {**options, "spec": dask.delayed(spec, pure=True)}
    return da.map_blocks(
        _scan_block,
        cube,
        halo=halo,
        **options,
        chunks=(tuple(SCALE * c for c in scan_chunks), (SCALE * n_pixel,), (n_chan,)),
        dtype=np.float32,
        meta=np.empty((0, 0, 0), np.float32),
        token=f"s5sr-{spec.name}",
    )


def _scan_chunks(
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
        chunks = _regular_chunks(n_scan, output_chunks // SCALE)
    else:
        hr_row_bytes = SCALE * SCALE * row_elements * np.dtype(np.float32).itemsize
        max_rows = max(1, memory_budget // hr_row_bytes)
        chunks = current if max(current) <= max_rows else _budget_chunks(n_scan, max_rows, halo)
    merged: list[int] = []
    for size in chunks:
        # overlap(allow_rechunk=False) needs every chunk to hold the halo: merge short ones.
        if merged and (size < halo or merged[-1] < halo):
            merged[-1] += size
        else:
            merged.append(size)
    return tuple(merged)


def _regular_chunks(total: int, size: int) -> tuple[int, ...]:
    return (size,) * (total // size) + ((total % size,) if total % size else ())


def _budget_chunks(total: int, size: int, halo: int) -> tuple[int, ...]:
    """Regular chunks of at most ``size`` whose last chunk also holds the halo if possible.

    Zarr stores need equal chunks but a smaller last one; merging a too-short last chunk into
    its neighbour would break that, so a slightly smaller regular size is preferred.
    """
    for candidate in range(size, halo - 1, -1):
        if total % candidate == 0 or total % candidate >= halo:
            return _regular_chunks(total, candidate)
    return _regular_chunks(total, size)


def _scan_block(
    block: np.ndarray, *, halo: int, block_info: dict[Any, Any] | None = None, **options: Any
) -> np.ndarray:
    """Block of an overlapped array: the outermost blocks have no halo on their outer side."""
    assert block_info is not None
    index = block_info[0]["chunk-location"][0]
    count = block_info[0]["num-chunks"][0]
    before = halo if index > 0 else 0
    after = halo if index < count - 1 else 0
    return _process_block(block, before, after, **options)


def _process_block(
    block: np.ndarray,
    before: int,
    after: int,
    *,
    spec: ModelSpec,
    activation_budget: int,
    torch_threads: int | None,
) -> np.ndarray:
    """Super-resolve the scanlines ``before:len-after`` of an LR block (scan, pixel, channel)."""
    import torch

    net = _resolve_model(spec)
    block = np.asarray(block, dtype=np.float32)
    n_ext, n_pixel, n_chan = block.shape
    n_core = n_ext - before - after
    missing = ~np.isfinite(block)
    any_missing = bool(missing.any())
    if any_missing:
        block = np.where(missing, _fill_values(net), block)
    out = np.empty((SCALE * n_core, SCALE * n_pixel, n_chan), np.float32)
    radius = spec.receptive_radius
    rows, cols = _tile_shape(
        n_core, n_pixel, radius, _bytes_per_lr_pixel(spec, n_chan), activation_budget
    )
    device_type = spec.device.split(":")[0]
    precision = (
        torch.autocast(device_type=device_type, dtype=torch.bfloat16)
        if spec.dtype == "bfloat16"
        else nullcontext()
    )
    with _torch_threads(torch_threads), torch.inference_mode(), precision:
        for r0 in range(before, before + n_core, rows):
            r1 = min(r0 + rows, before + n_core)
            for c0 in range(0, n_pixel, cols):
                c1 = min(c0 + cols, n_pixel)
                # Each tile sees `radius` extra LR pixels where the block has them: exact.
                a, b = max(0, r0 - radius), min(n_ext, r1 + radius)
                c, d = max(0, c0 - radius), min(n_pixel, c1 + radius)
                tile = torch.from_numpy(np.array(block[a:b, c:d].transpose(2, 0, 1), order="C"))
                hr = net(tile[None].to(spec.device))[0].float()
                hr = hr[:, SCALE * (r0 - a) : SCALE * (r1 - a), SCALE * (c0 - c) : SCALE * (c1 - c)]
                out[SCALE * (r0 - before) : SCALE * (r1 - before), SCALE * c0 : SCALE * c1] = (
                    hr.permute(1, 2, 0).cpu().numpy()
                )
    if any_missing:
        np.copyto(out, np.float32(np.nan), where=_hr_missing(missing, spec, before, n_core))
    return out


def _fill_values(net: Callable[[torch.Tensor], torch.Tensor]) -> np.ndarray | np.float32:
    """Stand-in for missing inputs: the per-channel normalisation mean (z-score 0), else 0."""
    mean = getattr(net, "input_mean", None)
    if mean is None:
        return np.float32(0.0)
    return mean.detach().cpu().numpy().astype(np.float32)


def _hr_missing(missing: np.ndarray, spec: ModelSpec, before: int, n_core: int) -> np.ndarray:
    """HR mask (broadcastable to the output) of pixels a missing LR input can influence."""
    from scipy import ndimage

    # Networks mix channels (1x1 convolutions): a missing value affects every channel.
    seeds = missing.any(axis=2, keepdims=True) if spec.is_network else missing
    size = 2 * spec.receptive_radius + 1
    grown = ndimage.binary_dilation(seeds, structure=np.ones((size, size, 1), bool))
    core = grown[before : before + n_core]
    return np.repeat(np.repeat(core, SCALE, axis=0), SCALE, axis=1)


def _bytes_per_lr_pixel(spec: ModelSpec, n_chan: int) -> int:
    """Estimated peak activation bytes per LR pixel of a tile.

    Measured on CPU: a folded S5-DSCR holds about ``2·m + 3`` float32 tensors of HR size and C
    channels at its peak (upsampled input, running residual, depthwise output of m·C channels and
    its reordered copy, pointwise output); bicubic about 2.
    """
    factor = 2 * spec.multiplier + 3 if spec.is_network else 2
    return SCALE * SCALE * n_chan * 4 * factor


def _tile_shape(
    n_rows: int, n_cols: int, radius: int, bytes_per_pixel: int, budget: int
) -> tuple[int, int]:
    """Core (rows, cols) of the tiles of a block so that a tile with its halo fits ``budget``.

    Full-width strips are used while their halo is at most half of the strip; otherwise square
    tiles, whose halo overhead is much smaller than that of very thin strips.
    """
    pixels = max(1, budget // bytes_per_pixel)
    strip_rows = pixels // n_cols - 2 * radius
    if strip_rows >= min(n_rows, 2 * radius):
        return max(1, min(strip_rows, n_rows)), n_cols
    side = max(1, math.isqrt(pixels) - 2 * radius)
    return min(side, n_rows), min(side, n_cols)


@contextmanager
def _torch_threads(threads: int | None) -> Iterator[None]:
    """Set torch's intra-op threads for the duration of a task, then restore them."""
    if threads is None:
        yield
        return
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


# ---------------------------------------------------------------------------------- xarray layer
def super_resolve_dataset(
    ds: xr.Dataset,
    *,
    variables: Sequence[Hashable],
    dims: tuple[Hashable, Hashable, Hashable],
    band: int,
    model: str = "s5dscr",
    weights: str | os.PathLike[str] | torch.nn.Module | None = None,
    device: str | None = None,
    output_chunks: int | None = None,
    torch_threads: int | None = None,
    dtype: str = "float32",
) -> xr.Dataset:
    """Super-resolve radiance variables of a Dataset ×4 and move the Dataset to the HR grid.

    Parameters
    ----------
    ds : xarray.Dataset
        LR Dataset; not modified.
    variables : sequence of hashable
        Variables on exactly the three ``dims`` to super-resolve.
    dims : tuple of hashable
        Names of the (scanline, ground_pixel, spectral_channel) dims.
    band : int
        S5P band (selects the shipped weights; recorded in ``s5p_band``).
    model, weights, device, dtype
        See :func:`model_spec`.
    output_chunks, torch_threads
        See :func:`super_resolve_array`.

    Returns
    -------
    xarray.Dataset
        The super-resolved variables, float32, with their dims in the input order and their
        attrs; variables without scanline/ground_pixel dims unchanged; data variables on those
        dims that were not super-resolved (e.g. ``quality_level``, ``radiance_noise``) dropped,
        as they have no meaning on the HR grid. Coordinates: see :func:`hr_coordinates`. Global
        attrs are kept, ``history`` gets a new first line and ``s5sr_model``,
        ``s5sr_weights_sha256``, ``s5sr_model_config``, ``s5sr_version``, ``s5sr_scale`` and
        ``s5p_band`` are set. ``encoding`` is empty on every variable. dask in → dask out.
    """
    spec = model_spec(model, band=band, weights=weights, device=device, dtype=dtype)
    return _upscale_dataset(
        ds,
        spec,
        variables,
        dims,
        band,
        "super_resolve",
        output_chunks=output_chunks,
        torch_threads=torch_threads,
    )


def bicubic_dataset(
    ds: xr.Dataset,
    *,
    variables: Sequence[Hashable],
    dims: tuple[Hashable, Hashable, Hashable],
    band: int,
) -> xr.Dataset:
    """Bicubic ×4 baseline (PyTorch bicubic, ``S5DSCR.upsample`` semantics) on the HR grid.

    Same engine, outputs and metadata rules as :func:`super_resolve_dataset`, with the
    ``"bicubic"`` pseudo-model (no network, no weights).
    """
    return _upscale_dataset(ds, model_spec("bicubic"), variables, dims, band, "bicubic")


def _upscale_dataset(
    ds: xr.Dataset,
    spec: ModelSpec,
    variables: Sequence[Hashable],
    dims: tuple[Hashable, Hashable, Hashable],
    band: int,
    method: str,
    **engine: Any,
) -> xr.Dataset:
    import xarray as xr

    from xr_s5sr.provenance import add_provenance, format_call, history_line

    spatial = set(dims[:2])
    data_vars: dict[Hashable, xr.Variable] = {}
    for name, array in ds.data_vars.items():
        if name in variables:
            data_vars[name] = _super_resolve_variable(name, array.variable, dims, spec, engine)
        elif spatial.isdisjoint(array.dims):
            data_vars[name] = array.variable.copy(deep=False)
    out = xr.Dataset(data_vars, coords=hr_coordinates(ds, dims[:2]), attrs=dict(ds.attrs))
    for variable in out.variables.values():
        variable.encoding = {}
    out.attrs.update(s5sr_model=spec.name, s5sr_scale=SCALE, s5p_band=band)
    if spec.is_network:
        out.attrs.update(s5sr_weights_sha256=spec.key, s5sr_model_config=spec.config)
    call = format_call(method, band=band, model=spec.name if spec.is_network else None)
    return add_provenance(out, history_line(call, weights_sha256=spec.key or None))


def _super_resolve_variable(
    name: Hashable,
    variable: xr.Variable,
    dims: tuple[Hashable, Hashable, Hashable],
    spec: ModelSpec,
    engine: dict[str, Any],
) -> xr.Variable:
    import xarray as xr

    if set(variable.dims) != set(dims) or variable.ndim != 3:
        raise DimensionError(
            f"Variable {name!r} has dims {variable.dims}; super-resolution needs exactly the "
            f"dims {tuple(dims)}. Select or squeeze the others first (e.g. .isel(time=0))."
        )
    axes = tuple(variable.dims.index(d) for d in dims)
    data = super_resolve_array(variable.data, spec, axes=axes, **engine)
    return xr.Variable(variable.dims, data, attrs=dict(variable.attrs))


def hr_coordinates(ds: xr.Dataset, dims: tuple[Hashable, Hashable]) -> dict[Hashable, Any]:
    """Coordinates of ``ds`` moved to the ×4 HR grid of the (scanline, ground_pixel) ``dims``.

    HR pixel ``i`` sits at LR fractional index ``(i − 2)/4`` (:func:`hr_positions`). Numeric
    coordinates whose dims are the spatial dims plus, optionally, dims of the radiance (e.g.
    ``latitude``/``longitude`` on both, ``nominal_wavelength`` on ground_pixel ×
    spectral_channel, a ``scanline`` index, ``delta_time``) are linearly interpolated at those
    positions along each spatial dim they have (bilinear for 2-D), extrapolated linearly past the
    edges (HR rows −0.5 and n − 0.25 in LR units), so there is no NaN. Longitude (named
    ``longitude``/``lon``, ``standard_name`` longitude or units ``degrees_east``) is
    interpolated across the ±180° wrap and returned in [−180, 180); latitude is clipped to
    [−90, 90]. A spatial dim without an index coordinate gets one holding ``hr_positions``.
    Floating coordinates keep their dtype, integer ones become float64; coordinates on spatial
    dims that are not numeric or carry other dims (e.g. corner bounds) are dropped. Lazy
    (dask) coordinates stay lazy.

    Parameters
    ----------
    ds : xarray.Dataset
        LR Dataset.
    dims : tuple of hashable
        Names of the (scanline, ground_pixel) dims.

    Returns
    -------
    dict
        Coordinate name → :class:`xarray.Variable` on the HR grid.
    """
    import xarray as xr

    positions = {d: hr_positions(ds.sizes[d]) for d in dims}
    allowed = set(dims) | {
        d for v in ds.data_vars.values() if set(dims) <= set(v.dims) for d in v.dims
    }
    coords: dict[Hashable, Any] = {}
    for name, coord in ds.coords.items():
        variable = coord.variable
        if set(dims).isdisjoint(variable.dims):
            coords[name] = variable.copy(deep=False)
        elif set(variable.dims) <= allowed and variable.dtype.kind in "iuf":
            coords[name] = _interp_variable(name, variable, positions)
    for d in dims:
        if d not in coords:
            coords[d] = xr.Variable(
                d,
                positions[d],
                attrs={
                    "long_name": f"LR {d} fractional index",
                    "comment": f"HR pixel i is at LR index (i - {SCALE // 2})/{SCALE}",
                },
            )
    return coords


def _interp_variable(
    name: Hashable, variable: xr.Variable, positions: dict[Hashable, np.ndarray]
) -> xr.Variable:
    import xarray as xr

    kind = _angle_kind(name, variable.attrs)
    data = variable.data.astype(np.float64)
    for d in variable.dims:
        if d in positions:
            data = _interp_axis(
                data,
                positions[d],
                variable.get_axis_num(d),
                period=360.0 if kind == "longitude" else None,
            )
    if kind == "longitude":
        data = (data + 180.0) % 360.0 - 180.0
    elif kind == "latitude":
        data = data.clip(-90.0, 90.0)
    if variable.dtype.kind == "f":
        data = data.astype(variable.dtype)
    return xr.Variable(variable.dims, data, attrs=dict(variable.attrs))


def _angle_kind(name: Hashable, attrs: dict[Hashable, Any]) -> Literal["longitude", "latitude", ""]:
    for kind, short, units in (
        ("longitude", "lon", "degrees_east"),
        ("latitude", "lat", "degrees_north"),
    ):
        if (
            str(name).lower() in (kind, short)
            or attrs.get("standard_name") == kind
            or (attrs.get("units") == units)
        ):
            return kind  # type: ignore[return-value]
    return ""


def _interp_axis(values: Any, positions: np.ndarray, axis: int, period: float | None) -> Any:
    """Linear interpolation (and extrapolation) of ``values`` at fractional indices along ``axis``.

    With ``period`` the step between neighbours is taken modulo the period (shortest way), so a
    longitude jump from 179.9 to −179.9 is a step of 0.2 degrees. numpy or dask.
    """
    n = values.shape[axis]
    if n == 1:
        return np.take(values, np.zeros(positions.size, np.intp), axis=axis)
    lower = np.clip(np.floor(positions).astype(np.intp), 0, n - 2)
    shape = [1] * values.ndim
    shape[axis] = positions.size
    fraction = (positions - lower).reshape(shape)
    start = np.take(values, lower, axis=axis)
    step = np.take(values, lower + 1, axis=axis) - start
    if period is not None:
        step = (step + period / 2) % period - period / 2
    return start + fraction * step


__all__ = [
    "BICUBIC_RADIUS",
    "COMPUTE_DTYPES",
    "DEFAULT_ACTIVATION_BUDGET",
    "DEFAULT_OUTPUT_BUDGET",
    "ModelSpec",
    "bicubic_dataset",
    "clear_model_cache",
    "hr_coordinates",
    "hr_positions",
    "model_spec",
    "super_resolve_array",
    "super_resolve_dataset",
]
