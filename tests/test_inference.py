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
from xr_s5sr.adaptive import windows
from xr_s5sr.engine import super_resolve_array
from xr_s5sr.errors import DimensionError, S5SRArgumentError
from xr_s5sr.grid import hr_coordinates
from xr_s5sr.inference import bicubic_dataset, first_scanline, noise_sigma, super_resolve_dataset
from xr_s5sr.options import SuperResolveOptions
from xr_s5sr.plausibility import plausibility_report
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
    options = SuperResolveOptions(band=BAND, device="cpu", **kwargs)
    return super_resolve_dataset(ds, variables=["radiance"], dims=DIMS, options=options)


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
    # The settings_window coordinate belongs to the plausibility report (one per window).
    coords = sr.drop_dims("settings_window").coords
    xr.testing.assert_identical(
        xr.Dataset(coords=coords), xr.Dataset(coords=hr_coordinates(granule, DIMS[:2]))
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
    # The HR sums of the report are variables of an in-memory result only (plausibility.py).
    xr.testing.assert_allclose(
        lazy.compute(),
        eager.drop_vars(["s5sr_negative_fraction", "s5sr_chi2"]),
        rtol=1e-5,
        atol=1e-5 * float(eager.radiance.max()),
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
    # In-memory result: the numbers chosen per settings window, not "auto" (issue 26.6).
    mu = sr.attrs["s5sr_regularisation"]
    assert len(mu) == len(sr.settings_window) == len(windows(N_SCANLINE)) == 2
    np.testing.assert_allclose(mu, sr.s5sr_window_regularisation.values, rtol=0, atol=0)
    assert all(isinstance(value, float) and value >= 0 for value in mu)
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
    report = {"s5sr_negative_fraction", "s5sr_chi2"}  # bicubic: no automatic settings
    assert set(sr.data_vars) == {"radiance", "quality_level", "radiance_noise", *report}
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
    zarr_path = xr_s5sr.to_zarr(sr, tmp_path / "sr.zarr", lr=granule)
    nc_path = xr_s5sr.to_netcdf(sr, tmp_path / "sr.nc", lr=granule)
    with xr.open_zarr(zarr_path) as from_zarr, xr.open_dataset(nc_path) as from_nc:
        # The writers add the lazy result's plausibility numbers (issue 26.6) as attributes,
        # the HR sums computed from the written values (a reduction order of their own).
        report = plausibility_report(expected, lr=granule)
        assert report["s5sr_regularisation"] == [0.0, 0.0]  # noise-free: exact
        for back in (from_zarr.load(), from_nc.load()):
            for key in ("s5sr_chi2", "s5sr_negative_fraction"):
                value = back.attrs[key]
                np.testing.assert_allclose(value, report[key], rtol=1e-6, atol=1e-12)
                report[key] = value
            xr.testing.assert_identical(back, expected.assign_attrs(report))
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


# ------------------------------------------------------------------ plausibility report (26.6)
def _interior_chi2(sr: np.ndarray, lr: np.ndarray, variance: np.ndarray, band: int) -> float:
    """Independent χ²: numpy degradation, per-row variance, 8 LR pixels left out per edge."""
    from xr_s5sr.degrade import degrade_array

    misfit = degrade_array(sr.astype(np.float64), band) - lr
    edge = slice(8, -8)
    return float(np.mean(misfit[edge, edge] ** 2 / variance[edge, None, None]))


def test_report_of_the_sample_granule_has_no_negatives_and_the_engines_settings() -> None:
    # The package's band-7 sample as the input, as a new user runs it (issue 26: 22 % of the
    # values were negative before the non-negative step).
    from xr_s5sr.adaptive import window_values
    from xr_s5sr.missing import fill_block

    lr = xr_s5sr.open_l1b(xr_s5sr.synthetic.sample_path(7), chunks=None).isel(scanline=slice(0, 40))
    sr = lr.s5sr.super_resolve(device="cpu")
    report = plausibility_report(sr)
    assert report["s5sr_negative_fraction"] == 0.0
    assert np.count_nonzero(sr.radiance.values < 0) == 0
    # The numbers, not "auto": the engine's own windows (same function, same inputs).
    expected = window_values(lr.radiance.values, 7, prepare=fill_block)
    np.testing.assert_allclose(report["s5sr_regularisation"], expected[:, 0], rtol=1e-12, atol=0)
    np.testing.assert_allclose(report["s5sr_sigma"], np.sqrt(expected[:, 1]), rtol=1e-12, atol=0)
    assert report["s5sr_settings_window"] == [11.5, 31.5]  # windows 0-23 and 24-39
    variance = expected[np.repeat([0, 1], [24, 16]), 1]
    chi2 = _interior_chi2(sr.radiance.values, lr.radiance.values, variance, 7)
    np.testing.assert_allclose(report["s5sr_chi2"], chi2, rtol=1e-4, atol=0)
    assert sr.attrs["s5sr_negative_fraction"] == 0.0


def test_chi2_is_one_for_the_truth_on_noisy_data() -> None:
    # The χ² of the report's formula on the HR truth itself: its misfit is the noise alone,
    # so χ² = mean(n²/σ²) ≈ 1 (20 × 16 × 32 interior LR values: sd ≈ 0.011; tolerance 0.05).
    from xr_s5sr.bands import get_band
    from xr_s5sr.plausibility import consistency_chi2

    sigma = get_band(7).noise_sigma
    hr = make_granule(7, 144, 128, n_channel=32, seed=3)
    lr = hr.s5sr.degrade(noise="lr", seed=3)
    variance = xr.Variable((), sigma**2)
    chi2 = consistency_chi2(hr.radiance.variable, lr.radiance.variable, DIMS[:2], 7, variance)
    assert abs(float(chi2.values) - 1.0) < 0.05


def test_report_on_noisy_data_uses_the_windows_sigma() -> None:
    from xr_s5sr.bands import get_band

    sigma = get_band(7).noise_sigma
    hr = make_granule(7, 192, 96, n_channel=32, seed=1)
    lr = hr.s5sr.degrade(noise="lr", seed=1).drop_vars("radiance_noise")
    sr = lr.s5sr.super_resolve(model="backprojection", device="cpu")
    report = plausibility_report(sr)
    # The noise estimate of the settings is within 20 % of the true σ (measured: +12 %).
    np.testing.assert_allclose(report["s5sr_sigma"], sigma, rtol=0.2, atol=0)
    # The windows are fixed in the absolute scanline index: the degraded granule's first
    # LR scanline is 2 (HR 4j + 2), so they are rows 0-21 and 22-47.
    bounds = windows(lr.sizes["scanline"], first=int(lr.scanline[0]))
    assert bounds.tolist() == [[0, 22], [22, 48]]
    variance = np.repeat(np.square(report["s5sr_sigma"]), bounds[:, 1] - bounds[:, 0])
    chi2 = _interior_chi2(sr.radiance.values, lr.radiance.values, variance, 7)
    np.testing.assert_allclose(report["s5sr_chi2"], chi2, rtol=1e-4, atol=0)
    # Measured, not a target: the default fits band-7 noise closely (χ² ≈ 0.19 < 1).
    assert 0.0 < report["s5sr_chi2"] < 1.5
    assert report["s5sr_negative_fraction"] == 0.0


def test_lazy_report_is_lazy_and_equals_the_in_memory_one() -> None:
    hr = make_granule(7, 192, 96, n_channel=32, seed=1)
    lr = hr.s5sr.degrade(noise="lr", seed=1)
    eager = lr.s5sr.super_resolve(model="backprojection", device="cpu")
    with raise_if_dask_computes():
        lazy = lr.chunk({"scanline": 16}).s5sr.super_resolve(model="backprojection", device="cpu")
    assert isinstance(lazy["s5sr_window_regularisation"].data, da.Array)
    # The HR sums are left out of the lazy graph (a writer's stores would wait for them).
    assert "s5sr_chi2" not in lazy
    assert "s5sr_chi2" not in lazy.attrs
    with pytest.raises(S5SRArgumentError, match="Pass lr="):
        plausibility_report(lazy)
    with raise_if_dask_computes(max_computes=1):
        report = plausibility_report(lazy, lr=lr.chunk({"scanline": 16}))
    for key, value in plausibility_report(eager).items():
        np.testing.assert_allclose(report[key], value, rtol=1e-5, atol=0, err_msg=key)
    # The file's σ (radiance_noise) gives the χ² its per-value variance.
    assert eager.attrs["s5sr_noise_source"] == "radiance_noise"


def test_a_written_lazy_result_reads_each_hr_block_once(tmp_path: Path) -> None:
    """Issue 23: in the graph of xarray's own writer, every HR block of the result has one
    reader, its store (dask then fuses the two). A second reader (a sum of the report) made
    dask.order rank every store after the whole granule, and dask.distributed, which follows
    that rank strictly, held every finished block until the end."""
    from collections import Counter

    from dask.core import flatten, get_dependencies

    lr = make_granule(7, 96, 96, n_channel=16, seed=2).s5sr.degrade()
    for model in ("backprojection", "bicubic"):
        lazy = lr.chunk({"scanline": 8}).s5sr.super_resolve(model=model, device="cpu")
        graph = dict(lazy.to_zarr(tmp_path / f"{model}.zarr", compute=False).__dask_graph__())
        blocks = set(flatten(lazy.radiance.data.__dask_keys__()))
        readers = Counter(d for k in graph for d in get_dependencies(graph, k) if d in blocks)
        assert max(readers.values(), default=1) == 1, model


def test_report_variables_do_not_break_xarrays_own_writers(tmp_path: Path) -> None:
    hr = make_granule(7, 96, 96, n_channel=16, seed=2)
    lazy = (
        hr.s5sr.degrade()
        .chunk({"scanline": 8})
        .s5sr.super_resolve(model="backprojection", device="cpu")
    )
    lazy.to_zarr(tmp_path / "plain.zarr", zarr_format=2)
    lazy.to_netcdf(tmp_path / "plain.nc")
    opened = xr.open_zarr(tmp_path / "plain.zarr"), xr.open_dataset(tmp_path / "plain.nc")
    with opened[0] as back, opened[1] as nc:
        xr.testing.assert_allclose(back.load(), nc.load(), rtol=0, atol=0)
        # The HR sums of the report, from the written values and the LR input.
        lr_input = hr.s5sr.degrade()
        assert plausibility_report(back, lr=lr_input)["s5sr_negative_fraction"] == 0.0
        assert back.s5sr_window_regularisation.dims == ("settings_window",)
