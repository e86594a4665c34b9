"""S5-DSCR super-resolution networks (SPEC §3) as PyTorch modules.

Tensors only: (batch, channel, scanline, ground_pixel) in, 4× larger out. Radiance goes in and
radiance comes out: the z-score normalisation travels with the weights as module buffers.

Architecture::

    z = (y - mean) / std                 # per channel (or one scalar per band)
    U = bicubic_x4(z)                    # PyTorch bicubic, a = -0.75, align_corners=False
    R = U
    repeat L times:
        R = depthwise k×k conv (C → m·C, groups=C, zero padding, no bias)
        R = pointwise 1×1 conv (m·C → C, no bias)
        R = BatchNorm2d(C) → ReLU        # "paper" residual
    out = (U + R) * std + mean

``residual="signed"`` replaces the last layer's BatchNorm+ReLU by a bias on its pointwise
convolution, so the learnt correction can be negative (the paper design forces R ≥ 0).

``scaling="local"`` (the shipped models) makes the network scale-equivariant and puts the physics
first (SPEC §6)::

    s   = local_scale(y)                 # spectral mean of |y|, averaged over 5×5 LR pixels
    z   = (y / s - mean) / std           # scale-free input: SR(a·y) = a·SR(y) for any a > 0
    R   = residual stack on bicubic_x4(z)
    out = backproject(y) + U_lin(s) · output_std · R

``backproject`` is the training-free physics inverse (:func:`xr_s5sr.physics.backproject`) and
the network only adds the detail it cannot recover; the data-consistency step that follows
(:func:`xr_s5sr.physics.project`, by default under non-negativity,
:func:`xr_s5sr.constrained.nonnegative_consistency`) keeps only the part of that detail the
observation cannot see.

The formula is written once, here: :func:`compose` is
``f(y) = C_μ(backproject_μ(y) + g · detail(y), y)`` in torch, with :meth:`S5DSCR.detail` the
network's one entry (the gate ``g`` optional) and ``C_μ`` the consistency step. The module's
``forward`` is :func:`compose` without ``C_μ``; the fine-tuning objective
(:mod:`xr_s5sr.objective`) differentiates :func:`compose` itself, and the engine
(:mod:`xr_s5sr.engine`) computes the same formula on blocks of numpy/dask arrays, calling
:meth:`S5DSCR.relative_detail` per tile.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Literal, cast

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from xr_s5sr.bands import SCALE
from xr_s5sr.constrained import NONNEGATIVE_ITERATIONS, lower_bound, nonnegative_consistency
from xr_s5sr.errors import S5SRArgumentError, WeightsError
from xr_s5sr.operators import bicubic_x4, upsample
from xr_s5sr.physics import BACKPROJECTION_ITERATIONS, backproject, project
from xr_s5sr.spectral import compose_intensity, intensity_gain

Residual = Literal["paper", "signed"]
Scaling = Literal["zscore", "local"]
Consistency = Literal["nonnegative", "projection", "none"]
#: Data-consistency steps of :func:`compose`.
CONSISTENCY_STEPS = ("nonnegative", "projection", "none")

#: LR pixels each side of the box over which :func:`local_scale` averages the radiance level.
LOCAL_SCALE_RADIUS = 2


def local_scale(radiance: torch.Tensor) -> torch.Tensor:
    """Positive radiance level of every LR pixel: a scale that moves with the radiance.

    Mean over channels of ``|y|``, then mean over the ``5 × 5`` LR pixels around (over the
    pixels inside the image at its edges). Homogeneous of degree 1 (``a·y`` gives ``a·s``) and
    local, so dividing by it makes a network scale-equivariant and keeps tiling exact.

    Parameters
    ----------
    radiance : torch.Tensor
        (B, C, h, w) LR radiance.

    Returns
    -------
    torch.Tensor
        (B, 1, h, w), ≥ the smallest positive normal number of the dtype (so it can divide).
    """
    level = radiance.abs().mean(dim=1, keepdim=True)
    size = 2 * LOCAL_SCALE_RADIUS + 1
    pooled = F.avg_pool2d(
        level, size, stride=1, padding=LOCAL_SCALE_RADIUS, count_include_pad=False
    )
    return pooled.clamp_min(torch.finfo(pooled.dtype).tiny)


@dataclass(frozen=True)
class ModelConfig:
    """Hyper-parameters of an S5-DSCR network.

    Attributes
    ----------
    channels : int
        Spectral channels C of the band.
    layers : int
        Number L of depth-separable blocks.
    kernel_size : int
        Depthwise kernel size k (odd).
    multiplier : int
        Depthwise channel multiplier m.
    residual : {"paper", "signed"}
        Last-layer design (see module docstring).
    scaling : {"zscore", "local"}
        Input normalisation: fixed z-score (paper) or the scale-equivariant local scale with the
        physics inverse as base (see module docstring).
    band : int or None
        S5P band, needed by ``scaling="local"`` (the physics inverse depends on it).
    detail_gate : bool
        ``scaling="local"`` only: at inference, weigh the detail by the data's local detail
        (:func:`xr_s5sr.adaptive.detail_gate`). True for networks trained on other scenes
        (their detail is trusted only where the data show structure above the noise); False
        for networks fitted to the granules' own noise by self-supervised fine-tuning
        (:mod:`xr_s5sr.selfsup`), whose detail is mostly the removal of that noise.
    """

    channels: int
    layers: int
    kernel_size: int
    multiplier: int
    residual: Residual = "paper"
    scaling: Scaling = "zscore"
    band: int | None = None
    detail_gate: bool = True

    def to_dict(self) -> dict[str, int | str]:
        """Plain dict, e.g. for JSON model cards."""
        return asdict(self)

    @property
    def macs_per_hr_pixel(self) -> int:
        """Multiply-adds per HR pixel of the residual stack: L · (k²·m·C + m·C·C) (the
        depthwise and pointwise convolutions; the bicubic and the normalisation not counted)."""
        depthwise = self.kernel_size**2 * self.multiplier * self.channels
        return self.layers * (depthwise + self.multiplier * self.channels**2)


#: Named architectures of the paper: S5-DSCR (L=5, k=5, m=3) and S5-DSCR-S (L=1, k=3, m=1).
PRESETS: dict[str, dict[str, int]] = {
    "s5dscr": {"layers": 5, "kernel_size": 5, "multiplier": 3},
    "s5dscr_s": {"layers": 1, "kernel_size": 3, "multiplier": 1},
}


def preset_config(
    name: str,
    channels: int,
    residual: Residual = "paper",
    scaling: Scaling = "zscore",
    band: int | None = None,
) -> ModelConfig:
    """Config of a named preset.

    Examples
    --------
    >>> preset_config("s5dscr_s", 497)
    ModelConfig(channels=497, layers=1, kernel_size=3, multiplier=1, residual='paper', \
scaling='zscore', band=None, detail_gate=True)
    """
    if name not in PRESETS:
        raise S5SRArgumentError(f"Unknown model {name!r}: expected one of {sorted(PRESETS)}.")
    preset = PRESETS[name]
    return ModelConfig(
        channels,
        preset["layers"],
        preset["kernel_size"],
        preset["multiplier"],
        residual=residual,
        scaling=scaling,
        band=band,
    )


class DepthSeparableBlock(nn.Module):
    """Depthwise k×k (C→m·C) then pointwise 1×1 (m·C→C) convolution, then BN+ReLU or a bias.

    With ``final_signed=True`` the block ends at the pointwise convolution, which then has a bias.
    """

    def __init__(self, channels: int, kernel_size: int, multiplier: int, final_signed: bool):
        super().__init__()
        self.depthwise = nn.Conv2d(
            channels,
            channels * multiplier,
            kernel_size,
            padding=kernel_size // 2,
            groups=channels,
            bias=False,
        )
        self.pointwise = nn.Conv2d(channels * multiplier, channels, 1, bias=final_signed)
        self.norm: nn.Module = nn.Identity() if final_signed else nn.BatchNorm2d(channels)
        self.activation: nn.Module = nn.Identity() if final_signed else nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.activation(self.norm(self.pointwise(self.depthwise(x))))


class S5DSCR(nn.Module):
    """S5-DSCR: bicubic ×4 plus a residual stack of depth-separable convolutions.

    Parameters
    ----------
    channels : int
        Spectral channels C (497 for bands 1–6, 480 for bands 7–8).
    layers : int, default 5
        Depth-separable blocks L.
    kernel_size : int, default 5
        Depthwise kernel size k.
    multiplier : int, default 3
        Depthwise channel multiplier m.
    residual : {"paper", "signed"}, default "paper"
        "paper": every block ends with BatchNorm+ReLU, as published (residual ≥ 0 in normalised
        space). "signed": the last block is a biased pointwise convolution (residual of any sign).
    mean, std : torch.Tensor or float, optional
        Normalisation statistics of the network input (scalar or one per channel): radiance
        units for ``scaling="zscore"``, of ``y / local_scale(y)`` for ``"local"``. Stored as
        buffers ``input_mean``/``input_std`` of shape (C,). Default 0 and 1.
    scaling : {"zscore", "local"}, default "zscore"
        See the module docstring; ``"local"`` needs ``residual="signed"`` and ``band`` and
        adds the buffer ``output_std`` (C,): the scale of the residual per channel.
    band : int, optional
        S5P band (``scaling="local"`` only).
    detail_gate : bool, default True
        Gate the detail at inference (``scaling="local"`` only; see :class:`ModelConfig`).

    Notes
    -----
    Input (B, C, h, w) radiance with h along scanline and w along ground_pixel; output
    (B, C, 4h, 4w) radiance. HR pixel i corresponds to LR fractional index (i − 2)/4 (the
    degradation convention); bicubic assumes (i + 0.5)/4 − 0.5, the network learns the offset.

    Examples
    --------
    >>> model = S5DSCR(channels=8, layers=1, kernel_size=3, multiplier=1).eval()
    >>> model(torch.rand(1, 8, 5, 6)).shape
    torch.Size([1, 8, 20, 24])
    >>> S5DSCR(497, 1, 3, 1).parameter_count()
    252476
    """

    input_mean: torch.Tensor
    input_std: torch.Tensor
    output_std: torch.Tensor
    blocks: nn.ModuleList

    def __init__(
        self,
        channels: int,
        layers: int = 5,
        kernel_size: int = 5,
        multiplier: int = 3,
        residual: Residual = "paper",
        mean: torch.Tensor | float | None = None,
        std: torch.Tensor | float | None = None,
        scaling: Scaling = "zscore",
        band: int | None = None,
        detail_gate: bool = True,
    ):
        super().__init__()
        if residual not in ("paper", "signed"):
            raise S5SRArgumentError(f"residual must be 'paper' or 'signed', got {residual!r}.")
        if scaling not in ("zscore", "local"):
            raise S5SRArgumentError(f"scaling must be 'zscore' or 'local', got {scaling!r}.")
        if scaling == "local" and (residual != "signed" or band is None):
            raise S5SRArgumentError(
                "scaling='local' needs residual='signed' (the detail added to the physics "
                f"inverse has either sign) and the S5P band; got residual={residual!r}, "
                f"band={band!r}."
            )
        if kernel_size % 2 != 1 or kernel_size < 1:
            raise S5SRArgumentError(
                f"kernel_size must be a positive odd integer, got {kernel_size}."
            )
        if layers < 1 or multiplier < 1 or channels < 1:
            raise S5SRArgumentError("channels, layers and multiplier must be positive integers.")
        self.config = ModelConfig(
            channels,
            layers,
            kernel_size,
            multiplier,
            residual,
            scaling,
            band if scaling == "local" else None,
            bool(detail_gate) or scaling != "local",
        )
        self.scale = SCALE
        self.blocks = nn.ModuleList(
            DepthSeparableBlock(
                channels,
                kernel_size,
                multiplier,
                final_signed=(residual == "signed" and i == layers - 1),
            )
            for i in range(layers)
        )
        self.register_buffer("input_mean", torch.zeros(channels))
        self.register_buffer("input_std", torch.ones(channels))
        if scaling == "local":
            self.register_buffer("output_std", torch.ones(channels))
        if mean is not None or std is not None:
            self.set_normalisation(0.0 if mean is None else mean, 1.0 if std is None else std)

    @property
    def channels(self) -> int:
        """Number of spectral channels the model expects."""
        return self.config.channels

    @property
    def receptive_radius(self) -> int:
        """Halo in LR pixels that makes tiled inference exact.

        The residual stack reaches ``L·(k//2)`` HR pixels each side, i.e.
        ``ceil(L·(k//2) / 4)`` LR pixels, and the bicubic kernel two more LR pixels.
        """
        hr_reach = self.config.layers * (self.config.kernel_size // 2)
        return math.ceil(hr_reach / self.scale) + 2

    def parameter_count(self) -> int:
        """Number of trainable parameters."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)

    def set_normalisation(self, mean: torch.Tensor | float, std: torch.Tensor | float) -> None:
        """Set the radiance normalisation (scalar or per-channel), radiance units."""
        mean_t = torch.as_tensor(mean, dtype=torch.float32).expand(self.channels).clone()
        std_t = torch.as_tensor(std, dtype=torch.float32).expand(self.channels).clone()
        if not bool(torch.all(std_t > 0)):
            raise S5SRArgumentError("Normalisation std must be strictly positive.")
        self.input_mean.copy_(mean_t)
        self.input_std.copy_(std_t)

    def normalise(self, radiance: torch.Tensor) -> torch.Tensor:
        """Radiance (B, C, h, w) → z-scores."""
        return (radiance - self.input_mean[:, None, None]) / self.input_std[:, None, None]

    def denormalise(self, z: torch.Tensor) -> torch.Tensor:
        """z-scores (B, C, h, w) → radiance."""
        return z * self.input_std[:, None, None] + self.input_mean[:, None, None]

    def upsample(self, z: torch.Tensor) -> torch.Tensor:
        """Bicubic ×4 of z-scores (:func:`xr_s5sr.operators.bicubic_x4`)."""
        return bicubic_x4(z)

    def set_output_scale(self, std: torch.Tensor | float) -> None:
        """Set ``output_std``, the per-channel scale of the residual (``scaling="local"``)."""
        std_t = torch.as_tensor(std, dtype=torch.float32).expand(self.channels).clone()
        if not bool(torch.all(std_t > 0)):
            raise S5SRArgumentError("Output scale must be strictly positive.")
        self.output_std.copy_(std_t)

    def residual_normalised(self, z: torch.Tensor) -> torch.Tensor:
        """The residual stack ``R`` on the bicubic ×4 of normalised LR input ``z``."""
        residual = self.upsample(z)
        for block in self.blocks:
            residual = block(residual)
        return residual

    def forward_normalised(self, z: torch.Tensor) -> torch.Tensor:
        """Network in normalised space: LR z-scores → HR z-scores (``scaling="zscore"``)."""
        return self.upsample(z) + self.residual_normalised(z)

    def relative_detail(self, scale_free: torch.Tensor) -> torch.Tensor:
        """The network's one entry (``scaling="local"``): HR detail per unit of local scale.

        ``output_std · R(normalise(x))`` for the scale-free LR input ``x = y / local_scale(y)``
        (B, C, h, w): normalise, run the residual stack on its bicubic ×4, scale the residual
        back. :meth:`detail` multiplies it by the interpolated local scale; the engine, which
        tiles the LR input, divides and multiplies tile by tile around this same call.
        """
        return self.output_std[:, None, None] * self.residual_normalised(self.normalise(scale_free))

    def detail(self, radiance: torch.Tensor, gate: torch.Tensor | None = None) -> torch.Tensor:
        """HR radiance the network contributes to the composition :func:`compose`.

        ``scaling="local"``: ``U_lin(s · g) · relative_detail(y / s)`` with ``s`` the local
        scale, ``g`` the detail gate (LR, (B, 1, h, w) or (h, w), in [0, 1]; None: 1) and
        ``U_lin`` the linear interpolation to the HR grid (:func:`xr_s5sr.operators.upsample`):
        homogeneous of degree 1 in the radiance. ``scaling="zscore"``: the whole network
        output (bicubic plus residual, back in radiance units); it has no gate.
        """
        if self.config.scaling != "local":
            if gate is not None:
                raise S5SRArgumentError(
                    "The detail gate weighs the detail a local-scaling network adds to the "
                    "physics inverse; this network (scaling='zscore') has no such detail. "
                    "Pass gate=None."
                )
            return self.denormalise(self.forward_normalised(self.normalise(radiance)))
        scale = local_scale(radiance)
        weight = scale if gate is None else scale * gate.to(scale.dtype).expand_as(scale)
        hr_weight = upsample(weight, axes=(2, 3), kind="linear")
        return hr_weight * self.relative_detail(radiance / scale)

    def forward(self, radiance: torch.Tensor) -> torch.Tensor:
        """LR radiance (B, C, h, w) → HR radiance (B, C, 4h, 4w): :func:`compose` without
        the data-consistency step (μ = 0, no gate).

        ``scaling="local"``: physics inverse plus :meth:`detail`; the default output of
        :func:`xr_s5sr.engine.super_resolve_array` also applies the consistency step.
        """
        if radiance.ndim != 4 or radiance.shape[1] != self.channels:
            raise S5SRArgumentError(
                f"Expected a (batch, {self.channels}, scanline, ground_pixel) tensor, "
                f"got shape {tuple(radiance.shape)}."
            )
        return compose(self, radiance, consistency="none")


def channels_last(
    operator: Callable[..., torch.Tensor], x: torch.Tensor, band: int, **kwargs: Any
) -> torch.Tensor:
    """A physics operator on (B, C, H, W) run channels-last: same values, ~10× faster on CPU.

    The operators of :mod:`xr_s5sr.physics` filter one axis at a time with matrix products;
    with the channels last each product runs over long contiguous rows.
    """
    return operator(x.permute(0, 2, 3, 1), band, axes=(1, 2), **kwargs).permute(0, 3, 1, 2)


def compose(
    model: S5DSCR | None,
    y: torch.Tensor,
    band: int | None = None,
    *,
    regularisation: float = 0.0,
    gate: torch.Tensor | None = None,
    consistency: Consistency = "nonnegative",
    iterations: int = BACKPROJECTION_ITERATIONS,
    composition: bool = False,
) -> torch.Tensor:
    """THE super-resolution formula, in torch: what ``super_resolve`` outputs.

    ``f(y) = C_μ(backproject_μ(y) + g · detail(y), y)``: the physics inverse damped by
    ``μ = regularisation`` (:func:`xr_s5sr.physics.backproject`), the network's gated detail
    (:meth:`S5DSCR.detail`) and the data-consistency step ``C_μ``: by default the
    consistent solution above the lower bound (:func:`xr_s5sr.constrained.nonnegative_consistency`
    with the Tikhonov projection :func:`xr_s5sr.physics.project`: no negative radiance from
    non-negative data), or the projection alone. A ``scaling="zscore"`` network has no
    physics base (its detail is its whole output); ``model=None`` is the training-free
    physics inverse. The engine (:mod:`xr_s5sr.engine`) computes the same formula on
    seam-free blocks of numpy/dask arrays; training and fine-tuning differentiate this one.
    ``y`` is the LR data the formula acts on: the engine first replaces it by its spectral
    prior's projection (:func:`xr_s5sr.subspace.prior_and_statistics`) when that is on.

    Parameters
    ----------
    model : S5DSCR or None
        Network (its ``band`` is the default band), or None for back-projection.
    y : torch.Tensor
        (B, C, h, w) finite LR radiance, radiance units.
    band : int, optional
        S5P band (selects ``A``); default the model's.
    regularisation : float, default 0
        μ of the damped inverse and of the projection (dimensionless).
    gate : torch.Tensor, optional
        LR weight of the detail (:meth:`S5DSCR.detail`); None: the whole detail.
    consistency : {"nonnegative", "projection", "none"}, default "nonnegative"
        The data-consistency step (see above); "none" returns the unprojected estimate.
    iterations : int, default 8
        Back-projection iterations.
    composition : bool, default False
        A network's estimate takes the spectral shape of ``U y`` before the consistency step
        (:func:`xr_s5sr.spectral.compose_intensity`; the engine's
        ``spectral_composition=True``). Fine-tuning trains without it.

    Returns
    -------
    torch.Tensor
        (B, C, 4h, 4w) HR radiance, differentiable in the model's parameters.
    """
    if band is None:
        band = (model.config.band if model is not None else None) or 0
    physics_base = model is None or model.config.scaling == "local"
    if consistency not in CONSISTENCY_STEPS or (
        band == 0 and (physics_base or consistency != "none")
    ):
        raise S5SRArgumentError(
            f"compose needs consistency in {CONSISTENCY_STEPS} and, for the physics steps, a "
            f"band (from the model or band=); got consistency={consistency!r}, "
            f"band={band or None}."
        )
    mu = regularisation
    if model is None:
        x = channels_last(backproject, y, band, iterations=iterations, regularisation=mu)
    elif physics_base:
        base = channels_last(backproject, y, band, iterations=iterations, regularisation=mu)
        x = base + model.detail(y, gate)
    else:
        x = model.detail(y, gate)
    if consistency == "none":
        return x
    if composition and model is not None:
        reference = upsample(y, axes=(2, 3))
        x = compose_intensity(x, reference, intensity_gain(x, reference.sum(1, keepdim=True), 1))
    lr = y.permute(0, 2, 3, 1)
    nothing = torch.zeros_like(lr)

    def projected(v: torch.Tensor, data: torch.Tensor = lr) -> torch.Tensor:
        return project(v, data, band, axes=(1, 2), regularisation=regularisation)

    hr = x.permute(0, 2, 3, 1)
    if consistency == "projection":
        return projected(hr).permute(0, 3, 1, 2)
    return nonnegative_consistency(
        hr,
        projected,
        # M n = P(−n; y = 0) + n, as the engine writes it.
        lambda n: projected(-n, nothing) + n,
        NONNEGATIVE_ITERATIONS,
        _lower_bound(lr),
    ).permute(0, 3, 1, 2)


def _lower_bound(lr: torch.Tensor) -> torch.Tensor | float:
    """The bound of the constrained step on the HR grid (B, 4h, 4w, C), as the engine sets it:
    0 for non-negative data, else :func:`xr_s5sr.constrained.lower_bound` of each LR image
    repeated over the 4 × 4 HR pixels of each LR pixel. A bound from the data carries no
    gradient."""
    if bool(lr.min() >= 0):
        return 0.0
    bound = np.stack([lower_bound(image) for image in lr.detach().cpu().numpy()])
    hr = torch.from_numpy(bound).repeat_interleave(SCALE, 1).repeat_interleave(SCALE, 2)
    return hr.to(device=lr.device, dtype=lr.dtype)


def zero_residual(model: S5DSCR) -> S5DSCR:
    """Set the last pointwise convolution of a signed residual to zero, in place.

    The residual stack then outputs 0, so a ``scaling="local"`` network *is* the physics
    inverse: the start of training, and the fallback of a network that loses to it.

    Raises
    ------
    S5SRArgumentError
        For the paper's residual, whose last ReLU would never pass a gradient from a zero start.
    """
    if model.config.residual != "signed":
        raise S5SRArgumentError(
            "zero_residual needs residual='signed': the paper's last ReLU would never pass a "
            "gradient from a zero start."
        )
    last = cast(DepthSeparableBlock, model.blocks[-1]).pointwise
    with torch.no_grad():
        last.weight.zero_()
        cast(torch.Tensor, last.bias).zero_()
    return model


def fold_batchnorm(model: S5DSCR) -> S5DSCR:
    """Copy of an S5-DSCR whose eval-mode BatchNorms are folded into the pointwise convs.

    The result computes the same function as ``model.eval()`` (to float32 rounding) with one
    fewer pass over the HR activations per block. It is meant for inference only.

    Examples
    --------
    >>> model = S5DSCR(8, 2, 3, 2).eval()
    >>> x = torch.rand(1, 8, 6, 6)
    >>> bool(torch.allclose(model(x), fold_batchnorm(model)(x), atol=1e-5))
    True
    """
    folded = copy.deepcopy(model).eval()
    for block in folded.blocks:
        if not isinstance(block, DepthSeparableBlock):
            raise WeightsError(
                f"fold_batchnorm expects S5-DSCR blocks, got {type(block).__name__}."
            )
        norm = block.norm
        if not isinstance(norm, nn.BatchNorm2d):
            continue
        if norm.running_var is None or norm.running_mean is None:
            raise WeightsError(
                "fold_batchnorm needs BatchNorm running statistics; build the BatchNorm with "
                "track_running_stats=True (the default)."
            )
        scale = norm.weight.detach() / torch.sqrt(norm.running_var + norm.eps)
        shift = norm.bias.detach() - norm.running_mean * scale
        old = cast(nn.Conv2d, block.pointwise)
        fused = nn.Conv2d(old.in_channels, old.out_channels, 1, bias=True)
        with torch.no_grad():
            fused.weight.copy_(old.weight * scale[:, None, None, None])
            cast(torch.Tensor, fused.bias).copy_(shift)
        block.pointwise = fused.to(old.weight.device)
        block.norm = nn.Identity()
    return folded


def build_model(
    name: str,
    channels: int,
    residual: Residual = "paper",
    scaling: Scaling = "zscore",
    band: int | None = None,
) -> S5DSCR:
    """Randomly initialised preset model (PyTorch default init, as in the paper).

    Parameters
    ----------
    name : {"s5dscr", "s5dscr_s"}
        Preset.
    channels : int
        Spectral channels.
    residual : {"paper", "signed"}
        Last-layer design.
    scaling : {"zscore", "local"}
        Input normalisation (see :class:`S5DSCR`).
    band : int, optional
        S5P band (``scaling="local"``).
    """
    return model_from_config(preset_config(name, channels, residual, scaling, band))


def model_from_config(config: ModelConfig | dict[str, int | str]) -> S5DSCR:
    """Module built from a :class:`ModelConfig` or its dict (e.g. stored with the weights)."""
    if isinstance(config, dict):
        config = ModelConfig(**config)  # type: ignore[arg-type]
    return S5DSCR(
        config.channels,
        config.layers,
        config.kernel_size,
        config.multiplier,
        config.residual,
        scaling=config.scaling,
        band=config.band,
        detail_gate=config.detail_gate,
    )


__all__ = [
    "CONSISTENCY_STEPS",
    "LOCAL_SCALE_RADIUS",
    "PRESETS",
    "S5DSCR",
    "DepthSeparableBlock",
    "ModelConfig",
    "build_model",
    "channels_last",
    "compose",
    "fold_batchnorm",
    "local_scale",
    "model_from_config",
    "preset_config",
    "zero_residual",
]
