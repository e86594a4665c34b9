"""Tests of the spectral subspace prior and the spectral checks (issue 26)."""

from __future__ import annotations

import numpy as np
import pytest

from xr_s5sr import spectral
from xr_s5sr.errors import DimensionError
from xr_s5sr.spectral import (
    line_depth_error,
    signal_subspace,
    spectral_angle,
    strongest_lines,
    subspace_denoise,
    subspace_rank,
)


def _mixture(rows: int = 96, seed: int = 0, noise: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Clean and noisy cubes mixing 4 positive spectra of 60 channels."""
    rng = np.random.default_rng(seed)
    shapes = np.abs(rng.standard_normal((4, 60))) + 1.0
    clean = rng.uniform(0.2, 1.0, (rows, 12, 4)) @ shapes
    return clean, clean + noise * rng.standard_normal(clean.shape)


def test_rank_counts_components_whose_signal_exceeds_the_noise() -> None:
    eigenvalues = np.array([50.0, 4.0, 2.5, 1.9, 1.0, 1.0])
    assert subspace_rank(eigenvalues, noise=1.0) == 3  # 2.5 − 1 > 1; 1.9 − 1 < 1
    assert subspace_rank(eigenvalues, noise=0.0) == 6
    assert subspace_rank(eigenvalues, noise=1e3) == 1  # at least one component


def test_subspace_of_a_noisy_mixture_has_its_dimension_and_removes_noise() -> None:
    clean, noisy = _mixture(noise=0.05)
    assert signal_subspace(noisy, 0.05**2).shape == (60, 4)
    out, ranks = subspace_denoise(noisy, 0.05**2)
    assert ranks == [4, 4]  # windows of 64 scanlines: rows 0–63 and 64–95
    residual, before = np.std(out - clean), np.std(noisy - clean)
    # A 4-dimensional subspace of 60 channels keeps ~4/60 of the noise variance.
    assert residual < 0.35 * before


def test_noise_free_cube_is_kept() -> None:
    clean, _ = _mixture()
    out, _ = subspace_denoise(clean, 0.0)
    np.testing.assert_allclose(out, clean, rtol=1e-5, atol=1e-6 * clean.max())


@pytest.mark.parametrize("scale", [1e-9, 1e5])
def test_projection_is_scale_equivariant(scale: float) -> None:
    _, noisy = _mixture(noise=0.05, seed=1)
    reference, ranks = subspace_denoise(noisy, 0.05**2)
    scaled, scaled_ranks = subspace_denoise(scale * noisy, (scale * 0.05) ** 2)
    assert scaled_ranks == ranks
    np.testing.assert_allclose(scaled / scale, reference, rtol=1e-4, atol=1e-5 * reference.max())


def test_windows_are_fixed_in_absolute_scanline_index() -> None:
    _, noisy = _mixture(rows=192, noise=0.05, seed=2)
    whole, _ = subspace_denoise(noisy, 0.05**2)
    block, ranks = subspace_denoise(noisy[64:160], 0.05**2, first_row=64)
    assert len(ranks) == 2  # rows 64–127 and 128–159 of the window 128–191
    np.testing.assert_allclose(block[:64], whole[64:128], rtol=1e-5, atol=1e-6 * whole.max())


def test_spectral_angle_of_known_spectra() -> None:
    a = np.zeros((1, 2, 3))
    a[..., 0] = 1.0
    b = np.zeros((1, 2, 3))
    b[..., 1] = 2.0
    assert spectral_angle(a, b) == pytest.approx(90.0, abs=1e-9)
    c = a + b / 2.0  # 45 degrees from a
    assert spectral_angle(a, 7.0 * c) == pytest.approx(45.0, abs=1e-9)


def test_line_depth_error_scores_the_strongest_lines() -> None:
    channels = np.arange(80)
    spectrum = 1.0 - 0.8 * np.exp(-0.5 * ((channels - 30) / 1.5) ** 2)
    spectrum -= 0.4 * np.exp(-0.5 * ((channels - 60) / 1.5) ** 2)
    assert [line for line, _ in strongest_lines(spectrum, 2)] == [30, 60]
    cube = np.broadcast_to(spectrum, (4, 4, 80)).copy()
    assert line_depth_error(cube, 3.0 * cube) == pytest.approx(0.0, abs=1e-12)
    shallow = cube.copy()
    shallow[..., 30] = cube[..., 30] * 2.0  # the deepest line half as deep in radiance ratio
    assert line_depth_error(cube, shallow, count=1) == pytest.approx(1.0, abs=1e-9)
    dark = cube.copy()
    dark[..., :] = 0.0  # no continuum at all: error 1 (capped), not infinite
    assert line_depth_error(cube, dark, count=2) == pytest.approx(1.0)


def test_cubes_must_be_three_dimensional() -> None:
    with pytest.raises(DimensionError, match=r"Expected a \(scanline, ground_pixel, spectral"):
        spectral_angle(np.ones((4, 3)), np.ones((4, 3)))
    with pytest.raises(DimensionError, match="window must be a positive number"):
        subspace_denoise(np.ones((4, 3, 2)), 0.0, window=0)


def test_composition_gives_the_reference_shape_the_estimates_intensity() -> None:
    rng = np.random.default_rng(3)
    reference = rng.uniform(0.5, 2.0, size=(6, 5, 8))
    estimate = reference * rng.uniform(0.5, 1.5, size=(6, 5, 1)) + rng.normal(0, 0.2, (6, 5, 8))
    estimate[0, 0] = -1.0  # no positive intensity: kept as it is
    gain = spectral.intensity_gain(estimate, reference.sum(-1, keepdims=True))
    composed = spectral.compose_intensity(estimate, reference, gain)
    np.testing.assert_array_equal(composed[0, 0], estimate[0, 0])
    rest = (slice(1, None),)
    np.testing.assert_allclose(composed[rest].sum(-1), estimate[rest].sum(-1), rtol=1e-6, atol=1e-9)
    # Every spectrum is a multiple of the reference's: its angle to it is zero.
    assert spectral.spectral_angle(reference[rest], composed[rest]) < 1e-3
    assert spectral.spectral_angle(reference[rest], estimate[rest]) > 1.0
    # Channel groups with the whole spectrum's gain give the same values.
    halves = [
        spectral.compose_intensity(estimate[..., g], reference[..., g], gain)
        for g in (slice(0, 4), slice(4, 8))
    ]
    np.testing.assert_allclose(np.concatenate(halves, axis=-1), composed, rtol=0, atol=1e-12)
    # Homogeneous: a brightness factor scales the result.
    scaled = spectral.compose_intensity(
        7.0 * estimate,
        7.0 * reference,
        spectral.intensity_gain(7.0 * estimate, 7.0 * reference.sum(-1, keepdims=True)),
    )
    np.testing.assert_allclose(scaled, 7.0 * composed, rtol=1e-5, atol=1e-9)
