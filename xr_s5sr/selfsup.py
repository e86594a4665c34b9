"""Self-supervised fine-tuning of S5-DSCR on LR granules alone (SPEC §6): no HR needed.

Boundary: numpy LR radiance tiles (scanline, ground_pixel, spectral_channel) in radiance units
in; a fine-tuned :class:`~xr_s5sr.models.S5DSCR` (``scaling="local"``), a checkpoint and an
exported weights file + JSON model card out. The losses are small torch functions on tensors
(batch, channel, scanline, ground_pixel); the degradation ``A`` is
:func:`xr_s5sr.physics.degrade`. No xarray below :func:`l1b_tiles`; torch is imported lazily.

The objective (what is trained, the losses, windows, missing values) is in
:mod:`xr_s5sr.objective`; this module runs it: Adam with a cosine schedule, checkpoints and
resume, selection, checks on other granules, export with a model card, L1B files and the CLI.

Selection where the truth is known (Wald's reduced-resolution protocol on the user's own
data): before training, each granule ``y`` is degraded once more, ``A y + n'`` with the
granule's noise regime kept (:func:`~xr_s5sr.objective.reduce_tile`), and ``y`` is the truth
of that smaller problem. Every ``checkpoint_every`` steps the current weights super-resolve the
reduced granules with the composition inference uses; their per-window errors against ``y``,
paired with those of the start weights, give a gain in dB and a bootstrap 95 % interval
(:func:`~xr_s5sr.objective.compare_errors`). The run returns the checkpoint with the highest
lower bound, or the start weights (with a warning) when no lower bound is above 0: no
candidate beat the start by more than the criterion's own noise. :func:`check_finetuned`
(``xr-s5sr finetune --check``) applies the same test to other granules and reports the
measurement-domain SURE beside it (SURE cannot see the null space of ``A``, where
fine-tuning does its damage; ``docs/finetune.md``).
"""

from __future__ import annotations

import argparse
import glob
import json
import math
import time
import warnings
from collections.abc import Sequence
from dataclasses import fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from xr_s5sr.errors import MissingInputError, S5SRArgumentError, WeightsError
from xr_s5sr.objective import (
    LOSSES,
    FinetuneConfig,
    batch_losses,
    compare_errors,
    prepare_tile,
    reduce_tiles,
    reduced_errors,
    validation_sure,
    window_batch,
    window_index,
)

if TYPE_CHECKING:
    from xr_s5sr.models import S5DSCR

#: File name of the fine-tuning checkpoint in ``out_dir``.
CHECKPOINT_NAME = "finetune_checkpoint.pt"


# ------------------------------------------------------------------------------------ loop
def checkpoint_path(out_dir: str | Path) -> Path:
    """``out_dir/finetune_checkpoint.pt``."""
    return Path(out_dir) / CHECKPOINT_NAME


