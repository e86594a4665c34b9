"""Degradation model: toolbox reproduction, kernels, chunk invariance, laziness, metadata, noise."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest
import scipy.io
from conftest import chunking, nan_positions, raise_if_dask_computes, reference_path
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import ndimage

import xr_s5sr
from xr_s5sr.bands import HALF_TAPS, band_kernels, mtf_kernels
from xr_s5sr.degrade import degrade_array
from xr_s5sr.grid import lr_positions

# SPEC §2 reference central taps [14..20] (verified independently).
REFERENCE_TAPS = {
    (2, "x"): [0.00121, 0.00587, 0.02143, 0.05864, 0.12036, 0.18530, 0.21396],
    (3, "x"): [-0.00014, 0.00019, -0.00009, 0.00523, 0.05558, 0.24247, 0.39341],
    (7, "x"): [0.00636, 0.01738, 0.03954, 0.07494, 0.11833, 0.15564, 0.17052],
    (3, "y"): [0.00038, 0.00272, 0.01363, 0.04768, 0.11666, 0.19956, 0.23866],
}


@pytest.mark.parametrize(("band", "axis"), list(REFERENCE_TAPS))
def test_kernel_taps_match_spec(band: int, axis: str) -> None:
    kernel_x, kernel_y = band_kernels(band)
    kernel = kernel_x if axis == "x" else kernel_y
    np.testing.assert_allclose(kernel[14:21], REFERENCE_TAPS[(band, axis)], atol=6e-6)


@pytest.mark.parametrize("band", range(1, 9))
def test_kernels_sum_to_one_and_are_symmetric(band: int) -> None:
    for kernel in band_kernels(band):
        assert kernel.shape == (41,)
        assert kernel.sum() == pytest.approx(1.0, abs=1e-14)
        np.testing.assert_allclose(kernel, kernel[::-1], atol=1e-15)
        assert not kernel.flags.writeable


def test_mtf_kernels_reject_bad_gnyq() -> None:
    with pytest.raises(ValueError, match="gnyq_x must lie in"):
        mtf_kernels(1.2, 0.3)


@pytest.mark.parametrize(
    ("detector", "band"), [("1.UV", 2), ("2.UVIS", 3), ("3.NIR", 5), ("4.SWIR", 7)]
)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_reproduces_toolbox_lr4(detector: str, band: int, dtype: type) -> None:
    hr = scipy.io.loadmat(reference_path(f"{detector}_IN.mat"))["radiance"].astype(dtype)
    expected = scipy.io.loadmat(reference_path(f"{detector}_IN_LR4.mat"))["radiance"][..., 0]
    result = degrade_array(hr, band)
    assert result.shape == expected.shape
    assert result.dtype == dtype
    rel = np.abs(result - expected).max() / np.abs(expected).max()
    assert rel <= (1e-13 if dtype == np.float64 else 1e-6)


def test_swapped_axes_would_fail_the_toolbox_check() -> None:
    hr = scipy.io.loadmat(reference_path("4.SWIR_IN.mat"))["radiance"].astype(np.float64)
    expected = scipy.io.loadmat(reference_path("4.SWIR_IN_LR4.mat"))["radiance"][..., 0]
    swapped = degrade_array(hr.T, 7).T  # filters scanline with GNyq_y: the wrong convention
    assert np.abs(swapped - expected).max() / np.abs(expected).max() > 1e-3


def test_matches_direct_filter_then_decimate(rng: np.random.Generator) -> None:
    """Independent path: scipy correlate1d with zero boundary, then global [2::4] slicing."""
    x = rng.random((37, 29, 3))
    kernel_x, kernel_y = band_kernels(5)
    blurred = ndimage.correlate1d(x, kernel_x[:-1], axis=0, mode="constant", origin=0)
    blurred = ndimage.correlate1d(blurred, kernel_y[:-1], axis=1, mode="constant", origin=0)
    expected = blurred[2::4][: 37 // 4, 2::4][:, : 29 // 4]
    np.testing.assert_allclose(degrade_array(x, 5), expected, rtol=1e-12, atol=1e-15)


def test_swir_width_215_gives_53(rng: np.random.Generator) -> None:
    assert degrade_array(rng.random((64, 215, 2)), 7).shape == (16, 53, 2)
    np.testing.assert_array_equal(lr_positions(215)[[0, -1]], [2, 210])


@pytest.mark.parametrize(
    "chunks",
    [(1, 61, 3), (13, 61, 3), (13, 7, 1), (20, 61, 3), (64, 30, 2), (203, 61, 3), (4, 4, 3)],
)
def test_dask_equals_numpy_for_any_chunking(rng: np.random.Generator, chunks: tuple) -> None:
    x = rng.random((203, 61, 3))
    expected = degrade_array(x, 7)
    with raise_if_dask_computes():
        lazy = degrade_array(da.from_array(x, chunks=chunks), 7)
    assert isinstance(lazy, da.Array)
    np.testing.assert_allclose(lazy.compute(), expected, rtol=1e-12, atol=1e-15)


def test_other_axis_layouts(rng: np.random.Generator) -> None:
    x = rng.random((3, 40, 36))  # (channel, scanline, ground_pixel)
    expected = np.moveaxis(degrade_array(np.moveaxis(x, 0, -1), 3), -1, 0)
    np.testing.assert_allclose(
        degrade_array(x, 3, axes=(1, 2)), expected, rtol=1e-12, atol=1e-12 * np.abs(expected).max()
    )


def test_integer_input_is_computed_in_float64() -> None:
    out = degrade_array(np.ones((64, 64), dtype=np.int16) * 100, 3)
    assert out.dtype == np.float64
    # LR pixels whose support avoids the zero padding keep the constant (kernels sum to 1).
    kernel_x, kernel_y = band_kernels(3)
    # The toolbox drops the 41st tap, so a constant is scaled by the sums of the 40 used taps.
    expected = 100.0 * kernel_x[:-1].sum() * kernel_y[:-1].sum()
    assert out[8, 8] == pytest.approx(expected, rel=1e-12)
    assert out[0, 0] < 99.0  # ... while edge pixels see the zeros outside the image


def test_too_small_image_raises() -> None:
    with pytest.raises(xr_s5sr.DimensionError, match="at least 4"):
        degrade_array(np.zeros((3, 16)), 3)


def test_nan_is_confined_to_kernel_support(rng: np.random.Generator) -> None:
    x = rng.random((96, 80, 2))
    x[50, 40, 0] = np.nan
    out = degrade_array(x, 3)
    bad = np.argwhere(np.isnan(out))
    # LR pixel j sees HR rows 4j+2-20 .. 4j+2+19: the NaN at row 50 reaches j = 8..17.
    rows = sorted({int(r) for r, _, _ in bad})
    cols = sorted({int(c) for _, c, _ in bad})
    assert rows == [
        j for j in range(24) if 4 * j + 2 - HALF_TAPS <= 50 <= 4 * j + 2 + HALF_TAPS - 1
    ]
    assert cols == [
        j for j in range(20) if 4 * j + 2 - HALF_TAPS <= 40 <= 4 * j + 2 + HALF_TAPS - 1
    ]
    assert set(bad[:, 2]) == {0}


# ------------------------------------------------------------------------------ noise
@pytest.mark.parametrize("mode", ["lr", "hr", 1e-3])
def test_noise_is_seeded_and_chunk_invariant(rng: np.random.Generator, mode: object) -> None:
    x = rng.random((80, 40, 2))
    eager = degrade_array(x, 3, noise=mode, seed=4)
    lazy = degrade_array(da.from_array(x, chunks=(24, 15, 1)), 3, noise=mode, seed=4).compute()
    np.testing.assert_allclose(lazy, eager, rtol=1e-12, atol=1e-12 * np.abs(eager).max())
    added = eager - degrade_array(x, 3)
    sigma = 1e-3 if mode == 1e-3 else xr_s5sr.bands.get_band(3).noise_sigma
    if mode == "hr":  # HR noise is averaged by the blur: much smaller than sigma on LR
        assert 0 < added.std() < 0.5 * sigma
    else:
        assert added.std() == pytest.approx(sigma, rel=0.15)
    again = degrade_array(x, 3, noise=mode, seed=5) - degrade_array(x, 3)
    assert np.abs(again - added).max() > 0.1 * added.std()


def test_lr_noise_has_the_band_sigma() -> None:
    x = np.zeros((400, 400, 2))
    noise = degrade_array(x, 7, noise="lr", seed=0)
    assert noise.std() == pytest.approx(xr_s5sr.bands.get_band(7).noise_sigma, rel=0.03)


def test_bad_noise_argument() -> None:
    with pytest.raises(ValueError, match="noise must be None"):
        degrade_array(np.zeros((16, 16)), 3, noise="loud")
    with pytest.raises(xr_s5sr.S5SRError, match="no reference noise level"):
        degrade_array(np.zeros((16, 16)), 1, noise="lr")


# ------------------------------------------------------------------------------ properties
PROPERTY = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(data=st.data())
def test_degradation_chunk_invariance_shapes_and_nan_support(data: st.DataObject) -> None:
    """For random shapes, chunkings and NaN masks: dask equals numpy, sizes are ``n // 4``,
    and NaN is exactly where the 40-tap support holds a NaN."""
    shape = (
        data.draw(st.integers(4, 48), "n_scanline"),
        data.draw(st.integers(4, 24), "n_pixel"),
        data.draw(st.integers(1, 3), "n_channel"),
    )
    band = data.draw(st.integers(1, 8), "band")
    dtype = data.draw(st.sampled_from([np.float32, np.float64]), "dtype")
    x = np.random.default_rng(data.draw(st.integers(0, 2**16), "seed")).random(shape).astype(dtype)
    holes = data.draw(nan_positions(shape), "nan")
    for position in holes:
        x[position] = np.nan
    chunks = (data.draw(chunking(shape[0])), data.draw(chunking(shape[1])), -1)

    expected = degrade_array(x, band)
    lazy = degrade_array(da.from_array(x, chunks=chunks), band)
    assert expected.shape == lazy.shape == (shape[0] // 4, shape[1] // 4, shape[2])
    assert expected.dtype == lazy.dtype == dtype
    tolerance = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(lazy.compute(), expected, rtol=tolerance, atol=tolerance * 1e-3)

    # LR pixel j reads HR pixels 4j + 2 + o for o in [-20, 19] (tap 40 dropped), per axis.
    centres = [4 * np.arange(n // 4) + 2 for n in shape[:2]]
    nan = np.zeros(expected.shape, bool)
    for p, q, c in holes:
        rows = (p - centres[0] >= -HALF_TAPS) & (p - centres[0] < HALF_TAPS)
        cols = (q - centres[1] >= -HALF_TAPS) & (q - centres[1] < HALF_TAPS)
        nan[:, :, c] |= rows[:, None] & cols[None, :]
    np.testing.assert_array_equal(np.isnan(expected), nan)


def test_blocks_of_dask_input_are_degraded_alone_and_their_lr_parts_summed() -> None:
    """HR blocks of ≥ 24 rows are degraded each alone (their LR rows and the 6 they spill into
    each neighbour) and the LR parts summed, so no HR block is copied with a halo: the result
    equals the numpy one to float32 rounding for any such chunking, and a NaN still reaches only
    the LR pixels whose taps cover it."""
    rng = np.random.default_rng(3)
    hr = rng.standard_normal((203, 40, 3)).astype(np.float32)
    hr[100, 17, 1] = np.nan
    whole = degrade_array(hr, 7)
    for rows in (48, 56, 64):
        lazy = degrade_array(da.from_array(hr, chunks=(rows, -1, -1)), 7)
        layers = list(lazy.__dask_graph__().layers)
        assert any(name.startswith("_spilled_part") for name in layers), layers
        out = lazy.compute()
        np.testing.assert_array_equal(np.isnan(out), np.isnan(whole))
        np.testing.assert_allclose(out, whole, rtol=0, atol=1e-6 * np.nanmax(np.abs(whole)))
