"""Orbit-scale benchmark (issue 23): a synthetic band orbit streamed to zarr on a LocalCluster.

Run from a source checkout::

    python benchmarks/bench_orbit.py                       # 4000 x 450 x 497, every method
    python benchmarks/bench_orbit.py --scanlines 256 --methods bicubic,backprojection
    python benchmarks/bench_orbit.py --quick               # 128 x 64 x 64 smoke test

What it does, per method (each in a fresh ``LocalCluster`` of ``--workers`` processes with one
thread each, so per-worker peak RSS is the high-water mark of that method alone):

1. builds the lazy orbit :func:`xr_s5sr.orbit.make_orbit` (brightness following the solar
   zenith angle along track, photon noise at the band's SNR; nothing rendered up front);
2. ``orbit.s5sr.super_resolve(**method)`` and xarray's own ``Dataset.to_zarr`` into a
   temporary store (rendering, super-resolution and writing all happen in the workers);
3. records wall time and every worker's peak RSS (``ru_maxrss``).

Ratios printed and written to ``--out`` (JSON, with the run record of
:func:`xr_s5sr.versions.run_record`):

- ``network_time``: the time the network alone needs for the orbit's HR pixels at the fused
  path's rate measured in this run (one tile of ``--tile-rows`` LR scanlines, one thread, no
  physics), divided by the worker count. ``wall / network_time`` is the target ratio of issue 23
  (≤ 1.2 for S5-DSCR fp32).
- ``physics_overhead``: wall of the default over wall of the same network without the physics
  (``consistency=False, regularisation=0``), minus 1 (target ≤ 15 %).
- ``time_granules``: three orbits along a ``time`` dim in one graph, wall over one orbit's.

Not collected by pytest.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import xarray as xr

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import xr_s5sr  # noqa: E402  (registers .s5sr)
from xr_s5sr.engine import super_resolve_array  # noqa: E402
from xr_s5sr.orbit import make_orbit  # noqa: E402
from xr_s5sr.spec import model_spec  # noqa: E402
from xr_s5sr.versions import run_record  # noqa: E402

#: Methods by label: keyword arguments of ``super_resolve``.
METHODS: dict[str, dict[str, Any]] = {
    "s5dscr": {},
    "s5dscr_network_only": {"consistency": False, "regularisation": 0.0},
    "s5dscr_bf16": {"dtype": "bfloat16"},
    "s5dscr_s": {"model": "s5dscr_s"},
    "backprojection": {"model": "backprojection"},
    "bicubic": {"model": "bicubic"},
}


def _peak_rss_bytes() -> int:
    """This process's peak resident set size, bytes (Linux reports kiB)."""
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024


def network_rate(band: int, model: str, ground_pixels: int, channels: int, rows: int) -> float:
    """HR pixels per second of the fused network alone on one LR tile, one torch thread."""
    import torch

    torch.set_num_threads(1)
    tile = make_orbit(
        band, rows, ground_pixels, n_channel=channels, chunks=rows, noise=False
    ).radiance.values
    spec = model_spec(model=model, band=band, device="cpu", consistency=False)
    super_resolve_array(tile, spec, activation_budget=2**62)  # warm-up: load, allocate
    best = float("inf")
    for _ in range(2):
        start = time.perf_counter()
        super_resolve_array(tile, spec, activation_budget=2**62)
        best = min(best, time.perf_counter() - start)
    return 16 * rows * ground_pixels / best


def run_method(
    label: str, kwargs: dict[str, Any], args: argparse.Namespace, n_time: int = 1
) -> dict[str, Any]:
    """Stream ``n_time`` orbits through one method on a fresh LocalCluster."""
    from dask.distributed import Client, LocalCluster

    store = Path(tempfile.mkdtemp(prefix="xr_s5sr-orbit-")) / "orbit.zarr"
    with (
        LocalCluster(
            n_workers=args.workers, threads_per_worker=1, processes=True, memory_limit=None
        ) as cluster,
        Client(cluster) as client,
    ):
        orbits = [
            make_orbit(
                args.band,
                args.scanlines,
                args.ground_pixels,
                seed,
                n_channel=args.channels,
                chunks=args.chunks,
            )
            for seed in range(n_time)
        ]
        lr = orbits[0] if n_time == 1 else xr.concat(orbits, dim="time")
        start = time.perf_counter()
        sr = lr.s5sr.super_resolve(torch_threads=1, **kwargs)
        sr.to_zarr(store, mode="w")
        wall = time.perf_counter() - start
        peaks = client.run(_peak_rss_bytes)
    shutil.rmtree(store.parent, ignore_errors=True)
    hr_pixels = n_time * 16 * args.scanlines * args.ground_pixels
    return {
        "label": label,
        "kwargs": kwargs,
        "scanlines": args.scanlines,
        "granules": n_time,
        "wall_s": wall,
        "s_per_lr_scanline": wall / (n_time * args.scanlines),
        "hr_pixels": hr_pixels,
        "worker_peak_rss_bytes": sorted(peaks.values()),
        "output_scanline_chunks": list(sr.radiance.chunks[sr.radiance.dims.index("scanline")])[:3],
    }


