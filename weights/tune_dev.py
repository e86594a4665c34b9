"""Make every hyperparameter choice of the default on the DEVELOPMENT set, and record it.

Run from the repository root (about 25 minutes on one core; resumable: an interrupted run
continues from ``weights/tuning_dev.partial.jsonl``)::

    python weights/tune_dev.py            # -> weights/tuning_dev.json
    python weights/tune_dev.py --quick    # two bands, two families: a smoke run

The development set (``granule_scenes``: seeds from 7 000 000, disjoint from the test set's)
is bands 2–8 × families ``solar``, ``texture`` (crop rows 0–319), ``edges``, ``smooth`` ×
brightness 1× and 0.03× the band's mean radiance,
:data:`SEEDS` scene(s) per cell, HR scenes of 192 × 96 pixels (48 × 24 LR), photon noise at the
band's SNR, scored without 16 HR pixels at each edge. The ``continuum`` family is not used: it
stays unseen by every choice, for the test set. Each choice evaluates a small grid, picks by a
rule fixed here before the run, and records the chosen value, the shipped value and the margin
(how much better the choice is than the runner-up by the rule's own measure; values within
:data:`TIE_DB` of the best are tied, and a tie keeps the shipped value). This script
changes no constant of the package: when the development set picks another value than the
shipped one, the JSON says so (``agrees_with_shipped``) and a person decides.

Choices
    ``tau`` (``adaptive.DISCREPANCY_FACTOR``, Morozov's factor): physics inverse
    (``model="backprojection"``, automatic μ) for each τ of :data:`TAUS`; rule: the largest mean
    PSNR gain over bicubic among the τ with no scene below bicubic (if none, the largest
    smallest gain).
    ``detail_range`` (``adaptive.DETAIL_RANGE``, the detail gate's ramp): the default
    (``s5dscr``) at the shipped τ = 3 for each ramp of :data:`RAMPS`, on the bands whose
    network changes the physics inverse, :data:`GATE_BANDS`; rule: the largest mean PSNR gain
    over the physics inverse.
    ``fallback`` (``validate_shipped.THRESHOLD_DB``, a network whose mean gain over the physics
    inverse on some training family is below it is replaced by the physics inverse): the
    per-family gains of the shipped default (band 6: the network before its fallback, commit
    :data:`BAND6_BEFORE`), and the decision at each threshold of :data:`FALLBACK_THRESHOLDS`.
    ``window`` (``adaptive.WINDOW``): from the JSON of ``docs/scripts/settings_window.py``
    (band-7 development scenes, seed 2300): the longest window whose reads stay within 256 LR
    scanlines, when a longer one exceeds them (``--window-only`` redoes this choice alone in an
    existing JSON: it reads no scene).
    ``ood_level`` (``network_tiles.OUT_OF_DISTRIBUTION_LEVEL``): the engine's statistic (median over
    pixels of the mean squared normalised network input) on :data:`OOD_SEEDS` scenes per band
    and family of random brightness (32 × 24 LR), training families versus out-of-family ones
    (``edges``, ``smooth`` and ``plumes`` of ``robustness_check.py``); rule: twice the largest
    value on training-family scenes (no false alarm on the development set, with a factor 2
    for what it did not sample), to two significant digits.
"""

from __future__ import annotations

import argparse
import contextlib
import re
import subprocess
import tempfile
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from granule_scenes import (
    BRIGHTNESS,
    DEV_SEED,
    DEV_TEXTURE_ROWS,
    ROOT,
    append_checkpoint,
    clean_commit,
    observe,
    read_checkpoint,
    scene_seed,
    score_methods,
    write_json,
)
from robustness_check import plumes
from validate_shipped import THRESHOLD_DB

from xr_s5sr import adaptive, network_tiles
from xr_s5sr.engine import super_resolve_array
from xr_s5sr.errors import OutOfDistributionWarning
from xr_s5sr.families import HELD_OUT_FAMILIES, TRAINING_FAMILIES, family_scene, load_textures
from xr_s5sr.spec import model_spec, resolve_runner
from xr_s5sr.versions import run_record
from xr_s5sr.weights import available_weights

