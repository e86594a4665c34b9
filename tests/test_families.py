"""Scene families for training and held-out evaluation."""

from __future__ import annotations

import numpy as np
import pytest

from xr_s5sr import families
from xr_s5sr.bands import get_band
from xr_s5sr.errors import MissingInputError


@pytest.mark.parametrize("family", [f for f in families.FAMILIES if f != "texture"])
def test_family_scenes_are_positive_seeded_cubes(family: str) -> None:
    cube = families.family_scene(family, 5, (40, 36), seed=3, n_channel=7, brightness=2.0)
    assert cube.shape == (40, 36, 7)
    assert cube.dtype == np.float32
    assert np.isfinite(cube).all()
    assert cube.min() > 0
    assert float(cube.mean()) == pytest.approx(2.0 * get_band(5).mean_radiance, rel=1e-5)
    again = families.family_scene(family, 5, (40, 36), seed=3, n_channel=7, brightness=2.0)
    np.testing.assert_array_equal(cube, again)
    other = families.family_scene(family, 5, (40, 36), seed=4, n_channel=7, brightness=2.0)
    assert not np.array_equal(cube, other)


def test_brightness_spans_three_decades() -> None:
    means = [
        float(families.family_scene("smooth", 3, (16, 16), seed, n_channel=3).mean())
        for seed in range(40)
    ]
    ratio = np.log10(np.array(means) / get_band(3).mean_radiance)
    low, high = families.BRIGHTNESS_DECADES
    assert ratio.min() >= low - 1e-6
    assert ratio.max() <= high + 1e-6
    assert ratio.max() - ratio.min() > 2.0


def test_held_out_families_are_not_training_families() -> None:
    assert not set(families.HELD_OUT_FAMILIES) & set(families.TRAINING_FAMILIES)
    with pytest.raises(ValueError, match="Unknown scene family 'clouds'"):
        families.family_scene("clouds", 3, (8, 8), 0)


def test_random_spectra_have_absorption_lines() -> None:
    wavelength = np.linspace(2305, 2345, 480)
    spectra = families.random_spectra(wavelength, 4, np.random.default_rng(0))
    assert spectra.shape == (4, 480)
    assert (spectra > 0).all()
    # Absorption lines: sharp dips, so the spectrum is far from its smooth trend somewhere.
    assert np.abs(np.diff(np.log(spectra), 2)).max() > 1e-3


def test_texture_family_needs_the_reference_crops(tmp_path) -> None:
    assert families.load_textures(tmp_path) == {}
    with pytest.raises(MissingInputError, match="reference crop"):
        families.family_scene("texture", 3, (16, 16), 0, textures={})


@pytest.mark.skipif(not families.load_textures(), reason="toolbox reference crops not present")
def test_texture_family_uses_disjoint_rows_for_training_and_evaluation() -> None:
    textures = families.load_textures()
    train = families.family_scene("texture", 3, (64, 64), 0, n_channel=4, textures=textures)
    held_out = families.family_scene(
        "texture",
        3,
        (64, 64),
        0,
        n_channel=4,
        textures=textures,
        texture_rows=families.TEXTURE_EVAL_ROWS,
    )
    assert train.shape == held_out.shape == (64, 64, 4)
    assert families.TEXTURE_TRAIN_ROWS[1] <= families.TEXTURE_EVAL_ROWS[0]
    assert not np.allclose(train / train.mean(), held_out / held_out.mean())


def test_continuum_family_has_no_finite_set_of_spectra() -> None:
    cube = families.family_scene("continuum", 7, (64, 48), seed=1, brightness=1.0)
    assert cube.min() > 0
    spectra = cube.reshape(-1, cube.shape[-1]).astype(np.float64)
    singular = np.linalg.svd(spectra, compute_uv=False)
    # Continuous variability: many components carry signal (measured 12 above 1e-3), where a
    # mixture of k spectra has k.
    assert np.count_nonzero(singular > 1e-3 * singular[0]) > 8
    edges = families.family_scene("edges", 7, (64, 48), seed=1, brightness=1.0)
    singular = np.linalg.svd(
        edges.reshape(-1, edges.shape[-1]).astype(np.float64), compute_uv=False
    )
    assert np.count_nonzero(singular > 1e-3 * singular[0]) <= 8
