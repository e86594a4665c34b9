"""How far a consistency window must read: the rows of a window against the whole granule.

For bands 1, 3 and 7, a 200 × 24 LR granule of heavy-tailed radiance with noise (so that the
projection leaves negative values and the non-negative iterations run) and an HR estimate
with noise; the consistency step of the whole granule
(:func:`xr_s5sr.physics_graph.consistent_numpy`) against the one of a window
(:func:`xr_s5sr.physics_graph.consistent_window`) of 16 rows with ``halo`` rows each side, for
several halos, with and without the non-negative step. The figure: the largest difference on
the window's 16 rows, relative to the largest value of the whole result.
:func:`xr_s5sr.physics.window_halo` is where this falls to ~1e-6 (float32 rounding).

One command (seconds)::

    python docs/scripts/window_halo.py --out docs/scripts/window_halo.json

The JSON carries the run record (:func:`xr_s5sr.versions.run_record`: commit, machine,
versions), whose commit docs/physics.md cites.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from xr_s5sr.constrained import lower_bound
from xr_s5sr.operators import DEGRADE_REACH, upsample
from xr_s5sr.physics import window_halo
from xr_s5sr.physics_graph import consistency_terms, consistent_numpy, consistent_window
from xr_s5sr.spec import model_spec
from xr_s5sr.versions import run_record

HALOS = (4, 8, 12, 16, 24, 32)
START, STOP = 96, 112


def difference(band: int, nonnegative: bool, halo: int, seed: int = 0) -> float:
    """Largest |window − whole| on the window's rows over the largest |whole|."""
    rng = np.random.default_rng(seed)
    n_scan = 200
    y = (0.02 + np.abs(rng.standard_normal((n_scan, 24, 8))) ** 3).astype(np.float32)
    y += 0.05 * rng.standard_normal(y.shape).astype(np.float32)
    x = np.asarray(upsample(y)) + 0.5 * rng.standard_normal((4 * n_scan, 96, 8))
    x = x.astype(np.float32)
    spec = model_spec(
        "backprojection", band=band, device="cpu", nonnegative=nonnegative, regularisation=0.0
    )
    lower = lower_bound(y) if nonnegative else None
    whole = consistent_numpy(x, y, None, lower, spec=spec)
    first, last = START - halo, STOP + halo
    low, high = first - DEGRADE_REACH, last + DEGRADE_REACH
    estimate = x[4 * low : 4 * high]
    window = consistent_window(
        lambda group: estimate[..., group],
        y[first:last],
        None,
        None if lower is None else lower[low:high],
        spill=(DEGRADE_REACH, DEGRADE_REACH),
        **consistency_terms(spec),
    )
    core = window[4 * halo : 4 * (halo + STOP - START)]
    return float(np.abs(core - whole[4 * START : 4 * STOP]).max() / np.abs(whole).max())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    rows = []
    for band in (1, 3, 7):
        for nonnegative in (False, True):
            row = {
                "band": band,
                "nonnegative": nonnegative,
                "window_halo": window_halo(band),
                "at_window_halo": difference(band, nonnegative, window_halo(band)),
                "by_halo": {str(h): difference(band, nonnegative, h) for h in HALOS},
            }
            print(json.dumps(row), flush=True)
            rows.append(row)
    if args.out is not None:
        result = {"rows": rows, "record": run_record()}
        args.out.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
