"""Validate the shipped networks against the physics inverse; fall back to it where they lose.

Run from the repository root:  python weights/validate_shipped.py [--bands 6 7] [--dry-run]

Training keeps a network's start (the physics inverse) unless it beats it on the validation
tiles *pooled* over the training families; a network can still lose to the physics inverse on
one family (the band-6 S5-DSCR did on ``solar`` scenes). This step scores every shipped
``scaling="local"`` network on fresh scenes of each training family (seeds that neither
training nor ``evaluate_shipped.py`` use; texture from the training rows of the crops; the
held-out families are not touched), three brightness levels, instrument noise, both with the
package's default settings. A network whose mean PSNR gain over ``backprojection`` is below
:data:`THRESHOLD_DB` on any family gets its residual set to zero
(:func:`xr_s5sr.models.zero_residual`): it then *is* the physics inverse. Every card records the
per-family gains and the decision; the registry is updated.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from evaluate_shipped import score

from xr_s5sr.atomic import atomic_output
from xr_s5sr.bands import get_band
from xr_s5sr.families import (
    TEXTURE_TRAIN_ROWS,
    TRAINING_FAMILIES,
    family_scene,
    load_textures,
)
from xr_s5sr.models import zero_residual
from xr_s5sr.spec import model_spec
from xr_s5sr.weights import (
    available_weights,
    file_sha256,
    load_weights_file,
    read_metadata,
    save_weights,
    update_registry,
    weights_filename,
)

ROOT = Path(__file__).resolve().parents[1]
WEIGHTS = ROOT / "weights"
#: Mean PSNR gain over the physics inverse (dB) below which a network falls back to it.
THRESHOLD_DB = -0.02
BRIGHTNESS = (0.03, 1.0, 30.0)
SIZE = 96
#: Seeds of the validation scenes (training and evaluate_shipped.py use others).
SEED = 500_000
#: Metadata keys that save_weights sets itself.
RESERVED = {"format", "band", "model", "config", "package_version"}


def family_gains(band: int, model: str, textures: dict) -> dict[str, float]:
    """Mean ΔPSNR (dB) of the shipped network over the physics inverse, per training family."""
    width = min(SIZE, get_band(band).ground_pixels)
    network = model_spec(model, band=band, device="cpu")
    physics = model_spec("backprojection", band=band, device="cpu")
    gains = {}
    for index, family in enumerate(TRAINING_FAMILIES):
        if family == "texture" and not textures:
            continue
        deltas = []
        for level_index, level in enumerate(BRIGHTNESS):
            seed = SEED + 1000 * band + 10 * index + level_index
            hr = family_scene(
                family,
                band,
                (SIZE, width),
                seed,
                brightness=level,
                textures=textures,
                texture_rows=TEXTURE_TRAIN_ROWS,
            )
            scores = score(band, hr, level, seed, {"network": network, "physics": physics})
            deltas.append(scores["network"]["psnr"] - scores["physics"]["psnr"])
        gains[family] = round(float(np.mean(deltas)), 4)
    return gains


def fall_back(path: Path, band: int, model: str) -> str:
    """Zero the residual of the weights file in place; returns the new sha256."""
    module = load_weights_file(path, band=band)
    metadata = {k: v for k, v in read_metadata(path).items() if k not in RESERVED}
    metadata["validation_fallback"] = "residual zeroed: lost to the physics inverse"
    save_weights(
        zero_residual(module), path, band=band, model_name=model, metadata=metadata, overwrite=True
    )
    return file_sha256(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bands", nargs="*", type=int, default=None)
    parser.add_argument("--dry-run", action="store_true", help="score only; change no file")
    args = parser.parse_args()
    textures = load_textures()
    for band, model in available_weights():
        if args.bands and band not in args.bands:
            continue
        path = WEIGHTS / weights_filename(band, model)
        card_path = path.with_suffix(".json")
        card = json.loads(card_path.read_text())
        if card["architecture"].get("scaling") != "local":
            continue
        gains = family_gains(band, model, textures)
        worst = min(gains, key=gains.__getitem__)
        falls_back = gains[worst] < THRESHOLD_DB
        print(band, model, gains, "-> residual zeroed" if falls_back else "-> kept", flush=True)
        if args.dry_run:
            continue
        card["validation_against_physics"] = {
            "families": gains,
            "metric": "mean PSNR gain (dB) over backprojection+P, default settings",
            "scenes": f"{len(BRIGHTNESS)} brightness levels x 1 scene per training family, "
            f"{SIZE}x{SIZE} HR, seeds from {SEED}, instrument noise",
            "threshold_db": THRESHOLD_DB,
            "decision": (
                f"residual zeroed (lost {gains[worst]:+.3f} dB on {worst}): the model is the "
                "physics inverse"
                if falls_back
                else "kept"
            ),
        }
        if falls_back:
            card["sha256"] = fall_back(path, band, model)
        with atomic_output(card_path, overwrite=True, wait_for_dask=False) as tmp:
            tmp.write_text(json.dumps(card, indent=2) + "\n")
    if not args.dry_run:
        update_registry(WEIGHTS, ROOT / "xr_s5sr" / "registry.txt")


if __name__ == "__main__":
    main()
