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
Also the weights of the last step (the checkpoint's, what a run without selection returns):
their truth, the new check (``check_finetuned``) and the previous one (reduced resolution on
the training composition, ``objective.reduced_errors``, with SURE: "better" when the lower
bound is above 0 and SURE is lower), on the fine-tuning and the new granules.

One command (one CPU thread; 68 min on a shared 2-core machine, 31 of them the CLI run)::

    OMP_NUM_THREADS=1 python docs/scripts/finetune_measured_case.py \\
        --out docs/scripts/finetune_proof/measured_case.json
"""

from __future__ import annotations

import copy
import json
import tempfile
import time
import warnings
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from finetune_cases import BAND, granule, open_results, psnr, save

from xr_s5sr import cli
from xr_s5sr.engine import super_resolve_array
from xr_s5sr.l1b import write_l1b
from xr_s5sr.metrics import compute_metrics
from xr_s5sr.objective import (
    FinetuneConfig,
    compare_errors,
    prepare_tile,
    reduce_tiles,
    reduced_errors,
    validation_sure,
)
from xr_s5sr.selfsup import check_finetuned, checkpoint_path, start_model
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
    return write_l1b(frame, directory / f"S5P_TEST_L1B_RA_BD7_{seed}.nc", overwrite=True)


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


def previous_check(model: Any, lrs: list[np.ndarray]) -> dict[str, Any]:
    """The check before issue 25's fix: training composition at reduced resolution + SURE."""
    config = FinetuneConfig(band=BAND, model="s5dscr_s")
    tiles = [prepare_tile(lr, config.context, BAND) for lr in lrs]
    reduced = reduce_tiles(tiles, config)
    start, _, _ = start_model(config)
    gain = compare_errors(
        reduced_errors(start, reduced, config), reduced_errors(model, reduced, config)
    )
    before, after = validation_sure(start, tiles, config), validation_sure(model, tiles, config)
    sure = 100 * (after / before - 1)
    return {
        "better": bool(gain["low_db"] > 0 and sure < 0),
        **{k: round(v, 4) for k, v in gain.items()},
        "sure_change_percent": round(sure, 2),
    }


def last_step(run: Path, granules: dict[str, list[Any]], shipped: Any) -> dict[str, Any]:
    """The weights of the last step: truth, the new and the previous check, per granule set."""
    import torch

    state = torch.load(checkpoint_path(run), weights_only=True)
    model = copy.deepcopy(shipped)
    model.config = replace(model.config, detail_gate=False)
    model.load_state_dict(state["model"])
    config = FinetuneConfig(band=BAND, model="s5dscr_s")
    out = {}
    for name, group in granules.items():
        lrs = [lr for _, lr in group]
        check = check_finetuned(model, config, lrs)
        out[name] = {
            **scores(model, group),
            "check": {k: (round(v, 4) if isinstance(v, float) else v) for k, v in check.items()},
            "previous_check": previous_check(model, lrs),
        }
    return out


def main() -> None:
    out, record = open_results(__doc__.splitlines()[0])
    if record["cases"].get("cli"):
        return
    own, new = [scene(s) for s in OWN_SEEDS], [scene(s) for s in NEW_SEEDS]
    shipped, _, shipped_sha = start_model(FinetuneConfig(band=BAND, model="s5dscr_s"))
    # A fixed work folder: an interrupted run resumes from the CLI's own checkpoint.
    run = Path(tempfile.gettempdir()) / f"finetune_measured_case_{out.stem}"
    run.mkdir(exist_ok=True)
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
    raw = last_step(run / "ft", {"own": own, "new": new}, shipped)
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
        "own": {"shipped": scores(shipped, own)},
        "new": {"shipped": scores(shipped, new)},
    }
    for name, group in (("own", own), ("new", new)):
        part = record["cases"]["cli"][name]
        part["finetuned"] = (
            scores(tuned, group)
            if not record["cases"]["cli"]["returned_start"]
            else part["shipped"]
        )
        part["last_step"] = raw[name]
        for key in ("finetuned", "last_step"):
            part[f"{key}_true_change_db"] = [
                round(a - b, 4)
                for a, b in zip(part[key]["psnr"], part["shipped"]["psnr"], strict=True)
            ]
    record["plan"] = {
        "family": FAMILY, "brightness": BRIGHTNESS, "noise": NOISE, "lr_size": SIZE,
        "steps": STEPS, "own_seeds": OWN_SEEDS, "new_seeds": NEW_SEEDS,
        "held_out_for_validation": OWN_SEEDS[3::4],
    }  # fmt: skip
    save(out, record)
    print(json.dumps(record["cases"]["cli"], indent=1), flush=True)


if __name__ == "__main__":
    main()
