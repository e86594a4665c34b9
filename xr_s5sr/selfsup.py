"""Self-supervised fine-tuning of S5-DSCR on LR granules alone (SPEC §6): no HR needed.

Boundary: numpy LR radiance tiles (scanline, ground_pixel, spectral_channel) in radiance units
in; a fine-tuned :class:`~xr_s5sr.models.S5DSCR` (``scaling="local"``), a checkpoint and an
exported weights file + JSON model card out. The losses are small torch functions on tensors
(batch, channel, scanline, ground_pixel); the degradation ``A`` is
:func:`xr_s5sr.physics.degrade`. No xarray below :func:`l1b_tiles`; torch is imported lazily.

What is trained: ``f(y) = P_μ(backproject_μ(y) + detail(y), y)``, exactly the default output of
``super_resolve`` with the network's detail gate off (:func:`network`; the fine-tuned network
keeps it off, :attr:`~xr_s5sr.models.ModelConfig.detail_gate`), with each granule's automatic μ
and noise sigma (:func:`xr_s5sr.adaptive.auto_settings`, computed once per granule). Training
the unprojected output instead would shape a part that the projection throws away.

Losses (``y`` the LR window, ``A`` the degradation, ``σ`` the granule's noise sigma), from
:mod:`xr_s5sr.losses`:

* measurement consistency :func:`~xr_s5sr.losses.consistency_loss`:
  ``mean ‖A f(y) − y‖²``;
* SURE :func:`~xr_s5sr.losses.sure_loss`: ``‖A f(y) − y‖² − σ² + 2σ² div(A f)(y)`` per
  element, with a one-probe Monte-Carlo divergence; an unbiased estimate of
  ``‖A f(y) − A x‖²`` for ``y = A x + N(0, σ²)``: the error the data can see;
* robust equivariance :func:`~xr_s5sr.losses.equivariance_loss` (equivariant imaging, Chen
  et al. 2021 and 2022; Scanvic et al., arXiv 2312.11232): ``‖T x̂ − f(A T x̂ + n')‖²`` with
  ``x̂ = f(y)`` detached, ``n'`` fresh noise of sigma ``σ`` and ``T`` a random shift by up to
  ``max_shift`` HR pixels and/or flip (:class:`~xr_s5sr.losses.Transform`): the only term
  that reaches the null space of ``A``, where SURE is blind.

All three are weighted by ``1000 / s`` (``s`` the local radiance level,
:func:`xr_s5sr.models.local_scale`, held fixed): relative errors in per mille, so dim and
bright scenes count alike (the loss values are in per mille squared).

Selection without HR: every ``checkpoint_every`` steps the SURE of the current weights is
scored on fixed windows of the granules (:func:`validation_sure`); the run returns the
checkpoint with the lowest score, or the start weights when none beats them. The same score
on other granules (:func:`check_finetuned`, ``xr-s5sr finetune --check``) tells whether the
fine-tuned weights suit data they were not fitted to.

Context: the network runs on windows. The detail reaches a few LR pixels, but the physics
inverse formally reaches ~58 (``backprojection_reach``). Its influence decays
geometrically: measured on held-out scenes, back-projecting a crop instead of the whole
granule changes the result by 1e-3 (band 3; 6e-3 band 7) of the radiance maximum 4 LR
pixels from the crop edge, 7e-5 (3e-4) at 6 and 3e-6 (5e-6) at 8. So ``f`` runs on LR windows of
``lr_patch + 2·context`` pixels (``context`` 8 by default) and every loss is taken on the
central ``lr_patch × lr_patch`` pixels only, where ``f`` equals the whole-granule ``f`` to
well below the noise. Windows never cross a granule edge, so the zero padding of ``A`` at
image edges never enters a loss.

Missing values: non-finite LR values are replaced (per channel mean of the granule) before
``f`` runs, and every loss skips the pixels within ``context`` LR pixels of them (all
channels, since the network mixes channels); channels missing in a whole granule are filled
with 0 and skipped everywhere. A missing value is never a target and never a pseudo-target.
"""

