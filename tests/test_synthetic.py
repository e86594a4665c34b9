"""Synthetic S5P-like granules: structure, determinism, physics, laziness."""

from __future__ import annotations

from pathlib import Path

import dask.array as da
import numpy as np
import pytest
from conftest import raise_if_dask_computes

import xr_s5sr
from xr_s5sr.bands import BANDS, get_band
from xr_s5sr.errors import S5SRArgumentError
from xr_s5sr.synthetic import fractal_field, make_granule, make_scene


@pytest.mark.parametrize("band", range(1, 9))
def test_granule_structure_per_band(band: int) -> None:
    ds = make_granule(band, n_scanline=6, seed=1)
    info = get_band(band)
    assert ds.radiance.dims == ("scanline", "ground_pixel", "spectral_channel")
    assert ds.radiance.shape == (6, info.ground_pixels, info.spectral_channels)
    assert ds.radiance.dtype == np.float32
    assert ds.radiance.attrs["units"] == "mol m-2 nm-1 sr-1 s-1"
    assert ds.latitude.dims == ds.longitude.dims == ("scanline", "ground_pixel")
    assert ds.nominal_wavelength.dims == ("ground_pixel", "spectral_channel")
    wl = ds.nominal_wavelength.values
    lo, hi = info.wavelength_range
    assert lo - 1 < wl.min() < wl.max() < hi + 1
    assert np.all(np.diff(wl, axis=1) > 0)
    assert ds.attrs["s5p_band"] == band
    assert np.isfinite(ds.radiance.values).all()
    assert (ds.radiance.values > 0).all()


@pytest.mark.parametrize("band", [2, 3, 4, 5, 6, 7, 8])
def test_mean_radiance_matches_band_magnitude(band: int) -> None:
    means = [
        float(make_granule(band, 32, 32, seed=s, n_channel=24).radiance.mean()) for s in range(4)
    ]
    # Scene brightness varies (log-normal, sigma 0.3): the median is within 2x of SPEC §1.
    assert 0.5 < np.median(means) / BANDS[band].mean_radiance < 2.0


def test_deterministic_and_seed_dependent() -> None:
    a = make_granule(7, 16, 12, seed=3, n_channel=4)
    b = make_granule(7, 16, 12, seed=3, n_channel=4)
    c = make_granule(7, 16, 12, seed=4, n_channel=4)
    np.testing.assert_array_equal(a.radiance.values, b.radiance.values)
    assert not np.allclose(a.radiance.values, c.radiance.values)


def test_lazy_granule_equals_eager_and_computes_nothing() -> None:
    eager = make_granule(5, 40, 20, seed=2, n_channel=6)
    with raise_if_dask_computes():
        lazy = make_granule(5, 40, 20, seed=2, n_channel=6, chunks=16)
    assert isinstance(lazy.radiance.data, da.Array)
    assert lazy.radiance.data.chunks[0] == (16, 16, 8)
    np.testing.assert_allclose(
        lazy.radiance.values,
        eager.radiance.values,
        rtol=1e-6,
        atol=1e-6 * float(np.abs(eager.radiance).max()),
    )


@pytest.mark.parametrize("chunks", [0, -2])
def test_bad_chunks_are_argument_errors(chunks: int) -> None:
    with pytest.raises(S5SRArgumentError, match=rf"chunks={chunks}: expected a positive chunk"):
        make_granule(5, 40, 20, n_channel=6, chunks=chunks)


def test_noise_has_band_snr_at_mean_level() -> None:
    clean = make_granule(4, 64, 64, seed=5, n_channel=8)
    noisy = make_granule(4, 64, 64, seed=5, n_channel=8, noise=True)
    diff = (noisy.radiance - clean.radiance).values
    sigma = get_band(4).noise_sigma
    expected = sigma * np.sqrt(clean.radiance.values / get_band(4).mean_radiance)
    assert np.std(diff / expected) == pytest.approx(1.0, rel=0.05)


def test_absorption_features() -> None:
    """O2-A (759-771 nm) darkens band 6; O3 Huggins absorption brightens band 3 towards 340 nm."""
    scene = make_scene(6, 8, 8, seed=0)
    spectrum = scene.radiance().mean(axis=(0, 1))
    wl = scene.wavelength.mean(axis=0)
    assert spectrum[(wl > 760) & (wl < 770)].mean() < 0.7 * spectrum[(wl > 745) & (wl < 755)].mean()
    uv = make_scene(3, 8, 8, seed=0)
    spectrum = uv.radiance().mean(axis=(0, 1))
    wl = uv.wavelength.mean(axis=0)
    assert spectrum[wl < 325].mean() < spectrum[(wl > 340) & (wl < 345)].mean()


def test_fractal_field_has_the_requested_slope(rng: np.random.Generator) -> None:
    field = fractal_field((256, 256), 3.0, rng, pixel_km=(1.0, 1.0), outer_km=1e6)
    power = np.abs(np.fft.fft2(field)) ** 2
    k = np.hypot(*np.meshgrid(np.fft.fftfreq(256), np.fft.fftfreq(256), indexing="ij"))
    mask = (k > 0.02) & (k < 0.4)
    slope = np.polyfit(np.log(k[mask]), np.log(power[mask]), 1)[0]
    assert slope == pytest.approx(-3.0, abs=0.15)
    assert field.mean() == pytest.approx(0.0, abs=1e-9)
    assert field.std() == pytest.approx(1.0, rel=1e-6)


def test_descending_swath_geolocation() -> None:
    ds = make_granule(3, 50, 30, seed=0, n_channel=2)
    lat = ds.latitude.values
    assert np.all(np.diff(lat, axis=0) < 0)  # day side: southward
    assert np.all(np.abs(lat) <= 90)
    assert np.all(np.abs(ds.longitude.values) <= 180)


def test_sample_granule_is_readable() -> None:
    bands = xr_s5sr.synthetic.sample_bands()
    assert bands, "an embedded sample granule must ship with the package"
    ds = xr_s5sr.open_l1b(xr_s5sr.synthetic.sample_path(bands[0]))
    assert ds.attrs["s5p_band"] == bands[0]
    assert ds.radiance.sizes["spectral_channel"] == get_band(bands[0]).spectral_channels
    with pytest.raises(FileNotFoundError, match="No embedded sample granule for band 1"):
        xr_s5sr.synthetic.sample_path(1)


def test_embedded_sample_is_reproducible(tmp_path: Path) -> None:
    """The shipped sample file is exactly what write_sample_granule makes today."""
    band = xr_s5sr.synthetic.sample_bands()[0]
    shipped = xr_s5sr.open_l1b(xr_s5sr.synthetic.sample_path(band), chunks=None)
    fresh_path = xr_s5sr.synthetic.write_sample_granule(band, tmp_path)
    assert fresh_path.name == xr_s5sr.synthetic.sample_path(band).name
    fresh = xr_s5sr.open_l1b(fresh_path, chunks=None)
    np.testing.assert_array_equal(fresh.radiance.values, shipped.radiance.values)
    relative = np.abs(
        shipped.radiance.values
        / xr_s5sr.synthetic.make_granule(band, 128, 64, seed=2023).radiance.values
        - 1
    )
    assert relative.max() < 2.0**-12
