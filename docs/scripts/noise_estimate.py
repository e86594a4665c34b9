"""How well the noise estimate of ``xr_s5sr.noise`` recovers known noise.

Used for docs/physics.md ("Noise: where sigma comes from"). Band 7 windows of 64 × 54 LR pixels ×
480 channels (HR 256 × 216 of each family, seed 3, degraded): noise-free, with white noise of
the band's σ scaled with √brightness, and with photon noise (σ ∝ √signal). Reported: the ratio
of the estimated to the true RMS σ over the statistic channels (1 = exact).

Example (a minute or two on one core)::

    python docs/scripts/noise_estimate.py --out docs/scripts/noise_estimate.json

The JSON carries the run record (:func:`xr_s5sr.versions.run_record`: commit, machine,
versions), whose commit docs/physics.md cites.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from xr_s5sr.adaptive import statistic_channels
from xr_s5sr.bands import get_band
from xr_s5sr.degrade import degrade_array
from xr_s5sr.families import family_scene
from xr_s5sr.noise import photon_sigma, window_variance
from xr_s5sr.versions import run_record

BAND, SEED = 7, 3
FAMILIES = ("solar", "absorption", "smooth", "edges", "mixture")


def ratios(family: str) -> dict[str, float]:
    hr = family_scene(family, BAND, (256, 216), SEED, brightness=1.0)
    clean = degrade_array(hr, BAND).astype(np.float64)
    channels = statistic_channels(clean.shape[-1])
    rng = np.random.default_rng(1)
    out = {"noise_free_sigma": window_variance(clean.astype(np.float32), channels)}
    for brightness in (0.03, 30.0):
        lr = clean * brightness
        sigma = float(get_band(BAND).noise_sigma or 0.0) * np.sqrt(brightness)
        noisy = lr + sigma * rng.standard_normal(lr.shape)
        estimate = np.sqrt(window_variance(noisy.astype(np.float32), channels))
        out[f"white_{brightness}x"] = float(estimate / sigma)
    sigma = photon_sigma(clean, BAND)
    noisy = clean + sigma * rng.standard_normal(clean.shape)
    truth = np.sqrt(np.mean(sigma[..., channels] ** 2))
    out["photon_1x"] = float(np.sqrt(window_variance(noisy.astype(np.float32), channels)) / truth)
    return {key: round(value, 4) for key, value in out.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    result = {"band": BAND, "window": [64, 54, 480], "families": {}}
    for family in FAMILIES:
        result["families"][family] = ratios(family)
        print(family, result["families"][family], flush=True)
    result["record"] = run_record()
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