def start_model(config: FinetuneConfig) -> tuple[S5DSCR, Path, str]:
    """The start module (train mode off), its weights file and that file's sha256."""
    from xr_s5sr.weights import file_sha256, load_weights_file, resolve_weights

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
    import torch

    path = checkpoint_path(out_dir)
    if not path.exists():
        return []
    return list(torch.load(path, map_location="cpu", weights_only=True)["history"])


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
        start has the highest lower bound (bootstrap 95 %), or the start weights (with a
        warning) when no lower bound is above 0 dB; after ``stop_after``, the current weights.
    """
    import torch
    from tqdm.auto import tqdm

    from xr_s5sr.spec import resolve_device
    from xr_s5sr.store import atomic_output

    config.validate()
    device = resolve_device(device)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model, _, start_sha = start_model(config)
    # The detail becomes the removal of these granules' own noise: no gate at inference.
    model.config = replace(model.config, detail_gate=False)
    channels = {t.shape[-1] for t in lr_tiles}
    if channels != {model.channels}:
        raise S5SRArgumentError(
            f"The LR tiles have {sorted(channels)} spectral channels, the start weights expect "
            f"{model.channels}: use granules of band {config.band} with all channels."
        )
    tiles = [prepare_tile(t, config.context, config.band) for t in lr_tiles]
    index = window_index(tiles, config)
    # The truth-known validation is built before any step: a too-small granule fails now.
    reduced = reduce_tiles(tiles, config) if config.select_best else []
    torch.manual_seed(config.seed)
    model = model.to(device).eval()
    optimiser = torch.optim.Adam(model.parameters(), lr=config.learning_rate)
    rng = np.random.default_rng(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    history: list[dict[str, float]] = []
    step = 0
    best: dict[str, Any] = {}
    baseline: list[float] = []  # the start weights' SURE, then reduced-resolution errors
    ckpt = checkpoint_path(out)
    # Checkpoints of the SURE-selected version (no start errors stored) do not match.
    settings = {"config": config.to_dict(), "start_sha256": start_sha, "validation": "reduced+sure"}
    if resume and ckpt.exists():
        state = torch.load(ckpt, map_location="cpu", weights_only=True)
        if json.loads(state["settings"]) == settings:
            model.load_state_dict(state["model"])
            optimiser.load_state_dict(state["optimiser"])
            rng.bit_generator.state = json.loads(state["numpy_rng"])
            generator.set_state(state["torch_rng"])
            history, step = list(state["history"]), int(state["step"])
            best = {"step": int(state["best_step"]), "score": float(state["best_score"])}
            best["model"], baseline[:] = state["best_model"], list(state["start_errors"])
        else:
            warnings.warn(
                f"{ckpt} was written with other settings or start weights: starting afresh "
                "(it will be overwritten).",
                UserWarning,
                stacklevel=2,
            )

    def save() -> None:
        with atomic_output(ckpt, overwrite=True, wait_for_dask=False) as tmp:
            torch.save(
                {
                    "settings": json.dumps(settings),
                    "step": step,
                    "model": model.state_dict(),
                    "optimiser": optimiser.state_dict(),
                    "numpy_rng": json.dumps(rng.bit_generator.state),
                    "torch_rng": generator.get_state(),
                    "history": history,
                    "best_step": best["step"],
                    "best_score": best["score"],
                    "best_model": best["model"],
                    "start_errors": list(baseline),
                },
                tmp,
            )

    def keep(at: int, score: float) -> None:
        state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
        best.update(step=at, score=score, model=state)

    def validate(at: int) -> dict[str, float]:
        """Reduced-resolution gain and SURE change over the start; a candidate counts when
        the gain's lower bound is above 0 and SURE is lower (each criterion is blind where
        the other sees: SURE in the null space of A, the reduced scale to the smoothness
        of its truth); the best lower bound so far is kept."""
        if not config.select_best:
            return {}
        gain = compare_errors(
            np.asarray(baseline[1:]), reduced_errors(model, reduced, config), seed=config.seed + at
        )
        gain["sure_change_percent"] = 100.0 * (
            validation_sure(model, tiles, config) / baseline[0] - 1
        )
        if gain["low_db"] > best["score"] and gain["sure_change_percent"] < 0:
            keep(at, gain["low_db"])
        return gain

    if not best:
        if reduced:  # the start's SURE, then its reduced-resolution errors
            baseline[:] = [validation_sure(model, tiles, config)]
            baseline.extend(reduced_errors(model, reduced, config).tolist())
        keep(0, 0.0)  # the start: a candidate must be better beyond the criterion's noise

    weights = config.weights()
    last = config.steps if stop_after is None else min(config.steps, stop_after)
    running = {name: 0.0 for name in (*LOSSES, "total")}
    counted = 0
    started = time.perf_counter()
    bar = tqdm(
        total=config.steps,
        initial=step,
        desc=f"finetune band {config.band} {config.model}",
        disable=None if progress else True,
        leave=False,
    )
    while step < last:
        for group in optimiser.param_groups:
            group["lr"] = 0.5 * config.learning_rate * (1 + math.cos(math.pi * step / config.steps))
        picks = index[rng.integers(0, len(index), config.batch_size)]
        y, mask, picked = window_batch(tiles, picks, config, device)
        losses = batch_losses(model, y, mask, config, rng, generator, picked)
        total = sum(weights[name] * value for name, value in losses.items())
        optimiser.zero_grad(set_to_none=True)
        total.backward()  # type: ignore[union-attr]
        optimiser.step()
        step += 1
        counted += 1
        for name, value in losses.items():
            running[name] += float(value.detach())
        running["total"] += float(total.detach())  # type: ignore[union-attr]
        bar.update(1)
        bar.set_postfix({k: f"{v / counted:.3g}" for k, v in running.items() if v})
        if step % config.checkpoint_every == 0 or step == last:
            entry = {"step": float(step), "learning_rate": optimiser.param_groups[0]["lr"]}
            entry.update(
                {k: v / counted for k, v in running.items() if k in losses or k == "total"}
            )
            entry["seconds"] = round(time.perf_counter() - started, 2)
            entry.update({f"validation_{k}": v for k, v in validate(step).items()})
            history.append(entry)
            running = {name: 0.0 for name in running}
            counted = 0
            save()
    bar.close()
    if not ckpt.exists():
        save()
    if config.select_best and step >= config.steps:
        model.load_state_dict(best["model"])
        if best["step"] == 0:
            warnings.warn(
                "No checkpoint beat the start weights at reduced resolution (the granules "
                "degraded once more, where their own LR is the truth) by more than the "
                "criterion's noise (lower bound of the bootstrap 95 % interval of the gain "
                "above 0 dB) with a lower SURE: returning the start weights. Fine-tuning gains "
                "on dim, noisy scenes with structure; elsewhere keep the start weights.",
                UserWarning,
                stacklevel=2,
            )
    return model.cpu().eval()


# ------------------------------------------------------------------------------------ check
def check_finetuned(
    model: S5DSCR, config: FinetuneConfig, lr_tiles: Sequence[np.ndarray], device: str = "cpu"
) -> dict[str, Any]:
    """Is ``model`` better than the start weights on ``lr_tiles`` (LR radiance granules, NaN =
    missing)? Scored where the truth is known, at reduced resolution, and by SURE.

    Two criteria, each blind where the other sees. The reduced-resolution protocol
    (:func:`~xr_s5sr.objective.reduce_tiles`: each granule degraded once more by ``A`` with its
    noise regime kept, super-resolved by both networks with the composition inference uses,
    scored against the granule itself) gives the paired per-window gain and its bootstrap
    95 % interval; its truth is smoother than a real HR scene, so it can favour smoothing. The
    measurement-domain SURE (:func:`~xr_s5sr.objective.validation_sure`) cannot see the null
    space of ``A``, where fine-tuning can do its damage. ``better`` is True only when the
    interval's lower bound is above 0 dB *and* SURE is lower: a change within the criterion's
    noise, or one either criterion sees as a loss, is never called an improvement.

    Returns
    -------
    dict
        ``better`` (bool), ``gain_db``, ``low_db``, ``high_db`` (reduced-resolution gain of
        ``model`` over the start and its interval, dB), ``windows``; ``start``, ``finetuned``
        (SURE, (per mille)²) and ``change_percent`` (SURE change; negative: lower misfit).
    """
    tiles = [prepare_tile(t, config.context, config.band) for t in lr_tiles]
    reduced = reduce_tiles(tiles, config)
    start, _, _ = start_model(config)
    start = start.to(device)
    model = model.to(device)
    gain = compare_errors(
        reduced_errors(start, reduced, config),
        reduced_errors(model, reduced, config),
        seed=config.seed,
    )
    before = validation_sure(start, tiles, config)
    after = validation_sure(model, tiles, config)
    model.cpu()
    return {
        "better": bool(gain["low_db"] > 0.0 and after < before),
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
    import torch

    from xr_s5sr._version import __version__
    from xr_s5sr.weightsfile import save_weights, weights_filename, write_model_card

    out = Path(out_dir)
    path = out / weights_filename(config.band, config.model)
    _, start_path, start_sha = start_model(config)
    sha256 = save_weights(
        model,
        path,
        band=config.band,
        model_name=config.model,
        metadata={"training_self_supervised": "true", "training_start_sha256": start_sha},
        overwrite=True,
    )
    if history is None:
        history = checkpoint_history(out)
    card = {
        "band": config.band,
        "model": config.model,
        "architecture": model.config.to_dict(),
        "parameters": model.parameter_count(),
        "weights_file": path.name,
        "sha256": sha256,
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
            "P_mu(backproject_mu(y) + detail(y)) with each granule's automatic mu, the default "
            "of super_resolve; detail gate off"
        ),
        "l1b_files": [Path(f).name for f in l1b_files],
        "steps": config.steps,
        "start_weights": {"file": start_path.name, "sha256": start_sha},
        "checks": checks or {},
        "finetuning": {
            "recipe": config.to_dict(),
            "data": data or {},
            "history": list(history),
            "torch": torch.__version__,
            "xr_s5sr": __version__,
        },
    }
    return write_model_card(path, card)


# ------------------------------------------------------------------------------------ data
def expand_paths(patterns: Sequence[str]) -> list[str]:
    """Files named or matched by ``patterns`` (globs), sorted, without duplicates."""
    files = sorted({p for pattern in patterns for p in (glob.glob(pattern) or [])})
    if not files:
        raise MissingInputError(f"No L1B file matches {list(patterns)}: check the paths/globs.")
    return files


def l1b_tiles(
    paths: Sequence[str | Path], band: int, tile_scanlines: int | None = None
) -> list[np.ndarray]:
    """LR radiance tiles (scanline, ground_pixel, channel), float32, from L1B files.

    Each granule is read whole (a full band-3 orbit is ~3.6 GB of float32) and cut into
    consecutive blocks of ``tile_scanlines`` scanlines (None: one tile per file). Fill values
    are NaN (skipped by the losses).
    """
    from xr_s5sr.l1b import open_l1b

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
_HELP = {
    "model": "preset of the start and exported weights",
    "steps": "optimiser steps",
    "batch_size": "LR windows per step",
    "lr_patch": "central LR pixels per side where the losses are taken",
    "context": "LR pixels of context around the central patch (and kept from missing values)",
    "learning_rate": "Adam learning rate (cosine decay to 0)",
    "consistency_weight": "weight of the measurement-consistency loss",
    "sure_weight": "weight of the SURE loss",
    "equivariance_weight": "weight of the shift/flip equivariance loss",
    "noise_sigma": "LR noise sigma for SURE, mol m-2 nm-1 sr-1 s-1 (default: per-granule estimate)",
    "max_shift": "largest shift of the equivariance transforms, HR pixels",
    "flips": "flips in the equivariance transforms",
    "probe_tau": "SURE finite-difference step relative to the RMS radiance",
    "seed": "seed of windows, transforms and probes",
    "checkpoint_every": "steps between checkpoints (and validation scores)",
    "select_best": (
        "return the checkpoint with the best reduced-resolution gain over the start, or the "
        "start weights when none is better beyond the criterion's noise"
    ),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``xr-s5sr finetune`` (one per :class:`FinetuneConfig` field plus data)."""
    parser.add_argument("--band", type=int, required=True, help="S5P band 2-8")
    parser.add_argument(
        "--l1b", nargs="+", required=True, help="L1B files or glob patterns (LR data)"
    )
    parser.add_argument("--out", required=True, help="run directory (checkpoint, weights, card)")
    parser.add_argument(
        "--weights",
        default=None,
        help="start weights file (default: the shipped weights of --band/--model)",
    )
    parser.add_argument(
        "--tile-scanlines",
        type=int,
        default=None,
        help="cut granules into tiles of this many scanlines (default: whole granules)",
    )
    parser.add_argument(
        "--device", default=None, help="torch device (default: cuda when available, else cpu)"
    )
    parser.add_argument("--no-resume", action="store_true", help="ignore an existing checkpoint")
    parser.add_argument(
        "--check",
        nargs="+",
        default=None,
        help=(
            "other L1B files or globs to score the result on (not trained on): "
            "reduced-resolution gain with a 95 %% interval, and SURE"
        ),
    )
    defaults = FinetuneConfig(band=0)
    for f in fields(FinetuneConfig):
        if f.name in ("band", "start_weights"):
            continue
        default = getattr(defaults, f.name)
        flag = f"--{f.name.replace('_', '-')}"
        text = _HELP[f.name] + ("" if default is None else " (default: %(default)s)")
        if f.name == "model":
            parser.add_argument(flag, default=default, choices=("s5dscr", "s5dscr_s"), help=text)
        elif isinstance(default, bool):
            parser.add_argument(
                flag, action=argparse.BooleanOptionalAction, default=default, help=text
            )
        else:
            kind = float if f.name == "noise_sigma" else type(default)
            parser.add_argument(flag, type=kind, default=default, help=text)


