"""The one place for the radiance noise σ: from the file's variables or estimated from the data.

Boundary: numpy arrays (and dask arrays for the elementwise conversions); no xarray. The
adaptive settings (:mod:`xr_s5sr.adaptive`) read the noise variance of a window of scanlines
from here; other helpers (e.g. priors that weigh the data by the noise) should too.

Sources, in the order the inference layer prefers them (``s5sr_noise_source``)
    ``"radiance_noise"``
        S5P L1B stores the noise of every radiance as a signal-to-noise ratio in decibels,
        ``10·log10(radiance / σ)`` (the convention of :func:`xr_s5sr.synthetic.make_granule`
        and of public TROPOMI readers, which convert with ``σ = L / 10^(dB/10)``):
        :func:`sigma_from_snr_db`.
    ``"radiance_error"``
        An error estimate: in dB like ``radiance_noise`` when its ``units`` say ``dB``, else σ
        in radiance units (:func:`sigma_from_error`).
    ``"estimated"``
        Neither variable: :func:`estimate_variance`, a HySime-style multiple regression across
        spectral channels (Bioucas-Dias & Nascimento 2008, "Hyperspectral subspace
        identification", IEEE TGRS 46(8)). Each channel is regressed on all the others (plus a
        constant) over the pixels of a window; the residual sum of squares divided by its
        degrees of freedom is the channel's noise variance. A radiance cube is a mixture of a
        few spectra, so the other channels predict the signal of a channel almost exactly,
        however curved or textured the scene is in space, while noise, independent between
        channels, cannot be predicted: unlike a spatial second difference, the estimate is not
        biased by smooth or structured signal. What remains is the small bias of regressing
        on noisy channels, about the leverage of a channel in the signal subspace (≈ rank /
        channels, < 1 % for S5P's ~500 channels and a few-spectra scene; ``tests/test_noise.py``).

All variances are means over the pixels they describe (radiance² units), so photon noise
(σ ∝ √signal) gives its mean σ² over the window: the per-window RMS σ that the discrepancy
principle compares with a mean square misfit.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from xr_s5sr.bands import get_band
from xr_s5sr.errors import DimensionError, InputDataError

#: Relative noise (σ / RMS radiance of the channel) below which σ is taken as 0: float32 holds
#: ~7 significant digits, so noise under ~10 units in the last place cannot be told from
#: rounding (S5P's SNR is at most a few thousand, 2–3 decades above this floor).
ROUNDING_FLOOR = 1e-6
#: Samples per regressor the regression asks for: fewer pixels in a window than
#: ``SAMPLES_PER_REGRESSOR × channels`` and it regresses on an evenly spaced subset.
SAMPLES_PER_REGRESSOR = 4
#: Smallest eigenvalue of the channel correlation matrix kept, relative to the largest: the
#: exactly rank-deficient directions of noise-free data stay finite (their variance ~ rounding).
_EIGEN_FLOOR = 1e-15
NOISE_SOURCES = ("radiance_noise", "radiance_error", "estimated")


def sigma_from_snr_db(radiance: Any, snr_db: Any) -> Any:
    """σ (radiance units) of each value from its signal-to-noise ratio in dB.

    Parameters
    ----------
    radiance : numpy.ndarray or dask.array.Array
        Radiance, any shape.
    snr_db : numpy.ndarray or dask.array.Array
        ``10·log10(radiance / σ)`` of each value (S5P ``radiance_noise``), same shape.

    Returns
    -------
    numpy.ndarray or dask.array.Array
        ``|radiance| / 10^(dB/10)``, float32 (lazy for dask).

    Examples
    --------
    >>> round(float(sigma_from_snr_db(np.float32(2.0), np.float32(30.0))), 6)
    0.002
    """
    level = abs(radiance).astype(np.float32)
    return level / (10.0 ** (snr_db.astype(np.float32) / np.float32(10.0)))


def photon_sigma(radiance: np.ndarray, band: int) -> np.ndarray:
    """σ of photon (shot) noise at the band's SNR: the band's σ at its mean radiance, growing
    with the square root of the signal (:attr:`xr_s5sr.bands.BandInfo.noise_sigma`).

    Examples
    --------
    >>> from xr_s5sr.bands import get_band
    >>> info = get_band(7)
    >>> float(photon_sigma(np.array([4 * info.mean_radiance]), 7)[0] / info.noise_sigma)
    2.0
    """
    info = get_band(band)
    if info.noise_sigma is None or info.mean_radiance is None:
        raise InputDataError(
            f"Band {band} has no reference SNR, so its photon noise is unknown; pass the noise "
            "σ explicitly instead."
        )
    return info.noise_sigma * np.sqrt(np.abs(radiance) / info.mean_radiance)


def sigma_from_error(radiance: Any, error: Any, units: str | None) -> Any:
    """σ from an error variable: dB (``units`` contains "dB") or radiance units.

    Raises
    ------
    InputDataError
        If ``units`` is missing: the same numbers mean σ in one convention and a ratio in
        decibels in the other.
    """
    if units is None:
        raise InputDataError(
            "The radiance error variable has no 'units' attribute, so it is unknown whether it "
            "holds a signal-to-noise ratio in dB or σ in radiance units. Set its attrs['units'] "
            "to 'dB' or to the radiance's units."
        )
    if "db" in units.lower():
        return sigma_from_snr_db(radiance, error)
    return abs(error).astype(np.float32)


def ordered_sigma(sigma: Any, shape: tuple[int, ...], order: tuple[int, ...]) -> Any:
    """σ of every radiance value (numpy or dask, the radiance's ``shape``) transposed to
    ``order`` as float32 (lazy for dask).

    Raises
    ------
    DimensionError
        If ``sigma`` does not have the radiance's shape.
    """
    if tuple(sigma.shape) != tuple(shape):
        raise DimensionError(
            f"sigma must have the shape of the radiance, {tuple(shape)}, got "
            f"{tuple(sigma.shape)}. Pass the noise σ of every radiance value (e.g. from the "
            "file's radiance_noise) or leave sigma=None to estimate it."
        )
    return sigma.transpose(order).astype(np.float32)


def estimate_variance(y: np.ndarray, channels: np.ndarray) -> np.ndarray:
    """Noise variance of the ``channels`` of a window, by regression across channels.

    Parameters
    ----------
    y : numpy.ndarray
        (scanline, ground_pixel, spectral_channel) radiance of the window, finite.
    channels : numpy.ndarray
        Indices of the channels whose variance is wanted.

    Returns
    -------
    numpy.ndarray
        float64 (len(channels),): each channel's mean noise variance over the window,
        radiance²; 0 below :data:`ROUNDING_FLOOR`; NaN when the window has too few pixels
        (fewer than ``SAMPLES_PER_REGRESSOR × 3``) or fewer than 3 channels.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> spectra = rng.uniform(1.0, 2.0, (3, 200))
    >>> clean = np.einsum("xyk,kc->xyc", rng.uniform(0.0, 1.0, (50, 40, 3)), spectra)
    >>> estimate_variance(clean, np.array([5, 20]))
    array([0., 0.])
    >>> noisy = clean + 0.01 * rng.standard_normal(clean.shape)
    >>> variance = estimate_variance(noisy, np.arange(5, 200, 10))  # 20 channels
    >>> round(float(np.mean(variance)) / 0.01**2, 2)  # within the sampling error (3 %)
    1.02
    """
    n_chan = y.shape[-1]
    x = y.reshape(-1, n_chan)
    n = x.shape[0]
    out = np.full(len(channels), np.nan)
    limit = n // SAMPLES_PER_REGRESSOR
    if n_chan < 3 or limit < 3:
        return out
    if n_chan <= limit:
        regressors = np.arange(n_chan)
    else:
        # Narrow windows: the wanted channels and as many others as the pixels support.
        spaced = np.linspace(0, n_chan - 1, max(0, limit - channels.size)).round()
        regressors = np.union1d(channels, spaced).astype(int)
    if n - regressors.size < regressors.size:
        return out
    data = x[:, regressors].astype(np.float64)
    data -= data.mean(axis=0)  # the constant regressor
    scale = np.sqrt(np.mean(data**2, axis=0))
    scale[scale == 0] = 1.0
    data /= scale
    gram = data.T @ data
    values, vectors = np.linalg.eigh(gram)
    if values[-1] <= 0:
        out[:] = 0.0  # constant channels: no noise at all
        return out
    values = np.maximum(values, _EIGEN_FLOOR * values[-1])
    where = np.searchsorted(regressors, channels)
    # Residual sum of squares of column i regressed on the other columns: 1 / (Gram⁻¹)_ii.
    inverse_diagonal = np.sum(vectors[where] ** 2 / values, axis=1)
    dof = n - regressors.size
    variance = scale[where] ** 2 / (inverse_diagonal * dof)
    level = np.mean(x[:, channels].astype(np.float64) ** 2, axis=0)
    variance[variance < ROUNDING_FLOOR**2 * level] = 0.0
    out[:] = variance
    return out


def window_variance(y: np.ndarray, channels: np.ndarray, sigma: np.ndarray | None = None) -> float:
    """Mean noise variance of a window over ``channels`` (radiance²): from the per-value σ
    when given (NaN values left out), else :func:`estimate_variance`; NaN when unknown.

    This is the square of the window's RMS σ, the noise level the discrepancy principle and
    the detail gate of :mod:`xr_s5sr.adaptive` use.
    """
    if sigma is not None:
        selected = np.asarray(sigma[..., channels], dtype=np.float64)
        finite = np.isfinite(selected)
        if not finite.any():
            return float("nan")
        variance = float(np.mean(selected[finite] ** 2))
        level = float(np.mean(np.asarray(y[..., channels], dtype=np.float64) ** 2))
        return 0.0 if variance < ROUNDING_FLOOR**2 * level else variance
    per_channel = estimate_variance(y, channels)
    return float(np.mean(per_channel)) if np.all(np.isfinite(per_channel)) else float("nan")


__all__ = [
    "NOISE_SOURCES",
    "ROUNDING_FLOOR",
    "estimate_variance",
    "ordered_sigma",
    "photon_sigma",
    "sigma_from_error",
    "sigma_from_snr_db",
    "window_variance",
]
