"""The measured failure (``shared/MEASURED.md``, issue 25) rerun as a user runs it: the CLI.

Plan (fixed before the run): band 7 with all its channels, dim scenes of the family
``continuum`` (held out of the shipped models' training, never used to develop fine-tuning) at
0.03 of the band's mean radiance with Gaussian noise of the band's sigma; 4 LR-only granules
(seeds 1000-1003) written as L1B files (:func:`xr_s5sr.l1b.write_l1b` on a
:func:`xr_s5sr.synthetic.make_granule` frame, the radiance replaced by the noisy LR), then::

    xr-s5sr finetune --band 7 --model s5dscr_s --steps 150 --l1b <4 files> --out <dir>
        --check <3 new files>

every other setting at its default. Granules are 128 x 128 LR pixels (the MEASURED run's size
is not recorded; 128 is the smallest the default reduced-resolution validation accepts:
4 x (16 + 2 x 8)), to fit one CPU thread. Truth: PSNR (border 16) of the default
``super_resolve`` output against the HR with the shipped and the returned weights, and of
bicubic, on the 4 fine-tuning granules and 3 new granules (seeds 2000-2002); whether the run
returned the start weights (its warning); the card's two checks (``--check``'s verdict).

One command (one CPU thread, about 15 min)::

    OMP_NUM_THREADS=1 python docs/scripts/finetune_measured_case.py \\
        --out docs/scripts/finetune_proof/measured_case.json
"""

from __future__ import annotations

import json
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from finetune_cases import BAND, granule, open_results, psnr, save

from xr_s5sr import cli
from xr_s5sr.engine import super_resolve_array
from xr_s5sr.l1b import write_l1b
from xr_s5sr.metrics import compute_metrics
from xr_s5sr.objective import FinetuneConfig
from xr_s5sr.selfsup import start_model
from xr_s5sr.spec import model_spec
from xr_s5sr.synthetic import make_granule
from xr_s5sr.weights import load_weights_file

FAMILY, BRIGHTNESS, NOISE, SIZE, STEPS = "continuum", 0.03, "band", 128, 150
OWN_SEEDS, NEW_SEEDS = (1000, 1001, 1002, 1003), (2000, 2001, 2002)


def scene(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(HR, LR + the band's sigma) of one dim scene with all of the band's channels."""
    return granule(FAMILY, seed, BRIGHTNESS, NOISE, size=SIZE, channels=None)


def l1b_file(lr: np.ndarray, seed: int, directory: Path) -> Path:
    """``lr`` as an L1B file: a synthetic granule's frame (geolocation, wavelengths)."""
    frame = make_granule(BAND, SIZE, SIZE, seed=seed, n_channel=lr.shape[-1])
    frame["radiance"] = frame["radiance"].copy(data=lr)
    return write_l1b(frame, directory / f"S5P_TEST_L1B_RA_BD7_{seed}.nc")


def bicubic(granules: list[tuple[np.ndarray, np.ndarray]]) -> list[float]:
    """PSNR (dB, border 16) of bicubic x4."""
    spec = model_spec("bicubic", band=BAND, device="cpu")
    return [
        round(float(compute_metrics(hr, super_resolve_array(lr, spec), border=16)["psnr"][0]), 4)
        for hr, lr in granules
    ]


def scores(model: Any, granules: list[tuple[np.ndarray, np.ndarray]]) -> dict[str, Any]:
    """PSNR of bicubic and of the model, and the model's gain over bicubic per granule."""
    base, values = bicubic(granules), psnr(model, granules)
    return {
        "psnr_bicubic": base,
        "psnr": values,
        "gain_over_bicubic_db": [round(v - b, 4) for v, b in zip(values, base, strict=True)],
    }


def main() -> None:
    out, record = open_results(__doc__.splitlines()[0])
    if record["cases"].get("cli"):
        return
    own, new = [scene(s) for s in OWN_SEEDS], [scene(s) for s in NEW_SEEDS]
    shipped, _, shipped_sha = start_model(FinetuneConfig(band=BAND, model="s5dscr_s"))
    with tempfile.TemporaryDirectory() as folder:
        run = Path(folder)
        mine = [str(l1b_file(lr, s, run)) for (_, lr), s in zip(own, OWN_SEEDS, strict=True)]
        other = [str(l1b_file(lr, s, run)) for (_, lr), s in zip(new, NEW_SEEDS, strict=True)]
        argv = ["finetune", "--band", str(BAND), "--model", "s5dscr_s", "--steps", str(STEPS)]
        argv += ["--l1b", *mine, "--out", str(run / "ft"), "--check", *other]
        started = time.perf_counter()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            code = cli.main(argv)
        seconds = time.perf_counter() - started
        card_path = next((run / "ft").glob("*.json"))
        card = json.loads(card_path.read_text())
        tuned = load_weights_file(card_path.with_suffix(".safetensors"), band=BAND)
    history = card["finetuning"]["history"]
    record["cases"]["cli"] = {
        "command": "xr-s5sr " + " ".join(a if "/" not in a else Path(a).name for a in argv),
        "exit_code": code,
        "seconds": round(seconds, 1),
        "start_sha256": shipped_sha,
        "returned_start": any("returning the start weights" in str(w.message) for w in caught),
        "warnings": sorted({str(w.message)[:160] for w in caught}),
        "validation": [
            {k: round(v, 4) for k, v in h.items() if k == "step" or k.startswith("validation")}
            for h in history
        ],
        "checks": card["checks"],
        "own": {"shipped": scores(shipped, own), "finetuned": scores(tuned, own)},
        "new": {"shipped": scores(shipped, new), "finetuned": scores(tuned, new)},
    }
    for name in ("own", "new"):
        part = record["cases"]["cli"][name]
        part["true_change_db"] = [
            round(a - b, 4)
            for a, b in zip(part["finetuned"]["psnr"], part["shipped"]["psnr"], strict=True)
        ]
    record["plan"] = {
        "family": FAMILY, "brightness": BRIGHTNESS, "noise": NOISE, "lr_size": SIZE,
        "steps": STEPS, "own_seeds": OWN_SEEDS, "new_seeds": NEW_SEEDS,
    }  # fmt: skip
    save(out, record)
    print(json.dumps(record["cases"]["cli"], indent=1), flush=True)


if __name__ == "__main__":
    main()