from __future__ import annotations

import argparse
import glob
import json
import math
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from xr_s5sr.bands import SCALE, get_band
from xr_s5sr.errors import MissingInputError, S5SRArgumentError, WeightsError
from xr_s5sr.losses import Transform, consistency_loss, equivariance_loss, sure_loss
from xr_s5sr.physics import degrade

if TYPE_CHECKING:
    import torch

    from xr_s5sr.models import S5DSCR

#: Per-mille units of the relative errors in every loss (weights ``1000 / s``).
LOSS_UNITS = 1e3
#: File name of the fine-tuning checkpoint in ``out_dir``.
CHECKPOINT_NAME = "finetune_checkpoint.pt"
#: Loss names, in the order of :class:`FinetuneConfig`'s weights.
LOSSES = ("consistency", "sure", "equivariance")


@dataclass
class FinetuneConfig:
    """Settings of one self-supervised fine-tuning run.

    Attributes
    ----------
    band : int
        S5P band 2–8.
    model : {"s5dscr", "s5dscr_s"}
        Preset of the start (and exported) weights.
    steps : int
        Optimiser steps.
    batch_size : int
        LR windows per step.
    lr_patch : int
        Central LR pixels (per side) of a window on which the losses are taken.
    context : int
        LR pixels added on each side of the central patch for ``f`` to see (see module
        docstring); also the distance, in LR pixels, kept from missing values.
    learning_rate : float
        Adam step size, decayed to 0 by a cosine over ``steps``.
    consistency_weight, sure_weight, equivariance_weight : float
        Weights of :func:`consistency_loss`, :func:`sure_loss` and :func:`equivariance_loss`
        (0 switches a term off). SURE already contains the consistency term, corrected for
        the noise; use one of the two.
    noise_sigma : float or None
        Gaussian noise sigma of the LR radiance, mol m-2 nm-1 sr-1 s-1, for SURE (None:
        estimated from each granule, :func:`xr_s5sr.adaptive.auto_settings`; 0: SURE equals
        the consistency loss).
    max_shift : int
        Largest shift of the equivariance transforms, HR pixels (1–3 are sub-LR-pixel shifts).
    flips : bool
        Also draw flips along scanline and ground_pixel in the equivariance transforms.
    probe_tau : float
        Monte-Carlo divergence step of SURE, relative to the RMS radiance of the window.
    seed : int
        Seed of window order, transforms and SURE probes.
    checkpoint_every : int
        Steps between checkpoints (and history entries and validation scores).
    select_best : bool
        Return the weights of the checkpoint (or the start) with the lowest validation SURE
        (:func:`validation_sure` on windows of the granules, no HR); False returns the
        weights of the last step.
    start_weights : str or None
        Weights file to start from (None: the shipped weights of ``band`` and ``model``).
    """

    band: int
    model: str = "s5dscr_s"
    steps: int = 300
    batch_size: int = 1
    lr_patch: int = 16
    context: int = 8
    learning_rate: float = 1e-3
    consistency_weight: float = 0.0
    sure_weight: float = 1.0
    equivariance_weight: float = 1.0
    noise_sigma: float | None = None
    max_shift: int = 3
    flips: bool = True
    probe_tau: float = 1e-3
    seed: int = 0
    checkpoint_every: int = 50
    select_best: bool = True
    start_weights: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (JSON-ready)."""
        return asdict(self)

    @property
    def window(self) -> int:
        """LR pixels per side of the window ``f`` runs on."""
        return self.lr_patch + 2 * self.context

    def sigma(self, estimate: float) -> float:
        """SURE's noise sigma in radiance units: ``noise_sigma``, or when it is None the
        granule's ``estimate``."""
        return float(estimate if self.noise_sigma is None else self.noise_sigma)

    def weights(self) -> dict[str, float]:
        """Loss weights by name (:data:`LOSSES`)."""
        return {
            "consistency": self.consistency_weight,
            "sure": self.sure_weight,
            "equivariance": self.equivariance_weight,
        }

    def validate(self) -> None:
        """Raise :class:`~xr_s5sr.errors.S5SRArgumentError` for settings that cannot run."""
        get_band(self.band, require_super_resolution=True)
        if self.model not in ("s5dscr", "s5dscr_s"):
            raise S5SRArgumentError(f"model must be 's5dscr' or 's5dscr_s', got {self.model!r}.")
        positive = {
            "steps": self.steps,
            "batch_size": self.batch_size,
            "lr_patch": self.lr_patch,
            "checkpoint_every": self.checkpoint_every,
        }
        for name, value in positive.items():
            if int(value) < 1:
                raise S5SRArgumentError(f"{name} must be a positive integer, got {value}.")
        if self.context < 0 or self.max_shift < 0:
            raise S5SRArgumentError(
                f"context and max_shift must be >= 0, got {self.context} and {self.max_shift}."
            )
        weights = self.weights()
        if any(w < 0 for w in weights.values()) or not any(w > 0 for w in weights.values()):
            raise S5SRArgumentError(
                f"Loss weights must be >= 0 with at least one > 0, got {weights}."
            )
        if self.equivariance_weight > 0 and self.max_shift == 0 and not self.flips:
            raise S5SRArgumentError(
                "The equivariance loss needs transforms: set max_shift >= 1 or flips=True, "
                "or equivariance_weight=0."
            )
        if (self.noise_sigma or 0.0) < 0 or self.learning_rate <= 0 or self.probe_tau <= 0:
            raise S5SRArgumentError(
                "noise_sigma must be >= 0 and learning_rate, probe_tau > 0; got "
                f"{self.noise_sigma}, {self.learning_rate}, {self.probe_tau}."
            )


