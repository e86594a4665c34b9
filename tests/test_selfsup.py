"""Self-supervised fine-tuning: determinism/resume, selection, checks, export, the CLI, the gain."""

from __future__ import annotations

import json
import shutil
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import SSL_BAND as BAND
from conftest import SSL_CHANNELS as CHANNELS
from conftest import ssl_config as tiny_config

from xr_s5sr import cli
from xr_s5sr.errors import MissingInputError, S5SRArgumentError, WeightsError
from xr_s5sr.families import family_scene
from xr_s5sr.models import S5DSCR, local_scale
from xr_s5sr.objective import (
    FinetuneConfig,
    compare_errors,
    prepare_tile,
    reduce_tiles,
    reduced_errors,
    validation_sure,
)
from xr_s5sr.selfsup import (
    check_finetuned,
    checkpoint_path,
    expand_paths,
    export_finetuned,
    finetune,
    l1b_tiles,
    split_held_out,
    start_model,
)
from xr_s5sr.synthetic import make_granule
from xr_s5sr.weights import file_sha256, load_weights_file, save_weights

pytestmark = pytest.mark.usefixtures("single_torch_thread")


@pytest.fixture(scope="module")
def big_tile() -> np.ndarray:
    """An LR granule (96 × 96 × 8) of band 3: large enough for the reduced-resolution
    validation of :func:`ssl_config`'s 16-pixel windows (4 × 16 = 64 LR pixels at least)."""
    return make_granule(BAND, 96, 96, n_channel=CHANNELS)["radiance"].values


# ------------------------------------------------------------------------------ fine-tuning
def test_finetune_is_deterministic_and_resumes(
    big_tile: np.ndarray, ssl_start_weights: Path, tmp_path: Path
) -> None:
    config = tiny_config(ssl_start_weights)
    first = finetune(config, [big_tile], tmp_path / "a", progress=False, device="cpu")
    second = finetune(config, [big_tile], tmp_path / "b", progress=False, device="cpu")
    start = load_weights_file(ssl_start_weights)
    for name, value in first.state_dict().items():
        assert torch.equal(value, second.state_dict()[name]), name
    assert not torch.equal(first.blocks[0].pointwise.weight, start.blocks[0].pointwise.weight)
    assert not first.training
    assert not first.config.detail_gate  # fitted to these granules' noise: no gate
    # Interrupted after 2 steps, then resumed: the same weights as the uninterrupted run.
    finetune(config, [big_tile], tmp_path / "c", progress=False, device="cpu", stop_after=2)
    saved = torch.load(checkpoint_path(tmp_path / "c"), weights_only=True)
    assert saved["step"] == 2
    resumed = finetune(config, [big_tile], tmp_path / "c", progress=False, device="cpu")
    for name, value in first.state_dict().items():
        assert torch.equal(value, resumed.state_dict()[name]), name
    # Other settings: the checkpoint is not reused.
    shutil.copytree(tmp_path / "c", tmp_path / "d")
    with pytest.warns(UserWarning, match="other settings"):
        finetune(replace(config, seed=1), [big_tile], tmp_path / "d", progress=False, device="cpu")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_finetune_on_cuda(big_tile: np.ndarray, ssl_start_weights: Path, tmp_path: Path) -> None:
    model = finetune(
        tiny_config(ssl_start_weights), [big_tile], tmp_path, progress=False, device="cuda"
    )
    assert next(model.parameters()).device.type == "cpu"
    assert not model.training


