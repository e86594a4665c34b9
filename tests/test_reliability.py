"""Issue 9 matrix: every bad input, fill value, weights and output failure, one test each.

Cases already proven elsewhere are only listed here (and in docs/errors.md), not re-tested:
NaN patches (test_degrade.py::test_nan_is_confined_to_kernel_support,
test_inference.py::test_missing_values_are_confined_to_the_documented_region), weights files
(test_weights.py: truncated/empty/corrupt, sha256, band, pickle, offline, cache not writable),
atomic writers with a block that raises, overwrite refusal and unwritable targets
(test_io.py::test_atomic_writers, ::test_unwritable_target_fails_before_computing), malformed
L1B layouts (test_io.py::test_malformed_files; the fuzzer is in test_properties.py).
"""

from __future__ import annotations

import builtins
import os
import re
import shutil
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import dask
import dask.array as da
import numpy as np
import pytest
import torch
import xarray as xr
from conftest import raise_if_dask_computes, randomise_batchnorm

import xr_s5sr
from xr_s5sr import errors, weights
from xr_s5sr.errors import (
    BandError,
    ChannelMismatchError,
    DimensionError,
    InputDataError,
    PerformanceWarning,
    WeightsError,
)
from xr_s5sr.inference import hr_positions, model_spec, super_resolve_array
from xr_s5sr.io import FILL_VALUE, to_netcdf, to_zarr
from xr_s5sr.models import S5DSCR, build_model, fold_batchnorm
from xr_s5sr.synthetic import make_granule

ROOT = Path(__file__).resolve().parents[1]
BAND = 7
N_CHANNEL = 3
DIMS = ("scanline", "ground_pixel", "spectral_channel")


@pytest.fixture(scope="module")
def granule() -> xr.Dataset:
    """Small numpy band-7 granule, 16 scanlines × 6 ground pixels × 3 channels.

    Its radiance carries ``s5p_band`` too, so that the DataArray alone knows its band.
    """
    ds = make_granule(BAND, 16, 6, seed=4, n_channel=N_CHANNEL)
    ds["radiance"].attrs["s5p_band"] = BAND
    return ds


@pytest.fixture(scope="module")
def net(granule: xr.Dataset) -> S5DSCR:
    """Tiny S5-DSCR-S (signed residual, random BatchNorm) normalised to the granule."""
    torch.manual_seed(3)
    model = randomise_batchnorm(build_model("s5dscr_s", N_CHANNEL, "signed"), seed=3)
    model.set_normalisation(float(granule.radiance.mean()), float(granule.radiance.std()))
    return model.eval()


def as_kind(ds: xr.Dataset, kind: str, lazy: bool) -> xr.Dataset | xr.DataArray:
    """The granule as a Dataset or its radiance DataArray, numpy or chunked along scanline."""
    obj = ds.chunk({"scanline": 4}) if lazy else ds
    return obj if kind == "dataset" else obj.radiance


KINDS = [
    pytest.param(kind, lazy, id=f"{kind}-{'dask' if lazy else 'numpy'}")
    for kind in ("dataset", "dataarray")
    for lazy in (False, True)
]


def run(obj: xr.Dataset | xr.DataArray, method: str, net: S5DSCR, **kwargs: Any) -> Any:
    """Call one accessor method; super_resolve with the tiny in-memory network."""
    if method == "super_resolve":
        return obj.s5sr.super_resolve(weights=net, device="cpu", **kwargs)
    return getattr(obj.s5sr, method)(**kwargs)


METHODS = ["degrade", "super_resolve", "bicubic"]


def radiance(result: xr.Dataset | xr.DataArray) -> xr.DataArray:
    return result if isinstance(result, xr.DataArray) else result.radiance


# ---------------------------------------------------------------------------------- dims
@pytest.mark.parametrize(("kind", "lazy"), KINDS)
@pytest.mark.parametrize("method", METHODS)
def test_misnamed_dim_lists_the_dims_found(
    granule: xr.Dataset, net: S5DSCR, kind: str, lazy: bool, method: str
) -> None:
    obj = as_kind(granule.rename(ground_pixel="pixels_across"), kind, lazy)
    with (
        raise_if_dask_computes(),
        pytest.raises(
            DimensionError,
            match=r"No 'ground_pixel' dimension found: expected one named 'ground_pixel' "
            r"\(or an alias: across_track, .*found dims \(.*'pixels_across'.*Rename it",
        ),
    ):
        run(obj, method, net)


