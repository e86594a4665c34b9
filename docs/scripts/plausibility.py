"""Physical plausibility of the super-resolved radiance (issue 26): negative values, data misfit,
spectral angle and absorption-line depth per scene family, with and without the non-negativity
of the consistency step and the granule's spectral subspace.

Run from the repository root (about 20 minutes on one CPU thread; or one band per process,
``python docs/scripts/plausibility.py 7`` and ``... 3``, then ``... merge``):
    python docs/scripts/plausibility.py
Writes docs/scripts/plausibility.json (the tables of docs/physics.md, "Physically plausible
output").

Methods per scene
    ``bicubic``; ``physics``: the training-free physics inverse without the non-negativity and
    without the spectral prior (the unconstrained inverse the issue measures against);
    ``projection_only``: S5-DSCR on the physics inverse with the projection alone (the default
    before issue 26); ``default_before``: the same with the non-negative consistency step (the
    default before the spectral prior); ``default``: the default (non-negative step and the
    spectral prior of :mod:`xr_s5sr.subspace`: the LR spectra projected onto each 64-scanline
    window's signal subspace, settings and noise from the original data); ``prior_sharp``:
    the alternative of the trade-off, ``sharp_prior=True`` (the settings read the denoised cube
    and its noise σ̂² · K / C: they fit the denoised data closely, sharper and noisier in
    angle).
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from xr_s5sr.degrade import degrade_array
from xr_s5sr.engine import super_resolve_array
from xr_s5sr.families import family_scene
from xr_s5sr.metrics import compute_metrics
from xr_s5sr.physics import degrade
from xr_s5sr.spec import model_spec
from xr_s5sr.spectral import line_depth_error
from xr_s5sr.subspace import window_basis

OUT = Path(__file__).with_suffix(".json")
#: HR (scanline, ground_pixel) of every scene, and the border left out of the scores (the LR
#: edge pixels were degraded with zero padding).
SHAPE = (192, 96)
BORDER = 16
BANDS = (7, 3)
FAMILIES = ("solar", "edges", "smooth")
#: (label, brightness factor on the band's mean radiance, LR noise of the band or none).
CONDITIONS = (("clean", 1.0, None), ("noisy", 1.0, "lr"), ("dim_noisy", 0.03, "lr"))
SEED = 5
METHODS = ("bicubic", "physics", "projection_only", "default_before", "default", "prior_sharp")


def misfit(sr: np.ndarray, lr: np.ndarray, band: int, noise: float) -> dict[str, float]:
    """Relative L2 misfit and noise-normalised χ² of ``A sr − lr`` away from the edges."""
    edge = BORDER // 4
    residual = (degrade(sr, band) - lr)[edge:-edge, edge:-edge]
    data = lr[edge:-edge, edge:-edge]
    out = {"misfit_rel": float(np.linalg.norm(residual) / np.linalg.norm(data))}
    out["chi2"] = float(np.mean(residual.astype(np.float64) ** 2) / noise) if noise else None
    return out


def score(
    hr: np.ndarray, sr: np.ndarray, lr: np.ndarray, band: int, noise: float
) -> dict[str, Any]:
    metrics = compute_metrics(hr, sr, border=BORDER)
    crop = (slice(BORDER, -BORDER), slice(BORDER, -BORDER))
    return {
        "psnr": float(metrics["psnr"][0]),
        "sam": float(metrics["sam"][0]),
        "line_depth_error": line_depth_error(hr[crop], sr[crop]),
        "negative_fraction": float(np.mean(sr < 0)),
        **misfit(sr, lr, band, noise),
    }


def run_scene(band: int, family: str, brightness: float, noise_kind: str | None) -> dict[str, Any]:
    hr = family_scene(family, band, SHAPE, seed=SEED, brightness=brightness)
    clean = degrade_array(hr, band).astype(np.float32)
    lr = clean if noise_kind is None else degrade_array(hr, band, noise=noise_kind, seed=SEED)
    lr = np.asarray(lr, np.float32)
    noise = float(np.var(lr.astype(np.float64) - clean)) if noise_kind else 0.0
    default = model_spec("s5dscr", band=band, device="cpu")
    before = replace(default, spectral_prior=False)
    specs = {
        "bicubic": model_spec("bicubic", device="cpu"),
        "physics": replace(
            model_spec("backprojection", band=band, device="cpu", nonnegative=False),
            spectral_prior=False,
        ),
        "projection_only": replace(before, nonnegative=False),
        "default_before": before,
        "default": default,
    }
    result: dict[str, Any] = {"noise_variance": noise}
    for name, spec in specs.items():
        start = time.perf_counter()
        sr = super_resolve_array(lr, spec)
        result[name] = {**score(hr, sr, lr, band, noise), "seconds": time.perf_counter() - start}
    # The scenes are one subspace window (48 LR scanlines): its rank K (C: not projected).
    basis, _ = window_basis(lr)
    result["default"]["rank"] = lr.shape[-1] if basis is None else basis.shape[1]
    sharp = model_spec("s5dscr", band=band, device="cpu", sharp_prior=True)
    result["prior_sharp"] = score(hr, super_resolve_array(lr, sharp), lr, band, noise)
    return result


def main() -> None:
    """All bands (``python plausibility.py``), or one (``python plausibility.py 7``, written to
    plausibility_band7.json; ``python plausibility.py merge`` joins those into the JSON), or
    the ``continuum`` family, noisy and dim noisy (``plausibility_continuum.json``)."""
    torch.set_num_threads(1)
    if sys.argv[1:] == ["merge"]:
        parts = [json.loads(OUT.with_name(f"{OUT.stem}_band{b}.json").read_text()) for b in BANDS]
        merged = {**parts[0], "scenes": [scene for part in parts for scene in part["scenes"]]}
        OUT.write_text(json.dumps(merged, indent=1) + "\n")
        return
    families, conditions, bands, out = FAMILIES, CONDITIONS, list(BANDS), OUT
    if sys.argv[1:] == ["continuum"]:
        # Continuous spectral variability (issue 26): the family the subspace was not tuned on.
        families, conditions = ("continuum",), CONDITIONS[1:]
        out = OUT.with_name(f"{OUT.stem}_continuum.json")
    elif sys.argv[1:]:
        bands = [int(sys.argv[1])]
        out = OUT.with_name(f"{OUT.stem}_band{bands[0]}.json")
    results: dict[str, Any] = {"shape": SHAPE, "border": BORDER, "seed": SEED, "scenes": []}
    for band in bands:
        for family in families:
            for label, brightness, noise_kind in conditions:
                scene = run_scene(band, family, brightness, noise_kind)
                scene.update(band=band, family=family, condition=label)
                results["scenes"].append(scene)
                print(
                    f"band {band} {family:10s} {label:9s} "
                    + " ".join(
                        f"{m}: {scene[m]['psnr']:.2f} dB {scene[m]['sam']:.2f} deg "
                        f"neg {scene[m]['negative_fraction']:.3f}"
                        for m in METHODS
                    ),
                    flush=True,
                )
    out.write_text(json.dumps(results, indent=1) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
