"""Score the release ONCE on the pre-registered test set (never used to decide anything).

Run from the repository root, on a clean checkout, after the methods are settled::

    python weights/evaluate_test.py --jobs 2          # -> weights/test_evaluation.json
    python weights/evaluate_test.py --quick --out weights/test_evaluation_quick.json

Bands beyond the release's set are scored afterwards by the same protocol into a JSON of their
own, never into the release's::

    python weights/evaluate_test.py --jobs 2 --bands 6,8 --out weights/test_evaluation_more.json

``--quick`` is a smoke run of the same code (band 7, ``continuum``, 1 seed): its JSON is marked
``"quick": true`` and is never quoted. The full run is resumable (an interrupted run continues
from ``<out>.partial.jsonl``) and refuses a checkout with uncommitted changes to tracked
files (the JSON records the commit; ``--allow-dirty`` for runs that must not be committed).
Measured cost: ``seconds`` per scene (wall, and ``cpu`` of its process) and ``cpu_seconds`` in
the JSON; a resumed run prints the CPU time left; ``--jobs`` splits it over processes.

The test set (``granule_scenes``: seeds from 8 000 000, disjoint from the development set,
training, validation and the older evaluation)
    * bands: :data:`BANDS` — 3 (UVIS, NO₂) and 7 (SWIR, CH₄): one band of each detector kind
      whose retrievals the package serves first. Every band with shipped weights (2–8) and
      every family would cost about 7.3 CPU hours; this release's set was fixed at 2 bands ×
      5 families (about 1.1 CPU hours) before it was scored;
    * families: :data:`FAMILIES_SCORED` — ``solar``, ``absorption``, ``texture`` (crop rows
      352–511, which training never used, mirrored along scanline to granule length;
      ``solar``/``absorption``/``texture`` are training families), ``edges`` (never in
      training) and ``continuum`` (never in training and never in any development choice);
    * brightness: the band's mean radiance (``bright``) and 3 % of it (``dim``);
    * :data:`SEEDS` scenes per band × family × brightness, each observed twice: with photon
      noise at the band's SNR (``noisy``) and without (``noise-free``);
    * scenes of :data:`LR_ROWS` LR scanlines (≥ 2× the reach of every step: the projection
      reaches 20–40 LR scanlines) × ``--width`` LR ground pixels (default :data:`WIDTH`;
      ``--full-width N`` adds N scenes per cell at the band's full swath width, ``texture``
      excepted: the crops are narrower than a swath); scored on the
      interior: :data:`EDGE_ROWS` LR scanlines left out at each end (the first and last
      scanlines of a granule, where the projection meets the zero padding) and 16 HR pixels at
      each swath edge.

Methods: ``bicubic``; ``backprojection`` (the physics inverse, ``model="backprojection"``);
``s5dscr`` (the default of ``super_resolve``; ``s5dscr_s`` is left out of this release's set
for time). Metrics per scene: PSNR (dB), SAM
(°), absorption-line depth error, fraction of negative values. Per cell: for each method and
metric the mean over seeds with a 95 % bootstrap interval and the worst scene, and the paired
PSNR gain of the default over bicubic and over the physics inverse (same statistics).
"""

from __future__ import annotations

import argparse
import multiprocessing
import signal
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from granule_scenes import (
    BORDER,
    BRIGHTNESS,
    ROOT,
    TEST_SEED,
    TEST_TEXTURE_ROWS,
    append_checkpoint,
    bootstrap_interval,
    clean_commit,
    mirrored_textures,
    observe,
    read_checkpoint,
    scene_seed,
    score_methods,
    write_json,
)

from xr_s5sr._version import __version__
from xr_s5sr.bands import get_band
from xr_s5sr.families import FAMILIES, family_scene, load_textures
from xr_s5sr.versions import run_record
from xr_s5sr.weights import available_weights, file_sha256, resolve_weights

SEEDS = 5
BANDS = (3, 7)
FAMILIES_SCORED = ("solar", "absorption", "texture", "edges", "continuum")
assert set(FAMILIES_SCORED) <= set(FAMILIES)
LR_ROWS = 128
EDGE_ROWS = 32
WIDTH = 32
NOISE = ("noisy", "noise-free")
METHODS = ("bicubic", "backprojection", "s5dscr")
DEFAULT = "s5dscr"
#: Metrics where larger is better (the worst scene is the smallest); the others: smallest.
HIGHER_IS_BETTER = {"psnr"}
METRICS = ("psnr", "sam", "line_depth_error", "negative_fraction")
QUICK = {"bands": (7,), "families": ("continuum",), "seeds": 1}


