"""Self-supervised fine-tuning of S5-DSCR on LR granules alone (SPEC §6): no HR needed.

Boundary: numpy LR radiance tiles (scanline, ground_pixel, spectral_channel) in radiance units
in; a fine-tuned :class:`~xr_s5sr.models.S5DSCR` (``scaling="local"``), a checkpoint and an
exported weights file + JSON model card out. The losses are small torch functions on tensors
(batch, channel, scanline, ground_pixel); the degradation ``A`` is
:func:`xr_s5sr.physics.degrade`. No xarray below :func:`l1b_tiles`; torch is imported lazily.

The objective (what is trained, the losses, windows, missing values) is in
:mod:`xr_s5sr.objective`; this module runs it: Adam with a cosine schedule, checkpoints and
resume, selection, checks on other granules, export with a model card, L1B files and the CLI.
What it shares with supervised training (glob expansion, checkpoint files, progress, the
weights + card export) is :mod:`xr_s5sr.training`; its flags are :mod:`xr_s5sr.cli_training`.

Selection where the truth is known (Wald's reduced-resolution protocol on the user's own
data): before training, each granule ``y`` is degraded once more, ``A y + n'`` with the
granule's noise regime kept (:func:`~xr_s5sr.objective.reduce_tile`), and ``y`` is the truth
of that smaller problem. Every ``checkpoint_every`` steps the current weights super-resolve the
reduced granules with :func:`~xr_s5sr.engine.super_resolve_array` itself, exactly as a user
gets them (:func:`inference_errors`: the start weights with their detail gate, the candidate
without it); their per-block errors against ``y``, paired with those of the start weights,
give a gain in dB and a bootstrap 95 % interval (:func:`~xr_s5sr.objective.compare_errors`).
The run returns the checkpoint with the highest lower bound, or the start weights (with a
warning) when no lower bound is above 0: no candidate beat the start by more than the
criterion's own noise. :func:`check_finetuned` (``xr-s5sr finetune --check``) applies the
same test to other granules. The measurement-domain SURE is reported beside it but decides
nothing: it cannot see the null space of ``A``, where fine-tuning does its damage, and it
scores the training composition, which has no detail gate, so it compared the fine-tuned
network with an ungated start that inference never runs (issue 25: SURE −42 % "better" for
weights that lost 0.36–0.82 dB; ``docs/finetune.md``).
"""

from __future__ import annotations

import argparse
import json
import math
import time
import warnings
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from xr_s5sr.bands import SCALE
from xr_s5sr.cli_training import (
    FINETUNE_HELP,
    add_common_arguments,
    add_config_arguments,
    add_finetune_data_arguments,
    config_from_args,
    module_main,
)
from xr_s5sr.engine import super_resolve_array
from xr_s5sr.errors import S5SRArgumentError, WeightsError
from xr_s5sr.l1b import open_l1b
from xr_s5sr.objective import (
    LOSS_UNITS,
    LOSSES,
    FinetuneConfig,
    ReducedTile,
    batch_losses,
    compare_errors,
    prepare_tile,
    reduce_tiles,
    validation_sure,
    window_batch,
    window_index,
)
from xr_s5sr.spec import model_spec, resolve_device
from xr_s5sr.training import (
    expand_paths,
    export_model,
    load_checkpoint,
    prepare_out_dir,
    progress_bar,
    progress_line,
    read_history,
    save_checkpoint,
    software,
    state_copy,
)
from xr_s5sr.weights import file_sha256, load_weights_file, resolve_weights
from xr_s5sr.weightsfile import weights_filename

if TYPE_CHECKING:
    from xr_s5sr.models import S5DSCR

#: File name of the fine-tuning checkpoint in ``out_dir``.
CHECKPOINT_NAME = "finetune_checkpoint.pt"

#: HR pixels on a side of the blocks :func:`inference_errors` scores, and of the border of a
#: reduced granule it leaves out (its edge, as the PSNR of the studies: ``border=16``).
SCORE_BLOCK, SCORE_BORDER = 32, 16


# ------------------------------------------------------------------------------------ loop
def checkpoint_path(out_dir: str | Path) -> Path:
    """``out_dir/finetune_checkpoint.pt``."""
    return Path(out_dir) / CHECKPOINT_NAME


