"""Choose the length of the settings windows (``xr_s5sr.adaptive.WINDOW``).

Used for docs/physics.md ("Automatic settings per window"). Two quantities decide it:

* the sampling error of a window's statistic: on development scenes whose brightness does not
  change along track (families solar, absorption, edges, smooth at the band's mean radiance with
  photon noise; seeds unrelated to the along-track test scene), every window should find the
  same μ and σ; the scatter of log10 μ and of σ across windows shrinks with the window length;
* the reach: every output block reads its own rows, the windows whose centres bracket them and
  the statistic's reach (``statistics_reach``); the LR rows read to compute the first 64 HR
  scanlines of a 768-scanline granule grow with it (recorded while computing them from input
  chunks of 16 scanlines into output blocks of 16, as tests/test_adaptive.py measures the
  bound: coarser input chunks count whole chunks, not the reach).

The locality bound of issue 23 (tested in tests/test_adaptive.py: at most 256 LR scanlines)
rules out the lengths whose reads exceed it; within it the script chooses nothing. Longer
windows sample the statistics better (the table shows how the spread of μ and the error of σ
shrink with the length), shorter ones follow the illumination along an orbit more closely; the
JSON records the lengths the bound admits and the shipped one (``adaptive.WINDOW``).

Example (a few minutes on one core)::

    python docs/scripts/settings_window.py --out docs/scripts/settings_window.json

The JSON carries the run record (:func:`xr_s5sr.versions.run_record`: commit, machine,
versions), whose commit docs/physics.md cites.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import dask.array as da
import numpy as np

from xr_s5sr import adaptive
from xr_s5sr.degrade import degrade_array
from xr_s5sr.engine import super_resolve_array
from xr_s5sr.families import family_scene
from xr_s5sr.noise import photon_sigma
from xr_s5sr.spec import model_spec
from xr_s5sr.versions import run_record

LENGTHS = (8, 16, 24, 32, 48, 64, 96)
FAMILIES = ("solar", "absorption", "edges", "smooth")
SEED = 2300
MAX_READS = 256
#: LR scanlines per input chunk (and per output block) when counting the reads.
INPUT_CHUNK = 16


def scene(family: str, band: int, rows: int, pixels: int) -> tuple[np.ndarray, np.ndarray]:
    """(LR with photon noise, its true σ) of a development scene."""
    hr = family_scene(family, band, (4 * rows, 4 * pixels), SEED, brightness=1.0)
    lr = degrade_array(hr, band).astype(np.float64)
    sigma = photon_sigma(lr, band)
    noisy = lr + sigma * np.random.default_rng(SEED).standard_normal(lr.shape)
    return noisy.astype(np.float32), sigma


def scatter(lr: np.ndarray, sigma: np.ndarray, band: int, length: int) -> dict[str, float]:
    """Across the windows of one scene (edge windows left out: their misfit rows are fewer):
    the spread of log10 μ, and the error of each window's σ against the window's true RMS σ
    (photon noise: σ itself differs between windows)."""
    adaptive.WINDOW = length
    settings = adaptive.blend_windows(adaptive.window_values(lr, band), len(lr))
    bounds = adaptive.windows(lr.shape[0])[1:-1]
    centres = adaptive.window_centres(bounds).round().astype(int)
    mu = settings[centres, 0, 0]
    channels = adaptive.statistic_channels(lr.shape[-1])
    truth = np.array([np.sqrt(np.mean(sigma[a:b][..., channels] ** 2)) for a, b in bounds])
    error = np.sqrt(settings[centres, 0, 3]) / truth - 1.0
    return {
        "windows": len(bounds),
        "mu_median": float(np.median(mu)),
        "log10_mu_std": float(np.std(np.log10(np.maximum(mu, 1e-12)))),
        "sigma_error_rms": float(np.sqrt(np.mean(error**2))),
    }


def reads(band: int, length: int) -> int:
    """LR scanlines read to compute the first 64 HR scanlines of a 768-scanline granule read
    in chunks of :data:`INPUT_CHUNK` scanlines, into output blocks of as many."""
    adaptive.WINDOW = length
    data = (1.0 + 0.1 * np.random.default_rng(0).standard_normal((768, 24, 8))).astype("f4")
    seen: set[int] = set()

    def load(block_info: dict | None = None) -> np.ndarray:
        start, stop = block_info[None]["array-location"][0]  # type: ignore[index]
        seen.update(range(start, stop))
        return data[start:stop]

    chunks = da.core.normalize_chunks((INPUT_CHUNK, -1, -1), data.shape)
    lr = da.map_blocks(load, chunks=chunks, dtype=np.float32, meta=np.empty((0, 0, 0), "f4"))
    spec = model_spec("backprojection", band=band, device="cpu")
    sr = super_resolve_array(lr, spec, output_chunks=4 * INPUT_CHUNK)
    sr[:64].compute(scheduler="sync")
    return len(seen)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--band", type=int, default=7)
    parser.add_argument("--rows", type=int, default=256)
    parser.add_argument("--pixels", type=int, default=64)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    start = time.time()
    default = adaptive.WINDOW
    scenes = {f: scene(f, args.band, args.rows, args.pixels) for f in FAMILIES}
    rows = []
    for length in LENGTHS:
        per_family = {f: scatter(*data, args.band, length) for f, data in scenes.items()}
        row = {
            "window": length,
            "reads_for_64_hr_rows": reads(args.band, length),
            "log10_mu_std_max": max(v["log10_mu_std"] for v in per_family.values()),
            "sigma_error_rms_max": max(v["sigma_error_rms"] for v in per_family.values()),
            "families": per_family,
        }
        print(json.dumps({k: v for k, v in row.items() if k != "families"}), flush=True)
        rows.append(row)
    adaptive.WINDOW = default
    admitted = [r["window"] for r in rows if r["reads_for_64_hr_rows"] <= MAX_READS]
    result = {
        "band": args.band,
        "scene": {"lr_rows": args.rows, "lr_ground_pixels": args.pixels, "seed": SEED},
        "reads_for_64_hr_rows_max": MAX_READS,
        "statistics_reach": adaptive.statistics_reach(args.band),
        "lengths": rows,
        "admitted": admitted,
        "shipped": default,
        "seconds": round(time.time() - start, 1),
        "record": run_record(),
    }
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print("lengths within the locality bound:", admitted, "shipped:", default)


if __name__ == "__main__":
    main()
