"""Where the detail gate lets the network's detail through: training tiles and held-out scenes.

Used for docs/physics.md (the detail gate, point 4 of "Noise: the regularisation is chosen from
the data"). The gate (:func:`xr_s5sr.adaptive.detail_gate`) weighs the network's detail at each
LR pixel by the local relative detail ``ρ`` of the data: weight 1 at or above
``adaptive.DETAIL_RANGE[1]``, 0 at or below ``DETAIL_RANGE[0]``. Per band 2–8 this script
counts, on whole tiles (one block each):

* ``training``: the LR of the training tiles of ``weights/train_shipped.py``
  (:func:`xr_s5sr.trainpairs.family_split` with its tile size, tile count and seed) without the
  noise that 30 % of them got in training (``noise_fraction=0``: the same scenes), σ² = 0, per
  training family: the fraction of LR pixels with full weight;
* ``smooth``: held-out ``smooth`` scenes of the same tile size at the band's mean radiance
  (seeds ``SMOOTH_SEEDS``), noise-free with σ² = 0 and with white noise of the band's σ, whose
  σ² is given to the gate (as a file's ``radiance_noise`` gives it): the fraction of LR pixels
  with weight 0 and with full weight.

Run from the repository root (a minute or two on one core; the ``texture`` family needs the
toolbox crops, :func:`xr_s5sr.families.reference_dir`)::

    OMP_NUM_THREADS=1 XR_S5SR_REFERENCE_DIR=../shared/reference/s5p_sisr_toolbox \
        python docs/scripts/detail_gate.py

Writes ``docs/scripts/detail_gate.json`` with the run record
(:func:`xr_s5sr.versions.run_record`).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

from xr_s5sr import adaptive
from xr_s5sr.bands import get_band
from xr_s5sr.families import family_scene
from xr_s5sr.trainpairs import family_split, make_pair
from xr_s5sr.versions import run_record

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "weights"))

from train_shipped import TILE, TRAIN_SCENES  # noqa: E402

OUT = Path(__file__).with_suffix(".json")
BANDS = (2, 3, 4, 5, 6, 7, 8)
#: Seeds of the held-out smooth scenes (any seed: the family was never trained on).
SMOOTH_SEEDS = tuple(range(8))


def fractions(gate: list[np.ndarray]) -> dict[str, float]:
    """Share of the LR pixels of ``gate`` (one array per tile) with weight 1 and with 0."""
    values = np.concatenate([g.ravel() for g in gate])
    return {
        "pixels": int(values.size),
        "full_weight": float(np.mean(values >= 1.0)),
        "zero_weight": float(np.mean(values <= 0.0)),
    }


def training(band: int) -> dict[str, dict[str, float]]:
    """Per training family: the gate on the noise-free LR of the band's training tiles."""
    pairs, _, data = family_split(band, TRAIN_SCENES, 0, TILE, noise_fraction=0.0)
    families = data["families"]
    if "texture" not in families:  # family_split leaves it out when the crops are not found
        raise SystemExit(
            "The toolbox crops are not found (set XR_S5SR_REFERENCE_DIR): the "
            "shipped weights were trained on the texture family too."
        )
    gates: dict[str, list[np.ndarray]] = {family: [] for family in families}
    for index, (_, lr) in enumerate(pairs):  # family_split cycles through the families
        gates[families[index % len(families)]].append(adaptive.detail_gate(lr, 0.0))
    return {family: fractions(gate) for family, gate in gates.items()}


def smooth(band: int) -> dict[str, dict[str, float]]:
    """The gate on held-out smooth scenes, noise-free and with the band's noise."""
    sigma = float(get_band(band).noise_sigma or 0.0)
    clean, noisy = [], []
    for seed in SMOOTH_SEEDS:
        _, lr = make_pair(family_scene("smooth", band, TILE, seed, brightness=1.0), band)
        clean.append(adaptive.detail_gate(lr, 0.0))
        rng = np.random.default_rng([seed, band])
        noise = sigma * rng.standard_normal(lr.shape)
        noisy.append(adaptive.detail_gate((lr + noise).astype(np.float32), sigma**2))
    return {"noise_free": fractions(clean), "noisy": fractions(noisy)}


def main() -> None:
    start = time.perf_counter()
    result: dict[str, object] = {
        "detail_range": list(adaptive.DETAIL_RANGE),
        "tile_hr": list(TILE),
        "training_tiles_per_band": TRAIN_SCENES,
        "smooth_seeds": list(SMOOTH_SEEDS),
        "bands": {},
    }
    for band in BANDS:
        result["bands"][band] = {"training": training(band), "smooth": smooth(band)}  # type: ignore[index]
        print(band, json.dumps(result["bands"][band]), flush=True)  # type: ignore[index]
    result["seconds"] = round(time.perf_counter() - start, 1)
    result["record"] = run_record()
    OUT.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