def shipped_bands() -> list[int]:
    return sorted({band for band, model in available_weights() if model == DEFAULT})


def run_scene(task: dict[str, Any]) -> dict[str, Any]:
    """Score every method on one scene (one task of the pool)."""
    import torch

    from xr_s5sr.engine import super_resolve_array
    from xr_s5sr.spec import model_spec

    torch.set_num_threads(1)
    began, cpu = time.perf_counter(), time.process_time()
    band, family, level, k = task["band"], task["family"], task["brightness"], task["k"]
    seed = scene_seed(TEST_SEED, band, family, level, k) + (50 if task["width"] == "full" else 0)
    n_pixel = get_band(band).ground_pixels if task["width"] == "full" else task["lr_width"]
    textures, rows = mirrored_textures(load_textures(), TEST_TEXTURE_ROWS, 4 * LR_ROWS)
    hr = family_scene(
        family,
        band,
        (4 * LR_ROWS, 4 * n_pixel),
        seed,
        brightness=BRIGHTNESS[level],
        textures=textures,
        texture_rows=rows,
    )
    specs: dict[str, Any] = {"bicubic": "bicubic"}
    specs.update({m: model_spec(m, band=band, device="cpu") for m in METHODS[1:]})
    record = {**task, "seed": seed, "metrics": {}, "seconds": {}}
    for noise in NOISE:
        lr = observe(hr, band, seed, noisy=noise == "noisy")
        start = time.perf_counter()
        estimates = {name: super_resolve_array(lr, spec) for name, spec in specs.items()}
        record["seconds"][noise] = round(time.perf_counter() - start, 2)
        record["metrics"][noise] = score_methods(hr, estimates, rows=4 * EDGE_ROWS)
    # Wall time depends on what else the machine runs; the process's CPU time does not.
    record["seconds"]["total"] = round(time.perf_counter() - began, 2)
    record["seconds"]["cpu"] = round(time.process_time() - cpu, 2)
    return record


def tasks(bands: list[int], families: tuple[str, ...], seeds: int, args: Any) -> list[dict]:
    out = []
    widths = [("narrow", seeds)] + ([("full", args.full_width)] if args.full_width else [])
    for band in bands:
        for family in families:
            for level in BRIGHTNESS:
                for width, count in widths:
                    if width == "full" and family == "texture":
                        continue  # the crops (256 and 215 pixels) are narrower than a swath
                    for k in range(count):
                        size = "full" if width == "full" else f"w{args.width}"
                        key = f"{band}/{family}/{level}/{size}/{k}"
                        out.append(
                            {
                                "key": key,
                                "band": band,
                                "family": family,
                                "brightness": level,
                                "width": width,
                                "lr_width": args.width,
                                "k": k,
                            }
                        )
    return out


def _stats(values: list[float], higher_is_better: bool) -> dict[str, Any]:
    low, high = bootstrap_interval(values)
    worst = min(values) if higher_is_better else max(values)
    return {"mean": float(np.mean(values)), "ci95": [low, high], "worst": float(worst)}


def summarise(scenes: list[dict]) -> list[dict]:
    """Per band × family × brightness × width × noise: statistics over the seeds."""
    cells: dict[tuple, list[dict]] = {}
    for scene in scenes:
        for noise in NOISE:
            key = (scene["band"], scene["family"], scene["brightness"], scene["width"], noise)
            cells.setdefault(key, []).append(scene["metrics"][noise])
    out = []
    for (band, family, level, width, noise), group in sorted(cells.items()):
        cell: dict[str, Any] = {
            "band": band,
            "family": family,
            "brightness": level,
            "width": width,
            "noise": noise,
            "scenes": len(group),
            "methods": {
                m: {
                    metric: _stats([g[m][metric] for g in group], metric in HIGHER_IS_BETTER)
                    for metric in METRICS
                }
                for m in METHODS
            },
        }
        for over in ("bicubic", "backprojection"):
            gains = [g[DEFAULT]["psnr"] - g[over]["psnr"] for g in group]
            cell[f"default_psnr_gain_over_{over}"] = _stats(gains, True)
        out.append(cell)
    return out


