"""Tests of xr_s5sr.models: sizes, bicubic branch, normalisation, BN folding, training."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import randomise_batchnorm
from torch import nn

from xr_s5sr.errors import S5SRArgumentError
from xr_s5sr.models import (
    PRESETS,
    S5DSCR,
    ModelConfig,
    build_model,
    compose,
    fold_batchnorm,
    model_from_config,
    preset_config,
    zero_residual,
)

VARIANTS = [(name, residual) for name in PRESETS for residual in ("paper", "signed")]


def keys_bicubic_x4(image: np.ndarray) -> np.ndarray:
    """Independent reference: Keys cubic (a = −0.75), half-pixel centres, clamped border, ×4."""
    a = -0.75

    def kernel(t: np.ndarray) -> np.ndarray:
        t = np.abs(t)
        return np.where(
            t <= 1,
            (a + 2) * t**3 - (a + 3) * t**2 + 1,
            np.where(t < 2, a * t**3 - 5 * a * t**2 + 8 * a * t - 4 * a, 0.0),
        )

    def along(x: np.ndarray, axis: int) -> np.ndarray:
        n = x.shape[axis]
        source = (np.arange(4 * n) + 0.5) / 4 - 0.5
        base = np.floor(source).astype(int)
        out = 0.0
        for offset in (-1, 0, 1, 2):
            index = np.clip(base + offset, 0, n - 1)
            weight = kernel(source - (base + offset))
            shape = [1] * x.ndim
            shape[axis] = -1
            out = out + np.take(x, index, axis=axis) * weight.reshape(shape)
        return out

    return along(along(image.astype(np.float64), -2), -1)


@pytest.mark.parametrize(("name", "expected"), [("s5dscr", 3_896_480), ("s5dscr_s", 252_476)])
def test_parameter_counts_of_the_paper(name: str, expected: int) -> None:
    assert build_model(name, 497).parameter_count() == expected


def test_signed_variant_has_a_biased_last_layer_and_no_final_batchnorm() -> None:
    paper = build_model("s5dscr", 497)
    signed = build_model("s5dscr", 497, residual="signed")
    # The last block trades BatchNorm (2·C parameters) for a pointwise bias (C parameters).
    assert signed.parameter_count() == paper.parameter_count() - 497
    assert isinstance(signed.blocks[-1].norm, nn.Identity)
    assert signed.blocks[-1].pointwise.bias is not None
    assert isinstance(signed.blocks[0].norm, nn.BatchNorm2d)


@pytest.mark.parametrize(("name", "residual"), VARIANTS)
def test_output_shape(name: str, residual: str) -> None:
    model = build_model(name, 6, residual).eval()  # type: ignore[arg-type]
    with torch.no_grad():
        out = model(torch.rand(2, 6, 5, 7))
    assert out.shape == (2, 6, 20, 28)
    assert out.dtype == torch.float32


def test_paper_residual_is_non_negative_signed_is_not() -> None:
    torch.manual_seed(3)
    z = torch.randn(1, 6, 8, 8)
    for residual, has_negative in (("paper", False), ("signed", True)):
        model = randomise_batchnorm(build_model("s5dscr_s", 6, residual)).eval()  # type: ignore[arg-type]
        with torch.no_grad():
            correction = model.forward_normalised(z) - model.upsample(z)
        assert bool((correction < -1e-6).any()) is has_negative


def test_upsample_matches_an_independent_keys_bicubic() -> None:
    rng = np.random.default_rng(0)
    image = rng.standard_normal((1, 3, 6, 5)).astype(np.float32)
    model = S5DSCR(3, 1, 3, 1)
    got = model.upsample(torch.from_numpy(image)).numpy()
    np.testing.assert_allclose(got, keys_bicubic_x4(image), rtol=0, atol=2e-6)
    expected = F.interpolate(
        torch.from_numpy(image), scale_factor=4, mode="bicubic", align_corners=False
    )
    np.testing.assert_array_equal(got, expected.numpy())


def test_zero_residual_gives_bicubic_of_the_radiance_whatever_the_normalisation() -> None:
    # With the last BatchNorm's affine set to zero the paper residual is ReLU(0) = 0, so the
    # model must reduce to bicubic in radiance units: normalise/denormalise invert each other.
    model = S5DSCR(4, 2, 3, 2, mean=torch.tensor([1e-7, 2e-7, 3e-7, 4e-7]), std=5e-8).eval()
    with torch.no_grad():
        model.blocks[-1].norm.weight.zero_()
        model.blocks[-1].norm.bias.zero_()
    radiance = 1e-7 + 5e-8 * torch.rand(1, 4, 6, 6, dtype=torch.float32)
    with torch.no_grad():
        out = model(radiance)
    expected = F.interpolate(radiance, scale_factor=4, mode="bicubic", align_corners=False)
    torch.testing.assert_close(out, expected, rtol=0, atol=1e-13)


def test_normalisation_buffers_travel_in_the_state_dict() -> None:
    model = S5DSCR(3, 1, 3, 1)
    model.set_normalisation(torch.tensor([1.0, 2.0, 3.0]), 0.5)
    state = model.state_dict()
    torch.testing.assert_close(state["input_mean"], torch.tensor([1.0, 2.0, 3.0]))
    torch.testing.assert_close(state["input_std"], torch.full((3,), 0.5))
    clone = S5DSCR(3, 1, 3, 1)
    clone.load_state_dict(state)
    x = torch.rand(1, 3, 4, 4)
    torch.testing.assert_close(clone.eval()(x), model.eval()(x))


@pytest.mark.parametrize(("name", "residual"), VARIANTS)
def test_fold_batchnorm_gives_the_same_outputs(name: str, residual: str) -> None:
    torch.manual_seed(1)
    model = randomise_batchnorm(build_model(name, 8, residual)).eval()  # type: ignore[arg-type]
    model.set_normalisation(torch.linspace(1.0, 2.0, 8), torch.linspace(0.1, 0.3, 8))
    norms_before = sum(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    folded = fold_batchnorm(model)
    x = 1.0 + torch.rand(1, 8, 9, 7)
    with torch.no_grad():
        expected, got = model(x), folded(x)
    assert float((expected - got).abs().max()) <= 1e-5 * float(expected.abs().max())
    assert not any(isinstance(m, nn.BatchNorm2d) for m in folded.modules())
    assert sum(isinstance(m, nn.BatchNorm2d) for m in model.modules()) == norms_before


def test_fold_batchnorm_differs_from_train_mode_batch_statistics() -> None:
    # Guards the test above: with non-trivial running statistics, train-mode BatchNorm (batch
    # statistics) gives a different function, so equality really comes from the folding.
    model = randomise_batchnorm(build_model("s5dscr_s", 8)).train()
    x = torch.rand(1, 8, 6, 6)
    with torch.no_grad():
        assert not torch.allclose(model(x), fold_batchnorm(model)(x), atol=1e-3)


@pytest.mark.parametrize(("name", "radius"), [("s5dscr", 5), ("s5dscr_s", 3)])
def test_receptive_radius(name: str, radius: int) -> None:
    model = build_model(name, 4)
    config = model.config
    assert radius == math.ceil(config.layers * (config.kernel_size // 2) / 4) + 2
    assert model.receptive_radius == radius


@pytest.mark.parametrize("name", list(PRESETS))
def test_influence_of_one_lr_pixel_stays_within_the_receptive_radius(name: str) -> None:
    torch.manual_seed(2)
    model = fold_batchnorm(randomise_batchnorm(build_model(name, 4, "signed")))
    x = torch.rand(1, 4, 20, 20)
    bumped = x.clone()
    bumped[0, 1, 9, 11] += 1.0
    with torch.no_grad():
        changed = (model(bumped) - model(x)).abs().amax(dim=(0, 1)) > 0
    rows, cols = np.nonzero(changed.numpy())
    r = model.receptive_radius
    assert rows.size > 0
    assert (np.abs(rows // 4 - 9) <= r).all()
    assert (np.abs(cols // 4 - 11) <= r).all()


def test_paper_variant_trains() -> None:
    torch.manual_seed(4)
    model = build_model("s5dscr", 4).train()
    lr = torch.rand(1, 4, 8, 8)
    hr = F.interpolate(lr, scale_factor=4, mode="nearest")
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-3)
    losses = []
    for _ in range(8):
        optimiser.zero_grad()
        loss = F.mse_loss(model.forward_normalised(lr), hr)
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    assert losses[-1] < 0.9 * losses[0]


def test_config_round_trip_and_presets() -> None:
    config = preset_config("s5dscr", 497, "signed")
    assert config == ModelConfig(497, 5, 5, 3, "signed")
    rebuilt = model_from_config(config.to_dict())
    assert rebuilt.config == config


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"residual": "maybe"}, "residual must be 'paper' or 'signed'"),
        ({"kernel_size": 4}, "kernel_size must be a positive odd integer"),
        ({"layers": 0}, "must be positive integers"),
    ],
)
def test_invalid_architecture(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        S5DSCR(4, **kwargs)  # type: ignore[arg-type]


def test_invalid_inputs() -> None:
    model = S5DSCR(4, 1, 3, 1)
    with pytest.raises(ValueError, match=r"Expected a \(batch, 4, scanline"):
        model(torch.rand(1, 3, 4, 4))
    with pytest.raises(ValueError, match="std must be strictly positive"):
        model.set_normalisation(0.0, 0.0)
    with pytest.raises(ValueError, match="Unknown model 'big'"):
        preset_config("big", 4)


def test_zeroed_residual_makes_a_local_network_the_physics_inverse() -> None:
    from xr_s5sr.engine import super_resolve_array
    from xr_s5sr.spec import model_spec

    model = S5DSCR(6, 2, 3, 2, residual="signed", scaling="local", band=7)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.normal_(0.0, 0.5)
    lr = np.random.default_rng(0).uniform(1.0, 2.0, (20, 12, 6)).astype(np.float32)
    # Independent uniform channels are all noise to the spectral prior, which would reduce
    # them to one spectral shape (and the network's detail with them): off, it is not tested.
    options = {"band": 7, "device": "cpu", "spectral_prior": False}
    physics = super_resolve_array(lr, model_spec("backprojection", **options))
    before = super_resolve_array(lr, model_spec(weights=model.eval(), **options))
    assert np.abs(before - physics).max() > 1e-3 * np.abs(physics).max()
    after = super_resolve_array(lr, model_spec(weights=zero_residual(model), **options))
    np.testing.assert_allclose(after, physics, rtol=0, atol=1e-6 * np.abs(physics).max())
    with pytest.raises(S5SRArgumentError, match="needs residual='signed'"):
        zero_residual(S5DSCR(6, 1, 3, 1))


@pytest.mark.parametrize("offset", [0.0, 1.0])
def test_compose_is_the_engine_formula_for_every_method(offset: float) -> None:
    """compose(None) is back-projection, a z-score network has no physics base and a local
    one adds its detail; with the default non-negative consistency step (its lower bound from
    the data where they have negative values: offset 1) all equal the engine's output."""
    from xr_s5sr.engine import super_resolve_array
    from xr_s5sr.spec import model_spec

    lr = np.random.default_rng(1).uniform(0.5, 2.0, (20, 12, 6)).astype(np.float32) - offset
    assert (lr.min() < 0) == (offset > 0)
    y = torch.from_numpy(lr).permute(2, 0, 1)[None]
    zscore = S5DSCR(6, 1, 3, 1, residual="signed").eval()
    torch.manual_seed(0)
    local = S5DSCR(6, 1, 3, 1, residual="signed", scaling="local", band=7, detail_gate=False)
    local.set_output_scale(0.3)
    # compose() acts on the LR data it is given; the engine's spectral prior (which would
    # treat these independent uniform channels as noise) comes before it and is off here.
    common = {"band": 7, "device": "cpu", "regularisation": 0.5, "spectral_prior": False}
    cases = [
        (None, model_spec("backprojection", **common)),
        (zscore, model_spec(weights=zscore, **common)),
        (local.eval(), model_spec(weights=local, **common)),
    ]
    for model, spec in cases:
        expected = super_resolve_array(lr, spec)
        with torch.no_grad():
            got = compose(model, y, 7, regularisation=0.5)[0].permute(1, 2, 0).numpy()
        level = float(np.abs(expected).max())
        np.testing.assert_allclose(got, expected, rtol=0, atol=2e-5 * level)