def start_model(config: FinetuneConfig) -> tuple[S5DSCR, Path, str]:
    """The start module (train mode off), its weights file and that file's sha256."""

    if config.start_weights is None:
        path = Path(resolve_weights(config.band, config.model).path)
    else:
        path = Path(config.start_weights)
    model = load_weights_file(path, band=config.band)
    if model.config.scaling != "local":
        raise WeightsError(
            f"Self-supervised fine-tuning needs a scaling='local' model (physics inverse plus "
            f"detail); {path} has scaling={model.config.scaling!r}. Start from the shipped "
            "weights or from weights trained with `xr-s5sr train --scaling local`."
        )
    return model, path, file_sha256(path)


def checkpoint_history(out_dir: str | Path) -> list[dict[str, float]]:
    """Loss history stored in ``out_dir``'s checkpoint ([] without one)."""
    return read_history(checkpoint_path(out_dir))


def finetune(
    config: FinetuneConfig,
    lr_tiles: Sequence[np.ndarray],
    out_dir: str | Path,
    resume: bool = True,
    progress: bool = True,
    *,
    device: str | None = None,
    stop_after: int | None = None,
) -> S5DSCR:
    """Fine-tune an S5-DSCR network on LR granules with self-supervised losses.

    Adam with a cosine decay of the learning rate; BatchNorm statistics (S5-DSCR) stay frozen
    (eval mode). Each step draws ``batch_size`` windows (with replacement), one equivariance
    transform and one SURE probe from the seed, so a run is reproducible and a resumed run
    gives the same weights as an uninterrupted one.

    Parameters
    ----------
    config : FinetuneConfig
        Settings.
    lr_tiles : sequence of numpy.ndarray
        LR radiance granules (scanline, ground_pixel, channel), radiance units; NaN = missing.
    out_dir : path
        Directory of ``finetune_checkpoint.pt`` (atomic; written every ``checkpoint_every``
        steps and at the end).
    resume : bool, default True
        Continue from the checkpoint when its settings and start weights match ``config``.
    progress : bool, default True
        tqdm progress bar with the running losses.
    device : str, optional
        torch device (default: CUDA when available, else CPU).
    stop_after : int, optional
        Stop (after a checkpoint) once this many steps are done; a later call resumes. For
        time-limited jobs.

    Returns
    -------
    S5DSCR
        The fine-tuned module, eval mode, on CPU, with its detail gate off
        (:attr:`~xr_s5sr.models.ModelConfig.detail_gate`). After the last step and with
        ``select_best``, the weights of the checkpoint whose reduced-resolution gain over the
        start (on held-out granules, :func:`split_held_out`) has the highest lower bound
        (bootstrap 95 %), or the start weights with the start's gate (and a warning) when no
        lower bound is above 0 dB; after ``stop_after``, the current weights.
    """
    config.validate()
    device = resolve_device(device)
    out = prepare_out_dir(out_dir)
    run = _Tuning(config, lr_tiles, device, checkpoint_path(out))
    if not run.resume(resume):
        run.score_start()
    run.train(config.steps if stop_after is None else min(config.steps, stop_after), progress)
    return run.finish()


