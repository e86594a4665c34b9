"""Cost of the non-negative consistency step (issue 26) on top of S5-DSCR.

Run from a source checkout::

    python benchmarks/bench_nonnegative.py            # 32 × 450 LR blocks of bands 3 and 7
    python benchmarks/bench_nonnegative.py --quick    # 16 × 120 LR blocks

plus the first 64 (``--quick``: 32) scanlines of the band-7 sample granule as the input, whose
projection alone gives ~20 % negative values (solar scenes have few or none, and the step then
costs almost nothing: channels without a negative value are skipped exactly).

The engine's numpy path (no dask), one torch thread, every variant once per round, minimum over
rounds (:func:`bench_physics.minimum_time`): the shipped S5-DSCR default with the projection
alone (``nonnegative=False``, the default before issue 26) and with the non-negative
consistency step (:func:`xr_s5sr.constrained.nonnegative_consistency`, the default now). The
ratio ``default / projection_alone − 1`` is the cost the non-negativity adds (target ≤ 0.20).
The JSON written to ``--out`` records the git commit, the machine and the weights sha256.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_physics import minimum_time  # noqa: E402

from xr_s5sr import synthetic  # noqa: E402
from xr_s5sr.constrained import NONNEGATIVE_ITERATIONS  # noqa: E402
from xr_s5sr.degrade import degrade_array  # noqa: E402
from xr_s5sr.engine import model_spec, super_resolve_array  # noqa: E402
from xr_s5sr.families import family_scene  # noqa: E402
from xr_s5sr.l1b import open_l1b  # noqa: E402
from xr_s5sr.versions import run_record  # noqa: E402

BANDS = (3, 7)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", default=None, help="default: results-nonnegative[-quick].json")
    args = parser.parse_args(argv)
    if args.out is None:
        # A smoke run never lands in the file the docs quote (docs/scripts/tables.py).
        name = "results-nonnegative-quick.json" if args.quick else "results-nonnegative.json"
        args.out = str(ROOT / "benchmarks" / name)
    torch.set_num_threads(1)
    rows, cols = (16, 120) if args.quick else (32, 450)
    results: dict[str, object] = {
        "quick": args.quick,
        "lr_block": [rows, cols],
        "iterations": NONNEGATIVE_ITERATIONS,
        "threads": 1,
        "record": run_record([(band, "s5dscr") for band in BANDS]),
    }
    cases = {}
    for band in BANDS:
        hr = family_scene("solar", band, (4 * rows, 4 * cols), seed=0, brightness=1.0)
        cases[f"band{band}"] = (band, degrade_array(hr, band).astype(np.float32))
    # The band-7 sample as the input: the worst case (22 % negative values without the step).
    sample = open_l1b(synthetic.sample_path(7), chunks=None)["radiance"].values
    cases["band7_sample"] = (7, np.ascontiguousarray(sample[: 2 * rows]))
    for case, (band, lr) in cases.items():
        default = model_spec("s5dscr", band=band, device="cpu")
        before = replace(default, nonnegative=False)
        times = minimum_time(
            {
                "projection_alone": lambda lr=lr, spec=before: super_resolve_array(lr, spec),
                "default": lambda lr=lr, spec=default: super_resolve_array(lr, spec),
            },
            args.rounds,
        )
        negatives = float(np.mean(super_resolve_array(lr, before) < 0))
        results[case] = {
            "seconds": times,
            "added_fraction": times["default"] / times["projection_alone"] - 1.0,
            "negative_fraction_projection_alone": negatives,
        }
        print(
            f"{case}: S5-DSCR + projection {times['projection_alone']:.2f} s, "
            f"+ non-negative consistency {times['default']:.2f} s "
            f"(+{100 * (times['default'] / times['projection_alone'] - 1):.0f} %; "
            f"negative values without the step: {100 * negatives:.1f} %)",
            flush=True,
        )
    Path(args.out).write_text(json.dumps(results, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
