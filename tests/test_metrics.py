"""Tests of xr_s5sr.metrics: scikit-image references, hand-computed cases, NaN, dask, xarray."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest
import xarray as xr
from conftest import raise_if_dask_computes
from scipy import ndimage, signal
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

import xr_s5sr
from xr_s5sr.errors import DimensionError, InputDataError
from xr_s5sr.evaluate import evaluate_dataset, metrics_table
from xr_s5sr.metrics import compute_metrics

DIMS = ("scanline", "ground_pixel", "spectral_channel")


def smooth_cube(rng: np.random.Generator, shape: tuple[int, int, int]) -> np.ndarray:
    """Spatially correlated positive cube with channel-dependent structure (radiance-like)."""
    field = ndimage.gaussian_filter(rng.standard_normal(shape), sigma=(2.0, 2.0, 0.0))
    return (1e-7 * (2.0 + field + np.linspace(0.0, 1.0, shape[2]))).astype(np.float32)


@pytest.fixture
def pair(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    ref = smooth_cube(rng, (24, 20, 8))
    est = (ref + 3e-9 * rng.standard_normal(ref.shape)).astype(np.float32)
    return ref, est


def sobel_magnitude_2d(image: np.ndarray) -> np.ndarray:
    """Independent Sobel magnitude: explicit 3×3 kernels, 'valid' convolution."""
    kernel = np.array([[1.0, 0.0, -1.0], [2.0, 0.0, -2.0], [1.0, 0.0, -1.0]])
    gx = signal.convolve2d(image, kernel, mode="valid")
    gy = signal.convolve2d(image, kernel.T, mode="valid")
    return np.hypot(gx, gy)


# ------------------------------------------------------------------ independent references
def test_psnr_and_ssim_match_scikit_image(pair: tuple[np.ndarray, np.ndarray]) -> None:
    ref, est = (a.astype(np.float64) for a in pair)
    scores = compute_metrics(*pair)
    data_range = ref.max() - ref.min()
    per_channel = [
        peak_signal_noise_ratio(ref[..., c], est[..., c], data_range=data_range)
        for c in range(ref.shape[2])
    ]
    np.testing.assert_allclose(scores["psnr_per_channel"][0], per_channel, rtol=1e-12, atol=0)
    np.testing.assert_allclose(scores["psnr"][0], np.mean(per_channel), rtol=1e-12, atol=0)
    expected_ssim = structural_similarity(ref, est, data_range=data_range, channel_axis=2)
    np.testing.assert_allclose(scores["ssim"][0], expected_ssim, rtol=0, atol=1e-10)
    assert float(scores["data_range"]) == pytest.approx(data_range, rel=1e-12)
    assert 0.5 < scores["ssim"][0] < 0.999  # a real, non-trivial comparison


def test_paper_metrics_match_scikit_image(pair: tuple[np.ndarray, np.ndarray]) -> None:
    ref, est = (a.astype(np.float64) for a in pair)
    scores = compute_metrics(*pair, paper_compatible=True)
    ref_s = (ref - ref.min()) / (ref.max() - ref.min())
    est_s = (est - est.min()) / (est.max() - est.min())
    expected_psnr = peak_signal_noise_ratio(ref_s, est_s, data_range=1.0)
    expected_ssim = structural_similarity(ref_s, est_s, data_range=1.0, win_size=7)
    np.testing.assert_allclose(scores["paper_psnr"][0], expected_psnr, rtol=1e-12, atol=0)
    np.testing.assert_allclose(scores["paper_ssim"][0], expected_ssim, rtol=0, atol=1e-10)
    # Slices (channel, scanline), one per ground pixel, pooled into one correlation.
    grads = [
        np.stack([sobel_magnitude_2d(a[:, j, :].T) for j in range(a.shape[1])])
        for a in (ref_s, est_s)
    ]
    expected_scc = np.corrcoef(grads[0].ravel(), grads[1].ravel())[0, 1]
    np.testing.assert_allclose(scores["paper_scc"][0], expected_scc, rtol=1e-9, atol=1e-12)


def test_scc_is_pearson_of_sobel_magnitudes(pair: tuple[np.ndarray, np.ndarray]) -> None:
    ref, est = (a.astype(np.float64) for a in pair)
    expected = np.mean(
        [
            np.corrcoef(
                sobel_magnitude_2d(ref[..., c]).ravel(), sobel_magnitude_2d(est[..., c]).ravel()
            )[0, 1]
            for c in range(ref.shape[2])
        ]
    )
    np.testing.assert_allclose(compute_metrics(*pair)["scc"][0], expected, rtol=1e-9, atol=1e-12)


def test_identical_inputs_are_perfect(pair: tuple[np.ndarray, np.ndarray]) -> None:
    ref = pair[0]
    scores = compute_metrics(ref, ref, paper_compatible=True)
    assert scores["psnr"][0] == np.inf
    assert scores["paper_psnr"][0] == np.inf
    assert scores["sam"][0] == 0.0
    assert scores["ergas"][0] == 0.0
    assert scores["rmse"][0] == 0.0
    for name in ("ssim", "scc", "paper_ssim", "paper_scc"):
        assert scores[name][0] == pytest.approx(1.0, abs=1e-12), name


# ------------------------------------------------------------------ hand-computed cases
def test_sam_hand_computed() -> None:
    ref = np.zeros((7, 7, 2))
    ref[..., 0] = 1.0
    est = ref.copy()
    est[:3, :, 1] = 1.0  # 21 of 49 pixels at 45°
    est[3, :, :] = [0.0, 2.0]  # 7 pixels at 90°
    est[4, :, :] = [5.0, 0.0]  # scaled spectra: 0°
    expected = (21 * 45.0 + 7 * 90.0) / 49
    assert compute_metrics(ref, est)["sam"][0] == pytest.approx(expected, rel=1e-12)


def test_sam_leaves_out_zero_spectra() -> None:
    ref = np.zeros((7, 7, 2))
    ref[..., 0] = 1.0
    est = np.zeros_like(ref)
    est[..., 1] = 1.0  # 90° everywhere ...
    est[0, 0] = 0.0  # ... except one all-zero spectrum, which has no angle
    assert compute_metrics(ref, est)["sam"][0] == pytest.approx(90.0, rel=1e-12)


def test_ergas_rmse_psnr_hand_computed() -> None:
    ref = np.empty((8, 8, 2))
    ref[..., 0], ref[..., 1] = 2.0, 4.0  # channel means 2 and 4, data range 2
    scores = compute_metrics(ref, ref + 1.0)  # RMSE 1 in every channel
    assert scores["ergas"][0] == pytest.approx(100 / 4 * np.sqrt((1 / 4 + 1 / 16) / 2), rel=1e-12)
    assert scores["rmse"][0] == pytest.approx(1.0, rel=1e-12)
    assert scores["psnr"][0] == pytest.approx(10 * np.log10(4.0), rel=1e-12)
    assert compute_metrics(ref, ref + 1.0, ratio=2)["ergas"][0] == pytest.approx(
        2 * scores["ergas"][0], rel=1e-12
    )


def test_scc_invariant_to_gain_and_offset(pair: tuple[np.ndarray, np.ndarray]) -> None:
    ref = pair[0].astype(np.float64)
    scores = compute_metrics(ref, 3.0 * ref + 1e-7, -ref)
    np.testing.assert_allclose(scores["scc"], [1.0, 1.0], rtol=0, atol=1e-12)
    assert scores["psnr"][0] < 20  # the gain is still an error for PSNR


# ------------------------------------------------------------------ NaN and border
def test_nan_elements_are_excluded(pair: tuple[np.ndarray, np.ndarray]) -> None:
    ref, est = (a.astype(np.float64) for a in pair)
    est_nan = est.copy()
    est_nan[10:12, 5:7, :] = np.nan  # a whole-spectrum patch
    est_nan[2, 15, 3] = np.nan  # a single element
    scores = compute_metrics(ref, est_nan)
    valid = ~np.isnan(est_nan)
    data_range = ref.max() - ref.min()
    mse = [np.mean((est[..., c] - ref[..., c])[valid[..., c]] ** 2) for c in range(8)]
    np.testing.assert_allclose(
        scores["psnr_per_channel"][0],
        10 * np.log10(data_range**2 / np.array(mse)),
        rtol=1e-12,
        atol=0,
    )
    # SSIM: the scikit-image SSIM map over window centres that avoid every NaN.
    expected = []
    for c in range(8):
        _, full = structural_similarity(ref[..., c], est[..., c], data_range=data_range, full=True)
        touched = ndimage.maximum_filter(~valid[..., c], size=7)
        keep = ~touched[3:-3, 3:-3]
        expected.append(full[3:-3, 3:-3][keep].mean())
    np.testing.assert_allclose(scores["ssim"][0], np.mean(expected), rtol=0, atol=1e-10)
    # SAM: only pixels with a complete spectrum.
    complete = valid.all(axis=2)
    cos = (ref * est).sum(2) / np.linalg.norm(ref, axis=2) / np.linalg.norm(est, axis=2)
    sam = np.degrees(np.arccos(np.clip(cos[complete], -1, 1))).mean()
    assert scores["sam"][0] == pytest.approx(sam, rel=1e-6)
    assert np.isfinite([scores[k][0] for k in ("scc", "ergas", "rmse")]).all()


def test_nan_in_one_estimate_masks_all_estimates(pair: tuple[np.ndarray, np.ndarray]) -> None:
    ref, est = pair
    other = est.copy()
    other[0:9, 0:9, :2] = np.nan
    together = compute_metrics(ref, est, other)
    masked = est.copy()
    masked[np.isnan(other)] = np.nan
    alone = compute_metrics(ref, masked)
    for name in ("psnr", "ssim", "scc", "sam", "ergas", "rmse"):
        assert together[name][0] == pytest.approx(alone[name][0], rel=1e-12), name
    assert together["psnr"][0] != pytest.approx(compute_metrics(ref, est)["psnr"][0], rel=1e-6)


def test_border_crops_before_scoring(pair: tuple[np.ndarray, np.ndarray]) -> None:
    ref, est = pair
    cropped = compute_metrics(ref[3:-3, 3:-3], est[3:-3, 3:-3], paper_compatible=True)
    bordered = compute_metrics(ref, est, paper_compatible=True, border=3)
    for name, value in cropped.items():
        np.testing.assert_array_equal(bordered[name], value, err_msg=name)
    assert bordered["psnr"][0] != compute_metrics(ref, est)["psnr"][0]


# ------------------------------------------------------------------ dask
@pytest.mark.parametrize("chunks", [(5, 20, 8), (7, 9, 3), (24, 20, 8)])
def test_dask_equals_numpy_in_two_computes(
    pair: tuple[np.ndarray, np.ndarray], chunks: tuple[int, int, int]
) -> None:
    ref, est = pair
    est = est.copy()
    est[4:6, 11, :] = np.nan
    expected = compute_metrics(ref, est, paper_compatible=True)
    lazy = [da.from_array(a, chunks=chunks) for a in (ref, est)]
    with raise_if_dask_computes(max_computes=2):
        got = compute_metrics(*lazy, paper_compatible=True)
    for name, value in expected.items():
        np.testing.assert_allclose(got[name], value, rtol=1e-10, atol=1e-12, err_msg=name)


def test_large_in_memory_cubes_are_scored_block_by_block(
    pair: tuple[np.ndarray, np.ndarray], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Same numbers as one whole-cube pass; the float64 temporaries exist one block at a time."""
    ref, est = pair
    est = est.copy()
    est[4:6, 11, :] = np.nan
    whole = compute_metrics(ref, est, est * 1.1, paper_compatible=True)
    monkeypatch.setattr(xr_s5sr.metrics, "METRICS_BLOCK_BYTES", 32 * 24 * 8)  # one channel
    blocked = compute_metrics(ref, est, est * 1.1, paper_compatible=True)
    for name, value in whole.items():
        np.testing.assert_allclose(blocked[name], value, rtol=1e-10, atol=1e-12, err_msg=name)


