"""Synthetic Sentinel-5P-like L1B radiance: physically motivated scenes with the real L1B structure.

No real multi-channel S5P granule ships with this package; tests, the demo and the shipped weights
use scenes made here. Boundary: numpy (and lazily dask) arrays and xarray Datasets; file writing is
delegated to :func:`xr_s5sr.l1b.write_l1b`.

Scene model (per pixel ``x`` and wavelength ``λ``, top-of-atmosphere radiance)::

    L(x, λ) = k · F0(λ) · μ0(x) / π · [ ρ_R(λ, x) + ρ_s(x, λ) · exp(−τ_gas(λ) · M(x) · p(x)) ]

- ``F0``: solar-like continuum (Planck at 5778 K) with Fraunhofer lines of the instrument's width.
- ``ρ_R``: Rayleigh path reflectance ``0.5 · (1 − exp(−τ_R(λ) · M))``, ``τ_R ∝ λ^-4.05``.
- ``ρ_s``: surface + cloud reflectance, a low-rank mixture
  ``(1 − c) · t · Σ_k a_k ρ_k(λ) + c · b · ρ_cloud(λ)`` of water/vegetation/soil/snow endmember
  spectra ``ρ_k`` with spatial abundances ``a_k`` (coastlines from a thresholded fractal),
  surface texture ``t``, cloud fraction ``c`` (thresholded fractal with sharp edges) and cloud
  brightness ``b``.
- ``τ_gas``: band-specific absorbers — O3 Huggins bands (bands 1–3), NO2 and O2–O2 (3–4), O2-B and
  H2O (5), O2-A and H2O (6), CH4/CO/H2O line forests (7–8).
- ``M = 1/μ0 + 1/μv``: air mass, with an along-track solar-zenith gradient and the across-track
  viewing angle; ``p = 1 − c · (1 − h)`` shortens the absorbing path above clouds of top fraction h.
- Spatial fields are power-law (fractal) random fields generated on the ground (km) so that the
  anisotropic pixel size is respected, then blurred by a Gaussian instrument MTF matching the
  band's GNyq at the HR Nyquist frequency.
- ``k`` scales the scene so its mean radiance is the band's typical mean (SPEC §1) times a random
  scene brightness factor.
"""

from __future__ import annotations

import importlib.resources
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr
from scipy import ndimage

from xr_s5sr.bands import BandInfo, get_band, parse_band
from xr_s5sr.degrade import add_noise
from xr_s5sr.dims import check_chunk_size
from xr_s5sr.errors import DimensionError, MissingInputError
from xr_s5sr.l1b import RADIANCE_UNITS, l1b_filename, write_l1b

#: Instrument spectral resolution (FWHM of the slit function, nm) per detector.
_ISRF_FWHM_NM = {"UV": 0.49, "UVIS": 0.54, "NIR": 0.38, "SWIR": 0.25}
#: Reference mean radiance for band 1 (not tabulated in SPEC §1; band 1 is very dark).
_BAND1_MEAN_RADIANCE = 2.1e-09

# Endmember reflectance spectra: (wavelength knots nm, reflectance values); piecewise linear.
_ENDMEMBERS: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = {
    "water": ((270, 400, 500, 600, 700, 800, 2400), (0.07, 0.06, 0.045, 0.03, 0.025, 0.022, 0.02)),
    "vegetation": (
        (270, 450, 550, 670, 700, 750, 800, 2300, 2400),
        (0.03, 0.04, 0.09, 0.035, 0.12, 0.42, 0.45, 0.10, 0.08),
    ),
    "soil": ((270, 400, 550, 700, 800, 2300, 2400), (0.04, 0.08, 0.16, 0.26, 0.30, 0.33, 0.30)),
    "snow": ((270, 500, 700, 800, 1000, 2300, 2400), (0.92, 0.96, 0.92, 0.86, 0.7, 0.04, 0.02)),
}
_CLOUD = ((270, 500, 800, 1200, 2300, 2400), (0.80, 0.80, 0.76, 0.70, 0.50, 0.46))


