"""The linear operators of the ×4 problem, each written once: the banded filter, the Keys cubic
kernel, the degradation ``A``, its adjoint ``Aᵀ`` and the ×4 interpolations ``U`` (SPEC §2, §6).

Boundary: arrays only (numpy arrays and torch tensors); no xarray, no dask, no tiling. torch is
imported inside the functions that need it, so the numpy form of ``A``
(:meth:`AxisOperator.correlate`, used by :mod:`xr_s5sr.degrade`) works without torch.
:mod:`xr_s5sr.physics` builds the inverse and the projection on these operators,
:mod:`xr_s5sr.fused` runs the network's bicubic with them, and :mod:`xr_s5sr.degrade` wraps ``A``
for dask and xarray.

Every operator is one :class:`AxisOperator` per axis: a periodic FIR filter whose output ``P·s + q``
(``q < P``) is ``Σ_w weights[q, w] · input[stride·s + first + w]``. It has two forms, with the same
taps: a few dense matrix products (:meth:`AxisOperator.apply`, torch, differentiable, fast) and the
direct tap-by-tap sum (:meth:`AxisOperator.correlate`, numpy): a NaN there reaches only the outputs
whose support holds it, where a matrix product would spread it over its window (``0 · NaN``).

Notation along one axis (HR length ``N``, LR length ``n = N // 4``), ``h`` the band's 1-D kernel
of :func:`xr_s5sr.bands.band_kernels` (taps at HR offsets −20 … 19, zero outside the image):

* ``A``: ``(A x)[j] = Σ_t h[t] x[4j + 2 + t − 20]`` — blur and decimate (:func:`degrade_operator`);
  the 2-D operator applies it along scanline with ``h_x`` and along ground_pixel with ``h_y``.
* ``Aᵀ``: its adjoint, ``(Aᵀ e)[4j + 2 + t − 20] += h[t] e[j]`` (:func:`adjoint_operator`).
* ``U``: cubic interpolation (Keys, a = −0.5) at the degradation geometry: HR pixel ``i`` sits at
  LR fractional index ``(i − 2)/4``, so HR pixel ``4j + 2`` is exactly LR pixel ``j``; edges
  clamped (:func:`interpolation_operator`, :func:`upsample`).
* the network's bicubic ×4: Keys a = −0.75 at PyTorch's half-pixel geometry, HR pixel ``i`` at LR
  ``(i + 0.5)/4 − 0.5`` (:func:`bicubic_x4`, and :func:`bicubic_operator` as matrix products).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from xr_s5sr.bands import HALF_TAPS, SCALE, band_kernels

if TYPE_CHECKING:
    import torch

#: Keys cubic parameter of :func:`upsample` (−0.5: the interpolating cubic of third order).
KEYS_A = -0.5
#: Keys cubic parameter of PyTorch's bicubic (:func:`bicubic_x4`).
BICUBIC_A = -0.75
#: LR pixels, each side, that one application of ``A`` or ``Aᵀ`` reaches: HR taps −20 … 19
#: around HR pixel ``4j + 2`` span LR pixels ``j − 5 … j + 5``.
DEGRADE_REACH = 6

#: Columns (elements after the filtered axis) per matrix product on long rows.
_COLUMN_BLOCK = 8192

Boundary = Literal["zero", "clamp"]
Interpolation = Literal["cubic", "linear"]


@dataclass(frozen=True, eq=False)
class AxisOperator:
    """A periodic FIR filter along one axis: a banded matrix, applied as small dense products.

    Output step ``s`` gives the outputs ``P·s + q`` (``q < P`` phases) as
    ``Σ_w weights[q, w] · input[stride·s + first + w]``; inputs outside the axis are 0
    (``boundary="zero"``) or the nearest edge value (``"clamp"``). Every operator of the package
    (decimating blur, its adjoint, interpolations, LR filters) has this form. In torch
    (:meth:`apply`) the axis is cut into windows of ``segment`` steps, each one product with a
    small dense matrix: a banded filter at the speed of a matrix product, differentiable. In
    numpy (:meth:`correlate`) the taps are summed one by one, so NaNs stay local.

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

    def apply(
        self, x: torch.Tensor, axis: int, n_out: int, out: torch.Tensor | None = None
    ) -> torch.Tensor:
        """The filter along ``axis`` of a tensor, giving ``n_out`` outputs there.

        ``out``, if given, is a contiguous tensor of the result's shape written in place
        (e.g. rows of a larger, padded buffer) and returned.
        """
        axis %= x.ndim
        columns = math.prod(x.shape[axis + 1 :])
        if columns > 2 * _COLUMN_BLOCK and not x.requires_grad:
            # Long rows (e.g. ground_pixel × channel): products over column blocks that stay
            # in the cache run ~2.5× faster than one product over whole rows.
            flat = x.reshape(*x.shape[: axis + 1], columns)
            if out is None:
                out = x.new_empty((*x.shape[:axis], n_out, *x.shape[axis + 1 :]))
            flat_out = out.view(*x.shape[:axis], n_out, columns)
            for start in range(0, columns, _COLUMN_BLOCK):
                block = flat[..., start : start + _COLUMN_BLOCK]
                flat_out[..., start : start + _COLUMN_BLOCK] = self._apply(block, axis, n_out)
            return out
        result = self._apply(x, axis, n_out)
        return result if out is None else out.copy_(result)

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
            result = windows @ matrix.t()
            result = result.reshape(*result.shape[:-2], -1)
        else:
            post = x.shape[axis + 1 :]
            stacked = windows.movedim(-1, axis + 1)
            stacked = stacked.reshape(*stacked.shape[: axis + 2], -1)
            result = torch.matmul(matrix, stacked)
            result = result.reshape(*x.shape[:axis], -1, *post)
        return result.narrow(axis, 0, n_out)

    def sparse_matrix(self, n_in: int, n_out: int) -> Any:
        """The filter along an axis of ``n_in`` inputs as a ``(n_out, n_in)`` scipy CSR matrix
        (float64): the same taps as :meth:`apply`, for inputs with few nonzero values, whose
        product then costs per nonzero value instead of per pixel."""
        from scipy import sparse

        phases, width = self.weights.shape
        steps = -(-n_out // phases)
        step, phase, tap = np.meshgrid(
            np.arange(steps), np.arange(phases), np.arange(width), indexing="ij"
        )
        rows = (phases * step + phase).ravel()
        columns = (self.stride * step + self.first + tap).ravel()
        values = self.weights[phase, tap].ravel()
        if self.boundary == "clamp":
            columns = columns.clip(0, n_in - 1)
        kept = (rows < n_out) & (values != 0) & (columns >= 0) & (columns < n_in)
        # Clamped taps that meet at an edge pixel are summed (as repeated entries of COO).
        return sparse.csr_matrix((values[kept], (rows[kept], columns[kept])), shape=(n_out, n_in))

    def correlate(self, x: np.ndarray, axis: int, n_out: int) -> np.ndarray:
        """The filter along ``axis`` of a numpy array, tap by tap (no torch; NaNs stay local).

        float32 input is accumulated in float32, float64 in float64 (other dtypes: float32).
        """
        axis %= x.ndim
        steps = -(-n_out // self.phases)
        before = max(0, -self.first)
        reach = self.stride * (steps - 1) + self.first + self.weights.shape[1]
        widths = [(0, 0)] * x.ndim
        widths[axis] = (before, max(0, reach - x.shape[axis]))
        padded = np.pad(x, widths, mode="edge") if self.boundary == "clamp" else np.pad(x, widths)
        return self.correlate_padded(padded, axis, n_out, before)

    def correlate_padded(self, padded: np.ndarray, axis: int, n_out: int, lead: int) -> np.ndarray:
        """:meth:`correlate` of an axis already extended: ``padded[lead + i]`` is input ``i``.

        Every input the ``n_out`` outputs read must lie in ``padded`` (a dask block with its
        halo, say); taps that are 0 are skipped, so a NaN reaches only its support.
        """
        phases, width = self.weights.shape
        steps = -(-n_out // phases)
        accumulate = np.float64 if padded.dtype == np.float64 else np.float32
        shape = list(padded.shape)
        shape[axis] = steps * phases
        out: np.ndarray = np.zeros(shape, dtype=accumulate)
        source: list[Any] = [slice(None)] * padded.ndim
        target: list[Any] = [slice(None)] * padded.ndim
        for q in range(phases):
            target[axis] = slice(q, None, phases)
            for w in range(width):
                if self.weights[q, w] == 0.0:
                    continue
                start = lead + self.first + w
                source[axis] = slice(start, start + self.stride * (steps - 1) + 1, self.stride)
                out[tuple(target)] += accumulate(self.weights[q, w]) * padded[tuple(source)]
        if steps * phases == n_out:
            return out
        target[axis] = slice(0, n_out)
        return out[tuple(target)]


def _resized(x: Any, axis: int, size: int) -> tuple[int, ...]:
    shape = list(x.shape)
    shape[axis] = size
    return tuple(shape)


def as_tensor(x: Any) -> tuple[torch.Tensor, bool]:
    """``x`` as a torch tensor (numpy arrays shared, not copied) and whether it was numpy."""
    import torch

    if isinstance(x, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(x)), True
    return x, False


def restore(x: torch.Tensor, was_numpy: bool) -> Any:
    """An operator's result in the caller's type: numpy if the input was (:func:`as_tensor`)."""
    return x.detach().numpy() if was_numpy else x


def keys(distance: float, a: float) -> float:
    """The Keys cubic convolution kernel at ``distance`` (pixels) with parameter ``a``.

    Examples
    --------
    >>> keys(0.0, -0.5), keys(1.0, -0.5), keys(0.5, -0.5)
    (1.0, 0.0, 0.5625)
    """
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
    the degradation geometry (HR ``4j + 2`` is LR ``j``); ``centre = −1.5`` with ``a = −0.75``
    is PyTorch's ``align_corners=False`` bicubic (:func:`bicubic_operator`).
    """
    taps: dict[tuple[int, int], float] = {}
    for q in range(SCALE):
        position = (q + centre) / SCALE
        base = math.floor(position)
        fraction = position - base
        if kind == "linear":
            pairs = [(base, 1.0 - fraction), (base + 1, fraction)]
        else:
            pairs = [(base + m, keys(fraction - m, a)) for m in (-1, 0, 1, 2)]
        for offset, weight in pairs:
            taps[(q, offset)] = taps.get((q, offset), 0.0) + weight
    offsets = [offset for _, offset in taps]
    first, last = min(offsets), max(offsets)
    weights = np.zeros((SCALE, last - first + 1))
    for (q, offset), weight in taps.items():
        weights[q, offset - first] = weight
    return AxisOperator(weights, 1, first, "clamp", segment=8)


@lru_cache(maxsize=8)
def bicubic_operator(segment: int = 8) -> AxisOperator:
    """PyTorch's bicubic ×4 along one axis (:func:`bicubic_x4`) as a banded filter, ``segment``
    LR pixels per matrix product."""
    operator = interpolation_operator("cubic", centre=-1.5, a=BICUBIC_A)
    return replace(operator, segment=segment)


@lru_cache(maxsize=64)
def degrade_operator(band: int, which: int, ratio: int = SCALE) -> AxisOperator:
    """``A`` along one axis: the band's 40 taps around HR pixel ``4j + 2`` (SPEC §2).

    ``which`` is 0 for the scanline kernel ``h_x``, 1 for the ground_pixel kernel ``h_y``.
    """
    kernel = band_kernels(band, ratio)[which][: 2 * HALF_TAPS]
    return AxisOperator(kernel[None, :], ratio, ratio // 2 - HALF_TAPS, "zero", segment=8)


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


def degrade_tensor(x: torch.Tensor, band: int, axes: tuple[int, int]) -> torch.Tensor:
    """``A`` of a tensor along the (scanline, ground_pixel) ``axes`` (see :func:`degrade`)."""
    for which, axis in enumerate(axes):
        x = degrade_operator(band, which).apply(x, axis, x.shape[axis] // SCALE)
    return x


def adjoint_tensor(
    e: torch.Tensor, band: int, hr_shape: tuple[int, int], axes: tuple[int, int]
) -> torch.Tensor:
    """``Aᵀ`` of a tensor onto the HR ``hr_shape`` (see :func:`degrade_adjoint`)."""
    for which in (1, 0):
        e = adjoint_operator(band, which).apply(e, axes[which], hr_shape[which])
    return e


def upsample_tensor(y: torch.Tensor, axes: tuple[int, int], kind: Interpolation) -> torch.Tensor:
    """``U`` of a tensor along ``axes`` (see :func:`upsample`)."""
    operator = interpolation_operator(kind)
    for axis in axes:
        y = operator.apply(y, axis, SCALE * y.shape[axis])
    return y


def active_channels(x: Any, axes: tuple[int, int]) -> np.ndarray | None:
    """Indices of the last-axis slices of a numpy array with a nonzero value, when some are
    all zero and the last axis is not filtered (the linear operators map zeros to zeros, so
    those slices are skipped exactly: the corrections of the non-negative consistency step are
    zero in every channel without negative values); None otherwise."""
    if not isinstance(x, np.ndarray) or x.ndim < 3 or (x.ndim - 1) in {a % x.ndim for a in axes}:
        return None
    if x.size == 0:
        return None
    active = np.flatnonzero(np.any(x.reshape(-1, x.shape[-1]) != 0, axis=0))
    return None if active.size == x.shape[-1] else active


def degrade(x: Any, band: int, axes: tuple[int, int] = (0, 1)) -> Any:
    """``A``: the band's degradation (SPEC §2) along the (scanline, ground_pixel) ``axes``.

    The same values as :func:`xr_s5sr.degrade.degrade_array` (to float rounding), for numpy
    arrays or torch tensors (differentiable), computed as matrix products in torch. numpy in →
    numpy out.

    Examples
    --------
    >>> degrade(np.ones((16, 12, 2), np.float32), band=3).shape
    (4, 3, 2)
    """
    active = active_channels(x, axes)
    if active is not None:
        shape = list(x.shape)
        for axis in axes:
            shape[axis] = x.shape[axis] // SCALE
        out = np.zeros(shape, x.dtype)
        if active.size:
            out[..., active] = degrade(x[..., active], band, axes)
        return out
    tensor, was_numpy = as_tensor(x)
    return restore(degrade_tensor(tensor, band, axes), was_numpy)


def degrade_nonzero(x: np.ndarray, band: int, spill: int = 0) -> np.ndarray:
    """``A`` of a mostly-zero HR numpy block (scanline, ground_pixel, channel), seen as zero
    outside it, from its nonzero values alone: the sum of their footprints, with ``spill`` LR
    scanlines more each side (as :func:`xr_s5sr.physics.degrade_with_spill`).

    The same values as :func:`degrade` of the block padded with ``4·spill`` zero scanlines each
    side (to float rounding: the products run in float64), at a cost per nonzero value
    instead of per pixel: the negative parts of the non-negative consistency step
    (:mod:`xr_s5sr.constrained`) hold a few per mille of a block. Finite input only (a NaN
    would reach only its footprint here, its matrix-product window in :func:`degrade`).
    """
    from scipy import sparse

    n_rows, n_pixels, n_channels = x.shape
    along_scanline, along_pixel = _degrade_matrices(band, n_rows, n_pixels, spill)
    flat = x.reshape(n_rows, n_pixels * n_channels)
    # A boolean mask's flatnonzero: ~10x faster than np.nonzero of the float block.
    rows, columns = np.divmod(np.flatnonzero(flat != 0), flat.shape[1])
    # Scanline first, on (scanline, pixel·channel); then ground_pixel, on
    # (LR scanline·channel, pixel): both sparse products stay as sparse as the input.
    entries = sparse.csr_matrix(
        (flat[rows, columns].astype(np.float64), (rows, columns)), shape=flat.shape
    )
    blurred = (along_scanline @ entries).tocoo()
    pixel, channel = np.divmod(blurred.col, n_channels)
    n_out = along_scanline.shape[0]
    regrouped = sparse.csr_matrix(
        (blurred.data, (blurred.row * n_channels + channel, pixel)),
        shape=(n_out * n_channels, n_pixels),
    )
    lr = (regrouped @ along_pixel).toarray().reshape(n_out, n_channels, -1)
    return np.ascontiguousarray(lr.transpose(0, 2, 1), dtype=x.dtype)


@lru_cache(maxsize=16)
def _degrade_matrices(band: int, n_rows: int, n_pixels: int, spill: int) -> tuple[Any, Any]:
    """The sparse matrices of :func:`degrade_nonzero` (read-only; kept, as the iterations of a
    window call it with the same shape): along scanline with ``spill`` LR rows each side, and
    along ground_pixel transposed."""
    pad = SCALE * spill
    along_scanline = degrade_operator(band, 0).sparse_matrix(
        n_rows + 2 * pad, n_rows // SCALE + 2 * spill
    )[:, pad : pad + n_rows]
    along_pixel = degrade_operator(band, 1).sparse_matrix(n_pixels, n_pixels // SCALE)
    return along_scanline.tocsr(), along_pixel.T.tocsr()


def degrade_adjoint(
    e: Any, band: int, hr_shape: tuple[int, int], axes: tuple[int, int] = (0, 1)
) -> Any:
    """``Aᵀ``: adjoint of :func:`degrade` onto an HR grid of ``hr_shape`` (scanline, pixel)."""
    active = active_channels(e, axes)
    if active is not None:
        shape = list(e.shape)
        shape[axes[0]], shape[axes[1]] = hr_shape
        out = np.zeros(shape, e.dtype)
        if active.size:
            out[..., active] = degrade_adjoint(e[..., active], band, hr_shape, axes)
        return out
    tensor, was_numpy = as_tensor(e)
    return restore(adjoint_tensor(tensor, band, hr_shape, axes), was_numpy)


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
    tensor, was_numpy = as_tensor(y)
    return restore(upsample_tensor(tensor, axes, kind), was_numpy)


def bicubic_x4(image: torch.Tensor) -> torch.Tensor:
    """Bicubic ×``SCALE`` of (B, C, h, w): Keys a = −0.75, half-pixel centres, clamped border.

    This is PyTorch's ``F.interpolate(mode="bicubic", align_corners=False)``: output pixel ``i``
    samples the input at ``(i + 0.5) / 4 − 0.5``; the network's input (:mod:`xr_s5sr.models`).
    The same filter as matrix products on channels-last tiles is :func:`bicubic_operator`.
    """
    import torch.nn.functional as F

    return F.interpolate(image, scale_factor=SCALE, mode="bicubic", align_corners=False)


__all__ = [
    "BICUBIC_A",
    "DEGRADE_REACH",
    "KEYS_A",
    "AxisOperator",
    "active_channels",
    "adjoint_operator",
    "adjoint_tensor",
    "as_tensor",
    "bicubic_operator",
    "bicubic_x4",
    "degrade",
    "degrade_adjoint",
    "degrade_nonzero",
    "degrade_operator",
    "degrade_tensor",
    "interpolation_operator",
    "keys",
    "restore",
    "upsample",
    "upsample_tensor",
]
