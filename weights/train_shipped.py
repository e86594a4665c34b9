"""Reproduce the shipped weights: every model trained on synthetic S5P-like scenes (2-core CPU).

Run from the repository root:  python weights/train_shipped.py [--runs RUN_DIR] [--bands 3 7 ...]

For each band the synthetic training and validation tiles are generated once and both models are
trained on them with :func:`xr_s5sr.train.fit`; each run checkpoints after every epoch into
``RUN_DIR/<model>_band<b>/`` and resumes when the script is re-run. Finished weights and model
cards are copied into ``weights/`` and the pooch registry is updated. ``xr-s5sr train`` runs the
same recipe for one model (its flags are the :class:`~xr_s5sr.train.TrainConfig` fields below).

Recipe (one 2-core CPU session for all 14 models; every setting is in each model card):

* model: ``scaling="local"`` — scale-equivariant input, signed residual starting at zero, added to
  the physics inverse (``xr_s5sr.physics.backproject``) and projected onto the data at inference;
  the starting weights (= the physics inverse) are kept unless training beats them on validation;
* data: the training scene families of :mod:`xr_s5sr.families` (solar, absorption, real S5P
  texture from the toolbox crops when present, mixture), brightness over three decades,
  24 training and 4 validation tiles of 128 × 128 HR pixels per band (30 % with photon-like
  noise); LR patches 16 × 16 (HR 64 × 64) at stride 4 inside a 4-pixel margin; the held-out
  families (edges, smooth) are never used here;
* Adam 1e-3 with a cosine decay to 0, per-channel normalisation of the scale-free input;
* S5-DSCR-S: batch 4, bf16 autocast, 200 steps from scratch on every band;
* S5-DSCR: batch 2, float32; bands 3 and 7 from scratch (75 steps), the other bands
  warm-started from the band with the same channel count (2 and 4–6 from 3, 8 from 7; 30 steps).
  Short on purpose: the runs found little to add to the physics inverse (validation MSE
  0–0.9 % below the physics inverse's for S5-DSCR in bands 2–6, 3.8–4.4 % in bands 7–8, under
  0.03 % for S5-DSCR-S; the ``validation`` entry of each model card), so longer runs were not
  expected to pay off.
"""

from __future__ import annotations

import argparse
import shutil
import time
from dataclasses import replace
from pathlib import Path

from xr_s5sr.train import TrainConfig, export, family_split, fit
from xr_s5sr.weights import update_registry, weights_filename

ROOT = Path(__file__).resolve().parents[1]
WEIGHTS = ROOT / "weights"
TILE = (128, 128)
TRAIN_SCENES, VALIDATION_SCENES, NOISE_FRACTION = 24, 4, 0.3
COMMON = TrainConfig(
    band=0,
    residual="signed",
    scaling="local",
    lr_patch=16,
    lr_stride=4,
    lr_margin=4,
    validation_patches=48,
    schedule="cosine",
    zero_init_residual=True,
)
SMALL = replace(
    COMMON, model="s5dscr_s", batch_size=4, epochs=2, steps_per_epoch=100, autocast="bfloat16"
)
FULL = replace(COMMON, model="s5dscr", batch_size=2, epochs=1, steps_per_epoch=75)
FULL_WARM = replace(FULL, epochs=1, steps_per_epoch=30)
#: Band whose S5-DSCR model warm-starts this band's (same channel count).
WARM_START = {2: 3, 4: 3, 5: 3, 6: 3, 8: 7}
ORDER = (3, 7, 5, 4, 6, 2, 8)


def train_band(band: int, runs: Path, models: list[str]) -> None:
    """Train (or resume, or skip when done) the models of ``band`` on shared synthetic tiles."""
    todo = []
    recipes = (SMALL, FULL_WARM if band in WARM_START else FULL)
    for base in (recipe for recipe in recipes if recipe.model in models):
        config = replace(base, band=band)
        if band in WARM_START and config.model == "s5dscr":
            source = WEIGHTS / weights_filename(WARM_START[band], "s5dscr")
            config = replace(config, init_from=str(source.relative_to(ROOT)))
        out = runs / f"{config.model}_band{band}"
        if not (out / weights_filename(band, config.model)).exists():
            todo.append((config, out))
        else:
            print(f"skip {config.model} band {band}: {out} holds finished weights", flush=True)
    if not todo:
        return
    started = time.perf_counter()
    train, validation, data = family_split(
        band, TRAIN_SCENES, VALIDATION_SCENES, TILE, noise_fraction=NOISE_FRACTION
    )
    print(f"band {band}: tiles in {time.perf_counter() - started:.0f} s", flush=True)
    data["script"] = "weights/train_shipped.py"
    for config, out in todo:
        print(f"{time.strftime('%H:%M:%S')} train {config.model} band {band}", flush=True)
        result = fit(config, train, validation, out)
        name = weights_filename(band, config.model)
        card = export(result, config, out / name, data, overwrite=True)
        shutil.copy(out / name, WEIGHTS / name)
        shutil.copy(card, WEIGHTS / card.name)
        (WEIGHTS / name).chmod(0o644)
        (WEIGHTS / card.name).chmod(0o644)
        update_registry(WEIGHTS, ROOT / "xr_s5sr" / "registry.txt")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", default="runs", type=Path, help="checkpoint directory")
    parser.add_argument("--bands", nargs="*", type=int, default=list(ORDER))
    parser.add_argument("--models", nargs="*", default=["s5dscr_s", "s5dscr"])
    args = parser.parse_args()
    for band in args.bands:
        train_band(band, args.runs, args.models)


if __name__ == "__main__":
    main()