def provenance(commit: str, bands: list[int]) -> dict[str, Any]:
    """Commit, machine, versions, package version and the sha256 of every weights file used
    (computed from the file read, beside the registry's)."""
    used = [(b, m) for b, m in available_weights() if b in bands and m in METHODS]
    record = run_record(used)
    record["commit"] = commit
    record["package_version"] = __version__
    record["weights_file_sha256"] = {
        f"{m}_band{b}": file_sha256(resolve_weights(b, m).path) for b, m in used
    }
    return record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default=str(ROOT / "weights" / "test_evaluation.json"))
    parser.add_argument("--quick", action="store_true", help="smoke run: never quoted")
    parser.add_argument("--jobs", type=int, default=1, help="processes (one torch thread each)")
    parser.add_argument("--width", type=int, default=WIDTH, help="LR ground pixels per scene")
    parser.add_argument(
        "--full-width",
        type=int,
        default=0,
        metavar="N",
        help="N more scenes per cell at full width",
    )
    parser.add_argument(
        "--bands",
        default=",".join(map(str, BANDS)),
        help="comma-separated bands (default: the release's set); others need their own --out",
    )
    parser.add_argument("--allow-dirty", action="store_true")
    args = parser.parse_args()
    chosen = tuple(int(b) for b in args.bands.split(","))
    release = Path(args.out).resolve() == (ROOT / "weights" / "test_evaluation.json").resolve()
    if release and set(chosen) != set(BANDS):
        raise SystemExit(
            f"weights/test_evaluation.json holds the release's pre-registered bands {BANDS}; "
            f"write bands {chosen} to a JSON of their own (--out "
            "weights/test_evaluation_more.json)."
        )
    if args.width < 24:
        raise SystemExit(
            f"--width must be at least 24 LR pixels (the automatic settings leave "
            f"8 out at each edge), got {args.width}."
        )
    commit = clean_commit(args.allow_dirty)
    wanted = QUICK["bands"] if args.quick else chosen
    bands = [b for b in shipped_bands() if b in wanted]
    families = QUICK["families"] if args.quick else FAMILIES_SCORED
    seeds = QUICK["seeds"] if args.quick else SEEDS
    if "texture" in families and not load_textures():
        raise SystemExit("The texture family needs the toolbox crops: set XR_S5SR_REFERENCE_DIR.")
    out = Path(args.out)
    checkpoint = out.with_suffix(".partial.jsonl")
    done = read_checkpoint(checkpoint)
    todo = [t for t in tasks(bands, families, seeds, args) if t["key"] not in done]
    print(f"{len(done)} scenes done, {len(todo)} to score with {args.jobs} process(es)")
    cpu = [r["seconds"]["cpu"] for r in done.values() if "cpu" in r["seconds"]]
    if cpu and todo:
        hours = np.mean(cpu) * len(todo) / 3600
        print(f"about {hours:.2f} CPU hours left (mean of the scenes done; wall: / --jobs)")
    # SIGTERM leaves through the pool's context manager, which ends the worker processes.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("stopped; run again to resume"))
    context = multiprocessing.get_context("spawn")
    with context.Pool(args.jobs) as pool:
        for record in pool.imap_unordered(run_scene, todo):
            append_checkpoint(checkpoint, record)
            done[record["key"]] = record
            print(record["key"], record["seconds"], flush=True)
    if clean_commit(args.allow_dirty) != commit:
        raise SystemExit("The checkout changed during the run: score again from a clean tree.")
    scenes = [done[t["key"]] for t in tasks(bands, families, seeds, args)]
    result = {
        "provenance": provenance(commit, bands),
        "quick": args.quick,
        "set": {
            "bands": bands,
            "families": list(families),
            "brightness": BRIGHTNESS,
            "seeds_per_cell": seeds,
            "first_seed": TEST_SEED,
            "lr_rows": LR_ROWS,
            "lr_width": args.width,
            "full_width_scenes_per_cell": args.full_width,
            "scored": f"LR scanlines {EDGE_ROWS}..{LR_ROWS - EDGE_ROWS}, {BORDER} HR pixels "
            "left out at each swath edge",
            "noise": {"noisy": "photon noise at the band's SNR", "noise-free": "none"},
            "methods": list(METHODS),
            "default": DEFAULT,
        },
        "cpu_seconds": round(sum(s["seconds"]["cpu"] for s in scenes), 1),
        "cells": summarise(scenes),
        "scenes": scenes,
    }
    write_json(out, result)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
