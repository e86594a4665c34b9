"""Training pairs: HR tiles and their LR made by our degradation model (SPEC §4).

Boundary: numpy HR radiance tiles (scanline, ground_pixel, spectral_channel) in, (HR, LR)
float32 pairs out, from synthetic scenes (:mod:`xr_s5sr.synthetic`), scene families
(:mod:`xr_s5sr.families`) or real L1B files; the split functions also return the description
of the data that goes into the model card. The LR side is always
:func:`xr_s5sr.degrade.degrade_array` of the HR side, as in the paper. Used by
:mod:`xr_s5sr.train`, which is where these functions are documented and imported from.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from xr_s5sr.bands import SCALE, get_band
from xr_s5sr.degrade import degrade_array
from xr_s5sr.families import TRAINING_FAMILIES, family_scene, load_textures
from xr_s5sr.l1b import open_l1b
from xr_s5sr.synthetic import make_granule

Pair = tuple[np.ndarray, np.ndarray]  # (HR, LR), each (scanline, ground_pixel, channel) float32


def make_pair(hr: np.ndarray, band: int) -> Pair:
    """HR tile (scanline, ground_pixel, channel) → (HR cropped to 4·LR size, LR) float32."""
    lr = degrade_array(hr.astype(np.float32), band).astype(np.float32)
    h, w = lr.shape[0] * SCALE, lr.shape[1] * SCALE
    return np.ascontiguousarray(hr[:h, :w], dtype=np.float32), lr


def synthetic_pairs(
    band: int,
    seeds: Iterable[int],
    shape: tuple[int, int] = (512, 256),
    n_channel: int | None = None,
    noise_fraction: float = 0.0,
) -> list[Pair]:
    """HR/LR pairs from synthetic scenes (:func:`xr_s5sr.synthetic.make_granule`).

    Parameters
    ----------
    band : int
        S5P band.
    seeds : iterable of int
        One scene per seed.
    shape : (int, int)
        HR tile size (scanline, ground_pixel); ground_pixel is capped by the band's swath.
    n_channel : int, optional
        Spectral channels (default: the band's count).
    noise_fraction : float
        Fraction of scenes with instrument noise on the HR scene (seeded by scene).
    """

    width = min(shape[1], get_band(band).ground_pixels)
    pairs = []
    for seed in seeds:
        noisy = bool(np.random.default_rng(seed + 99).random() < noise_fraction)
        hr = make_granule(band, shape[0], width, seed=seed, n_channel=n_channel, noise=noisy)
        pairs.append(make_pair(hr["radiance"].values, band))
    return pairs


def synthetic_split(
    band: int,
    train_scenes: int,
    validation_scenes: int,
    shape: tuple[int, int],
    *,
    seed: int = 0,
    n_channel: int | None = None,
    noise_fraction: float = 0.0,
) -> tuple[list[Pair], list[Pair], dict[str, Any]]:
    """Training and validation pairs from disjoint synthetic scene seeds, and their description.

    Training scenes use seeds ``100000·seed + [0, train_scenes)``, validation scenes
    ``100000·seed + 10000 + [0, validation_scenes)``; the description (seeds, tile, noise
    fraction) goes into the model card.
    """
    base = seed * 100_000
    train_seeds = range(base, base + train_scenes)
    val_seeds = range(base + 10_000, base + 10_000 + validation_scenes)
    train = synthetic_pairs(band, train_seeds, shape, n_channel, noise_fraction)
    validation = synthetic_pairs(band, val_seeds, shape, n_channel, noise_fraction)
    data = {
        "source": "synthetic (xr_s5sr.synthetic, not real observations)",
        "train_seeds": [train_seeds.start, train_seeds.stop],
        "validation_seeds": [val_seeds.start, val_seeds.stop],
        "tile": list(shape),
        "noise_fraction": noise_fraction,
    }
    return train, validation, data


def family_split(
    band: int,
    train_scenes: int,
    validation_scenes: int,
    shape: tuple[int, int],
    *,
    families: Sequence[str] | None = None,
    seed: int = 0,
    n_channel: int | None = None,
    noise_fraction: float = 0.0,
) -> tuple[list[Pair], list[Pair], dict[str, Any]]:
    """Training and validation pairs from the scene families of :mod:`xr_s5sr.families`.

    Scenes cycle through ``families`` (default: the training families, ``texture`` only when
    the reference crops are found); training seeds ``100000·seed + i``, validation seeds from
    ``100000·seed + 50000``. A fraction ``noise_fraction`` of the LR tiles gets Gaussian noise
    of the band's sigma scaled by ``sqrt(scene mean / band mean)`` (photon noise grows with the
    square root of the signal). The description goes into the model card.
    """

    textures = load_textures()
    if families is None:
        families = [f for f in TRAINING_FAMILIES if f != "texture" or textures]
    info = get_band(band)
    width = min(shape[1], info.ground_pixels)

    def pairs(first: int, count: int) -> tuple[list[Pair], list[float]]:
        made, brightness = [], []
        for index in range(count):
            scene_seed = seed * 100_000 + first + index
            family = families[index % len(families)]
            hr = family_scene(
                family, band, (shape[0], width), scene_seed, n_channel=n_channel, textures=textures
            )
            pair_hr, lr = make_pair(hr, band)
            rng = np.random.default_rng([scene_seed, 7])
            if rng.random() < noise_fraction and info.noise_sigma and info.mean_radiance:
                sigma = info.noise_sigma * np.sqrt(float(lr.mean()) / info.mean_radiance)
                lr = (lr + sigma * rng.standard_normal(lr.shape)).astype(np.float32)
            made.append((pair_hr, lr))
            brightness.append(float(hr.mean()))
        return made, brightness

    train, train_mean = pairs(0, train_scenes)
    validation, _ = pairs(50_000, validation_scenes)
    data = {
        "source": "synthetic scene families (xr_s5sr.families, not real observations)",
        "families": list(families),
        "texture_crops": sorted(textures) if "texture" in families else [],
        "train_seeds": [seed * 100_000, seed * 100_000 + train_scenes],
        "validation_seeds": [seed * 100_000 + 50_000, seed * 100_000 + 50_000 + validation_scenes],
        "tile": [shape[0], width],
        "noise_fraction": noise_fraction,
        "scene_mean_radiance_range": [min(train_mean), max(train_mean)],
    }
    return train, validation, data


def l1b_pairs(
    paths: Sequence[str | Path], band: int, tile: tuple[int, int] = (512, 256)
) -> list[Pair]:
    """HR/LR pairs from real L1B files: non-overlapping tiles without fill values (paper §Dataset).

    SWIR bands (215 ground pixels) use their full width, as in the paper (512×215).
    """

    pairs = []
    for path in paths:
        radiance = open_l1b(path, band=band, chunks=None)["radiance"].transpose(
            "scanline", "ground_pixel", "spectral_channel"
        )
        n_scan, n_pixel = radiance.shape[:2]
        width = min(tile[1], n_pixel)
        for s0 in range(0, n_scan - tile[0] + 1, tile[0]):
            for p0 in range(0, n_pixel - width + 1, width):
                hr = radiance.values[s0 : s0 + tile[0], p0 : p0 + width]
                if np.isfinite(hr).all():
                    pairs.append(make_pair(hr, band))
    return pairs


__all__ = [
    "Pair",
    "family_split",
    "l1b_pairs",
    "make_pair",
    "synthetic_pairs",
    "synthetic_split",
]
