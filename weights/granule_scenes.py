"""Scenes, noise, scores and run records shared by the pre-registered development set
(``tune_dev.py``) and test set (``evaluate_test.py``).

The two sets are disjoint by construction: every scene seed is
``base + 100000·band + 1000·family + 100·brightness + k`` with ``base`` = :data:`DEV_SEED`
(development: every hyperparameter is chosen there) or :data:`TEST_SEED` (test: scored once per
release, never used to decide anything), ``k < 100``; training uses seeds below 3·10⁶
(``xr_s5sr.trainpairs``), ``validate_shipped.py`` 500 000+, ``evaluate_shipped.py`` 900 000+,
``robustness_check.py`` 71–72. The ``texture`` family draws from crop rows 0–319 on the
development set (the rows training used) and from rows 352–511 on the test set (never used in
training), mirrored along scanline to reach granule length. The ``continuum`` family is
reserved for the test set: no choice is made on it.

Noise: photon noise at the band's SNR (:func:`xr_s5sr.noise.photon_sigma`: the band's σ at its
mean radiance, growing with the square root of each LR value), seeded by the scene.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from xr_s5sr.degrade import degrade_array
from xr_s5sr.families import FAMILIES
from xr_s5sr.metrics import compute_metrics
from xr_s5sr.noise import photon_sigma
from xr_s5sr.spectral import line_depth_error
from xr_s5sr.versions import run_record

ROOT = Path(__file__).resolve().parents[1]
#: First seed of the development set and of the test set (disjoint ranges of 10⁶).
DEV_SEED = 7_000_000
TEST_SEED = 8_000_000
#: Brightness levels (factor on the band's mean radiance): the band's mean and 3 % of it.
BRIGHTNESS = {"bright": 1.0, "dim": 0.03}
#: HR pixels left out along ground_pixel on each side (the swath edge of a scene this narrow
#: is degraded with the toolbox's zero padding).
BORDER = 16
#: Reference crops' scanlines of each set (``xr_s5sr.families``: training 0–319, held out
#: 352–511).
DEV_TEXTURE_ROWS = (0, 320)
TEST_TEXTURE_ROWS = (352, 512)


def scene_seed(base: int, band: int, family: str, brightness: str, k: int) -> int:
    """The seed of scene ``k`` (< 100) of a band × family × brightness cell of a set."""
    level = list(BRIGHTNESS).index(brightness)
    return base + 100_000 * band + 1000 * FAMILIES.index(family) + 100 * level + k


def mirrored_textures(
    textures: dict[str, np.ndarray], rows: tuple[int, int], length: int
) -> tuple[dict[str, np.ndarray], tuple[int, int]]:
    """Crops cut to ``rows`` and mirrored along scanline (rows, reversed rows, …) to at least
    ``length`` rows, and the row range of ``family_scene`` that covers them all.

    The held-out rows of each crop (160) are shorter than a granule-scale scene; reflection
    keeps their texture statistics without drawing on the rows training used.
    """
    out = {}
    for detector, crop in textures.items():
        part = crop[rows[0] : rows[1]]
        pieces = [part if i % 2 == 0 else part[::-1] for i in range(-(-length // len(part)))]
        out[detector] = np.concatenate(pieces)
    size = min(len(c) for c in out.values()) if out else 0
    return out, (0, size)


def observe(hr: np.ndarray, band: int, seed: int, noisy: bool) -> np.ndarray:
    """LR observation of an HR scene: the toolbox degradation, plus photon noise at the band's
    SNR when ``noisy`` (seeded by the scene)."""
    lr = degrade_array(hr, band).astype(np.float32)
    if noisy:
        rng = np.random.default_rng([seed, 17])
        lr += (photon_sigma(lr, band) * rng.standard_normal(lr.shape)).astype(np.float32)
    return lr


def score_methods(
    hr: np.ndarray,
    estimates: dict[str, np.ndarray],
    rows: int,
    spectral: bool = True,
) -> dict[str, dict[str, float]]:
    """PSNR (dB), SAM (°), line-depth error and negative fraction of each estimate.

    ``rows`` HR scanlines are left out at each end of the scene (where the projection meets
    the zero padding of a granule's first and last scanlines), :data:`BORDER` pixels at each
    side along ground_pixel. ``spectral=False`` skips the line-depth error (development set).
    """
    keep = (slice(rows, hr.shape[0] - rows), slice(BORDER, hr.shape[1] - BORDER))
    names = list(estimates)
    values = compute_metrics(hr[keep], *(estimates[n][keep] for n in names))
    out = {}
    for i, name in enumerate(names):
        record = {"psnr": float(values["psnr"][i]), "sam": float(values["sam"][i])}
        if spectral:
            record["line_depth_error"] = line_depth_error(hr[keep], estimates[name][keep])
            record["negative_fraction"] = float(np.mean(estimates[name][keep] < 0))
        out[name] = record
    return out


def bootstrap_interval(
    values: Sequence[float], seed: int = 0, resamples: int = 10_000
) -> tuple[float, float]:
    """95 % bootstrap interval (2.5 and 97.5 percentiles) of the mean of ``values``."""
    data = np.asarray(values, dtype=float)
    picks = np.random.default_rng(seed).integers(0, data.size, (resamples, data.size))
    low, high = np.percentile(data[picks].mean(axis=1), [2.5, 97.5])
    return float(low), float(high)


def clean_commit(allow_dirty: bool, commit: str | None = None) -> str:
    """The checkout's commit (``xr_s5sr.versions.run_record``, or ``commit`` when given),
    refusing uncommitted changes to tracked files unless ``allow_dirty`` (then
    ``"<hash>+uncommitted"``): a committed JSON must name the code that produced it."""
    if commit is None:
        commit = str(run_record()["commit"])
    if not allow_dirty and (commit.endswith("+uncommitted") or len(commit) != 40):
        raise SystemExit(
            f"The checkout is at {commit!r}: uncommitted changes to tracked files, or not a "
            "git checkout (see `git status`). Commit first (the JSON records the commit), or "
            "pass --allow-dirty for a run that must not be committed."
        )
    return commit


def read_checkpoint(path: Path) -> dict[str, Any]:
    """Records of a JSON-lines checkpoint by key (an interrupted last line is dropped)."""
    done: dict[str, Any] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            done[record["key"]] = record
    return done


def append_checkpoint(path: Path, record: dict[str, Any]) -> None:
    """Append one record (one line) to the checkpoint."""
    with path.open("a") as handle:
        handle.write(json.dumps(record) + "\n")


def write_json(path: Path, result: dict[str, Any]) -> None:
    """Write the whole file, then rename: an interruption never leaves half a file."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(result, indent=1) + "\n")
    tmp.replace(path)