def run_from_args(args: argparse.Namespace) -> int:
    """Run ``xr-s5sr finetune``: read the L1B radiance, fine-tune, export into ``--out``."""
    names = {f.name for f in fields(FinetuneConfig)} - {"start_weights"}
    config = FinetuneConfig(
        **{name: getattr(args, name) for name in names}, start_weights=args.weights
    )
    config.validate()
    from xr_s5sr.spec import resolve_device

    quiet = bool(getattr(args, "quiet", False))
    device = resolve_device(args.device)
    files = expand_paths(args.l1b)
    tiles = l1b_tiles(files, config.band, args.tile_scanlines)
    model = finetune(
        config, tiles, args.out, resume=not args.no_resume, progress=not quiet, device=device
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
        if not quiet:
            print(
                f"{name}: reduced-resolution gain {check['gain_db']:+.3f} dB (95 % interval "
                f"{check['low_db']:+.3f} .. {check['high_db']:+.3f}, {check['windows']:.0f} "
                f"windows): {'better' if check['better'] else 'not shown better'}; SURE "
                f"{check['change_percent']:+.2f} % (measurement domain only)"
            )
        if not check["better"]:
            warnings.warn(
                f"The fine-tuned weights are not shown better than the start weights on the "
                f"{name} (reduced-resolution gain {check['gain_db']:+.3f} dB, 95 % interval "
                f"{check['low_db']:+.3f} .. {check['high_db']:+.3f}): keep the start weights "
                "for such data.",
                UserWarning,
                stacklevel=2,
            )
    if not quiet:
        print(f"wrote {card.with_suffix('.safetensors')} and {card}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m xr_s5sr.selfsup``: the same as ``xr-s5sr finetune``."""
    parser = argparse.ArgumentParser(prog="python -m xr_s5sr.selfsup", description=__doc__)
    parser.add_argument("--quiet", action="store_true", help="no progress output")
    add_arguments(parser)
    return run_from_args(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())


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
    "l1b_tiles",
    "main",
    "run_from_args",
    "start_model",
]
