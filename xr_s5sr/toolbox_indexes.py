"""The S5P_SISR_Toolbox's reduced-resolution quality indexes, computed as its code computes them.

Boundary: numpy (or dask, read into memory) cubes with axes (scanline, ground_pixel,
spectral_channel), plain numbers out. :func:`toolbox_metrics` is reached through
``xr_s5sr.metrics.compute_metrics(..., protocol="toolbox")`` and ``evaluate(toolbox=True)``.
Our own implementation, written from the facts of the toolbox's public Python code
(``indexes_evaluation_SR`` and the functions it calls, with the settings of its benchmark
script); ``docs/metrics.md`` lists where that code departs from the published definitions.

``x`` is the reference (ground truth), ``y`` the estimate, ``C`` the number of channels:

* the reference's data range ``[min x, max x]`` and per-channel maxima are taken on the whole
  cube; every index below except D_λ then uses the cube cut by the toolbox's bounds, rows and
  columns ``dim_cut − 1 … n − dim_cut − 1`` (15: 14 pixels off the start, 15 off the end);
* ``Q2n`` (Garzelli & Nencini's hypercomplex Q): channels padded with zero channels to a power
  of 2 (every ``C // 100``-th channel first when ``C ≥ 300``), the image padded by mirroring
  its last rows/columns to a multiple of the block (32), then per 32 × 32 block: each channel
  of both images standardised by the *reference* block's mean and sample standard deviation
  and shifted by +1 (only shifted where that mean is 0), and
  ``Q = |σ_xy| / (σ_x² + σ_y²) · 2 · 2|x̄||ȳ| / (|x̄|² + |ȳ|²)`` with hypercomplex (onion)
  products, unbiased (co)variances; the index is the mean over blocks;
* ``D_lambda`` = 1 − Q2n(LR, degraded estimate): the estimate degraded with the band's MTF
  (the toolbox's ``resize_image``, i.e. :func:`xr_s5sr.degrade.degrade_array`) against the
  LR cube, uncut, on the same channel subset;
* ``Q`` — per-channel SSIM with a 33 × 33 uniform window (the block 32, made odd), sample
  (co)variances, ``K1 = K2 = 1e-8`` of the data range ``max x − min x``, averaged over window
  centres at least 16 pixels from the edge, then over channels;
* ``ERGAS`` — ``100 / r · sqrt(mean_c(MSE_c / mean_c(x)²))``;
* ``SAM`` — mean over pixels of ``arccos(<x, y> / (|x||y|))`` in degrees; a cosine that
  rounding pushes above 1 is replaced by 0.9999999 (0.0256°); pixels with a zero spectrum are
  left out;
* ``sCC`` — Sobel gradient magnitudes (mirrored edges) of each channel of both cubes,
  ``Σ g_x g_y / sqrt(Σ g_x² · Σ g_y²)`` over all pixels and channels (uncentred; every
  ``C // 100``-th channel when ``C ≥ 300``);
* ``RMSE`` over all cut pixels and channels, radiance units;
* ``PSNR`` — ``mean_c 20·log10(max_c(x) / RMSE_c)`` with the per-channel maxima of the uncut
  reference; one channel: ``20·log10(max x / RMSE)``.

With one channel Q2n, D_lambda and SAM are undefined and returned as NaN (the toolbox reports
the placeholders 0, 1 and 0). Everything is computed in float64 (the toolbox casts its inputs
to float32 first, so its values differ from ours by float32 rounding). Inputs must be finite.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any

import numpy as np

from xr_s5sr.bands import SCALE
from xr_s5sr.degrade import degrade_array
from xr_s5sr.errors import BandError, DimensionError, InputDataError
from xr_s5sr.windowed import crop, sobel_magnitude, ssim_map

#: Index names, in the order of the toolbox's result tables.
TOOLBOX_METRICS = ("Q2n", "D_lambda", "Q", "ERGAS", "SAM", "sCC", "RMSE", "PSNR")
#: Block side of Q2n and Q (pixels), the toolbox benchmark's ``Qblocks_size``.
Q_BLOCK = 32
#: SSIM constants of the toolbox's Q (``K1 = K2``), relative to the data range.
TOOLBOX_K = 1e-8
#: Bounds cut of the toolbox benchmark (``dim_cut``).
DIM_CUT = 15
#: From this many channels on, Q2n, D_lambda and sCC use every ``C // 100``-th channel.
SUBSAMPLE_FROM = 300
#: Standard deviation that replaces 0 in the block standardisation (the toolbox's constant).
_STD_FLOOR = 2.2204e-16
#: Cap of the cosine in SAM (the toolbox's constant).
_COS_CAP = 0.9999999
#: Bytes of float64 temporaries per channel block of Q and sCC.
_BLOCK_BYTES = 16 * 2**20


# ----------------------------------------------------------------------------- onion algebra
@lru_cache(maxsize=8)
def onion_table(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Structure constants of the toolbox's hypercomplex ("onion") product of dimension ``n``.

    The toolbox multiplies ``(a, b)·(c, d) = (a c − d̄ b, ā d̄ + c b̄)`` on the halves of the
    components (``z̄``: every component but the first negated), down to real numbers. The
    product of basis elements is then ``e_i e_j = s[i, j] · e_k[i, j]``, built here by the same
    recursion on indices instead of on values.

    Parameters
    ----------
    n : int
        Dimension, a power of 2.

    Returns
    -------
    (k, s) : tuple of numpy.ndarray
        int ``(n, n)`` target component and float ``(n, n)`` sign (±1).

    Examples
    --------
    >>> k, s = onion_table(2)  # complex numbers: i·i = −1
    >>> int(k[1, 1]), float(s[1, 1])
    (0, -1.0)
    """
    if n == 1:
        return np.zeros((1, 1), int), np.ones((1, 1))
    if n % 2:
        raise DimensionError(f"The onion dimension must be a power of 2, got {n}.")
    h = n // 2
    k, s = onion_table(h)
    conj = np.where(np.arange(h) == 0, 1.0, -1.0)
    kk, ss = np.empty((n, n), int), np.empty((n, n))
    kk[:h, :h], ss[:h, :h] = k, s  # a c
    kk[:h, h:], ss[:h, h:] = h + k, conj[:, None] * conj[None, :] * s  # ā d̄
    kk[h:, :h], ss[h:, :h] = h + k.T, conj[:, None] * s.T  # c b̄
    kk[h:, h:], ss[h:, h:] = k.T, -conj[None, :] * s.T  # − d̄ b
    return kk, ss


