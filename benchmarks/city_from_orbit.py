"""Time and memory of the recipe "one city from one orbit" (docs/recipes.md).

A synthetic band-3 orbit (default 4,000 × 450 × 497 LR values, generated lazily block by block,
like a lazily opened L1B file) is cut to a city box with ``ds.s5sr.subset`` (box plus the
method's reach), the crop is read into memory and super-resolved, and the HR result is cut to
the box. Each method runs in a fresh process so that its peak RSS (``resource.getrusage``) is
its own.

Run from the repository root:
    python benchmarks/city_from_orbit.py                      # -> benchmarks/results-city.json
    python benchmarks/city_from_orbit.py --scanlines 1000 --models backprojection --out x.json
Prints the Markdown table of docs/recipes.md.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import resource
import time
from pathlib import Path
from typing import Any

import xr_s5sr

BAND = 3
#: Box half-size, degrees: about 22 × 22 km, a large city.
HALF_BOX = 0.1


def run_recipe(model: str, n_scanline: int, threads: int) -> dict[str, Any]:
    """The recipe for one method, timed step by step (runs in a child process)."""
    import numpy as np
    import torch

    from xr_s5sr.synthetic import make_granule

    torch.set_num_threads(threads)
    rss_start = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    times: dict[str, float] = {}

    start = time.perf_counter()
    orbit = make_granule(BAND, n_scanline, seed=11, chunks=64)  # lazy radiance
    times["open_orbit"] = time.perf_counter() - start
    col = orbit.sizes["ground_pixel"] // 2
    # The city in the middle of the physical part of the swath (a long synthetic swath runs
    # past the pole, where its latitudes leave [-90, 90]).
    physical = np.flatnonzero(np.abs(orbit.latitude.values[:, col]) <= 80.0)
    row = int(physical[physical.size // 2])
    lat, lon = float(orbit.latitude[row, col]), float(orbit.longitude[row, col])
    box = {
        "latitude": (lat - HALF_BOX, lat + HALF_BOX),
        "longitude": (lon - HALF_BOX, lon + HALF_BOX),
    }

    start = time.perf_counter()
    city = orbit.s5sr.subset(**box, model=model)
    times["subset"] = time.perf_counter() - start

    start = time.perf_counter()
    city = city.compute()  # reads (here: renders) only the blocks of the crop
    times["read_crop"] = time.perf_counter() - start

    start = time.perf_counter()
    sr = city.s5sr.super_resolve(model=model)
    times["super_resolve"] = time.perf_counter() - start

    start = time.perf_counter()
    in_box = sr.s5sr.subset(**box, halo=(0, 0))
    times["cut_to_box"] = time.perf_counter() - start
    assert bool(np.isfinite(in_box.radiance.values).all())

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return {
        "model": model,
        "orbit_shape": [int(n) for n in orbit.radiance.shape],
        "crop_shape": [int(n) for n in city.radiance.shape],
        "crop_attrs": city.attrs["s5sr_subset"],
        "box_hr_shape": [int(n) for n in in_box.radiance.shape],
        "seconds": times,
        "total_seconds": sum(times.values()),
        "peak_rss_bytes": int(peak),
        "rss_after_imports_bytes": int(rss_start),
    }


def _child(queue: Any, model: str, n_scanline: int, threads: int) -> None:
    queue.put(run_recipe(model, n_scanline, threads))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scanlines", type=int, default=4000)
    parser.add_argument("--models", nargs="+", default=["backprojection", "s5dscr_s", "s5dscr"])
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--out", default=str(Path(__file__).with_name("results-city.json")))
    args = parser.parse_args()

    context = multiprocessing.get_context("spawn")
    results = []
    for model in args.models:
        queue = context.Queue()
        process = context.Process(target=_child, args=(queue, model, args.scanlines, args.threads))
        process.start()
        process.join()
        if process.exitcode != 0:
            raise SystemExit(f"the {model} run failed (exit code {process.exitcode})")
        results.append(queue.get())

    machine = {
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "load_average": os.getloadavg(),
        "xr_s5sr": xr_s5sr.__version__,
        "torch_threads": args.threads,
    }
    Path(args.out).write_text(json.dumps({"machine": machine, "runs": results}, indent=2) + "\n")
    print("| method | crop (LR) | box (HR) | read crop | super-resolve | total | peak RSS |")
    print("|---|---|---|---|---|---|---|")
    for run in results:
        crop = " × ".join(str(n) for n in run["crop_shape"])
        box = " × ".join(str(n) for n in run["box_hr_shape"])
        seconds = run["seconds"]
        print(
            f"| {run['model']} | {crop} | {box} | {seconds['read_crop']:.1f} s | "
            f"{seconds['super_resolve']:.1f} s | {run['total_seconds']:.1f} s | "
            f"{run['peak_rss_bytes'] / 2**30:.2f} GiB |"
        )


if __name__ == "__main__":
    main()
