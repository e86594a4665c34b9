"""Families of HR radiance scenes for training and for evaluation on scenes training never saw.

Boundary: numpy only; every function returns an HR cube (scanline, ground_pixel,
spectral_channel), float32, radiance units. The L1B-structured granules of
:mod:`xr_s5sr.synthetic` are one family among several here: a model trained on one generator
learns that generator, so the shipped models are trained on a mixture and scored on families
held out of training (``docs/evaluation.md``).

Families
    ``solar``
        :func:`xr_s5sr.synthetic.make_scene`: solar spectrum × surface/cloud reflectance ×
        band-specific gas absorption, fractal coastlines and clouds.
    ``absorption``
        Three random spectra (smooth positive continuum with 5–40 Gaussian absorption lines of
        random depth and width) mixed by fractal abundance maps, times a surface texture.
    ``texture``
        Real S5P spatial texture: a window of one of the toolbox's native-resolution crops
        (``shared/reference``, single wavelength) mixes two random spectra. Needs the crops
        (``textures=``); training uses scanlines 0–319 of each crop, evaluation 352–511.
    ``mixture``
        A convex blend of a ``solar`` and an ``absorption`` scene.
    ``edges`` (held out)
        Voronoi cells of random spectra with sharp borders and an illumination gradient.
    ``smooth`` (held out)
        Very smooth fields (no small-scale detail) mixing two random spectra.
    ``continuum`` (held out, continuous spectral variability)
        No finite set of spectra: at every pixel the surface continuum is ``exp`` of a cubic
        in wavelength whose coefficients are fractal fields, an absorber column (lognormal
        fractal field) scales the optical depth of 5–40 lines, and the lines move across
        ground pixels (spectral smile, up to ±0.3 % of the band edge to edge).

Brightness: every scene is scaled to the band's mean radiance (SPEC §1) times a factor drawn
log-uniformly over three decades (10^−1.5 … 10^1.5), or the ``brightness`` given.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from scipy import ndimage

from xr_s5sr.bands import get_band
from xr_s5sr.errors import MissingInputError, S5SRArgumentError
from xr_s5sr.synthetic import fractal_field, make_scene

#: Families the shipped models are trained on.
TRAINING_FAMILIES = ("solar", "absorption", "texture", "mixture")
#: Families no shipped model saw in training (evaluation only).
HELD_OUT_FAMILIES = ("edges", "smooth")
#: Families without a finite set of spectra (scenes a spectral-subspace prior is not tuned on).
CONTINUOUS_FAMILIES = ("continuum",)
FAMILIES = TRAINING_FAMILIES + HELD_OUT_FAMILIES + CONTINUOUS_FAMILIES
#: log10 range of the brightness factor applied to the band's mean radiance.
BRIGHTNESS_DECADES = (-1.5, 1.5)
#: Environment variable naming the directory of the toolbox's reference crops.
ENV_REFERENCE_DIR = "XR_S5SR_REFERENCE_DIR"
#: Scanlines of each reference crop used for training (the rest, from row 352, for evaluation).
TEXTURE_TRAIN_ROWS = (0, 320)
TEXTURE_EVAL_ROWS = (352, 512)
#: Detector of the reference crop whose texture goes with each band's GNyq class.
_CROP_DETECTOR = {1: "UV", 2: "UV", 3: "UVIS", 4: "UVIS", 5: "NIR", 6: "NIR", 7: "SWIR", 8: "SWIR"}


def _wavelength(band: int, n_channel: int) -> np.ndarray:
    info = get_band(band)
    low, high = info.wavelength_range
    return np.linspace(low, high, n_channel)


def random_spectra(wavelength: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` positive spectra on ``wavelength`` (nm): smooth continuum × absorption lines.

    The continuum is ``exp`` of a random cubic in normalised wavelength (a factor ≤ ~3 across
    the band); each of 5–40 lines has a depth of 2–80 % and a width of 0.05–3 % of the band.
    """
    t = np.linspace(-1.0, 1.0, wavelength.size)
    spectra = []
    for _ in range(count):
        coefficients = rng.normal(0.0, [0.3, 0.3, 0.15, 0.1])
        continuum = np.exp(np.polynomial.polynomial.polyval(t, coefficients))
        optical_depth = np.zeros_like(t)
        for _ in range(int(rng.integers(5, 41))):
            centre = rng.uniform(-1.0, 1.0)
            width = 2.0 * 10 ** rng.uniform(np.log10(5e-4), np.log10(3e-2))
            depth = -np.log(1.0 - rng.uniform(0.02, 0.8))
            optical_depth += depth * np.exp(-0.5 * ((t - centre) / width) ** 2)
        spectra.append(continuum * np.exp(-optical_depth))
    return np.asarray(spectra)