BANDS = (2, 3, 4, 5, 6, 7, 8)
#: ``absorption`` and ``mixture`` are left out, the gate grid runs on two bands and the OOD
#: statistic on two seeds: this set had to run on a shared two-core machine (load 15) within
#: one session.
FAMILIES = ("solar", "texture", "edges", "smooth")
#: Bands whose default is scored for every ramp of the gate (one UV–NIR, one SWIR band whose
#: networks change the physics inverse); the others only at the shipped ramp (fallback rule).
GATE_BANDS = (5, 7)
#: HR (scanline, ground_pixel): 48 × 24 LR (two settings windows). At least 17 LR ground
#: pixels, or the automatic statistics (8 LR pixels left out at each swath edge) are off.
SHAPE = (192, 96)
SEEDS = 1
TAUS = (2.0, 3.0, 5.0)
RAMPS = ((1e-6, 1e-5), (3e-6, 3e-5), (1e-5, 1e-4))
FALLBACK_THRESHOLDS = (-0.05, -0.02, 0.0)
#: Grid values whose criterion is within this of the best are tied; a tie keeps the shipped
#: value (dB: the smallest difference the old evaluation counted as a loss).
TIE_DB = 0.005
#: The last commit whose band-6 weights had their residual (validate_shipped.py zeroed it).
BAND6_BEFORE = "ce889813e0b78de3ccb3414a791e41c4f6e79486"
OOD_SHAPE = (128, 96)
OOD_SEEDS = 2
OOD_FAMILIES = TRAINING_FAMILIES + HELD_OUT_FAMILIES + ("plumes",)
SHIPPED = {
    "tau": adaptive.DISCREPANCY_FACTOR,
    "detail_range": list(adaptive.DETAIL_RANGE),
    "window": adaptive.WINDOW,
    "ood_level": network_tiles.OUT_OF_DISTRIBUTION_LEVEL,
    "fallback_threshold_db": THRESHOLD_DB,
}


@contextlib.contextmanager
def patched(module: Any, name: str, value: Any) -> Iterator[None]:
    """Set a module constant for the duration (the functions read it at call time)."""
    old = getattr(module, name)
    setattr(module, name, value)
    try:
        yield
    finally:
        setattr(module, name, old)


def has_residual(band: int) -> bool:
    """Whether the shipped default of a band differs from the physics inverse: its card's
    validation neither zeroed its residual nor found it changing any family's PSNR (band 3's
    network changes it by 0.0000 dB: the gate grid is not run there)."""
    import json

    card = json.loads((ROOT / "weights" / f"s5dscr_band{band}.json").read_text())
    validation = card.get("validation_against_physics", {})
    zeroed = validation.get("decision", "kept").startswith("residual zeroed")
    return not zeroed and any(g != 0 for g in validation.get("families", {"": 1}).values())


def band6_before() -> Path | None:
    """The band-6 S5-DSCR weights before the fallback, from git history (None: unavailable)."""
    target = Path(tempfile.gettempdir()) / f"s5dscr_band6_{BAND6_BEFORE[:8]}.safetensors"
    if not target.exists():
        blob = subprocess.run(
            ["git", "show", f"{BAND6_BEFORE}:weights/s5dscr_band6.safetensors"],
            capture_output=True,
            cwd=ROOT,
            check=False,
        )
        if blob.returncode != 0:
            return None
        target.write_bytes(blob.stdout)
    return target


def run_scene(band: int, family: str, level: str, k: int, textures: dict) -> dict[str, Any]:
    """PSNR of bicubic, the physics inverse per τ and the default per ramp on one scene."""
    seed = scene_seed(DEV_SEED, band, family, level, k)
    hr = family_scene(
        family,
        band,
        SHAPE,
        seed,
        brightness=BRIGHTNESS[level],
        textures=textures,
        texture_rows=DEV_TEXTURE_ROWS,
    )
    lr = observe(hr, band, seed, noisy=True)
    estimates = {"bicubic": super_resolve_array(lr, "bicubic")}
    physics = model_spec("backprojection", band=band, device="cpu")
    for tau in TAUS:
        with patched(adaptive, "DISCREPANCY_FACTOR", tau):
            estimates[f"physics tau={tau:g}"] = super_resolve_array(lr, physics)
    networks = {}
    if has_residual(band):
        networks["default"] = model_spec("s5dscr", band=band, device="cpu")
    elif band == 6 and (before := band6_before()) is not None:
        networks["default before fallback"] = model_spec(
            "s5dscr", band=band, weights=before, device="cpu"
        )
    for name, spec in networks.items():
        # The network before its fallback is scored at the shipped ramp only (fallback rule).
        grid = name == "default" and band in GATE_BANDS
        for ramp in RAMPS if grid else (adaptive.DETAIL_RANGE,):
            with patched(adaptive, "DETAIL_RANGE", ramp):
                estimates[f"{name} ramp={ramp[0]:g}"] = super_resolve_array(lr, spec)
    scores = score_methods(hr, estimates, rows=16, spectral=False)
    psnr = {name: round(value["psnr"], 5) for name, value in scores.items()}
    return {"band": band, "family": family, "brightness": level, "seed": seed, "psnr": psnr}


