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
    the smallest exact halo of the model (:attr:`ModelSpec.halo`), which makes the result identical
    to a single whole-array run. A numpy input is processed as one block. Inside a block, tiles
    bounded by an activation budget (full-width scanline strips, or square tiles when strips would
    be mostly halo) are run one after the other, each with the same halo, so peak memory does not
    grow with the block size and results stay exact.

Fused CPU path
    On CPU, networks run through :class:`FusedS5DSCR` instead of the module's ``forward``: the same
    function (BatchNorm folded, equal to ``S5DSCR.forward`` to float32 rounding) computed in
    channels-last layout, bicubic ×4 as small matrix products, each depthwise convolution split
    into its ``m`` channel groups whose pointwise products are accumulated in place (the ``m·C``
    channels are never stored), and every layer run over strips of a few thousand HR pixels that
    write into preallocated buffers, only over the HR rows the tile's core still depends on. See
    ``docs/performance.md`` for the measured effect of each step. ``dtype="bfloat16"`` runs the
    convolutions and products in bfloat16 (float32 accumulation inside each product), the
    bicubic, normalisation and final sum in float32. CUDA devices run the module itself in
    channels-last layout under ``torch.autocast`` for ``bfloat16``/``float16``.

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
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field, replace
from functools import lru_cache
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
#: Default memory allowed for network activations of one block, bytes: with two dask workers,
#: each holding one default output block and its activations, a 450 × 497 band streams to zarr
#: in < 3 GiB RSS. A default block (17 LR scanlines + 2 × 4 halo) then runs as two tiles of the
#: fused path, which costs ~10 % more work in halo rows than one tile.
DEFAULT_ACTIVATION_BUDGET = 3 * 2**28
#: Receptive radius (LR pixels) of PyTorch bicubic ×4: taps at floor((i + 0.5)/4 − 0.5) − 1 … + 2.
BICUBIC_RADIUS = 2
#: Compute precisions accepted by ``dtype=``; the output is float32 in every case. float16 is
#: CUDA-only (CPUs gain nothing from it in PyTorch and lose range).
COMPUTE_DTYPES = ("float32", "bfloat16", "float16")
#: HR pixels per strip of the fused CPU path: a strip's temporaries stay a few MB, so they are
#: recycled by the allocator instead of being fresh memory (a page fault every 4 KiB) and stay
#: close to the cores' caches.
_STRIP_PIXELS = 4096
#: LR pixels per matrix product of the bicubic along (rows, columns): small windows waste few
#: multiplications on the band's zeros, large ones make fewer, bigger products.
_BICUBIC_SEGMENTS = (4, 8)

