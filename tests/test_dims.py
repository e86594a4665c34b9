"""Tests of xr_s5sr.dims: dimension roles and aliases, band resolution from metadata."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest
import xarray as xr
from conftest import raise_if_dask_computes

from xr_s5sr.dims import DIM_ALIASES, RADIANCE, find_dim, require_dims, resolve_band
from xr_s5sr.errors import BandError, DimensionError

CANONICAL = ("scanline", "ground_pixel", "spectral_channel")


def cube(dims: tuple[str, str, str] = CANONICAL, lazy: bool = False) -> xr.DataArray:
    data = da.zeros((4, 3, 2), chunks=2) if lazy else np.zeros((4, 3, 2), np.float32)
    return xr.DataArray(data, dims=dims, name=RADIANCE)


@pytest.mark.parametrize("lazy", [False, True])
@pytest.mark.parametrize(
    "dims",
    [
        CANONICAL,
        ("along_track", "across_track", "channel"),
        ("Y", "X", "Wavelength"),
        ("nscan", "npixel", "nchannel"),
    ],
)
def test_require_dims_aliases(dims: tuple[str, str, str], lazy: bool) -> None:
    for obj in (cube(dims, lazy), cube(dims, lazy).to_dataset()):
        with raise_if_dask_computes():
            assert require_dims(obj, CANONICAL) == dict(zip(CANONICAL, dims, strict=True))


def test_find_dim_prefers_canonical_name_and_returns_none() -> None:
    both = xr.DataArray(np.zeros((2, 3)), dims=("y", "scanline"))
    assert find_dim(both, "scanline") == "scanline"
    assert find_dim(both, "spectral_channel") is None
    assert all(aliases[0] == role for role, aliases in DIM_ALIASES.items())


def test_require_dims_error_names_missing_and_found() -> None:
    obj = xr.DataArray(np.zeros((2, 3)), dims=("scanline", "foo"))
    with pytest.raises(
        DimensionError,
        match=r"No 'ground_pixel' dimension found: expected one named 'ground_pixel' .* found "
        r"dims \('scanline', 'foo'\)\. Rename it",
    ):
        require_dims(obj, ("scanline", "ground_pixel"))


def test_resolve_band_sources_in_order() -> None:
    ds = cube().to_dataset()
    assert resolve_band(ds.assign_attrs(s5p_band=4), None) == 4
    assert resolve_band(ds.assign_attrs(s5p_band=4), 4) == 4  # explicit and agreeing
    assert resolve_band(ds, 6) == 6  # explicit, nothing declared
    ds["radiance"].attrs["s5p_band"] = "BD5"
    assert resolve_band(ds, None) == 5  # radiance variable attrs
    named = cube().rename("BAND7_RADIANCE")
    assert resolve_band(named, None) == 7  # DataArray name
    sourced = cube()
    sourced.encoding["source"] = "/data/S5P_OFFL_L1B_RA_BD8_x.nc"
    assert resolve_band(sourced, None) == 8  # file name


def test_band_argument_contradicting_the_data_is_refused() -> None:
    ds = cube().to_dataset().assign_attrs(s5p_band=7)
    with pytest.raises(
        BandError, match=r"band=8 contradicts the data, which is band 7 according to attrs"
    ):
        resolve_band(ds, 8)
    # The explicit override: relabel the data when its metadata is wrong.
    assert resolve_band(ds.assign_attrs(s5p_band=8), 8) == 8
    named = cube().rename("BAND7_RADIANCE")
    with pytest.raises(BandError, match="band 7 according to its name"):
        resolve_band(named, 8)


def test_band_argument_contradicting_the_wavelengths_is_refused() -> None:
    array = cube()
    wavelength = np.linspace(2306.0, 2344.0, array.sizes["spectral_channel"])
    array = array.assign_coords(nominal_wavelength=("spectral_channel", wavelength))
    assert resolve_band(array, 7) == 7
    with pytest.raises(BandError, match=r"median 2325.0 nm lies in band 7, not in band 8"):
        resolve_band(array, 8)
    far = array.assign_coords(nominal_wavelength=("spectral_channel", wavelength * 10))
    assert resolve_band(far, 8) == 8  # no band holds these wavelengths: not checked


def test_resolve_band_errors() -> None:
    anonymous = cube()
    with pytest.raises(BandError, match=r"Cannot infer the S5P band.*Pass band=<n>"):
        resolve_band(anonymous, None)
    with pytest.raises(BandError, match=r"Cannot read a band number from band='x'"):
        resolve_band(anonymous, "x")
    with pytest.raises(BandError, match="Unknown S5P band 9"):
        resolve_band(anonymous, 9)
    with pytest.raises(BandError, match="Band 1 is not supported for super-resolution"):
        resolve_band(anonymous.assign_attrs(s5p_band=1), None, require_super_resolution=True)
    assert resolve_band(anonymous.assign_attrs(s5p_band=1), None) == 1