class _Tuning:
    """One fine-tuning run: the module, optimiser, seeded generators, history and best weights.

    ``baseline`` holds the start weights' SURE, then their reduced-resolution errors; ``best``
    the step, score (lower bound of the gain, dB) and weights of the best candidate so far.
    """

    def __init__(
        self, config: FinetuneConfig, lr_tiles: Sequence[np.ndarray], device: str, ckpt: Path
    ) -> None:
        import torch

        model, _, start_sha = start_model(config)
        # The start is scored as inference runs it (with its gate); the candidates without.
        self.start_gate = model.config.detail_gate
        # The detail becomes the removal of these granules' own noise: no gate at inference.
        model.config = replace(model.config, detail_gate=False)
        channels = {t.shape[-1] for t in lr_tiles}
        if channels != {model.channels}:
            raise S5SRArgumentError(
                f"The LR tiles have {sorted(channels)} spectral channels, the start weights "
                f"expect {model.channels}: use granules of band {config.band} with all channels."
            )
        self.config, self.device, self.ckpt = config, device, ckpt
        train, held = split_held_out(lr_tiles, config) if config.select_best else (lr_tiles, [])
        self.tiles = [prepare_tile(t, *_tile_settings(config)) for t in train]
        self.index = window_index(self.tiles, config)
        # The truth-known validation is built before any step: a too-small granule fails now.
        held_tiles = [prepare_tile(t, *_tile_settings(config)) for t in held]
        self.reduced = reduce_tiles(held_tiles, config) if held else []
        torch.manual_seed(config.seed)
        self.model = model.to(device).eval()
        self.optimiser = torch.optim.Adam(self.model.parameters(), lr=config.learning_rate)
        self.rng = np.random.default_rng(config.seed)
        self.generator = torch.Generator().manual_seed(config.seed)
        self.history: list[dict[str, float]] = []
        self.step = 0
        self.best: dict[str, Any] = {}
        self.baseline: list[float] = []
        # Checkpoints of earlier validations (SURE, the ungated composition) do not match.
        self.settings = {
            "config": config.to_dict(),
            "start_sha256": start_sha,
            "validation": "reduced-inference-held-out",
        }

    def resume(self, resume: bool) -> bool:
        """Continue from the checkpoint when it matches the settings (True when it did)."""
        state = load_checkpoint(
            self.ckpt,
            lambda s: json.loads(s["settings"]) == self.settings,
            resume=resume,
            mismatch_warning=f"{self.ckpt} was written with other settings or start weights: "
            "starting afresh (it will be overwritten).",
        )
        if state is None:
            return False
        self.model.load_state_dict(state["model"])
        self.optimiser.load_state_dict(state["optimiser"])
        self.rng.bit_generator.state = json.loads(state["numpy_rng"])
        self.generator.set_state(state["torch_rng"])
        self.history, self.step = list(state["history"]), int(state["step"])
        self.best = {"step": int(state["best_step"]), "score": float(state["best_score"])}
        self.best["model"], self.baseline = state["best_model"], list(state["start_errors"])
        return True

    def save(self) -> None:
        """Checkpoint: weights, optimiser, both generators, history and the best candidate."""
        save_checkpoint(
            self.ckpt,
            {
                "settings": json.dumps(self.settings),
                "step": self.step,
                "model": self.model.state_dict(),
                "optimiser": self.optimiser.state_dict(),
                "numpy_rng": json.dumps(self.rng.bit_generator.state),
                "torch_rng": self.generator.get_state(),
                "history": self.history,
                "best_step": self.best["step"],
                "best_score": self.best["score"],
                "best_model": self.best["model"],
                "start_errors": list(self.baseline),
            },
        )

    def score_start(self) -> None:
        """The start weights: scored, and the candidate a later step must beat."""
        if self.reduced:  # the start's SURE, then its reduced-resolution errors (gated)
            self.baseline = [validation_sure(self.model, self.tiles, self.config)]
            errors = inference_errors(
                self.model, self.reduced, self.config, self.device, detail_gate=self.start_gate
            )
            self.baseline.extend(errors.tolist())
        # The start: a candidate must be better beyond the criterion's noise.
        self.best = {"step": 0, "score": 0.0, "model": state_copy(self.model)}

    def validate(self) -> dict[str, float]:
        """Reduced-resolution gain over the start (what inference outputs) and, for the
        record, the SURE change; a candidate counts when the gain's lower bound is above 0
        (SURE decides nothing: it is blind in the null space of A); the best lower bound so
        far is kept."""
        config = self.config
        if not config.select_best:
            return {}
        errors = inference_errors(self.model, self.reduced, config, self.device)
        gain = compare_errors(np.asarray(self.baseline[1:]), errors, seed=config.seed + self.step)
        sure = validation_sure(self.model, self.tiles, config)
        gain["sure_change_percent"] = 100.0 * (sure / self.baseline[0] - 1)
        if gain["low_db"] > self.best["score"]:
            self.best = {"step": self.step, "score": gain["low_db"]}
            self.best["model"] = state_copy(self.model)
        return gain

    def one_step(self, weights: dict[str, float]) -> tuple[dict[str, Any], Any]:
        """One Adam step on a seeded batch of windows: the losses and their weighted total."""
        config, optimiser = self.config, self.optimiser
        for group in optimiser.param_groups:
            group["lr"] = (
                0.5 * config.learning_rate * (1 + math.cos(math.pi * self.step / config.steps))
            )
        picks = self.index[self.rng.integers(0, len(self.index), config.batch_size)]
        y, mask, picked = window_batch(self.tiles, picks, config, self.device)
        losses = batch_losses(self.model, y, mask, config, self.rng, self.generator, picked)
        total = sum(weights[name] * value for name, value in losses.items())
        optimiser.zero_grad(set_to_none=True)
        total.backward()  # type: ignore[union-attr]
        optimiser.step()
        self.step += 1
        return losses, total

    def train(self, last: int, progress: bool) -> None:
        """Steps up to ``last``; history entry, validation and checkpoint every
        ``checkpoint_every`` steps and at ``last``."""
        config = self.config
        weights = config.weights()
        running = {name: 0.0 for name in (*LOSSES, "total")}
        counted = 0
        started = time.perf_counter()
        desc = f"finetune band {config.band} {config.model}"
        bar = progress_bar(desc, enabled=progress, total=config.steps, initial=self.step)
        while self.step < last:
            losses, total = self.one_step(weights)
            counted += 1
            for name, value in losses.items():
                running[name] += float(value.detach())
            running["total"] += float(total.detach())  # type: ignore[union-attr]
            bar.update(1)
            bar.set_postfix({k: f"{v / counted:.3g}" for k, v in running.items() if v})
            if self.step % config.checkpoint_every == 0 or self.step == last:
                entry = {
                    "step": float(self.step),
                    "learning_rate": self.optimiser.param_groups[0]["lr"],
                }
                entry.update(
                    {k: v / counted for k, v in running.items() if k in losses or k == "total"}
                )
                entry["seconds"] = round(time.perf_counter() - started, 2)
                entry.update({f"validation_{k}": v for k, v in self.validate().items()})
                self.history.append(entry)
                running = {name: 0.0 for name in running}
                counted = 0
                self.save()
        bar.close()

    def finish(self) -> S5DSCR:
        """The module to return: the selected candidate after the last step (see finetune)."""
        if not self.ckpt.exists():
            self.save()
        if self.config.select_best and self.step >= self.config.steps:
            self.model.load_state_dict(self.best["model"])
            if self.best["step"] == 0:
                # The start as the user had it: with its detail gate (an ungated start is
                # another model, and worse where the gate held back its detail).
                self.model.config = replace(self.model.config, detail_gate=self.start_gate)
                warnings.warn(
                    "No checkpoint beat the start weights at reduced resolution (the granules "
                    "degraded once more, where their own LR is the truth) by more than the "
                    "criterion's noise (lower bound of the bootstrap 95 % interval of the gain "
                    "above 0 dB): returning the start weights. Fine-tuning "
                    "gains on dim, noisy scenes with structure; elsewhere keep the start weights.",
                    UserWarning,
                    stacklevel=3,
                )
        return self.model.cpu().eval()