# ------------------------------------------------------------------------------------ data
@dataclass
class LRTile:
    """One LR granule ready for window sampling."""

    data: np.ndarray  # (h, w, C) float32, missing values filled
    usable: np.ndarray  # (h, w) bool: pixels a loss may use
    channels: np.ndarray  # (C,) bool: channels a loss may use
    regularisation: float  # the granule's automatic μ (what inference will use)
    noise_sigma: float  # the granule's estimated noise sigma, radiance units


def prepare_tile(lr: np.ndarray, context: int, band: int) -> LRTile:
    """Fill missing values of an LR tile, mark where the losses may look and read the
    granule's inference settings.

    Parameters
    ----------
    lr : numpy.ndarray
        (scanline, ground_pixel, channel) LR radiance, radiance units; NaN/inf = missing.
    context : int
        LR pixels kept from a missing value (Chebyshev distance).
    band : int
        S5P band (selects ``A`` for the automatic settings).

    Returns
    -------
    LRTile
        Filled float32 data (per channel mean of the finite values; 0 for channels missing
        everywhere), the usable pixel map, the usable channels, and the automatic μ and
        noise sigma of the filled granule (:func:`xr_s5sr.adaptive.auto_settings`, as
        ``super_resolve`` computes them for this granule).
    """
    from scipy import ndimage

    from xr_s5sr.adaptive import auto_settings

    if lr.ndim != 3:
        raise S5SRArgumentError(
            f"LR tiles must be (scanline, ground_pixel, channel) arrays, got shape {lr.shape}."
        )
    data = np.asarray(lr, dtype=np.float32)
    finite = np.isfinite(data)
    channels = finite.any(axis=(0, 1))
    counts = finite.sum(axis=(0, 1))
    sums = np.where(finite, data, 0).sum(axis=(0, 1), dtype=np.float64)
    fill = np.where(counts > 0, sums / np.maximum(counts, 1), 0.0).astype(np.float32)
    filled = data if finite.all() else np.where(finite, data, fill)  # no copy when complete
    bad = ~finite[..., channels].all(axis=-1) if channels.any() else np.ones(data.shape[:2], bool)
    if context > 0 and bad.any():
        bad = ndimage.binary_dilation(bad, np.ones((2 * context + 1,) * 2, bool))
    regularisation, noise_variance = auto_settings(filled, band)
    return LRTile(
        np.ascontiguousarray(filled),
        np.asarray(~bad),
        np.asarray(channels),
        regularisation,
        math.sqrt(noise_variance),
    )


