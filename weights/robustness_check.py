"""Robustness of the default beyond the evaluation scenes: more seeds and an unseen family.

Run from the repository root:
    python weights/robustness_check.py 2,3,4,5,6,7,8 [families] [--out weights/robustness.json]

For each band, every family of :mod:`xr_s5sr.families` plus ``plumes`` (a family that exists
only here, never used by training, validation or ``evaluate_shipped.py``: a smooth background
spectrum with 2–5 Gaussian plumes of a second random spectrum, widths 1.5–8 HR pixels), three
brightness levels and two seeds (71, 72: used nowhere else), prints the PSNR gain over bicubic of
the default (``s5dscr``), the physics inverse (``backprojection``, automatic μ) and the exact
physics inverse (``regularisation=0``), then a summary line. Same degradation, noise and scoring
as ``evaluate_shipped.py``. With ``--out`` every scene's PSNR gains and the summary are written
to a JSON with the commit (``granule_scenes.clean_commit``: a tree with uncommitted changes is
refused); docs quote no number of this script without that JSON.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from evaluate_shipped import provenance, score
from granule_scenes import clean_commit, write_json
from scipy import ndimage

from xr_s5sr.bands import get_band
from xr_s5sr.families import (
    FAMILIES,
    TEXTURE_EVAL_ROWS,
    family_scene,
    load_textures,
    random_spectra,
)
from xr_s5sr.spec import model_spec

SIZE, SEEDS, BRIGHTNESS = 96, (71, 72), (0.03, 1.0, 30.0)


def plumes(band: int, shape: tuple[int, int], seed: int, brightness: float) -> np.ndarray:
    """HR cube of the ``plumes`` family, scaled like the ``smooth`` family of that brightness."""
    rng = np.random.default_rng(seed)
    info = get_band(band)
    low, high = info.wavelength_range
    spectra = random_spectra(np.linspace(low, high, info.spectral_channels), 2, rng)
    rows, cols = np.mgrid[0 : shape[0], 0 : shape[1]].astype(float)
    background = ndimage.gaussian_filter(rng.normal(size=shape), 30)
    background = 1 + 0.2 * background / (np.abs(background).max() + 1e-12)
    amount = np.zeros(shape)
    for _ in range(int(rng.integers(2, 6))):
        centre = rng.uniform(0, shape[0]), rng.uniform(0, shape[1])
        width = rng.uniform(1.5, 8, 2)
        distance = ((rows - centre[0]) / width[0]) ** 2 + ((cols - centre[1]) / width[1]) ** 2
        amount += rng.uniform(0.05, 0.5) * np.exp(-distance / 2)
    mix = amount[..., None]
    cube = background[..., None] * (spectra[0] * (1 - mix) + spectra[1] * mix)
    reference = family_scene("smooth", band, shape, seed, brightness=brightness)
    return (cube * reference.mean() / cube.mean()).astype(np.float32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("bands", help="comma-separated bands, e.g. 2,3,4")
    parser.add_argument("families", nargs="?", default=None, help="comma-separated families")
    parser.add_argument("--out", default=None, help="JSON of every scene and the summary")
    args = parser.parse_args()
    commit = clean_commit(False) if args.out else None
    bands = [int(b) for b in args.bands.split(",")]
    families = args.families.split(",") if args.families else [*FAMILIES, "plumes"]
    textures = load_textures()
    gains = []
    for band in bands:
        info = get_band(band)
        width = min(SIZE, info.ground_pixels)
        methods = {
            "bicubic": "bicubic",
            "default": model_spec("s5dscr", band=band, device="cpu"),
            "backprojection": model_spec("backprojection", band=band, device="cpu"),
            "exact": model_spec("backprojection", band=band, device="cpu", regularisation=0),
        }
        for family in families:
            for level in BRIGHTNESS:
                for seed in SEEDS:
                    if family == "plumes":
                        hr = plumes(band, (SIZE, width), seed, level)
                    else:
                        hr = family_scene(
                            family,
                            band,
                            (SIZE, width),
                            seed,
                            brightness=level,
                            textures=textures,
                            texture_rows=TEXTURE_EVAL_ROWS,
                        )
                    psnr = {m: v["psnr"] for m, v in score(band, hr, level, seed, methods).items()}
                    delta = {m: p - psnr["bicubic"] for m, p in psnr.items()}
                    gains.append(
                        {"band": band, "family": family, "brightness": level, "seed": seed, **delta}
                    )
                    print(
                        band,
                        family,
                        level,
                        seed,
                        " ".join(f"{m} {d:+.2f}" for m, d in delta.items() if m != "bicubic"),
                        flush=True,
                    )
    default = np.array([g["default"] for g in gains])
    physics = default - np.array([g["backprojection"] for g in gains])
    summary = {
        "scenes": len(gains),
        "default_vs_bicubic_min_db": float(default.min()),
        "scenes_below_bicubic": int((default < 0).sum()),
        "default_vs_backprojection_mean_db": float(physics.mean()),
    }
    print(
        f"SUMMARY scenes {len(gains)}: default vs bicubic min {default.min():+.2f} dB, "
        f"{int((default < 0).sum())} below; mean vs backprojection {physics.mean():+.3f} dB"
    )
    if args.out:
        record = {**provenance(bands), "commit": commit}
        write_json(
            Path(args.out),
            {"provenance": record, "gains_over_bicubic_db": gains, "summary": summary},
        )


if __name__ == "__main__":
    main()
