"""Tests of xr_s5sr.grid: LR/HR sample positions and coordinates moved to the HR grid."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest
import xarray as xr
from conftest import raise_if_dask_computes

from xr_s5sr.grid import hr_coordinates, hr_positions, lr_positions
from xr_s5sr.synthetic import make_granule

BAND = 7
N_SCANLINE = 40
N_PIXEL = 12
SPATIAL = ("scanline", "ground_pixel")
DIMS = ("scanline", "ground_pixel", "spectral_channel")


@pytest.fixture(scope="module")
def granule() -> xr.Dataset:
    """Small numpy-backed synthetic band-7 granule."""
    return make_granule(BAND, N_SCANLINE, N_PIXEL, seed=1, n_channel=6)


def hr_grid(ds: xr.Dataset) -> xr.Dataset:
    """The HR coordinates of ``ds`` as a Dataset (no data variables)."""
    return xr.Dataset(coords=hr_coordinates(ds, SPATIAL))


# ---------------------------------------------------------------------------------- positions
def test_hr_positions_follow_the_degradation_convention() -> None:
    positions = hr_positions(5)
    np.testing.assert_array_equal(positions, (np.arange(20) - 2) / 4)
    # The degradation samples HR pixel 4j + 2 for LR pixel j: that HR pixel is at LR index j.
    np.testing.assert_array_equal(positions[lr_positions(20)], np.arange(5))


def test_lr_positions_drop_the_incomplete_last_pixel() -> None:
    np.testing.assert_array_equal(lr_positions(215)[[0, -1]], [2, 210])
    assert lr_positions(215).size == 53
    assert lr_positions(3).size == 0
    np.testing.assert_array_equal(lr_positions(9, ratio=3), [1, 4, 7])


# ---------------------------------------------------------------------------------- coordinates
def test_coordinates_on_the_hr_grid(granule: xr.Dataset) -> None:
    sr = hr_grid(granule)
    assert dict(sr.sizes) == {"scanline": 160, "ground_pixel": 48, "spectral_channel": 6}
    np.testing.assert_array_equal(sr.scanline.values, hr_positions(N_SCANLINE))
    np.testing.assert_array_equal(sr.ground_pixel.values, hr_positions(N_PIXEL))
    np.testing.assert_array_equal(sr.spectral_channel.values, granule.spectral_channel.values)
    # HR pixel (4j+2, 4k+2) sits on LR pixel (j, k): coordinates equal there.
    centre = {"scanline": slice(2, None, 4), "ground_pixel": slice(2, None, 4)}
    for name in ("latitude", "longitude"):
        assert sr[name].dtype == np.float32
        assert np.isfinite(sr[name].values).all()
        np.testing.assert_allclose(sr[name].isel(centre).values, granule[name].values, atol=2e-5)
    np.testing.assert_allclose(
        sr.nominal_wavelength.isel(ground_pixel=slice(2, None, 4)).values,
        granule.nominal_wavelength.values,
        rtol=1e-6,
        atol=0,
    )
    np.testing.assert_array_equal(sr.delta_time.values, 1080 * hr_positions(N_SCANLINE))
    # Linear extrapolation half an LR pixel before the first and 0.25 after the last scanline.
    lat = granule.latitude.values.astype(np.float64)
    np.testing.assert_allclose(
        sr.latitude.values[0, 2::4], lat[0] - 0.5 * (lat[1] - lat[0]), atol=2e-5
    )
    np.testing.assert_allclose(
        sr.latitude.values[-1, 2::4], lat[-1] + 0.25 * (lat[-1] - lat[-2]), atol=2e-5
    )
    assert sr.time.values == granule.time.values


def test_longitude_is_interpolated_across_the_antimeridian() -> None:
    lon = np.array([[179.5, -179.9, -179.3]] * 4, dtype=np.float32)
    ds = xr.Dataset(
        {"radiance": (DIMS, np.ones((4, 3, 2), np.float32))},
        coords={
            "longitude": (("scanline", "ground_pixel"), lon, {"units": "degrees_east"}),
            "latitude": (("scanline", "ground_pixel"), np.full((4, 3), 89.9, np.float32)),
        },
        attrs={"s5p_band": BAND},
    )
    sr = hr_grid(ds)
    row = sr.longitude.values[5].astype(np.float64)
    # Positions -0.5, -0.25, 0, ... 2.25 along ground_pixel, steps of +0.6 degrees per LR pixel.
    expected = 179.5 + 0.6 * hr_positions(3)
    np.testing.assert_allclose(row, (expected + 180) % 360 - 180, atol=1e-4)
    assert (row >= -180).all()
    assert (row < 180).all()
    np.testing.assert_array_equal(sr.latitude.values, 89.9 * np.ones((16, 12), np.float32))


def test_lazy_coordinates_stay_lazy_and_equal_the_numpy_ones(granule: xr.Dataset) -> None:
    chunked = granule.chunk({"scanline": 8})
    with raise_if_dask_computes():
        lazy = hr_grid(chunked)
    assert isinstance(lazy.latitude.data, da.Array)
    xr.testing.assert_identical(lazy.compute(), hr_grid(granule))


def test_missing_index_coordinates_become_fractional_lr_indices(granule: xr.Dataset) -> None:
    bare = granule.drop_vars(list(granule.coords))
    sr = hr_grid(bare)
    assert set(sr.coords) == {"scanline", "ground_pixel"}
    np.testing.assert_array_equal(sr.scanline.values, hr_positions(N_SCANLINE))
    assert sr.scanline.attrs["comment"] == "HR pixel i is at LR index (i - 2)/4"
    # Coordinates on a spatial dim and a dim no data variable has (corner bounds) are dropped.
    bounds = granule.assign_coords(
        lat_bounds=(("scanline", "ground_pixel", "corner"), np.zeros((N_SCANLINE, N_PIXEL, 4)))
    )
    assert "lat_bounds" not in hr_grid(bounds).coords