def window_index(tiles: Sequence[LRTile], config: FinetuneConfig) -> np.ndarray:
    """(tile, row, col) of every window (stride ``lr_patch // 2``) with a usable centre pixel."""
    size, patch, context = config.window, config.lr_patch, config.context
    stride = max(1, patch // 2)
    index: list[tuple[int, int, int]] = []
    for k, tile in enumerate(tiles):
        h, w = tile.usable.shape
        for r in range(0, h - size + 1, stride):
            for c in range(0, w - size + 1, stride):
                centre = tile.usable[
                    r + context : r + context + patch, c + context : c + context + patch
                ]
                if centre.any() and tile.channels.any():
                    index.append((k, r, c))
    if not index:
        shapes = sorted({t.usable.shape for t in tiles})
        raise S5SRArgumentError(
            f"No {size}x{size} LR window (lr_patch {patch} + 2 x context {context}) with usable "
            f"pixels fits in the LR tiles (shapes {shapes}): use larger or more complete "
            "granules, or a smaller lr_patch/context."
        )
    return np.asarray(index, dtype=np.int64)


def window_batch(
    tiles: Sequence[LRTile], picks: np.ndarray, config: FinetuneConfig, device: str
) -> tuple[torch.Tensor, torch.Tensor, list[LRTile]]:
    """LR windows (B, C, W, W), their bool loss masks (B, C, W, W) on ``device`` and the
    tile of each window (its μ and noise sigma).

    ``picks`` are rows of :func:`window_index`; the mask is True on the usable central
    ``lr_patch × lr_patch`` pixels of each window and usable channels of its tile.
    """
    import torch

    size, patch, context = config.window, config.lr_patch, config.context
    data, masks = [], []
    for k, r, c in picks:
        tile = tiles[k]
        data.append(tile.data[r : r + size, c : c + size])
        usable = np.zeros((size, size), bool)
        inner = slice(context, context + patch)
        usable[inner, inner] = tile.usable[r : r + size, c : c + size][inner, inner]
        masks.append(usable[..., None] & tile.channels)
    to_tensor = lambda a: torch.from_numpy(np.stack(a)).permute(0, 3, 1, 2).contiguous()  # noqa: E731
    return to_tensor(data).to(device), to_tensor(masks).to(device), [tiles[k] for k, _, _ in picks]


def _upsample_mask(mask: torch.Tensor) -> torch.Tensor:
    """LR bool mask → the 4 × 4 HR pixels of each LR pixel."""
    return mask.repeat_interleave(SCALE, dim=-2).repeat_interleave(SCALE, dim=-1)


def channels_last(
    operator: Callable[..., torch.Tensor], x: torch.Tensor, band: int
) -> torch.Tensor:
    """A physics operator on (B, C, H, W) run channels-last: same values, ~10× faster on CPU.

    The operators of :mod:`xr_s5sr.physics` filter one axis at a time with matrix products;
    with the channels last each product runs over long contiguous rows.
    """
    return operator(x.permute(0, 2, 3, 1), band, axes=(1, 2)).permute(0, 3, 1, 2)


def network(
    model: S5DSCR, regularisation: float = 0.0, consistency: bool = True
) -> Callable[[torch.Tensor], torch.Tensor]:
    """What ``super_resolve`` computes with ``model`` (without the detail gate), as a torch
    function of LR windows (B, C, h, w).

    ``f(y) = P_μ(backproject_μ(y) + detail(y), y)``: the physics inverse damped by
    ``μ = regularisation``, the network's detail and the Tikhonov consistency projection
    (:func:`xr_s5sr.physics.project`). The losses train this composition because the
    projection replaces what the data determine: a loss on the unprojected output would
    train a part that inference throws away. ``consistency=False`` leaves the projection
    out (with ``μ = 0`` that is ``model(y)``).
    """
    from xr_s5sr.physics import backproject, project

    band = int(model.config.band or 0)

    def damped(v: torch.Tensor, band: int, axes: tuple[int, int]) -> torch.Tensor:
        return backproject(v, band, axes=axes, regularisation=regularisation)

    def f(y: torch.Tensor) -> torch.Tensor:
        x = channels_last(damped, y, band) + model.detail(y)
        if not consistency:
            return x
        hr, lr = x.permute(0, 2, 3, 1), y.permute(0, 2, 3, 1)
        return project(hr, lr, band, axes=(1, 2), regularisation=regularisation).permute(0, 3, 1, 2)

    return f


def batch_losses(
    model: S5DSCR,
    y: torch.Tensor,
    mask: torch.Tensor,
    config: FinetuneConfig,
    rng: np.random.Generator,
    generator: torch.Generator,
    tiles: Sequence[LRTile],
) -> dict[str, torch.Tensor]:
    """The weighted-by-``1000/s`` losses of one batch of windows (those with weight > 0).

    Each window runs through :func:`network` with the μ of its granule and SURE uses the
    granule's noise sigma (or ``config.noise_sigma``); the losses are averaged over the
    windows. One equivariance transform is drawn per batch.

    Parameters
    ----------
    model : S5DSCR
        ``scaling="local"`` network.
    y : torch.Tensor
        LR windows (B, C, W, W), finite, radiance units.
    mask : torch.Tensor
        bool (B, C, W, W): elements the losses use (the usable centre of each window).
    config : FinetuneConfig
        Loss weights, noise sigma, transforms.
    rng : numpy.random.Generator
        Draws the equivariance transform.
    generator : torch.Generator
        Draws the SURE probes.
    tiles : sequence of LRTile
        The granule of each window (:func:`window_batch`).

    Returns
    -------
    dict of str to torch.Tensor
        Scalar losses by name, (per mille of the local radiance)².
    """
    from xr_s5sr.models import local_scale
    from xr_s5sr.physics import upsample

    weights = config.weights()
    transform = (
        Transform.random(rng, config.max_shift, config.flips)
        if weights["equivariance"] > 0
        else None
    )

    def a(x: torch.Tensor) -> torch.Tensor:
        return channels_last(degrade, x, config.band)

    totals: dict[str, torch.Tensor] = {}
    for b, tile in enumerate(tiles):
        window, window_mask = y[b : b + 1], mask[b : b + 1]
        scale = local_scale(window).detach()
        w_lr = LOSS_UNITS / scale
        f = network(model, tile.regularisation)
        x_hat = f(window)
        losses: dict[str, torch.Tensor] = {}
        if weights["consistency"] > 0 or weights["sure"] > 0:
            degraded = a(x_hat)
            if weights["consistency"] > 0:
                losses["consistency"] = consistency_loss(degraded, window, window_mask, w_lr)
            if weights["sure"] > 0:
                losses["sure"] = sure_loss(
                    lambda v, f=f: a(f(v)),  # type: ignore[misc]
                    window,
                    config.sigma(tile.noise_sigma),
                    window_mask,
                    w_lr,
                    tau=config.probe_tau,
                    generator=generator,
                    h_y=degraded,
                )
        if transform is not None:
            w_hr = LOSS_UNITS / upsample(scale, axes=(2, 3), kind="linear")
            losses["equivariance"] = equivariance_loss(
                f,
                a,
                x_hat,
                transform,
                _upsample_mask(window_mask),
                w_hr,
                noise_sigma=config.sigma(tile.noise_sigma),
                generator=generator,
            )
        for name, value in losses.items():
            totals[name] = totals[name] + value if name in totals else value
    return {name: value / len(tiles) for name, value in totals.items()}


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
        ``select_best``, the weights of the checkpoint with the lowest validation SURE, or the
        start weights (with a warning) when none beats them; after ``stop_after``, the
        current weights.
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
    torch.manual_seed(config.seed)
    model = model.to(device).eval()
    optimiser = torch.optim.Adam(model.parameters(), lr=config.learning_rate)
    rng = np.random.default_rng(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    history: list[dict[str, float]] = []
    step = 0
    best: dict[str, Any] = {}
    ckpt = checkpoint_path(out)
    settings = {"config": config.to_dict(), "start_sha256": start_sha}
    if resume and ckpt.exists():
        state = torch.load(ckpt, map_location="cpu", weights_only=True)
        if json.loads(state["settings"]) == settings:
            model.load_state_dict(state["model"])
            optimiser.load_state_dict(state["optimiser"])
            rng.bit_generator.state = json.loads(state["numpy_rng"])
            generator.set_state(state["torch_rng"])
            history, step = list(state["history"]), int(state["step"])
            best = {"step": int(state["best_step"]), "score": float(state["best_score"])}
            best["model"] = state["best_model"]
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
                },
                tmp,
            )

    def validate(at: int) -> float:
        score = validation_sure(model, tiles, config)
        if not best or score < best["score"]:
            state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
            best.update(step=at, score=score, model=state)
        return score

    if not best:
        validate(0)  # the start weights' score

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
            entry["validation_sure"] = validate(step)
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
                "No checkpoint scored better than the start weights on the validation SURE "
                f"({best['score']:.4g}): returning the start weights. Try a smaller "
                "learning_rate, more steps or more granules.",
                UserWarning,
                stacklevel=2,
            )
    return model.cpu().eval()