# ------------------------------------------------------------------------------------ check
def _tile_settings(config: FinetuneConfig) -> tuple[int, int, bool]:
    """:func:`~xr_s5sr.objective.prepare_tile`'s settings of ``config`` (context, band,
    spectral prior): training, selection and checks prepare granules alike."""
    return config.context, config.band, config.spectral_prior


def split_held_out(
    lr_tiles: Sequence[np.ndarray], config: FinetuneConfig
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """(granules to train on, granules to validate on): the validation is held out.

    Validated on the granules it was trained on, the reduced-resolution gain favours the
    fine-tuned weights: they have fitted those very granules
    (``tests/test_selfsup.py::test_sure_misses_a_loss_the_held_out_check_catches``). With
    two granules or more, every fourth
    (at least one, the last) is held out; a single granule of at least twice the validation
    size (``4 × window`` LR pixels) keeps its last quarter of scanlines (at least that size)
    for the validation. A single smaller granule is both trained and validated on, with a
    warning: its verdict is biased towards the fine-tuned weights.
    """
    tiles = list(lr_tiles)
    if len(tiles) > 1:
        held = set(range(3, len(tiles), 4)) or {len(tiles) - 1}
        train = [t for k, t in enumerate(tiles) if k not in held]
        return train, [t for k, t in enumerate(tiles) if k in held]
    size = SCALE * config.window
    rows = tiles[0].shape[0] if tiles else 0
    if rows >= 2 * size:
        cut = rows - max(size, rows // 4)
        return [tiles[0][:cut]], [tiles[0][cut:]]
    warnings.warn(
        f"One granule of {rows} scanlines: the validation needs a second granule or "
        f"{2 * size} scanlines to hold out {size} (4 x the window) from training, so it is "
        "validated on the granule it is trained on, which favours the fine-tuned weights. "
        "Give more granules (or --no-select-best and check them on other data).",
        UserWarning,
        stacklevel=4,
    )
    return tiles, tiles


def inference_errors(
    model: S5DSCR,
    reduced: Sequence[ReducedTile],
    config: FinetuneConfig,
    device: str = "cpu",
    *,
    detail_gate: bool | None = None,
) -> np.ndarray:
    """Per-block error of what ``super_resolve`` outputs with ``model`` at reduced resolution.

    Each reduced granule ``A y + n'`` (:func:`~xr_s5sr.objective.reduce_tile`) is
    super-resolved by :func:`~xr_s5sr.engine.super_resolve_array` with the defaults a user
    gets (automatic μ per row, detail gate as in ``model.config`` unless ``detail_gate`` is
    given, consistency projection, non-negative step), so whatever inference does is scored,
    not the training composition. The error against the granule ``y`` is weighted by
    ``1000 / s`` (``s``: the local radiance level of ``y``, per mille, as the losses) and
    averaged over blocks of ``SCORE_BLOCK`` HR pixels, ``SCORE_BORDER`` HR pixels from the
    edge left out; pixels made from missing or unusable LR values do not count.

    Returns
    -------
    numpy.ndarray
        (blocks,) float64, (per mille of the local radiance)², the same blocks for every
        model; lower is better.
    """
    import torch

    from xr_s5sr.models import local_scale

    spec = model_spec(
        weights=model, band=config.band, device=device, spectral_prior=config.spectral_prior
    )
    if detail_gate is not None:
        spec = replace(spec, detail_gate=detail_gate)
    errors = []
    for tile in reduced:
        estimate = np.asarray(super_resolve_array(tile.lr.data, spec), dtype=np.float64)
        truth = torch.from_numpy(tile.target).permute(2, 0, 1)[None]
        weight = (LOSS_UNITS / local_scale(truth))[0, 0].double().numpy()[..., None]
        lr_usable = tile.lr.usable.repeat(SCALE, axis=0).repeat(SCALE, axis=1)[..., None]
        usable = tile.usable & lr_usable
        miss = weight * (estimate - tile.target)
        rows, cols = (n - SCORE_BORDER - SCORE_BLOCK + 1 for n in miss.shape[:2])
        for r in range(SCORE_BORDER, rows, SCORE_BLOCK):
            for c in range(SCORE_BORDER, cols, SCORE_BLOCK):
                area = np.s_[r : r + SCORE_BLOCK, c : c + SCORE_BLOCK]
                if usable[area].any():
                    errors.append(float(np.square(miss[area][usable[area]]).mean()))
    return np.asarray(errors, dtype=np.float64)


def check_finetuned(
    model: S5DSCR, config: FinetuneConfig, lr_tiles: Sequence[np.ndarray], device: str = "cpu"
) -> dict[str, Any]:
    """Is ``model`` better than the start weights on ``lr_tiles`` (LR radiance granules, NaN =
    missing)? Scored where the truth is known, at reduced resolution; SURE reported beside.

    The reduced-resolution protocol (:func:`~xr_s5sr.objective.reduce_tiles`: each granule
    degraded once more by ``A`` with its noise regime kept) super-resolves the reduced
    granules with both weights exactly as inference does (:func:`inference_errors`: the start
    with its detail gate, ``model`` as configured) and scores them against the granules
    themselves: the paired per-block gain and its bootstrap 95 % interval. ``better`` is True
    only when the interval's lower bound is above 0 dB: a change within the criterion's
    noise, or a loss, is never called an improvement. The measurement-domain SURE
    (:func:`~xr_s5sr.objective.validation_sure`) is reported but decides nothing: it cannot
    see the null space of ``A``, and it scores the training composition (no detail gate),
    not what inference runs.

    Returns
    -------
    dict
        ``better`` (bool), ``gain_db``, ``low_db``, ``high_db`` (reduced-resolution gain of
        ``model`` over the start and its interval, dB), ``windows`` (blocks scored);
        ``start``, ``finetuned`` (SURE, (per mille)²) and ``change_percent`` (SURE change;
        negative: lower misfit; information only).
    """
    tiles = [prepare_tile(t, *_tile_settings(config)) for t in lr_tiles]
    reduced = reduce_tiles(tiles, config)
    start, _, _ = start_model(config)
    gain = compare_errors(
        inference_errors(start, reduced, config, device),
        inference_errors(model, reduced, config, device),
        seed=config.seed,
    )
    start, model = start.to(device), model.to(device)
    before = validation_sure(start, tiles, config)
    after = validation_sure(model, tiles, config)
    model.cpu()
    return {
        "better": bool(gain["low_db"] > 0.0),
        **gain,
        "start": before,
        "finetuned": after,
        "change_percent": 100.0 * (after / before - 1),
    }


# ------------------------------------------------------------------------------------ export
def export_finetuned(
    model: S5DSCR,
    config: FinetuneConfig,
    out_dir: str | Path,
    *,
    l1b_files: Sequence[str | Path] = (),
    history: Sequence[dict[str, float]] | None = None,
    data: dict[str, Any] | None = None,
    checks: dict[str, dict[str, Any]] | None = None,
) -> Path:
    """Write ``out_dir/<weights_filename(band, model)>`` and its JSON model card beside it.

    The weights load with ``super_resolve(weights=path)`` (:func:`xr_s5sr.weights.save_weights`).
    The card records ``"self_supervised": true``, the losses and their weights, the noise
    sigma, the L1B files used, the steps, the start weights (path and sha256), the history
    (default: from the checkpoint in ``out_dir``), the full settings and ``checks``
    (:func:`check_finetuned` results by granule set).

    Returns
    -------
    pathlib.Path
        Path of the model card (``<weights stem>.json``).
    """
    out = Path(out_dir)
    _, start_path, start_sha = start_model(config)
    if history is None:
        history = checkpoint_history(out)
    card = {
        "self_supervised": True,
        "losses": {name: {"weight": w} for name, w in config.weights().items() if w > 0},
        "loss_units": "(per mille of the local radiance level)^2",
        "noise_sigma": (
            "estimated per granule (xr_s5sr.adaptive.auto_settings)"
            if config.noise_sigma is None
            else config.noise_sigma
        ),
        "noise_sigma_units": "mol m-2 nm-1 sr-1 s-1",
        "composition": (
            "C_mu(backproject_mu(P y) + detail(P y), P y) with each granule's automatic mu and "
            "P its spectral prior (the identity with spectral_prior false), the default of "
            "super_resolve; detail gate off unless the start weights were returned"
        ),
        "l1b_files": [Path(f).name for f in l1b_files],
        "steps": config.steps,
        "start_weights": {"file": start_path.name, "sha256": start_sha},
        "checks": checks or {},
        "finetuning": {
            "recipe": config.to_dict(),
            "data": data or {},
            "history": list(history),
            **software(),
        },
    }
    return export_model(
        model,
        out / weights_filename(config.band, config.model),
        band=config.band,
        model_name=config.model,
        card=card,
        metadata={"training_self_supervised": "true", "training_start_sha256": start_sha},
        overwrite=True,
    )


# ------------------------------------------------------------------------------------ data
def l1b_tiles(
    paths: Sequence[str | Path], band: int, tile_scanlines: int | None = None
) -> list[np.ndarray]:
    """LR radiance tiles (scanline, ground_pixel, channel), float32, from L1B files.

    Each granule is read whole (a full band-3 orbit is ~3.6 GB of float32) and cut into
    consecutive blocks of ``tile_scanlines`` scanlines (None: one tile per file). Fill values
    are NaN (skipped by the losses).
    """

    tiles: list[np.ndarray] = []
    for path in paths:
        radiance = open_l1b(path, band=band, chunks=None)["radiance"].transpose(
            "scanline", "ground_pixel", "spectral_channel"
        )
        values = np.asarray(radiance.values, dtype=np.float32)
        step = values.shape[0] if tile_scanlines is None else max(1, tile_scanlines)
        tiles.extend(values[s : s + step] for s in range(0, values.shape[0], step))
    return tiles


# ------------------------------------------------------------------------------------ CLI
def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``xr-s5sr finetune`` (one per :class:`FinetuneConfig` field plus data)."""
    add_common_arguments(parser, outputs="checkpoint, weights, card")
    add_finetune_data_arguments(parser)
    add_config_arguments(
        parser,
        FinetuneConfig(band=0),
        skip=("band", "start_weights"),
        helps=FINETUNE_HELP,
        types={"noise_sigma": float},
        choices={"model": ("s5dscr", "s5dscr_s")},
    )


def run_from_args(args: argparse.Namespace) -> int:
    """Run ``xr-s5sr finetune``: read the L1B radiance, fine-tune, export into ``--out``."""
    config = config_from_args(FinetuneConfig, args, start_weights=args.weights)
    config.validate()
    talk = not getattr(args, "quiet", False)
    device = resolve_device(args.device)
    files = expand_paths(args.l1b)
    tiles = l1b_tiles(files, config.band, args.tile_scanlines)
    model = finetune(
        config, tiles, args.out, resume=not args.no_resume, progress=talk, device=device
    )
    data = {
        "source": "L1B files (LR radiance only, no HR)",
        "files": [Path(f).name for f in files],
        "tiles": len(tiles),
        "tile_shapes": [list(shape) for shape in sorted({t.shape for t in tiles})],
    }
    sets = {"finetuning_granules": tiles}
    if args.check:
        sets["check_granules"] = l1b_tiles(
            expand_paths(args.check), config.band, args.tile_scanlines
        )
    checks = {name: check_finetuned(model, config, group, device) for name, group in sets.items()}
    card = export_finetuned(model, config, args.out, l1b_files=files, data=data, checks=checks)
    for name, check in checks.items():
        _report_check(name, check, talk)
    progress_line(talk, f"wrote {card.with_suffix('.safetensors')} and {card}")
    return 0


def _report_check(name: str, check: dict[str, Any], talk: bool) -> None:
    """Print a :func:`check_finetuned` result; warn when the weights are not shown better."""
    progress_line(
        talk,
        f"{name}: reduced-resolution gain {check['gain_db']:+.3f} dB (95 % interval "
        f"{check['low_db']:+.3f} .. {check['high_db']:+.3f}, {check['windows']:.0f} "
        f"blocks): {'better' if check['better'] else 'not shown better'}; SURE "
        f"{check['change_percent']:+.2f} % (measurement domain only, not used: blind in "
        "the null space of A)",
    )
    if not check["better"]:
        warnings.warn(
            f"The fine-tuned weights are not shown better than the start weights on the "
            f"{name} (reduced-resolution gain {check['gain_db']:+.3f} dB, 95 % interval "
            f"{check['low_db']:+.3f} .. {check['high_db']:+.3f}): keep the start weights "
            "for such data.",
            UserWarning,
            stacklevel=3,
        )


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m xr_s5sr.selfsup``: the same as ``xr-s5sr finetune``."""
    return module_main("python -m xr_s5sr.selfsup", __doc__, add_arguments, run_from_args, argv)


__all__ = [
    "CHECKPOINT_NAME",
    "FinetuneConfig",
    "add_arguments",
    "check_finetuned",
    "checkpoint_history",
    "checkpoint_path",
    "expand_paths",
    "export_finetuned",
    "finetune",
    "inference_errors",
    "l1b_tiles",
    "main",
    "run_from_args",
    "split_held_out",
    "start_model",
]


if __name__ == "__main__":
    raise SystemExit(main())
