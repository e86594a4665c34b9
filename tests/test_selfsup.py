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
from xr_s5sr.objective import FinetuneConfig
from xr_s5sr.selfsup import (
    checkpoint_path,
    expand_paths,
    export_finetuned,
    finetune,
    l1b_tiles,
)
from xr_s5sr.synthetic import make_granule
from xr_s5sr.weights import file_sha256, load_weights_file, save_weights

pytestmark = pytest.mark.usefixtures("single_torch_thread")


# ------------------------------------------------------------------------------ fine-tuning
def test_finetune_is_deterministic_and_resumes(
    ssl_tile: np.ndarray, ssl_start_weights: Path, tmp_path: Path
) -> None:
    config = tiny_config(ssl_start_weights)
    first = finetune(config, [ssl_tile], tmp_path / "a", progress=False, device="cpu")
    second = finetune(config, [ssl_tile], tmp_path / "b", progress=False, device="cpu")
    start = load_weights_file(ssl_start_weights)
    for name, value in first.state_dict().items():
        assert torch.equal(value, second.state_dict()[name]), name
    assert not torch.equal(first.blocks[0].pointwise.weight, start.blocks[0].pointwise.weight)
    assert not first.training
    assert not first.config.detail_gate  # fitted to these granules' noise: no gate
    # Interrupted after 2 steps, then resumed: the same weights as the uninterrupted run.
    finetune(config, [ssl_tile], tmp_path / "c", progress=False, device="cpu", stop_after=2)
    saved = torch.load(checkpoint_path(tmp_path / "c"), weights_only=True)
    assert saved["step"] == 2
    resumed = finetune(config, [ssl_tile], tmp_path / "c", progress=False, device="cpu")
    for name, value in first.state_dict().items():
        assert torch.equal(value, resumed.state_dict()[name]), name
    # Other settings: the checkpoint is not reused.
    shutil.copytree(tmp_path / "c", tmp_path / "d")
    with pytest.warns(UserWarning, match="other settings"):
        finetune(replace(config, seed=1), [ssl_tile], tmp_path / "d", progress=False, device="cpu")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_finetune_on_cuda(ssl_tile: np.ndarray, ssl_start_weights: Path, tmp_path: Path) -> None:
    model = finetune(
        tiny_config(ssl_start_weights), [ssl_tile], tmp_path, progress=False, device="cuda"
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


def test_export_card(ssl_tile: np.ndarray, ssl_start_weights: Path, tmp_path: Path) -> None:
    config = tiny_config(ssl_start_weights, steps=2)
    model = finetune(config, [ssl_tile], tmp_path, progress=False, device="cpu")
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

    granule = make_granule(BAND, 32, 24, n_channel=CHANNELS)
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
    assert set(card["sure_checks"]) == {"finetuning_granules", "check_granules"}
    for check in card["sure_checks"].values():
        assert check["change_percent"] == pytest.approx(
            100 * (check["finetuned"] / check["start"] - 1)
        )
    assert not load_weights_file(weights).config.detail_gate
    assert card["l1b_files"] == [l1b.name]
    assert card["finetuning"]["recipe"]["seed"] == 3
    assert card["start_weights"]["sha256"] == file_sha256(ssl_start_weights)
    tiles = l1b_tiles([l1b], BAND, tile_scanlines=12)
    assert [t.shape for t in tiles] == [(12, 24, CHANNELS), (12, 24, CHANNELS), (8, 24, CHANNELS)]
    assert np.isnan(tiles[0][3, 4]).all()
    sr = open_l1b(l1b, chunks=None).s5sr.super_resolve(weights=weights, device="cpu")
    assert sr["radiance"].shape == (128, 96, CHANNELS)
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


# ------------------------------------------------------------------------------ the gain
def dim_granule(family: str, seed: int, band: int = 7, channels: int = 16) -> tuple:
    """(HR, noisy LR) of a dim scene (3 % of the band's mean radiance, where noise matters)."""
    from xr_s5sr.bands import get_band
    from xr_s5sr.degrade import degrade_array

    hr = family_scene(family, band, (192, 192), seed, n_channel=channels, brightness=0.03)
    lr = degrade_array(hr, band)
    noise = np.random.default_rng([seed, 1]).standard_normal(lr.shape)
    return hr, (lr + float(get_band(band).noise_sigma or 0.0) * noise).astype(np.float32)


def test_finetuning_gains_on_its_granules_and_the_check_sees_other_data(tmp_path: Path) -> None:
    """Fine-tuned on two dim LR granules, the network beats its start on their unseen HR; the
    HR-free SURE check agrees, and flags granules of another family where it would lose."""
    from xr_s5sr.engine import super_resolve_array
    from xr_s5sr.metrics import compute_metrics
    from xr_s5sr.models import zero_residual
    from xr_s5sr.selfsup import check_finetuned
    from xr_s5sr.spec import model_spec

    band, channels = 7, 16
    own = [dim_granule("edges", seed) for seed in range(2)]
    other = [dim_granule("smooth", 50 + seed) for seed in range(2)]
    start = S5DSCR(channels, 1, 3, 1, residual="signed", scaling="local", band=band)
    y = torch.from_numpy(own[0][1]).permute(2, 0, 1)[None]
    z = y / local_scale(y)
    start.set_normalisation(z.mean(dim=(0, 2, 3)), z.std(dim=(0, 2, 3)))
    start.set_output_scale(1.0)
    zero_residual(start)  # the start is the physics inverse
    path = tmp_path / "s5dscr_s_band7.safetensors"
    save_weights(start, path, band=band, model_name="s5dscr_s")
    config = FinetuneConfig(band=band, steps=60, start_weights=str(path), checkpoint_every=60)
    model = finetune(config, [lr for _, lr in own], tmp_path / "run", progress=False)

    def psnr(method: S5DSCR | str, granules: list) -> float:
        spec = (
            model_spec(method, band=band, device="cpu")
            if isinstance(method, str)
            else model_spec(weights=method, band=band, device="cpu")
        )
        scores = [
            compute_metrics(hr, super_resolve_array(lr, spec), border=8) for hr, lr in granules
        ]
        return float(np.mean([s["psnr"][0] for s in scores]))

    gain = psnr(model, own) - psnr(start, own)
    assert gain >= 0.12  # measured +0.18 dB (16 channels; the docs measure the full band)
    assert psnr(model, own) > psnr("bicubic", own) + 0.5
    check = check_finetuned(model, config, [lr for _, lr in own])
    assert check["change_percent"] < -10  # measured -15 %
    # Granules of another family (other spectra): the network loses, and the check says so.
    assert psnr(model, other) < psnr(start, other)
    assert check_finetuned(model, config, [lr for _, lr in other])["change_percent"] > 20


def test_a_run_that_only_hurts_returns_the_start_weights(
    ssl_tile: np.ndarray, ssl_start_weights: Path, tmp_path: Path
) -> None:
    noisy = ssl_tile + 1e-3 * float(ssl_tile.mean()) * np.random.default_rng(0).standard_normal(
        ssl_tile.shape
    )
    config = tiny_config(ssl_start_weights, learning_rate=3.0, steps=3, consistency_weight=0.0)
    with pytest.warns(UserWarning, match="returning the start weights"):
        model = finetune(config, [noisy.astype(np.float32)], tmp_path / "a", progress=False)
    start = load_weights_file(ssl_start_weights)
    for name, value in start.state_dict().items():
        assert torch.equal(value, model.state_dict()[name]), name
    history = torch.load(checkpoint_path(tmp_path / "a"), weights_only=True)["history"]
    scores = [entry["validation_sure"] for entry in history]
    assert len(scores) == 3
    assert min(scores) > 0
    last = finetune(
        replace(config, select_best=False),
        [noisy.astype(np.float32)],
        tmp_path / "b",
        progress=False,
    )
    assert not torch.equal(last.blocks[0].pointwise.weight, start.blocks[0].pointwise.weight)
