"""Fingerprint of a tiny training run and a tiny fine-tuning run on fixed seeds.

Used to check that restructuring the training harness leaves results unchanged: run it before
and after and compare the JSON (``python benchmarks/harness_fingerprint.py OUT.json``). It
records the per-epoch/step histories (timings dropped) and a float64 sum of every weight tensor.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

from xr_s5sr.models import S5DSCR
from xr_s5sr.objective import FinetuneConfig
from xr_s5sr.selfsup import finetune
from xr_s5sr.synthetic import make_granule
from xr_s5sr.train import TrainConfig, fit, synthetic_pairs
from xr_s5sr.weights import save_weights


def checksums(model: torch.nn.Module) -> dict[str, float]:
    """Float64 sum and sum of squares of each weight tensor."""
    return {
        name: [float(v.double().sum()), float(v.double().square().sum())]
        for name, v in model.state_dict().items()
    }


def main(out: str) -> None:
    torch.set_num_threads(1)
    record: dict[str, object] = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        pairs = synthetic_pairs(7, range(3), shape=(96, 96), n_channel=6)
        config = TrainConfig(
            band=7,
            model="s5dscr_s",
            lr_patch=8,
            lr_stride=4,
            batch_size=4,
            epochs=2,
            steps_per_epoch=10,
            validation_patches=8,
            schedule="cosine",
        )
        result = fit(config, pairs[:2], pairs[2:], root / "fit", progress=False)
        record["fit"] = {
            "history": result.history,
            "best_epoch": result.best_epoch,
            "best_val_loss": result.best_val_loss,
            "baseline_val_loss": result.baseline_val_loss,
            "weights": checksums(result.model),
        }
        torch.manual_seed(0)
        start = S5DSCR(8, 1, 3, 1, residual="signed", scaling="local", band=3)
        start.set_output_scale(0.05)
        path = root / "s5dscr_s_band3.safetensors"
        save_weights(start.eval(), path, band=3, model_name="s5dscr_s")
        tile = make_granule(3, 96, 96, n_channel=8)["radiance"].values
        ft = FinetuneConfig(
            band=3,
            steps=4,
            batch_size=2,
            lr_patch=4,
            context=6,
            learning_rate=1e-3,
            consistency_weight=0.5,
            checkpoint_every=1,
            start_weights=str(path),
        )
        model = finetune(ft, [tile], root / "ft", progress=False, device="cpu")
        history = torch.load(root / "ft" / "finetune_checkpoint.pt", weights_only=True)["history"]
        record["finetune"] = {
            "history": [{k: v for k, v in e.items() if k != "seconds"} for e in history],
            "weights": checksums(model),
        }
    for entry in record["fit"]["history"]:  # type: ignore[index]
        entry.pop("seconds", None)
    Path(out).write_text(json.dumps(record, indent=1, default=float) + "\n")
    print("wrote", out, np.round(result.best_val_loss, 6))


if __name__ == "__main__":
    main(sys.argv[1])
