"""Synthetic orbit-length granules: a whole day-side band orbit, lit by the sun along track.

Boundary: builds lazy xarray Datasets with the structure of :func:`xr_s5sr.open_l1b` on top of
:func:`xr_s5sr.synthetic.make_granule`; no file I/O, nothing computed while building.

A real band orbit is ~4,000 scanlines from near the south pole to near the north pole on the
day side. Its radiance follows the cosine of the solar zenith angle, which spans more than two
decades along track (dim at the ends, bright near the sub-solar latitude). That is the regime a
per-granule setting cannot serve, so the orbit-scale tests and benchmarks are built from it.

Illumination model
    The ground track is a great circle of inclination :data:`INCLINATION_DEG` crossing the
    equator at the middle scanline, 5.5 km per scanline. The solar zenith angle at the
    track's latitude φ, local time :data:`LOCAL_HOUR` (hour angle h) and solar declination δ is
    ``cos θ = sin φ sin δ + cos φ cos δ cos h``. The scene's radiance is multiplied by
    ``max(cos θ, floor)``, with the floor set so that the brightness ratio of the orbit is
    ``dynamic_range`` (default 300, as between a high-sun and a twilight scanline).
    Photon noise at the band's SNR (σ = band σ · √(L / band mean)) is added after the
    illumination, seeded per global scanline, so any chunking gives the same values.
"""

from __future__ import annotations

import math

import numpy as np
import xarray as xr

from xr_s5sr.bands import get_band
from xr_s5sr.degrade import add_noise
from xr_s5sr.errors import S5SRArgumentError
from xr_s5sr.synthetic import make_granule

#: Inclination of the Sentinel-5P orbit, degrees (sun-synchronous).
INCLINATION_DEG = 98.7
#: Local solar time of the observations, hours (S5P crosses the equator at 13:30).
LOCAL_HOUR = 13.5
#: Along-track distance of one scanline, km.
SCANLINE_KM = 5.5
#: Mean Earth radius, km.
EARTH_RADIUS_KM = 6371.0
#: Solar declination on 4 January, degrees (the synthetic granules' date).
DECLINATION_DEG = -22.7


def track_latitude(n_scanline: int) -> np.ndarray:
    """Latitude (degrees) of the ground track at each scanline, equator at the middle one."""
    angle = (np.arange(n_scanline) - (n_scanline - 1) / 2.0) * SCANLINE_KM / EARTH_RADIUS_KM
    return np.rad2deg(np.arcsin(math.sin(math.radians(INCLINATION_DEG)) * np.sin(angle)))


def illumination(n_scanline: int, dynamic_range: float = 300.0) -> np.ndarray:
    """Relative brightness per scanline: ``max(cos θ, floor)`` scaled to a maximum of 1.

    Parameters
    ----------
    n_scanline : int
        Scanlines of the orbit.
    dynamic_range : float, default 300
        Ratio of the brightest to the dimmest scanline (> 1).

    Returns
    -------
    numpy.ndarray
        (scanline,) float64 in [1 / dynamic_range, 1].
    """
    if not dynamic_range > 1.0:
        raise S5SRArgumentError(f"dynamic_range must be > 1, got {dynamic_range!r}.")
    phi = np.deg2rad(track_latitude(n_scanline))
    delta = math.radians(DECLINATION_DEG)
    hour_angle = math.radians((LOCAL_HOUR - 12.0) * 15.0)
    cos_zenith = np.sin(phi) * math.sin(delta) + np.cos(phi) * math.cos(delta) * math.cos(
        hour_angle
    )
    top = float(cos_zenith.max())
    return np.maximum(cos_zenith, top / dynamic_range) / top


def make_orbit(
    band: int,
    n_scanline: int = 4000,
    n_ground_pixel: int | None = None,
    seed: int = 0,
    *,
    n_channel: int | None = None,
    chunks: int = 64,
    dynamic_range: float = 300.0,
    noise: bool = True,
) -> xr.Dataset:
    """Lazy synthetic orbit: a :func:`~xr_s5sr.synthetic.make_granule` scene lit along track.

    Parameters
    ----------
    band : int
        S5P band 1–8.
    n_scanline : int, default 4000
        Scanlines (a full orbit is ~4,000).
    n_ground_pixel : int, optional
        Ground pixels (default: the band's full swath).
    seed : int, default 0
        Seed of the scene and of the noise.
    n_channel : int, optional
        Spectral channels (default: the band's real count).
    chunks : int, default 64
        Scanlines per dask block; nothing is rendered until computed.
    dynamic_range : float, default 300
        Brightest / dimmest scanline radiance ratio (see :func:`illumination`).
    noise : bool, default True
        Photon noise at the band's SNR, σ ∝ √radiance.

    Returns
    -------
    xarray.Dataset
        As :func:`~xr_s5sr.synthetic.make_granule` (dask-backed ``radiance`` and
        ``radiance_noise`` in dB), latitude following the orbit's ground track and a
        ``solar_illumination`` coordinate (scanline) holding the relative brightness.

    Examples
    --------
    >>> orbit = make_orbit(7, n_scanline=64, n_ground_pixel=8, n_channel=4, chunks=16)
    >>> orbit.radiance.chunks[0]
    (16, 16, 16, 16)
    """
    granule = make_granule(
        band, n_scanline, n_ground_pixel, seed, n_channel=n_channel, noise=False, chunks=chunks
    )
    light = illumination(n_scanline, dynamic_range)
    radiance = granule["radiance"].data * light[:, None, None].astype(np.float32)
    info = get_band(band)
    sigma = info.noise_sigma or float(np.finfo(np.float32).tiny)
    mean = info.mean_radiance or 1.0
    noise_sigma = sigma * np.sqrt(np.abs(radiance) / mean)
    if noise:
        radiance = radiance + noise_sigma * add_noise(radiance * 0, 1.0, seed + 1)
    snr_db = 10.0 * np.log10(np.maximum(np.abs(radiance), 1e-30) / np.maximum(noise_sigma, 1e-30))
    latitude_shift = track_latitude(n_scanline) - granule["latitude"].values.mean(axis=1)
    orbit = granule.assign(
        radiance=(granule["radiance"].dims, radiance.astype(np.float32), granule.radiance.attrs),
        radiance_noise=(
            granule["radiance_noise"].dims,
            snr_db.astype(np.float32),
            granule.radiance_noise.attrs,
        ),
    )
    return orbit.assign_coords(
        latitude=(
            granule["latitude"].dims,
            (granule["latitude"].values + latitude_shift[:, None]).astype(np.float32),
            granule.latitude.attrs,
        ),
        solar_illumination=(
            "scanline",
            light.astype(np.float32),
            {"long_name": "relative solar illumination (cosine of the solar zenith angle)"},
        ),
    ).assign_attrs(
        title=f"Synthetic TROPOMI/S5P L1B band {band} orbit (xr_s5sr)",
        source="synthetic: xr_s5sr.orbit.make_orbit (not a real observation)",
    )
