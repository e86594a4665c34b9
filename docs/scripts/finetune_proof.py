"""Measure what self-supervised fine-tuning gains on scenes whose HR truth we know.

Superseded: its JSON files (``finetune_proof/edges_*.json``, ``smooth_dim.json``) were made
when the run selected its checkpoint by SURE alone; the selection is now the
reduced-resolution validation, measured by ``finetune_test.py`` and ``finetune_criterion.py``.

Used for the table in docs/finetune.md. Fine-tuning sees the noisy LR granules only; the HR
scenes are used to score the default output of ``super_resolve`` afterwards, on the
fine-tuning granules themselves and on new granules of the same family. One run per granule
count, with the package defaults (S5-DSCR-S, shipped start weights, learning rate, losses);
the weights are scored after each ``--every`` steps and at the end (the weights the run
returns: the checkpoint with the lowest validation SURE). The HR-free SURE check
(``check_finetuned``) is reported beside the PSNR.

Example (about 25 min on one CPU core for band 7)::

    python docs/scripts/finetune_proof.py --band 7 --family edges --brightness 0.03 \\
        --granules 1 4 --steps 200 --out finetune_edges.json
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from xr_s5sr.bands import get_band
from xr_s5sr.degrade import degrade_array
from xr_s5sr.engine import super_resolve_array
from xr_s5sr.families import family_scene
from xr_s5sr.metrics import compute_metrics
from xr_s5sr.selfsup import FinetuneConfig, check_finetuned, checkpoint_history, finetune
from xr_s5sr.spec import model_spec

TRAIN_SEED, TEST_SEED = 5000, 9000


def granule(family: str, band: int, seed: int, brightness: float) -> tuple[np.ndarray, np.ndarray]:
    """(HR, LR + Gaussian noise of the band's sigma) of one 256 x 256 scene."""
    hr = family_scene(family, band, (256, 256), seed, brightness=brightness)
    lr = degrade_array(hr, band)
    noise = np.random.default_rng([seed, 1]).standard_normal(lr.shape)
    return hr, (lr + float(get_band(band).noise_sigma or 0.0) * noise).astype(np.float32)


def mean_psnr(spec: object, granules: list[tuple[np.ndarray, np.ndarray]]) -> float:
    scores = [compute_metrics(hr, super_resolve_array(lr, spec), border=16) for hr, lr in granules]
    return round(float(np.mean([s["psnr"][0] for s in scores])), 3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--band", type=int, default=7)
    parser.add_argument("--family", default="edges")
    parser.add_argument("--brightness", type=float, default=0.03)
    parser.add_argument("--granules", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--new-granules", type=int, default=2)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--every", type=int, default=50)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    band = args.band
    make = lambda seed: granule(args.family, band, seed, args.brightness)  # noqa: E731
    new = [make(TEST_SEED + i) for i in range(args.new_granules)]
    record: dict[str, object] = {"settings": vars(args), "runs": []}
    for count in args.granules:
        own = [make(TRAIN_SEED + i) for i in range(count)]
        baselines = {
            name: {"same": mean_psnr(spec, own), "new": mean_psnr(spec, new)}
            for name, spec in (
                ("bicubic", model_spec("bicubic", band=band)),
                ("physics", model_spec("backprojection", band=band)),
                ("start", model_spec("s5dscr_s", band=band)),
            )
        }
        print(count, baselines, flush=True)
        config = FinetuneConfig(band=band, steps=args.steps, checkpoint_every=args.every)
        rows = []
        with tempfile.TemporaryDirectory() as run:
            started = time.perf_counter()
            for done in [*range(args.every, args.steps, args.every), args.steps]:
                tiles = [lr for _, lr in own]
                model = finetune(config, tiles, run, progress=False, stop_after=done)
                spec = model_spec(weights=model, band=band)
                row = {
                    "steps": done,
                    "final": done == args.steps,
                    "seconds": round(time.perf_counter() - started),
                    "same": mean_psnr(spec, own),
                    "new": mean_psnr(spec, new),
                    "sure_same": check_finetuned(model, config, [lr for _, lr in own]),
                    "sure_new": check_finetuned(model, config, [lr for _, lr in new]),
                }
                print(count, row, flush=True)
                rows.append(row)
            history = checkpoint_history(run)
        record["runs"].append(  # type: ignore[union-attr]
            {"granules": count, "baselines": baselines, "rows": rows, "history": history}
        )
        Path(args.out).write_text(json.dumps(record, indent=1) + "\n")


if __name__ == "__main__":
    main()
