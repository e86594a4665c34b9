"""The degradation operator, its adjoint, the physics inverse and the consistency projection."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import ndimage

from xr_s5sr import physics
from xr_s5sr.degrade import degrade_array


@pytest.fixture(scope="module")
def smooth_hr() -> np.ndarray:
    """A smooth random HR cube (scanline, ground_pixel, channel), 512 × 200 × 2, float32."""
    rng = np.random.default_rng(0)
    return ndimage.gaussian_filter(rng.random((512, 200, 2)), (2, 2, 0)).astype(np.float32)


@pytest.mark.parametrize("band", [2, 3, 7])
def test_degrade_matches_the_toolbox_operator(smooth_hr: np.ndarray, band: int) -> None:
    expected = degrade_array(smooth_hr, band)
    np.testing.assert_allclose(physics.degrade(smooth_hr, band), expected, rtol=0, atol=3e-7)


@pytest.mark.parametrize("band", [2, 3, 7])
@pytest.mark.parametrize("shape", [(64, 48), (70, 45)])
def test_adjoint_is_the_transpose(band: int, shape: tuple[int, int]) -> None:
    rng = np.random.default_rng(1)
    x = rng.standard_normal((*shape, 2))
    e = rng.standard_normal((shape[0] // 4, shape[1] // 4, 2))
    lhs = np.sum(physics.degrade(x, band) * e)
    rhs = np.sum(x * physics.degrade_adjoint(e, band, shape))
    assert lhs == pytest.approx(rhs, rel=1e-12)


def test_gram_inverse_taps_invert_the_gram_filter() -> None:
    kernel = physics.band_kernels(7)[0][:40]
    autocorrelation = np.correlate(kernel, kernel, mode="full")
    gram = autocorrelation[39 - 36 : 39 + 37 : 4]  # lags −9 … 9 (×4 HR pixels)
    taps = physics.gram_inverse_taps(7, 0)
    identity = np.convolve(gram, taps)
    centre = identity.size // 2
    assert identity[centre] == pytest.approx(1.0, abs=1e-9)
    assert np.abs(np.delete(identity, centre)).max() < 1e-8


def test_exact_gram_inverse_includes_the_edges() -> None:
    n = 30
    identity = torch.eye(n, dtype=torch.float64)
    hr = physics.adjoint_operator(7, 1).apply(identity, 0, 4 * n)
    gram = physics.degrade_operator(7, 1).apply(hr, 0, n).numpy()
    np.testing.assert_allclose(physics.gram_matrix_inverse(7, 1, n) @ gram, np.eye(n), atol=1e-9)


@pytest.mark.parametrize("mu", [1e-3, 0.1])
def test_regularised_gram_inverses(mu: float) -> None:
    """Taps invert the symbol plus μ; the matrix inverts the edge-exact Gram plus μ I."""
    kernel = physics.band_kernels(7)[0][:40]
    autocorrelation = np.correlate(kernel, kernel, mode="full")
    gram = autocorrelation[39 - 36 : 39 + 37 : 4]
    gram[gram.size // 2] += mu
    taps = physics.gram_inverse_taps(7, 0, mu)
    assert taps.size < physics.gram_inverse_taps(7, 0).size  # better conditioned: shorter
    identity = np.convolve(gram, taps)
    centre = identity.size // 2
    assert identity[centre] == pytest.approx(1.0, abs=1e-9)
    assert np.abs(np.delete(identity, centre)).max() < 1e-8
    n = 30
    hr = physics.adjoint_operator(7, 1).apply(torch.eye(n, dtype=torch.float64), 0, 4 * n)
    matrix = physics.degrade_operator(7, 1).apply(hr, 0, n).numpy() + mu * np.eye(n)
    inverse = physics.gram_matrix_inverse(7, 1, n, mu)
    np.testing.assert_allclose(inverse @ matrix, np.eye(n), atol=1e-9)


def test_regularised_projection_trades_consistency_for_noise(smooth_hr: np.ndarray) -> None:
    """A featureless scene with noise: μ > 0 keeps part of the misfit (the noise) and lands
    closer to the truth than the exact projection; μ → 0 recovers it; scaling commutes."""
    band = 7
    truth = np.full_like(smooth_hr, 1.0)
    clean = degrade_array(truth, band)
    y = clean + 0.01 * np.random.default_rng(0).standard_normal(clean.shape).astype(np.float32)
    start = physics.upsample(y)
    rows = slice(4 * physics.projection_reach(band), -4 * physics.projection_reach(band))

    def error(mu: float) -> float:
        return float(
            np.sqrt(
                np.mean((physics.project(start, y, band, regularisation=mu) - truth)[rows] ** 2)
            )
        )

    exact, regularised = error(0.0), error(0.03)
    assert regularised < 0.5 * exact, (regularised, exact)
    np.testing.assert_allclose(
        physics.project(start, y, band, regularisation=1e-9)[rows],
        physics.project(start, y, band)[rows],
        rtol=1e-4,
        atol=1e-5,
    )
    a = np.float32(1e3)
    np.testing.assert_allclose(
        physics.project(a * start, a * y, band, regularisation=0.03) / a,
        physics.project(start, y, band, regularisation=0.03),
        rtol=2e-5,
        atol=1e-6,
    )


@pytest.mark.parametrize("band", [2, 3, 5, 7, 8])
def test_projection_is_consistent_in_the_interior(smooth_hr: np.ndarray, band: int) -> None:
    y = degrade_array(smooth_hr, band)
    start = physics.upsample(y) + 0.1  # any HR array: the projection repairs it
    projected = physics.project(start, y, band)
    reach = physics.projection_reach(band)
    misfit = np.abs(physics.degrade(projected, band) - y) / np.abs(y).max()
    assert misfit[reach:-reach].max() < 2e-6
    # Along ground_pixel the exact Gram inverse makes it consistent up to the swath edges:
    # the first and last two ground pixels of the interior rows are as consistent as the rest
    # (along scanline, the first LR row, within the reach of the zero padding, is not).
    swath_edges = misfit[reach:-reach, [0, 1, -2, -1]]
    assert swath_edges.max() < 2e-6
    assert misfit[0].max() > 10 * swath_edges.max()


def test_projection_keeps_consistent_images_and_is_idempotent(smooth_hr: np.ndarray) -> None:
    band = 3
    y = degrade_array(smooth_hr, band)
    once = physics.project(physics.upsample(y), y, band)
    twice = physics.project(once, y, band)
    rows = slice(4 * physics.projection_reach(band), -4 * physics.projection_reach(band))
    np.testing.assert_allclose(twice[rows], once[rows], atol=2e-6 * np.abs(once).max())


def test_projection_never_moves_away_from_a_consistent_truth(smooth_hr: np.ndarray) -> None:
    band = 5
    y = degrade_array(smooth_hr, band)
    guess = physics.upsample(y)
    before = np.linalg.norm(guess - smooth_hr)
    after = np.linalg.norm(physics.project(guess, y, band) - smooth_hr)
    assert after < before


@pytest.mark.parametrize("scale", [1e-3, 1e-1, 10.0, 1e3])
def test_linear_methods_commute_with_scaling(smooth_hr: np.ndarray, scale: float) -> None:
    band = 7
    y = degrade_array(smooth_hr, band)
    a = np.float32(scale)
    np.testing.assert_allclose(
        physics.backproject(a * y, band) / a, physics.backproject(y, band), rtol=2e-5, atol=1e-6
    )
    x = physics.upsample(y)
    np.testing.assert_allclose(
        physics.project(a * x, a * y, band) / a, physics.project(x, y, band), rtol=2e-5, atol=1e-6
    )


def test_backprojection_equals_the_hr_grid_iteration_in_the_interior(smooth_hr: np.ndarray) -> None:
    band = 3
    y = degrade_array(smooth_hr, band)
    reference = physics.upsample(y)
    for _ in range(physics.BACKPROJECTION_ITERATIONS):
        reference = reference + physics.upsample(y - physics.degrade(reference, band))
    fast = physics.backproject(y, band)
    reach = 4 * physics.backprojection_reach(band)
    interior = (slice(reach, -reach), slice(reach, -reach))
    np.testing.assert_allclose(fast[interior], reference[interior], atol=2e-6)


def test_backprojection_beats_interpolation_on_a_blurred_scene(smooth_hr: np.ndarray) -> None:
    band = 3
    y = degrade_array(smooth_hr, band)
    error_interpolation = np.linalg.norm(physics.upsample(y) - smooth_hr)
    error_backprojection = np.linalg.norm(physics.backproject(y, band) - smooth_hr)
    assert error_backprojection < 0.9 * error_interpolation


def test_upsample_geometry_puts_hr_pixel_4j_plus_2_on_lr_pixel_j() -> None:
    lr = np.arange(6.0)[:, None] ** 2
    hr = physics.upsample(lr, kind="cubic")
    np.testing.assert_allclose(hr[2::4, 0], lr[:, 0], atol=1e-12)
    linear = physics.upsample(np.arange(3.0)[:, None], kind="linear")[:, 0]
    assert linear[:8].tolist() == [0.0, 0.0, 0.0, 0.25, 0.5, 0.75, 1.0, 1.25]


def test_degrade_with_spill_sums_to_the_whole_degradation(smooth_hr: np.ndarray) -> None:
    band, spill = 7, physics.DEGRADE_REACH
    n_lr = smooth_hr.shape[0] // 4
    total = np.zeros((n_lr + 2 * spill, smooth_hr.shape[1] // 4, 2), np.float32)
    for low, high in [(0, 20), (20, 71), (71, n_lr)]:
        total[low : high + 2 * spill] += physics.degrade_with_spill(
            smooth_hr[4 * low : 4 * high], band, spill
        )
    np.testing.assert_allclose(total[spill:-spill], degrade_array(smooth_hr, band), atol=5e-7)


def test_degrade_with_spill_of_a_mostly_zero_block_takes_the_sparse_sum(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The negative part of the non-negative step: a few per mille of the block nonzero.
    rng = np.random.default_rng(5)
    x = np.zeros((64, 48, 3), np.float32)
    chosen = rng.random(x.shape) < 0.002
    x[chosen] = -rng.random(int(chosen.sum()))
    calls: list[int] = []
    sparse_sum = physics.degrade_nonzero
    monkeypatch.setattr(physics, "degrade_nonzero", lambda *a: calls.append(1) or sparse_sum(*a))
    summed = physics.degrade_with_spill(x, 7)
    assert calls == [1]
    monkeypatch.setattr(physics, "SPARSE_SHARE", 0.0)
    dense = physics.degrade_with_spill(x, 7)
    assert calls == [1]
    np.testing.assert_allclose(summed, dense, rtol=0, atol=1e-6 * np.abs(dense).max())
    # A NaN keeps the dense path (a NaN's reach is the matrix products' there).
    x[0, 0, 0] = np.nan
    physics.degrade_with_spill(x, 7)
    assert calls == [1]


def test_operators_are_differentiable_in_torch(smooth_hr: np.ndarray) -> None:
    x = torch.from_numpy(smooth_hr.copy()).requires_grad_()
    y = torch.from_numpy(degrade_array(smooth_hr, 3))
    physics.project(x * 1.5, y, 3).square().sum().backward()
    assert x.grad is not None
    assert torch.isfinite(x.grad).all()
    assert x.grad.abs().sum() > 0


def test_zero_channels_are_skipped_exactly() -> None:
    rng = np.random.default_rng(4)
    hr = rng.standard_normal((64, 32, 4))
    hr[..., 1] = 0.0
    full = physics.degrade_adjoint(physics.degrade(hr, 7), 7, (64, 32))
    dense = physics.degrade_adjoint(physics.degrade(hr + 0.0 * hr, 7), 7, (64, 32))
    np.testing.assert_allclose(full, dense, atol=1e-12)
    np.testing.assert_array_equal(full[..., 1], 0.0)
    lr = physics.degrade(hr[..., [0, 2, 3]], 7)
    np.testing.assert_allclose(physics.degrade(hr, 7)[..., [0, 2, 3]], lr, atol=1e-12)
    spilled = physics.degrade_with_spill(hr, 7)
    np.testing.assert_allclose(
        spilled[..., 0], physics.degrade_with_spill(hr[..., :1], 7)[..., 0], rtol=0, atol=1e-12
    )
