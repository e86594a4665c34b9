"""The self-supervised objective: f is what inference computes, tiles, windows, missing values."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import SSL_BAND as BAND
from conftest import SSL_CHANNELS as CHANNELS
from conftest import ssl_config as tiny_config
from conftest import ssl_model as tiny_model

from xr_s5sr.engine import super_resolve_array
from xr_s5sr.errors import S5SRArgumentError
from xr_s5sr.families import family_scene
from xr_s5sr.models import S5DSCR
from xr_s5sr.objective import (
    FinetuneConfig,
    batch_losses,
    compare_errors,
    network,
    noise_gain,
    prepare_tile,
    reduce_tile,
    reduce_tiles,
    reduced_errors,
    window_batch,
    window_index,
)
from xr_s5sr.physics import degrade
from xr_s5sr.spec import model_spec
from xr_s5sr.synthetic import make_granule

pytestmark = pytest.mark.usefixtures("single_torch_thread")


def test_network_is_the_model() -> None:
    model = tiny_model()
    y = torch.from_numpy(make_granule(BAND, 12, 10, n_channel=CHANNELS)["radiance"].values).permute(
        2, 0, 1
    )[None]
    with torch.no_grad():
        torch.testing.assert_close(
            network(model, consistency="none")(y), model(y), rtol=1e-5, atol=0
        )


@pytest.mark.parametrize("mu", [0.0, 3.0])
@pytest.mark.parametrize("step", ["nonnegative", "projection"])
def test_network_is_what_inference_computes(mu: float, step: str) -> None:
    """The losses train exactly the output of super_resolve (gate off, the same μ): by
    default with its non-negative consistency step (issue 26), else the projection alone."""
    model = replace_gate(tiny_model(scale=0.2))
    lr = family_scene("edges", BAND, (96, 64), 4, n_channel=CHANNELS, brightness=1.0)
    spec = model_spec(
        weights=model, device="cpu", regularisation=mu, nonnegative=step == "nonnegative"
    )
    expected = super_resolve_array(lr, spec)
    y = torch.from_numpy(lr).permute(2, 0, 1)[None]
    with torch.no_grad():
        got = network(model, mu, consistency=step)(y)[0].permute(1, 2, 0).numpy()
        projected = network(model, mu, consistency="projection")(y)[0].permute(1, 2, 0).numpy()
        unprojected = network(model, mu, consistency="none")(y)[0].permute(1, 2, 0).numpy()
    level = float(np.abs(expected).max())
    assert np.abs(got - expected).max() <= 2e-5 * level
    # Each step matters: without it the output differs by far more.
    assert np.abs(unprojected - expected).max() > 1e-3 * level
    if step == "nonnegative":
        assert projected.min() < -1e-3 * level  # the projection alone leaves negative values
        assert expected.min() >= 0.0
        assert np.abs(projected - expected).max() > 1e-3 * level


@pytest.mark.parametrize("prior", [True, False])
def test_prepared_granule_is_what_inference_computes(prior: bool) -> None:
    """A granule as fine-tuning prepares it (missing values filled by inference's policy, its
    automatic μ, its spectral prior) through the objective's f equals the engine's default
    output with regularisation="auto" (one settings window: 24 scanlines), outside the masked
    footprint; with spectral_prior=False both leave the prior out."""
    model = replace_gate(tiny_model(scale=0.2))
    lr = family_scene("edges", BAND, (96, 64), 4, n_channel=CHANNELS, brightness=1.0)[:24]
    rng = np.random.default_rng(3)
    lr = (lr * (1.0 + 0.01 * rng.standard_normal(lr.shape))).astype(np.float32)
    lr[5, 7, 2:4] = np.nan  # part of a spectrum: filled along the spectrum
    lr[12, 3, :] = np.nan  # a whole pixel: filled from its neighbours
    spec = model_spec(weights=model, device="cpu", spectral_prior=prior)
    assert spec.uses_spectral_prior == prior
    expected = super_resolve_array(lr, spec)
    tile = prepare_tile(lr, 0, BAND, spectral_prior=prior)
    assert tile.regularisation > 0.0  # the noise makes the automatic μ act
    y = torch.from_numpy(tile.data).permute(2, 0, 1)[None]
    with torch.no_grad():
        got = network(model, tile.regularisation, prior=tile.input_map([0]))(y)
        plain = network(model, tile.regularisation)(y)
    got, plain = (v[0].permute(1, 2, 0).numpy() for v in (got, plain))
    kept = np.isfinite(expected)
    assert (~kept).sum() == 16 * 2 + 16 * CHANNELS  # the HR footprint of the 2 + C holes
    level = float(np.abs(expected[kept]).max())
    assert np.abs(got[kept] - expected[kept]).max() <= 2e-5 * level
    # The prior acts (the data are noisy): without it the formula outputs something else.
    assert (np.abs(plain[kept] - expected[kept]).max() > 1e-3 * level) == prior


def test_a_window_is_what_inference_outputs_with_the_prior() -> None:
    """A training window (window_batch, the granule's prior at the window's rows, as
    batch_losses runs f) gives on its central pixels what super_resolve outputs there for
    the whole granule, spectral prior on (the default): across the blend of the prior's
    windows of 64 scanlines, with a fixed μ (the automatic μ is blended per 24 rows)."""
    model = replace_gate(tiny_model(scale=0.2))
    lr = family_scene("edges", BAND, (160, 40), 4, n_channel=CHANNELS, brightness=1.0)
    rng = np.random.default_rng(3)
    lr = (lr * (1.0 + 0.01 * rng.standard_normal(lr.shape))).astype(np.float32)
    expected = super_resolve_array(lr, model_spec(weights=model, device="cpu", regularisation=2.0))
    tile = prepare_tile(lr, 8, BAND)
    assert tile.prior is not None
    assert len(tile.prior.bases) == 3
    config = FinetuneConfig(band=BAND, lr_patch=16, context=8)
    y, _, windows = window_batch([tile], np.array([[0, 56, 4], [0, 100, 8]]), config, "cpu")
    level = float(np.abs(expected).max())
    inner = slice(4 * 8, 4 * 24)  # the central lr_patch x lr_patch pixels, HR
    for b, (source, row) in enumerate(windows):
        col = (4, 8)[b]
        with torch.no_grad():
            f = network(model, 2.0, prior=source.input_map([row]))
            out = f(y[b : b + 1])[0].permute(1, 2, 0).numpy()
            plain = network(model, 2.0)(y[b : b + 1])[0].permute(1, 2, 0).numpy()
        truth = expected[4 * row : 4 * (row + 32), 4 * col : 4 * (col + 32)][inner, inner]
        # Float rounding and the context's decay (~3e-6 of the maximum 8 LR pixels in, band 3).
        assert np.abs(out[inner, inner] - truth).max() <= 2e-5 * level
        assert np.abs(plain[inner, inner] - truth).max() > 1e-3 * level


def replace_gate(model: S5DSCR) -> S5DSCR:
    """The model with its detail gate off, as fine-tuning leaves it."""
    model.config = replace(model.config, detail_gate=False)
    return model


# ------------------------------------------------------------------------------ missing data
def test_missing_values_never_enter_a_loss(ssl_tile: np.ndarray, ssl_start_weights: Path) -> None:
    config = tiny_config(ssl_start_weights, consistency_weight=1.0)
    broken = ssl_tile.copy()
    broken[15, 11, :] = np.nan  # a whole pixel
    broken[9, 14, 3] = np.inf  # one channel of one pixel
    prepared = prepare_tile(broken, config.context, BAND)
    assert not prepared.usable[15 - 6 : 15 + 7, 11 - 6 : 11 + 7].any()
    assert not prepared.usable[9 - 6 : 9 + 7, 14 - 6 : 14 + 7].any()
    assert prepared.usable.sum() > 0
    assert np.isfinite(prepared.data).all()
    clean = prepare_tile(ssl_tile, config.context, BAND)
    clean.usable = prepared.usable  # the same loss region, the true values at the holes
    clean.regularisation, clean.noise_sigma = prepared.regularisation, prepared.noise_sigma
    # The granule's settings include its spectral prior's bases (identified on the filled
    # granule, as inference identifies them): the same for both.
    assert prepared.prior is not None
    clean.prior = prepared.prior
    index = window_index([prepared], config)
    model = tiny_model()
    results = []
    for prepared_tile in (prepared, clean):
        y, mask, picked = window_batch([prepared_tile], index, config, "cpu")
        losses = batch_losses(
            model,
            y,
            mask,
            config,
            np.random.default_rng(0),
            torch.Generator().manual_seed(0),
            picked,
        )
        results.append({k: float(v.detach()) for k, v in losses.items()})
    assert set(results[0]) == {"consistency", "sure", "equivariance"}
    for name, value in results[0].items():
        assert np.isfinite(value)
        # Whatever the hidden values are, the losses agree (up to the physics inverse's tail).
        # SURE's finite-difference divergence divides float32 rounding by its small step.
        assert value == pytest.approx(results[1][name], rel=5e-5 if name == "sure" else 1e-5)


def test_dead_channel_and_unusable_tile(ssl_tile: np.ndarray, ssl_start_weights: Path) -> None:
    config = tiny_config(ssl_start_weights)
    broken = ssl_tile.copy()
    broken[..., 2] = np.nan
    prepared = prepare_tile(broken, config.context, BAND)
    assert prepared.usable.all()
    assert not prepared.channels[2]
    assert prepared.channels.sum() == 7
    # Filled as inference fills it (xr_s5sr.missing): linear along the spectrum.
    middle = 0.5 * (ssl_tile[..., 1] + ssl_tile[..., 3])
    np.testing.assert_allclose(prepared.data[..., 2], middle, rtol=1e-6, atol=0)
    np.testing.assert_array_equal(prepared.data[..., 3], ssl_tile[..., 3])
    hole = ssl_tile.copy()
    hole[::4, ::4] = np.nan
    with pytest.raises(S5SRArgumentError, match="No 16x16 LR window"):
        window_index([prepare_tile(hole, config.context, BAND)], config)


# ------------------------------------------------------------------------ reduced resolution
def test_reduced_granule_keeps_the_noise_regime(ssl_start_weights: Path) -> None:
    """``A y + n'`` has the granule's noise variance: ``A`` keeps ``g σ²`` of ``y``'s noise and
    ``n'`` adds ``(1 − g) σ²``; the target is the granule itself, cut to whole 4 × 4 blocks."""
    config = tiny_config(ssl_start_weights)
    sigma = 2.0
    noise = sigma * np.random.default_rng(3).standard_normal((194, 193, CHANNELS))
    tile = prepare_tile((100.0 + noise).astype(np.float32), config.context, BAND)
    assert tile.noise_sigma == pytest.approx(sigma, rel=0.03)
    reduced = reduce_tile(tile, config)
    assert reduced.lr.data.shape == (48, 48, CHANNELS)
    assert reduced.target.shape == (192, 192, CHANNELS)
    np.testing.assert_array_equal(reduced.target, tile.data[:192, :192])
    white = np.random.default_rng(4).standard_normal((400, 400, 4))
    blurred = degrade(white, BAND)[4:-4, 4:-4]  # what A keeps of unit white noise
    assert float(blurred.var()) == pytest.approx(noise_gain(BAND), rel=0.05)  # 0.047
    inner = reduced.lr.data[4:-4, 4:-4]  # away from the zero padding of A at the edges
    assert float(inner.std()) == pytest.approx(sigma, rel=0.03)
    assert float(inner.mean()) == pytest.approx(100.0, rel=1e-3)


