"""Score the shipped weights against bicubic on held-out scenes; write docs/evaluation.md.

Run from the repository root:  python weights/evaluate_shipped.py [--scenes 3] [--size 128]

Two held-out families, never seen in training (training used seeds < 20,000):

* ``synthetic``: scenes of :mod:`xr_s5sr.synthetic` with seeds from 900,000 and scene parameters
  drawn from wider ranges than in training (more cloud, stronger solar-zenith gradients, brighter
  and darker scenes), every other scene with instrument noise on the HR scene;
* ``real-texture`` (only when ``../shared/reference`` exists): the spatial pattern of a *real* S5P
  crop of the S5P_SISR_Toolbox, mixing a clear-sky and a cloudy spectrum of the band
  (``L(x, λ) = (1 − c(x)) L_clear(λ) + c(x) L_cloud(λ)``, ``c`` the crop's brightness scaled to
  [0, 1]): real texture, rank-2 spectra.

Each HR scene is degraded with the toolbox model, super-resolved by every shipped model of the
band and by bicubic, and scored with :func:`xr_s5sr.metrics.compute_metrics` (16 HR pixels cropped
at the borders, where the degradation saw the zero padding).

A third check needs no reference: a *uniform* scene (one mean spectrum of the band everywhere,
at 0.3, 1 and 3 times its radiance) must come out unchanged, since it has no detail to restore.
The mean spectral angle between output and input away from the borders measures the spectral
offset a model adds where it should add nothing (bicubic: 0).
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from xr_s5sr.bands import SUPPORTED_BANDS, get_band
from xr_s5sr.degrade import degrade_array
from xr_s5sr.inference import super_resolve_array
from xr_s5sr.metrics import compute_metrics
from xr_s5sr.synthetic import SceneParameters, make_granule
from xr_s5sr.weights import available_weights, load_model

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT.parent / "shared" / "reference" / "s5p_sisr_toolbox"
CROPS = {2: "1.UV", 3: "2.UVIS", 4: "2.UVIS", 5: "3.NIR", 6: "3.NIR", 7: "4.SWIR", 8: "4.SWIR"}
BORDER = 16


def held_out_parameters(seed: int) -> SceneParameters:
    """Scene parameters from wider ranges than the training draws."""
    rng = np.random.default_rng(seed)
    base = SceneParameters.random(rng)
    return replace(
        base,
        cloud_cover=float(rng.uniform(0.0, 0.95)),
        sza_end=float(np.clip(base.sza_start + rng.uniform(-30, 30), 5, 80)),
        brightness=float(np.exp(rng.normal(0.0, 0.5))),
        cloud_slope=float(rng.uniform(2.4, 3.8)),
    )


def synthetic_scene(band: int, seed: int, size: int) -> np.ndarray:
    width = min(size, get_band(band).ground_pixels)
    ds = make_granule(
        band, size, width, seed=seed, params=held_out_parameters(seed), noise=seed % 2 == 1
    )
    return ds["radiance"].values


def real_texture_scene(band: int, seed: int, size: int) -> np.ndarray | None:
    import scipy.io

    path = REFERENCE / f"{CROPS[band]}_IN.mat"
    if not path.exists():
        return None
    crop = scipy.io.loadmat(path)["radiance"].astype(np.float64)
    rows = slice((seed * 97) % (crop.shape[0] - size + 1), None)
    crop = crop[rows][:size, :size]
    low, high = np.percentile(crop, [2, 98])
    cloud = np.clip((crop - low) / (high - low), 0, 1)[..., None]
    spectra = make_granule(band, 64, 64, seed=seed, params=held_out_parameters(seed))["radiance"]
    flat = spectra.values.reshape(-1, spectra.shape[-1])
    brightness = flat.mean(axis=1)
    clear = flat[brightness <= np.percentile(brightness, 10)].mean(axis=0)
    cloudy = flat[brightness >= np.percentile(brightness, 90)].mean(axis=0)
    return ((1 - cloud) * clear + cloud * cloudy).astype(np.float32)


def score(band: int, hr: np.ndarray, models: dict[str, torch.nn.Module]) -> dict[str, dict]:
    lr = degrade_array(hr, band).astype(np.float32)
    hr = hr[: 4 * lr.shape[0], : 4 * lr.shape[1]]
    estimates = {name: super_resolve_array(lr, model) for name, model in models.items()}
    estimates["bicubic"] = super_resolve_array(lr, "bicubic")
    values = compute_metrics(hr, *estimates.values(), border=BORDER)
    return {
        name: {k: float(values[k][i]) for k in ("psnr", "ssim", "sam", "scc", "ergas")}
        for i, name in enumerate(estimates)
    }


UNIFORM_FACTORS = (0.3, 1.0, 3.0)


def uniform_scene_angles(band: int, model: torch.nn.Module) -> list[float]:
    """Mean spectral angle (degrees) added to a uniform scene, one value per brightness factor."""
    spectrum = (
        make_granule(band, 32, 32, seed=5)["radiance"]
        .values.reshape(-1, model.channels)
        .mean(axis=0)
    )
    angles = []
    for factor in UNIFORM_FACTORS:
        lr = np.full((24, 24, spectrum.size), factor * spectrum, dtype=np.float32)
        hr = np.full((96, 96, spectrum.size), factor * spectrum, dtype=np.float32)
        sam = compute_metrics(hr, super_resolve_array(lr, model), border=BORDER)["sam"]
        angles.append(float(sam[0]))
    return angles


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scenes", type=int, default=3)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--out", default=str(ROOT / "weights" / "evaluation.json"))
    args = parser.parse_args()
    shipped = available_weights()
    results: dict[str, dict] = {}
    for band in SUPPORTED_BANDS:
        names = [m for b, m in shipped if b == band]
        if not names:
            continue
        models = {m: load_model(band, m) for m in sorted(names)}
        for family, make in (("synthetic", synthetic_scene), ("real-texture", real_texture_scene)):
            runs = []
            for k in range(args.scenes):
                hr = make(band, 900_000 + 1000 * band + k, args.size)
                if hr is not None:
                    runs.append(score(band, hr, models))
            if not runs:
                continue
            mean = {
                method: {m: float(np.mean([r[method][m] for r in runs])) for m in runs[0][method]}
                for method in runs[0]
            }
            results[f"band{band}/{family}"] = {
                "band": band,
                "family": family,
                "scenes": len(runs),
                "metrics": mean,
            }
            print(band, family, json.dumps(mean), flush=True)
        results[f"band{band}/uniform"] = {
            "band": band,
            "family": "uniform",
            "factors": list(UNIFORM_FACTORS),
            "sam": {name: uniform_scene_angles(band, model) for name, model in models.items()},
        }
        print(band, "uniform", json.dumps(results[f"band{band}/uniform"]["sam"]), flush=True)
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    write_markdown(results, ROOT / "docs" / "evaluation.md", args)


def write_markdown(results: dict, path: Path, args: argparse.Namespace) -> None:
    lines = [
        "# Evaluation of the shipped weights",
        "",
        "Generated by `python weights/evaluate_shipped.py` "
        f"({args.scenes} held-out scenes of {args.size}×{args.size} HR pixels per band and "
        f"family, {BORDER} border pixels excluded). Higher PSNR/SSIM and lower SAM are better; "
        "ΔPSNR is the gain of each model over bicubic. Families and method: see the script's "
        "docstring. All numbers are on *synthetic* spectra; the skill on real L1B radiance is "
        "unverified.",
        "",
        "| band | family | model | PSNR (dB) | ΔPSNR (dB) | SSIM | SAM (°) | bicubic PSNR | "
        "bicubic SSIM | bicubic SAM (°) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    scored = [entry for entry in results.values() if entry["family"] != "uniform"]
    uniform = [entry for entry in results.values() if entry["family"] == "uniform"]
    for entry in scored:
        metrics = entry["metrics"]
        bic = metrics["bicubic"]
        for method, m in metrics.items():
            if method == "bicubic":
                continue
            lines.append(
                f"| {entry['band']} | {entry['family']} | {method} | {m['psnr']:.2f} | "
                f"{m['psnr'] - bic['psnr']:+.2f} | {m['ssim']:.4f} | {m['sam']:.3f} | "
                f"{bic['psnr']:.2f} | {bic['ssim']:.4f} | {bic['sam']:.3f} |"
            )
    factors = " / ".join(f"{f:g}×" for f in UNIFORM_FACTORS)
    lines += [
        "",
        "## Uniform scenes",
        "",
        "Spectral angle (°) between the output and the input of a scene with one spectrum "
        f"everywhere (the band's mean spectrum at {factors} its radiance). A uniform scene has "
        "no detail to restore, so the ideal is 0, which bicubic achieves exactly; a non-zero "
        "angle is a spectral offset the model adds to flat regions.",
        "",
        f"| band | model | SAM at {factors} (°) |",
        "|---|---|---|",
    ]
    for entry in uniform:
        for method, angles in entry["sam"].items():
            values = " / ".join(f"{a:.3f}" for a in angles)
            lines.append(f"| {entry['band']} | {method} | {values} |")
    path.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
