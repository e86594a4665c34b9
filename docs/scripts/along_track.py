"""Quality along an orbit: PSNR per 64-scanline window of a band-7 scene whose brightness falls
300x along track, with photon noise at the band's SNR.

Used for the table in docs/physics.md ("Quality along an orbit"). The scene is
``xr_s5sr.families.along_track_scene`` (first scanline 10x the band's mean radiance, the last
300x dimmer); the LR is its degradation plus photon noise (``xr_s5sr.noise.photon_sigma``).
Methods: bicubic, the default (``super_resolve``'s S5-DSCR with automatic settings per window),
the training-free back-projection with automatic settings, and the unregularised
back-projection (``regularisation=0``). Each window's PSNR is against the HR truth of the
window (16 HR pixels cropped at the swath's edges), so the dim windows are scored on their own
range.

Example (about 10 min on one loaded CPU core)::

    python docs/scripts/along_track.py --out docs/scripts/along_track.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from xr_s5sr.degrade import degrade_array
from xr_s5sr.engine import super_resolve_array
from xr_s5sr.families import along_track_scene
from xr_s5sr.metrics import compute_metrics
from xr_s5sr.noise import photon_sigma
from xr_s5sr.spec import model_spec

WINDOW = 64


def scene(band: int, rows: int, pixels: int, family: str, seed: int) -> tuple[np.ndarray, ...]:
    """(HR, LR with photon noise) of the along-track scene."""
    hr = along_track_scene(family, band, (4 * rows, 4 * pixels), seed)
    lr = degrade_array(hr, band).astype(np.float64)
    lr += photon_sigma(lr, band) * np.random.default_rng(seed).standard_normal(lr.shape)
    return hr, lr.astype(np.float32)


def window_psnr(hr: np.ndarray, sr: np.ndarray) -> list[float]:
    """PSNR (dB) of every 64-LR-scanline window."""
    step = 4 * WINDOW
    return [
        float(compute_metrics(hr[a : a + step], sr[a : a + step], border=16)["psnr"][0])
        for a in range(0, hr.shape[0], step)
    ]


def methods(band: int) -> dict[str, object]:
    return {
        "bicubic": "bicubic",
        "default": model_spec("s5dscr", band=band, device="cpu"),
        "backprojection": model_spec("backprojection", band=band, device="cpu"),
        "backprojection_mu0": model_spec(
            "backprojection", band=band, device="cpu", regularisation=0.0
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--band", type=int, default=7)
    parser.add_argument("--rows", type=int, default=384)
    parser.add_argument("--pixels", type=int, default=40)
    parser.add_argument("--family", default="solar")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    torch.set_num_threads(1)
    start = time.time()
    hr, lr = scene(args.band, args.rows, args.pixels, args.family, args.seed)
    psnr = {}
    for name, method in methods(args.band).items():
        psnr[name] = window_psnr(hr, super_resolve_array(lr, method))
        print(name, np.round(psnr[name], 2), flush=True)
    brightness = [
        float(np.mean(lr[a : a + WINDOW])) / float(np.mean(lr[:WINDOW]))
        for a in range(0, args.rows, WINDOW)
    ]
    windows = [
        {
            "lr_scanlines": [a, min(a + WINDOW, args.rows)],
            "relative_brightness": round(b, 4),
            **{name: round(values[k], 2) for name, values in psnr.items()},
        }
        for k, (a, b) in enumerate(zip(range(0, args.rows, WINDOW), brightness, strict=True))
    ]
    gains = {
        name: round(float(np.mean(np.subtract(values, psnr["bicubic"]))), 2)
        for name, values in psnr.items()
        if name != "bicubic"
    }
    result = {
        "band": args.band,
        "scene": {
            "family": args.family,
            "lr_shape": list(lr.shape),
            "seed": args.seed,
            "brightness_fall": 300.0,
            "noise": "photon noise at the band's SNR",
        },
        "window_lr_scanlines": WINDOW,
        "windows": windows,
        "mean_gain_over_bicubic_db": gains,
        "seconds": round(time.time() - start, 1),
    }
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(gains))


if __name__ == "__main__":
    main()