@pytest.mark.parametrize("method", METHODS)
def test_dim_aliases_are_accepted_and_kept(granule: xr.Dataset, net: S5DSCR, method: str) -> None:
    aliases = {"scanline": "along_track", "ground_pixel": "X", "spectral_channel": "channel"}
    out = run(granule.radiance.rename(aliases), method, net)
    expected = run(granule.radiance, method, net)
    assert out.dims == ("along_track", "X", "channel")
    np.testing.assert_array_equal(out.values, expected.values)


def test_variable_selection_errors(granule: xr.Dataset, net: S5DSCR) -> None:
    with pytest.raises(InputDataError, match=r"Variables \['nope'\] not found: expected data"):
        granule.s5sr.bicubic(variables=["nope"])
    flat = granule.assign(mask=granule.radiance.isel(spectral_channel=0))
    with pytest.raises(DimensionError, match=r"Variable 'mask' has dims .* lacks \['spectral_ch"):
        flat.s5sr.super_resolve(weights=net, variables=["mask"])
    signal = granule.radiance.isel(spectral_channel=0, drop=True)
    other = xr.Dataset({"signal": signal}, coords={"spectral_channel": granule.spectral_channel})
    with pytest.raises(InputDataError, match=r"No 'radiance' variable and no variable on dims"):
        other.s5sr.bicubic(band=BAND)


# ---------------------------------------------------------------------------------- band
@pytest.mark.parametrize(("kind", "lazy"), KINDS)
def test_band_errors_are_raised_at_call_time(
    granule: xr.Dataset, net: S5DSCR, kind: str, lazy: bool
) -> None:
    obj = as_kind(granule, kind, lazy)
    with raise_if_dask_computes():
        with pytest.raises(BandError, match="Band 1 is not supported for super-resolution"):
            obj.s5sr.super_resolve(band=1, weights=net)
        with pytest.raises(BandError, match="Band 1 is not supported for super-resolution"):
            obj.assign_attrs(s5p_band=1).s5sr.super_resolve(weights=net)
        with pytest.raises(BandError, match=r"Unknown S5P band 9: expected one of \[1, 2"):
            obj.s5sr.super_resolve(band=9, weights=net)
        anonymous = obj.copy()
        anonymous.attrs.pop("s5p_band")
        if isinstance(anonymous, xr.Dataset):
            anonymous["radiance"].attrs.pop("s5p_band", None)
        with pytest.raises(BandError, match=r"Cannot infer the S5P band.*Pass band=<n>"):
            anonymous.s5sr.bicubic()
        # Band 1 can still be degraded: only super-resolution models are missing.
        assert obj.s5sr.degrade(band=1).attrs["s5p_band"] == 1


# ---------------------------------------------------------------------------------- channels
def swir_cube(n_scanline: int = 8, n_pixel: int = 4) -> xr.Dataset:
    """Lazy band-7 granule with the real 480 spectral channels (tiny spatially)."""
    return make_granule(BAND, n_scanline, n_pixel, seed=0).chunk({"scanline": 4})


def test_channel_mismatch_480_vs_497_in_memory_module() -> None:
    uv_model = S5DSCR(497, layers=1, kernel_size=3, multiplier=1)
    lazy = swir_cube()
    with (
        raise_if_dask_computes(),
        pytest.raises(
            ChannelMismatchError, match="expects 497 spectral channels but the input has 480"
        ),
    ):
        lazy.s5sr.super_resolve(weights=uv_model, device="cpu")


def test_channel_mismatch_480_vs_497_weights_file(tmp_path: Path) -> None:
    path = tmp_path / "uv_as_band7.safetensors"
    weights.save_weights(
        S5DSCR(497, layers=1, kernel_size=3, multiplier=1), path, band=7, model_name="s5dscr_s"
    )
    with (
        raise_if_dask_computes(),
        pytest.raises(
            ChannelMismatchError, match="expects 497 spectral channels but the input has 480"
        ),
    ):
        swir_cube().s5sr.super_resolve(weights=path, device="cpu")


