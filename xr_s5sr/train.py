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
"""

from __future__ import annotations

import argparse
import glob
import math
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from xr_s5sr.bands import SCALE, get_band
from xr_s5sr.degrade import degrade_array
from xr_s5sr.errors import MissingInputError, S5SRArgumentError
from xr_s5sr.weightsfile import save_weights, weights_filename, write_model_card

Pair = tuple[np.ndarray, np.ndarray]  # (HR, LR), each (scanline, ground_pixel, channel) float32


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


# ------------------------------------------------------------------------------------ data
def make_pair(hr: np.ndarray, band: int) -> Pair:
    """HR tile (scanline, ground_pixel, channel) → (HR cropped to 4·LR size, LR) float32."""
    lr = degrade_array(hr.astype(np.float32), band).astype(np.float32)
    h, w = lr.shape[0] * SCALE, lr.shape[1] * SCALE
    return np.ascontiguousarray(hr[:h, :w], dtype=np.float32), lr


def synthetic_pairs(
    band: int,
    seeds: Iterable[int],
    shape: tuple[int, int] = (512, 256),
    n_channel: int | None = None,
    noise_fraction: float = 0.0,
) -> list[Pair]:
    """HR/LR pairs from synthetic scenes (:func:`xr_s5sr.synthetic.make_granule`).

    Parameters
    ----------
    band : int
        S5P band.
    seeds : iterable of int
        One scene per seed.
    shape : (int, int)
        HR tile size (scanline, ground_pixel); ground_pixel is capped by the band's swath.
    n_channel : int, optional
        Spectral channels (default: the band's count).
    noise_fraction : float
        Fraction of scenes with instrument noise on the HR scene (seeded by scene).
    """
    from xr_s5sr.synthetic import make_granule

    width = min(shape[1], get_band(band).ground_pixels)
    pairs = []
    for seed in seeds:
        noisy = bool(np.random.default_rng(seed + 99).random() < noise_fraction)
        hr = make_granule(band, shape[0], width, seed=seed, n_channel=n_channel, noise=noisy)
        pairs.append(make_pair(hr["radiance"].values, band))
    return pairs


def synthetic_split(
    band: int,
    train_scenes: int,
    validation_scenes: int,
    shape: tuple[int, int],
    *,
    seed: int = 0,
    n_channel: int | None = None,
    noise_fraction: float = 0.0,
) -> tuple[list[Pair], list[Pair], dict[str, Any]]:
    """Training and validation pairs from disjoint synthetic scene seeds, and their description.

    Training scenes use seeds ``100000·seed + [0, train_scenes)``, validation scenes
    ``100000·seed + 10000 + [0, validation_scenes)``; the description (seeds, tile, noise
    fraction) goes into the model card.
    """
    base = seed * 100_000
    train_seeds = range(base, base + train_scenes)
    val_seeds = range(base + 10_000, base + 10_000 + validation_scenes)
    train = synthetic_pairs(band, train_seeds, shape, n_channel, noise_fraction)
    validation = synthetic_pairs(band, val_seeds, shape, n_channel, noise_fraction)
    data = {
        "source": "synthetic (xr_s5sr.synthetic, not real observations)",
        "train_seeds": [train_seeds.start, train_seeds.stop],
        "validation_seeds": [val_seeds.start, val_seeds.stop],
        "tile": list(shape),
        "noise_fraction": noise_fraction,
    }
    return train, validation, data


def family_split(
    band: int,
    train_scenes: int,
    validation_scenes: int,
    shape: tuple[int, int],
    *,
    families: Sequence[str] | None = None,
    seed: int = 0,
    n_channel: int | None = None,
    noise_fraction: float = 0.0,
) -> tuple[list[Pair], list[Pair], dict[str, Any]]:
    """Training and validation pairs from the scene families of :mod:`xr_s5sr.families`.

    Scenes cycle through ``families`` (default: the training families, ``texture`` only when
    the reference crops are found); training seeds ``100000·seed + i``, validation seeds from
    ``100000·seed + 50000``. A fraction ``noise_fraction`` of the LR tiles gets Gaussian noise
    of the band's sigma scaled by ``sqrt(scene mean / band mean)`` (photon noise grows with the
    square root of the signal). The description goes into the model card.
    """
    from xr_s5sr.families import TRAINING_FAMILIES, family_scene, load_textures

    textures = load_textures()
    if families is None:
        families = [f for f in TRAINING_FAMILIES if f != "texture" or textures]
    info = get_band(band)
    width = min(shape[1], info.ground_pixels)

    def pairs(first: int, count: int) -> tuple[list[Pair], list[float]]:
        made, brightness = [], []
        for index in range(count):
            scene_seed = seed * 100_000 + first + index
            family = families[index % len(families)]
            hr = family_scene(
                family, band, (shape[0], width), scene_seed, n_channel=n_channel, textures=textures
            )
            pair_hr, lr = make_pair(hr, band)
            rng = np.random.default_rng([scene_seed, 7])
            if rng.random() < noise_fraction and info.noise_sigma and info.mean_radiance:
                sigma = info.noise_sigma * np.sqrt(float(lr.mean()) / info.mean_radiance)
                lr = (lr + sigma * rng.standard_normal(lr.shape)).astype(np.float32)
            made.append((pair_hr, lr))
            brightness.append(float(hr.mean()))
        return made, brightness

    train, train_mean = pairs(0, train_scenes)
    validation, _ = pairs(50_000, validation_scenes)
    data = {
        "source": "synthetic scene families (xr_s5sr.families, not real observations)",
        "families": list(families),
        "texture_crops": sorted(textures) if "texture" in families else [],
        "train_seeds": [seed * 100_000, seed * 100_000 + train_scenes],
        "validation_seeds": [seed * 100_000 + 50_000, seed * 100_000 + 50_000 + validation_scenes],
        "tile": [shape[0], width],
        "noise_fraction": noise_fraction,
        "scene_mean_radiance_range": [min(train_mean), max(train_mean)],
    }
    return train, validation, data


def l1b_pairs(
    paths: Sequence[str | Path], band: int, tile: tuple[int, int] = (512, 256)
) -> list[Pair]:
    """HR/LR pairs from real L1B files: non-overlapping tiles without fill values (paper §Dataset).

    SWIR bands (215 ground pixels) use their full width, as in the paper (512×215).
    """
    from xr_s5sr.l1b import open_l1b

    pairs = []
    for path in paths:
        radiance = open_l1b(path, band=band, chunks=None)["radiance"].transpose(
            "scanline", "ground_pixel", "spectral_channel"
        )
        n_scan, n_pixel = radiance.shape[:2]
        width = min(tile[1], n_pixel)
        for s0 in range(0, n_scan - tile[0] + 1, tile[0]):
            for p0 in range(0, n_pixel - width + 1, width):
                hr = radiance.values[s0 : s0 + tile[0], p0 : p0 + width]
                if np.isfinite(hr).all():
                    pairs.append(make_pair(hr, band))
    return pairs


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
    from xr_s5sr.operators import upsample
    from xr_s5sr.physics import backproject

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
    import torch
    from tqdm.auto import tqdm

    from xr_s5sr.models import build_model, zero_residual

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    get_band(config.band, require_super_resolution=True)
    if config.schedule not in ("plateau", "cosine"):
        raise S5SRArgumentError(f"schedule must be 'plateau' or 'cosine', got {config.schedule!r}.")
    if config.scaling not in ("local", "zscore"):
        raise S5SRArgumentError(f"scaling must be 'local' or 'zscore', got {config.scaling!r}.")
    channels = train[0][1].shape[-1]
    torch.manual_seed(config.seed)
    model = build_model(
        config.model,
        channels,
        config.residual,  # type: ignore[arg-type]
        config.scaling,  # type: ignore[arg-type]
        config.band,
    )
    if config.zero_init_residual:
        if config.residual != "signed":
            raise S5SRArgumentError(
                "zero_init_residual needs residual='signed': the paper's last ReLU would "
                "never pass a gradient from a zero start."
            )
        zero_residual(model)
    if config.init_from:
        from xr_s5sr.weights import load_weights_file

        model.load_state_dict(load_weights_file(config.init_from).state_dict())
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
    optimiser = torch.optim.Adam(model.parameters(), lr=config.learning_rate)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimiser, mode="min", patience=config.plateau_patience, factor=config.plateau_factor
    )
    index = _patch_index(train, config.lr_patch, config.lr_stride, config.lr_margin)
    val_index = _patch_index(validation, config.lr_patch, config.lr_stride, config.lr_margin)
    val_index = val_index[
        np.random.default_rng(config.seed + 1).permutation(len(val_index))[
            : config.validation_patches
        ]
    ]
    result = TrainResult(model=model)
    start_epoch = 0
    ckpt = _checkpoint_path(out)
    if resume and ckpt.exists():
        state = torch.load(ckpt, map_location="cpu", weights_only=True)
        if _resumable(state["config"], config):
            model.load_state_dict(state["model"])
            optimiser.load_state_dict(state["optimiser"])
            scheduler.load_state_dict(state["scheduler"])
            start_epoch = state["epoch"] + 1
            result.history = state["history"]
            result.best_epoch, result.best_val_loss = state["best_epoch"], state["best_val_loss"]
    best_state = (
        torch.load(ckpt, map_location="cpu", weights_only=True)["best_model"]
        if start_epoch
        else {k: v.clone() for k, v in model.state_dict().items()}
    )
    result.baseline_val_loss = _validation_loss(model, validation, val_index, config, baseline=True)
    if not start_epoch:
        # The starting weights are a candidate too (epoch 0): with a zero-initialised residual
        # they are the physics inverse, so the exported model is never worse than it on the
        # validation tiles, even when training finds nothing to add.
        result.best_val_loss, result.best_epoch = (
            _validation_loss(model, validation, val_index, config),
            0,
        )
    rng = np.random.default_rng(config.seed)
    for _ in range(start_epoch):  # keep the patch order identical on resume
        rng.permutation(len(index))
    autocast = config.autocast == "bfloat16"
    started = time.perf_counter()
    for epoch in range(start_epoch, config.epochs):
        order = index[rng.permutation(len(index))]
        steps = len(order) // config.batch_size
        if config.steps_per_epoch is not None:
            steps = min(steps, config.steps_per_epoch)
        model.train()
        running = 0.0
        bar = tqdm(
            range(steps),
            desc=f"band {config.band} {config.model} epoch {epoch + 1}/{config.epochs}",
            disable=None if progress else True,
            leave=False,
        )
        for step in bar:
            if config.schedule == "cosine":
                progress_fraction = (epoch * steps + step) / (config.epochs * steps)
                for group in optimiser.param_groups:
                    group["lr"] = (
                        0.5 * config.learning_rate * (1 + math.cos(math.pi * progress_fraction))
                    )
            lr_batch, hr_batch = _batch(
                train,
                order[step * config.batch_size : (step + 1) * config.batch_size],
                config.lr_patch,
            )
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
                prediction = _predict(model, lr_batch)
            loss = torch.nn.functional.mse_loss(prediction.float(), _target(model, hr_batch))
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            running += float(loss.detach())
            bar.set_postfix(loss=f"{running / (step + 1):.4g}")
        val_loss = _validation_loss(model, validation, val_index, config)
        if config.schedule == "plateau":
            scheduler.step(val_loss)
        result.history.append(
            {
                "epoch": epoch + 1,
                "train_loss": running / max(steps, 1),
                "val_loss": val_loss,
                "baseline_val_loss": result.baseline_val_loss,
                "learning_rate": optimiser.param_groups[0]["lr"],
            }
        )
        if val_loss < result.best_val_loss:
            result.best_val_loss, result.best_epoch = val_loss, epoch + 1
            best_state = {k: v.clone() for k, v in model.state_dict().items()}
        if progress:
            print(
                f"band {config.band} {config.model} epoch {epoch + 1}: "
                f"train {running / max(steps, 1):.4g} "
                f"val {val_loss:.4g} ({result.baseline} {result.baseline_val_loss:.4g})",
                flush=True,
            )
        # Atomic (temporary file, then rename): an interrupted run keeps the last checkpoint.
        from xr_s5sr.store import atomic_output

        with atomic_output(ckpt, overwrite=True, wait_for_dask=False) as tmp:
            torch.save(
                {
                    "config": config.to_dict(),
                    "model": model.state_dict(),
                    "optimiser": optimiser.state_dict(),
                    "scheduler": scheduler.state_dict(),
                    "epoch": epoch,
                    "history": result.history,
                    "best_epoch": result.best_epoch,
                    "best_val_loss": result.best_val_loss,
                    "best_model": best_state,
                },
                tmp,
            )
    model.load_state_dict(best_state)
    result.model = model.eval()
    result.seconds = time.perf_counter() - started
    return result


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
    import torch

    from xr_s5sr._version import __version__

    path = Path(weights_path)
    sha256 = save_weights(
        result.model, path, band=config.band, model_name=config.model, overwrite=overwrite
    )
    model = result.model
    card = {
        "band": config.band,
        "model": config.model,
        "architecture": model.config.to_dict(),
        "parameters": model.parameter_count(),
        "weights_file": path.name,
        "sha256": sha256,
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
            "torch": torch.__version__,
            "xr_s5sr": __version__,
        },
        "validation": {
            "baseline": result.baseline,
            "mse_normalised_model": result.best_val_loss,
            "mse_normalised_baseline": result.baseline_val_loss,
        },
    }
    if extra:
        card.update(extra)
    return write_model_card(path, card)


# ------------------------------------------------------------------------------------ CLI
def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``xr-s5sr train`` (one per :class:`TrainConfig` field plus data options)."""
    parser.add_argument("--band", type=int, required=True, help="S5P band 2-8")
    parser.add_argument(
        "--l1b",
        nargs="*",
        default=None,
        help="L1B files or glob patterns (default: synthetic scenes)",
    )
    parser.add_argument(
        "--synthetic-scenes", type=int, default=32, help="synthetic training scenes"
    )
    parser.add_argument(
        "--validation-scenes", type=int, default=4, help="synthetic validation scenes"
    )
    parser.add_argument(
        "--tile",
        type=int,
        nargs=2,
        default=(512, 256),
        metavar=("SCANLINES", "PIXELS"),
        help="HR tile size (default 512 256, paper)",
    )
    parser.add_argument("--n-channel", type=int, default=None, help="synthetic channels (tests)")
    parser.add_argument(
        "--noise-fraction",
        type=float,
        default=0.0,
        help="fraction of synthetic scenes with instrument noise",
    )
    parser.add_argument("--out", required=True, help="run directory (checkpoints, weights, card)")
    parser.add_argument("--no-resume", action="store_true", help="ignore an existing checkpoint")
    defaults = TrainConfig(band=0)
    for f in fields(TrainConfig):
        if f.name == "band":
            continue
        default = getattr(defaults, f.name)
        flag = f"--{f.name.replace('_', '-')}"
        if isinstance(default, bool):
            parser.add_argument(
                flag,
                action=argparse.BooleanOptionalAction,
                default=default,
                help="(default: %(default)s)",
            )
            continue
        kind = (
            type(default) if default is not None else (int if f.name == "steps_per_epoch" else str)
        )
        parser.add_argument(
            flag,
            type=kind,
            default=default,
            help=f"(default: {default})",
        )