def _mtf_blur(field: np.ndarray, band: int) -> np.ndarray:
    """The native-resolution instrument blur of :mod:`xr_s5sr.synthetic` (a narrow Gaussian)."""
    info = get_band(band)
    sigma = tuple(0.6 * np.sqrt(-2 * np.log(g)) / np.pi for g in (info.gnyq_x, info.gnyq_y))
    return ndimage.gaussian_filter(field, (*sigma, 0)[: field.ndim], mode="reflect")


def _fractal(
    shape: tuple[int, int], slope: float, rng: np.random.Generator, band: int
) -> np.ndarray:

    info = get_band(band)
    pixel = (info.pixel_size_km[1], info.pixel_size_km[0])
    return fractal_field(shape, slope, rng, pixel, outer_km=float(rng.uniform(100.0, 800.0)))


def _mix(abundances: np.ndarray, spectra: np.ndarray) -> np.ndarray:
    return np.einsum("kyx,kc->yxc", abundances, spectra, optimize=True)


def _softmax(fields: np.ndarray, sharpness: float) -> np.ndarray:
    weights = np.exp(sharpness * (fields - fields.max(axis=0)))
    return weights / weights.sum(axis=0)


def _absorption(
    band: int, shape: tuple[int, int], wavelength: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    fields = np.stack([_fractal(shape, rng.uniform(2.6, 3.8), rng, band) for _ in range(3)])
    abundances = _softmax(fields, rng.uniform(0.5, 4.0))
    texture = np.exp(0.25 * _fractal(shape, rng.uniform(2.4, 3.4), rng, band))
    return _mix(abundances, random_spectra(wavelength, 3, rng)) * texture[..., None]


def _texture(
    band: int,
    shape: tuple[int, int],
    wavelength: np.ndarray,
    rng: np.random.Generator,
    textures: dict[str, np.ndarray],
    rows: tuple[int, int],
) -> np.ndarray:
    detector = _CROP_DETECTOR[band]
    if detector not in textures:
        raise MissingInputError(
            f"The texture family needs the {detector} reference crop ({detector}_IN.mat); "
            f"found {sorted(textures)}. Point {ENV_REFERENCE_DIR} at the directory of the "
            "toolbox crops (shared/reference/s5p_sisr_toolbox)."
        )
    crop = textures[detector][rows[0] : rows[1]]
    if crop.shape[0] < shape[0] or crop.shape[1] < shape[1]:
        raise S5SRArgumentError(
            f"Texture rows {rows} of {detector} are smaller than the scene {shape}."
        )
    r0 = int(rng.integers(0, crop.shape[0] - shape[0] + 1))
    c0 = int(rng.integers(0, crop.shape[1] - shape[1] + 1))
    window = crop[r0 : r0 + shape[0], c0 : c0 + shape[1]]
    if rng.random() < 0.5:
        window = window[::-1]
    if rng.random() < 0.5:
        window = window[:, ::-1]
    low, high = np.percentile(window, [1, 99])
    level = np.clip((window - low) / max(high - low, 1e-30), 0.0, 1.0)
    abundances = np.stack([level, 1.0 - level])
    return _mix(abundances, random_spectra(wavelength, 2, rng)) * (0.3 + level)[..., None]


def _edges(
    band: int, shape: tuple[int, int], wavelength: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    n_cells = int(rng.integers(8, 40))
    points = rng.uniform(0, 1, (n_cells, 2)) * np.asarray(shape)
    rows, cols = np.mgrid[0 : shape[0], 0 : shape[1]]
    distance = (rows[..., None] - points[:, 0]) ** 2 + (cols[..., None] - points[:, 1]) ** 2
    cell = distance.argmin(axis=-1)
    spectra = random_spectra(wavelength, 4, rng)
    kind = rng.integers(0, 4, n_cells)
    gain = rng.uniform(0.3, 1.5, n_cells)
    cube = spectra[kind[cell]] * gain[cell][..., None]
    gradient = 1.0 + 0.4 * (rows / shape[0] - 0.5) * rng.uniform(-1, 1)
    return _mtf_blur(cube * gradient[..., None], band)


def _continuum(
    band: int, shape: tuple[int, int], n_channel: int, rng: np.random.Generator
) -> np.ndarray:
    """Continuous spectral variability: per-pixel continuum, absorber column and smile."""
    t = np.linspace(-1.0, 1.0, n_channel)
    spread = np.array([0.3, 0.3, 0.15, 0.1])
    coefficients = [
        rng.normal(0.0, s) + 0.5 * s * _fractal(shape, rng.uniform(2.6, 3.6), rng, band)
        for s in spread
    ]
    continuum = np.exp(sum(c[..., None] * t**k for k, c in enumerate(coefficients)))
    column = np.exp(0.4 * _fractal(shape, rng.uniform(2.6, 3.6), rng, band))
    smile = rng.uniform(-3e-3, 3e-3) * np.linspace(-1.0, 1.0, shape[1])
    depth = np.zeros((shape[1], n_channel))
    for _ in range(int(rng.integers(5, 41))):
        centre = rng.uniform(-1.0, 1.0)
        width = 2.0 * 10 ** rng.uniform(np.log10(5e-4), np.log10(3e-2))
        strength = -np.log(1.0 - rng.uniform(0.02, 0.8))
        offset = t[None, :] - centre - smile[:, None]
        depth += strength * np.exp(-0.5 * (offset / width) ** 2)
    texture = np.exp(0.25 * _fractal(shape, rng.uniform(2.4, 3.4), rng, band))
    cube = continuum * np.exp(-column[..., None] * depth[None]) * texture[..., None]
    return _mtf_blur(cube, band)


def _smooth(
    band: int, shape: tuple[int, int], wavelength: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    fields = np.stack(
        [ndimage.gaussian_filter(rng.standard_normal(shape), shape[0] / 8) for _ in range(2)]
    )
    fields = (fields - fields.mean()) / (fields.std() + 1e-12)
    abundances = _softmax(fields, 1.0)
    return _mix(abundances, random_spectra(wavelength, 2, rng))


def family_scene(
    family: str,
    band: int,
    shape: tuple[int, int],
    seed: int,
    *,
    n_channel: int | None = None,
    brightness: float | None = None,
    textures: dict[str, np.ndarray] | None = None,
    texture_rows: tuple[int, int] = TEXTURE_TRAIN_ROWS,
) -> np.ndarray:
    """One HR scene of a family.

    Parameters
    ----------
    family : str
        One of :data:`FAMILIES`.
    band : int
        S5P band (wavelength range, pixel size, instrument blur, mean radiance).
    shape : (int, int)
        HR (scanline, ground_pixel).
    seed : int
        The same seed gives the same scene.
    n_channel : int, optional
        Spectral channels (default: the band's count).
    brightness : float, optional
        Factor on the band's mean radiance (default: log-uniform over three decades).
    textures : dict, optional
        Reference crops by detector (:func:`load_textures`), for ``family="texture"``.
    texture_rows : (int, int)
        Scanlines of the crops to draw from (training and evaluation use disjoint rows).

    Returns
    -------
    numpy.ndarray
        float32 (scanline, ground_pixel, spectral_channel), radiance units, positive.

    Examples
    --------
    >>> family_scene("edges", 3, (32, 24), seed=1, n_channel=5).shape
    (32, 24, 5)
    """
    if family not in FAMILIES:
        raise S5SRArgumentError(f"Unknown scene family {family!r}: expected one of {FAMILIES}.")
    info = get_band(band)
    n_channel = info.spectral_channels if n_channel is None else n_channel
    rng = np.random.default_rng([seed, FAMILIES.index(family)])
    wavelength = _wavelength(band, n_channel)
    if family in ("solar", "mixture"):
        cube = make_scene(band, shape[0], shape[1], n_channel=n_channel, seed=seed).radiance()
        cube = cube.astype(np.float64) / cube.mean()
        if family == "mixture":
            other = _absorption(band, shape, wavelength, rng)
            weight = rng.uniform(0.2, 0.8)
            cube = weight * cube + (1.0 - weight) * other / other.mean()
    elif family == "absorption":
        cube = _absorption(band, shape, wavelength, rng)
    elif family == "texture":
        cube = _texture(band, shape, wavelength, rng, textures or {}, texture_rows)
    elif family == "edges":
        cube = _edges(band, shape, wavelength, rng)
    elif family == "continuum":
        cube = _continuum(band, shape, wavelength.size, rng)
    else:
        cube = _smooth(band, shape, wavelength, rng)
    if brightness is None:
        brightness = float(10 ** rng.uniform(*BRIGHTNESS_DECADES))
    mean = info.mean_radiance if info.mean_radiance is not None else 2.1e-9
    return (cube * (mean * brightness / cube.mean())).astype(np.float32)


def along_track_scene(
    family: str,
    band: int,
    shape: tuple[int, int],
    seed: int,
    *,
    fall: float = 300.0,
    brightness: float = 10.0,
    n_channel: int | None = None,
) -> np.ndarray:
    """An HR scene of a family whose brightness falls log-linearly along track, as along an
    orbit from a high sun towards the terminator.

    Row ``i`` of ``n`` is scaled by ``brightness · fall^(−i/(n−1))`` (relative to the band's
    mean radiance): the first scanline is ``brightness`` times the mean, the last ``fall``
    times dimmer. Other arguments as :func:`family_scene`.

    Examples
    --------
    >>> flat = family_scene("smooth", 7, (64, 16), seed=0, n_channel=3, brightness=10.0)
    >>> hr = along_track_scene("smooth", 7, (64, 16), seed=0, fall=100.0, n_channel=3)
    >>> round(float(flat[-1, 0, 0] / hr[-1, 0, 0]), 3)
    100.0
    """
    cube = family_scene(family, band, shape, seed, n_channel=n_channel, brightness=brightness)
    rows = np.arange(shape[0]) / max(1, shape[0] - 1)
    return (cube * (fall ** (-rows))[:, None, None]).astype(np.float32)


def reference_dir() -> Path | None:
    """Directory of the toolbox's reference crops: ``$XR_S5SR_REFERENCE_DIR`` or the checkout's
    ``../shared/reference/s5p_sisr_toolbox`` when present, else None."""
    configured = os.environ.get(ENV_REFERENCE_DIR)
    if configured:
        return Path(configured)
    candidate = Path(__file__).resolve().parents[2] / "shared" / "reference" / "s5p_sisr_toolbox"
    return candidate if candidate.is_dir() else None


def load_textures(directory: str | os.PathLike[str] | None = None) -> dict[str, np.ndarray]:
    """The reference crops ``<n>.<detector>_IN.mat`` of a directory, by detector (float64, 2-D).

    Returns an empty dict when there is no directory (the crops may not be redistributed).
    """
    from scipy.io import loadmat

    folder = Path(directory) if directory is not None else reference_dir()
    if folder is None or not folder.is_dir():
        return {}
    textures = {}
    for path in sorted(folder.glob("*_IN.mat")):
        detector = path.name.split(".", 1)[1].removesuffix("_IN.mat")
        textures[detector] = np.asarray(loadmat(path)["radiance"], dtype=np.float64).squeeze()
    return textures


def family_scenes(
    families: Sequence[str],
    band: int,
    count: int,
    shape: tuple[int, int],
    *,
    seed: int = 0,
    n_channel: int | None = None,
    textures: dict[str, np.ndarray] | None = None,
    texture_rows: tuple[int, int] = TEXTURE_TRAIN_ROWS,
) -> list[tuple[str, np.ndarray]]:
    """``count`` scenes cycling through ``families`` (seeds ``seed·100000 + i``)."""
    scenes = []
    for index in range(count):
        family = families[index % len(families)]
        cube = family_scene(
            family,
            band,
            shape,
            seed * 100_000 + index,
            n_channel=n_channel,
            textures=textures,
            texture_rows=texture_rows,
        )
        scenes.append((family, cube))
    return scenes


__all__ = [
    "BRIGHTNESS_DECADES",
    "CONTINUOUS_FAMILIES",
    "FAMILIES",
    "HELD_OUT_FAMILIES",
    "TRAINING_FAMILIES",
    "family_scene",
    "family_scenes",
    "load_textures",
    "random_spectra",
    "reference_dir",
]