@dataclass(frozen=True)
class SceneParameters:
    """Random scene settings (one draw per scene).

    Attributes
    ----------
    surface_slope, cloud_slope : float
        Exponents β of the power spectra ``|k|^-β`` of surface and cloud fields.
    land_fraction, cloud_cover, snow_fraction : float
        Fractions of land, cloud and snow-covered land.
    sza_start, sza_end : float
        Solar zenith angle (degrees) at the first and last scanline.
    brightness : float
        Multiplier of the band's typical mean radiance.
    feature_km : float
        Largest feature size (km) of the fractal fields (outer scale).
    """

    surface_slope: float
    cloud_slope: float
    land_fraction: float
    cloud_cover: float
    snow_fraction: float
    sza_start: float
    sza_end: float
    brightness: float
    feature_km: float

    @classmethod
    def random(cls, rng: np.random.Generator) -> SceneParameters:
        """Draw plausible parameters."""
        sza_start = float(rng.uniform(10.0, 70.0))
        return cls(
            surface_slope=float(rng.uniform(2.8, 3.6)),
            cloud_slope=float(rng.uniform(2.7, 3.5)),
            land_fraction=float(rng.uniform(0.0, 1.0)),
            cloud_cover=float(rng.uniform(0.05, 0.8)),
            snow_fraction=float(rng.choice([0.0, 0.0, 0.0, rng.uniform(0.1, 0.6)])),
            sza_start=sza_start,
            sza_end=float(np.clip(sza_start + rng.uniform(-15.0, 15.0), 5.0, 80.0)),
            brightness=float(np.exp(rng.normal(0.0, 0.3))),
            feature_km=float(np.exp(rng.uniform(np.log(250.0), np.log(5000.0)))),
        )


# ---------------------------------------------------------------------------------- spectra
def wavelength_grid(info: BandInfo, n_channel: int, n_ground_pixel: int) -> np.ndarray:
    """Nominal wavelength (ground_pixel, spectral_channel), nm, with a small across-track smile."""
    lo, hi = info.wavelength_range
    base = np.linspace(lo, hi, n_channel)
    across = np.linspace(-1.0, 1.0, n_ground_pixel)
    smile = 0.02 * (hi - lo) / 20.0 * across**2
    return base[None, :] + smile[:, None]


def _line_forest(
    wl: np.ndarray, centres: np.ndarray, strengths: np.ndarray, width: float
) -> np.ndarray:
    out = np.zeros_like(wl)
    for centre, strength in zip(centres, strengths, strict=True):
        out += strength * np.exp(-0.5 * ((wl - centre) / width) ** 2)
    return out


def _lines_in(
    rng: np.random.Generator, lo: float, hi: float, count: int, scale: float
) -> tuple[np.ndarray, np.ndarray]:
    centres = rng.uniform(lo, hi, count)
    strengths = scale * rng.pareto(1.5, count).clip(0, 20) / 3.0
    return centres, strengths


def solar_spectrum(wl: np.ndarray, info: BandInfo) -> np.ndarray:
    """Solar irradiance shape (arbitrary units): Planck 5778 K with Fraunhofer lines."""
    wl_m = wl * 1e-9
    planck = 1.0 / (wl_m**5 * (np.exp(1.4388e-2 / (wl_m * 5778.0)) - 1.0))
    planck /= planck.mean()
    lo, hi = info.wavelength_range
    # Fraunhofer lines are a property of the Sun: the same in every scene of a band.
    rng = np.random.default_rng(1000 + info.number)
    depth = 0.5 if hi < 500 else 0.12
    centres, strengths = _lines_in(rng, lo - 1, hi + 1, int(2 * (hi - lo)) + 10, depth)
    width = _ISRF_FWHM_NM[info.detector] / 2.355
    return planck * np.exp(-_line_forest(wl, centres, strengths, width))


