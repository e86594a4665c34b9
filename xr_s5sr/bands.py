"""The Sentinel-5P / TROPOMI L1B radiance band table (SPEC §1) and each band's MTF kernels.

Immutable :class:`BandInfo` records, the lookup :func:`get_band`, the band-number parser
:func:`parse_band`, and the design of the 1-D degradation kernels from a band's MTF values at
Nyquist (:func:`mtf_kernels`, :func:`band_kernels`; SPEC §2 steps 1–4): the kernels are data of
the band, so they live beside the table. numpy only (no torch, dask or xarray); the operators
that apply the kernels are in :mod:`xr_s5sr.operators`.

The kernel design follows the S5P_SISR_Toolbox:

1. separable Gaussian-like MTF kernels designed by frequency sampling (41 taps) from the band's
   GNyq values, windowed by a radial Kaiser window (as MATLAB ``fwind1``);
2. the kernel built from ``GNyq_x`` filters along **scanline** (axis 0), the one from ``GNyq_y``
   along **ground_pixel** (axis 1), with taps at offsets −20…19 (the 41st tap is dropped).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from types import MappingProxyType
from typing import Literal

import numpy as np

from xr_s5sr.errors import BandError, S5SRArgumentError

Detector = Literal["UV", "UVIS", "NIR", "SWIR"]

#: Super-resolution scale factor along both spatial axes.
SCALE = 4

#: Number of taps of the designed 2-D filter (SPEC §2 step 1).
N_TAPS = 41
#: Taps used at offsets −HALF_TAPS … HALF_TAPS−1 (the 41st tap is dropped, as in the toolbox).
HALF_TAPS = N_TAPS // 2
#: Kaiser window shape parameter of the frequency-sampling design.
KAISER_BETA = 0.5


@dataclass(frozen=True)
class BandInfo:
    """Static properties of one S5P L1B radiance band.

    Attributes
    ----------
    number : int
        Band number 1–8.
    detector : {"UV", "UVIS", "NIR", "SWIR"}
        Detector module the band is read from.
    wavelength_range : tuple of float
        Approximate spectral range (nm).
    spectral_channels : int
        Number of spectral channels (size of ``spectral_channel``).
    ground_pixels : int
        Number of across-track ground pixels (size of ``ground_pixel``).
    pixel_size_km : tuple of float
        Ground pixel size near nadir, (across-track, along-track), km.
    gnyq_x, gnyq_y : float
        Modulation transfer function at Nyquist used by the degradation model (SPEC §2).
    mean_radiance : float or None
        Typical mean radiance, mol m-2 nm-1 sr-1 s-1 (None for band 1).
    snr : float or None
        Representative signal-to-noise ratio (None for band 1).
    super_resolution : bool
        Whether S5-DSCR models exist for the band (band 1 is excluded, as in the paper).
    """

    number: int
    detector: Detector
    wavelength_range: tuple[float, float]
    spectral_channels: int
    ground_pixels: int
    pixel_size_km: tuple[float, float]
    gnyq_x: float
    gnyq_y: float
    mean_radiance: float | None
    snr: float | None
    super_resolution: bool

    @property
    def noise_sigma(self) -> float | None:
        """Representative radiance noise standard deviation (mean / SNR), same units as radiance."""
        if self.mean_radiance is None or self.snr is None:
            return None
        return self.mean_radiance / self.snr

    @property
    def group(self) -> str:
        """HDF5 group of the band in an L1B file, e.g. ``BAND7_RADIANCE/STANDARD_MODE``."""
        return f"BAND{self.number}_RADIANCE/STANDARD_MODE"


def _band(
    number: int,
    detector: Detector,
    wavelength_range: tuple[float, float],
    channels: int,
    ground_pixels: int,
    across_km: float,
    gnyq: tuple[float, float],
    mean_radiance: float | None,
    snr: float | None,
) -> BandInfo:
    return BandInfo(
        number=number,
        detector=detector,
        wavelength_range=wavelength_range,
        spectral_channels=channels,
        ground_pixels=ground_pixels,
        pixel_size_km=(across_km, 5.5),
        gnyq_x=gnyq[0],
        gnyq_y=gnyq[1],
        mean_radiance=mean_radiance,
        snr=snr,
        super_resolution=number != 1,
    )


#: All eight bands, keyed by band number (read-only mapping).
BANDS: MappingProxyType[int, BandInfo] = MappingProxyType(
    {
        1: _band(1, "UV", (270.0, 300.0), 497, 77, 28.0, (0.36, 0.37), None, None),
        2: _band(2, "UV", (300.0, 320.0), 497, 448, 3.5, (0.36, 0.37), 1.0445e-07, 865.0),
        3: _band(3, "UVIS", (320.0, 405.0), 497, 450, 3.5, (0.74, 0.44), 2.2519e-07, 1630.2),
        4: _band(4, "UVIS", (405.0, 500.0), 497, 450, 3.5, (0.74, 0.44), 5.0227e-07, 3550.3),
        5: _band(5, "NIR", (675.0, 725.0), 497, 448, 3.5, (0.74, 0.44), 5.3997e-07, 2277.2),
        6: _band(6, "NIR", (725.0, 775.0), 497, 448, 3.5, (0.74, 0.44), 5.4753e-07, 2683.6),
        7: _band(7, "SWIR", (2305.0, 2345.0), 480, 215, 7.0, (0.20, 0.15), 4.9688e-08, 1094.0),
        8: _band(8, "SWIR", (2345.0, 2385.0), 480, 215, 7.0, (0.20, 0.15), 3.4856e-08, 875.3),
    }
)

#: Bands for which super-resolution models exist.
SUPPORTED_BANDS: tuple[int, ...] = tuple(n for n, b in BANDS.items() if b.super_resolution)

_BAND_PATTERNS = (
    re.compile(r"BAND(\d)_RADIANCE", re.IGNORECASE),
    re.compile(r"_BD(\d)_"),
    re.compile(r"^BD(\d)$", re.IGNORECASE),
    re.compile(r"^band_?(\d)$", re.IGNORECASE),
)


def parse_band(value: object) -> int | None:
    """Extract a band number from an int, a numeric string, a file name or a group name.

    Parameters
    ----------
    value : object
        ``7``, ``"7"``, ``"BAND7_RADIANCE"``, ``"S5P_OFFL_L1B_RA_BD7_..."``, ``"BD7"``,
        ``"band7"``.

    Returns
    -------
    int or None
        The band number, or None when ``value`` carries no recognisable band.

    Examples
    --------
    >>> parse_band("S5P_OFFL_L1B_RA_BD7_20230104T000000_20230104T014000_27123_03_020400_X.nc")
    7
    >>> parse_band("no band here") is None
    True
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    text = str(value)
    if text.strip().isdigit():
        return int(text.strip())
    for pattern in _BAND_PATTERNS:
        match = pattern.search(text)
        if match:
            return int(match.group(1))
    return None


