"""Does projecting the HR result's spectra onto the window's signal subspace lower the spectral
angle (issue 26)? The remedy proposed for the scenes whose SAM stays above bicubic's.

Run from the repository root (a few minutes on one CPU thread):
    python docs/scripts/hr_subspace.py
Writes docs/scripts/hr_subspace.json: per scene (the plausibility scenes of
``docs/scripts/plausibility.py`` whose default SAM is above bicubic's, plus two dim scenes) the
default's PSNR / SAM / negative fraction, and the same after every HR spectrum is replaced by
its projection onto the span of the LR window's basis (:func:`xr_s5sr.subspace.window_basis`;
for noise-free scenes, not projected by the prior, the noise-free rank of
:func:`xr_s5sr.spectral.signal_subspace`). The projection commutes with the degradation, which
acts per channel, so it keeps the consistency with the (single-window) denoised data.
``--out`` writes another JSON instead. The JSON carries the run record
(:func:`xr_s5sr.versions.run_record`: commit, machine, versions, the shipped weights' sha256),
whose commit docs/physics.md cites.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from plausibility import SEED, SHAPE, score

from xr_s5sr.degrade import degrade_array
from xr_s5sr.engine import super_resolve_array
from xr_s5sr.families import family_scene
from xr_s5sr.spec import model_spec
from xr_s5sr.spectral import signal_subspace
from xr_s5sr.subspace import window_basis
from xr_s5sr.versions import run_record

OUT = Path(__file__).with_suffix(".json")
SCENES = ((7, "solar", "clean"), (7, "solar", "dim_noisy"), (7, "edges", "dim_noisy"))
SCENES += ((7, "continuum", "dim_noisy"),)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=OUT, help="(default: %(default)s)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    results = []
    for band, family, condition in SCENES:
        brightness = 0.03 if condition == "dim_noisy" else 1.0
        hr = family_scene(family, band, SHAPE, seed=SEED, brightness=brightness)
        clean = degrade_array(hr, band).astype(np.float32)
        noisy = condition != "clean"
        lr = degrade_array(hr, band, noise="lr", seed=SEED) if noisy else clean
        lr = np.asarray(lr, np.float32)
        noise = float(np.var(lr.astype(np.float64) - clean)) if noisy else 0.0
        basis, _ = window_basis(lr)
        if basis is None:
            basis = signal_subspace(lr, 0.0)
        sr = super_resolve_array(lr, model_spec("s5dscr", band=band, device="cpu"))
        spectra = sr.reshape(-1, sr.shape[-1]).astype(np.float64)
        projected = ((spectra @ basis) @ basis.T).reshape(sr.shape).astype(np.float32)
        scene = {"band": band, "family": family, "condition": condition, "rank": basis.shape[1]}
        scene["default"] = score(hr, sr, lr, band, noise)
        scene["hr_projected"] = score(hr, projected, lr, band, noise)
        scene["bicubic_sam"] = score(
            hr, super_resolve_array(lr, model_spec("bicubic", device="cpu")), lr, band, noise
        )["sam"]
        results.append(scene)
        print(
            band,
            family,
            condition,
            *(
                f"{k}: {scene[k]['psnr']:.2f} dB {scene[k]['sam']:.2f} deg"
                for k in ("default", "hr_projected")
            ),
            f"bicubic {scene['bicubic_sam']:.2f} deg",
            flush=True,
        )
    # The default runs the shipped S5-DSCR weights of each band.
    record = run_record([(band, "s5dscr") for band in dict.fromkeys(s[0] for s in SCENES)])
    result = {"shape": SHAPE, "seed": SEED, "scenes": results, "record": record}
    args.out.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