def gas_optical_depth(wl: np.ndarray, info: BandInfo) -> np.ndarray:
    """Vertical absorption optical depth of the band's trace gases (per unit air mass)."""
    rng = np.random.default_rng(2000 + info.number)
    width = _ISRF_FWHM_NM[info.detector] / 2.355
    tau = np.zeros_like(wl)
    if wl.min() < 345:  # O3 Huggins bands: steep exponential decrease with vibrational structure
        huggins = (
            2.5 * np.exp(-(wl - 300.0) / 7.0) * (1 + 0.35 * np.sin(2 * np.pi * (wl - 310) / 3.6))
        )
        tau += np.where(wl < 345, huggins, 0.0)
    if wl.max() > 330 and wl.min() < 500:  # NO2 and O2-O2 (477 nm)
        tau += 0.01 * (1 + np.sin(2 * np.pi * wl / 5.0))
        tau += 0.06 * np.exp(-0.5 * ((wl - 477.0) / 2.5) ** 2)
    if wl.max() > 680 and wl.min() < 700:  # O2-B
        tau += _line_forest(wl, *_lines_in(rng, 686, 695, 60, 0.6), width)
    if wl.max() > 700 and wl.min() < 740:  # H2O 720 nm band
        tau += _line_forest(wl, *_lines_in(rng, 700, 740, 80, 0.15), width)
    if wl.max() > 755 and wl.min() < 775:  # O2-A
        tau += _line_forest(wl, *_lines_in(rng, 759, 771, 120, 2.5), width)
    if wl.min() > 2000:  # SWIR: CH4, CO, H2O line forests
        lo, hi = info.wavelength_range
        tau += _line_forest(wl, *_lines_in(rng, lo, hi, 140, 0.5), width)  # CH4
        tau += _line_forest(wl, *_lines_in(rng, lo, hi, 40, 0.08), width)  # CO
        tau += _line_forest(wl, *_lines_in(rng, lo, hi, 60, 0.3), width)  # H2O
    return tau


def _endmember(wl: np.ndarray, knots: tuple[tuple[float, ...], tuple[float, ...]]) -> np.ndarray:
    return np.interp(wl, knots[0], knots[1])