def ood_level(band: int, family: str, k: int, textures: dict) -> float:
    """The engine's out-of-distribution statistic of the default on one random-brightness
    scene (the level its warning reports, read from the warning itself)."""
    seed = DEV_SEED + 90_000 + 1000 * band + 10 * OOD_FAMILIES.index(family) + k
    shape = OOD_SHAPE
    brightness = float(10 ** np.random.default_rng(seed).uniform(-1.5, 1.5))
    if family == "plumes":
        hr = plumes(band, shape, seed, brightness)
    else:
        hr = family_scene(
            family,
            band,
            shape,
            seed,
            brightness=brightness,
            textures=textures,
            texture_rows=DEV_TEXTURE_ROWS,
        )
    lr = observe(hr, band, seed, noisy=True)
    spec = model_spec("s5dscr", band=band, device="cpu")
    tile = lr / network_tiles.local_scale_map(lr)[..., None]
    with (
        patched(network_tiles, "OUT_OF_DISTRIBUTION_LEVEL", -np.inf),
        warnings.catch_warnings(record=True) as caught,
    ):
        warnings.simplefilter("always", OutOfDistributionWarning)
        network_tiles.check_distribution(tile, resolve_runner(spec), spec)
    message = str(caught[0].message)
    found = re.search(r"mean squared normalised input ([0-9.e+-]+)", message)
    assert found is not None, message
    return float(found.group(1))


def choose_tau(scenes: list[dict]) -> dict[str, Any]:
    grid = {}
    for tau in TAUS:
        gains = [s["psnr"][f"physics tau={tau:g}"] - s["psnr"]["bicubic"] for s in scenes]
        grid[f"{tau:g}"] = {
            "mean_gain_over_bicubic_db": float(np.mean(gains)),
            "min_gain_over_bicubic_db": float(np.min(gains)),
            "scenes_below_bicubic": int(np.sum(np.array(gains) < 0)),
        }
    safe = [t for t, v in grid.items() if v["scenes_below_bicubic"] == 0]
    key = "mean_gain_over_bicubic_db" if safe else "min_gain_over_bicubic_db"
    return _decision(grid, safe or list(grid), key, f"{SHIPPED['tau']:g}")


def choose_ramp(scenes: list[dict]) -> dict[str, Any]:
    grid = {}
    for ramp in RAMPS:
        gains = [
            s["psnr"][name] - s["psnr"]["physics tau=3"]
            for s in scenes
            for name in s["psnr"]
            if name == f"default ramp={ramp[0]:g}" and s["band"] in GATE_BANDS
        ]
        grid[ramp_name(ramp)] = {
            "mean_gain_over_physics_db": float(np.mean(gains)),
            "min_gain_over_physics_db": float(np.min(gains)),
            "scenes": len(gains),
        }
    key = "mean_gain_over_physics_db"
    return _decision(grid, list(grid), key, ramp_name(SHIPPED["detail_range"]))


def ramp_name(ramp: Any) -> str:
    return f"{ramp[0]:.0e}–{ramp[1]:.0e}"


def _decision(grid: dict, allowed: list[str], key: str, shipped: str) -> dict[str, Any]:
    """The rule's pick among ``allowed`` grid values (largest ``key``), and its margin.

    A value within :data:`TIE_DB` of the best counts as tied with it, and a tie keeps the
    shipped value: a change needs a gain larger than that. ``margin``: the chosen value's
    ``key`` minus the best other value's (negative when the shipped value was kept on a tie).
    """
    best = max(grid[v][key] for v in allowed)
    chosen = shipped if shipped in allowed and grid[shipped][key] >= best - TIE_DB else None
    if chosen is None:
        chosen = max(allowed, key=lambda v: grid[v][key])
    others = [grid[v][key] for v in grid if v != chosen]
    return {
        "grid": grid,
        "criterion": key,
        "tie_db": TIE_DB,
        "chosen": chosen,
        "shipped": shipped,
        "margin": grid[chosen][key] - max(others) if others else None,
        "agrees_with_shipped": chosen == shipped,
    }


