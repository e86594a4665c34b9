"""Self-supervised losses on LR data alone (SPEC §6), for :mod:`xr_s5sr.selfsup`.

Boundary: torch tensors (batch, channel, scanline, ground_pixel) in, scalar losses out. The
operators (``A``, ``A f``) come in as callables (``A`` is :func:`xr_s5sr.physics.degrade` in
:mod:`xr_s5sr.selfsup`). Every loss takes an optional boolean ``mask`` (pixels that count)
and a ``weight`` (per-pixel factor applied to the error before squaring, e.g. ``1000 / s`` for
relative errors in per mille). torch is imported lazily.

* :func:`consistency_loss`: measurement consistency ``mean ‖A f(y) − y‖²``;
* :func:`sure_loss`: Stein's unbiased risk estimate of ``‖A f(y) − A x‖²`` for
  ``y = A x + N(0, σ²)``, with a one-probe Monte-Carlo divergence;
* :func:`equivariance_loss`: equivariant imaging, ``‖T x̂ − f(A T x̂)‖²`` with ``T`` a random
  shift and/or flip (:class:`Transform`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch


def _masked_mean(values: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Mean of ``values`` where ``mask`` (broadcast) is True; NaN/inf outside never leak in."""
    import torch

    if mask is None:
        return values.mean()
    full = mask.expand_as(values)
    count = full.sum().clamp_min(1)
    return torch.where(full, values, torch.zeros_like(values)).sum() / count


def _weighted(difference: torch.Tensor, weight: torch.Tensor | None) -> torch.Tensor:
    return difference if weight is None else difference * weight


def consistency_loss(
    degraded: torch.Tensor,
    y: torch.Tensor,
    mask: torch.Tensor | None = None,
    weight: torch.Tensor | None = None,
) -> torch.Tensor:
    """Measurement consistency ``mean ‖w·(A f(y) − y)‖²`` over the masked LR elements.

    Parameters
    ----------
    degraded : torch.Tensor
        ``A f(y)``, LR (B, C, h, w), radiance units.
    y : torch.Tensor
        The LR observation, same shape; values where ``mask`` is False (NaN included) are
        ignored.
    mask : torch.Tensor, optional
        bool, broadcastable to ``y``: the elements that count.
    weight : torch.Tensor, optional
        Broadcastable factor ``w`` (e.g. ``1000 / s``, 1/radiance); default 1.

    Returns
    -------
    torch.Tensor
        Scalar, (radiance · weight)²; 0 when ``degraded == y`` on the mask.

    Examples
    --------
    >>> import torch
    >>> y = torch.ones(1, 2, 3, 3)
    >>> float(consistency_loss(y + 0.5, y))
    0.25
    """
    return _masked_mean(_weighted(degraded - y, weight) ** 2, mask)


def sure_loss(
    h: Callable[[torch.Tensor], torch.Tensor],
    y: torch.Tensor,
    sigma: float | torch.Tensor,
    mask: torch.Tensor | None = None,
    weight: torch.Tensor | None = None,
    *,
    tau: float = 1e-3,
    generator: torch.Generator | None = None,
    h_y: torch.Tensor | None = None,
) -> torch.Tensor:
    """Stein's unbiased risk estimate of ``mean ‖w·(h(y) − A x)‖²`` from ``y`` alone.

    For ``y = A x + n``, ``n ~ N(0, σ²)`` element-wise and any weakly differentiable
    ``h`` (here ``h = A f``)::

        E ‖w(h(y) − A x)‖² = E [ ‖w(h(y) − y)‖² − σ² Σ w² + 2σ² Σ_j w_j² ∂h_j/∂y_j ]

    summed over the masked elements. The divergence is estimated with one Gaussian probe
    ``b`` (zero outside the mask) and a finite difference
    ``Σ_j w_j² b_j (h(y + εb) − h(y))_j / ε``, unbiased for ``h`` linear and to O(ε)
    otherwise; ``ε = tau · RMS(y on the mask)`` is scaled to the data. ``w`` must not depend
    on the noise (the local scale averages 25·C values: its noise is negligible).

    Parameters
    ----------
    h : callable
        LR → LR map (e.g. ``lambda v: degrade(f(v), band, axes=(2, 3))``), differentiable.
    y : torch.Tensor
        LR observation (B, C, h, w), finite, radiance units.
    sigma : float or torch.Tensor
        Noise sigma, radiance units (scalar or broadcastable per element).
    mask : torch.Tensor, optional
        bool, broadcastable to ``y``: the elements that count (and are probed).
    weight : torch.Tensor, optional
        Broadcastable ``w`` (1/radiance); default 1.
    tau : float, default 1e-3
        Relative finite-difference step.
    generator : torch.Generator, optional
        CPU generator of the probe (seeded runs are reproducible).
    h_y : torch.Tensor, optional
        ``h(y)`` if already computed (saves one evaluation).

    Returns
    -------
    torch.Tensor
        Scalar, (radiance · weight)² per element; differentiable through ``h``.
    """
    import torch

    if h_y is None:
        h_y = h(y)
    full = torch.ones_like(y, dtype=torch.bool) if mask is None else mask.expand_as(y)
    count = full.sum().clamp_min(1)
    w2 = torch.ones_like(y) if weight is None else (weight**2).expand_as(y)
    w2 = torch.where(full, w2, torch.zeros_like(w2))
    variance = torch.as_tensor(sigma, dtype=y.dtype, device=y.device) ** 2
    probe = torch.randn(y.shape, generator=generator, dtype=y.dtype).to(y.device)
    probe = torch.where(full, probe, torch.zeros_like(probe))
    level = torch.sqrt(torch.where(full, y, torch.zeros_like(y)).pow(2).sum() / count).detach()
    epsilon = tau * (level if float(level) > 0 else torch.ones_like(level))
    change = h(y + epsilon * probe) - h_y
    divergence = (variance * w2 * probe * change).sum() / epsilon  # σ² Σ w² ∂h_j/∂y_j
    misfit = torch.where(full, w2 * (h_y - y) ** 2, torch.zeros_like(y)).sum()
    return (misfit - (variance * w2).sum() + 2 * divergence) / count


