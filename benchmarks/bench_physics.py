"""Cost of the physics steps (issue 13), measured in one process and printed as ratios.

Run from a source checkout::

    python benchmarks/bench_physics.py            # a 32 × 450 × 497 LR block (band 3)
    python benchmarks/bench_physics.py --quick    # a 16 × 120 × 497 block

Measured on one LR block with the engine's numpy path (no dask), every variant once per round,
minimum over rounds:

* ``backprojection``: the training-free physics inverse (8 iterations on the LR grid, one cubic
  interpolation), as MB of HR output per second and as a ratio to a plain copy of the HR
  array (memory bandwidth);
* ``consistency``: the projection added to S5-DSCR (``+P``) — time of S5-DSCR with the
  projection divided by S5-DSCR without it, and the projection alone divided by the network
  (target ≤ 0.15);
* ``adaptive``: the data-driven settings every default run computes (:mod:`xr_s5sr.adaptive`:
  noise estimate and misfit curve for the automatic μ, the detail gate), divided by S5-DSCR;
* ``operators``: ``A`` (degradation) and ``Aᵀ`` throughput against ``scipy.ndimage.correlate1d``
  running the same 40-tap blur along both axes (without decimation).

Networks are the shipped band-3 weights when present (else randomly initialised). The JSON
written to ``--out`` records the git commit, the machine and the weights sha256.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from scipy import ndimage

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from xr_s5sr import adaptive, physics  # noqa: E402
from xr_s5sr.bands import band_kernels  # noqa: E402
from xr_s5sr.degrade import degrade_array  # noqa: E402
from xr_s5sr.engine import super_resolve_array  # noqa: E402
from xr_s5sr.families import family_scene  # noqa: E402
from xr_s5sr.spec import model_spec  # noqa: E402
from xr_s5sr.versions import run_record  # noqa: E402

BAND = 3


def minimum_time(runs: dict[str, Callable[[], object]], rounds: int) -> dict[str, float]:
    """Seconds of each callable: the minimum over ``rounds`` interleaved rounds."""
    for run in runs.values():
        run()  # warm-up: kernels, caches, allocations
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(rounds):
        for name, run in runs.items():
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)
    return {name: min(values) for name, values in times.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results-physics.json"))
    args = parser.parse_args(argv)
    rows, cols = (16, 120) if args.quick else (32, 450)
    hr = family_scene("solar", BAND, (4 * rows, 4 * cols), seed=0)
    lr = degrade_array(hr, BAND).astype(np.float32)
    hr_bytes = 16 * lr.nbytes

    network = model_spec("s5dscr", band=BAND, device="cpu", consistency=False)
    projected = model_spec("s5dscr", band=BAND, device="cpu")
    physics_spec = model_spec("backprojection", band=BAND, device="cpu", consistency=False)
    estimate = super_resolve_array(lr, network)
    _, noise = adaptive.auto_settings(lr, BAND)

    times = minimum_time(
        {
            "s5dscr": lambda: super_resolve_array(lr, network),
            "s5dscr+P": lambda: super_resolve_array(lr, projected),
            "projection": lambda: physics.project(estimate, lr, BAND),
            "backprojection": lambda: super_resolve_array(lr, physics_spec),
            "copy_hr": lambda: estimate.copy(),
            "statistics": lambda: adaptive.auto_settings(lr, BAND),
            "detail_gate": lambda: adaptive.detail_gate(lr, noise),
        },
        args.rounds,
    )
    kernel_x, kernel_y = band_kernels(BAND)
    operator_times = minimum_time(
        {
            "A": lambda: physics.degrade(hr, BAND),
            "A_adjoint": lambda: physics.degrade_adjoint(lr, BAND, hr.shape[:2]),
            "scipy_blur": lambda: ndimage.correlate1d(
                ndimage.correlate1d(hr, kernel_x, axis=0, mode="constant"),
                kernel_y,
                axis=1,
                mode="constant",
            ),
        },
        args.rounds,
    )
    results = {
        "provenance": run_record([(BAND, "s5dscr")]),
        "block": {"lr_shape": list(lr.shape), "band": BAND},
        "seconds": {**times, **operator_times},
        "ratios": {
            "backprojection_hr_mb_per_s": hr_bytes / 1e6 / times["backprojection"],
            "backprojection_time_over_hr_copy": times["backprojection"] / times["copy_hr"],
            "consistency_extra_over_s5dscr": times["s5dscr+P"] / times["s5dscr"] - 1.0,
            "projection_over_s5dscr": times["projection"] / times["s5dscr"],
            "adaptive_settings_over_s5dscr": (times["statistics"] + times["detail_gate"])
            / times["s5dscr"],
            "A_speed_over_scipy_blur": operator_times["scipy_blur"] / operator_times["A"],
            "A_adjoint_speed_over_scipy_blur": operator_times["scipy_blur"]
            / operator_times["A_adjoint"],
        },
        "target": {"consistency_extra_over_s5dscr": 0.15},
    }
    for name, value in results["ratios"].items():
        print(f"{name:36s} {value:10.3f}")
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