def add_orbit_arguments(parser: argparse.ArgumentParser, scanlines: int) -> None:
    """The options :func:`run_method` reads: the orbit (``scanlines`` by default) and the
    cluster."""
    parser.add_argument("--band", type=int, default=3)
    parser.add_argument("--scanlines", type=int, default=scanlines)
    parser.add_argument("--ground-pixels", type=int, default=450)
    parser.add_argument("--channels", type=int, default=None, help="default: the band's")
    parser.add_argument("--chunks", type=int, default=64, help="LR scanlines per input chunk")
    parser.add_argument("--workers", type=int, default=2)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_orbit_arguments(parser, scanlines=4000)
    parser.add_argument("--tile-rows", type=int, default=16)
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--time-granules", type=int, default=3, help="0 skips the time run")
    parser.add_argument("--quick", action="store_true", help="128 x 64 x 64, two methods")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results-orbit.json")
    parser.add_argument(
        "--merge", action="store_true", help="keep the other methods' runs already in --out"
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.scanlines, args.ground_pixels, args.channels = 128, 64, 64
        args.methods, args.time_granules = "bicubic,backprojection", 0
    labels = [m for m in args.methods.split(",") if m]
    unknown = sorted(set(labels) - set(METHODS))
    if unknown:
        parser.error(f"unknown methods {unknown}; choose from {sorted(METHODS)}")
    channels = args.channels or xr_s5sr.bands.get_band(args.band).spectral_channels
    results: dict[str, Any] = {"config": {**vars(args), "out": str(args.out)}, "runs": {}}
    if args.merge and args.out.exists():
        previous = json.loads(args.out.read_text())
        results["runs"] = previous.get("runs", {})
        results["network_hr_pixels_per_s"] = previous.get("network_hr_pixels_per_s", {})
    network_labels = [m for m in labels if m.startswith("s5dscr")]
    if network_labels and channels == xr_s5sr.bands.get_band(args.band).spectral_channels:
        for model in sorted({METHODS[m].get("model", "s5dscr") for m in network_labels}):
            rate = network_rate(args.band, model, args.ground_pixels, channels, args.tile_rows)
            results.setdefault("network_hr_pixels_per_s", {})[model] = rate
    used = {METHODS[m].get("model", "s5dscr") for m in labels if m.startswith("s5dscr")}
    record = run_record([(args.band, model) for model in sorted(used)])
    for label in labels:
        run = run_method(label, METHODS[label], args)
        run["record"] = record
        model = METHODS[label].get("model", "s5dscr")
        rate = results.get("network_hr_pixels_per_s", {}).get(model)
        if rate and label.startswith("s5dscr") and "dtype" not in METHODS[label]:
            run["network_time_s"] = run["hr_pixels"] / (rate * args.workers)
            run["wall_over_network_time"] = run["wall_s"] / run["network_time_s"]
        results["runs"][label] = run
        peak = max(run["worker_peak_rss_bytes"]) / 2**30
        ratio = run.get("wall_over_network_time")
        print(
            f"{label:22s} wall {run['wall_s']:8.1f} s  {run['s_per_lr_scanline']:.3f} s/LR"
            f" scanline  peak RSS/worker {peak:.2f} GiB"
            + (f"  wall/network {ratio:.2f}" if ratio is not None else ""),
            flush=True,
        )
    runs = results["runs"]
    if "s5dscr" in runs and "s5dscr_network_only" in runs:
        overhead = runs["s5dscr"]["wall_s"] / runs["s5dscr_network_only"]["wall_s"] - 1
        results["physics_overhead"] = overhead
        print(f"physics and settings on top of the network: {overhead:+.1%}")
    if args.time_granules > 1 and labels:
        label = labels[0]
        run = run_method(label, METHODS[label], args, n_time=args.time_granules)
        run["wall_over_one_granule"] = run["wall_s"] / runs[label]["wall_s"]
        results["time_granules"] = run
        print(
            f"{args.time_granules} granules along time ({label}): "
            f"{run['wall_over_one_granule']:.2f} x one granule"
        )
    results["record"] = record
    args.out.write_text(json.dumps(results, indent=1, default=str) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