_MODULE_CACHE_SIZE = 4
_MODULE_CACHE: OrderedDict[tuple[str, ...], Any] = OrderedDict()
_MODULE_CACHE_LOCK = threading.Lock()
#: Blocks being super-resolved in this process (shares torch threads among them).
_ACTIVE_BLOCKS = 0
_ACTIVE_BLOCKS_LOCK = threading.Lock()


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
        LR pixels each side an HR pixel depends on (sizes the region a missing value masks).
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
    hr_reach : int
        HR pixels each side the residual stack reaches, ``L·(k//2)`` (0 for bicubic).
    fused : bool
        Use the fused CPU path (:class:`FusedS5DSCR`) for networks on CPU; False runs the
        module's own ``forward`` (reference, used by tests and benchmarks).
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

    @property
    def is_network(self) -> bool:
        """True for S5-DSCR networks, False for the bicubic pseudo-model."""
        return self.name != "bicubic"

    @property
    def uses_fused_path(self) -> bool:
        """True when blocks run through :class:`FusedS5DSCR` (a network, on CPU, ``fused``)."""
        return self.is_network and self.fused and self.device == "cpu"

    @property
    def halo(self) -> int:
        """Smallest LR halo that makes tiled results exact: ``(hr_reach + 5) // 4 + 1``.

        A tile clamps the bicubic taps at its edges, which spoils its first and last 6 HR rows
        (taps reach 2 LR pixels), and zero-pads every convolution, which spoils ``hr_reach``
        more rows inwards; the core is exact when ``4·halo > 5 + hr_reach``. That is 4 LR pixels
        for S5-DSCR, 2 for S5-DSCR-S and bicubic, one less than :attr:`receptive_radius` for
        the networks.
        """
        return (self.hr_reach + 5) // SCALE + 1

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
    dtype : {"float32", "bfloat16", "float16"}, default "float32"
        Compute precision; float16 on CUDA only. Output is float32 in every case.

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
    dtype = _check_dtype(dtype, device)
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
        hr_reach=network.config.layers * (network.config.kernel_size // 2),
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


def _check_dtype(dtype: str, device: str) -> str:
    if dtype not in COMPUTE_DTYPES:
        raise ValueError(f"dtype must be one of {COMPUTE_DTYPES}, got {dtype!r}.")
    if dtype == "float16" and not device.startswith("cuda"):
        raise ValueError(
            f"dtype='float16' needs a CUDA device, got device={device!r}. On CPU use "
            "dtype='bfloat16' (fast on CPUs with AVX512-BF16/AMX) or 'float32'."
        )
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
    module = spec.module
    assert module is not None, "a network ModelSpec carries weights or a module"
    return _cached(
        (spec.key, spec.device),
        lambda: module if spec.device == "cpu" else _to_device(module, spec.device),
    )


def _cached(key: tuple[str, ...], make: Callable[[], Any]) -> Any:
    """Per-process LRU cache (``_MODULE_CACHE_SIZE`` entries): ``make()`` once per ``key``."""
    with _MODULE_CACHE_LOCK:
        value = _MODULE_CACHE.get(key)
        if value is None:
            value = make()
            _MODULE_CACHE[key] = value
            while len(_MODULE_CACHE) > _MODULE_CACHE_SIZE:
                _MODULE_CACHE.popitem(last=False)
        else:
            _MODULE_CACHE.move_to_end(key)
    return value


def _to_device(module: S5DSCR, device: str) -> S5DSCR:
    import copy

    # A copy: moving the spec's own snapshot would change what later pickles of the spec carry.
    return copy.deepcopy(module).to(device)


def clear_model_cache() -> None:
    """Forget the in-memory modules cached by this process (weights files: see xr_s5sr.weights)."""
    with _MODULE_CACHE_LOCK:
        _MODULE_CACHE.clear()


def _resolve_runner(spec: ModelSpec) -> Any:
    """What a block runs: a :class:`FusedS5DSCR` on the fused path, else :func:`_resolve_model`."""
    model = _resolve_model(spec)
    if not spec.uses_fused_path:
        return model
    return _cached(
        (spec.key, spec.device, f"fused-{spec.dtype}"),
        lambda: FusedS5DSCR(cast("S5DSCR", model), spec.dtype),
    )


# ---------------------------------------------------------------------------------- fused CPU path
@dataclass(frozen=True)
class _FusedLayer:
    """Weights of one depth-separable block, rearranged for :class:`FusedS5DSCR`."""

    depthwise: tuple[torch.Tensor, ...]  # m tensors (C, 1, k, k): channel group j of the conv
    pointwise: torch.Tensor  # (m·C, C): rows j·C … (j+1)·C act on group j
    bias: torch.Tensor  # (C,)
    relu: bool


class FusedS5DSCR:
    """Inference-only CPU form of an eval-mode, BatchNorm-folded S5-DSCR.

    Computes :meth:`xr_s5sr.models.S5DSCR.forward` (to float32 rounding) on ``(h, w, C)`` LR
    tiles, in a form that runs close to the machine's matrix-product rate:

    - channels-last throughout: a tile is used as it lies in memory, a 1×1 convolution is one
      matrix product over pixels;
    - bicubic ×4 as two small banded matrix products (:func:`_bicubic_x4`);
    - the depthwise convolution (C → m·C) split into its m channel groups, each a plain
      depthwise convolution whose pointwise product is accumulated in place, so the m·C
      channels are never stored;
    - every layer run over strips of about ``_STRIP_PIXELS`` HR pixels whose results are written
      into two preallocated residual buffers; layer ``l`` of ``L`` is only computed on the HR rows
      within ``(L − l)·(k//2)`` of the requested core rows;
    - the output scale ``std`` folded into the last layer (it commutes with ReLU since
      ``std > 0``): output = ``std·U + mean + std·R``.

    With ``dtype="bfloat16"`` the convolutions and matrix products run in bfloat16 (float32
    accumulation inside each product); normalisation, bicubic and the final sum stay float32.

    Parameters
    ----------
    folded : xr_s5sr.models.S5DSCR
        Eval-mode network with its BatchNorms folded (:func:`xr_s5sr.models.fold_batchnorm`).
    dtype : {"float32", "bfloat16"}, default "float32"
        Compute precision of the convolutions and products.

    Examples
    --------
    >>> import torch
    >>> from xr_s5sr.models import S5DSCR, fold_batchnorm
    >>> net = fold_batchnorm(S5DSCR(channels=4, layers=1, kernel_size=3, multiplier=1))
    >>> tile = np.random.default_rng(0).random((6, 5, 4), dtype=np.float32)
    >>> fast = FusedS5DSCR(net).upscale(tile, (0, 6))
    >>> with torch.inference_mode():
    ...     reference = net(torch.from_numpy(tile).permute(2, 0, 1)[None])[0].permute(1, 2, 0)
    >>> bool(torch.allclose(fast, reference, rtol=1e-5, atol=1e-6))
    True
    """

    def __init__(self, folded: S5DSCR, dtype: str = "float32") -> None:
        import torch
        from torch import nn

        from xr_s5sr.models import DepthSeparableBlock

        config = folded.config
        self.channels = folded.channels
        self.multiplier = config.multiplier
        self.padding = config.kernel_size // 2
        self.dtype = getattr(torch, dtype)
        buffers = dict(folded.named_buffers())
        self.input_mean = buffers["input_mean"].detach().float().cpu().clone()
        self.input_std = buffers["input_std"].detach().float().cpu().clone()
        m = self.multiplier
        layers = []
        for index, block in enumerate(folded.blocks):
            assert isinstance(block, DepthSeparableBlock)
            if isinstance(block.norm, nn.BatchNorm2d):
                raise WeightsError(
                    "FusedS5DSCR needs a BatchNorm-folded network; pass "
                    "xr_s5sr.models.fold_batchnorm(model) instead of the model itself."
                )
            depthwise = block.depthwise.weight.detach().float().cpu()
            pointwise = block.pointwise.weight.detach().float().cpu()[:, :, 0, 0]
            bias = block.pointwise.bias
            bias = torch.zeros(self.channels) if bias is None else bias.detach().float().cpu()
            last = index == len(folded.blocks) - 1
            if last:
                pointwise = pointwise * self.input_std[:, None]
                bias = bias * self.input_std
            # Output channel c·m + j of the grouped conv reads input channel c: the channels
            # j, m + j, 2m + j, … form one plain depthwise conv over all C input channels.
            layers.append(
                _FusedLayer(
                    depthwise=tuple(depthwise[j::m].contiguous().to(self.dtype) for j in range(m)),
                    pointwise=torch.cat([pointwise[:, j::m].t() for j in range(m)])
                    .contiguous()
                    .to(self.dtype),
                    # The last layer's bias is added in float32 with the output.
                    bias=bias if last else bias.to(self.dtype),
                    relu=isinstance(block.activation, nn.ReLU),
                )
            )
        self.layers = tuple(layers)

    def upscale(
        self,
        tile: np.ndarray,
        core: tuple[int, int],
        out: torch.Tensor | None = None,
        workers: int = 1,
    ) -> torch.Tensor:
        """HR radiance of the LR rows ``core[0]:core[1]`` of a tile, over the tile's full width.

        Parameters
        ----------
        tile : numpy.ndarray
            LR radiance (scanline, ground_pixel, spectral_channel), float32, finite. Rows
            outside ``core`` are context (zero padding applies at the tile's edges).
        core : tuple of int
            First and end LR row of the tile whose HR rows are returned.
        out : torch.Tensor, optional
            Contiguous float32 ``(4·(core[1] − core[0]), 4·w, C)`` tensor to write into.
        workers : int, default 1
            Threads running the strips of each layer, one torch thread each (1: the calling
            thread, with its own torch threads).

        Returns
        -------
        torch.Tensor
            float32 ``(4·(core[1] − core[0]), 4·w, C)``, radiance units (``out`` if given).
        """
        import torch

        p = self.padding
        n_rows, n_cols, n_chan = tile.shape
        height, width = SCALE * n_rows, SCALE * n_cols
        first, stop = SCALE * core[0], SCALE * core[1]
        if out is None:
            out = torch.empty((stop - first, width, n_chan), dtype=torch.float32)
        lr = torch.from_numpy(np.ascontiguousarray(tile))
        # Rows of the buffers are HR rows shifted by p: p zero rows above and below are the
        # zero padding of the depthwise convolutions along scanline.
        upsampled = _bicubic_x4((lr - self.input_mean) / self.input_std, pad=p)
        residual = [_padded_rows(height, width, n_chan, p, self.dtype) for _ in range(2)]
        last = len(self.layers) - 1

        def run_strip(index: int, s: int, e: int) -> None:
            """Layer ``index`` on HR rows s..e (inference mode is per thread: enter it here)."""
            with torch.inference_mode():
                source = upsampled if index == 0 else residual[(index - 1) % 2]
                rows = source[s : e + 2 * p].unsqueeze(0).permute(0, 3, 1, 2)
                if rows.dtype != self.dtype:
                    rows = rows.to(self.dtype)
                if index == last:
                    target = out[s - first : e - first].view(-1, n_chan)
                else:
                    target = residual[index % 2][s + p : e + p].view(-1, n_chan)
                self._layer_strip(self.layers[index], rows, target, index == last)
                if index == last:
                    # out = std·U + mean + (std-scaled residual, already in target).
                    target.addcmul_(upsampled[s + p : e + p].view(-1, n_chan), self.input_std)
                    target.add_(self.input_mean)

        strip = max(1, _STRIP_PIXELS // width)
        # Strips of a layer are independent: `workers` threads of one torch thread each take
        # them from a queue, so a core slowed down by other processes just takes fewer strips
        # (an OpenMP team waits for its slowest thread at every operation instead).
        pool = (
            ThreadPoolExecutor(workers, initializer=torch.set_num_threads, initargs=(1,))
            if workers > 1
            else None
        )
        try:
            for index in range(len(self.layers)):
                reach = (last - index) * p
                low, high = max(0, first - reach), min(height, stop + reach)
                bounds = [(s, min(s + strip, high)) for s in range(low, high, strip)]
                if pool is None:
                    for s, e in bounds:
                        run_strip(index, s, e)
                else:
                    # A layer needs every strip of the previous one: wait for all of them.
                    for done in [pool.submit(run_strip, index, s, e) for s, e in bounds]:
                        done.result()
        finally:
            if pool is not None:
                pool.shutdown()
        return out

    def _layer_strip(
        self, layer: _FusedLayer, rows: torch.Tensor, target: torch.Tensor, last: bool
    ) -> None:
        """One block on a strip: depthwise groups, accumulated pointwise products, ReLU."""
        import torch
        import torch.nn.functional as F

        n_chan = self.channels
        p = self.padding
        groups = (
            F.conv2d(rows, weight, padding=(0, p), groups=n_chan)
            .permute(0, 2, 3, 1)
            .reshape(-1, n_chan)
            for weight in layer.depthwise
        )
        if self.dtype == torch.float32:
            for j, group in enumerate(groups):
                weight = layer.pointwise[j * n_chan : (j + 1) * n_chan]
                if j == 0:
                    torch.addmm(layer.bias, group, weight, out=target)
                else:
                    target.addmm_(group, weight)
        else:
            # One product over all m groups: a single rounding to bfloat16.
            stacked = torch.cat(tuple(groups), dim=1) if self.multiplier > 1 else next(groups)
            if last:
                target.copy_(torch.mm(stacked, layer.pointwise)).add_(layer.bias)
            else:
                torch.addmm(layer.bias, stacked, layer.pointwise, out=target)
        if layer.relu:
            target.relu_()


def _padded_rows(height: int, width: int, n_chan: int, pad: int, dtype: Any) -> torch.Tensor:
    """Uninitialised ``(height + 2·pad, width, n_chan)`` buffer, its first and last pad rows 0."""
    import torch

    buffer = torch.empty((height + 2 * pad, width, n_chan), dtype=dtype)
    buffer[:pad].zero_()
    buffer[height + pad :].zero_()
    return buffer


@lru_cache(maxsize=8)
def _bicubic_window_matrix(segment: int) -> np.ndarray:
    """``(4·segment, segment + 4)`` float32 matrix of PyTorch bicubic ×4 on a window.

    Row ``4i + q`` gives HR pixel ``q`` of LR pixel ``i`` of a segment from the segment and 2
    LR pixels of context each side (column ``i + 2`` is LR pixel ``i``). Keys cubic with
    a = −0.75, half-pixel centres: HR pixel ``o`` samples the LR axis at ``(o + 0.5)/4 − 0.5``.
    """
    a = -0.75

    def keys(x: float) -> float:
        x = abs(x)
        if x <= 1:
            return ((a + 2) * x - (a + 3)) * x * x + 1
        return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a

    matrix = np.zeros((SCALE * segment, segment + 4))
    for q in range(SCALE):
        position = (q + 0.5) / SCALE - 0.5
        base = math.floor(position)
        fraction = position - base
        for tap in range(-1, 3):
            for i in range(segment):
                matrix[SCALE * i + q, i + 2 + base + tap] += keys(fraction - tap)
    return matrix.astype(np.float32)


def _upsample_axis(x: torch.Tensor, axis: int, segment: int, pad: int = 0) -> torch.Tensor:
    """Bicubic ×4 along ``axis`` (0 or 1) of a ``(rows, cols, C)`` tensor, edges clamped.

    The axis is cut into windows of ``segment`` LR pixels plus 2 each side (edge pixels
    repeated), and every window is one product with :func:`_bicubic_window_matrix`. Along axis
    0 the result gets ``pad`` zero rows above and below (and may have extra rows after those).
    """
    import torch

    n = x.shape[axis]
    count = -(-n // segment)
    index = torch.arange(-2, count * segment + 2).clamp_(0, n - 1)
    windows = x.index_select(axis, index).unfold(axis, segment + 4, segment).movedim(-1, axis + 1)
    matrix = torch.from_numpy(_bicubic_window_matrix(segment))
    if axis == 1:
        hr = torch.matmul(matrix, windows)  # (rows, count, 4·segment, C)
        return hr.reshape(x.shape[0], -1, x.shape[2])[:, : SCALE * n]
    rows = SCALE * segment * count
    out = torch.empty((rows + 2 * pad, x.shape[1], x.shape[2]), dtype=x.dtype)
    torch.matmul(
        matrix,
        windows.reshape(count, segment + 4, -1),
        out=out[pad : pad + rows].view(count, SCALE * segment, -1),
    )
    out[:pad].zero_()
    out[pad + SCALE * n : 2 * pad + SCALE * n].zero_()
    return out


def _bicubic_x4(z: torch.Tensor, pad: int = 0) -> torch.Tensor:
    """PyTorch bicubic ×4 of a ``(h, w, C)`` tensor as ``(pad + 4h + pad [+ extra], 4w, C)``.

    Same values as :func:`xr_s5sr.models.bicubic_x4` to float32 rounding; rows ``pad`` …
    ``pad + 4h`` hold the image, the ``pad`` rows around it are zero.
    """
    segment_rows, segment_cols = _BICUBIC_SEGMENTS
    return _upsample_axis(_upsample_axis(z, 1, segment_cols), 0, segment_rows, pad)


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
    dtype : {"float32", "bfloat16", "float16"}, optional
        Overrides the spec's compute precision.
    output_chunks : int, optional
        dask only: HR scanlines per output chunk, a multiple of 4. Default: keep the input's
        scanline chunks when each output block fits ``memory_budget``, else chunks that do.
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
        halo = spec.halo
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
            changes["dtype"] = _check_dtype(dtype, changes.get("device", model.device))
        elif "device" in changes:
            _check_dtype(model.dtype, changes["device"])
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

    runner = _resolve_runner(spec)
    block = np.asarray(block, dtype=np.float32)
    n_ext, n_pixel, n_chan = block.shape
    n_core = n_ext - before - after
    missing = ~np.isfinite(block)
    any_missing = bool(missing.any())
    if any_missing:
        block = np.where(missing, _fill_values(runner), block)
    out = np.empty((SCALE * n_core, SCALE * n_pixel, n_chan), np.float32)
    halo = spec.halo
    # Strip temporaries of every worker thread come out of the budget before the tiles do.
    max_workers = torch_threads if torch_threads is not None else torch.get_num_threads()
    rows, cols = _tile_shape(
        n_core,
        n_pixel,
        halo,
        _bytes_per_lr_pixel(spec, n_chan),
        activation_budget - max_workers * _strip_bytes(spec, n_chan),
    )
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
                core = (SCALE * (c0 - c), SCALE * (c1 - c))
                if isinstance(runner, FusedS5DSCR):
                    # The block's torch threads become strip workers of one thread each.
                    workers = torch.get_num_threads()
                    if (c, d) == (0, n_pixel):
                        # Full-width tile: the last layer writes straight into the output.
                        direct = torch.from_numpy(target)
                        runner.upscale(tile, (r0 - a, r1 - a), out=direct, workers=workers)
                    else:
                        hr = runner.upscale(tile, (r0 - a, r1 - a), workers=workers)
                        target[...] = hr[:, core[0] : core[1]].numpy()
                else:
                    # (1, C, h, w) view of the (h, w, C) tile: channels-last, no transposing copy.
                    lr = torch.from_numpy(tile).permute(2, 0, 1)[None].to(spec.device)
                    hr = runner(lr)[0].permute(1, 2, 0).float()
                    hr = hr[SCALE * (r0 - a) : SCALE * (r1 - a), core[0] : core[1]]
                    target[...] = hr.cpu().numpy()
    if any_missing:
        np.copyto(out, np.float32(np.nan), where=_hr_missing(missing, spec, before, n_core))
    return out


def _autocast(spec: ModelSpec) -> Any:
    """``torch.autocast`` for reduced precision on the reference path (the fused path casts)."""
    if spec.dtype == "float32" or spec.uses_fused_path:
        return nullcontext()
    import torch

    return torch.autocast(device_type=spec.device.split(":")[0], dtype=getattr(torch, spec.dtype))


def _fill_values(net: object) -> np.ndarray | np.float32:
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

    Fused CPU path: three tensors of HR size and C channels (the upsampled input in float32 and
    two residual buffers in the compute precision); the strips' temporaries are reserved apart
    (:func:`_strip_bytes`).
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


def _strip_bytes(spec: ModelSpec, n_chan: int) -> int:
    """Upper bound of the temporaries of one strip worker on the fused path (0 elsewhere).

    A strip holds at most ``2·m + 2`` float32-sized tensors of ``_STRIP_PIXELS`` pixels and C
    channels: the m depthwise groups, their concatenation (bfloat16), the input cast of the
    first layer and the last layer's product.
    """
    if not spec.uses_fused_path:
        return 0
    return (2 * spec.multiplier + 2) * _STRIP_PIXELS * n_chan * 4


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
    "FusedS5DSCR",
    "ModelSpec",
    "bicubic_dataset",
    "clear_model_cache",
    "hr_coordinates",
    "hr_positions",
    "model_spec",
    "super_resolve_array",
    "super_resolve_dataset",
]