def choose_fallback(scenes: list[dict]) -> dict[str, Any]:
    """Per band and training family: mean gain of the network over the physics inverse."""
    gains: dict[str, dict[str, float]] = {}
    name = "ramp={:g}".format(SHIPPED["detail_range"][0])
    for band in BANDS:
        for family in TRAINING_FAMILIES:
            cell = [
                s["psnr"][m] - s["psnr"]["physics tau=3"]
                for s in scenes
                if s["band"] == band and s["family"] == family
                for m in s["psnr"]
                if m.endswith(name) and "default" in m
            ]
            if cell:
                gains.setdefault(str(band), {})[family] = float(np.mean(cell))
    decisions = {
        f"{t:g}": {b: ("fall back" if min(g.values()) < t else "keep") for b, g in gains.items()}
        for t in FALLBACK_THRESHOLDS
    }
    at_shipped = decisions[f"{SHIPPED['fallback_threshold_db']:g}"]
    worst = {b: min(g.values()) for b, g in gains.items()}
    shipped_state = {b: "keep" if has_residual(int(b)) else "fall back" for b in gains}
    return {
        "gains_over_physics_db": gains,
        "decisions": decisions,
        "shipped_threshold_db": SHIPPED["fallback_threshold_db"],
        "decisions_at_shipped_threshold": at_shipped,
        "shipped_state": shipped_state,
        "agrees_with_shipped": at_shipped == shipped_state,
        "margin_db": {b: w - SHIPPED["fallback_threshold_db"] for b, w in worst.items()},
        "band6_network": f"weights/s5dscr_band6.safetensors at {BAND6_BEFORE}",
        "not_scored": "bands whose network is the physics inverse to 0.0000 dB (band 3)",
    }


def choose_window() -> dict[str, Any]:
    """The window length the locality bound allows (``docs/scripts/settings_window.json``):
    the longest length whose reads stay within the bound is the choice only when a longer one
    exceeds it; when the bound admits every measured length it decides nothing, and the
    shipped length stands undecided by this set."""
    import json

    source = ROOT / "docs" / "scripts" / "settings_window.json"
    record = json.loads(source.read_text())
    bound = record["reads_for_64_hr_rows_max"]
    within = record["admitted"]  # the study's lengths whose reads stay within the bound
    beyond = [r for r in record["lengths"] if r["window"] not in within]
    reads = [r["reads_for_64_hr_rows"] for r in record["lengths"] if r["window"] in within]
    choice: dict[str, Any] = {
        "source": "docs/scripts/settings_window.py -> settings_window.json",
        "source_commit": record["record"]["commit"],
        "rule": "longest window whose reads for the first 64 HR rows stay within the bound",
        "bound_lr_rows": bound,
        "admitted": within,
        "shipped": SHIPPED["window"],
    }
    if not beyond:  # every measured length is admitted: the rule picks no length
        return {
            **choice,
            "chosen": f"none (the bound admits {within[0]}–{within[-1]})",
            "margin": f"the admitted lengths read {min(reads)}–{max(reads)} LR rows",
            "agrees_with_shipped": None,
        }
    chosen = max(within)
    return {
        **choice,
        "chosen": chosen,
        "margin": f"next longer ({min(r['window'] for r in beyond)}) reads "
        f"{min(r['reads_for_64_hr_rows'] for r in beyond)} LR rows",
        "agrees_with_shipped": chosen == SHIPPED["window"],
    }