# ------------------------------------------------------------------------------------ check
def sure_score(
    model: S5DSCR,
    lr_tiles: Sequence[np.ndarray],
    config: FinetuneConfig,
    *,
    max_windows: int = 16,
    device: str = "cpu",
) -> float:
    """HR-free score of ``model`` on LR granules: the mean SURE of its default output.

    An unbiased estimate of ``mean ‖w·(A f(y) − A x)‖²`` ((per mille of the local radiance)²,
    lower is better) over up to ``max_windows`` windows spread evenly over the granules, with
    each granule's μ and noise sigma and fixed SURE probes (the same windows and probes for
    every model, so scores compare). It measures the part of the error the data can see: a
    network that removes real signal, e.g. spectra absent from the granules it was fine-tuned
    on, scores worse; an error confined to the null space of ``A`` is invisible to it.

    Parameters
    ----------
    model : S5DSCR
        ``scaling="local"`` network.
    lr_tiles : sequence of numpy.ndarray
        LR radiance granules (scanline, ground_pixel, channel); NaN = missing.
    config : FinetuneConfig
        Band, windows (``lr_patch``, ``context``), ``noise_sigma``, ``probe_tau``.
    max_windows : int, default 16
        Windows scored.
    device : str, default "cpu"
        torch device.

    Returns
    -------
    float
    """
    tiles = [prepare_tile(t, config.context, config.band) for t in lr_tiles]
    score = validation_sure(model.to(device), tiles, config, max_windows=max_windows)
    model.cpu()
    return score