def test_compose_with_the_spectral_composition_is_the_engine_formula() -> None:
    from xr_s5sr.engine import super_resolve_array
    from xr_s5sr.spec import model_spec

    lr = np.random.default_rng(2).uniform(0.5, 2.0, (20, 12, 6)).astype(np.float32)
    lr[3, 4] = -0.5  # a pixel of no positive intensity keeps the network's spectrum
    y = torch.from_numpy(lr).permute(2, 0, 1)[None]
    torch.manual_seed(0)
    local = S5DSCR(6, 1, 3, 1, residual="signed", scaling="local", band=7, detail_gate=False)
    local.set_output_scale(0.3)
    common = {"band": 7, "device": "cpu", "regularisation": 0.5, "spectral_prior": False}
    spec = model_spec(weights=local.eval(), spectral_composition=True, **common)
    assert spec.composes_spectra
    expected = super_resolve_array(lr, spec)
    plain = super_resolve_array(lr, model_spec(weights=local, **common))
    got = compose(local, y.requires_grad_(), 7, regularisation=0.5, composition=True)
    level = float(np.abs(expected).max())
    result = got.detach()[0].permute(1, 2, 0).numpy()
    np.testing.assert_allclose(result, expected, rtol=0, atol=2e-5 * level)
    assert np.abs(expected - plain).max() > 1e-3 * level  # the composition changed it
    got.sum().backward()  # differentiable, no NaN from the pixels it leaves alone
    assert y.grad is not None
    assert torch.isfinite(y.grad).all()