def choose_ood(levels: list[dict]) -> dict[str, Any]:
    inside = np.array([r["level"] for r in levels if r["family"] in TRAINING_FAMILIES])
    outside = np.array([r["level"] for r in levels if r["family"] not in TRAINING_FAMILIES])
    chosen = float(f"{2 * inside.max():.2g}")
    by_family = {f: [r["level"] for r in levels if r["family"] == f] for f in OOD_FAMILIES}
    return {
        "training_like": {"max": float(inside.max()), "p99": float(np.percentile(inside, 99))},
        "out_of_family": {
            "min": float(outside.min()),
            "median": float(np.median(outside)),
            "max": float(outside.max()),
        },
        "by_family_max": {f: float(max(v)) for f, v in by_family.items() if v},
        "chosen": chosen,
        "shipped": SHIPPED["ood_level"],
        "agrees_with_shipped": chosen == SHIPPED["ood_level"],
        "margin": f"largest training-family value {inside.max():.3g} (factor "
        f"{chosen / inside.max():.2f} below the choice)",
        "out_of_family_above": {
            "chosen": float(np.mean(outside > chosen)),
            "shipped": float(np.mean(outside > SHIPPED["ood_level"])),
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default=str(ROOT / "weights" / "tuning_dev.json"))
    parser.add_argument("--quick", action="store_true", help="bands 3 and 7, two families")
    parser.add_argument("--allow-dirty", action="store_true")
    parser.add_argument(
        "--bands",
        nargs="*",
        type=int,
        default=None,
        help="score only these bands (parallel processes share the checkpoint; the last one "
        "to finish writes the JSON of all)",
    )
    parser.add_argument(
        "--window-only",
        action="store_true",
        help="recompute only the window choice of an existing --out from settings_window.json",
    )
    args = parser.parse_args()
    if args.window_only:
        import json

        out = Path(args.out)
        result = json.loads(out.read_text())
        result["choices"]["window"] = choose_window()
        write_json(out, result)
        print(f"wrote the window choice into {out}")
        return
    torch.set_num_threads(1)
    commit = clean_commit(args.allow_dirty)
    out = Path(args.out)
    checkpoint = out.with_suffix(".partial.jsonl")
    bands = (3, 7) if args.quick else BANDS
    todo = [b for b in bands if args.bands is None or b in args.bands]
    families = ("solar", "smooth") if args.quick else FAMILIES
    textures = load_textures()
    if "texture" in families and not textures:
        raise SystemExit("The texture family needs the toolbox crops: set XR_S5SR_REFERENCE_DIR.")
    start = time.perf_counter()
    done = read_checkpoint(checkpoint)
    for band in todo:
        for family in families:
            for level in BRIGHTNESS:
                for k in range(SEEDS):
                    key = f"scene/{band}/{family}/{level}/{k}"
                    if key not in done:
                        done[key] = {"key": key, **run_scene(band, family, level, k, textures)}
                        append_checkpoint(checkpoint, done[key])
                        print(key, done[key]["psnr"], flush=True)
            for k in range(OOD_SEEDS):
                for ood_family in (family, "plumes") if family == families[-1] else (family,):
                    key = f"ood/{band}/{ood_family}/{k}"
                    if key not in done:
                        level = ood_level(band, ood_family, k, textures)
                        done[key] = {"key": key, "band": band, "family": ood_family, "level": level}
                        append_checkpoint(checkpoint, done[key])
    done = read_checkpoint(checkpoint)  # with what parallel processes added
    scenes = [r for k, r in done.items() if k.startswith("scene/") and r["family"] in families]
    # Records of earlier, larger configurations of this set stay in the checkpoint: use the
    # configured families and seeds only.
    levels = [
        r
        for k, r in done.items()
        if k.startswith("ood/")
        and r["family"] in (*families, "plumes")
        and int(k.rsplit("/", 1)[1]) < OOD_SEEDS
    ]
    result = {
        "provenance": {**run_record(available_weights()), "commit": commit},
        "set": {
            "bands": list(bands),
            "families": list(families),
            "brightness": BRIGHTNESS,
            "seeds_per_cell": SEEDS,
            "first_seed": DEV_SEED,
            "hr_shape": list(SHAPE),
            "noise": "photon noise at the band's SNR",
            "quick": args.quick,
        },
        "choices": {
            "tau": choose_tau(scenes),
            "detail_range": choose_ramp(scenes),
            "fallback": choose_fallback(scenes),
            "window": choose_window(),
            "ood_level": choose_ood(levels),
        },
        "complete": len(scenes) == len(bands) * len(families) * len(BRIGHTNESS) * SEEDS,
        "seconds_this_run": round(time.perf_counter() - start, 1),
        "scenes": scenes,
        "ood_levels": levels,
    }
    write_json(out, result)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