def test_reduced_errors_and_their_comparison(ssl_tile: np.ndarray, ssl_start_weights: Path) -> None:
    config = tiny_config(ssl_start_weights)
    big = make_granule(BAND, 96, 80, n_channel=CHANNELS)["radiance"].values
    reduced = reduce_tiles([prepare_tile(big, config.context, BAND)], config)
    model = tiny_model()
    errors = reduced_errors(model, reduced, config)
    assert errors.shape == (6,)  # reduced 24 x 20: 3 x 2 windows of 16 with stride 4
    assert (errors > 0).all()
    same = compare_errors(errors, errors.copy())
    assert same["gain_db"] == pytest.approx(0.0, abs=1e-12)
    assert same["low_db"] == pytest.approx(0.0, abs=1e-12)
    halved = compare_errors(errors, errors / 2)
    assert halved["gain_db"] == pytest.approx(10 * np.log10(2), rel=1e-9)
    assert halved["low_db"] == pytest.approx(10 * np.log10(2), rel=1e-9)
    mixed = compare_errors(errors, errors * np.array([0.5, 2, 0.5, 2, 0.5, 2]))
    assert mixed["low_db"] < mixed["gain_db"] < mixed["high_db"]
    # A larger detail changes the errors (the windows are the same for every model).
    other = reduced_errors(tiny_model(scale=0.5), reduced, config)
    assert other.shape == errors.shape
    assert np.abs(other - errors).max() > 1e-3 * errors.max()
    with pytest.raises(S5SRArgumentError, match="Paired errors of the same windows"):
        compare_errors(errors, errors[:3])
    with pytest.raises(S5SRArgumentError, match="needs granules of at least 64 x 64"):
        reduce_tiles([prepare_tile(ssl_tile, config.context, BAND)], config)