# ---------------------------------------------------------------------------------- fields
def fractal_field(
    shape: tuple[int, int],
    slope: float,
    rng: np.random.Generator,
    pixel_km: tuple[float, float] = (5.5, 3.5),
    outer_km: float = 800.0,
) -> np.ndarray:
    """Gaussian random field with power spectrum ``(k² + k0²)^(-slope/2)``, zero mean, unit std.

    Parameters
    ----------
    shape : (int, int)
        (scanline, ground_pixel).
    slope : float
        Spectral exponent β (≈ 2.5–3.5 for clouds and land surfaces).
    rng : numpy.random.Generator
        Source of randomness.
    pixel_km : (float, float)
        Pixel size along scanline and along ground_pixel, km: features are isotropic on the ground.
    outer_km : float
        Outer scale (km) where the spectrum flattens.
    """
    ky = np.fft.fftfreq(shape[0], d=pixel_km[0])[:, None]
    kx = np.fft.rfftfreq(shape[1], d=pixel_km[1])[None, :]
    k2 = kx**2 + ky**2 + (1.0 / outer_km) ** 2
    amplitude = k2 ** (-slope / 4.0)
    noise = rng.standard_normal((shape[0], shape[1] // 2 + 1)) + 1j * rng.standard_normal(
        (shape[0], shape[1] // 2 + 1)
    )
    field = np.fft.irfft2(noise * amplitude, s=shape)
    field -= field.mean()
    return field / (field.std() + 1e-12)


def _soft_threshold(field: np.ndarray, fraction: float, sharpness: float) -> np.ndarray:
    """Map a field to [0, 1] covering ``fraction`` of the pixels, with edges ``sharpness`` wide."""
    level = (
        np.quantile(field, 1.0 - fraction)
        if 0 < fraction < 1
        else (-np.inf if fraction >= 1 else np.inf)
    )
    return 1.0 / (1.0 + np.exp(-(field - level) / sharpness))


@dataclass(frozen=True)
class SceneFields:
    """Spatial fields (scanline, ground_pixel) of a scene, already blurred by the instrument MTF."""

    abundances: np.ndarray  # (k, scanline, ground_pixel), sums to 1 over k
    texture: np.ndarray
    cloud: np.ndarray
    cloud_brightness: np.ndarray
    cloud_top: np.ndarray
    mu0: np.ndarray
    air_mass: np.ndarray


def scene_fields(
    info: BandInfo, shape: tuple[int, int], params: SceneParameters, rng: np.random.Generator
) -> SceneFields:
    """Draw the spatial fields of one scene of ``shape`` = (scanline, ground_pixel)."""
    pixel = (info.pixel_size_km[1], info.pixel_size_km[0])  # (along, across) km
    outer = params.feature_km

    land = _soft_threshold(fractal_field(shape, 3.6, rng, pixel, outer), params.land_fraction, 0.02)
    vegetated = _soft_threshold(fractal_field(shape, 3.0, rng, pixel, outer / 3), 0.5, 0.4)
    snowy = _soft_threshold(fractal_field(shape, 3.2, rng, pixel, outer), params.snow_fraction, 0.1)
    abundances = np.stack(
        [
            1.0 - land,
            land * (1 - snowy) * vegetated,
            land * (1 - snowy) * (1 - vegetated),
            land * snowy,
        ]
    )
    texture = np.exp(0.25 * fractal_field(shape, params.surface_slope, rng, pixel, outer / 4))
    cloud_field = fractal_field(shape, params.cloud_slope, rng, pixel, outer)
    cloud = _soft_threshold(cloud_field, params.cloud_cover, rng.uniform(0.05, 0.4))
    brightness = np.clip(0.75 + 0.35 * fractal_field(shape, 2.8, rng, pixel, outer / 4), 0.2, 1.3)
    cloud_top = np.clip(0.5 + 0.2 * fractal_field(shape, 3.0, rng, pixel, outer / 2), 0.1, 0.9)

    scan = np.linspace(0.0, 1.0, shape[0])[:, None]
    sza = np.deg2rad(params.sza_start + (params.sza_end - params.sza_start) * scan)
    vza = np.deg2rad(np.linspace(-57.0, 57.0, shape[1]))[None, :]
    mu0 = np.broadcast_to(np.cos(sza), shape)
    air_mass = 1.0 / np.cos(sza) + 1.0 / np.cos(vza)

    # Instrument MTF at the HR grid: a Gaussian whose response at Nyquist equals GNyq would
    # match the LR design values; the native-resolution images of the toolbox crops keep more
    # high-frequency power, which a 0.6x narrower blur reproduces (see docs/synthetic.md).
    sigma = tuple(0.6 * np.sqrt(-2 * np.log(g)) / np.pi for g in (info.gnyq_x, info.gnyq_y))

    def blur(a: np.ndarray) -> np.ndarray:
        return ndimage.gaussian_filter(a, sigma, mode="reflect")

    return SceneFields(
        abundances=np.stack([blur(a) for a in abundances]).astype(np.float32),
        texture=blur(texture).astype(np.float32),
        cloud=blur(cloud).astype(np.float32),
        cloud_brightness=blur(brightness).astype(np.float32),
        cloud_top=blur(cloud_top).astype(np.float32),
        mu0=np.ascontiguousarray(mu0, dtype=np.float32),
        air_mass=np.ascontiguousarray(air_mass, dtype=np.float32),
    )


@dataclass(frozen=True)
class SceneSpectra:
    """Spectral ingredients (ground_pixel, spectral_channel) of a band."""

    solar: np.ndarray
    gas_tau: np.ndarray
    rayleigh_tau: np.ndarray
    endmembers: np.ndarray  # (k, ground_pixel, spectral_channel)
    cloud: np.ndarray


def scene_spectra(info: BandInfo, wavelength: np.ndarray) -> SceneSpectra:
    """Spectral ingredients on the (ground_pixel, spectral_channel) wavelength grid, nm."""
    return SceneSpectra(
        solar=solar_spectrum(wavelength, info).astype(np.float32),
        gas_tau=gas_optical_depth(wavelength, info).astype(np.float32),
        rayleigh_tau=(0.0088 * (wavelength / 1000.0) ** -4.05).astype(np.float32),
        endmembers=np.stack(
            [
                _endmember(wavelength, _ENDMEMBERS[k])
                for k in ("water", "vegetation", "soil", "snow")
            ]
        ).astype(np.float32),
        cloud=_endmember(wavelength, _CLOUD).astype(np.float32),
    )


def render(fields: SceneFields, spectra: SceneSpectra, rows: slice = slice(None)) -> np.ndarray:
    """Radiance shape (relative units) of scanlines ``rows``: (scanline, ground_pixel, channel)."""
    a = fields.abundances[:, rows]
    surface = np.einsum("kyx,kxc->yxc", a, spectra.endmembers, optimize=True)
    surface *= fields.texture[rows][..., None]
    cloud = fields.cloud[rows][..., None]
    reflectance = (1.0 - cloud) * surface + cloud * (
        fields.cloud_brightness[rows][..., None] * spectra.cloud[None]
    )
    air_mass = fields.air_mass[rows][..., None]
    path = 1.0 - cloud * (1.0 - fields.cloud_top[rows][..., None])
    transmission = np.exp(-spectra.gas_tau[None] * air_mass * path)
    rayleigh = 0.5 * (1.0 - np.exp(-spectra.rayleigh_tau[None] * air_mass))
    radiance = spectra.solar[None] * fields.mu0[rows][..., None] / np.pi
    radiance *= rayleigh + reflectance * transmission * (1.0 - rayleigh)
    return radiance.astype(np.float32)


@dataclass(frozen=True)
class Scene:
    """A drawn scene: fields, spectra and the radiance scale (radiance units per relative unit)."""

    band: int
    fields: SceneFields
    spectra: SceneSpectra
    wavelength: np.ndarray
    scale: float
    params: SceneParameters

    @property
    def shape(self) -> tuple[int, int, int]:
        """(scanline, ground_pixel, spectral_channel)."""
        _, n_scan, n_pixel = self.fields.abundances.shape
        return n_scan, n_pixel, self.wavelength.shape[1]

    def radiance(self, rows: slice = slice(None)) -> np.ndarray:
        """Radiance (mol m-2 nm-1 sr-1 s-1) of scanlines ``rows``, float32."""
        return render(self.fields, self.spectra, rows) * np.float32(self.scale)


def make_scene(
    band: int,
    n_scanline: int,
    n_ground_pixel: int | None = None,
    n_channel: int | None = None,
    seed: int = 0,
    params: SceneParameters | None = None,
) -> Scene:
    """Draw a synthetic S5P-like scene (see the module docstring for the physics).

    Parameters
    ----------
    band : int
        S5P band 1–8.
    n_scanline : int
        Scanlines (along track).
    n_ground_pixel : int, optional
        Ground pixels (default: the band's full swath).
    n_channel : int, optional
        Spectral channels (default: the band's real count, 497 or 480).
    seed : int, default 0
        Seed; the same seed gives the same scene.
    params : SceneParameters, optional
        Scene settings (default: drawn from ``seed``).

    Examples
    --------
    >>> scene = make_scene(7, 16, 12, n_channel=5, seed=1)
    >>> scene.radiance().shape
    (16, 12, 5)
    """
    info = get_band(band)
    n_ground_pixel = info.ground_pixels if n_ground_pixel is None else n_ground_pixel
    n_channel = info.spectral_channels if n_channel is None else n_channel
    rng = np.random.default_rng(seed)
    params = SceneParameters.random(rng) if params is None else params
    fields = scene_fields(info, (n_scanline, n_ground_pixel), params, rng)
    wavelength = wavelength_grid(info, n_channel, n_ground_pixel)
    spectra = scene_spectra(info, wavelength)
    # Scale from a sub-sample of scanlines so large lazy granules need not be rendered here.
    step = max(1, n_scanline // 64)
    relative_mean = float(render(fields, spectra, slice(None, None, step)).mean())
    target = info.mean_radiance if info.mean_radiance is not None else _BAND1_MEAN_RADIANCE
    scale = target * params.brightness / max(relative_mean, 1e-30)
    return Scene(band, fields, spectra, wavelength.astype(np.float32), scale, params)


# ---------------------------------------------------------------------------------- granules
def _render_block(scene: Scene, block_info: dict[Any, Any] | None = None) -> np.ndarray:
    if block_info is None:
        raise DimensionError("_render_block runs inside dask.array.map_blocks only.")
    (start, stop), _, _ = block_info[None]["array-location"]
    return scene.radiance(slice(start, stop))


def _swath_geolocation(
    n_scanline: int, n_ground_pixel: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Latitude/longitude (degrees) of a descending-node (day side) swath, ~5.5 km per scanline."""
    rng = np.random.default_rng(seed + 7)
    lat0 = rng.uniform(-40.0, 60.0)
    lon0 = rng.uniform(-180.0, 180.0)
    scan = np.arange(n_scanline)[:, None]
    across = np.linspace(-1.0, 1.0, n_ground_pixel)[None, :]
    # Day side descends southward; the swath is ~2,600 km wide and tilted by the orbit inclination.
    lat = lat0 - scan * 5.5 / 111.0 + across * 1.5 - 0.35 * across**3
    coslat = np.cos(np.deg2rad(np.clip(lat, -85, 85)))
    lon = lon0 - scan * 5.5 / 111.0 * 0.2 + across * 11.5 / coslat
    lon = (lon + 180.0) % 360.0 - 180.0
    return lat.astype(np.float32), lon.astype(np.float32)


def make_granule(
    band: int,
    n_scanline: int,
    n_ground_pixel: int | None = None,
    seed: int = 0,
    *,
    n_channel: int | None = None,
    noise: bool = False,
    chunks: int | None = None,
    params: SceneParameters | None = None,
) -> xr.Dataset:
    """Synthetic L1B band granule with the structure of :func:`xr_s5sr.open_l1b`.

    Parameters
    ----------
    band : int
        S5P band 1–8.
    n_scanline : int
        Scanlines.
    n_ground_pixel : int, optional
        Ground pixels (default: the band's full swath: 448, 450 or 215; 77 for band 1).
    seed : int, default 0
        Seed of the scene (same seed → identical granule).
    n_channel : int, optional
        Spectral channels (default: the band's real count). Small values keep tests fast.
    noise : bool, default False
        Add Gaussian noise at the band's SNR (SPEC §1), scaled with the square root of the signal.
    chunks : int, optional
        If given, ``radiance`` is a dask array rendered lazily in blocks of ``chunks`` scanlines
        (the small spatial fields are drawn eagerly); otherwise numpy.
    params : SceneParameters, optional
        Scene settings (default drawn from ``seed``).

    Returns
    -------
    xarray.Dataset
        ``radiance`` (scanline, ground_pixel, spectral_channel) float32 in mol m-2 nm-1 sr-1 s-1,
        ``radiance_noise`` (dB) and ``quality_level``; coords ``latitude``/``longitude``
        (scanline, ground_pixel), ``nominal_wavelength`` (ground_pixel, spectral_channel),
        ``delta_time`` (scanline), ``time``; attrs incl. ``s5p_band``.

    Examples
    --------
    >>> ds = make_granule(3, n_scanline=8, n_ground_pixel=6, n_channel=4)
    >>> ds.radiance.dims, ds.attrs["s5p_band"]
    (('scanline', 'ground_pixel', 'spectral_channel'), 3)
    """
    info = get_band(band)
    if chunks is not None:
        check_chunk_size(chunks, "chunks")
    scene = make_scene(band, n_scanline, n_ground_pixel, n_channel, seed, params)
    n_scan, n_pixel, n_chan = scene.shape
    if chunks is not None:
        import dask.array as da

        radiance: Any = da.map_blocks(
            _render_block,
            scene,
            chunks=(da.core.normalize_chunks(chunks, (n_scan,))[0], (n_pixel,), (n_chan,)),
            dtype=np.float32,
            meta=np.empty((0, 0, 0), np.float32),
        )
    else:
        radiance = scene.radiance()
    sigma = info.noise_sigma or (_BAND1_MEAN_RADIANCE / 100.0)
    mean = info.mean_radiance or _BAND1_MEAN_RADIANCE
    # Shot-noise-like level: the band's sigma at its mean radiance, growing with sqrt(signal).
    noise_std = sigma * np.sqrt(np.abs(radiance) / mean)
    if noise:
        radiance = radiance + noise_std * add_noise(radiance * 0, 1.0, seed + 1)
    snr_db = 10.0 * np.log10(np.maximum(np.abs(radiance), 1e-30) / np.maximum(noise_std, 1e-30))
    lat, lon = _swath_geolocation(n_scan, n_pixel, seed)
    start = datetime(2023, 1, 4, tzinfo=timezone.utc) + timedelta(minutes=seed % 1440)
    dims = ("scanline", "ground_pixel", "spectral_channel")
    ds = xr.Dataset(
        {
            "radiance": (
                dims,
                radiance,
                {
                    "long_name": "spectral photon radiance",
                    "units": RADIANCE_UNITS,
                    "ancillary_variables": "radiance_noise quality_level",
                },
            ),
            "radiance_noise": (
                dims,
                snr_db.astype(np.float32),
                {
                    "long_name": "radiance signal-to-noise ratio",
                    "units": "dB",
                    "comment": "10*log10(radiance / noise)",
                },
            ),
            "quality_level": (
                dims,
                (np.isfinite(radiance) * np.uint8(100)).astype(np.uint8),
                {"long_name": "data quality level", "units": "1", "valid_range": [0, 100]},
            ),
        },
        coords=_granule_coords(scene.shape, lat, lon, scene.wavelength, start),
        attrs={
            "title": f"Synthetic TROPOMI/S5P L1B band {band} radiance (xr_s5sr)",
            "platform": "S5P",
            "sensor": "TROPOMI",
            "institution": "xr_s5sr synthetic scene generator",
            "source": "synthetic: xr_s5sr.synthetic.make_granule (not a real observation)",
            "time_coverage_start": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "orbit": 27000 + seed,
            "s5p_band": band,
            "s5sr_synthetic_seed": seed,
        },
    )
    return ds


def _granule_coords(
    shape: tuple[int, int, int],
    lat: np.ndarray,
    lon: np.ndarray,
    wavelength: np.ndarray,
    start: datetime,
) -> dict[str, Any]:
    """The L1B coordinates of a synthetic granule of ``shape`` (scanline, ground_pixel,
    spectral_channel): indices, geolocation (degrees), nominal wavelength (nm), times."""
    n_scan, n_pixel, n_chan = shape
    return {
        "scanline": (
            "scanline",
            np.arange(n_scan, dtype=np.int32),
            {"long_name": "scanline index"},
        ),
        "ground_pixel": (
            "ground_pixel",
            np.arange(n_pixel, dtype=np.int32),
            {"long_name": "ground pixel index"},
        ),
        "spectral_channel": (
            "spectral_channel",
            np.arange(n_chan, dtype=np.int32),
            {"long_name": "spectral channel index"},
        ),
        "latitude": (
            ("scanline", "ground_pixel"),
            lat,
            {
                "long_name": "pixel centre latitude",
                "units": "degrees_north",
                "standard_name": "latitude",
            },
        ),
        "longitude": (
            ("scanline", "ground_pixel"),
            lon,
            {
                "long_name": "pixel centre longitude",
                "units": "degrees_east",
                "standard_name": "longitude",
            },
        ),
        "nominal_wavelength": (
            ("ground_pixel", "spectral_channel"),
            wavelength,
            {"long_name": "nominal wavelength", "units": "nm"},
        ),
        "delta_time": (
            "scanline",
            (np.arange(n_scan) * 1080).astype(np.int32),
            {"long_name": "offset from reference start time of measurement", "units": "ms"},
        ),
        "time": (
            (),
            np.datetime64(start.replace(tzinfo=None), "ns"),
            {"long_name": "reference time"},
        ),
    }


def sample_path(band: int = 7) -> Path:
    """Path of the small synthetic L1B sample granule embedded in the package (demo input).

    Parameters
    ----------
    band : int, default 7
        Band of the sample; samples exist for the bands listed by :func:`sample_bands`.
    """
    for entry in importlib.resources.files("xr_s5sr").joinpath("data").iterdir():
        if entry.name.endswith(".nc") and f"_BD{band}_" in entry.name:
            return Path(str(entry))
    raise MissingInputError(
        f"No embedded sample granule for band {band}; available bands: {sample_bands()}. "
        "Make one with xr_s5sr.synthetic.make_granule(...) and xr_s5sr.write_l1b(...)."
    )


def sample_bands() -> list[int]:
    """Bands for which an embedded sample granule exists."""

    names = [e.name for e in importlib.resources.files("xr_s5sr").joinpath("data").iterdir()]
    return sorted({b for n in names if n.endswith(".nc") and (b := parse_band(n)) is not None})


__all__ = [
    "RADIANCE_UNITS",
    "Scene",
    "SceneFields",
    "SceneParameters",
    "SceneSpectra",
    "fractal_field",
    "make_granule",
    "make_sample_granule",
    "make_scene",
    "sample_bands",
    "sample_path",
    "scene_fields",
    "scene_spectra",
    "wavelength_grid",
    "write_l1b",
    "write_sample_granule",
]


#: Shape (scanline, ground_pixel) and seed of the embedded sample granules.
SAMPLE_SHAPE = (128, 64)
SAMPLE_SEED = 2023
#: Mantissa bits kept in the sample radiance (relative precision 2**-12 ≈ 2.4e-4, far below
#: the instrument noise) so that zlib compresses the embedded file well.
SAMPLE_MANTISSA_BITS = 12


def _truncate_mantissa(values: np.ndarray, bits: int) -> np.ndarray:
    """Zero the low mantissa bits of float32 values (round to nearest), NaN preserved."""
    as_int = np.ascontiguousarray(values, dtype=np.float32).view(np.uint32)
    drop = 23 - bits
    rounded = (as_int + np.uint32(1 << (drop - 1))) & np.uint32(~((1 << drop) - 1) & 0xFFFFFFFF)
    return np.where(np.isfinite(values), rounded.view(np.float32), values)


def make_sample_granule(band: int = 7) -> xr.Dataset:
    """The embedded demo granule of ``band``: a reproducible 128×64 synthetic HR crop.

    All spectral channels of the band; radiance rounded to 12 mantissa bits.
    """
    ds = make_granule(band, *SAMPLE_SHAPE, seed=SAMPLE_SEED)
    ds = ds.drop_vars(["radiance_noise", "quality_level"])
    ds["radiance"].values = _truncate_mantissa(ds["radiance"].values, SAMPLE_MANTISSA_BITS)
    return ds


def write_sample_granule(band: int, directory: str | Path, overwrite: bool = False) -> Path:
    """Write :func:`make_sample_granule` with a real L1B file name into ``directory``."""

    ds = make_sample_granule(band)
    start = datetime.strptime(ds.attrs["time_coverage_start"], "%Y-%m-%dT%H:%M:%SZ")
    start = start.replace(tzinfo=timezone.utc)
    end = start + timedelta(seconds=1.08 * SAMPLE_SHAPE[0])
    name = l1b_filename(band, start, end, orbit=int(ds.attrs["orbit"]), stream="TEST")
    return write_l1b(ds, Path(directory) / name, overwrite=overwrite)
