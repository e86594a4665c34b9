"""Tests of xr_s5sr.inference, the xarray layer: variables, coordinates, metadata, provenance."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import dask.array as da
import numpy as np
import pytest
import xarray as xr
from conftest import make_net, raise_if_dask_computes

import xr_s5sr
from xr_s5sr.engine import super_resolve_array
from xr_s5sr.errors import DimensionError
from xr_s5sr.grid import hr_coordinates
from xr_s5sr.inference import bicubic_dataset, first_scanline, noise_sigma, super_resolve_dataset
from xr_s5sr.spec import model_spec
from xr_s5sr.synthetic import make_granule
from xr_s5sr.weights import save_weights

BAND = 7
N_CHANNEL = 6
N_SCANLINE = 40
N_PIXEL = 12
DIMS = ("scanline", "ground_pixel", "spectral_channel")


@pytest.fixture(scope="module")
def granule() -> xr.Dataset:
    """Small numpy-backed synthetic band-7 granule (radiance ~5e-8 mol m-2 nm-1 sr-1 s-1)."""
    return make_granule(BAND, N_SCANLINE, N_PIXEL, seed=1, n_channel=N_CHANNEL)


def super_resolve(ds: xr.Dataset, **kwargs: Any) -> xr.Dataset:
    """:func:`super_resolve_dataset` of the radiance, band 7, on CPU."""
    return super_resolve_dataset(
        ds, variables=["radiance"], dims=DIMS, band=BAND, device="cpu", **kwargs
    )


def test_radiance_is_the_engine_result_on_the_hr_grid(granule: xr.Dataset) -> None:
    net = make_net(granule, "s5dscr_s")
    sr = super_resolve(granule, weights=net, missing="strict")
    spec = model_spec(weights=net, band=BAND, device="cpu")
    # The file's noise (radiance_noise) and scanline index: the settings and the spectral
    # prior's subspace windows read them.
    sigma = np.asarray(noise_sigma(granule, "radiance")[0])
    expected = super_resolve_array(
        granule.radiance.values,
        spec,
        missing="strict",
        sigma=sigma,
        first_scanline=first_scanline(granule, "scanline"),
    )
    np.testing.assert_array_equal(sr.radiance.values, expected)
    assert sr.radiance.dims == DIMS
    xr.testing.assert_identical(
        xr.Dataset(coords=sr.coords), xr.Dataset(coords=hr_coordinates(granule, DIMS[:2]))
    )


def test_dims_keep_their_order(granule: xr.Dataset) -> None:
    transposed = granule.transpose("spectral_channel", "scanline", "ground_pixel")
    sr = bicubic_dataset(transposed, variables=["radiance"], dims=DIMS, band=BAND)
    assert sr.radiance.dims == ("spectral_channel", "scanline", "ground_pixel")
    np.testing.assert_array_equal(
        sr.radiance.transpose(*DIMS).values,
        bicubic_dataset(granule, variables=["radiance"], dims=DIMS, band=BAND).radiance.values,
    )


def test_lazy_in_lazy_out(granule: xr.Dataset) -> None:
    lazy_granule = granule.chunk({"scanline": 8})  # lat/lon and wavelengths become dask too
    with raise_if_dask_computes():
        lazy = super_resolve(lazy_granule, model="backprojection")
        lazy_bicubic = bicubic_dataset(lazy_granule, variables=["radiance"], dims=DIMS, band=BAND)
    for out in (lazy, lazy_bicubic):
        assert isinstance(out.radiance.data, da.Array)
        assert isinstance(out.latitude.data, da.Array)
    eager = super_resolve(granule, model="backprojection")
    assert isinstance(eager.radiance.data, np.ndarray)
    xr.testing.assert_allclose(
        lazy.compute(), eager, rtol=1e-5, atol=1e-5 * float(eager.radiance.max())
    )


def test_extra_dims_are_kept_and_a_variable_without_a_role_dim_is_refused(
    granule: xr.Dataset,
) -> None:
    moved = (2 * granule).assign_coords(latitude=granule.latitude + 1)
    with_time = xr.concat([granule, moved], dim="time")
    out = super_resolve(with_time, model="bicubic")
    assert out.radiance.dims == ("time", "scanline", "ground_pixel", "spectral_channel")
    np.testing.assert_allclose(
        out.radiance.isel(time=1).values,
        2 * out.radiance.isel(time=0).values,
        rtol=1e-6,
        atol=1e-6 * float(np.abs(out.radiance).max()),
    )
    assert out.latitude.dims == ("time", "scanline", "ground_pixel")  # interpolated per time
    np.testing.assert_allclose(
        out.latitude.isel(time=1) - out.latitude.isel(time=0), 1, rtol=1e-5, atol=1e-5
    )
    flat = granule.radiance.isel(spectral_channel=0).to_dataset()
    with pytest.raises(DimensionError, match="needs the dims"):
        super_resolve(flat, model="bicubic")


def test_metadata_history_and_dropped_variables(granule: xr.Dataset) -> None:
    net = make_net(granule, "s5dscr_s")
    source = granule.copy()
    source.attrs["history"] = "earlier processing"
    source.radiance.encoding.update(
        {"dtype": "int16", "scale_factor": 1e-9, "chunksizes": (1, 2, 3)}
    )
    sr = super_resolve(source, weights=net)
    assert sr.radiance.attrs == granule.radiance.attrs
    for key, value in granule.attrs.items():
        assert sr.attrs[key] == value
    first, second = sr.attrs["history"].split("\n")
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ: s5sr\.super_resolve\(band=7, model='s5dscr_s', "
        r"consistency=True, regularisation='auto'\) "
        r"\[xr_s5sr [^,]+, weights sha256:[0-9a-f]{64}\]",
        first,
    )
    assert second == "earlier processing"
    assert sr.attrs["s5sr_regularisation"] == "auto"
    assert sr.attrs["s5sr_model"] == "s5dscr_s"
    assert sr.attrs["s5sr_scale"] == 4
    assert sr.attrs["s5sr_consistency"] == 1
    assert sr.attrs["s5p_band"] == BAND
    assert sr.attrs["s5sr_version"] == xr_s5sr.__version__
    assert sr.attrs["s5sr_weights_sha256"] == model_spec(weights=net, band=BAND).key
    assert '"layers": 1' in sr.attrs["s5sr_model_config"]
    assert all(not variable.encoding for variable in sr.variables.values())
    assert source.radiance.encoding["scale_factor"] == 1e-9  # input untouched
    assert "s5sr_model" not in source.attrs


def test_other_variables_are_carried_to_the_hr_grid(granule: xr.Dataset) -> None:
    # quality_level and radiance_noise describe the LR measurement: nearest neighbour, as is.
    sr = super_resolve(granule, model="bicubic")
    assert set(sr.data_vars) == {"radiance", "quality_level", "radiance_noise"}
    for name in ("quality_level", "radiance_noise"):
        carried = sr[name]
        assert carried.dtype == granule[name].dtype
        assert carried.dims == granule[name].dims
        expected = granule[name].values.repeat(4, axis=0).repeat(4, axis=1)
        np.testing.assert_array_equal(carried.values, expected)
        assert "nearest neighbour from the LR grid" in carried.attrs["s5sr_carried"]
        assert "s5sr_carried" not in granule[name].attrs  # input untouched
    with_flag = granule.assign(flag=(("scanline",), np.arange(N_SCANLINE, dtype=np.int8)))
    lazy = super_resolve(with_flag.chunk({"scanline": 8}), model="bicubic")
    assert isinstance(lazy.flag.data, da.Array)
    np.testing.assert_array_equal(lazy.flag.values, np.arange(N_SCANLINE).repeat(4))


def test_metadata_of_the_training_free_methods(granule: xr.Dataset) -> None:
    backprojection = super_resolve(granule, model="backprojection", consistency=False)
    assert backprojection.attrs["s5sr_model"] == "backprojection"
    assert backprojection.attrs["s5sr_consistency"] == 0
    assert "s5sr_weights_sha256" not in backprojection.attrs
    assert re.search(
        r": s5sr\.super_resolve\(band=7, model='backprojection', consistency=False, "
        r"regularisation='auto'\) "
        r"\[xr_s5sr [^,\]]+\]$",
        backprojection.attrs["history"],
    )
    bicubic = bicubic_dataset(granule, variables=["radiance"], dims=DIMS, band=BAND)
    assert bicubic.attrs["s5sr_model"] == "bicubic"
    assert bicubic.attrs["s5sr_consistency"] == 0
    assert re.search(r": s5sr\.bicubic\(band=7\) \[xr_s5sr [^,\]]+\]$", bicubic.attrs["history"])


def test_roundtrip_through_zarr_and_netcdf(granule: xr.Dataset, tmp_path: Path) -> None:
    net = make_net(granule, "s5dscr_s")
    sr = super_resolve(granule.chunk({"scanline": 13}), weights=net)
    expected = sr.compute()
    zarr_path = xr_s5sr.to_zarr(sr, tmp_path / "sr.zarr")
    nc_path = xr_s5sr.to_netcdf(sr, tmp_path / "sr.nc")
    with xr.open_zarr(zarr_path) as from_zarr, xr.open_dataset(nc_path) as from_nc:
        xr.testing.assert_identical(from_zarr.load(), expected)
        xr.testing.assert_identical(from_nc.load(), expected)
    # A fresh process without torch opens the store with its coordinates and attributes.
    script = (
        "import xarray as xr, sys; ds = xr.open_zarr(sys.argv[1]); "
        "print(ds.radiance.shape, ds.latitude.shape, ds.attrs['s5sr_model'], "
        "'torch' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, str(zarr_path)], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "(160, 48, 6) (160, 48) s5dscr_s False"


def test_weights_file_equals_the_in_memory_module(granule: xr.Dataset, tmp_path: Path) -> None:
    net = make_net(granule, "s5dscr_s")
    path = tmp_path / "s5dscr_s_band7.safetensors"
    sha256 = save_weights(net, path, band=BAND, model_name="s5dscr_s")
    from_file = super_resolve(granule, model="s5dscr_s", weights=path)
    in_memory = super_resolve(granule, weights=net)
    xr.testing.assert_allclose(from_file.radiance, in_memory.radiance, rtol=0, atol=0)
    assert from_file.attrs["s5sr_weights_sha256"] == sha256
    assert from_file.attrs["history"].endswith(f"weights sha256:{sha256}]")
