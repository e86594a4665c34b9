"""Shared pieces of the fine-tuning studies (``finetune_criterion.py``, ``finetune_test.py``).

Scenes whose HR truth is known: a family of :mod:`xr_s5sr.families` at a fixed brightness,
degraded by ``A`` and given one of two noise models; a small S5-DSCR-S start network whose
detail is zero (the start is the physics inverse, so a run can gain or lose from there); one
case's set-up (its own and new granules, the start saved in a temporary run directory, the
settings) and its fine-tuning run; the true PSNR of the default ``super_resolve`` output;
results written per case to JSON so that an interrupted run resumes where it stopped. Kept
small for one CPU thread: 16 channels of band 7, LR granules of 128 x 128 pixels (160 before
issue 25.2 asked for 12 cells of 5 granules).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch

from xr_s5sr.bands import get_band
from xr_s5sr.degrade import degrade_array
from xr_s5sr.engine import super_resolve_array
from xr_s5sr.families import family_scene
from xr_s5sr.metrics import compute_metrics
from xr_s5sr.models import S5DSCR, local_scale, zero_residual
from xr_s5sr.objective import FinetuneConfig
from xr_s5sr.selfsup import finetune
from xr_s5sr.spec import model_spec
from xr_s5sr.weights import save_weights

BAND, CHANNELS, LR_SIZE = 7, 16, 128


def granule(
    family: str,
    seed: int,
    brightness: float,
    noise: str,
    size: int = LR_SIZE,
    channels: int | None = CHANNELS,
) -> tuple[np.ndarray, np.ndarray]:
    """(HR, noisy LR) of one scene, float32 (scanline, ground_pixel, channel): ``size`` LR
    pixels square, ``channels`` spectral channels (None: the band's).

    ``noise="band"``: Gaussian noise of the band's sigma (the sigma of a scene at the band's
    mean radiance, whatever the brightness: dim scenes are noisy). ``noise="photon"``: the
    sigma scaled per pixel by ``sqrt(radiance / band mean)`` (shot noise: dim scenes are less
    noisy in absolute terms, the noise varies across the scene, unlike SURE's model).
    """
    info = get_band(BAND)
    hr = family_scene(
        family, BAND, (4 * size, 4 * size), seed, n_channel=channels, brightness=brightness
    )
    lr = degrade_array(hr, BAND).astype(np.float64)
    sigma = float(info.noise_sigma or 0.0)
    if noise == "photon":
        sigma = sigma * np.sqrt(np.clip(lr, 0.0, None) / float(info.mean_radiance or 1.0))
    elif noise != "band":
        raise ValueError(f"noise must be 'band' or 'photon', got {noise!r}")
    draw = np.random.default_rng([seed, 1]).standard_normal(lr.shape)
    return hr, (lr + sigma * draw).astype(np.float32)


def start_weights(lr: np.ndarray, path: Path) -> S5DSCR:
    """A zero-detail S5-DSCR-S (the physics inverse) normalised on ``lr``, saved to ``path``."""
    torch.manual_seed(0)
    start = S5DSCR(CHANNELS, 1, 3, 1, residual="signed", scaling="local", band=BAND)
    y = torch.from_numpy(lr).permute(2, 0, 1)[None]
    z = y / local_scale(y)
    start.set_normalisation(z.mean(dim=(0, 2, 3)), z.std(dim=(0, 2, 3)))
    start.set_output_scale(1.0)
    zero_residual(start)
    save_weights(start, path, band=BAND, model_name="s5dscr_s", overwrite=True)
    return start


@dataclass(frozen=True)
class Case:
    """One fine-tuning case: (HR, LR) granules to fine-tune on (``own``) and to score on
    (``new``), the start network, the settings and the run directory (removed on exit)."""

    own: list[tuple[np.ndarray, np.ndarray]]
    new: list[tuple[np.ndarray, np.ndarray]]
    start: S5DSCR
    config: FinetuneConfig
    run: Path

    def finetune(self) -> tuple[Any, float]:
        """Fine-tune on the ``own`` LR granules: the returned model and the seconds it took."""
        started = time.perf_counter()
        model = finetune(self.config, [lr for _, lr in self.own], self.run / "ft", progress=False)
        return model, time.perf_counter() - started


@contextmanager
def finetune_case(
    family: str,
    brightness: float,
    noise: str,
    own_seeds: tuple[int, ...],
    new_seeds: tuple[int, ...],
    **settings: Any,
) -> Iterator[Case]:
    """Set up one case in a temporary run directory: the granules of ``family`` with the own
    and new seeds (:func:`granule`), the start normalised on the first own LR granule and
    saved there, and a :class:`FinetuneConfig` of the band from it with ``lr_patch=8`` and
    ``settings`` (steps, learning rate, checkpoints, selection)."""
    own = [granule(family, s, brightness, noise) for s in own_seeds]
    new = [granule(family, s, brightness, noise) for s in new_seeds]
    with tempfile.TemporaryDirectory() as run:
        path = Path(run) / "start.safetensors"
        start = start_weights(own[0][1], path)
        config = FinetuneConfig(band=BAND, lr_patch=8, start_weights=str(path), **settings)
        yield Case(own, new, start, config, Path(run))


def psnr(model: S5DSCR, granules: list[tuple[np.ndarray, np.ndarray]]) -> list[float]:
    """True PSNR (dB, corrected, 16 HR pixels of border dropped) of the default output."""
    spec = model_spec(weights=model, band=BAND, device="cpu")
    return [
        round(float(compute_metrics(hr, super_resolve_array(lr, spec), border=16)["psnr"][0]), 4)
        for hr, lr in granules
    ]


def bootstrap_mean(values: list[float], seed: int = 0, resamples: int = 4000) -> list[float]:
    """Mean and bootstrap 95 % interval of the mean, rounded to 1e-3."""
    data = np.asarray(values, dtype=float)
    picks = np.random.default_rng(seed).integers(0, data.size, (resamples, data.size))
    low, high = np.percentile(data[picks].mean(axis=1), [2.5, 97.5])
    return [round(float(data.mean()), 3), round(float(low), 3), round(float(high), 3)]


def open_results(description: str) -> tuple[Path, dict[str, Any]]:
    """The command line of every script here (``--out FILE``): one torch thread, and the
    results file so far (:func:`load`), so an interrupted run resumes; each session (a first
    run or a resumption) appends its :func:`provenance` to the file's ``"provenance"``."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--out", required=True)
    out = Path(parser.parse_args().out)
    torch.set_num_threads(1)
    record = load(out)
    record.setdefault("provenance", []).append(provenance())
    return out, record


def provenance() -> dict[str, Any]:
    """The code that produces the results: the git commit of this checkout, whether its
    tracked files were unchanged (``tree_clean``; False: the commit alone does not give the
    code), the start time (UTC) and the torch threads."""
    root = Path(__file__).resolve().parents[2]

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True)
        return done.stdout.strip() if done.returncode == 0 else ""

    return {
        "commit": git("rev-parse", "HEAD") or None,
        "tree_clean": git("status", "--porcelain", "--untracked-files=no") == "",
        "started_utc": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "torch_threads": torch.get_num_threads(),
    }


def load(path: Path) -> dict[str, Any]:
    """The results file so far ({"cases": {}} when new)."""
    return json.loads(path.read_text()) if path.exists() else {"cases": {}}


def save(path: Path, record: dict[str, Any]) -> None:
    """Write the results (whole file, then rename: an interruption never leaves half a file)."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(record, indent=1) + "\n")
    tmp.replace(path)
