"""Physics of the ×4 degradation on arrays: the operator A, its adjoint, the training-free inverse
and the exact data-consistency projection (SPEC §2 and §6).

Boundary: arrays only (numpy arrays or torch tensors; computed with torch, so autograd flows
through every operator in training). No xarray, no dask: the
tiling engine (:mod:`xr_s5sr.engine`) cuts dask arrays into blocks with the halos given by the
``*_reach`` functions here, which bound how far every operator looks, in LR pixels.

The operators ``A``, ``Aᵀ`` and ``U`` themselves (and the banded filter they run on) are defined
once in :mod:`xr_s5sr.operators`; this module composes them. Notation along one axis (HR length
``N``, LR length ``n = N // 4``), ``h`` the band's 1-D kernel (:func:`xr_s5sr.bands.band_kernels`):

* ``A``, ``Aᵀ``: blur and decimate, and its adjoint (:func:`xr_s5sr.operators.degrade_operator`,
  :func:`xr_s5sr.operators.adjoint_operator`).
* ``G = A Aᵀ``: away from the image edges a symmetric Toeplitz operator on the LR grid whose
  kernel is the autocorrelation of ``h`` at lags ``4k``. Its inverse is applied as a short
  symmetric FIR filter (:func:`gram_inverse_taps`, truncated where the taps fall below 1e-9 of the
  centre tap), per axis, since the 2-D ``A Aᵀ`` is the product of the two 1-D ones.
* ``U``: cubic interpolation (Keys, a = −0.5) at the degradation geometry, HR pixel ``4j + 2``
  exactly LR pixel ``j`` (:func:`xr_s5sr.operators.upsample`).

The training-free inverse is iterative back-projection ``x ← x + U(y − A x)`` from ``x = U y``
(:func:`backproject`). The projection ``x ← x + Aᵀ G⁻¹ (y − A x)`` (:func:`project`) returns the
HR image closest to ``x`` (least squares) whose degradation is ``y``; it is linear and
shift-invariant, so it commutes with a scaling of the radiance and with tiling. Near the image
edges the zero padding of ``A`` makes ``G`` differ from its Toeplitz interior: the projection is
exact in the interior only (at most :func:`projection_reach` LR pixels from an edge).
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING, Any

import numpy as np

from xr_s5sr.bands import HALF_TAPS, SCALE, band_kernels
from xr_s5sr.operators import (
    DEGRADE_REACH,
    AxisOperator,
    active_channels,
    adjoint_operator,
    degrade_nonzero,
    degrade_operator,
    interpolation_operator,
)

# The operators' tensor forms under the names this module has always used for them; and A, Aᵀ
# and U themselves, defined here before xr_s5sr.operators (their home) and still importable.
from xr_s5sr.operators import adjoint_tensor as _adjoint
from xr_s5sr.operators import as_tensor as _torch
from xr_s5sr.operators import degrade as degrade
from xr_s5sr.operators import degrade_adjoint as degrade_adjoint
from xr_s5sr.operators import degrade_tensor as _degrade
from xr_s5sr.operators import restore as _back
from xr_s5sr.operators import upsample as upsample
from xr_s5sr.operators import upsample_tensor as _upsample

if TYPE_CHECKING:
    import torch

#: Relative size below which taps of the inverse Gram filter are dropped.
GRAM_TOLERANCE = 1e-9
#: Default iterations of :func:`backproject` (SPEC §6).
BACKPROJECTION_ITERATIONS = 8
#: LR pixels, each side, of the cubic interpolation (taps ``j − 2 … j + 2`` with the phases).
UPSAMPLE_REACH = 2


@lru_cache(maxsize=32)
def gram_inverse_taps(band: int, which: int, regularisation: float = 0.0) -> np.ndarray:
    """Symmetric FIR taps (float64, odd length) of ``(A Aᵀ + μ)⁻¹`` along one axis of a band.

    Parameters
    ----------
    band : int
        S5P band.
    which : {0, 1}
        0: scanline kernel ``h_x``, 1: ground_pixel kernel ``h_y``.
    regularisation : float, default 0
        ``μ`` added to the Gram's symbol (Tikhonov weight; 0: the exact inverse).

    Returns
    -------
    numpy.ndarray
        Taps ``c[-R] … c[R]``, read-only: the inverse of the Toeplitz symbol of ``A Aᵀ``,
        truncated where the taps fall below ``GRAM_TOLERANCE`` of the centre tap.

    Examples
    --------
    >>> taps = gram_inverse_taps(3, 0)
    >>> taps.size % 2, bool(taps[taps.size // 2] > 0)
    (1, True)
    """
    kernel = band_kernels(band)[which][: 2 * HALF_TAPS]
    autocorrelation = np.correlate(kernel, kernel, mode="full")  # lags −39 … 39
    lags = np.arange(-((kernel.size - 1) // SCALE), (kernel.size - 1) // SCALE + 1)
    gram = autocorrelation[kernel.size - 1 + SCALE * lags]
    size = 4096
    spectrum = np.zeros(size)
    spectrum[lags % size] = gram
    inverse = np.real(np.fft.ifft(1.0 / (np.fft.fft(spectrum) + regularisation)))
    centre = abs(inverse[0])
    radius = int(np.max(np.nonzero(np.abs(inverse[: size // 2]) > GRAM_TOLERANCE * centre)))
    taps = np.concatenate([inverse[size - radius :], inverse[: radius + 1]])
    taps.setflags(write=False)
    return taps


@lru_cache(maxsize=64)
def gram_inverse_operator(band: int, which: int, regularisation: float = 0.0) -> AxisOperator:
    """``(A Aᵀ + μ)⁻¹`` along one axis as an LR filter (:func:`gram_inverse_taps`), zero outside."""
    taps = gram_inverse_taps(band, which, regularisation)
    return AxisOperator(taps[None, :], 1, -(taps.size // 2), "zero", segment=16)


@lru_cache(maxsize=16)
def gram_matrix_inverse(band: int, which: int, n: int, regularisation: float = 0.0) -> np.ndarray:
    """Exact inverse (float64, ``n × n``) of ``A Aᵀ + μ I`` along one axis of ``n`` LR pixels.

    Unlike the Toeplitz taps of :func:`gram_inverse_taps` it includes the image edges, where
    the zero padding of ``A`` changes ``A Aᵀ``; used along ground_pixel, which is never tiled.
    """
    identity = _torch(np.eye(n))[0]
    adjoint = adjoint_operator(band, which).apply(identity, 0, SCALE * n)
    gram = degrade_operator(band, which).apply(adjoint, 0, n).numpy()
    inverse = np.linalg.inv(gram + regularisation * np.eye(n))
    inverse.setflags(write=False)
    return inverse


def _gram_solve(
    misfit: torch.Tensor, band: int, axes: tuple[int, int], regularisation: float = 0.0
) -> torch.Tensor:
    """``(A Aᵀ)⁻¹`` on LR data: Toeplitz taps along scanline, exact along ground_pixel; with
    ``μ`` each axis's factor gets ``+ μ`` (separable Tikhonov, :func:`gram_solve`)."""
    import torch

    scanline = gram_inverse_operator(band, 0, regularisation)
    misfit = scanline.apply(misfit, axes[0], misfit.shape[axes[0]])
    n = misfit.shape[axes[1]]
    inverse = torch.tensor(
        gram_matrix_inverse(band, 1, n, regularisation), dtype=misfit.dtype, device=misfit.device
    )
    moved = misfit.movedim(axes[1], -2)
    return torch.matmul(inverse, moved).movedim(-2, axes[1])


def gram_solve(
    misfit: Any, band: int, axes: tuple[int, int] = (0, 1), regularisation: float = 0.0
) -> Any:
    """``(A Aᵀ)⁻¹`` applied to an LR array (see :func:`project`).

    With ``regularisation = μ > 0``: ``((G_s + μ)⁻¹ ⊗ (G_p + μ)⁻¹)`` for ``A Aᵀ = G_s ⊗ G_p``
    (scanline ⊗ ground_pixel), a separable Tikhonov inverse: each eigen-pair of the Gram is
    divided by ``(d_s + μ)(d_p + μ)`` instead of ``d_s d_p``, so the modes the blur nearly
    erases (``d ≪ μ``), where a misfit is mostly noise, are not amplified.
    """
    tensor, was_numpy = _torch(misfit)
    return _back(_gram_solve(tensor, band, axes, regularisation), was_numpy)


#: Share of nonzero values up to which :func:`degrade_with_spill` sums the nonzero values'
#: footprints instead of filtering the whole block: at 0.5 % a 128 × 1800 × 16 block costs
#: about half the dense product, at 2 % about twice (benchmarks/bench_nonnegative.py).
SPARSE_SHARE = 0.005


def degrade_with_spill(x: Any, band: int, spill: int = DEGRADE_REACH) -> Any:
    """``A`` of an HR block (axes 0, 1 = scanline, ground_pixel) seen as zero outside it.

    Returns ``n + 2·spill`` LR scanlines: the block's contribution to the degradation of the
    scanlines from ``spill`` before its first to ``spill`` after its last LR scanline. Summed over
    consecutive blocks (overlapping by ``2·spill``) it gives the degradation of the whole image.
    A finite numpy block with at most :data:`SPARSE_SHARE` nonzero values is summed from them
    (:func:`xr_s5sr.operators.degrade_nonzero`: the same values).
    """
    import torch

    if _mostly_zero(x):
        return degrade_nonzero(x, band, spill)
    active = active_channels(x, (0, 1))
    if active is not None:
        out = np.zeros((x.shape[0] // SCALE + 2 * spill, x.shape[1] // SCALE, x.shape[2]), x.dtype)
        if active.size:
            out[..., active] = degrade_with_spill(x[..., active], band, spill)
        return out
    tensor, was_numpy = _torch(x)
    pad = tensor.new_zeros((SCALE * spill, *tensor.shape[1:]))
    padded = torch.cat([pad, tensor, pad])
    return _back(_degrade(padded, band, (0, 1)), was_numpy)


def _mostly_zero(x: Any) -> bool:
    """A finite 3-D numpy block with at most :data:`SPARSE_SHARE` nonzero values."""
    if not isinstance(x, np.ndarray) or x.ndim != 3 or not x.size:
        return False
    return bool(np.count_nonzero(x) <= SPARSE_SHARE * x.size and np.isfinite(x).all())


def _project(
    x: torch.Tensor, y: torch.Tensor, band: int, axes: tuple[int, int], regularisation: float
) -> torch.Tensor:
    misfit = _gram_solve(y - _degrade(x, band, axes), band, axes, regularisation)
    return x + _adjoint(misfit, band, (x.shape[axes[0]], x.shape[axes[1]]), axes)


def project(
    x: Any, y: Any, band: int, axes: tuple[int, int] = (0, 1), regularisation: float = 0.0
) -> Any:
    """Exact data-consistency projection: the HR array closest to ``x`` whose degradation is ``y``.

    ``x + Aᵀ (A Aᵀ)⁻¹ (y − A x)``, the inverse applied per axis: Toeplitz taps along scanline
    (:func:`gram_inverse_taps`, exact away from the first and last scanlines), the exact matrix
    along ground_pixel (:func:`gram_matrix_inverse`, edges included).
    Linear in ``(x, y)`` and shift-invariant: ``project(a·x, a·y) = a·project(x, y)``.

    Parameters
    ----------
    x : numpy.ndarray or torch.Tensor
        HR estimate, 4× the LR size along ``axes``.
    y : numpy.ndarray or torch.Tensor
        LR observation, same dtype and type as ``x``.
    band : int
        S5P band (selects ``A``).
    axes : tuple of int
        Axes of (scanline, ground_pixel), the same in ``x`` and ``y``.
    regularisation : float, default 0
        Tikhonov weight ``μ`` of :func:`gram_solve`: 0 is the exact projection; ``μ > 0``
        leaves the misfit of the modes the blur nearly erases (noise-aware consistency).

    Returns
    -------
    numpy.ndarray or torch.Tensor
        New array (``x`` is not modified); with ``μ = 0``, ``degrade(result) == y`` to float
        rounding at least
        :func:`projection_reach` LR scanlines away from the first and last scanline.
    """
    x_tensor, was_numpy = _torch(x)
    y_tensor, _ = _torch(y)
    return _back(_project(x_tensor, y_tensor, band, axes, regularisation), was_numpy)


@lru_cache(maxsize=64)
def degraded_interpolation_operator(band: int, which: int) -> AxisOperator:
    """``A U`` along one axis as an LR filter: interpolate ×4, then degrade (zero outside).

    Iterative back-projection only ever degrades what it interpolated, so it runs on the LR
    grid with this short filter (:func:`backproject`); taps below 1e-12 are dropped.
    """
    size = 64
    impulse = np.zeros((size, 1))
    impulse[size // 2] = 1.0
    response = (
        degrade_operator(band, which)
        .apply(interpolation_operator().apply(_torch(impulse)[0], 0, SCALE * size), 0, size)[:, 0]
        .numpy()
    )
    taps = response[::-1]  # out[j] = Σ_k taps[k] in[j + k]: taps[k] = response[centre − k]
    keep = np.nonzero(np.abs(taps) > 1e-12 * np.abs(taps).max())[0]
    radius = int(max(size // 2 - keep.min(), keep.max() - size // 2 + 1))
    centre = size // 2 - 1  # index of k = 0 after the reversal
    weights = taps[centre - radius : centre + radius + 1]
    return AxisOperator(weights[None, :].copy(), 1, -radius, "zero", segment=16)


def backprojection_coefficients(
    y: Any,
    band: int,
    axes: tuple[int, int] = (0, 1),
    iterations: int = BACKPROJECTION_ITERATIONS,
    regularisation: float | np.ndarray = 0.0,
) -> Any:
    """LR coefficients ``c`` of ``backproject(y) = U c``: ``c ← c + y − (A U) c`` from ``y``;
    with ``μ > 0`` the damped step of :func:`backproject` (``μ`` a number or an array
    broadcastable to ``y``, e.g. one per scanline: the step is pointwise)."""
    tensor, was_numpy = _torch(y)
    if isinstance(regularisation, np.ndarray):
        # A μ per pixel (e.g. per scanline, broadcastable to y): pointwise damping.
        return _back(
            _backproject_lr(tensor, band, axes, iterations, _torch(regularisation)[0]), was_numpy
        )
    return _back(_backproject_lr(tensor, band, axes, iterations, regularisation), was_numpy)


def _backproject_lr(
    y: torch.Tensor,
    band: int,
    axes: tuple[int, int],
    iterations: int,
    regularisation: float | torch.Tensor = 0.0,
) -> torch.Tensor:
    coefficients = y
    damped = not isinstance(regularisation, float | int) or regularisation != 0
    for _ in range(iterations):
        degraded = coefficients
        for which, axis in enumerate(axes):
            operator = degraded_interpolation_operator(band, which)
            degraded = operator.apply(degraded, axis, degraded.shape[axis])
        step = y - degraded
        if damped:
            # Damped step towards (A U + μ)⁻¹ (1 + μ) y: as μ grows, c stays at y (U y).
            step = (step - regularisation * (coefficients - y)) / (1.0 + regularisation)
        coefficients = coefficients + step
    return coefficients


def backproject(
    y: Any,
    band: int,
    axes: tuple[int, int] = (0, 1),
    iterations: int = BACKPROJECTION_ITERATIONS,
    regularisation: float = 0.0,
) -> Any:
    """Training-free inverse: iterative back-projection ``x ← x + U(y − A x)`` from ``x = U y``.

    Every iterate is ``U c`` for LR coefficients ``c`` (``x₀ = U y``, and each step adds
    ``U(y − A U c)``), so the iterations run on the LR grid with the short filter ``A U``
    (:func:`degraded_interpolation_operator`) and only the final ``U c`` is on the HR grid:
    the cost of one interpolation, whatever the number of iterations. Away from the image
    edges this equals the HR-grid iteration to float rounding; within
    :func:`backprojection_reach` LR pixels of an edge the LR filter sees zeros where the HR
    iteration sees clamped interpolation, a small difference.

    Parameters
    ----------
    y : numpy.ndarray or torch.Tensor
        LR radiance.
    band : int
        S5P band (selects ``A``).
    axes : tuple of int
        Axes of (scanline, ground_pixel).
    iterations : int, default 8
        Back-projection steps (0: the cubic interpolation alone).
    regularisation : float, default 0
        Damping μ (dimensionless, the weight of :func:`project`): each step becomes
        ``c ← c + (y − A U c − μ (c − y)) / (1 + μ)``, which converges to
        ``(A U + μ)⁻¹ (1 + μ) y`` instead of ``(A U)⁻¹ y``: the modes the blur nearly erases
        keep their interpolated value instead of being amplified with the noise. μ → ∞ gives
        ``U y``; μ = 0 the undamped iteration.

    Returns
    -------
    numpy.ndarray or torch.Tensor
        HR estimate, 4× larger along ``axes``, same dtype. Linear in ``y``.
    """
    tensor, was_numpy = _torch(y)
    coefficients = _backproject_lr(tensor, band, axes, iterations, regularisation)
    return _back(_upsample(coefficients, axes, "cubic"), was_numpy)


def projection_reach(band: int, which: int = 0) -> int:
    """LR pixels each side that :func:`project` reads of ``x`` and ``y``, along scanline
    (``which=0``) or ground_pixel (``which=1``, where the exact edge-aware inverse is used
    but decays like the taps, so cropping beyond this reach changes it by < 1e-9)."""
    return 2 * DEGRADE_REACH + gram_inverse_taps(band, which).size // 2


#: Relative size of the ``(A Aᵀ)⁻¹`` taps beyond which a window's consistency step ignores its
#: surroundings (:func:`window_halo`).
WINDOW_TOLERANCE = 1e-7


@lru_cache(maxsize=64)
def window_halo(band: int, regularisation: float = 0.0) -> int:
    """LR scanlines each side that a window of the consistency step reads beyond its own rows
    (:func:`xr_s5sr.physics_graph.consistent_window`): where the taps of ``(A Aᵀ + μ)⁻¹`` fall
    below :data:`WINDOW_TOLERANCE` of the centre tap, plus 2 rows for the spread of the
    non-negative iterations. Measured (docs/scripts/window_halo.py): a window's rows then equal
    the whole granule's result within 1e-6 of its scale, with and without the non-negative
    step. 7 rows for bands 3 to 6, 16 for bands 1 and 2, 24 for bands 7 and 8."""
    taps = np.abs(gram_inverse_taps(band, 0, regularisation))
    return _decayed_reach(taps[taps.size // 2 :])


def _decayed_reach(profile: np.ndarray) -> int:
    """Rows of context for a response ``profile`` (its magnitude at distance 0, 1, …): the
    last distance where it is at least :data:`WINDOW_TOLERANCE` of its value at 0, plus 2."""
    return int(np.max(np.nonzero(profile >= WINDOW_TOLERANCE * profile[0]))) + 2


def window_reach(band: int) -> int:
    """LR rows each side of a block that its consistency window reads of the estimate and the
    lower bound: :func:`window_halo` plus the spill of ``A``
    (:data:`~xr_s5sr.operators.DEGRADE_REACH`)."""
    return window_halo(band) + DEGRADE_REACH


def backprojection_reach(
    band: int, iterations: int = BACKPROJECTION_ITERATIONS, which: int = 0
) -> int:
    """LR pixels each side that :func:`backproject` reads of ``y``, along scanline
    (``which=0``) or ground_pixel (``which=1``)."""
    radius = degraded_interpolation_operator(band, which).weights.shape[1] // 2
    return UPSAMPLE_REACH + iterations * radius


@lru_cache(maxsize=64)
def backprojection_halo(band: int, iterations: int = BACKPROJECTION_ITERATIONS) -> int:
    """LR scanlines each side that the back-projection coefficients of a block of rows read
    in the engine: where the impulse response of :func:`backprojection_coefficients` (μ = 0,
    its longest) falls below :data:`WINDOW_TOLERANCE` of its peak, plus 2 rows. Its formal
    reach (:func:`backprojection_reach`, ~58 rows for 8 iterations) is ~6× longer, but the
    response decays by ~1e-3 every 4 rows: 11 to 12 rows for 8 iterations."""
    reach = backprojection_reach(band, iterations)
    impulse = np.zeros((2 * reach + 1, 9, 1), np.float32)
    impulse[reach, 4, 0] = 1.0
    response = np.abs(np.asarray(backprojection_coefficients(impulse, band, iterations=iterations)))
    return _decayed_reach(response[reach:, :, 0].max(axis=1))


__all__ = [
    "BACKPROJECTION_ITERATIONS",
    "SPARSE_SHARE",
    "backproject",
    "backprojection_coefficients",
    "backprojection_halo",
    "backprojection_reach",
    "degrade_with_spill",
    "gram_inverse_taps",
    "gram_matrix_inverse",
    "gram_solve",
    "project",
    "projection_reach",
    "window_halo",
    "window_reach",
]