def test_finetune_argument_errors(
    ssl_tile: np.ndarray, ssl_start_weights: Path, tmp_path: Path
) -> None:
    config = tiny_config(ssl_start_weights)
    with pytest.raises(S5SRArgumentError, match="steps must be a positive integer"):
        finetune(replace(config, steps=0), [ssl_tile], tmp_path, progress=False)
    with pytest.raises(S5SRArgumentError, match="Loss weights"):
        replace(config, sure_weight=0, equivariance_weight=0, consistency_weight=0).validate()
    with pytest.raises(S5SRArgumentError, match="model must be 's5dscr' or 's5dscr_s'"):
        replace(config, model="large").validate()
    with pytest.raises(S5SRArgumentError, match="needs transforms"):
        replace(config, max_shift=0, flips=False).validate()
    with pytest.raises(S5SRArgumentError, match="spectral channels"):
        finetune(config, [ssl_tile[..., :5]], tmp_path, progress=False, device="cpu")
    zscore = tmp_path / "zscore.safetensors"
    save_weights(S5DSCR(CHANNELS, 1, 3, 1), zscore, band=BAND, model_name="s5dscr_s")
    with pytest.raises(WeightsError, match="scaling='local'"):
        finetune(replace(config, start_weights=str(zscore)), [ssl_tile], tmp_path, progress=False)
    with pytest.raises(MissingInputError, match="No L1B file matches"):
        expand_paths([str(tmp_path / "nothing*.nc")])
    # The truth-known validation needs granules 4 x the window: fails before any step.
    with pytest.raises(S5SRArgumentError, match="reduced-resolution validation needs granules"):
        finetune(config, [ssl_tile], tmp_path / "small", progress=False, device="cpu")
    assert not (tmp_path / "small" / "finetune_checkpoint.pt").exists()
    unselected = finetune(
        replace(config, select_best=False, steps=1), [ssl_tile], tmp_path / "small", progress=False
    )
    assert not unselected.training


def test_export_card(big_tile: np.ndarray, ssl_start_weights: Path, tmp_path: Path) -> None:
    config = tiny_config(ssl_start_weights, steps=2)
    model = finetune(config, [big_tile], tmp_path, progress=False, device="cpu")
    card_path = export_finetuned(model, config, tmp_path, l1b_files=["/data/x.nc"])
    card = json.loads(card_path.read_text())
    assert card["self_supervised"] is True
    assert card["losses"] == {
        "consistency": {"weight": 0.5},
        "sure": {"weight": 1.0},
        "equivariance": {"weight": 1.0},
    }
    assert card["l1b_files"] == ["x.nc"]
    assert card["steps"] == 2
    assert card["start_weights"]["sha256"] == file_sha256(ssl_start_weights)
    assert [entry["step"] for entry in card["finetuning"]["history"]] == [1.0, 2.0]
    weights = card_path.with_suffix(".safetensors")
    assert card["sha256"] == file_sha256(weights)
    loaded = load_weights_file(weights, band=BAND)
    for name, value in model.state_dict().items():
        assert torch.equal(value, loaded.state_dict()[name])


