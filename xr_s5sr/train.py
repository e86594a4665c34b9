"""Training of S5-DSCR models from L1B files or synthetic scenes (SPEC §4), with checkpoints.

Boundary: numpy HR/LR pairs in, a trained :class:`~xr_s5sr.models.S5DSCR`, a checkpoint directory,
and an exported weights file + JSON model card out. Training pairs are always made with our
degradation model (:func:`xr_s5sr.degrade.degrade_array`), as in the paper.

Default configuration = the paper recipe (LR patches 64×64 at stride 16, HR 256×256 at stride
64, MSE in normalised space, Adam (lr 1e-3), ReduceLROnPlateau on the validation loss (patience
3, factor 0.1), 50 epochs, batch 1, one model per band) with the trustworthy model of SPEC §6:
``scaling="local"`` (scale-equivariant input, signed residual starting at zero) trained to add to
the physics inverse only what it cannot recover. ``--scaling zscore --residual paper
--no-zero-init-residual`` is the paper's network exactly. Every setting can be changed; what was
used is written to the model card.

Objective of ``scaling="local"`` models: with ``b = backproject(y)`` the physics inverse and
``s`` the local scale, the network residual ``R(z)`` is fitted to ``(x − b) / (U_lin(s) ·
output_std)`` (HR truth ``x``). ``x − b`` is (almost) in the null space of the degradation, so
this equals training with the consistency projection in the forward pass plus a penalty on the
part of the residual the projection would remove: the projected output improves on ``b`` and the
unprojected one (``consistency=False``) stays close to it. No physics runs inside the training
loop; ``b`` and ``s`` are computed once per tile with the tile's full context.

The pairs come from :mod:`xr_s5sr.trainpairs` (importable from here too); what the loop shares
with fine-tuning (checkpoint files, progress, the weights + card export, glob expansion) is
:mod:`xr_s5sr.training`, and the flags are :mod:`xr_s5sr.cli_training`.
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from xr_s5sr import training
from xr_s5sr.bands import SCALE, get_band
from xr_s5sr.cli_training import (
    add_common_arguments,
    add_config_arguments,
    add_train_data_arguments,
    config_from_args,
    module_main,
)
from xr_s5sr.errors import S5SRArgumentError
from xr_s5sr.operators import upsample
from xr_s5sr.physics import backproject
from xr_s5sr.trainpairs import (
    Pair,
    family_split,
    l1b_pairs,
    make_pair,
    synthetic_pairs,
    synthetic_split,
)
from xr_s5sr.weights import load_weights_file
from xr_s5sr.weightsfile import weights_filename


@dataclass
class TrainConfig:
    """Settings of one training run (defaults: the paper's recipe).

    Attributes
    ----------
    band : int
        S5P band 2–8.
    model : {"s5dscr", "s5dscr_s"}
        Architecture preset.
    residual : {"paper", "signed"}
        Last-layer design (see :mod:`xr_s5sr.models`).
    scaling : {"local", "zscore"}
        ``"local"``: scale-equivariant network on top of the physics inverse (needs
        ``residual="signed"``); ``"zscore"``: the paper's fixed z-score normalisation.
    lr_patch, lr_stride : int
        LR patch size and stride, pixels (HR: ×4).
    lr_margin : int
        LR pixels skipped at tile edges, whose degradation saw the zero padding (0 = paper).
    batch_size, epochs : int
        Patches per step, passes over the data.
    steps_per_epoch : int or None
        Cap on optimiser steps per epoch (None: every patch once per epoch, as in the paper).
    learning_rate, plateau_patience, plateau_factor : float, int, float
        Adam learning rate and ReduceLROnPlateau settings.
    schedule : {"plateau", "cosine"}
        Learning-rate schedule: ReduceLROnPlateau on the validation loss (paper), or a cosine
        decay from ``learning_rate`` to 0 over all steps of ``epochs``, updated every step. The
        plateau rule needs many epochs to act; short CPU runs use cosine, which ends at a small
        step size and so settles the weights (noisy pointwise weights mix channels and cost
        spectral fidelity).
    autocast : {None, "bfloat16"}
        Mixed precision of the forward pass (weights and loss stay float32).
    normalisation : {"channel", "band"}
        z-score statistics per spectral channel or one scalar per band (paper).
    validation_patches : int
        Patches of the validation split scored after each epoch.
    seed : int
        Seed of patch order and initialisation.
    init_from : str or None
        Weights file to warm-start from (same architecture and channel count).
    zero_init_residual : bool
        Start the last pointwise convolution at zero (``residual="signed"`` only), so training
        starts from bicubic and the residual branch adds only what the loss asks for; with
        PyTorch's default initialisation (paper) the untrained branch adds a large random
        residual that short runs do not fully cancel.
    """

    band: int
    model: str = "s5dscr"
    residual: str = "signed"
    scaling: str = "local"
    lr_patch: int = 64
    lr_stride: int = 16
    lr_margin: int = 0
    batch_size: int = 1
    epochs: int = 50
    steps_per_epoch: int | None = None
    learning_rate: float = 1e-3
    plateau_patience: int = 3
    plateau_factor: float = 0.1
    schedule: str = "plateau"
    autocast: str | None = None
    normalisation: str = "channel"
    validation_patches: int = 64
    seed: int = 0
    init_from: str | None = None
    zero_init_residual: bool = True

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (JSON-ready)."""
        return asdict(self)


@dataclass
class TrainResult:
    """Outcome of :func:`fit`: the best model (by validation loss) and the loss history."""

    model: Any
    history: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int = -1
    best_val_loss: float = math.inf
    baseline_val_loss: float = math.inf
    seconds: float = 0.0

    @property
    def baseline(self) -> str:
        """What the model is compared with: the physics inverse (local) or bicubic (zscore)."""
        return "backprojection" if self.model.config.scaling == "local" else "bicubic"


# ------------------------------------------------------------------------------------ patches
def _patch_index(pairs: Sequence[Pair], patch: int, stride: int, margin: int) -> np.ndarray:
    """(pair, row, col) of every LR patch on the stride grid inside the margins."""
    index: list[tuple[int, int, int]] = []
    for k, (_, lr) in enumerate(pairs):
        rows = range(margin, lr.shape[0] - patch - margin + 1, stride)
        cols = range(margin, lr.shape[1] - patch - margin + 1, stride)
        index.extend((k, r, c) for r in rows for c in cols)
    if not index:
        raise S5SRArgumentError(
            f"No {patch}x{patch} LR patch fits in the tiles (margin {margin}); use smaller "
            "lr_patch/lr_margin or larger tiles."
        )
    return np.asarray(index, dtype=np.int64)


def _batch(pairs: Sequence[Pair], index: np.ndarray, patch: int) -> tuple[Any, Any]:
    import torch

    lr = [pairs[k][1][r : r + patch, c : c + patch] for k, r, c in index]
    hr = [
        pairs[k][0][SCALE * r : SCALE * (r + patch), SCALE * c : SCALE * (c + patch)]
        for k, r, c in index
    ]
    # (B, H, W, C) -> (B, C, H, W): channels are the convolution channels.
    to_tensor = lambda a: torch.from_numpy(np.stack(a)).permute(0, 3, 1, 2).contiguous()  # noqa: E731
    return to_tensor(lr), to_tensor(hr)


def normalisation_stats(pairs: Sequence[Pair], per_channel: bool) -> tuple[np.ndarray, np.ndarray]:
    """Mean and std of the LR training radiance, per channel or one scalar (float64)."""
    stacked = np.concatenate([lr.reshape(-1, lr.shape[-1]) for _, lr in pairs]).astype(np.float64)
    if per_channel:
        return stacked.mean(axis=0), stacked.std(axis=0)
    return np.full(stacked.shape[1], stacked.mean()), np.full(stacked.shape[1], stacked.std())


def local_targets(pairs: Sequence[Pair], band: int) -> list[Pair]:
    """``(x − b) / U_lin(s)`` (HR) and ``y / s`` (LR) of each pair, float32 (``scaling="local"``).

    ``b = backproject(y)`` is the physics inverse and ``s`` the local scale
    (:func:`xr_s5sr.models.local_scale`), both from the whole tile.
    """
    import torch

    from xr_s5sr.models import local_scale

    out = []
    for hr, lr in pairs:
        scale = local_scale(torch.from_numpy(lr).permute(2, 0, 1)[None])[0, 0].numpy()
        hr_scale = upsample(scale, axes=(0, 1), kind="linear")[..., None]
        target = (hr - backproject(lr, band)) / hr_scale
        out.append((target.astype(np.float32), (lr / scale[..., None]).astype(np.float32)))
    return out


def _normalised(pairs: Sequence[Pair], model: Any) -> list[Pair]:
    """Pairs in the network's own units: targets / ``output_std``, inputs z-scored."""
    out_std = model.output_std.numpy()
    mean, std = model.input_mean.numpy(), model.input_std.numpy()
    return [
        ((t / out_std).astype(np.float32), ((z - mean) / std).astype(np.float32)) for t, z in pairs
    ]


def _output_scale(pairs: Sequence[Pair]) -> np.ndarray:
    """Root mean square per channel of the HR targets (float64)."""
    total = sum(np.square(t, dtype=np.float64).sum(axis=(0, 1)) for t, _ in pairs)
    count = sum(t.shape[0] * t.shape[1] for t, _ in pairs)
    return np.sqrt(np.asarray(total) / count)


# ------------------------------------------------------------------------------------ loop
def _checkpoint_path(out_dir: Path) -> Path:
    return out_dir / "checkpoint.pt"


def fit(
    config: TrainConfig,
    train: Sequence[Pair],
    validation: Sequence[Pair],
    out_dir: str | Path,
    *,
    resume: bool = True,
    progress: bool = True,
) -> TrainResult:
    """Train one S5-DSCR model, checkpointing after every epoch into ``out_dir``.

    Parameters
    ----------
    config : TrainConfig
        Settings.
    train, validation : sequence of (HR, LR) pairs
        From :func:`synthetic_pairs` or :func:`l1b_pairs`.
    out_dir : path
        Directory for ``checkpoint.pt`` (model, optimiser, scheduler, epoch, history, best model).
    resume : bool, default True
        Continue from ``out_dir/checkpoint.pt`` when it exists and its settings match ``config``
        (``epochs`` may differ, so a finished run can be extended).
    progress : bool, default True
        Show a tqdm progress bar with the running loss.

    Returns
    -------
    TrainResult
        Best model by validation loss (eval mode, CPU) and the per-epoch history.
    """
    out = training.prepare_out_dir(out_dir)
    _check_config(config)
    model = _initial_model(config, channels=train[0][1].shape[-1])
    train, validation = _training_units(model, config, train, validation)
    run = _Run(model, config, train, validation, _checkpoint_path(out))
    start_epoch = run.resume(resume)
    run.score_start(fresh=not start_epoch)
    rng = np.random.default_rng(config.seed)
    for _ in range(start_epoch):  # keep the patch order identical on resume
        rng.permutation(len(run.index))
    started = time.perf_counter()
    for epoch in range(start_epoch, config.epochs):
        run.epoch(epoch, run.index[rng.permutation(len(run.index))], progress)
    model.load_state_dict(run.best_state)
    run.result.model = model.eval()
    run.result.seconds = time.perf_counter() - started
    return run.result


def _check_config(config: TrainConfig) -> None:
    """Refuse settings no run can use, before any data is touched."""
    get_band(config.band, require_super_resolution=True)
    if config.schedule not in ("plateau", "cosine"):
        raise S5SRArgumentError(f"schedule must be 'plateau' or 'cosine', got {config.schedule!r}.")
    if config.scaling not in ("local", "zscore"):
        raise S5SRArgumentError(f"scaling must be 'local' or 'zscore', got {config.scaling!r}.")
    if config.zero_init_residual and config.residual != "signed":
        raise S5SRArgumentError(
            "zero_init_residual needs residual='signed': the paper's last ReLU would "
            "never pass a gradient from a zero start."
        )


def _initial_model(config: TrainConfig, channels: int) -> Any:
    """The untrained network (seeded), zero residual or warm start as ``config`` asks."""
    import torch

    from xr_s5sr.models import build_model, zero_residual

    torch.manual_seed(config.seed)
    model = build_model(
        config.model,
        channels,
        config.residual,  # type: ignore[arg-type]
        config.scaling,  # type: ignore[arg-type]
        config.band,
    )
    if config.zero_init_residual:
        zero_residual(model)
    if config.init_from:
        model.load_state_dict(load_weights_file(config.init_from).state_dict())
    return model


def _training_units(
    model: Any, config: TrainConfig, train: Sequence[Pair], validation: Sequence[Pair]
) -> tuple[Sequence[Pair], Sequence[Pair]]:
    """Set the model's normalisation (and output scale) from the training pairs and return the
    pairs in the units the loss is taken in."""
    import torch

    local = config.scaling == "local"
    if local:
        train, validation = (
            local_targets(train, config.band),
            local_targets(validation, config.band),
        )
        model.set_output_scale(torch.from_numpy(np.maximum(_output_scale(train), 1e-30)).float())
    mean, std = normalisation_stats(train, config.normalisation == "channel")
    model.set_normalisation(
        torch.from_numpy(mean).float(), torch.from_numpy(np.maximum(std, 1e-30)).float()
    )
    if local:
        train, validation = _normalised(train, model), _normalised(validation, model)
    return train, validation


class _Run:
    """One training run: optimiser, scheduler, patch grids, result so far and the best weights."""

    def __init__(
        self,
        model: Any,
        config: TrainConfig,
        train: Sequence[Pair],
        validation: Sequence[Pair],
        checkpoint: Path,
    ) -> None:
        import torch

        self.model, self.config, self.checkpoint = model, config, checkpoint
        self.train, self.validation = train, validation
        self.optimiser = torch.optim.Adam(model.parameters(), lr=config.learning_rate)
        self.scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
            self.optimiser,
            mode="min",
            patience=config.plateau_patience,
            factor=config.plateau_factor,
        )
        grid = (config.lr_patch, config.lr_stride, config.lr_margin)
        self.index = _patch_index(train, *grid)
        val_index = _patch_index(validation, *grid)
        order = np.random.default_rng(config.seed + 1).permutation(len(val_index))
        self.val_index = val_index[order[: config.validation_patches]]
        self.result = TrainResult(model=model)
        self.best_state: dict[str, Any] = {}

    def resume(self, resume: bool) -> int:
        """Load the checkpoint when it matches the settings; the first epoch still to run."""
        state = training.load_checkpoint(
            self.checkpoint, lambda s: _resumable(s["config"], self.config), resume=resume
        )
        if state is None:
            self.best_state = training.state_copy(self.model)
            return 0
        self.model.load_state_dict(state["model"])
        self.optimiser.load_state_dict(state["optimiser"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.result.history = state["history"]
        self.result.best_epoch, self.result.best_val_loss = (
            state["best_epoch"],
            state["best_val_loss"],
        )
        self.best_state = state["best_model"]
        return int(state["epoch"]) + 1

    def loss(self, baseline: bool = False) -> float:
        """Validation loss of the current weights (or of the baseline)."""
        return _validation_loss(self.model, self.validation, self.val_index, self.config, baseline)

    def score_start(self, fresh: bool) -> None:
        """Baseline loss; on a fresh run the start weights are the epoch-0 candidate."""
        self.result.baseline_val_loss = self.loss(baseline=True)
        if fresh:
            # With a zero-initialised residual the start is the physics inverse, so the exported
            # model is never worse than it on the validation tiles, even when training finds
            # nothing to add.
            self.result.best_val_loss, self.result.best_epoch = self.loss(), 0

    def epoch(self, epoch: int, order: np.ndarray, progress: bool) -> None:
        """One pass over ``order`` (patch rows), then validation, schedule, record, checkpoint."""
        config, result = self.config, self.result
        steps = len(order) // config.batch_size
        if config.steps_per_epoch is not None:
            steps = min(steps, config.steps_per_epoch)
        train_loss = self._steps(epoch, order, steps, progress) / max(steps, 1)
        val_loss = self.loss()
        if config.schedule == "plateau":
            self.scheduler.step(val_loss)
        result.history.append(
            {
                "epoch": epoch + 1,
                "train_loss": train_loss,
                "val_loss": val_loss,
                "baseline_val_loss": result.baseline_val_loss,
                "learning_rate": self.optimiser.param_groups[0]["lr"],
            }
        )
        if val_loss < result.best_val_loss:
            result.best_val_loss, result.best_epoch = val_loss, epoch + 1
            self.best_state = training.state_copy(self.model)
        training.progress_line(
            progress,
            f"band {config.band} {config.model} epoch {epoch + 1}: train {train_loss:.4g} "
            f"val {val_loss:.4g} ({result.baseline} {result.baseline_val_loss:.4g})",
        )
        self.save(epoch)

    def _steps(self, epoch: int, order: np.ndarray, steps: int, progress: bool) -> float:
        """``steps`` optimiser steps over ``order``; the sum of their losses."""
        import torch

        config, model, optimiser = self.config, self.model, self.optimiser
        model.train()
        running = 0.0
        autocast = config.autocast == "bfloat16"
        size = config.batch_size
        desc = f"band {config.band} {config.model} epoch {epoch + 1}/{config.epochs}"
        bar = training.progress_bar(desc, enabled=progress, iterable=range(steps))
        for step in bar:
            if config.schedule == "cosine":
                fraction = (epoch * steps + step) / (config.epochs * steps)
                for group in optimiser.param_groups:
                    group["lr"] = 0.5 * config.learning_rate * (1 + math.cos(math.pi * fraction))
            lr_batch, hr_batch = _batch(
                self.train, order[step * size : (step + 1) * size], config.lr_patch
            )
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
                prediction = _predict(model, lr_batch)
            loss = torch.nn.functional.mse_loss(prediction.float(), _target(model, hr_batch))
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            running += float(loss.detach())
            bar.set_postfix(loss=f"{running / (step + 1):.4g}")
        return running

    def save(self, epoch: int) -> None:
        """Checkpoint after ``epoch``: everything a resumed run needs, and the best weights."""
        training.save_checkpoint(
            self.checkpoint,
            {
                "config": self.config.to_dict(),
                "model": self.model.state_dict(),
                "optimiser": self.optimiser.state_dict(),
                "scheduler": self.scheduler.state_dict(),
                "epoch": epoch,
                "history": self.result.history,
                "best_epoch": self.result.best_epoch,
                "best_val_loss": self.result.best_val_loss,
                "best_model": self.best_state,
            },
        )


def _resumable(saved: dict[str, Any], config: TrainConfig) -> bool:
    """A checkpoint continues a run whose settings match, except a changed number of epochs."""
    current = config.to_dict()
    return {k: v for k, v in saved.items() if k != "epochs"} == {
        k: v for k, v in current.items() if k != "epochs"
    }


def _predict(model: Any, lr_batch: Any) -> Any:
    """Network output in its training units (local: residual ``R``; zscore: HR z-scores)."""
    if model.config.scaling == "local":
        return model.residual_normalised(lr_batch)
    return model.forward_normalised(model.normalise(lr_batch))


def _target(model: Any, hr_batch: Any) -> Any:
    return hr_batch if model.config.scaling == "local" else model.normalise(hr_batch)


def _baseline(model: Any, lr_batch: Any) -> Any:
    """The baseline in training units: physics inverse (residual 0) or bicubic."""
    import torch

    if model.config.scaling == "local":
        n, c, h, w = lr_batch.shape
        return torch.zeros((n, c, SCALE * h, SCALE * w))
    return model.upsample(model.normalise(lr_batch))


def _validation_loss(
    model: Any,
    pairs: Sequence[Pair],
    index: np.ndarray,
    config: TrainConfig,
    baseline: bool = False,
) -> float:
    """Mean MSE in training units over the validation patches (of the baseline if asked)."""
    import torch

    model.eval()
    total = 0.0
    with torch.inference_mode():
        for start in range(0, len(index), 8):
            lr_batch, hr_batch = _batch(pairs, index[start : start + 8], config.lr_patch)
            prediction = _baseline(model, lr_batch) if baseline else _predict(model, lr_batch)
            total += float(
                torch.nn.functional.mse_loss(prediction, _target(model, hr_batch))
            ) * len(lr_batch)
    return total / len(index)


# ------------------------------------------------------------------------------------ export
def export(
    result: TrainResult,
    config: TrainConfig,
    weights_path: str | Path,
    data_description: dict[str, Any],
    extra: dict[str, Any] | None = None,
    overwrite: bool = False,
) -> Path:
    """Write the trained weights (safetensors) and a JSON model card beside them.

    Returns
    -------
    pathlib.Path
        Path of the model card (``<weights stem>.json``).
    """
    model = result.model
    card = {
        "normalisation": {
            "kind": config.normalisation,
            "scaling": config.scaling,
            "mean_of_channel_means": float(model.input_mean.mean()),
            "mean_of_channel_stds": float(model.input_std.mean()),
            "units": "mol m-2 nm-1 sr-1 s-1"
            if config.scaling == "zscore"
            else "radiance / local scale",
        },
        "training": {
            "recipe": config.to_dict(),
            "data": data_description,
            "epochs_run": len(result.history),
            "best_epoch": result.best_epoch,
            "seconds": round(result.seconds, 1),
            "history": result.history,
            **training.software(),
        },
        "validation": {
            "baseline": result.baseline,
            "mse_normalised_model": result.best_val_loss,
            "mse_normalised_baseline": result.baseline_val_loss,
        },
        **(extra or {}),
    }
    return training.export_model(
        model,
        Path(weights_path),
        band=config.band,
        model_name=config.model,
        card=card,
        overwrite=overwrite,
    )


# ------------------------------------------------------------------------------------ CLI
def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``xr-s5sr train`` (one per :class:`TrainConfig` field plus data options)."""
    add_common_arguments(parser, outputs="checkpoints, weights, card")
    add_train_data_arguments(parser)
    add_config_arguments(parser, TrainConfig(band=0), types={"steps_per_epoch": int})


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m xr_s5sr.train``: the same as ``xr-s5sr train``."""
    return module_main("python -m xr_s5sr.train", __doc__, add_arguments, run_from_args, argv)


def _pairs_from_args(
    args: argparse.Namespace, config: TrainConfig
) -> tuple[list[Pair], list[Pair], dict[str, Any]]:
    """Training and validation pairs named by the command line, and their description."""
    if not args.l1b:
        return synthetic_split(
            config.band,
            args.synthetic_scenes,
            args.validation_scenes,
            (args.tile[0], args.tile[1]),
            seed=config.seed,
            n_channel=args.n_channel,
            noise_fraction=args.noise_fraction,
        )
    files = training.expand_paths(args.l1b)
    pairs = l1b_pairs(files, config.band, tuple(args.tile))
    n_val = max(1, len(pairs) // 10)
    data = {
        "source": "L1B files",
        "files": [Path(f).name for f in files],
        "tiles": len(pairs),
        "validation_tiles": n_val,
    }
    return pairs[:-n_val], pairs[-n_val:], data


def run_from_args(args: argparse.Namespace) -> int:
    """Run ``xr-s5sr train``: build pairs, fit, export weights and model card into ``--out``."""
    config = config_from_args(TrainConfig, args)
    talk = not getattr(args, "quiet", False)
    out = Path(args.out)
    train, validation, data = _pairs_from_args(args, config)
    result = fit(config, train, validation, out, resume=not args.no_resume, progress=talk)
    card = export(
        result, config, out / weights_filename(config.band, config.model), data, overwrite=True
    )
    training.progress_line(talk, f"wrote {card.with_suffix('.safetensors')} and {card}")
    training.progress_line(
        talk,
        f"validation MSE (normalised): model {result.best_val_loss:.4g}, "
        f"{result.baseline} {result.baseline_val_loss:.4g}",
    )
    return 0


__all__ = [
    "TrainConfig",
    "TrainResult",
    "add_arguments",
    "export",
    "family_split",
    "fit",
    "l1b_pairs",
    "local_targets",
    "main",
    "make_pair",
    "normalisation_stats",
    "run_from_args",
    "synthetic_pairs",
    "synthetic_split",
]


if __name__ == "__main__":
    raise SystemExit(main())