# ---------------------------------------------------------------------------------- tiny inputs
@pytest.mark.parametrize("shape", [(1, 1), (1, 2), (2, 1), (2, 2)])
def test_inputs_smaller_than_the_halo_are_one_exact_block(
    granule: xr.Dataset, net: S5DSCR, shape: tuple[int, int]
) -> None:
    """Documented: no error; the whole input is one block, equal to the network run on it."""
    tiny = granule.radiance.values[: shape[0], : shape[1]]
    assert max(shape) < net.receptive_radius
    spec = model_spec(weights=net, device="cpu")
    out = super_resolve_array(tiny, spec)
    with torch.inference_mode():
        direct = fold_batchnorm(net)(torch.from_numpy(tiny.transpose(2, 0, 1).copy())[None])
    expected = direct[0].numpy().transpose(1, 2, 0)
    np.testing.assert_allclose(out, expected, rtol=1e-6, atol=1e-6 * np.abs(expected).max())
    assert out.shape == (4 * shape[0], 4 * shape[1], N_CHANNEL)
    per_scanline = super_resolve_array(da.from_array(tiny, chunks=(1, -1, -1)), spec).compute()
    np.testing.assert_array_equal(per_scanline, out)


def test_degrading_fewer_than_four_pixels_is_an_error(granule: xr.Dataset) -> None:
    with pytest.raises(DimensionError, match="has 3 pixels; degradation by 4 needs at least 4"):
        granule.isel(scanline=slice(0, 3)).s5sr.degrade()


# ---------------------------------------------------------------------------------- NaN and fill
@pytest.mark.parametrize("kind", ["dataset", "dataarray"])
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("bad", [np.nan, np.inf, FILL_VALUE])
def test_all_missing_numpy_input_raises_eagerly(
    granule: xr.Dataset, net: S5DSCR, kind: str, method: str, bad: float
) -> None:
    empty = granule.copy(deep=True)
    empty["radiance"][:] = bad
    with pytest.raises(
        InputDataError, match=r"'radiance' holds no finite value: every element is NaN, ±inf or"
    ):
        run(as_kind(empty, kind, lazy=False), method, net)


@pytest.mark.parametrize("method", METHODS)
def test_all_missing_dask_input_gives_all_nan_output(
    granule: xr.Dataset, net: S5DSCR, method: str
) -> None:
    """Documented: dask input is not inspected (that would compute); its output is all NaN."""
    empty = granule.copy(deep=True)
    empty["radiance"][:] = FILL_VALUE
    with raise_if_dask_computes():
        lazy = run(empty.chunk({"scanline": 4}), method, net)
    values = lazy.radiance.values
    assert values.size > 0
    assert np.isnan(values).all()


@pytest.mark.parametrize("lazy", [False, True])
@pytest.mark.parametrize("method", METHODS)
def test_undecoded_fill_values_count_as_missing(
    granule: xr.Dataset, net: S5DSCR, method: str, lazy: bool
) -> None:
    filled = granule.copy(deep=True)
    filled["radiance"][5:7, 2, :] = FILL_VALUE
    nan = granule.copy(deep=True)
    nan["radiance"][5:7, 2, :] = np.nan
    before = filled.radiance.values.copy()
    with raise_if_dask_computes():
        out = run(filled.chunk({"scanline": 8}) if lazy else filled, method, net)
    expected = run(nan, method, net)
    np.testing.assert_array_equal(out.radiance.values, expected.radiance.values)
    assert np.isnan(expected.radiance.values).any()
    np.testing.assert_array_equal(filled.radiance.values, before)  # input untouched


def test_declared_fill_value_of_integer_data_counts_as_missing(granule: xr.Dataset) -> None:
    counts = (granule.radiance * 1e12).astype(np.int32)
    counts[0, 0, 0] = -1
    expected = counts.astype(np.float64).where(counts != -1).s5sr.degrade(band=BAND)
    counts.attrs["_FillValue"] = -1
    out = counts.s5sr.degrade(band=BAND)
    np.testing.assert_array_equal(out.values, expected.values)
    assert np.isnan(out.values[0, 0, 0])
    assert "_FillValue" not in out.attrs  # the NaN now marks the missing values


# ---------------------------------------------------------------------------------- values
@pytest.mark.parametrize("method", METHODS)
def test_negative_radiance_is_not_clipped(granule: xr.Dataset, net: S5DSCR, method: str) -> None:
    shifted = granule.radiance - float(granule.radiance.mean())  # about half negative
    shifted.attrs = granule.radiance.attrs
    assert (shifted < 0).mean() > 0.3
    out = run(shifted, method, net)
    clipped = run(shifted.clip(min=0), method, net)
    assert np.isfinite(out.values).all()
    assert (out.values < 0).any()
    assert not np.allclose(out.values, clipped.values)
    if method != "super_resolve":  # linear operators: negation passes straight through
        np.testing.assert_allclose(
            run(-shifted, method, net).values, -out.values, rtol=1e-6, atol=1e-14
        )


