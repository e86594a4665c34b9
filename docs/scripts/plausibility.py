"""Physical plausibility of the super-resolved radiance (issue 26): negative values, data misfit,
spectral angle and absorption-line depth per scene family, with and without the non-negativity
of the consistency step and the granule's spectral subspace.

Run from the repository root (about 20 minutes on one CPU thread; or one band per process,
``python docs/scripts/plausibility.py 7`` and ``... 3``, then ``... merge``):
    python docs/scripts/plausibility.py
Writes docs/scripts/plausibility.json (the tables of docs/physics.md, "Physically plausible
output"), or the JSON ``--out`` names (its per-band parts and ``_continuum`` beside it). Each
JSON carries the run record (:func:`xr_s5sr.versions.run_record`: commit, machine, versions,
the shipped weights' sha256), whose commit docs/physics.md cites.

Methods per scene
    ``bicubic``; ``physics``: the training-free physics inverse without the non-negativity and
    without the spectral prior (the unconstrained inverse the issue measures against);
    ``projection_only``: S5-DSCR on the physics inverse with the projection alone (the default
    before issue 26); ``default_before``: the same with the non-negative consistency step (the
    default before the spectral prior); ``default``: the default (non-negative step and the
    spectral prior of :mod:`xr_s5sr.subspace`: the LR spectra projected onto each 64-scanline
    window's signal subspace, settings and noise from the original data); ``composed``: the
    default with ``spectral_composition=True`` (the network's spectra take the interpolated
    data's shape before the consistency step, :func:`xr_s5sr.spectral.compose_intensity`);
    ``prior_sharp``: the alternative of the trade-off, ``sharp_prior=True`` (the settings read
    the denoised cube and its noise σ̂² · K / C: they fit the denoised data closely, sharper
    and noisier in angle).
"""

from __future__ import annotations

import argparse
import json
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
from xr_s5sr.versions import run_record

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
METHODS = (
    "bicubic",
    "physics",
    "projection_only",
    "default_before",
    "default",
    "composed",
    "prior_sharp",
)


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
        "composed": replace(default, spectral_composition=True),
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


def merge(out: Path) -> dict[str, Any]:
    """The per-band JSONs beside ``out`` (``<stem>_band<b>.json``) joined into one.

    The parts must come from one commit: the merged JSON is then one measurement of one code,
    its ``record`` the first part's with every part's weights sha256 (what a run of all bands
    records), and ``part_records`` keeps every part's own (date, machine, versions). Parts
    from different commits, or written before the script kept a record, are refused rather
    than recorded side by side: the page cites one commit for the table, and a table mixing
    two codes would need every row to name its own. (Two ``+uncommitted`` parts on one commit
    may still differ in their uncommitted changes; the record cannot tell, so regenerate from
    a clean tree.)
    """
    parts = [json.loads(out.with_name(f"{out.stem}_band{b}.json").read_text()) for b in BANDS]
    commits = {
        b: part.get("record", {}).get("commit") for b, part in zip(BANDS, parts, strict=True)
    }
    if None in commits.values() or len(set(commits.values())) > 1:
        raise SystemExit(f"refusing to merge parts without one recorded commit: {commits}")
    weights = {k: v for part in parts for k, v in part["record"]["weights_sha256"].items()}
    return {
        **parts[0],
        "scenes": [scene for part in parts for scene in part["scenes"]],
        "record": {**parts[0]["record"], "weights_sha256": weights},
        "part_records": {str(b): part["record"] for b, part in zip(BANDS, parts, strict=True)},
    }


def main() -> None:
    """All bands (``python plausibility.py``), or one (``python plausibility.py 7``, written to
    plausibility_band7.json; ``python plausibility.py merge`` joins those into the JSON), or
    the ``continuum`` family, noisy and dim noisy (``plausibility_continuum.json``)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "run",
        nargs="?",
        help="a band number, merge (the per-band JSONs) or continuum (default: all bands)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=OUT,
        help="the JSON of all bands; parts and _continuum are written beside it "
        "(default: %(default)s)",
    )
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.run == "merge":
        args.out.write_text(json.dumps(merge(args.out), indent=1) + "\n")
        return
    families, conditions, bands, out = FAMILIES, CONDITIONS, list(BANDS), args.out
    if args.run == "continuum":
        # Continuous spectral variability (issue 26): the family the subspace was not tuned on.
        families, conditions = ("continuum",), CONDITIONS[1:]
        out = out.with_name(f"{out.stem}_continuum.json")
    elif args.run is not None:
        if not args.run.isdigit():
            parser.error(f"not a band, merge or continuum: {args.run}")
        bands = [int(args.run)]
        out = out.with_name(f"{out.stem}_band{bands[0]}.json")
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
    # The default and sharp_prior run the shipped S5-DSCR weights of each band.
    results["record"] = run_record([(band, "s5dscr") for band in bands])
    out.write_text(json.dumps(results, indent=1) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