def test_scoring_memory_is_set_by_the_block_not_the_cube(monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 15: a 256 x 128 x 497 evaluation peaked at 2.75 GB. Two estimates of a
    128 x 64 x 256 float32 cube (8 MiB each): the whole-cube pass allocates ~270 MiB of float64
    temporaries, 1 MiB blocks ~25 MiB (measured); asserted: at most a fifth."""
    import tracemalloc

    rng = np.random.default_rng(0)
    ref = rng.random((128, 64, 256), dtype=np.float32) + 1.0
    estimates = [ref + 0.01 * rng.standard_normal(ref.shape, dtype=np.float32) for _ in range(2)]

    def peak(block_bytes: int) -> int:
        monkeypatch.setattr(xr_s5sr.metrics, "METRICS_BLOCK_BYTES", block_bytes)
        tracemalloc.start()
        try:
            compute_metrics(ref, *estimates)
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    whole, blocked = peak(2**40), peak(2**20)
    assert whole > 20 * ref.nbytes
    assert blocked < whole / 5, (blocked / 2**20, whole / 2**20)


# ------------------------------------------------------------------ errors
def test_errors_on_bad_arrays(pair: tuple[np.ndarray, np.ndarray]) -> None:
    ref, est = pair
    with pytest.raises(DimensionError, match=r"\(24, 20, 8\).*\(24, 19, 8\)"):
        compute_metrics(ref, est[:, :19])
    with pytest.raises(DimensionError, match="Expected 3-D cubes"):
        compute_metrics(ref[..., 0], est[..., 0])
    with pytest.raises(DimensionError, match="border must be >= 0"):
        compute_metrics(ref, est, border=-1)
    with pytest.raises(DimensionError, match="SSIM needs at least 7 x 7"):
        compute_metrics(ref, est, border=7)
    with pytest.raises(DimensionError, match="at least 7 spectral channels"):
        compute_metrics(ref[..., :4], est[..., :4], paper_compatible=True)
    with pytest.raises(InputDataError, match="at least one estimate"):
        compute_metrics(ref)


def test_errors_on_bad_values(pair: tuple[np.ndarray, np.ndarray]) -> None:
    ref, est = pair
    with pytest.raises(InputDataError, match="reference is constant"):
        compute_metrics(np.ones_like(ref), est)
    with pytest.raises(InputDataError, match="reference has no valid values"):
        compute_metrics(np.full_like(ref, np.nan), est)
    with pytest.raises(InputDataError, match="estimate 0 is constant"):
        compute_metrics(ref, np.ones_like(est), paper_compatible=True)
    with pytest.raises(InputDataError, match="No element is valid"):
        compute_metrics(ref, np.full_like(est, np.nan))


# ------------------------------------------------------------------ xarray layer
@pytest.fixture(scope="module")
def granule() -> xr.Dataset:
    return xr_s5sr.synthetic.make_granule(7, 32, 24, seed=3, n_channel=8)


def test_evaluate_default_baseline_is_bicubic_of_degraded_reference(granule: xr.Dataset) -> None:
    lr = granule.s5sr.degrade()
    estimate = (granule.radiance * 1.01).assign_attrs(s5sr_model="s5dscr")
    scores = evaluate_dataset(estimate, granule)
    assert scores["model"].values.tolist() == ["s5dscr", "bicubic"]
    bicubic = lr.s5sr.bicubic().radiance.values
    expected = compute_metrics(granule.radiance.values, estimate.values, bicubic)
    for name in ("psnr", "ssim", "scc", "sam", "ergas", "rmse"):
        np.testing.assert_array_equal(scores[name].values, expected[name], err_msg=name)
    assert scores["psnr"].attrs["units"] == "dB"
    assert scores["rmse"].attrs["units"] == granule.radiance.attrs["units"]
    assert scores.attrs["s5p_band"] == 7
    xr.testing.assert_identical(estimate.s5sr.evaluate(granule), scores)  # accessor delegates


def test_evaluate_transposed_dims_paper_and_per_channel(granule: xr.Dataset) -> None:
    estimate = granule.radiance * 0.99
    scores = evaluate_dataset(
        estimate.transpose("spectral_channel", "scanline", "ground_pixel"),
        granule,
        baseline=granule.radiance + 1e-10,
        paper_compatible=True,
        per_channel=True,
    )
    expected = compute_metrics(
        granule.radiance.values,
        estimate.values,
        granule.radiance.values + 1e-10,
        paper_compatible=True,
    )
    np.testing.assert_allclose(scores["paper_ssim"], expected["paper_ssim"], rtol=1e-12, atol=1e-12)
    assert scores["psnr_per_channel"].dims == ("model", "spectral_channel")
    np.testing.assert_array_equal(scores["spectral_channel"], granule["spectral_channel"])
    np.testing.assert_allclose(scores["psnr_per_channel"], expected["psnr_per_channel"], atol=0)


def test_evaluate_crops_the_undegraded_reference_edge() -> None:
    hr = xr_s5sr.synthetic.make_granule(7, 34, 27, seed=1, n_channel=4)
    sr = hr.s5sr.degrade().s5sr.bicubic()  # 32 × 24: the last 2 scanlines, 3 pixels dropped
    assert sr.radiance.shape[:2] == (32, 24)
    scores = evaluate_dataset(sr, hr, baseline=sr)
    expected = compute_metrics(hr.radiance.values[:32, :24], sr.radiance.values)
    assert scores["psnr"].values[0] == expected["psnr"][0]
    with pytest.raises(DimensionError, match=r"\(30, 24, 4\).*\(32, 24, 4\)"):
        evaluate_dataset(sr, hr.isel(scanline=slice(0, 30)), baseline=sr)


def test_evaluate_is_lazy_until_two_computes(granule: xr.Dataset) -> None:
    chunked = granule.chunk({"scanline": 12})
    estimate = chunked.radiance * 1.01
    with raise_if_dask_computes(max_computes=2):
        lazy_scores = evaluate_dataset(estimate, chunked)
    eager = evaluate_dataset(granule.radiance * 1.01, granule)
    for name in ("psnr", "ssim", "scc", "sam", "ergas", "rmse"):
        np.testing.assert_allclose(
            lazy_scores[name], eager[name], rtol=1e-9, err_msg=name, atol=1e-12
        )


def test_evaluate_errors(granule: xr.Dataset) -> None:
    with pytest.raises(InputDataError, match="no variable 'rad'"):
        evaluate_dataset(granule, granule, baseline=granule, variable="rad")
    with pytest.raises(DimensionError, match=r"\(32, 24, 8\).*\(16, 24, 8\)"):
        evaluate_dataset(granule.isel(scanline=slice(0, 16)), granule, baseline=granule)
    four_d = granule.radiance.expand_dims(time=1)
    with pytest.raises(DimensionError, match="expected exactly"):
        evaluate_dataset(four_d, granule, baseline=granule)
    unnamed = granule.radiance.copy()
    unnamed.attrs.pop("s5p_band", None)
    anonymous = xr.DataArray(unnamed.values, dims=DIMS)
    with pytest.raises(xr_s5sr.BandError, match="Pass band="):
        evaluate_dataset(anonymous, anonymous)
    assert evaluate_dataset(anonymous, anonymous, band=7)["model"].size == 2


def test_metrics_table_lists_methods_and_gain(granule: xr.Dataset) -> None:
    scores = evaluate_dataset((granule.radiance * 1.001).assign_attrs(s5sr_model="s5dscr"), granule)
    text = metrics_table(scores, ["psnr", "ssim", "sam"], reference_method="bicubic")
    lines = text.splitlines()
    assert lines[0].split() == ["model", "psnr", "[dB]", "ssim", "sam", "[degree]"]
    assert lines[1].startswith("s5dscr")
    assert lines[2].startswith("bicubic")
    gain = float(scores["psnr"][0] - scores["psnr"][1])
    assert lines[3] == f"PSNR gain of s5dscr over bicubic: {gain:+.2f} dB"
    assert f"{float(scores['psnr'][0]):.2f}" in lines[1]
