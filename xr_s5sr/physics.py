"""Physics of the ×4 degradation on arrays: the operator A, its adjoint, the training-free inverse
and the exact data-consistency projection (SPEC §2 and §6).

Boundary: arrays only (numpy arrays or torch tensors; computed with torch, so autograd flows
through every operator in training). No xarray, no dask: the
tiling engine (:mod:`xr_s5sr.engine`) cuts dask arrays into blocks with the halos given by the
``*_reach`` functions here, which bound how far every operator looks, in LR pixels.

Notation along one axis (HR length ``N``, LR length ``n = N // 4``), ``h`` the band's 1-D kernel
of :func:`xr_s5sr.degrade.band_kernels` (taps at HR offsets −20 … 19, zero outside the image):

* ``A``: ``(A x)[j] = Σ_t h[t] x[4j + 2 + t − 20]`` — blur and decimate (:func:`degrade_operator`);
  the 2-D operator applies it along scanline with ``h_x`` and along ground_pixel with ``h_y``.
* ``Aᵀ``: its adjoint, ``(Aᵀ e)[4j + 2 + t − 20] += h[t] e[j]`` (:func:`adjoint_operator`).
* ``G = A Aᵀ``: away from the image edges a symmetric Toeplitz operator on the LR grid whose
  kernel is the autocorrelation of ``h`` at lags ``4k``. Its inverse is applied as a short
  symmetric FIR filter (:func:`gram_inverse_taps`, truncated where the taps fall below 1e-9 of the
  centre tap), per axis, since the 2-D ``A Aᵀ`` is the product of the two 1-D ones.
* ``U``: cubic interpolation (Keys, a = −0.5) at the degradation geometry: HR pixel ``i`` sits at
  LR fractional index ``(i − 2)/4``, so HR pixel ``4j + 2`` is exactly LR pixel ``j``; edges
  clamped (:func:`upsample`).

The training-free inverse is iterative back-projection ``x ← x + U(y − A x)`` from ``x = U y``
(:func:`backproject`). The projection ``x ← x + Aᵀ G⁻¹ (y − A x)`` (:func:`project`) returns the
HR image closest to ``x`` (least squares) whose degradation is ``y``; it is linear and
shift-invariant, so it commutes with a scaling of the radiance and with tiling. Near the image
edges the zero padding of ``A`` makes ``G`` differ from its Toeplitz interior: the projection is
exact in the interior only (at most :func:`projection_reach` LR pixels from an edge).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from xr_s5sr.bands import SCALE
from xr_s5sr.degrade import HALF_TAPS, band_kernels

if TYPE_CHECKING:
    import torch

#: Keys cubic parameter of :func:`upsample` (−0.5: the interpolating cubic of third order).
KEYS_A = -0.5
#: Relative size below which taps of the inverse Gram filter are dropped.
GRAM_TOLERANCE = 1e-9
#: Default iterations of :func:`backproject` (SPEC §6).
BACKPROJECTION_ITERATIONS = 8
#: LR pixels, each side, that one application of ``A`` or ``Aᵀ`` reaches: HR taps −20 … 19
#: around HR pixel ``4j + 2`` span LR pixels ``j − 5 … j + 5``.
DEGRADE_REACH = 6
#: LR pixels, each side, of the cubic interpolation (taps ``j − 2 … j + 2`` with the phases).
UPSAMPLE_REACH = 2

#: Columns (elements after the filtered axis) per matrix product on long rows.
_COLUMN_BLOCK = 8192

Boundary = Literal["zero", "clamp"]
Interpolation = Literal["cubic", "linear"]


@dataclass(frozen=True, eq=False)
class AxisOperator:
    """A periodic FIR filter along one axis, run as a few dense matrix products.

    Output step ``s`` gives the outputs ``P·s + q`` (``q < P`` phases) as
    ``Σ_w weights[q, w] · input[stride·s + first + w]``; inputs outside the axis are 0
    (``boundary="zero"``) or the nearest edge value (``"clamp"``). Every operator of this
    module (decimating blur, its adjoint, interpolation, LR filters) has this form. The axis is
    cut into windows of ``segment`` steps, each one product with a small dense matrix: a
    banded filter at the speed of a matrix product, differentiable in torch.

    Attributes
    ----------
    weights : numpy.ndarray
        ``(P, width)`` float64 taps.
    stride : int
        Input pixels per output step.
    first : int
        Input offset of tap 0 of step 0 (negative: reaches before the start).
    boundary : {"zero", "clamp"}
        Values outside the axis.
    segment : int
        Output steps per matrix product.
    """

    weights: np.ndarray
    stride: int
    first: int
    boundary: Boundary = "zero"
    segment: int = 8

    @property
    def phases(self) -> int:
        """Outputs per step."""
        return int(self.weights.shape[0])

    def segment_matrix(self, like: torch.Tensor) -> torch.Tensor:
        """``(segment·P, window)`` matrix of one window, in the dtype and device of ``like``."""
        import torch

        phases, width = self.weights.shape
        window = self.segment * self.stride + width - self.stride
        matrix = np.zeros((self.segment * phases, window))
        for step in range(self.segment):
            start = step * self.stride
            matrix[step * phases : (step + 1) * phases, start : start + width] = self.weights
        return torch.from_numpy(matrix).to(dtype=like.dtype, device=like.device)

    def apply(self, x: torch.Tensor, axis: int, n_out: int) -> torch.Tensor:
        """The filter along ``axis`` of ``x``, giving ``n_out`` outputs there."""

        axis %= x.ndim
        columns = math.prod(x.shape[axis + 1 :])
        if columns > 2 * _COLUMN_BLOCK and not x.requires_grad:
            # Long rows (e.g. ground_pixel × channel): products over column blocks that stay
            # in the cache run ~2.5× faster than one product over whole rows.
            flat = x.reshape(*x.shape[: axis + 1], columns)
            out = x.new_empty((*x.shape[:axis], n_out, columns))
            for start in range(0, columns, _COLUMN_BLOCK):
                block = flat[..., start : start + _COLUMN_BLOCK]
                out[..., start : start + _COLUMN_BLOCK] = self._apply(block, axis, n_out)
            return out.reshape(*x.shape[:axis], n_out, *x.shape[axis + 1 :])
        return self._apply(x, axis, n_out)

    def _apply(self, x: torch.Tensor, axis: int, n_out: int) -> torch.Tensor:
        import torch

        n_in = x.shape[axis]
        phases, width = self.weights.shape
        hop = self.segment * self.stride
        window = hop + width - self.stride
        count = max(1, -(-n_out // (self.segment * phases)))
        total = (count - 1) * hop + window
        lo, hi = self.first, self.first + total
        if self.boundary == "clamp":
            index = torch.arange(lo, hi, device=x.device).clamp_(0, n_in - 1)
            padded = x.index_select(axis, index)
        else:
            parts = []
            if lo < 0:
                parts.append(x.new_zeros(_resized(x, axis, -lo)))
            parts.append(x.narrow(axis, max(lo, 0), max(0, min(hi, n_in) - max(lo, 0))))
            if hi > n_in:
                parts.append(x.new_zeros(_resized(x, axis, hi - max(n_in, lo))))
            padded = torch.cat(parts, dim=axis) if len(parts) > 1 else parts[0].contiguous()
        windows = padded.unfold(axis, window, hop)  # axis -> count, new last dim: window
        matrix = self.segment_matrix(x)
        if axis == x.ndim - 1:
            out = windows @ matrix.t()
            out = out.reshape(*out.shape[:-2], -1)
        else:
            post = x.shape[axis + 1 :]
            stacked = windows.movedim(-1, axis + 1)
            stacked = stacked.reshape(*stacked.shape[: axis + 2], -1)
            out = torch.matmul(matrix, stacked)
            out = out.reshape(*x.shape[:axis], -1, *post)
        return out.narrow(axis, 0, n_out)


def _resized(x: Any, axis: int, size: int) -> tuple[int, ...]:
    shape = list(x.shape)
    shape[axis] = size
    return tuple(shape)


def _torch(x: Any) -> tuple[torch.Tensor, bool]:
    """``x`` as a torch tensor (numpy arrays shared, not copied) and whether it was numpy."""
    import torch

    if isinstance(x, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(x)), True
    return x, False


def _back(x: torch.Tensor, was_numpy: bool) -> Any:
    return x.detach().numpy() if was_numpy else x


@lru_cache(maxsize=64)
def degrade_operator(band: int, which: int) -> AxisOperator:
    """``A`` along one axis: the band's 40 taps around HR pixel ``4j + 2`` (SPEC §2)."""
    kernel = band_kernels(band)[which][: 2 * HALF_TAPS]
    return AxisOperator(kernel[None, :], SCALE, SCALE // 2 - HALF_TAPS, "zero", segment=8)


@lru_cache(maxsize=64)
def adjoint_operator(band: int, which: int) -> AxisOperator:
    """``Aᵀ`` along one axis: HR pixel ``4s + q`` gathers ``h[q + 18 − 4d] e[s + d]``."""
    kernel = band_kernels(band)[which][: 2 * HALF_TAPS]
    reach = DEGRADE_REACH - 1
    weights = np.zeros((SCALE, 2 * reach + 1))
    for q in range(SCALE):
        for d in range(-reach, reach + 1):
            tap = q + HALF_TAPS - SCALE // 2 - SCALE * d
            if 0 <= tap < kernel.size:
                weights[q, d + reach] = kernel[tap]
    return AxisOperator(weights, 1, -reach, "zero", segment=8)


def _keys(distance: float, a: float) -> float:
    x = abs(distance)
    if x <= 1:
        return ((a + 2) * x - (a + 3)) * x * x + 1
    if x < 2:
        return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a
    return 0.0


@lru_cache(maxsize=8)
def interpolation_operator(
    kind: Interpolation = "cubic", centre: float = -SCALE // 2, a: float = KEYS_A
) -> AxisOperator:
    """×4 interpolation along one axis, edges clamped.

    HR pixel ``i`` takes the LR axis at fractional index ``(i + centre)/4``: ``centre = −2`` is
    the degradation geometry (HR ``4j + 2`` is LR ``j``); ``centre = −1.5`` is PyTorch's
    ``align_corners=False`` bicubic (with ``a = −0.75``).
    """
    taps: dict[tuple[int, int], float] = {}
    for q in range(SCALE):
        position = (q + centre) / SCALE
        base = math.floor(position)
        fraction = position - base
        if kind == "linear":
            pairs = [(base, 1.0 - fraction), (base + 1, fraction)]
        else:
            pairs = [(base + m, _keys(fraction - m, a)) for m in (-1, 0, 1, 2)]
        for offset, weight in pairs:
            taps[(q, offset)] = taps.get((q, offset), 0.0) + weight
    offsets = [offset for _, offset in taps]
    first, last = min(offsets), max(offsets)
    weights = np.zeros((SCALE, last - first + 1))
    for (q, offset), weight in taps.items():
        weights[q, offset - first] = weight
    return AxisOperator(weights, 1, first, "clamp", segment=8)


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


def degrade_with_spill(x: Any, band: int, spill: int = DEGRADE_REACH) -> Any:
    """``A`` of an HR block (axes 0, 1 = scanline, ground_pixel) seen as zero outside it.

    Returns ``n + 2·spill`` LR scanlines: the block's contribution to the degradation of the
    scanlines from ``spill`` before its first to ``spill`` after its last LR scanline. Summed over
    consecutive blocks (overlapping by ``2·spill``) it gives the degradation of the whole image.
    """
    import torch

    active = _active_channels(x, (0, 1))
    if active is not None:
        out = np.zeros((x.shape[0] // SCALE + 2 * spill, x.shape[1] // SCALE, x.shape[2]), x.dtype)
        if active.size:
            out[..., active] = degrade_with_spill(x[..., active], band, spill)
        return out
    tensor, was_numpy = _torch(x)
    pad = tensor.new_zeros((SCALE * spill, *tensor.shape[1:]))
    padded = torch.cat([pad, tensor, pad])
    return _back(_degrade(padded, band, (0, 1)), was_numpy)


def _degrade(x: torch.Tensor, band: int, axes: tuple[int, int]) -> torch.Tensor:
    for which, axis in enumerate(axes):
        x = degrade_operator(band, which).apply(x, axis, x.shape[axis] // SCALE)
    return x


def _adjoint(
    e: torch.Tensor, band: int, hr_shape: tuple[int, int], axes: tuple[int, int]
) -> torch.Tensor:
    for which in (1, 0):
        e = adjoint_operator(band, which).apply(e, axes[which], hr_shape[which])
    return e


def _upsample(y: torch.Tensor, axes: tuple[int, int], kind: Interpolation) -> torch.Tensor:
    operator = interpolation_operator(kind)
    for axis in axes:
        y = operator.apply(y, axis, SCALE * y.shape[axis])
    return y


def _project(
    x: torch.Tensor, y: torch.Tensor, band: int, axes: tuple[int, int], regularisation: float
) -> torch.Tensor:
    misfit = _gram_solve(y - _degrade(x, band, axes), band, axes, regularisation)
    return x + _adjoint(misfit, band, (x.shape[axes[0]], x.shape[axes[1]]), axes)


def _active_channels(x: Any, axes: tuple[int, int]) -> np.ndarray | None:
    """Indices of the last-axis slices of a numpy array with a nonzero value, when some are
    all zero and the last axis is not filtered (the linear operators map zeros to zeros, so
    those slices are skipped exactly); None otherwise."""
    if not isinstance(x, np.ndarray) or x.ndim < 3 or (x.ndim - 1) in {a % x.ndim for a in axes}:
        return None
    if x.size == 0:
        return None
    active = np.flatnonzero(np.any(x.reshape(-1, x.shape[-1]) != 0, axis=0))
    return None if active.size == x.shape[-1] else active


def _lr_shape(shape: tuple[int, ...], axes: tuple[int, int]) -> tuple[int, ...]:
    lr = list(shape)
    for axis in axes:
        lr[axis] = shape[axis] // SCALE
    return tuple(lr)


def degrade(x: Any, band: int, axes: tuple[int, int] = (0, 1)) -> Any:
    """``A``: the band's degradation (SPEC §2) along the (scanline, ground_pixel) ``axes``.

    The same values as :func:`xr_s5sr.degrade.degrade_array` (to float rounding), for numpy
    arrays or torch tensors (differentiable). numpy in → numpy out.

    Examples
    --------
    >>> degrade(np.ones((16, 12, 2), np.float32), band=3).shape
    (4, 3, 2)
    """
    active = _active_channels(x, axes)
    if active is not None:
        out = np.zeros(_lr_shape(x.shape, axes), x.dtype)
        if active.size:
            out[..., active] = degrade(x[..., active], band, axes)
        return out
    tensor, was_numpy = _torch(x)
    return _back(_degrade(tensor, band, axes), was_numpy)


def degrade_adjoint(
    e: Any, band: int, hr_shape: tuple[int, int], axes: tuple[int, int] = (0, 1)
) -> Any:
    """``Aᵀ``: adjoint of :func:`degrade` onto an HR grid of ``hr_shape`` (scanline, pixel)."""
    active = _active_channels(e, axes)
    if active is not None:
        shape = list(e.shape)
        shape[axes[0]], shape[axes[1]] = hr_shape
        out = np.zeros(shape, e.dtype)
        if active.size:
            out[..., active] = degrade_adjoint(e[..., active], band, hr_shape, axes)
        return out
    tensor, was_numpy = _torch(e)
    return _back(_adjoint(tensor, band, hr_shape, axes), was_numpy)


def upsample(y: Any, axes: tuple[int, int] = (0, 1), kind: Interpolation = "cubic") -> Any:
    """``U``: ×4 interpolation at the degradation geometry (HR ``i`` at LR ``(i − 2)/4``).

    Parameters
    ----------
    y : numpy.ndarray or torch.Tensor
        LR values.
    axes : tuple of int
        Axes of (scanline, ground_pixel).
    kind : {"cubic", "linear"}
        Keys cubic (a = −0.5) or linear (stays within the range of its inputs); edges clamped.

    Examples
    --------
    >>> upsample(np.arange(3.0)[:, None], kind="linear")[:8, 0].tolist()
    [0.0, 0.0, 0.0, 0.25, 0.5, 0.75, 1.0, 1.25]
    """
    tensor, was_numpy = _torch(y)
    return _back(_upsample(tensor, axes, kind), was_numpy)


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
    regularisation: float = 0.0,
) -> Any:
    """LR coefficients ``c`` of ``backproject(y) = U c``: ``c ← c + y − (A U) c`` from ``y``;
    with ``μ > 0`` the damped step of :func:`backproject`."""
    tensor, was_numpy = _torch(y)
    return _back(_backproject_lr(tensor, band, axes, iterations, regularisation), was_numpy)


def _backproject_lr(
    y: torch.Tensor, band: int, axes: tuple[int, int], iterations: int, regularisation: float = 0.0
) -> torch.Tensor:
    coefficients = y
    for _ in range(iterations):
        degraded = coefficients
        for which, axis in enumerate(axes):
            operator = degraded_interpolation_operator(band, which)
            degraded = operator.apply(degraded, axis, degraded.shape[axis])
        step = y - degraded
        if regularisation:
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


def projection_reach(band: int) -> int:
    """LR pixels each side along scanline that :func:`project` reads of ``x`` and ``y``."""
    return 2 * DEGRADE_REACH + gram_inverse_taps(band, 0).size // 2


def backprojection_reach(band: int, iterations: int = BACKPROJECTION_ITERATIONS) -> int:
    """LR pixels each side along scanline that :func:`backproject` reads of ``y``."""
    radius = degraded_interpolation_operator(band, 0).weights.shape[1] // 2
    return UPSAMPLE_REACH + iterations * radius


__all__ = [
    "BACKPROJECTION_ITERATIONS",
    "AxisOperator",
    "backproject",
    "backprojection_coefficients",
    "backprojection_reach",
    "degrade",
    "degrade_adjoint",
    "degrade_with_spill",
    "gram_inverse_taps",
    "gram_matrix_inverse",
    "gram_solve",
    "interpolation_operator",
    "project",
    "projection_reach",
    "upsample",
]
