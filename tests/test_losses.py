"""Self-supervised losses: consistency, SURE (unbiasedness), robust equivariance, transforms."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import SSL_BAND as BAND
from conftest import ssl_degrade as a
from conftest import ssl_model as tiny_model
from conftest import ssl_scene as scene_lr

from xr_s5sr.losses import Transform, consistency_loss, equivariance_loss, sure_loss
from xr_s5sr.models import local_scale
from xr_s5sr.objective import network
from xr_s5sr.physics import project, projection_reach, upsample

pytestmark = pytest.mark.usefixtures("single_torch_thread")


# ------------------------------------------------------------------------------ consistency
def test_consistency_loss_is_zero_for_an_exact_preimage() -> None:
    x, y = scene_lr((96, 64))
    assert float(consistency_loss(a(x), y)) == 0.0
    # The HR image closest to the cubic interpolation that degrades to y: exact in the interior.
    noisy = y * (1 + 1e-2 * torch.randn(y.shape, generator=torch.Generator().manual_seed(0)))
    preimage = project(upsample(noisy, axes=(2, 3)), noisy, BAND, axes=(2, 3))
    reach = projection_reach(BAND)
    interior = torch.zeros_like(noisy, dtype=torch.bool)
    interior[..., reach:-reach, :] = True
    relative = consistency_loss(a(preimage), noisy, interior) / noisy.pow(2).mean()
    assert float(relative) <= 1e-10
    # The cubic interpolation alone is far from consistent.
    assert (
        float(consistency_loss(a(upsample(noisy, axes=(2, 3))), noisy) / noisy.pow(2).mean()) > 1e-5
    )


def test_consistency_loss_ignores_masked_values() -> None:
    y = torch.rand(1, 3, 6, 5, dtype=torch.float64)
    estimate = y + 0.1 * torch.rand(y.shape, dtype=torch.float64)
    mask = torch.rand(1, 1, 6, 5) > 0.3
    broken = torch.where(mask, y, torch.full_like(y, float("nan")))
    expected = ((estimate - y)[mask.expand_as(y)] ** 2).mean()
    torch.testing.assert_close(consistency_loss(estimate, broken, mask), expected)
    weight = 1.0 / local_scale(y)
    torch.testing.assert_close(
        consistency_loss(estimate, broken, mask, weight),
        consistency_loss(estimate, y, mask, weight),
    )


# ------------------------------------------------------------------------------------- SURE
def test_sure_is_unbiased_for_the_projected_error() -> None:
    """Mean SURE over noise draws = mean true ‖w(A f(y) − A x)‖², within sampling error."""
    model = tiny_model().double()
    f = network(model, consistency="none")  # with the exact projection A f(y) = y: no test
    _x, clean = scene_lr((80, 64), seed=3)
    sigma = 0.01 * float(clean.mean())  # noise large enough for SURE's correction to matter
    weight = 1.0 / local_scale(clean)  # fixed weight (it must not depend on the noise)
    mask = torch.zeros_like(clean, dtype=torch.bool)
    mask[..., 4:-4, 3:-3] = True
    generator = torch.Generator().manual_seed(1)
    sure, true, plain = [], [], []
    with torch.no_grad():
        for _draw in range(24):
            noise = torch.randn(clean.shape, generator=generator, dtype=torch.float64)
            y = clean + sigma * noise
            h_y = a(f(y))
            sure.append(
                float(sure_loss(lambda v: a(f(v)), y, sigma, mask, weight, generator=generator))
            )
            true.append(float(consistency_loss(h_y, clean, mask, weight)))
            plain.append(float(consistency_loss(h_y, y, mask, weight)))
    error = np.asarray(sure) - np.asarray(true)
    bias = np.asarray(plain) - np.asarray(true)
    standard_error = error.std(ddof=1) / np.sqrt(error.size)
    assert abs(error.mean()) <= 3 * standard_error
    assert abs(error.mean()) <= 0.02 * np.mean(true)
    # Without the divergence correction the plain misfit is far off (a denoiser's blind spot).
    assert abs(bias.mean()) > 10 * bias.std(ddof=1) / np.sqrt(bias.size)
    assert abs(error.mean()) < 0.1 * abs(bias.mean())


def test_sure_without_noise_is_the_consistency_loss() -> None:
    model = tiny_model().double()
    f = network(model, consistency="none")
    _, y = scene_lr((32, 32), seed=5)
    with torch.no_grad():
        torch.testing.assert_close(
            sure_loss(lambda v: a(f(v)), y, 0.0), consistency_loss(a(f(y)), y), rtol=1e-12, atol=0
        )


def test_sure_ignores_masked_values_for_a_local_map() -> None:
    y = torch.rand(2, 3, 5, 4, dtype=torch.float64) + 0.5
    mask = torch.rand(2, 1, 5, 4) > 0.4
    broken = torch.where(mask, y, torch.full_like(y, 7.0))

    def h(v: torch.Tensor) -> torch.Tensor:
        return 0.5 * v + 0.1 * v**2

    def run(values: torch.Tensor) -> torch.Tensor:
        return sure_loss(h, values, 0.1, mask, generator=torch.Generator().manual_seed(0))

    torch.testing.assert_close(run(broken), run(y), rtol=1e-12, atol=0)


# ------------------------------------------------------------------------------ equivariance
def test_equivariance_loss_is_zero_when_the_inverse_commutes() -> None:
    """f = A⁺ (the consistency projection of 0) commutes with shifts by whole LR pixels only."""
    _, y = scene_lr((256, 96), seed=2)

    def pinv(v: torch.Tensor) -> torch.Tensor:
        zeros = v.new_zeros((*v.shape[:2], 4 * v.shape[2], 4 * v.shape[3]))
        return project(zeros, v, BAND, axes=(2, 3))

    x = pinv(y)
    interior = torch.zeros_like(x, dtype=torch.bool)
    margin = 4 * (projection_reach(BAND) + 8)
    interior[..., margin:-margin, 8:-8] = True
    level = float(x.pow(2).mean())

    def loss(transform: Transform) -> float:
        return float(equivariance_loss(pinv, a, x, transform, interior)) / level

    assert loss(Transform()) <= 1e-12  # identity
    assert loss(Transform(shift=(4, 0))) <= 1e-12  # one LR scanline
    assert loss(Transform(shift=(1, 0))) > 0.1  # a quarter of an LR pixel: not equivariant
    assert loss(Transform(shift=(0, -2), flip_scanline=True)) > 0.1


def test_robust_equivariance_adds_fresh_noise_to_the_measurement() -> None:
    """``‖T x − f(A T x + n')‖²``: n' drawn from the generator with the given sigma."""
    _, y = scene_lr((64, 48), seed=6)
    model = tiny_model().double()
    f = network(model, consistency="none")
    with torch.no_grad():
        x = f(y)
        transform = Transform(shift=(1, 2), flip_pixel=True)
        sigma = 0.02 * float(y.mean())
        got = equivariance_loss(
            f, a, x, transform, noise_sigma=sigma, generator=torch.Generator().manual_seed(4)
        )
        noise = torch.randn(y.shape, generator=torch.Generator().manual_seed(4), dtype=y.dtype)
        target = transform(x)
        expected = ((target - f(a(target) + sigma * noise)) ** 2).mean()
        torch.testing.assert_close(got, expected, rtol=1e-12, atol=0)
        # The noise term is what separates a network that passes noise on from one that
        # removes it: with it, the loss of f grows by the noise f lets through.
        clean = equivariance_loss(f, a, x, transform)
        passed = ((f(a(target) + sigma * noise) - f(a(target))) ** 2).mean()
        assert float(got - clean) == pytest.approx(float(passed), rel=0.2)


def test_transforms() -> None:
    x = torch.arange(2 * 8 * 12, dtype=torch.float64).reshape(1, 2, 8, 12)
    shifted = Transform(shift=(1, -2))(x)
    torch.testing.assert_close(shifted[..., 1:, :-2], x[..., :-1, 2:])
    flipped = Transform(flip_scanline=True, flip_pixel=True)(x)
    torch.testing.assert_close(flipped, x.flip(-1).flip(-2))
    assert Transform().is_identity
    draws = [Transform.random(np.random.default_rng(7), 3, True) for _ in range(2)]
    assert draws[0] == draws[1]
    assert not draws[0].is_identity
    rng = np.random.default_rng(0)
    for _ in range(20):
        t = Transform.random(rng, 2, False)
        assert max(abs(s) for s in t.shift) <= 2
        assert not (t.flip_scanline)
        assert not (t.flip_pixel)
