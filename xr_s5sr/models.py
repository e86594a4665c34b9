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
"""

from __future__ import annotations

import copy
import math
from dataclasses import asdict, dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from xr_s5sr.bands import SCALE

Residual = Literal["paper", "signed"]


def bicubic_x4(image: torch.Tensor) -> torch.Tensor:
    """Bicubic ×``SCALE`` of (B, C, h, w): Keys a = −0.75, half-pixel centres, clamped border.

    This is PyTorch's ``F.interpolate(mode="bicubic", align_corners=False)``: output pixel ``i``
    samples the input at ``(i + 0.5) / 4 − 0.5``.
    """
    return F.interpolate(image, scale_factor=SCALE, mode="bicubic", align_corners=False)


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
    """

    channels: int
    layers: int
    kernel_size: int
    multiplier: int
    residual: Residual = "paper"

    def to_dict(self) -> dict[str, int | str]:
        """Plain dict, e.g. for JSON model cards."""
        return asdict(self)


#: Named architectures of the paper: S5-DSCR (L=5, k=5, m=3) and S5-DSCR-S (L=1, k=3, m=1).
PRESETS: dict[str, dict[str, int]] = {
    "s5dscr": {"layers": 5, "kernel_size": 5, "multiplier": 3},
    "s5dscr_s": {"layers": 1, "kernel_size": 3, "multiplier": 1},
}


def preset_config(name: str, channels: int, residual: Residual = "paper") -> ModelConfig:
    """Config of a named preset.

    Examples
    --------
    >>> preset_config("s5dscr_s", 497)
    ModelConfig(channels=497, layers=1, kernel_size=3, multiplier=1, residual='paper')
    """
    if name not in PRESETS:
        raise ValueError(f"Unknown model {name!r}: expected one of {sorted(PRESETS)}.")
    return ModelConfig(channels=channels, residual=residual, **PRESETS[name])


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
        Normalisation statistics of the radiance (scalar or one per channel), radiance units.
        Stored as buffers ``input_mean``/``input_std`` of shape (C,). Default 0 and 1.

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

    def __init__(
        self,
        channels: int,
        layers: int = 5,
        kernel_size: int = 5,
        multiplier: int = 3,
        residual: Residual = "paper",
        mean: torch.Tensor | float | None = None,
        std: torch.Tensor | float | None = None,
    ):
        super().__init__()
        if residual not in ("paper", "signed"):
            raise ValueError(f"residual must be 'paper' or 'signed', got {residual!r}.")
        if kernel_size % 2 != 1 or kernel_size < 1:
            raise ValueError(f"kernel_size must be a positive odd integer, got {kernel_size}.")
        if layers < 1 or multiplier < 1 or channels < 1:
            raise ValueError("channels, layers and multiplier must be positive integers.")
        self.config = ModelConfig(channels, layers, kernel_size, multiplier, residual)
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
            raise ValueError("Normalisation std must be strictly positive.")
        self.input_mean.copy_(mean_t)
        self.input_std.copy_(std_t)

    def normalise(self, radiance: torch.Tensor) -> torch.Tensor:
        """Radiance (B, C, h, w) → z-scores."""
        return (radiance - self.input_mean[:, None, None]) / self.input_std[:, None, None]

    def denormalise(self, z: torch.Tensor) -> torch.Tensor:
        """z-scores (B, C, h, w) → radiance."""
        return z * self.input_std[:, None, None] + self.input_mean[:, None, None]

    def upsample(self, z: torch.Tensor) -> torch.Tensor:
        """Bicubic ×4 of z-scores (:func:`bicubic_x4`)."""
        return bicubic_x4(z)

    def forward_normalised(self, z: torch.Tensor) -> torch.Tensor:
        """Network in normalised space: LR z-scores → HR z-scores (used for training)."""
        upsampled = self.upsample(z)
        residual = upsampled
        for block in self.blocks:
            residual = block(residual)
        return upsampled + residual

    def forward(self, radiance: torch.Tensor) -> torch.Tensor:
        """LR radiance (B, C, h, w) → HR radiance (B, C, 4h, 4w)."""
        if radiance.ndim != 4 or radiance.shape[1] != self.channels:
            raise ValueError(
                f"Expected a (batch, {self.channels}, scanline, ground_pixel) tensor, "
                f"got shape {tuple(radiance.shape)}."
            )
        return self.denormalise(self.forward_normalised(self.normalise(radiance)))


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
        assert isinstance(block, DepthSeparableBlock)
        norm = block.norm
        if not isinstance(norm, nn.BatchNorm2d):
            continue
        assert norm.running_var is not None
        assert norm.running_mean is not None
        scale = norm.weight.detach() / torch.sqrt(norm.running_var + norm.eps)
        shift = norm.bias.detach() - norm.running_mean * scale
        old = block.pointwise
        fused = nn.Conv2d(old.in_channels, old.out_channels, 1, bias=True)
        with torch.no_grad():
            fused.weight.copy_(old.weight * scale[:, None, None, None])
            fused.bias.copy_(shift)
        block.pointwise = fused.to(old.weight.device)
        block.norm = nn.Identity()
    return folded


def build_model(
    name: str,
    channels: int,
    residual: Residual = "paper",
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
    """
    config = preset_config(name, channels, residual)
    return S5DSCR(
        config.channels, config.layers, config.kernel_size, config.multiplier, config.residual
    )


def model_from_config(config: ModelConfig | dict[str, int | str]) -> S5DSCR:
    """Module built from a :class:`ModelConfig` or its dict (e.g. stored with the weights)."""
    if isinstance(config, dict):
        config = ModelConfig(**config)  # type: ignore[arg-type]
    return S5DSCR(
        config.channels, config.layers, config.kernel_size, config.multiplier, config.residual
    )


__all__ = [
    "PRESETS",
    "S5DSCR",
    "DepthSeparableBlock",
    "ModelConfig",
    "bicubic_x4",
    "build_model",
    "fold_batchnorm",
    "model_from_config",
    "preset_config",
]