def get_band(band: int | str, *, require_super_resolution: bool = False) -> BandInfo:
    """Return the :class:`BandInfo` of ``band``, validating it.

    Parameters
    ----------
    band : int or str
        Band number 1–8 (or a string that :func:`parse_band` understands).
    require_super_resolution : bool, default False
        Raise :class:`~xr_s5sr.errors.BandError` for bands without super-resolution models (band 1).

    Raises
    ------
    BandError
        If the band is unknown, or unsupported while ``require_super_resolution`` is set.

    Examples
    --------
    >>> get_band(7).spectral_channels
    480
    """
    number = parse_band(band)
    if number is None or number not in BANDS:
        raise BandError(
            f"Unknown S5P band {band!r}: expected one of {sorted(BANDS)} (Sentinel-5P L1B has "
            f"no other band; super-resolution covers bands {list(SUPPORTED_BANDS)}). Pass "
            "band=<n> matching the BAND<n>_RADIANCE group of your L1B file."
        )
    info = BANDS[number]
    if require_super_resolution and not info.super_resolution:
        raise BandError(
            f"Band {number} is not supported for super-resolution: S5-DSCR models exist for bands "
            f"{list(SUPPORTED_BANDS)} only (band 1 has ~28 km pixels and very low SNR, and is "
            "excluded as in the paper). Choose one of those bands."
        )
    return info