def test_cli_finetune_writes_loadable_weights(ssl_start_weights: Path, tmp_path: Path) -> None:
    from xr_s5sr.l1b import open_l1b, write_l1b

    granule = make_granule(BAND, 96, 64, n_channel=CHANNELS)
    granule["radiance"][3, 4, :] = np.nan
    l1b = write_l1b(granule, tmp_path / "S5P_TEST_L1B_RA_BD3_granule.nc")
    out = tmp_path / "run"
    args = ["-q", "finetune", "--band", "3", "--model", "s5dscr_s"]
    args += ["--l1b", str(tmp_path / "S5P_*.nc"), "--out", str(out), "--steps", "2"]
    args += ["--weights", str(ssl_start_weights), "--seed", "3", "--batch-size", "1"]
    args += ["--learning-rate", "1e-3", "--lr-patch", "4", "--context", "6", "--device", "cpu"]
    args += ["--check", str(l1b)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # 2 steps may not beat the start
        assert cli.main(args) == 0
    weights = out / "s5dscr_s_band3.safetensors"
    card = json.loads(weights.with_suffix(".json").read_text())
    assert card["self_supervised"] is True
    assert set(card["checks"]) == {"finetuning_granules", "check_granules"}
    for check in card["checks"].values():
        assert check["change_percent"] == pytest.approx(
            100 * (check["finetuned"] / check["start"] - 1)
        )
        assert check["low_db"] <= check["gain_db"] <= check["high_db"]
        assert check["better"] == (check["low_db"] > 0)  # SURE decides nothing
        # reduced granule 24 x 16 LR: 96 x 64 HR, 16 of border, 2 x 1 blocks of 32
        assert check["windows"] == 2
    assert not load_weights_file(weights).config.detail_gate
    assert card["l1b_files"] == [l1b.name]
    assert card["finetuning"]["recipe"]["seed"] == 3
    assert card["start_weights"]["sha256"] == file_sha256(ssl_start_weights)
    tiles = l1b_tiles([l1b], BAND, tile_scanlines=12)
    assert [t.shape for t in tiles] == [(12, 64, CHANNELS)] * 8
    assert np.isnan(tiles[0][3, 4]).all()
    sr = open_l1b(l1b, chunks=None).s5sr.super_resolve(weights=weights, device="cpu")
    assert sr["radiance"].shape == (384, 256, CHANNELS)
    assert np.isfinite(sr["radiance"].values[:8]).all()
    assert (
        cli.main(["finetune", "--band", "3", "--l1b", str(tmp_path / "no*.nc"), "--out", "x"]) == 2
    )


def test_cli_help_lists_every_option(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["finetune", "--help"]) == 0
    text = capsys.readouterr().out
    for flag in (
        "--band", "--model", "--l1b", "--out", "--steps", "--weights", "--seed",
        "--batch-size", "--learning-rate", "--lr-patch", "--context", "--noise-sigma",
        "--sure-weight", "--equivariance-weight", "--consistency-weight", "--max-shift",
        "--tile-scanlines", "--device", "--no-resume", "--check", "--no-select-best",
    ):  # fmt: skip
        assert flag in text
    assert cli.main(["--help"]) == 0
    assert "finetune" in capsys.readouterr().out


# ------------------------------------------------------------------------------ the guard
def noisy_scene(
    family: str, seed: int, brightness: float, noise: str, size: int = 96, channels: int = 8
) -> tuple[np.ndarray, np.ndarray]:
    """(HR, noisy LR) of a band-7 scene: Gaussian noise of the band's sigma (``"band"``) or
    of that sigma scaled per pixel by ``sqrt(radiance / band mean)`` (``"photon"``)."""
    from xr_s5sr.bands import get_band
    from xr_s5sr.degrade import degrade_array

    info = get_band(7)
    hr = family_scene(
        family, 7, (4 * size, 4 * size), seed, n_channel=channels, brightness=brightness
    )
    lr = degrade_array(hr, 7).astype(np.float64)
    sigma = float(info.noise_sigma or 0.0)
    if noise == "photon":
        sigma = sigma * np.sqrt(np.clip(lr, 0.0, None) / float(info.mean_radiance or 1.0))
    draw = np.random.default_rng([seed, 1]).standard_normal(lr.shape)
    return hr, (lr + sigma * draw).astype(np.float32)


def physics_start(lr: np.ndarray, path: Path) -> S5DSCR:
    """A zero-detail S5-DSCR-S of band 7 (the physics inverse), normalised on ``lr``."""
    from xr_s5sr.models import zero_residual

    torch.manual_seed(0)  # the parameters behind the zeroed output, where training starts
    start = S5DSCR(lr.shape[-1], 1, 3, 1, residual="signed", scaling="local", band=7)
    y = torch.from_numpy(lr).permute(2, 0, 1)[None]
    z = y / local_scale(y)
    start.set_normalisation(z.mean(dim=(0, 2, 3)), z.std(dim=(0, 2, 3)))
    start.set_output_scale(1.0)
    zero_residual(start)
    save_weights(start, path, band=7, model_name="s5dscr_s", overwrite=True)
    return start


def true_psnr(model: S5DSCR, granules: list[tuple[np.ndarray, np.ndarray]]) -> float:
    """Mean PSNR (dB) of the default super_resolve output against the HR."""
    from xr_s5sr.engine import super_resolve_array
    from xr_s5sr.metrics import compute_metrics
    from xr_s5sr.spec import model_spec

    spec = model_spec(weights=model, band=7, device="cpu")
    scores = [compute_metrics(hr, super_resolve_array(lr, spec), border=16) for hr, lr in granules]
    return float(np.mean([s["psnr"][0] for s in scores]))


def guard_config(start: Path, **overrides: object) -> FinetuneConfig:
    """Small band-7 runs: windows of 4 + 2 x 6 LR pixels, 9 reduced windows per granule."""
    settings: dict[str, object] = dict(
        band=7, steps=20, lr_patch=4, context=6, learning_rate=1e-2, checkpoint_every=10
    )
    settings.update(overrides)
    return FinetuneConfig(start_weights=str(start), **settings)  # type: ignore[arg-type]


def test_check_catches_a_destructive_finetuning(tmp_path: Path) -> None:
    """Fine-tuned far too hard (learning rate 0.1) on dim absorption granules, the weights lose
    on new granules of the family; the check calls it no improvement and the reduced-resolution
    gain alone sees the loss (its whole interval below 0 dB). The recipe's learning rate (1e-2)
    gains on the same new granules, and the check says so."""
    own = [noisy_scene("absorption", seed, 0.03, "band") for seed in (0, 1)]
    new = [noisy_scene("absorption", seed, 0.03, "band") for seed in (10, 11)]
    start = physics_start(own[0][1], tmp_path / "start.safetensors")
    for rate in (0.1, 1e-2):
        config = guard_config(tmp_path / "start.safetensors", select_best=False, learning_rate=rate)
        model = finetune(config, [lr for _, lr in own], tmp_path / f"run{rate}", progress=False)
        change = true_psnr(model, new) - true_psnr(start, new)
        check = check_finetuned(model, config, [lr for _, lr in new])
        if rate == 0.1:
            assert change < -0.5  # measured -6.88 dB
            assert not check["better"]
            assert check["high_db"] < 0  # measured -6.78 (-7.04 .. -6.52) dB
        else:
            assert change > 0.15  # measured +0.30 dB (check +0.37, +0.29 .. +0.46)
            assert check["better"]
            assert check["change_percent"] < 0


def gated_start(lr: np.ndarray, path: Path, amplitude: float = 0.3) -> S5DSCR:
    """A band-7 S5-DSCR-S with detail its gate holds back (``detail_gate=True``): the physics
    start with random weights of ``amplitude`` in its last layer, as a network trained on
    other scenes, whose detail is noise on these."""
    start = physics_start(lr, path)
    torch.manual_seed(1)
    last = [m for m in start.modules() if isinstance(m, torch.nn.Conv2d)][-1]
    with torch.no_grad():
        last.weight.normal_(0.0, amplitude)
    save_weights(start, path, band=7, model_name="s5dscr_s", overwrite=True)
    return start


def previous_check(model: S5DSCR, config: FinetuneConfig, lrs: list[np.ndarray]) -> bool:
    """The check before issue 25's fix: the training composition at reduced resolution on
    the same granules (lower bound above 0) and a lower measurement-domain SURE."""
    tiles = [prepare_tile(lr, config.context, 7) for lr in lrs]
    reduced = reduce_tiles(tiles, config)
    start, _, _ = start_model(config)
    gain = compare_errors(
        reduced_errors(start, reduced, config), reduced_errors(model, reduced, config)
    )
    return gain["low_db"] > 0 and validation_sure(model, tiles, config) < validation_sure(
        start, tiles, config
    )


def test_validation_granules_are_held_out_of_training() -> None:
    config = FinetuneConfig(band=7)  # windows of 16 + 2 x 8: 128 LR pixels to validate on
    tiles = [np.full((8, 4, 2), k, np.float32) for k in range(9)]
    train, held = split_held_out(tiles, config)
    assert [t[0, 0, 0] for t in held] == [3, 7]  # every fourth
    assert [t[0, 0, 0] for t in train] == [0, 1, 2, 4, 5, 6, 8]
    assert [t[0, 0, 0] for t in split_held_out(tiles[:2], config)[1]] == [1]  # the last
    one = np.arange(600, dtype=np.float32).reshape(600, 1, 1)
    train, held = split_held_out([one], config)  # the last quarter (150 >= 128 rows)
    assert [train[0].shape[0], held[0][0, 0, 0], held[0].shape[0]] == [450, 450, 150]
    train, held = split_held_out([one[:300]], config)  # at least 128 rows
    assert [train[0].shape[0], held[0].shape[0]] == [172, 128]
    with pytest.warns(UserWarning, match="validated on the granule it is trained on"):
        train, held = split_held_out([one[:255]], config)
    assert train[0] is held[0]


def test_sure_misses_a_loss_the_held_out_check_catches(tmp_path: Path) -> None:
    """Issue 25 at small scale. The start's detail is held back by its gate at inference; the
    fine-tuned weights have no gate. Fine-tuned on dim absorption granules, they lose several dB
    there in truth, while SURE (blind in the null space of A, and scoring the ungated start) and
    the previous check call them better. The new check, which scores what inference outputs,
    calls them worse with its whole interval below 0 dB, and the selection, validated on a
    held-out granule, returns the start weights, gate included, with a warning."""
    own = [noisy_scene("absorption", seed, 0.03, "band") for seed in (0, 1, 2)]
    start = gated_start(own[0][1], tmp_path / "start.safetensors")
    config = guard_config(tmp_path / "start.safetensors", learning_rate=1e-3, select_best=False)
    trained = [lr for _, lr in own[:2]]
    model = finetune(config, trained, tmp_path / "raw", progress=False)
    change = true_psnr(model, own[:2]) - true_psnr(start, own[:2])
    assert change < -1.0  # measured -8.6 dB
    check = check_finetuned(model, config, trained)
    assert check["change_percent"] < 0  # SURE: "better" (measured -25 %)
    assert previous_check(model, config, trained)  # measured +1.05 dB (+0.97 .. +1.12), SURE lower
    assert not check["better"]
    assert check["high_db"] < 0  # measured -7.15 (-9.14 .. -4.94) dB
    # With selection (the default): trained on granules 0, 1, validated on granule 2.
    assert [t is own[2][1] for t in split_held_out([lr for _, lr in own], config)[1]] == [True]
    with pytest.warns(UserWarning, match="returning the start weights"):
        chosen = finetune(
            replace(config, select_best=True), [lr for _, lr in own], tmp_path / "sel",
            progress=False,
        )  # fmt: skip
    assert chosen.config.detail_gate
    for name, value in start.state_dict().items():
        assert torch.equal(value, chosen.state_dict()[name]), name


@pytest.mark.slow
@pytest.mark.parametrize("noise", ["band", "photon"])
@pytest.mark.parametrize("brightness", [0.03, 0.3])
@pytest.mark.parametrize("family", ["absorption", "solar", "mixture"])
def test_finetuning_is_never_silently_worse(
    family: str, brightness: float, noise: str, tmp_path: Path
) -> None:
    """On families fine-tuning was not developed on, at two brightness levels and with both
    noise models: an aggressive run returns weights at most 0.05 dB worse than the start on
    new granules, or the start weights with a warning; the check never calls a loss (a true
    change below -0.05 dB) better."""
    own = [noisy_scene(family, seed, brightness, noise) for seed in (0, 1)]
    new = [noisy_scene(family, seed, brightness, noise) for seed in (10, 11)]
    start = physics_start(own[0][1], tmp_path / "start.safetensors")
    config = guard_config(tmp_path / "start.safetensors")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = finetune(config, [lr for _, lr in own], tmp_path / "run", progress=False)
    returned = any("returning the start weights" in str(w.message) for w in caught)
    change = true_psnr(model, new) - true_psnr(start, new)
    if returned:
        for name, value in start.state_dict().items():
            assert torch.equal(value, model.state_dict()[name]), name
    else:
        assert change >= -0.05
    check = check_finetuned(model, config, [lr for _, lr in new])
    # A loss is a true change below -0.05 dB, the tolerance of the rule above (issue 25.2).
    # mixture-0.3-band: true change -0.0016 dB on the 2 new granules, check "better" +0.14 dB
    # (+0.06 .. +0.21): the check overstates gains there (docs/finetune.md, Limits).
    assert not (check["better"] and change < -0.05)


def test_a_run_that_only_hurts_returns_the_start_weights(
    big_tile: np.ndarray, ssl_start_weights: Path, tmp_path: Path
) -> None:
    noisy = big_tile + 1e-3 * float(big_tile.mean()) * np.random.default_rng(0).standard_normal(
        big_tile.shape
    )
    config = tiny_config(ssl_start_weights, learning_rate=3.0, steps=3, consistency_weight=0.0)
    with pytest.warns(UserWarning, match="returning the start weights"):
        model = finetune(config, [noisy.astype(np.float32)], tmp_path / "a", progress=False)
    start = load_weights_file(ssl_start_weights)
    for name, value in start.state_dict().items():
        assert torch.equal(value, model.state_dict()[name]), name
    history = torch.load(checkpoint_path(tmp_path / "a"), weights_only=True)["history"]
    assert len(history) == 3
    for entry in history:  # every candidate: no lower bound above 0
        assert entry["validation_low_db"] <= entry["validation_gain_db"]
        assert entry["validation_gain_db"] <= entry["validation_high_db"]
        # reduced granule 24 x 24 LR: 96 x 96 HR, 16 of border, 2 x 2 blocks of 32
        assert entry["validation_windows"] == 4
        assert entry["validation_low_db"] <= 0
    last = finetune(
        replace(config, select_best=False),
        [noisy.astype(np.float32)],
        tmp_path / "b",
        progress=False,
    )
    assert not torch.equal(last.blocks[0].pointwise.weight, start.blocks[0].pointwise.weight)