def run_from_args(args: argparse.Namespace) -> int:
    """Run ``xr-s5sr train``: build pairs, fit, export weights and model card into ``--out``."""
    config = TrainConfig(**{f.name: getattr(args, f.name) for f in fields(TrainConfig)})
    quiet = bool(getattr(args, "quiet", False))
    out = Path(args.out)
    if args.l1b:
        files = sorted({p for pattern in args.l1b for p in glob.glob(pattern)})
        if not files:
            raise MissingInputError(f"No L1B file matches {args.l1b}.")
        pairs = l1b_pairs(files, config.band, tuple(args.tile))
        n_val = max(1, len(pairs) // 10)
        train, validation = pairs[:-n_val], pairs[-n_val:]
        data = {
            "source": "L1B files",
            "files": [Path(f).name for f in files],
            "tiles": len(pairs),
            "validation_tiles": n_val,
        }
    else:
        train, validation, data = synthetic_split(
            config.band,
            args.synthetic_scenes,
            args.validation_scenes,
            (args.tile[0], args.tile[1]),
            seed=config.seed,
            n_channel=args.n_channel,
            noise_fraction=args.noise_fraction,
        )
    result = fit(config, train, validation, out, resume=not args.no_resume, progress=not quiet)
    card = export(
        result, config, out / weights_filename(config.band, config.model), data, overwrite=True
    )
    if not quiet:
        print(f"wrote {card.with_suffix('.safetensors')} and {card}")
        print(
            f"validation MSE (normalised): model {result.best_val_loss:.4g}, "
            f"{result.baseline} {result.baseline_val_loss:.4g}"
        )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m xr_s5sr.train``: the same as ``xr-s5sr train``."""
    parser = argparse.ArgumentParser(prog="python -m xr_s5sr.train", description=__doc__)
    parser.add_argument("--quiet", action="store_true", help="no progress output")
    add_arguments(parser)
    return run_from_args(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())


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
