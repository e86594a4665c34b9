"""How closely the output fits the data: ``‖A(SR) − y‖`` with and without noise (band 7).

Used for docs/physics.md ("Data consistency now means within the noise"). The scenes are those
of the tests that assert the same (``tests/test_adaptive.py``, ``tests/test_noise.py``):

* ``noisy``: ``family_scene(family, 7, (256, 160), seed 3, brightness)`` degraded, with white
  noise of the band's σ scaled by √brightness; the physics inverse and the default
  (``super_resolve``'s S5-DSCR); the RMS of ``A(SR) − y`` over LR rows 16… from the ends and
  8 pixels from the swath edges, in units of σ;
* ``along_track``: ``families.along_track_scene("solar", 7, ...)``, 160 × 28 LR pixels,
  24 channels, seed 21, photon noise (``noise.photon_sigma``); the physics inverse (the
  networks need the band's 480 channels); per LR row outside the projection's reach, the RMS
  of ``A(SR) − y`` over the row in units of the row's RMS σ, and the σ the automatic settings
  estimated for the row (``settings[..., 3]`` of ``adaptive.blend_windows``) in the same units;
* ``noise_free``: ``family_scene(family, 7, (384, 96), seed 4, brightness=0.03)`` degraded,
  no noise (μ = 0 in every window); ``‖A(SR) − y‖ / ‖y‖`` over the LR rows outside the
  projection's reach, for the exact projection (``nonnegative=False``) and the default.

Run from the repository root (about a minute on one core)::

    OMP_NUM_THREADS=1 python docs/scripts/consistency_misfit.py

Writes ``docs/scripts/consistency_misfit.json`` with the run record
(:func:`xr_s5sr.versions.run_record`).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import torch

from xr_s5sr import adaptive, physics
from xr_s5sr.bands import get_band
from xr_s5sr.degrade import degrade_array
from xr_s5sr.engine import super_resolve_array
from xr_s5sr.families import along_track_scene, family_scene
from xr_s5sr.noise import photon_sigma
from xr_s5sr.spec import model_spec
from xr_s5sr.versions import run_record

OUT = Path(__file__).with_suffix(".json")
BAND = 7
FAMILIES = ("solar", "smooth")
BRIGHTNESS = (0.03, 1.0)


def spec(model: str, **options: object) -> object:
    return model_spec(model, band=BAND, device="cpu", **options)


def noisy(family: str, brightness: float) -> dict[str, float]:
    """RMS misfit / σ of the physics inverse and the default on a noisy scene."""
    seed = 3
    hr = family_scene(family, BAND, (256, 160), seed, brightness=brightness)
    lr = degrade_array(hr, BAND).astype(np.float64)
    sigma = float(get_band(BAND).noise_sigma or 0.0) * np.sqrt(brightness)
    lr = (lr + sigma * np.random.default_rng(seed).standard_normal(lr.shape)).astype(np.float32)
    out = {}
    for name, method in (("physics", spec("backprojection")), ("default", spec("s5dscr"))):
        misfit = (physics.degrade(super_resolve_array(lr, method), BAND) - lr)[16:-16, 8:-8]
        out[name] = float(np.sqrt(np.mean(misfit.astype(np.float64) ** 2)) / sigma)
    return out


def along_track() -> dict[str, float | int]:
    """Per-row RMS misfit / the row's RMS σ of the physics inverse, brightness falling."""
    seed, channels = 21, 24
    hr = along_track_scene("solar", BAND, (4 * 160, 4 * 28), seed, n_channel=channels)
    clean = degrade_array(hr, BAND).astype(np.float64)
    sigma = photon_sigma(clean, BAND)
    lr = (clean + sigma * np.random.default_rng(seed).standard_normal(clean.shape)).astype(
        np.float32
    )
    sr = super_resolve_array(lr, spec("backprojection"))
    reach = physics.projection_reach(BAND)
    misfit = (physics.degrade(sr, BAND) - lr)[reach:-reach].astype(np.float64)
    true = np.sqrt(np.mean(sigma[reach:-reach] ** 2, axis=(1, 2)))
    rows = np.sqrt(np.mean(misfit**2, axis=(1, 2))) / true
    # The σ the automatic settings estimated (blended per row), which sets μ: from few
    # channels the regression across channels overestimates it.
    settings = adaptive.blend_windows(adaptive.window_values(lr, BAND), len(lr))
    estimate = np.sqrt(settings[reach:-reach, 0, 3]) / true
    return {
        "channels": channels,
        "rows": int(rows.size),
        "min": float(rows.min()),
        "max": float(rows.max()),
        "estimated_over_true_sigma": [float(estimate.min()), float(estimate.max())],
    }


def noise_free(family: str) -> dict[str, float]:
    """Relative misfit of the exact projection and the default on noise-free data."""
    lr = degrade_array(family_scene(family, BAND, (384, 96), 4, brightness=0.03), BAND)
    reach = physics.projection_reach(BAND)
    inside = lr[reach:-reach].astype(np.float64)
    out = {}
    for name, method in (("exact", spec("s5dscr", nonnegative=False)), ("default", spec("s5dscr"))):
        sr = super_resolve_array(lr, method).astype(np.float64)
        misfit = (physics.degrade(sr, BAND) - lr)[reach:-reach]
        out[name] = float(np.sqrt(np.mean(misfit**2) / np.mean(inside**2)))
    return out


def main() -> None:
    torch.set_num_threads(1)
    start = time.perf_counter()
    result: dict[str, object] = {
        "band": BAND,
        "noisy": {
            f"{family}/{brightness:g}": noisy(family, brightness)
            for family in FAMILIES
            for brightness in BRIGHTNESS
        },
        "along_track": along_track(),
        "noise_free": {family: noise_free(family) for family in FAMILIES},
    }
    result["seconds"] = round(time.perf_counter() - start, 1)
    result["record"] = run_record([(BAND, "s5dscr")])
    OUT.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "record"}, indent=1))
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