def validation_sure(
    model: S5DSCR, tiles: Sequence[LRTile], config: FinetuneConfig, max_windows: int = 16
) -> float:
    """:func:`sure_score` on prepared tiles, on the model's device (windows spread evenly,
    probes from ``config.seed``)."""
    import torch

    device = str(next(model.parameters()).device)
    index = window_index(tiles, config)
    picks = index[np.unique(np.linspace(0, len(index) - 1, max_windows).round().astype(int))]
    generator = torch.Generator().manual_seed(config.seed)
    scoring = replace(config, consistency_weight=0.0, sure_weight=1.0, equivariance_weight=0.0)
    was_training = model.training
    model.eval()
    scores = []
    with torch.no_grad():
        for pick in picks:
            y, mask, picked = window_batch(tiles, pick[None], config, device)
            losses = batch_losses(
                model, y, mask, scoring, np.random.default_rng(0), generator, picked
            )
            scores.append(float(losses["sure"]))
    model.train(was_training)
    return float(np.mean(scores))


def check_finetuned(
    model: S5DSCR, config: FinetuneConfig, lr_tiles: Sequence[np.ndarray], device: str = "cpu"
) -> dict[str, float]:
    """:func:`sure_score` of the start weights and of ``model`` on ``lr_tiles``.

    Returns
    -------
    dict
        ``start``, ``finetuned`` (SURE, (per mille)²) and ``change_percent`` (negative: the
        fine-tuned network is better on these granules).
    """
    start, _, _ = start_model(config)
    before = sure_score(start, lr_tiles, config, device=device)
    after = sure_score(model, lr_tiles, config, device=device)
    return {"start": before, "finetuned": after, "change_percent": 100.0 * (after / before - 1)}