@pytest.mark.parametrize("dtype", [np.int16, np.int32, np.uint16, np.float64])
def test_integer_and_float64_input_cast_policy(
    granule: xr.Dataset, net: S5DSCR, dtype: type
) -> None:
    """super_resolve/bicubic compute in float32 and return float32; degrade returns float64."""
    values = (granule.radiance * 1e12).astype(dtype)  # ~5e4: integer radiance-like counts
    values.attrs = granule.radiance.attrs
    as_float32 = values.astype(np.float32)
    scaled = S5DSCR(N_CHANNEL, layers=1, kernel_size=3, multiplier=1, residual="signed")
    scaled.load_state_dict(net.state_dict())
    scaled.set_normalisation(net.input_mean * 1e12, net.input_std * 1e12)
    for method in ("super_resolve", "bicubic"):
        out = run(values, method, scaled.eval())
        assert out.dtype == np.float32
        np.testing.assert_array_equal(out.values, run(as_float32, method, scaled).values)
    lr = values.s5sr.degrade()
    assert lr.dtype == np.float64
    np.testing.assert_allclose(
        lr.values, values.astype(np.float64).s5sr.degrade().values, rtol=1e-15
    )


@pytest.mark.parametrize("dtype", [bool, np.complex64, "U3", object])
def test_non_real_input_is_refused(granule: xr.Dataset, dtype: Any) -> None:
    odd = granule.radiance.astype(dtype)
    with pytest.raises(InputDataError, match=r"has dtype .*: expected real numbers"):
        odd.s5sr.bicubic()


# ---------------------------------------------------------------------------------- coords
def test_decreasing_and_unsorted_coordinates_are_used_by_index(
    granule: xr.Dataset, net: S5DSCR
) -> None:
    decreasing = granule.assign_coords(scanline=100.0 - 2.0 * np.arange(16))
    shuffled = granule.assign_coords(
        ground_pixel=np.random.default_rng(0).permutation(6).astype(np.float64)
    )
    expected = granule.s5sr.super_resolve(weights=net, device="cpu")
    for obj in (decreasing, shuffled):
        out = obj.s5sr.super_resolve(weights=net, device="cpu")
        np.testing.assert_array_equal(out.radiance.values, expected.radiance.values)
    sr = decreasing.s5sr.super_resolve(weights=net, device="cpu")
    np.testing.assert_allclose(sr.scanline.values, 100.0 - 2.0 * hr_positions(16))
    lr = decreasing.s5sr.degrade()
    np.testing.assert_array_equal(lr.scanline.values, 100.0 - 2.0 * np.arange(2, 16, 4))


def test_missing_coordinates(granule: xr.Dataset, net: S5DSCR) -> None:
    bare = granule.drop_vars(list(granule.coords))
    sr = bare.s5sr.super_resolve(weights=net, device="cpu")
    assert set(sr.coords) == {"scanline", "ground_pixel"}  # fractional LR index, created
    np.testing.assert_array_equal(sr.scanline.values, hr_positions(16))
    np.testing.assert_array_equal(sr.ground_pixel.values, hr_positions(6))
    expected = granule.s5sr.super_resolve(weights=net, device="cpu")
    np.testing.assert_array_equal(sr.radiance.values, expected.radiance.values)
    no_geo = granule.drop_vars(["latitude", "longitude"]).s5sr.bicubic()
    assert "latitude" not in no_geo.coords
    assert "nominal_wavelength" in no_geo.coords
    assert set(bare.s5sr.degrade().coords) == set()  # degradation creates none


# ---------------------------------------------------------------------------------- extra dims
def with_time(granule: xr.Dataset) -> xr.Dataset:
    """Two time steps (second one brighter), radiance with ``time`` in second position."""
    stacked = xr.concat([granule, granule * 1.5], dim="time").assign_coords(time=[10, 20])
    stacked["radiance"] = stacked.radiance.transpose("scanline", "time", ...)
    stacked["radiance"].attrs = granule.radiance.attrs
    return stacked.drop_vars(["radiance_noise", "quality_level"])