@dataclass(frozen=True)
class Transform:
    """A shift and flips of HR tensors: the group of the equivariance loss.

    Applied to the last two axes (scanline, ground_pixel): circular shift by ``shift`` HR
    pixels, then flips. The wrap-around lands in the window's context, never in a loss.

    Attributes
    ----------
    shift : (int, int)
        HR pixels along scanline and ground_pixel (any sign).
    flip_scanline, flip_pixel : bool
        Reverse the axis.
    """

    shift: tuple[int, int] = (0, 0)
    flip_scanline: bool = False
    flip_pixel: bool = False

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        import torch

        out = torch.roll(x, shifts=self.shift, dims=(-2, -1)) if any(self.shift) else x
        dims = [d for d, on in ((-2, self.flip_scanline), (-1, self.flip_pixel)) if on]
        return torch.flip(out, dims=dims) if dims else out

    @property
    def is_identity(self) -> bool:
        """True when the transform changes nothing."""
        return not any(self.shift) and not self.flip_scanline and not self.flip_pixel

    @classmethod
    def random(cls, rng: np.random.Generator, max_shift: int, flips: bool) -> Transform:
        """A random non-identity transform: shifts uniform in ±``max_shift``, flips p = ½."""
        while True:
            shift = tuple(int(v) for v in rng.integers(-max_shift, max_shift + 1, 2))
            flip = rng.random(2) < 0.5 if flips else (False, False)
            transform = cls((shift[0], shift[1]), bool(flip[0]), bool(flip[1]))
            if not transform.is_identity:
                return transform


def equivariance_loss(
    f: Callable[[torch.Tensor], torch.Tensor],
    degrade: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    transform: Callable[[torch.Tensor], torch.Tensor],
    mask: torch.Tensor | None = None,
    weight: torch.Tensor | None = None,
    *,
    noise_sigma: float = 0.0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Equivariant-imaging loss ``mean ‖w·(T x − f(A T x + n'))‖²`` with ``x = f(y)`` detached.

    ``T x`` is a pseudo-HR image the network should recover from its own degradation; ``x``
    is detached (no gradient through the pseudo-target), the gradient flows through the
    second pass ``f(A T x + n')`` only. ``mask`` and ``weight`` are transformed with ``T`` too.

    ``n'`` is fresh Gaussian noise of sigma ``noise_sigma`` (robust equivariant imaging, Chen,
    Tachella and Davies, CVPR 2022): ``A T x`` alone is nearly noise-free, so without
    ``n'`` the loss would teach ``f`` to reproduce noise-free data only and to keep whatever
    noise ``x`` carries; with ``n'`` it rewards removing noise that the target does not hold,
    including the part the blur hides from SURE (the null space of ``A``).

    Parameters
    ----------
    f : callable
        The network, LR (B, C, h, w) → HR (B, C, 4h, 4w).
    degrade : callable
        ``A``, HR → LR.
    x : torch.Tensor
        ``f(y)``, HR (B, C, 4h, 4w), radiance units.
    transform : callable
        ``T`` on HR tensors (e.g. :class:`Transform`).
    mask : torch.Tensor, optional
        bool HR mask (broadcastable to ``x``) of the elements that count, before ``T``.
    weight : torch.Tensor, optional
        Broadcastable HR factor ``w``, before ``T``.
    noise_sigma : float, default 0
        Sigma of the noise added to ``A T x``, radiance units (the data's).
    generator : torch.Generator, optional
        CPU generator of that noise (seeded runs are reproducible).

    Returns
    -------
    torch.Tensor
        Scalar, (radiance · weight)².
    """
    import torch

    target = transform(x.detach())
    measured = degrade(target)
    if noise_sigma > 0:
        noise = torch.randn(measured.shape, generator=generator, dtype=measured.dtype)
        measured = measured + noise_sigma * noise.to(measured.device)
    estimate = f(measured)
    mask_t = None if mask is None else transform(mask)
    weight_t = None if weight is None else transform(weight)
    return _masked_mean(_weighted(estimate - target, weight_t) ** 2, mask_t)


__all__ = ["Transform", "consistency_loss", "equivariance_loss", "sure_loss"]