def _contract(moments: np.ndarray, n: int) -> np.ndarray:
    """Onion product of pairs given their cross-moments ``M[..., i, j]`` (bilinearity):
    ``Σ_ij s_ij M_ij e_{k_ij}``, shape ``(..., n)``."""
    k, s = onion_table(n)
    onehot = np.zeros((n * n, n))
    onehot[np.arange(n * n), k.ravel()] = s.ravel()
    return moments.reshape(*moments.shape[:-2], n * n) @ onehot


# ----------------------------------------------------------------------------- Q2n
def _block_q2n(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Q of each block of a stack ``(blocks, pixels, n)``: the toolbox's ``onions_quality``."""
    pixels, n = x.shape[1], x.shape[2]
    mean = x.mean(axis=1, keepdims=True)
    std = x.std(axis=1, ddof=1, keepdims=True)
    std = np.where(std == 0, _STD_FLOOR, std)
    xn = (x - mean) / std + 1.0
    # The estimate is standardised by the reference's statistics; not scaled where the mean is 0.
    yn = np.where(mean == 0, y - mean, (y - mean) / std) + 1.0
    yn[..., 1:] *= -1.0  # conjugate
    m1, m2 = xn.mean(axis=1), yn.mean(axis=1)
    unbiased = pixels / (pixels - 1.0)
    sq1, sq2 = np.sum(m1 * m1, axis=1), np.sum(m2 * m2, axis=1)
    spread = unbiased * (
        np.mean(np.sum((xn - m1[:, None]) ** 2, axis=2), axis=1)
        + np.mean(np.sum((yn - m2[:, None]) ** 2, axis=2), axis=1)
    )
    # The toolbox keeps only the mean term where σ_x² + σ_y² is 0; it tests the rounded
    # difference of uncentred sums, which can miss, so constancy is tested on the values.
    constant = np.all(xn == xn[:, :1], axis=(1, 2)) & np.all(yn == yn[:, :1], axis=(1, 2))
    mean_bias = 2.0 * np.sqrt(sq1 * sq2) / (sq1 + sq2)
    cross = np.einsum("bpi,bpj->bij", xn, yn) / pixels - m1[:, :, None] * m2[:, None, :]
    covariance = np.linalg.norm(_contract(unbiased * cross, n), axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(constant, mean_bias, covariance * mean_bias * 2.0 / spread)


def q2n(reference: Any, estimate: Any, block: int = Q_BLOCK) -> float:
    """The toolbox's Q2n of two cubes (module docstring), blocks ``block`` × ``block``.

    Parameters
    ----------
    reference, estimate : numpy.ndarray
        (scanline, ground_pixel, spectral_channel), ≥ 2 channels, same shape, finite.
    block : int, default 32
        Block side and shift (pixels).

    Returns
    -------
    float
        Mean over blocks of the hypercomplex Q, in [0, 1].

    Examples
    --------
    >>> x = np.random.default_rng(0).random((40, 40, 3))
    >>> round(q2n(x, x), 12)
    1.0
    """
    n1, n2, c = reference.shape
    n = 1 << max(1, math.ceil(math.log2(c)))
    rows = np.pad(np.arange(n1), (0, -n1 % block), mode="symmetric")
    cols = np.pad(np.arange(n2), (0, -n2 % block), mode="symmetric")
    values = []
    for start in range(0, rows.size, block):
        stripe = [
            np.asarray(a[rows[start : start + block]], dtype=np.float64)[:, cols]
            for a in (reference, estimate)
        ]
        stack = [
            np.pad(
                a.reshape(block, -1, block, c).transpose(1, 0, 2, 3).reshape(-1, block * block, c),
                ((0, 0), (0, 0), (0, n - c)),
            )
            for a in stripe
        ]
        values.append(_block_q2n(*stack))
    return float(np.mean(np.concatenate(values)))


# ----------------------------------------------------------------------------- other indexes
def _channel_blocks(shape: tuple[int, ...]) -> list[slice]:
    step = max(1, _BLOCK_BYTES // (8 * shape[0] * shape[1]))
    return [slice(i, min(i + step, shape[2])) for i in range(0, shape[2], step)]


def _q_index(x: Any, y: Any, data_range: float, block: int, k: float) -> float:
    """Mean over channels of the toolbox's Q (SSIM, odd window ``block`` or ``block + 1``)."""
    window = block + 1 if block % 2 == 0 else block
    half = window // 2
    if min(x.shape[:2]) < window:
        raise DimensionError(
            f"The toolbox's Q needs images of at least {window} x {window} pixels after its "
            f"bounds cut, found {x.shape[0]} x {x.shape[1]}. Score a larger region."
        )
    c1 = c2 = (k * data_range) ** 2
    total = 0.0
    for part in _channel_blocks(x.shape):
        xs, ys = (np.asarray(a[..., part], dtype=np.float64) for a in (x, y))
        index = ssim_map(xs, ys, np.zeros(xs.shape, bool), size=(window, window, 1), c1=c1, c2=c2)
        total += float(np.sum(np.mean(crop(index, (half, half, 0)), axis=(0, 1))))
    return total / x.shape[2]


def _scc_index(x: Any, y: Any) -> float:
    """The toolbox's uncentred correlation of Sobel magnitudes over all pixels and channels."""
    sums = np.zeros(3)
    for part in _channel_blocks(x.shape):
        gx, gy = (
            sobel_magnitude(
                np.asarray(a[..., part], dtype=np.float64),
                np.zeros(a[..., part].shape, bool),
                axes=(0, 1),
            )
            for a in (x, y)
        )
        sums += (np.sum(gx * gy), np.sum(gx * gx), np.sum(gy * gy))
    return float(sums[0] / np.sqrt(sums[1]) / np.sqrt(sums[2]))


def _pointwise(x: Any, y: Any) -> dict[str, np.ndarray]:
    """Per-channel squared error and reference mean, per-pixel dot products and norms."""
    n1, n2, c = x.shape
    out = {k: np.zeros(c) for k in ("sse", "mean")}
    out.update({k: np.zeros((n1, n2)) for k in ("xy", "xx", "yy")})
    for part in _channel_blocks(x.shape):
        xs, ys = (np.asarray(a[..., part], dtype=np.float64) for a in (x, y))
        out["sse"][part] = np.sum((xs - ys) ** 2, axis=(0, 1))
        out["mean"][part] = np.mean(xs, axis=(0, 1))
        out["xy"] += np.sum(xs * ys, axis=2)
        out["xx"] += np.sum(xs * xs, axis=2)
        out["yy"] += np.sum(ys * ys, axis=2)
    return out


def _sam_index(p: dict[str, np.ndarray]) -> float:
    norm = np.sqrt(p["xx"] * p["yy"])
    keep = norm > 0
    if not np.any(keep):
        return math.nan
    cosine = p["xy"][keep] / norm[keep]
    cosine = np.where(cosine > 1.0, _COS_CAP, cosine)
    return float(np.degrees(np.mean(np.arccos(cosine))))


def channel_subset(n_channels: int) -> slice:
    """Channels that Q2n, D_lambda and sCC use: every ``C // 100``-th from 300 channels on."""
    return slice(None, None, n_channels // 100) if n_channels >= SUBSAMPLE_FROM else slice(None)


def _check(reference: Any, estimate: Any, lr: Any, band: int | None, ratio: int) -> None:
    if reference.ndim != 3 or estimate.shape != reference.shape:
        raise DimensionError(
            "The toolbox indexes need a reference and an estimate of the same 3-D shape "
            f"(scanline, ground_pixel, spectral_channel); found {tuple(reference.shape)} and "
            f"{tuple(estimate.shape)}."
        )
    if lr is None:
        return
    expected = (reference.shape[0] // ratio, reference.shape[1] // ratio, reference.shape[2])
    if tuple(lr.shape) != expected:
        raise DimensionError(
            f"lr must be the reference's LR cube of shape {expected} (the HR size // {ratio}), "
            f"found {tuple(lr.shape)}. Pass the LR that the estimate was made from."
        )
    if band is None:
        raise BandError(
            "D_lambda degrades the estimate with the band's MTF, so band= is needed with lr=; "
            "found band=None. Pass band=<2..8>."
        )


def toolbox_metrics(
    reference: Any,
    estimate: Any,
    *,
    lr: Any = None,
    band: int | None = None,
    ratio: int = SCALE,
    block: int = Q_BLOCK,
    dim_cut: int = DIM_CUT,
    k: float = TOOLBOX_K,
) -> dict[str, float]:
    """The toolbox's eight indexes of one estimate (module docstring: definitions).

    Parameters
    ----------
    reference : numpy.ndarray or dask.array.Array
        HR truth (scanline, ground_pixel, spectral_channel), radiance units, finite.
    estimate : numpy.ndarray or dask.array.Array
        Same shape.
    lr : numpy.ndarray or dask.array.Array, optional
        The LR cube the estimate was made from, ``(n1 // ratio, n2 // ratio, C)``; D_lambda is
        NaN without it.
    band : int, optional
        S5P band (MTF of the degradation behind D_lambda); required with ``lr``.
    ratio : int, default 4
        Scale factor (ERGAS, D_lambda).
    block : int, default 32
        Q2n block side; Q's window is ``block + 1`` when ``block`` is even.
    dim_cut : int, default 15
        The toolbox's bounds cut (``dim_cut − 1`` pixels off the start, ``dim_cut`` off the end).
    k : float, default 1e-8
        Q's ``K1 = K2``.

    Returns
    -------
    dict of str to float
        ``Q2n``, ``D_lambda``, ``Q``, ``ERGAS``, ``SAM`` (degrees), ``sCC``, ``RMSE``
        (radiance units), ``PSNR`` (dB).

    Raises
    ------
    DimensionError
        If the shapes differ or the cut image is smaller than Q's window.
    BandError
        If ``lr`` is given without ``band``.
    InputDataError
        If a value is not finite.
    """
    _check(reference, estimate, lr, band, ratio)
    x, y = np.asarray(reference), np.asarray(estimate)
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise InputDataError(
            "The toolbox indexes need finite values; found NaN or inf in the reference or the "
            "estimate. Score a region without missing values."
        )
    n_chan = x.shape[2]
    subset = channel_subset(n_chan)
    low, high = float(np.min(x)), float(np.max(x))
    peaks = np.max(x.reshape(-1, n_chan), axis=0).astype(np.float64)
    out = dict.fromkeys(TOOLBOX_METRICS, math.nan)
    if lr is not None and n_chan >= 2:
        degraded = degrade_array(y.astype(np.float64), int(band), ratio)  # type: ignore[arg-type]
        out["D_lambda"] = 1.0 - q2n(np.asarray(lr)[..., subset], degraded[..., subset], block)
    cut = (slice(dim_cut - 1, x.shape[0] - dim_cut), slice(dim_cut - 1, x.shape[1] - dim_cut))
    x, y = x[cut], y[cut]
    if min(x.shape[:2]) < 2:
        raise DimensionError(
            f"The toolbox's bounds cut ({dim_cut}) leaves {x.shape[0]} x {x.shape[1]} pixels. "
            "Score a larger region."
        )
    p = _pointwise(x, y)
    mse = p["sse"] / (x.shape[0] * x.shape[1])
    if n_chan >= 2:
        out["Q2n"] = q2n(x[..., subset], y[..., subset], block)
        out["SAM"] = _sam_index(p)
    out["Q"] = _q_index(x, y, high - low, block, k)
    out["sCC"] = _scc_index(x[..., subset], y[..., subset])
    out["RMSE"] = math.sqrt(float(np.mean(mse)))
    # A channel of zero mean makes ERGAS infinite, a perfect estimate PSNR: no warnings.
    with np.errstate(divide="ignore", invalid="ignore"):
        out["ERGAS"] = 100.0 / ratio * math.sqrt(float(np.mean(mse / p["mean"] ** 2)))
        if n_chan == 1:
            out["PSNR"] = float(20.0 * np.log10(high / out["RMSE"]))
        else:
            out["PSNR"] = float(np.mean(20.0 * np.log10(peaks / np.sqrt(mse))))
    return out


__all__ = [
    "DIM_CUT",
    "Q_BLOCK",
    "SUBSAMPLE_FROM",
    "TOOLBOX_K",
    "TOOLBOX_METRICS",
    "channel_subset",
    "onion_table",
    "q2n",
    "toolbox_metrics",
]