def test_detail_gate_weighs_the_detail_and_gradients_pass_the_nonnegative_step() -> None:
    torch.manual_seed(0)
    model = S5DSCR(6, 1, 3, 1, residual="signed", scaling="local", band=7)
    model.set_output_scale(0.3)
    y = torch.rand(1, 6, 12, 10) + 0.05
    full = model.detail(y)
    torch.testing.assert_close(model.detail(y, torch.ones(12, 10)), full, rtol=1e-6, atol=0)
    torch.testing.assert_close(
        model.detail(y, torch.full((1, 1, 12, 10), 0.25)), 0.25 * full, rtol=1e-5, atol=1e-7
    )
    assert float(model.detail(y, torch.zeros(12, 10)).detach().abs().max()) == 0.0  # exact: × 0
    out = compose(model, y)
    assert float(out.min()) >= 0.0
    out.square().mean().backward()
    gradient = model.blocks[-1].pointwise.weight.grad
    assert gradient is not None
    assert bool(torch.isfinite(gradient).all())
    assert float(gradient.abs().max()) > 0.0


def test_compose_and_detail_reject_what_they_cannot_compute() -> None:
    y = torch.rand(1, 4, 6, 6)
    with pytest.raises(S5SRArgumentError, match="consistency in"):
        compose(None, y, 7, consistency="clip")  # type: ignore[arg-type]
    with pytest.raises(S5SRArgumentError, match="a band"):
        compose(None, y)
    with pytest.raises(S5SRArgumentError, match="has no such detail"):
        S5DSCR(4, 1, 3, 1).detail(y, torch.ones(6, 6))


def test_multiply_adds_per_hr_pixel_follow_the_architecture() -> None:
    """L · (k²·m·C + m·C²): S5-DSCR (L=5, k=5, m=3) and S5-DSCR-S (L=1, k=3, m=1) at C = 497,
    the counts docs/performance.md rates the engine by."""
    from xr_s5sr.models import build_model

    assert build_model("s5dscr", 497).config.macs_per_hr_pixel == 5 * (25 * 3 * 497 + 3 * 497**2)
    assert build_model("s5dscr", 497).config.macs_per_hr_pixel == 3_891_510
    assert build_model("s5dscr_s", 497).config.macs_per_hr_pixel == 251_482