# ------------------------------------------------------------------------------------ export
def export_finetuned(
    model: S5DSCR,
    config: FinetuneConfig,
    out_dir: str | Path,
    *,
    l1b_files: Sequence[str | Path] = (),
    history: Sequence[dict[str, float]] | None = None,
    data: dict[str, Any] | None = None,
    checks: dict[str, dict[str, float]] | None = None,
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
    from xr_s5sr.store import atomic_output
    from xr_s5sr.weights import save_weights, weights_filename

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
        "sure_checks": checks or {},
        "finetuning": {
            "recipe": config.to_dict(),
            "data": data or {},
            "history": list(history),
            "torch": torch.__version__,
            "xr_s5sr": __version__,
        },
    }
    card_path = path.with_suffix(".json")
    with atomic_output(card_path, overwrite=True, wait_for_dask=False) as tmp:
        tmp.write_text(json.dumps(card, indent=2) + "\n")
    return card_path


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
    "select_best": "return the checkpoint (or start) with the lowest validation SURE",
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
        help="other L1B files or globs to score the result on (SURE, no HR; not trained on)",
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
    quiet = bool(getattr(args, "quiet", False))
    files = expand_paths(args.l1b)
    tiles = l1b_tiles(files, config.band, args.tile_scanlines)
    model = finetune(
        config, tiles, args.out, resume=not args.no_resume, progress=not quiet, device=args.device
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
    checks = {
        name: check_finetuned(model, config, group, args.device or "cpu")
        for name, group in sets.items()
    }
    card = export_finetuned(model, config, args.out, l1b_files=files, data=data, checks=checks)
    for name, check in checks.items():
        if not quiet:
            print(
                f"{name}: SURE start {check['start']:.4g}, fine-tuned {check['finetuned']:.4g} "
                f"({check['change_percent']:+.2f} %, (per mille)^2; lower is better)"
            )
        if check["finetuned"] >= check["start"]:
            warnings.warn(
                f"The fine-tuned weights score no better than the start weights on the {name} "
                "(SURE): keep the start weights for such data, or fine-tune longer or on more "
                "granules.",
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
    "LOSSES",
    "FinetuneConfig",
    "LRTile",
    "add_arguments",
    "batch_losses",
    "check_finetuned",
    "checkpoint_history",
    "checkpoint_path",
    "expand_paths",
    "export_finetuned",
    "finetune",
    "l1b_tiles",
    "main",
    "network",
    "prepare_tile",
    "run_from_args",
    "start_model",
    "sure_score",
    "validation_sure",
    "window_batch",
    "window_index",
]