@pytest.mark.parametrize("lazy", [False, True])
@pytest.mark.parametrize("method", ["super_resolve", "bicubic"])
def test_extra_dim_is_processed_element_by_element(
    granule: xr.Dataset, net: S5DSCR, method: str, lazy: bool
) -> None:
    stacked = with_time(granule)
    with raise_if_dask_computes():
        out = run(stacked.chunk({"scanline": 8}) if lazy else stacked, method, net)
    assert out.radiance.dims == ("scanline", "time", "ground_pixel", "spectral_channel")
    assert out.nominal_wavelength.dims == ("ground_pixel", "spectral_channel")  # no time added
    assert list(out.data_vars) == ["radiance"]
    assert {"nominal_wavelength", "latitude", "time"} <= set(out.coords)
    np.testing.assert_array_equal(out.time.values, [10, 20])
    assert isinstance(out.radiance.data, da.Array) is lazy
    for step in range(2):
        alone = run(stacked.isel(time=step), method, net)
        np.testing.assert_allclose(
            out.radiance.isel(time=step).values, alone.radiance.values, rtol=1e-6, atol=0
        )
    array = run(stacked.radiance, method, net)  # DataArray twin
    np.testing.assert_array_equal(array.values, out.radiance.values)


def test_two_extra_dims_and_degrade_with_an_extra_dim(granule: xr.Dataset) -> None:
    stacked = with_time(granule).radiance.expand_dims(view=2).copy()
    out = stacked.s5sr.bicubic()
    assert out.dims == ("view", "scanline", "time", "ground_pixel", "spectral_channel")
    np.testing.assert_array_equal(
        out.isel(view=1, time=1).values, stacked.isel(view=1, time=1).s5sr.bicubic().values
    )
    lr = stacked.s5sr.degrade()  # the degradation handles any leading dims natively
    assert lr.dims == stacked.dims
    np.testing.assert_allclose(
        lr.isel(view=0, time=1).values,
        stacked.isel(view=0, time=1).s5sr.degrade().values,
        rtol=1e-6,
    )


def test_extra_dim_of_size_zero(granule: xr.Dataset) -> None:
    with pytest.raises(DimensionError, match=r"Dim 'time' has size 0: nothing to super-resolve"):
        with_time(granule).isel(time=slice(0, 0)).s5sr.bicubic()


# ---------------------------------------------------------------------------------- chunking
@pytest.mark.parametrize(
    ("chunks", "split"),
    [
        ({"ground_pixel": 4}, r"\['ground_pixel'\]"),
        ({"spectral_channel": 1}, r"\['spectral_channel'\]"),
        (
            {"scanline": 5, "ground_pixel": 2, "spectral_channel": 2},
            r"\['ground_pixel', 'spectral_channel'\]",
        ),
    ],
)
@pytest.mark.parametrize("method", ["super_resolve", "bicubic"])
def test_chunks_across_ground_pixel_or_channel_warn_and_are_merged(
    granule: xr.Dataset, net: S5DSCR, method: str, chunks: dict[str, int], split: str
) -> None:
    with (
        raise_if_dask_computes(),
        pytest.warns(
            PerformanceWarning,
            match=rf"'radiance' is chunked along {split}.*Chunk along 'scanline' only, e\.g\. "
            r"ds\.chunk\(\{'ground_pixel': -1, 'spectral_channel': -1\}\)",
        ) as record,
    ):
        out = run(granule.chunk(chunks), method, net)
    assert record[0].filename == __file__  # points at the caller's line
    assert out.radiance.chunks[1:] == ((24,), (N_CHANNEL,))
    np.testing.assert_allclose(
        out.radiance.values, run(granule, method, net).radiance.values, rtol=1e-6, atol=0
    )


def test_scanline_chunks_do_not_warn(granule: xr.Dataset, net: S5DSCR) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", PerformanceWarning)
        run(granule.chunk({"scanline": 4}), "super_resolve", net)
        run(granule.chunk({"ground_pixel": 2}), "degrade", net)  # exact for any chunking


# ---------------------------------------------------------------------------------- weights
def test_unreadable_weights_cache_even_as_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """test_weights.py checks this with chmod, skipped as root; here the read itself fails."""
    shipped = tmp_path / "weights"
    shipped.mkdir()
    name = weights.weights_filename(3, "s5dscr_s")
    weights.save_weights(
        S5DSCR(4, layers=1, kernel_size=3, multiplier=1),
        shipped / name,
        band=3,
        model_name="s5dscr_s",
    )
    weights.update_registry(shipped, tmp_path / "registry.txt")
    cache = tmp_path / "cache"
    cache.mkdir()
    shutil.copy(shipped / name, cache / name)
    monkeypatch.setattr(weights, "REGISTRY_FILE", tmp_path / "registry.txt")
    monkeypatch.setattr(weights, "CHECKOUT_WEIGHTS_DIR", None)
    monkeypatch.setenv("XR_S5SR_DATA_DIR", str(cache))

    def guarded_open(file: Any, *args: Any, **kwargs: Any) -> Any:
        if Path(file).parent == cache:
            raise PermissionError(13, "Permission denied", str(file))
        return builtins.open(file, *args, **kwargs)

    monkeypatch.setattr(weights, "open", guarded_open, raising=False)
    with pytest.raises(
        WeightsError,
        match=r"Cannot read the weights cache .*Permission denied.*set XR_S5SR_DATA_DIR",
    ):
        weights.resolve_weights(3, "s5dscr_s")


