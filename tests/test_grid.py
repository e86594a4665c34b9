"""Tests of xr_s5sr.grid: LR/HR sample positions, coordinates moved to the HR grid and regions
of interest (region_slices, and ``.s5sr.subset`` equal to the crop of the whole result)."""

from __future__ import annotations

from typing import Any

import dask.array as da
import numpy as np
import pytest
import torch
import xarray as xr
from conftest import raise_if_dask_computes, randomise_batchnorm, tiny_local_network

import xr_s5sr  # noqa: F401  (registers .s5sr)
from xr_s5sr.errors import InputDataError, RegionError, S5SRArgumentError
from xr_s5sr.grid import hr_coordinates, hr_positions, lr_positions, region_slices
from xr_s5sr.models import build_model
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


# ---------------------------------------------------------------------------------- regions
def regular_grid(n_scan: int = 10, n_pixel: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """Latitude = scanline index, longitude = ground-pixel index (degrees)."""
    lat, lon = np.meshgrid(
        np.arange(n_scan, dtype=float), np.arange(n_pixel, dtype=float), indexing="ij"
    )
    return lat, lon


def test_region_covers_the_box_with_one_pixel_each_side() -> None:
    lat, lon = regular_grid()
    # Centres 3..5 x 1..2 inside; ±1 pixel covers the box edges between centres.
    assert region_slices(lat, lon, (3.0, 5.0), (1.0, 2.0)) == (slice(2, 7), slice(0, 4))
    assert region_slices(lat, lon, (3.0, 5.0), (1.0, 2.0), halo=(2, 1)) == (
        slice(0, 9),
        slice(0, 5),
    )
    # The whole granule: clipped at the edges.
    assert region_slices(lat, lon, (-90.0, 90.0), (-180.0, 180.0)) == (slice(0, 10), slice(0, 5))


def test_region_smaller_than_a_pixel_takes_the_pixel_under_it() -> None:
    lat, lon = regular_grid()
    assert region_slices(lat, lon, (6.3, 6.4), (2.6, 2.7)) == (slice(5, 8), slice(2, 5))


def test_region_across_the_antimeridian() -> None:
    lat, lon = regular_grid(6, 12)
    lon = (lon + 174.0 + 180.0) % 360.0 - 180.0  # 174 ... 179, -180 ... -175
    expected = (slice(1, 5), slice(2, 11))  # centres 177 (pixel 3) ... -177 (pixel 9)
    assert region_slices(lat, lon, (2.0, 3.0), (177.0, -177.0)) == expected
    assert region_slices(lat, lon, (2.0, 3.0), (177.0, 183.0)) == expected
    # The complementary box (west of 177 or east of -177 the long way round) is not the same.
    assert region_slices(lat, lon, (2.0, 3.0), (-177.0, 177.0)) != expected


def test_region_ignores_pixels_without_coordinates() -> None:
    lat, lon = regular_grid()
    lat[6:, :] = np.nan
    # Rows 5 ... 9 lie in the box, but only row 5 has coordinates.
    assert region_slices(lat, lon, (5.0, 9.0), (0.0, 4.0)) == (slice(4, 7), slice(0, 5))


@pytest.mark.parametrize(
    ("south_north", "west_east", "error", "match"),
    [
        ((30.0, 31.0), (1.0, 2.0), RegionError, r"lies outside the granule: it covers latitude 0"),
        ((3.0, 4.0), (100.0, 120.0), RegionError, "Pick a granule"),
        ((5.0, 3.0), (1.0, 2.0), S5SRArgumentError, r"south <= north .* got \(5.0, 3.0\)"),
        ((3.0, 95.0), (1.0, 2.0), S5SRArgumentError, "-90 <= south"),
        ((3.0,), (1.0, 2.0), S5SRArgumentError, r"latitude= must be a pair .*\(south, north\)"),
        ((3.0, 4.0), ("a", 2.0), S5SRArgumentError, r"longitude= must be a pair .*\(west, east\)"),
        ((3.0, 4.0), (np.nan, 2.0), S5SRArgumentError, "finite numbers"),
    ],
)
def test_region_errors(
    south_north: Any, west_east: Any, error: type[Exception], match: str
) -> None:
    lat, lon = regular_grid()
    with pytest.raises(error, match=match):
        region_slices(lat, lon, south_north, west_east)


def test_region_needs_2d_coordinates() -> None:
    with pytest.raises(InputDataError, match=r"2-D latitude and longitude .* got shapes \(3,\)"):
        region_slices(np.zeros(3), np.zeros(3), (0.0, 1.0), (0.0, 1.0))


# ---------------------------------------------------------------------------------- subset
@pytest.fixture(scope="module")
def wide_granule() -> xr.Dataset:
    """LR band-7 granule of 240 × 240 × 4: a crop around its centre plus the physics reach
    (up to 107 LR pixels) stays inside it along both axes."""
    return make_granule(7, 240, 240, seed=5, n_channel=4)


def centre_box(ds: xr.Dataset, half: float = 0.05) -> dict[str, tuple[float, float]]:
    row, col = ds.sizes["scanline"] // 2, ds.sizes["ground_pixel"] // 2
    lat, lon = float(ds.latitude[row, col]), float(ds.longitude[row, col])
    return {"latitude": (lat - half, lat + half), "longitude": (lon - half, lon + half)}


def subset_method(method: str, granule: xr.Dataset) -> dict[str, Any]:
    """super_resolve options of a method with a fixed μ = 0: back-projection, a random
    S5-DSCR-S with consistency, or the tiny local network (detail gate on)."""
    if method == "backprojection":
        return {"model": "backprojection", "regularisation": 0.0}
    if method == "auto":
        return {"model": "backprojection", "regularisation": "auto"}
    if method == "local-network":
        return {"weights": tiny_local_network(), "regularisation": 0.0}
    torch.manual_seed(5)
    net = randomise_batchnorm(build_model("s5dscr_s", 4, "signed"), seed=5)
    net.set_normalisation(float(granule.radiance.mean()), float(granule.radiance.std()))
    return {"weights": net.eval(), "regularisation": 0.0}


@pytest.mark.parametrize("method", ["backprojection", "network", "local-network", "auto"])
def test_subset_super_resolution_equals_the_crop_of_the_whole(method: str) -> None:
    # Every method but bicubic reads statistics of whole scanlines (the spectral prior's
    # 64-scanline windows, the settings' 24-scanline windows): the crop keeps their reach
    # along track and the whole swath.
    granule = make_granule(7, 800, 24, seed=5, n_channel=6 if method == "local-network" else 4)
    if method == "auto":
        granule = make_granule(7, 800, 24, seed=5, n_channel=4, noise=True)
    box = centre_box(granule)
    options = subset_method(method, granule)
    whole = granule.s5sr.super_resolve(**options).radiance.values
    scale = float(np.abs(whole).max())
    rows, cols = region_slices(granule.latitude.values, granule.longitude.values, **_pairs(box))

    def error_in_box(crop: xr.Dataset) -> float:
        sr = crop.s5sr.super_resolve(**options).radiance.values
        r0, c0 = int(crop.scanline[0]), int(crop.ground_pixel[0])
        inside = sr[
            4 * (rows.start - r0) : 4 * (rows.stop - r0),
            4 * (cols.start - c0) : 4 * (cols.stop - c0),
        ]
        truth = whole[4 * rows.start : 4 * rows.stop, 4 * cols.start : 4 * cols.stop]
        return float(np.abs(inside - truth).max()) / scale

    # The reach of the method that will run (its spec), not a number chosen here.
    crop = granule.s5sr.subset(**box, **options)
    # A real crop: shorter than the granule (whole scanlines: see above).
    assert crop.sizes["scanline"] < granule.sizes["scanline"]
    assert crop.sizes["ground_pixel"] == granule.sizes["ground_pixel"]
    assert error_in_box(crop) <= 1e-5
    # The test can fail: a halo shorter than the method's reach shows at the box.
    assert error_in_box(granule.s5sr.subset(**box, halo=(10, 10))) > 1e-5


def _pairs(box: dict[str, tuple[float, float]]) -> dict[str, tuple[float, float]]:
    return {"south_north": box["latitude"], "west_east": box["longitude"]}


@pytest.mark.parametrize("kind", ["dataset", "dataarray"])
def test_subset_is_lazy_and_keeps_absolute_indices(wide_granule: xr.Dataset, kind: str) -> None:
    ds = wide_granule.drop_vars("scanline", errors="ignore")
    obj: Any = ds if kind == "dataset" else ds.radiance
    lazy = obj.chunk({"scanline": 40})
    # Only latitude and longitude are read.
    with raise_if_dask_computes(max_computes=2):
        # A box around the centre pixel only (pixels are ~0.05 x 0.1 degrees).
        crop = lazy.s5sr.subset(**centre_box(ds, half=0.01), model="bicubic")
    data = crop.radiance if kind == "dataset" else crop
    assert isinstance(data.data, da.Array)
    r0, c0 = int(crop.scanline[0]), int(crop.ground_pixel[0])
    assert crop.attrs["s5sr_subset"].startswith(f"scanline {r0}:{r0 + crop.sizes['scanline']}, ")
    # bicubic reach 2 + fill reach 4 + 1 covering pixel around the centre pixel 120.
    assert (r0, crop.sizes["scanline"]) == (113, 15)
    np.testing.assert_array_equal(crop.scanline.values, np.arange(r0, r0 + 15))
    expected = obj.isel(
        scanline=slice(r0, r0 + 15), ground_pixel=slice(c0, c0 + crop.sizes["ground_pixel"])
    )
    expected_values = expected.radiance.values if kind == "dataset" else expected.values
    np.testing.assert_array_equal(data.values, expected_values)


def test_subset_across_the_antimeridian(wide_granule: xr.Dataset) -> None:
    # Move the swath so that its centre pixel sits at 180 degrees east.
    shift = 180.0 - float(wide_granule.longitude[120, 120])
    moved = wide_granule.assign_coords(
        longitude=(wide_granule.longitude + shift + 180.0) % 360.0 - 180.0
    )
    lat = float(moved.latitude[120, 120])
    crop = moved.s5sr.subset(
        latitude=(lat - 0.3, lat + 0.3), longitude=(179.5, -179.5), halo=(0, 0)
    )
    lon = crop.longitude.values
    assert (lon > 179.0).any()
    assert (lon < -179.0).any()
    assert crop.sizes["ground_pixel"] < 20


def test_subset_outside_the_granule_is_an_error(wide_granule: xr.Dataset) -> None:
    lat = float(wide_granule.latitude.max())
    with pytest.raises(RegionError, match=r"lies outside the granule: it covers latitude"):
        wide_granule.s5sr.subset(latitude=(lat + 5.0, lat + 6.0), longitude=(0.0, 1.0), halo=(0, 0))