def _gaussian_alpha(gnyq: float, ratio: int) -> float:
    """Width of the Gaussian frequency response reaching ``gnyq`` at the LR Nyquist frequency."""
    fcut = 1.0 / ratio
    return float(np.sqrt(((N_TAPS - 1) * fcut / 2.0) ** 2 / (-2.0 * np.log(gnyq))))


def _radial_kaiser_window() -> np.ndarray:
    """2-D window made by rotating a 1-D Kaiser window, as MATLAB ``fwind1`` does."""
    t = np.arange(-HALF_TAPS, HALF_TAPS + 1) / (N_TAPS - 1)
    window_1d = np.kaiser(N_TAPS, KAISER_BETA)
    t1, t2 = np.meshgrid(t, t)
    radius = np.sqrt(t1**2 + t2**2)
    window = np.interp(radius, t, window_1d)
    window[radius > t[-1]] = 0.0
    return window


@lru_cache(maxsize=32)
def _kernels_cached(gnyq_x: float, gnyq_y: float, ratio: int) -> tuple[np.ndarray, np.ndarray]:
    t = np.arange(-HALF_TAPS, HALF_TAPS + 1, dtype=np.float64)
    alpha_x = _gaussian_alpha(gnyq_x, ratio)
    alpha_y = _gaussian_alpha(gnyq_y, ratio)
    u, v = np.meshgrid(t, t)  # u: column index, v: row index
    response = np.exp(-0.5 * (u / alpha_x) ** 2) * np.exp(-0.5 * (v / alpha_y) ** 2)
    response /= response.max()
    impulse = np.real(np.fft.fftshift(np.fft.ifft2(np.fft.ifftshift(response))))
    impulse *= _radial_kaiser_window()
    centre = impulse[HALF_TAPS, HALF_TAPS]
    kernel_x = impulse[HALF_TAPS, :] / np.sqrt(centre)
    kernel_y = impulse[:, HALF_TAPS] / np.sqrt(centre)
    kernel_x = kernel_x / kernel_x.sum()
    kernel_y = kernel_y / kernel_y.sum()
    kernel_x.setflags(write=False)
    kernel_y.setflags(write=False)
    return kernel_x, kernel_y


def mtf_kernels(gnyq_x: float, gnyq_y: float, ratio: int = SCALE) -> tuple[np.ndarray, np.ndarray]:
    """1-D degradation kernels for given MTF values at Nyquist (SPEC §2 steps 1–4).

    Parameters
    ----------
    gnyq_x, gnyq_y : float
        MTF at the Nyquist frequency, in (0, 1).
    ratio : int, default 4
        Scale factor between the HR and LR grids.

    Returns
    -------
    kernel_x, kernel_y : numpy.ndarray
        Read-only float64 arrays of 41 taps each, summing to 1. ``kernel_x`` filters along
        scanline (axis 0), ``kernel_y`` along ground_pixel (axis 1).
    """
    for name, value in (("gnyq_x", gnyq_x), ("gnyq_y", gnyq_y)):
        if not 0.0 < value < 1.0:
            raise S5SRArgumentError(f"{name} must lie in (0, 1), got {value!r}.")
    return _kernels_cached(float(gnyq_x), float(gnyq_y), int(ratio))


def band_kernels(band: int, ratio: int = SCALE) -> tuple[np.ndarray, np.ndarray]:
    """1-D degradation kernels of an S5P band (scanline kernel, ground_pixel kernel).

    Examples
    --------
    >>> kx, ky = band_kernels(3)
    >>> round(float(kx[20]), 5), round(float(ky[20]), 5), round(float(kx.sum()), 12)
    (0.39341, 0.23866, 1.0)
    """
    info = get_band(band)
    return mtf_kernels(info.gnyq_x, info.gnyq_y, ratio)


__all__ = [
    "BANDS",
    "HALF_TAPS",
    "N_TAPS",
    "SCALE",
    "SUPPORTED_BANDS",
    "BandInfo",
    "band_kernels",
    "get_band",
    "mtf_kernels",
    "parse_band",
]