# ---------------------------------------------------------------------------------- outputs
def _failing_third_block(block: np.ndarray, block_info: dict | None = None) -> np.ndarray:
    """Block 2 fails at once; the others are slow, so they still run (and write) after it."""
    assert block_info is not None
    if block_info[0]["chunk-location"][0] == 2:
        raise RuntimeError("interrupted in block 2")
    time.sleep(0.05)
    return block


@pytest.mark.parametrize("writer", [to_netcdf, to_zarr])
def test_interrupted_pipeline_leaves_no_file(
    granule: xr.Dataset, tmp_path: Path, writer: Callable[..., Path]
) -> None:
    """Tasks still running when another fails must not re-create the deleted output."""
    sr = granule.chunk({"scanline": 4}).s5sr.bicubic()
    sr["radiance"] = sr.radiance.copy(
        data=sr.radiance.data.map_blocks(_failing_third_block, dtype=np.float32)
    )
    with pytest.raises(RuntimeError, match="interrupted in block 2"):
        writer(sr, tmp_path / "sr.out")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("writer", [to_netcdf, to_zarr, xr_s5sr.write_l1b])
def test_writers_wait_for_tasks_still_running_before_cleaning_up(
    granule: xr.Dataset, tmp_path: Path, writer: Callable[..., Path]
) -> None:
    """dask raises as soon as one task fails while others still run; a writer that cleaned up
    then could see its temporary file re-created by them (netCDF4 mode "a" creates files)."""
    finished: list[int] = []

    def first_fails(block: np.ndarray, block_info: dict | None = None) -> np.ndarray:
        assert block_info is not None
        index = block_info[0]["chunk-location"][0]
        if index == 0:
            raise RuntimeError("block 0 failed")
        time.sleep(0.3)  # still running when block 0 fails
        finished.append(index)
        return block

    ds = granule.copy()
    lazy = granule.radiance.chunk({"scanline": 8})  # two blocks, run by two threads at once
    ds["radiance"] = lazy.copy(data=lazy.data.map_blocks(first_fails, dtype=np.float32))
    with (
        dask.config.set(scheduler="threads", num_workers=2),
        pytest.raises(RuntimeError, match="block 0 failed"),
    ):
        writer(ds, tmp_path / "out")
    assert finished == [1]
    assert list(tmp_path.iterdir()) == []


def test_read_only_directory_fails_before_computing(granule: xr.Dataset, tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        if os.access(locked, os.W_OK):
            pytest.skip("running as root: chmod does not block writes (test_io.py covers this)")
        sr = granule.chunk({"scanline": 4}).s5sr.bicubic()
        for writer in (to_netcdf, to_zarr, xr_s5sr.write_l1b):
            with raise_if_dask_computes(), pytest.raises(errors.OutputPathError, match="Cannot"):
                writer(sr, locked / "out")
        assert list(locked.iterdir()) == []
    finally:
        locked.chmod(0o755)


# ---------------------------------------------------------------------------------- docs
def _error_rows() -> list[list[str]]:
    text = (ROOT / "docs" / "errors.md").read_text()
    return [
        [cell.strip() for cell in line.strip().strip("|").split("|")]
        for line in text.splitlines()
        if line.startswith("| `") and "Error" in line.split("|")[1]
    ]


def test_errors_page_lists_every_class_and_real_messages() -> None:
    rows = _error_rows()
    documented = {row[0].strip("`") for row in rows}
    classes = {name for name in errors.__all__ if name.endswith("Error")}
    assert classes <= documented
    sources = "".join(p.read_text() for p in (ROOT / "xr_s5sr").glob("*.py"))
    # Messages are f-strings: compare with quotes and spacing of the source normalised away.
    flat = re.sub(r'"\s*\n\s*f?"', "", sources)
    for row in rows:
        for phrase in re.findall(r"`([^`]+)`", row[2]):
            assert phrase in flat, f"{row[0]}: key phrase {phrase!r} is not in any message"
