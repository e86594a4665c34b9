"""The training harness (:mod:`xr_s5sr.training`) and its flags (:mod:`xr_s5sr.cli_training`)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from xr_s5sr.cli_training import (
    add_config_arguments,
    config_from_args,
    config_to_args,
    module_main,
)
from xr_s5sr.errors import MissingInputError
from xr_s5sr.objective import FinetuneConfig
from xr_s5sr.selfsup import add_arguments as add_finetune_arguments
from xr_s5sr.train import TrainConfig
from xr_s5sr.train import add_arguments as add_train_arguments
from xr_s5sr.training import (
    expand_paths,
    export_model,
    load_checkpoint,
    read_history,
    save_checkpoint,
    state_copy,
)
from xr_s5sr.weightsfile import card_path, load_weights_file


# ------------------------------------------------------------------------- config <-> flags
def test_train_config_round_trips_through_the_command_line() -> None:
    config = TrainConfig(
        band=5,
        model="s5dscr_s",
        epochs=3,
        steps_per_epoch=7,
        learning_rate=2.5e-4,
        schedule="cosine",
        autocast="bfloat16",
        zero_init_residual=False,
        init_from="start.safetensors",
    )
    parser = argparse.ArgumentParser()
    add_train_arguments(parser)
    words = ["--band", "5", "--out", "run", *config_to_args(config, skip=("band",))]
    assert config_from_args(TrainConfig, parser.parse_args(words)) == config
    # Flags left out keep the dataclass defaults.
    defaults = config_from_args(TrainConfig, parser.parse_args(["--band", "6", "--out", "r"]))
    assert defaults == TrainConfig(band=6)


def test_finetune_config_round_trips_through_the_command_line() -> None:
    config = FinetuneConfig(
        band=3,
        steps=11,
        noise_sigma=1.5e-9,
        flips=False,
        select_best=False,
        start_weights="start.safetensors",
    )
    parser = argparse.ArgumentParser()
    add_finetune_arguments(parser)
    words = ["--band", "3", "--out", "o", "--l1b", "a.nc", "--weights", "start.safetensors"]
    args = parser.parse_args([*words, *config_to_args(config, skip=("band", "start_weights"))])
    assert config_from_args(FinetuneConfig, args, start_weights=args.weights) == config
    assert isinstance(args.noise_sigma, float)
    with pytest.raises(SystemExit):  # a model name outside the presets is refused by argparse
        parser.parse_args([*words, "--model", "unet"])


def test_config_flags_skip_fields_and_take_given_types() -> None:
    parser = argparse.ArgumentParser()
    add_config_arguments(
        parser, FinetuneConfig(band=0), skip=("band", "start_weights", "noise_sigma")
    )
    flags = {a.dest for a in parser._actions}
    assert "band" not in flags
    assert "start_weights" not in flags
    assert "noise_sigma" not in flags
    assert {"steps", "flips", "select_best"} <= flags
    args = parser.parse_args(["--no-flips", "--steps", "9"])
    assert args.flips is False
    assert args.steps == 9


def test_module_main_adds_quiet_and_runs(capsys: pytest.CaptureFixture[str]) -> None:
    seen: list[argparse.Namespace] = []

    def add(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--band", type=int, required=True)

    def run(args: argparse.Namespace) -> int:
        seen.append(args)
        return 3

    assert module_main("prog", "doc", add, run, ["--quiet", "--band", "4"]) == 3
    assert seen[0].quiet is True
    assert seen[0].band == 4


# ------------------------------------------------------------------------- file patterns
def test_expand_paths_sorts_and_deduplicates(tmp_path: Path) -> None:
    for name in ("b.nc", "a.nc", "c.txt"):
        (tmp_path / name).write_text("x")
    files = expand_paths([str(tmp_path / "*.nc"), str(tmp_path / "a.nc")])
    assert files == [str(tmp_path / "a.nc"), str(tmp_path / "b.nc")]


def test_expand_paths_names_the_patterns_that_match_nothing(tmp_path: Path) -> None:
    pattern = str(tmp_path / "S5P_*.nc")
    with pytest.raises(MissingInputError, match=r"No L1B file matches .*S5P_\*\.nc.*check"):
        expand_paths([pattern])


# ------------------------------------------------------------------------- checkpoints
def test_checkpoint_resumes_only_with_matching_settings(tmp_path: Path) -> None:
    path = tmp_path / "run" / "checkpoint.pt"
    path.parent.mkdir()
    module = torch.nn.Linear(3, 2)
    state = {"settings": json.dumps({"seed": 1}), "model": state_copy(module), "history": []}
    state["history"] = [{"step": 1.0, "loss": 0.5}, {"step": 2.0, "loss": 0.25}]
    save_checkpoint(path, state)
    matches = lambda s: json.loads(s["settings"]) == {"seed": 1}  # noqa: E731
    loaded = load_checkpoint(path, matches)
    assert loaded is not None
    for name, value in module.state_dict().items():
        torch.testing.assert_close(loaded["model"][name], value, rtol=0, atol=0)
    assert read_history(path) == state["history"]
    assert load_checkpoint(path, matches, resume=False) is None
    assert load_checkpoint(path, lambda s: False) is None  # silent without a warning text
    with pytest.warns(UserWarning, match="other settings"):
        assert load_checkpoint(path, lambda s: False, mismatch_warning="other settings") is None
    assert load_checkpoint(tmp_path / "none.pt", matches) is None
    assert read_history(tmp_path / "none.pt") == []


def test_state_copy_is_detached_from_the_module() -> None:
    module = torch.nn.Linear(2, 2)
    copy = state_copy(module)
    with torch.no_grad():
        module.weight.add_(1.0)
    np.testing.assert_allclose(
        copy["weight"].numpy() + 1.0, module.weight.detach().numpy(), rtol=0, atol=1e-6
    )


# ------------------------------------------------------------------------- export
def test_export_model_writes_weights_and_a_card_with_the_common_head(tmp_path: Path) -> None:
    from xr_s5sr.models import S5DSCR

    torch.manual_seed(0)
    model = S5DSCR(4, 1, 3, 1, residual="signed", scaling="local", band=7).eval()
    path = tmp_path / "s5dscr_s_band7.safetensors"
    card = export_model(
        model, path, band=7, model_name="s5dscr_s", card={"note": "test", "parameters": -1}
    )
    assert card == card_path(path)
    written = json.loads(card.read_text())
    assert list(written)[:6] == [
        "band",
        "model",
        "architecture",
        "parameters",
        "weights_file",
        "sha256",
    ]
    assert written["note"] == "test"
    assert written["parameters"] == -1  # the caller's fields win over the head
    loaded = load_weights_file(path, band=7)
    for name, value in model.state_dict().items():
        torch.testing.assert_close(loaded.state_dict()[name], value, rtol=0, atol=0)
