"""Training pipeline: patch pairs, normalisation, fit/resume/export, the train command."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from xr_s5sr.degrade import degrade_array
from xr_s5sr.train import (
    TrainConfig,
    _batch,
    _patch_index,
    export,
    fit,
    main,
    make_pair,
    normalisation_stats,
    synthetic_pairs,
)
from xr_s5sr.weights import file_sha256, load_weights_file, read_metadata


@pytest.fixture(scope="module")
def pairs() -> list:
    return synthetic_pairs(7, range(3), shape=(96, 96), n_channel=6)


def tiny_config(**overrides: object) -> TrainConfig:
    settings = dict(
        band=7,
        model="s5dscr_s",
        residual="signed",
        lr_patch=8,
        lr_stride=4,
        batch_size=4,
        epochs=2,
        steps_per_epoch=10,
        validation_patches=8,
    )
    settings.update(overrides)
    return TrainConfig(**settings)  # type: ignore[arg-type]


def test_make_pair_crops_hr_to_four_times_lr(rng: np.random.Generator) -> None:
    hr = rng.random((50, 43, 3)).astype(np.float32)
    hr_out, lr = make_pair(hr, 3)
    assert lr.shape == (12, 10, 3)
    assert hr_out.shape == (48, 40, 3)
    np.testing.assert_allclose(
        lr, degrade_array(hr, 3), rtol=1e-6, atol=1e-6 * float(np.abs(lr).max())
    )


def test_patches_are_aligned_with_the_degradation(pairs: list) -> None:
    index = _patch_index(pairs, 8, 4, 1)
    assert index[:, 1].min() == 1
    assert (index[:, 1] + 8 <= 24 - 1).all()
    lr, hr = _batch(pairs, index[:2], 8)
    assert lr.shape == (2, 6, 8, 8)
    assert hr.shape == (2, 6, 32, 32)
    k, r, c = index[1]
    # LR pixel (r, c) of the patch is the degraded HR pixel (4r+2, 4c+2).
    np.testing.assert_array_equal(lr[1].permute(1, 2, 0).numpy(), pairs[k][1][r : r + 8, c : c + 8])
    np.testing.assert_array_equal(
        hr[1].permute(1, 2, 0).numpy(), pairs[k][0][4 * r : 4 * r + 32, 4 * c : 4 * c + 32]
    )


def test_patch_index_error_when_nothing_fits(pairs: list) -> None:
    with pytest.raises(ValueError, match="No 64x64 LR patch fits"):
        _patch_index(pairs, 64, 16, 0)


def test_normalisation_stats(pairs: list) -> None:
    mean, std = normalisation_stats(pairs, per_channel=True)
    lr = np.concatenate([p[1].reshape(-1, 6) for p in pairs])
    np.testing.assert_allclose(mean, lr.mean(0), rtol=1e-5, atol=1e-5 * float(np.abs(lr).max()))
    np.testing.assert_allclose(std, lr.std(0), rtol=1e-4, atol=1e-4 * float(lr.std(0).max()))
    scalar_mean, _ = normalisation_stats(pairs, per_channel=False)
    assert np.ptp(scalar_mean) == 0


def test_defaults_are_the_paper_recipe_on_the_trustworthy_model() -> None:
    config = TrainConfig(band=3)
    assert (config.lr_patch, config.lr_stride, config.batch_size, config.epochs) == (64, 16, 1, 50)
    assert (config.learning_rate, config.plateau_patience, config.plateau_factor) == (1e-3, 3, 0.1)
    assert (config.scaling, config.residual, config.zero_init_residual) == ("local", "signed", True)


@pytest.mark.parametrize("residual", ["paper", "signed"])
def test_fit_learns_and_checkpoints(pairs: list, tmp_path: Path, residual: str) -> None:
    # The paper's network (z-score input, bicubic branch) learns from a random start.
    config = tiny_config(
        residual=residual, scaling="zscore", zero_init_residual=False, epochs=3, steps_per_epoch=15
    )
    result = fit(config, pairs[:2], pairs[2:], tmp_path, progress=False)
    assert len(result.history) == 3
    assert (tmp_path / "checkpoint.pt").exists()
    losses = [h["train_loss"] for h in result.history]
    assert losses[-1] < losses[0]
    best_trained = min(h["val_loss"] for h in result.history)
    assert result.best_val_loss <= best_trained  # epoch 0 (the start) is a candidate too
    if result.best_epoch > 0:
        assert result.best_val_loss == best_trained
    assert not result.model.training
    assert result.baseline == "bicubic"


def test_local_model_starts_at_the_physics_inverse(pairs: list, tmp_path: Path) -> None:
    """Zero-initialised residual: epoch 0 is the physics inverse, kept unless training beats it."""
    config = tiny_config(epochs=1, steps_per_epoch=3, learning_rate=1e-9)
    result = fit(config, pairs[:2], pairs[2:], tmp_path, progress=False)
    assert result.baseline == "backprojection"
    assert result.best_val_loss <= result.baseline_val_loss
    if result.best_epoch == 0:
        assert result.best_val_loss == pytest.approx(result.baseline_val_loss, rel=1e-6)
        weight = result.model.blocks[-1].pointwise.weight
        assert float(weight.abs().max()) == 0.0
    # Its outputs scale with the input (scale-equivariant by construction).
    lr = torch.from_numpy(pairs[0][1][:12, :12]).permute(2, 0, 1)[None]
    with torch.no_grad():
        out = result.model(lr)
        scaled = result.model(lr * 1000.0) / 1000.0
    assert torch.allclose(out, scaled, rtol=1e-4, atol=1e-6 * float(out.abs().max()))


def test_resume_continues_from_checkpoint(pairs: list, tmp_path: Path) -> None:
    first = fit(tiny_config(epochs=1), pairs[:2], pairs[2:], tmp_path, progress=False)
    extended = fit(tiny_config(epochs=2), pairs[:2], pairs[2:], tmp_path, progress=False)
    assert [h["epoch"] for h in extended.history] == [1, 2]  # epoch 1 reused, one more run
    assert extended.history[0] == first.history[0]
    changed = fit(
        tiny_config(epochs=2, learning_rate=1e-4), pairs[:2], pairs[2:], tmp_path, progress=False
    )
    assert [h["epoch"] for h in changed.history] == [1, 2]
    assert changed.history[0]["learning_rate"] == 1e-4  # other settings: a fresh run
    no_resume = fit(
        tiny_config(epochs=1), pairs[:2], pairs[2:], tmp_path, progress=False, resume=False
    )
    assert len(no_resume.history) == 1


def test_cosine_schedule_decays_to_zero(pairs: list, tmp_path: Path) -> None:
    config = tiny_config(epochs=2, steps_per_epoch=10, schedule="cosine", learning_rate=1e-3)
    result = fit(config, pairs[:2], pairs[2:], tmp_path, progress=False)
    # Step 9 of 20 at the end of epoch 1, step 19 at the end of epoch 2.
    expected = [0.5e-3 * (1 + math.cos(math.pi * t / 20)) for t in (9, 19)]
    assert [h["learning_rate"] for h in result.history] == pytest.approx(expected, rel=1e-9)
    with pytest.raises(ValueError, match="schedule must be"):
        fit(replace(config, schedule="linear"), pairs[:2], pairs[2:], tmp_path, progress=False)


def test_export_writes_weights_and_card(pairs: list, tmp_path: Path) -> None:
    config = tiny_config(epochs=1)
    result = fit(config, pairs[:2], pairs[2:], tmp_path, progress=False)
    card_path = export(result, config, tmp_path / "s5dscr_s_band7.safetensors", {"source": "test"})
    card = json.loads(card_path.read_text())
    weights = tmp_path / "s5dscr_s_band7.safetensors"
    assert card["sha256"] == file_sha256(weights)
    assert card["band"] == 7
    assert card["architecture"]["residual"] == "signed"
    assert card["training"]["data"] == {"source": "test"}
    assert read_metadata(weights)["band"] == "7"
    loaded = load_weights_file(weights, band=7)
    x = torch.rand(1, 6, 5, 5) * 1e-8
    torch.testing.assert_close(loaded(x), result.model(x))


def test_train_command_on_synthetic_scenes(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    code = main(
        [
            "--band",
            "7",
            "--model",
            "s5dscr_s",
            "--residual",
            "signed",
            "--n-channel",
            "4",
            "--synthetic-scenes",
            "2",
            "--validation-scenes",
            "1",
            "--tile",
            "64",
            "64",
            "--lr-patch",
            "8",
            "--lr-stride",
            "4",
            "--epochs",
            "1",
            "--steps-per-epoch",
            "3",
            "--batch-size",
            "2",
            "--out",
            str(tmp_path),
        ]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert "validation MSE" in out
    card = json.loads((tmp_path / "s5dscr_s_band7.json").read_text())
    assert card["training"]["data"]["source"].startswith("synthetic")
    assert card["training"]["recipe"]["steps_per_epoch"] == 3


@pytest.mark.slow
def test_training_from_scratch_beats_bicubic(tmp_path: Path) -> None:
    """A small model trained from scratch with the command beats bicubic on held-out scenes."""
    main(
        [
            "--band",
            "7",
            "--model",
            "s5dscr_s",
            "--residual",
            "signed",
            "--scaling",
            "zscore",
            "--no-zero-init-residual",
            "--n-channel",
            "32",
            "--synthetic-scenes",
            "12",
            "--validation-scenes",
            "3",
            "--tile",
            "128",
            "128",
            "--lr-patch",
            "16",
            "--lr-stride",
            "4",
            "--lr-margin",
            "4",
            "--epochs",
            "6",
            "--steps-per-epoch",
            "60",
            "--batch-size",
            "4",
            "--autocast",
            "bfloat16",
            "--quiet",
            "--out",
            str(tmp_path),
        ]
    )
    card = json.loads((tmp_path / "s5dscr_s_band7.json").read_text())
    assert card["validation"]["baseline"] == "bicubic"
    validation = card["validation"]
    assert validation["mse_normalised_model"] < validation["mse_normalised_baseline"]
