"""Tests of xr_s5sr.adaptive: noise estimate, automatic μ (discrepancy principle), detail gate,
and what they do to the default super-resolution (issue 13)."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest

from xr_s5sr import adaptive, physics
from xr_s5sr.bands import get_band
from xr_s5sr.degrade import degrade_array
from xr_s5sr.engine import super_resolve_array
from xr_s5sr.families import family_scene
from xr_s5sr.metrics import compute_metrics
from xr_s5sr.spec import model_spec
from xr_s5sr.tiling import settings_graph

BAND = 7


def noisy_scene(
    family: str, brightness: float, seed: int = 3, shape: tuple[int, int] = (256, 160)
) -> tuple[np.ndarray, np.ndarray, float]:
    """(HR truth, LR with the band's photon-scaled noise, noise sigma) of a family scene."""
    hr = family_scene(family, BAND, shape, seed, brightness=brightness)
    lr = degrade_array(hr, BAND).astype(np.float64)
    sigma = float(get_band(BAND).noise_sigma or 0.0) * np.sqrt(brightness)
    lr += sigma * np.random.default_rng(seed).standard_normal(lr.shape)
    return hr, lr.astype(np.float32), sigma


@pytest.mark.parametrize("family", ["smooth", "absorption"])
def test_noise_variance_is_estimated_from_the_data(family: str) -> None:
    # Dim scenes: the estimate is the true variance within its sampling error (< 10 %).
    _, lr, sigma = noisy_scene(family, brightness=0.03)
    _, noise = adaptive.auto_settings(lr, BAND)
    assert noise / sigma**2 == pytest.approx(1.0, abs=0.1)


def test_no_noise_means_exact_consistency() -> None:
    flat = np.full((40, 40, 12), 3.0, np.float32)
    assert adaptive.auto_settings(flat, BAND) == (0.0, 0.0)
    assert adaptive.choose_regularisation(np.array([0.0, *np.ones(len(adaptive.MU_GRID))])) == 0


def test_choose_regularisation_reads_the_crossing_of_the_misfit_curve() -> None:
    grid = np.array(adaptive.MU_GRID)
    tau = adaptive.DISCREPANCY_FACTOR
    curve = np.log10(grid) + 5.0  # rises through tau * noise between grid points
    mu = adaptive.choose_regularisation(np.array([1.0, *curve]))
    assert 10 ** (tau - 5.0) == pytest.approx(mu, rel=1e-9)  # log-linear curve: exact
    # Curve below the noise everywhere: interpolation alone fits the data.
    assert adaptive.choose_regularisation(np.array([1.0, *np.full(grid.size, 0.5)])) == grid[-1]
    # Above at the first grid point: linear from (0, 0).
    first = adaptive.choose_regularisation(np.array([1.0, *np.full(grid.size, 4 * tau)]))
    assert first == pytest.approx(grid[0] / 4)
    # Unknown statistics (NaN: too small an image) leave the exact projection.
    assert adaptive.choose_regularisation(np.full(grid.size + 1, np.nan)) == 0.0


def test_automatic_mu_grows_with_the_noise_and_is_scale_free() -> None:
    mus = [adaptive.auto_settings(noisy_scene("solar", b)[1], BAND)[0] for b in (30.0, 1.0, 0.03)]
    assert mus[0] < mus[1] < mus[2]
    _, lr, _ = noisy_scene("smooth", 1.0)
    mu, noise = adaptive.auto_settings(lr, BAND)
    for scale in (1e-3, 1e3):
        scaled_mu, scaled_noise = adaptive.auto_settings(lr * np.float32(scale), BAND)
        assert scaled_mu == pytest.approx(mu, rel=1e-5)
        assert scaled_noise == pytest.approx(noise * scale**2, rel=1e-5)


@pytest.mark.parametrize("chunks", [20, 33, 160])
def test_automatic_mu_does_not_depend_on_the_chunking(chunks: int) -> None:
    _, lr, _ = noisy_scene("absorption", 0.03)
    lr = lr[:, :, :40]
    spec = model_spec("backprojection", band=BAND, device="cpu")
    mu, noise = settings_graph(da.from_array(lr[:40], chunks=(chunks, -1, -1)), spec)
    whole_mu, whole_noise = adaptive.auto_settings(lr[:40], BAND)
    mu_values, noise_values = da.compute(mu, noise)
    assert float(mu_values.values) == pytest.approx(whole_mu, rel=1e-9)
    assert float(noise_values.values) == pytest.approx(whole_noise, rel=1e-9)


def test_damped_backprojection_goes_from_the_exact_iteration_to_interpolation() -> None:
    _, lr, _ = noisy_scene("solar", 1.0, shape=(128, 96))
    y = lr.astype(np.float64)
    exact = physics.backproject(y, BAND)
    np.testing.assert_allclose(
        physics.backproject(y, BAND, regularisation=0.0),
        exact,
        atol=1e-12 * np.abs(exact).max(),
    )
    interpolated = physics.upsample(y)
    damped = physics.backproject(y, BAND, regularisation=1e6)
    assert np.abs(damped - interpolated).max() < 1e-4 * np.abs(y).max()
    middle = physics.backproject(y, BAND, regularisation=0.1)
    assert np.abs(middle - interpolated).max() < np.abs(exact - interpolated).max()
    # float64 arithmetic: a few ulps relative to the largest value (atol), not per element (an
    # element near zero is the difference of large terms and carries their rounding).
    np.testing.assert_allclose(
        physics.backproject(3.0 * y, BAND, regularisation=0.1),
        3.0 * middle,
        rtol=1e-10,
        atol=1e-12 * np.abs(3.0 * middle).max(),
    )


def test_detail_gate_is_off_on_featureless_scenes_and_on_for_texture() -> None:
    _, smooth, _ = noisy_scene("smooth", 30.0)
    _, textured, _ = noisy_scene("solar", 30.0)
    for lr, expected in ((smooth, 0.0), (textured, 1.0)):
        _, noise = adaptive.auto_settings(lr, BAND)
        gate = adaptive.detail_gate(lr, noise)
        assert gate.shape == lr.shape[:2]
        assert np.mean(np.abs(gate - expected) < 0.05) > 0.95
        scaled = adaptive.detail_gate(lr * np.float32(1e3), noise * 1e6)
        np.testing.assert_allclose(scaled, gate, atol=1e-4)


def test_default_keeps_the_network_detail_off_where_the_data_show_none() -> None:
    _, lr, _ = noisy_scene("smooth", 30.0, shape=(128, 96))
    default = super_resolve_array(lr, model_spec("s5dscr_s", band=BAND, device="cpu"))
    physics_only = super_resolve_array(lr, model_spec("backprojection", band=BAND, device="cpu"))
    # Inside the frame where the scene's own (zero-padded) degradation darkens the LR edges.
    inside = (slice(32, -32), slice(32, -32))
    difference = np.abs(default - physics_only)[inside].max()
    assert difference <= 1e-6 * np.abs(physics_only).max()


@pytest.mark.parametrize("brightness", [0.03, 1.0])
def test_default_beats_bicubic_on_a_dim_smooth_swir_scene(brightness: float) -> None:
    """The scene of issue 13: the exact inverse lost 10 dB to bicubic at 0.03x."""
    hr, lr, _ = noisy_scene("smooth", brightness, shape=(96, 96))
    hr = hr[: 4 * lr.shape[0], : 4 * lr.shape[1]]
    methods = {
        "bicubic": "bicubic",
        "default": model_spec("s5dscr", band=BAND, device="cpu"),
        "exact": model_spec("s5dscr", band=BAND, device="cpu", regularisation=0.0),
    }
    estimates = [super_resolve_array(lr, method) for method in methods.values()]
    bicubic, default, exact = compute_metrics(hr, *estimates, border=16)["psnr"]
    assert default > bicubic + 1.0
    assert default > exact + 2.0


def test_noisy_result_fits_the_data_to_the_noise_not_beyond() -> None:
    _, lr, sigma = noisy_scene("solar", 0.03, shape=(256, 160))
    sr = super_resolve_array(lr, model_spec("backprojection", band=BAND, device="cpu"))
    misfit = (physics.degrade(sr, BAND) - lr)[16:-16, 8:-8]
    rms = float(np.sqrt(np.mean(misfit.astype(np.float64) ** 2)))
    assert 0.2 * sigma < rms < 1.5 * sigma
