"""Tests of the synthetic orbit generator (xr_s5sr.orbit)."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import raise_if_dask_computes
from xr_s5sr.bands import get_band
from xr_s5sr.errors import S5SRArgumentError
from xr_s5sr.orbit import illumination, make_orbit, track_latitude


def test_illumination_spans_the_dynamic_range() -> None:
    light = illumination(4000, dynamic_range=300.0)
    assert light.shape == (4000,)
    np.testing.assert_allclose(light.max(), 1.0, rtol=0, atol=1e-12)
    np.testing.assert_allclose(light.max() / light.min(), 300.0, rtol=1e-9, atol=0)
    # Brightest near the sub-solar latitude (4 January: about 23 degrees south), dim at the ends.
    latitude = track_latitude(4000)
    assert -30.0 < latitude[int(np.argmax(light))] < -15.0
    assert light[0] < 0.7
    assert light[-1] < 0.01


def test_track_latitude_crosses_the_equator_mid_orbit() -> None:
    latitude = track_latitude(4001)
    np.testing.assert_allclose(latitude[2000], 0.0, atol=1e-9)
    # 5.5 km per scanline near the equator: 0.0495 degrees of latitude, times sin(inclination).
    np.testing.assert_allclose(latitude[2001] - latitude[2000], 0.04894, rtol=2e-3, atol=0)
    assert np.abs(latitude).max() < 82.0


def test_illumination_rejects_a_range_below_one() -> None:
    with pytest.raises(S5SRArgumentError, match="dynamic_range must be > 1"):
        illumination(10, dynamic_range=0.5)


def test_orbit_is_lazy_and_chunk_invariant() -> None:
    with raise_if_dask_computes():
        coarse = make_orbit(7, 96, 8, seed=3, n_channel=4, chunks=48)
        fine = make_orbit(7, 96, 8, seed=3, n_channel=4, chunks=13)
    assert coarse.radiance.chunks[0] == (48, 48)
    np.testing.assert_allclose(coarse.radiance.values, fine.radiance.values, rtol=1e-6, atol=0.0)


def test_orbit_brightness_and_photon_noise() -> None:
    band = 7
    clean = make_orbit(band, 256, 16, seed=1, n_channel=6, chunks=64, noise=False)
    noisy = make_orbit(band, 256, 16, seed=1, n_channel=6, chunks=64)
    light = clean.solar_illumination.values
    # Scanline means follow the illumination (the scene itself varies only mildly).
    ratio = clean.radiance.mean(("ground_pixel", "spectral_channel")).values / light
    assert ratio.std() / ratio.mean() < 0.5
    info = get_band(band)
    assert info.noise_sigma is not None
    assert info.mean_radiance is not None
    expected = info.noise_sigma * np.sqrt(clean.radiance.values / info.mean_radiance)
    normalised = (noisy.radiance.values - clean.radiance.values) / expected
    np.testing.assert_allclose(normalised.std(), 1.0, atol=0.05)
    np.testing.assert_allclose(normalised.mean(), 0.0, atol=0.05)
    # radiance_noise is the SNR in dB of each pixel.
    snr = 10.0 ** (noisy.radiance_noise.values / 10.0)
    np.testing.assert_allclose(
        np.abs(noisy.radiance.values) / snr, expected, rtol=0.05, atol=1e-3 * float(expected.max())
    )
