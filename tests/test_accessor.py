"""Tests of the ``.s5sr`` accessor: every method on Dataset/DataArray × numpy/dask, laziness,
validation of inputs (dims, band, channels, fill values, dtypes, coordinates, extra dims,
chunking) and the errors it raises before any engine runs.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import dask.array as da
import numpy as np
import pytest
import torch
import xarray as xr
from conftest import (
    OBJECT_KINDS,
    SMALL_BAND,
    SMALL_CHANNELS,
    S5SRObject,
    make_s5sr_object,
    raise_if_dask_computes,
    randomise_batchnorm,
    small_granule,
    tiny_local_network,
)

import xr_s5sr
from xr_s5sr import weights
from xr_s5sr.degrade import degrade_array
from xr_s5sr.errors import (
    BandError,
    ChannelMismatchError,
    DimensionError,
    InputDataError,
    PerformanceWarning,
)
from xr_s5sr.grid import hr_positions
from xr_s5sr.l1b import FILL_VALUE
from xr_s5sr.models import S5DSCR, build_model
from xr_s5sr.synthetic import make_granule

BAND = SMALL_BAND
N_CHANNEL = SMALL_CHANNELS
N_SCANLINE, N_PIXEL = 32, 12
DIMS = ("scanline", "ground_pixel", "spectral_channel")


@pytest.fixture(scope="module")
def granule() -> xr.Dataset:
    """numpy band-7 granule, 32 scanlines × 12 ground pixels × 6 channels (read-only)."""
    return small_granule()


@pytest.fixture(scope="module")
def net(granule: xr.Dataset) -> S5DSCR:
    """Tiny S5-DSCR-S (signed residual, random BatchNorm) normalised to the granule."""
    torch.manual_seed(3)
    model = randomise_batchnorm(build_model("s5dscr_s", N_CHANNEL, "signed"), seed=3)
    model.set_normalisation(float(granule.radiance.mean()), float(granule.radiance.std()))
    return model.eval()


def radiance(result: xr.Dataset | xr.DataArray) -> xr.DataArray:
    return result if isinstance(result, xr.DataArray) else result.radiance


# ---------------------------------------------------------------------------------- laziness
def test_the_compute_guard_raises() -> None:
    """raise_if_dask_computes can fail: the laziness checks below rely on it."""
    with pytest.raises(RuntimeError, match="Too many dask computations"), raise_if_dask_computes():
        da.ones(4, chunks=2).sum().compute()
    with raise_if_dask_computes(max_computes=1) as scheduler:
        assert da.ones(4, chunks=2).sum().compute() == 4
    assert scheduler.total_computes == 1


#: Every accessor method that returns data, with its arguments (cheap models).
METHODS: dict[str, Callable[[Any], Any]] = {
    "degrade": lambda obj: obj.s5sr.degrade(),
    "degrade-noise": lambda obj: obj.s5sr.degrade(noise="lr", seed=5),
    "bicubic": lambda obj: obj.s5sr.bicubic(),
    "super_resolve-bicubic": lambda obj: obj.s5sr.super_resolve(model="bicubic", device="cpu"),
    "super_resolve-backprojection": lambda obj: obj.s5sr.super_resolve(
        model="backprojection", device="cpu"
    ),
    "super_resolve-network": lambda obj: obj.s5sr.super_resolve(
        weights=tiny_local_network(), device="cpu"
    ),
    "super_resolve-network-strict": lambda obj: obj.s5sr.super_resolve(
        weights=tiny_local_network(), device="cpu", missing="strict", consistency=False
    ),
}


@pytest.mark.parametrize("method", list(METHODS))
def test_every_method_is_lazy_on_dask_and_equals_numpy(
    s5sr_object: S5SRObject, method: str
) -> None:
    call = METHODS[method]
    before = copy.deepcopy(s5sr_object.eager)
    with raise_if_dask_computes():
        out = call(s5sr_object.obj)
    assert type(out) is type(s5sr_object.obj)
    assert isinstance(radiance(out).data, da.Array) is s5sr_object.lazy
    if s5sr_object.kind == "dataset" and s5sr_object.lazy:
        assert isinstance(out.latitude.data, da.Array)  # coordinates stay lazy too
    assert radiance(out).dtype == np.float32
    expected = call(s5sr_object.eager)
    assert isinstance(radiance(expected).data, np.ndarray)
    scale = float(np.abs(radiance(expected)).max())
    if isinstance(out, xr.Dataset) and s5sr_object.lazy:
        # An in-memory result alone carries the report's HR sums (xr_s5sr.plausibility).
        expected = expected.drop_vars(["s5sr_negative_fraction", "s5sr_chi2"], errors="ignore")
    # Physics blocks may be shorter than the physics' reach (issue 23): float32 rounding.
    xr.testing.assert_allclose(out.compute(), expected, rtol=1e-5, atol=1e-5 * scale)
    xr.testing.assert_identical(s5sr_object.eager, before)  # input untouched


def test_evaluate_on_every_kind(s5sr_object: S5SRObject) -> None:
    """evaluate is eager: at most two computes on dask input (see xr_s5sr.metrics)."""

    def scores(obj: xr.Dataset | xr.DataArray) -> xr.Dataset:
        if isinstance(obj, xr.Dataset):
            estimate: Any = obj.assign(radiance=obj.radiance * 1.01)
        else:
            estimate = (obj * 1.01).assign_attrs(obj.attrs)
        return estimate.s5sr.evaluate(obj)

    with raise_if_dask_computes(max_computes=2):
        result = scores(s5sr_object.obj)
    expected = scores(s5sr_object.eager)
    assert result["model"].values.tolist() == expected["model"].values.tolist()
    assert result["model"].values[-1] == "bicubic"  # the default baseline
    for name in ("psnr", "ssim", "scc", "sam", "ergas", "rmse"):
        np.testing.assert_allclose(result[name], expected[name], rtol=1e-5, err_msg=name, atol=0)


def test_dataset_and_dataarray_give_the_same_radiance(granule: xr.Dataset, net: S5DSCR) -> None:
    for method in RUN_METHODS:
        from_dataset = run(granule, method, net)
        from_dataarray = run(granule.radiance, method, net)
        assert isinstance(from_dataarray, xr.DataArray)
        np.testing.assert_array_equal(from_dataset.radiance.values, from_dataarray.values)
        assert from_dataarray.attrs["s5p_band"] == BAND
        # The same call is recorded (after the time stamp).
        calls = [
            r.attrs["history"].split("\n")[0].split(": ", 1)[1]
            for r in (from_dataset, from_dataarray)
        ]
        assert calls[0] == calls[1]


def test_snapshot_of_the_module_is_taken_when_the_graph_is_built(granule: xr.Dataset) -> None:
    net = tiny_local_network().train()
    lazy_input = granule.radiance.chunk({"scanline": 8})
    lazy = lazy_input.s5sr.super_resolve(band=BAND, weights=net, device="cpu")
    expected = granule.radiance.s5sr.super_resolve(band=BAND, weights=net, device="cpu")
    with torch.no_grad():
        net.blocks[-1].pointwise.weight.mul_(-3.0)  # training continues after the call
    xr.testing.assert_allclose(lazy.compute(), expected, atol=1e-5 * float(np.abs(expected).max()))
    assert net.training  # the caller's module is neither folded nor switched to eval


# ---------------------------------------------------------------------------------- properties
def test_band_and_dims_properties() -> None:
    array = xr.DataArray(
        np.zeros((2, 3, 4), np.float32),
        dims=("along_track", "x", "channel"),
        attrs={"s5p_band": 5},
    )
    assert array.s5sr.band == 5
    assert array.s5sr.dims == {
        "scanline": "along_track",
        "ground_pixel": "x",
        "spectral_channel": "channel",
    }


# ---------------------------------------------------------------------------------- degrade
@pytest.fixture(scope="module")
def hr_granule() -> xr.Dataset:
    return make_granule(3, n_scanline=48, n_ground_pixel=36, seed=2, n_channel=5)


def test_degrade_dataset(hr_granule: xr.Dataset) -> None:
    lr = hr_granule.s5sr.degrade()
    assert dict(lr.radiance.sizes) == {"scanline": 12, "ground_pixel": 9, "spectral_channel": 5}
    np.testing.assert_allclose(
        lr.radiance.values,
        degrade_array(hr_granule.radiance.values, 3),
        rtol=1e-6,
        atol=1e-6 * float(np.abs(hr_granule.radiance).max()),
    )
    assert lr.radiance.dtype == np.float32
    np.testing.assert_array_equal(lr.scanline.values, hr_granule.scanline.values[2::4])
    np.testing.assert_array_equal(
        lr.latitude.values, hr_granule.latitude.values[2::4, 2::4][:12, :9]
    )
    np.testing.assert_array_equal(
        lr.nominal_wavelength.values, hr_granule.nominal_wavelength.values[2::4][:9]
    )
    assert lr.radiance.attrs == hr_granule.radiance.attrs
    assert lr.attrs["s5p_band"] == 3
    assert "s5sr.degrade(band=3)" in lr.attrs["history"]
    assert "GNyq_x along scanline" in lr.attrs["s5sr_degradation"]
    assert all(not v.encoding for v in lr.variables.values())
    assert "history" not in hr_granule.attrs  # input untouched


def test_degrade_is_lazy_and_chunk_invariant(hr_granule: xr.Dataset) -> None:
    expected = hr_granule.s5sr.degrade()
    for chunks in (5, 13, 48):
        with raise_if_dask_computes():
            lazy = hr_granule.chunk({"scanline": chunks}).s5sr.degrade()
        assert isinstance(lazy.radiance.data, da.Array)
        xr.testing.assert_allclose(
            lazy.radiance.compute(),
            expected.radiance,
            rtol=1e-6,
            atol=1e-6 * float(np.abs(expected.radiance).max()),
        )


def test_degrade_dataarray(hr_granule: xr.Dataset) -> None:
    lr = hr_granule.radiance.s5sr.degrade(band=3)
    assert isinstance(lr, xr.DataArray)
    assert lr.shape == (12, 9, 5)
    assert "s5sr.degrade" in lr.attrs["history"]


def test_degrade_needs_a_band(hr_granule: xr.Dataset) -> None:
    anonymous = hr_granule.radiance.copy()
    anonymous.attrs.pop("s5p_band", None)
    anonymous.name = "values"
    with pytest.raises(xr_s5sr.BandError, match="Pass band="):
        anonymous.s5sr.degrade()
    with pytest.raises(xr_s5sr.BandError, match="Unknown S5P band 9"):
        anonymous.s5sr.degrade(band=9)
    # A band that does not exist is refused as such, not as a contradiction of the data
    # (which told users to relabel their band-3 data as band 9).
    with pytest.raises(xr_s5sr.BandError, match=r"Unknown S5P band 9: .* no other band"):
        hr_granule.s5sr.degrade(band=9)
    with pytest.raises(xr_s5sr.BandError, match="band=1 contradicts the data, which is band 3"):
        hr_granule.s5sr.degrade(band=1)  # band 1 exists and can be degraded


def test_degrade_missing_dim(hr_granule: xr.Dataset) -> None:
    renamed = hr_granule.rename({"ground_pixel": "columns_of_pixels"})
    with pytest.raises(xr_s5sr.DimensionError, match="No 'ground_pixel' dimension found"):
        renamed.s5sr.degrade()


def test_degrading_fewer_than_four_pixels_is_an_error(granule: xr.Dataset) -> None:
    with pytest.raises(DimensionError, match="has 3 pixels; degradation by 4 needs at least 4"):
        granule.isel(scanline=slice(0, 3)).s5sr.degrade()


# ---------------------------------------------------------------------------------- evaluate
def test_evaluate_dataset_and_dataarray() -> None:
    reference = make_granule(7, 32, 24, seed=3, n_channel=8)
    sr = reference.s5sr.degrade().s5sr.bicubic()  # s5sr_model="bicubic" → name collision
    from_dataset = sr.s5sr.evaluate(reference, baseline=reference * 0.98)
    from_dataarray = sr.radiance.s5sr.evaluate(
        reference.radiance, baseline=reference.radiance * 0.98
    )
    assert from_dataset["model"].values.tolist() == ["bicubic", "baseline"]
    for name in ("psnr", "ssim", "sam"):
        np.testing.assert_array_equal(from_dataset[name], from_dataarray[name])
    collision = sr.s5sr.evaluate(reference)
    assert collision["model"].values.tolist() == ["bicubic", "bicubic_baseline"]
    assert collision["psnr"].values[0] == collision["psnr"].values[1]


# ---------------------------------------------------------------------------------- dims
def run(obj: xr.Dataset | xr.DataArray, method: str, net: S5DSCR, **kwargs: Any) -> Any:
    """Call one accessor method; super_resolve with the tiny in-memory network."""
    if method == "super_resolve":
        return obj.s5sr.super_resolve(weights=net, device="cpu", **kwargs)
    return getattr(obj.s5sr, method)(**kwargs)


RUN_METHODS = ["degrade", "super_resolve", "bicubic"]


@pytest.mark.parametrize(("kind", "lazy"), OBJECT_KINDS)
@pytest.mark.parametrize("method", RUN_METHODS)
def test_misnamed_dim_lists_the_dims_found(
    granule: xr.Dataset, net: S5DSCR, kind: str, lazy: bool, method: str
) -> None:
    obj = make_s5sr_object(kind, lazy, granule.rename(ground_pixel="pixels_across")).obj
    with (
        raise_if_dask_computes(),
        pytest.raises(
            DimensionError,
            match=r"No 'ground_pixel' dimension found: expected one named 'ground_pixel' "
            r"\(or an alias: across_track, .*found dims \(.*'pixels_across'.*Rename it",
        ),
    ):
        run(obj, method, net)


@pytest.mark.parametrize("method", RUN_METHODS)
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
@pytest.mark.parametrize(("kind", "lazy"), OBJECT_KINDS)
def test_band_errors_are_raised_at_call_time(net: S5DSCR, kind: str, lazy: bool) -> None:
    obj = make_s5sr_object(kind, lazy).obj
    relabelled = obj.assign_attrs(s5p_band=1)  # found before the radiance's own attribute
    anonymous = obj.copy()
    anonymous.attrs.pop("s5p_band")
    if isinstance(anonymous, xr.Dataset):
        anonymous["radiance"].attrs.pop("s5p_band", None)
    with raise_if_dask_computes():
        with pytest.raises(BandError, match="Band 1 is not supported for super-resolution"):
            relabelled.s5sr.super_resolve(weights=net)
        with pytest.raises(BandError, match=r"band=3 contradicts the data, which is band 7 acc"):
            obj.s5sr.super_resolve(band=3, weights=net)
        with pytest.raises(BandError, match=r"Unknown S5P band 9: expected one of \[1, 2"):
            anonymous.s5sr.super_resolve(band=9, weights=net)
        # On labelled band-7 data too: never "relabel the data" to a band that cannot work.
        with pytest.raises(BandError, match=r"Unknown S5P band 9: .* covers bands \[2, 3"):
            obj.s5sr.super_resolve(band=9, weights=net)
        with pytest.raises(BandError, match=r"Band 1 is not supported for super-resolution"):
            obj.s5sr.super_resolve(band=1, weights=net)
        with pytest.raises(BandError, match=r"Cannot infer the S5P band.*Pass band=<n>"):
            anonymous.s5sr.bicubic()
        with pytest.raises(BandError, match=r"Cannot infer the S5P band.*Pass band=<n>"):
            anonymous.s5sr.super_resolve(model="backprojection")
        if not lazy:  # wavelengths are checked when in memory (never computed)
            with pytest.raises(BandError, match=r"band=3 contradicts the data's wavelengths"):
                anonymous.s5sr.super_resolve(band=3, weights=net)
        # Band 1 can still be degraded: only super-resolution models are missing.
        assert relabelled.s5sr.degrade().attrs["s5p_band"] == 1


# ---------------------------------------------------------------------------------- channels
def swir_cube(n_scanline: int = 8, n_pixel: int = 4) -> xr.Dataset:
    """Lazy band-7 granule with the real 480 spectral channels (tiny spatially)."""
    return make_granule(BAND, n_scanline, n_pixel, seed=0).chunk({"scanline": 4})


def test_channel_mismatch_is_raised_eagerly(granule: xr.Dataset, net: S5DSCR) -> None:
    lazy = granule.chunk({"scanline": 8}).isel(spectral_channel=slice(0, 5))
    with (
        raise_if_dask_computes(),
        pytest.raises(
            ChannelMismatchError, match="expects 6 spectral channels but the input has 5"
        ),
    ):
        lazy.s5sr.super_resolve(weights=net, device="cpu")


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


# ---------------------------------------------------------------------------------- NaN and fill
@pytest.mark.parametrize("kind", ["dataset", "dataarray"])
@pytest.mark.parametrize("method", RUN_METHODS)
@pytest.mark.parametrize("bad", [np.nan, np.inf, FILL_VALUE])
def test_all_missing_numpy_input_raises_eagerly(
    granule: xr.Dataset, net: S5DSCR, kind: str, method: str, bad: float
) -> None:
    empty = granule.copy(deep=True)
    empty["radiance"][:] = bad
    with pytest.raises(
        InputDataError, match=r"'radiance' holds no finite value: every element is NaN, ±inf or"
    ):
        run(make_s5sr_object(kind, False, empty).obj, method, net)


@pytest.mark.parametrize("method", RUN_METHODS)
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
@pytest.mark.parametrize("method", RUN_METHODS)
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
    scale = float(np.nanmax(np.abs(expected.radiance.values)))
    # Same NaN; the values to float32 rounding (dask blocks of 8 rows against one array).
    np.testing.assert_allclose(out.radiance.values, expected.radiance.values, atol=1e-5 * scale)
    assert np.isnan(expected.radiance.values).any()
    np.testing.assert_array_equal(filled.radiance.values, before)  # input untouched


@pytest.mark.parametrize("missing", ["fill", "strict"])
def test_missing_policy_is_passed_to_the_engine(
    granule: xr.Dataset, net: S5DSCR, missing: str
) -> None:
    dirty = granule.copy(deep=True)
    dirty["radiance"][5, 2, 1] = np.nan
    out = dirty.s5sr.super_resolve(weights=net, device="cpu", missing=missing, consistency=False)
    nan = np.isnan(out.radiance.values)
    assert nan[20:24, 8:12, 1].all()
    if missing == "fill":
        assert nan.sum() == 16  # the 4 × 4 HR footprint, that channel only
    else:
        assert nan[20:24, 8:12, :].all()  # every channel: the network mixes them
        assert nan.sum() > 16 * N_CHANNEL


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
@pytest.mark.parametrize("method", RUN_METHODS)
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
        lr.values,
        values.astype(np.float64).s5sr.degrade().values,
        rtol=1e-15,
        atol=1e-15 * float(np.abs(lr).max()),
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
    decreasing = granule.assign_coords(scanline=100.0 - 2.0 * np.arange(N_SCANLINE))
    shuffled = granule.assign_coords(
        ground_pixel=np.random.default_rng(0).permutation(N_PIXEL).astype(np.float64)
    )
    expected = granule.s5sr.super_resolve(weights=net, device="cpu")
    for obj in (decreasing, shuffled):
        out = obj.s5sr.super_resolve(weights=net, device="cpu")
        np.testing.assert_array_equal(out.radiance.values, expected.radiance.values)
    sr = decreasing.s5sr.super_resolve(weights=net, device="cpu")
    np.testing.assert_allclose(
        sr.scanline.values, 100.0 - 2.0 * hr_positions(N_SCANLINE), atol=1e-12
    )
    lr = decreasing.s5sr.degrade()
    np.testing.assert_array_equal(lr.scanline.values, 100.0 - 2.0 * np.arange(2, N_SCANLINE, 4))


def test_missing_coordinates(granule: xr.Dataset, net: S5DSCR) -> None:
    bare = granule.drop_vars(list(granule.coords))
    sr = bare.s5sr.super_resolve(weights=net, device="cpu")
    # scanline, ground_pixel: fractional LR index, created; settings_window: the report's.
    assert set(sr.coords) == {"scanline", "ground_pixel", "settings_window"}
    np.testing.assert_array_equal(sr.scanline.values, hr_positions(N_SCANLINE))
    np.testing.assert_array_equal(sr.ground_pixel.values, hr_positions(N_PIXEL))
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
    report: list[str] = []  # the bicubic baseline has no plausibility report
    if method == "super_resolve":  # automatic settings: per time step and window
        report = ["s5sr_window_regularisation", "s5sr_window_sigma"]
        if not lazy:  # a lazy result's HR sums come in a second pass (plausibility.hr_report)
            report += ["s5sr_negative_fraction", "s5sr_chi2"]
        assert out.s5sr_window_regularisation.dims == ("time", "settings_window")
        settings = out[report[:2]].compute()
        # μ is scale-free and σ scales with the radiance (second step: 1.5 x the first).
        np.testing.assert_allclose(
            settings.s5sr_window_regularisation[1],
            settings.s5sr_window_regularisation[0],
            rtol=1e-6,
            atol=0,
        )
        np.testing.assert_allclose(
            settings.s5sr_window_sigma[1], 1.5 * settings.s5sr_window_sigma[0], rtol=1e-5, atol=0
        )
    assert list(out.data_vars) == ["radiance", *report]
    assert {"nominal_wavelength", "latitude", "time"} <= set(out.coords)
    np.testing.assert_array_equal(out.time.values, [10, 20])
    assert isinstance(out.radiance.data, da.Array) is lazy
    for step in range(2):
        alone = run(stacked.isel(time=step), method, net)
        scale = float(np.abs(alone.radiance.values).max())
        np.testing.assert_allclose(
            out.radiance.isel(time=step).values, alone.radiance.values, atol=1e-5 * scale
        )
    array = run(stacked.radiance, method, net).values  # DataArray twin (numpy)
    np.testing.assert_allclose(array, out.radiance.values, atol=1e-5 * float(np.abs(array).max()))


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
        atol=1e-6 * float(np.abs(lr).max()),
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
    assert out.radiance.chunks[1:] == ((4 * N_PIXEL,), (N_CHANNEL,))
    whole = run(granule, method, net).radiance.values
    np.testing.assert_allclose(out.radiance.values, whole, atol=1e-5 * float(np.abs(whole).max()))


def test_scanline_chunks_do_not_warn(granule: xr.Dataset, net: S5DSCR) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", PerformanceWarning)
        run(granule.chunk({"scanline": 4}), "super_resolve", net)
        run(granule.chunk({"ground_pixel": 2}), "degrade", net)  # exact for any chunking
