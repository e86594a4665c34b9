"""Performance benchmarks of xr_s5sr (issue 8), measured in one process and printed as ratios.

Run from a source checkout::

    python benchmarks/run_all.py            # full sizes (497 channels), a few minutes
    python benchmarks/run_all.py --quick    # small sizes, under two minutes

Sections (each result is also written to ``--out`` as JSON, with machine information):

models
    S5-DSCR and S5-DSCR-S on one LR tile: HR pixels/s and GFLOP/s (2 × multiply-adds per HR
    pixel, from the model configuration) of the plain module (BatchNorm unfolded/folded, NCHW
    and channels-last), of the engine's reference and fused paths, and of bfloat16; each
    divided by the fp32 (and bf16) GEMM rate of the pointwise shape, ``(N × m·C) @ (m·C × C)``,
    measured here with ``torch.matmul`` on the same number of pixels.
tiling
    Throughput of a dask array at the engine's default chunks (threaded scheduler) divided by
    that of the same cube as one numpy block; torch thread policy vs a fixed thread count.
bf16
    PSNR of the float32 and bfloat16 outputs against the HR truth of a synthetic scene
    (``make_granule`` → ``.s5sr.degrade()`` → ``.s5sr.super_resolve``), their difference.
memory
    Peak RSS of one default-size output block, each variant in a fresh process, against the
    engine's output and activation budgets.
degradation
    ``degrade_array`` throughput (MB of HR input per second), numpy and dask, divided by a plain
    two-pass ``scipy.ndimage.correlate1d`` blur of the same cube.

Timings are the minimum over interleaved rounds (every variant once per round), so a slow
period of a shared machine hits all variants alike; the median is kept in the JSON. Networks
are randomly initialised with non-trivial BatchNorm statistics unless shipped weights for
band 3 exist. Not collected by pytest (``testpaths`` is ``tests`` and ``xr_s5sr``).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import resource
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any

import dask
import dask.array as da
import numpy as np
import torch
from scipy import ndimage

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import xr_s5sr  # noqa: E402, F401  (registers the .s5sr accessors)
from xr_s5sr import engine, fused, tiling  # noqa: E402
from xr_s5sr.bands import band_kernels, get_band  # noqa: E402
from xr_s5sr.degrade import degrade_array  # noqa: E402
from xr_s5sr.engine import super_resolve_array  # noqa: E402
from xr_s5sr.errors import WeightsError  # noqa: E402
from xr_s5sr.metrics import compute_metrics  # noqa: E402
from xr_s5sr.models import S5DSCR, build_model, fold_batchnorm  # noqa: E402
from xr_s5sr.spec import ModelSpec, model_spec  # noqa: E402
from xr_s5sr.synthetic import make_granule  # noqa: E402
from xr_s5sr.versions import run_record, versions  # noqa: E402

BAND = 3
#: Band of the bf16 accuracy check: a band whose shipped networks change the physics inverse
#: (band 3's shipped S5-DSCR adds no detail: bf16 and fp32 outputs would be equal trivially).
BF16_BAND = 7
MODELS = ("s5dscr", "s5dscr_s")
#: SPEC §3: multiply-adds per HR pixel at C = 497, checked against the configuration.
SPEC_MACS = {"s5dscr": 3_891_510, "s5dscr_s": 251_482}

FULL = {
    "channels": 497,
    "tile": (16, 112),  # LR rows × columns of the model benchmark (28,672 HR pixels)
    "rounds": 2,
    "tiling_rows": 34,  # two default output blocks of 17 LR rows at 450 × 497
    "tiling_cols": 450,
    "tiling_rounds": 2,
    "memory_budget": engine.DEFAULT_OUTPUT_BUDGET,
    "scene": (128, 112),  # HR rows × columns of the bf16 PSNR scene
    "degrade": (512, 450),
    "degrade_rounds": 2,
}
QUICK = {
    "channels": 128,
    "tile": (16, 64),
    "rounds": 3,
    "tiling_rows": 48,
    "tiling_cols": 160,
    "tiling_rounds": 2,
    "memory_budget": 16 * 2**20,  # scaled with the cube: several blocks
    "scene": (128, 96),
    "degrade": (256, 225),
    "degrade_rounds": 2,
}


# ---------------------------------------------------------------------------------- helpers
def timed_rounds(
    variants: dict[str, Callable[[], object]], rounds: int, warm_up: bool = True
) -> dict[str, list[float]]:
    """Seconds of every variant in each of ``rounds`` interleaved rounds (after one warm-up)."""
    for run in variants.values() if warm_up else ():
        run()
    seconds: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(rounds):
        for name, run in variants.items():
            start = time.perf_counter()
            run()
            seconds[name].append(time.perf_counter() - start)
    return seconds


def summary(values: list[float]) -> dict[str, float]:
    return {"min_s": min(values), "median_s": statistics.median(values)}


def randomise_batchnorm(model: S5DSCR, seed: int = 0) -> S5DSCR:
    """Give every BatchNorm non-trivial running statistics and affine parameters."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                size = module.num_features
                module.running_mean.copy_(0.3 * torch.randn(size, generator=generator))
                module.running_var.copy_(0.5 + 1.5 * torch.rand(size, generator=generator))
                module.weight.copy_(0.5 + torch.rand(size, generator=generator))
                module.bias.copy_(0.2 * torch.randn(size, generator=generator))
    return model


def network_spec(net: S5DSCR, **kwargs: Any) -> ModelSpec:
    """Engine spec of the network alone: no data-consistency projection (bench_physics.py
    measures that), so every variant computes what the module's forward computes."""
    return model_spec(weights=net, band=BAND, device="cpu", consistency=False, **kwargs)


def make_network(
    name: str, channels: int, lr: np.ndarray, seed: int = 0, band: int = BAND
) -> tuple[S5DSCR, str]:
    """Shipped weights of ``band`` when present and matching, else a random network (eval
    mode)."""
    if channels == get_band(band).spectral_channels:
        try:
            from xr_s5sr.weights import load_model

            return load_model(band, name).eval(), f"shipped band {band}"
        except WeightsError:
            pass
    torch.manual_seed(seed)
    net = randomise_batchnorm(build_model(name, channels), seed)
    net.set_normalisation(
        torch.from_numpy(lr.mean(axis=(0, 1))), torch.from_numpy(lr.std(axis=(0, 1)) + 1e-12)
    )
    return net.eval(), "random (BatchNorm statistics randomised)"


def lr_cube(rows: int, cols: int, channels: int, seed: int = 0) -> np.ndarray:
    """Synthetic band-3 LR radiance (scanline, ground_pixel, channel), float32."""
    ds = make_granule(BAND, rows, cols, seed=seed, n_channel=channels)
    return np.ascontiguousarray(ds.radiance.values)


def machine_info() -> dict[str, Any]:
    cpu = "unknown"
    flags: list[str] = []
    if Path("/proc/cpuinfo").exists():
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name") and cpu == "unknown":
                cpu = line.split(":", 1)[1].strip()
            if line.startswith("flags") and not flags:
                wanted = ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile")
                flags = [f for f in line.split(":", 1)[1].split() if f in wanted]
    return {
        **run_record([(3, "s5dscr"), (3, "s5dscr_s")]),
        "cpu": cpu,
        "cpu_flags": flags,
        "cores": os.cpu_count(),
        "cores_available": len(os.sched_getaffinity(0))
        if hasattr(os, "sched_getaffinity")
        else None,
        "torch_threads": torch.get_num_threads(),
        "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "mkldnn_bf16": bool(torch.ops.mkldnn._is_mkldnn_bf16_supported()),
        "load_average_start": os.getloadavg(),
        "python": platform.python_version(),
        "versions": versions(),
    }


def gemm_rates(pixels: int, k: int, n: int, rounds: int) -> dict[str, float]:
    """GFLOP/s of ``(pixels × k) @ (k × n)`` with torch.matmul, float32 and bfloat16."""
    a, b = torch.randn(pixels, k), torch.randn(k, n)
    a16, b16 = a.bfloat16(), b.bfloat16()
    with torch.inference_mode():
        seconds = timed_rounds(
            {"float32": lambda: torch.matmul(a, b), "bfloat16": lambda: torch.matmul(a16, b16)},
            rounds,
        )
    return {name: 2 * pixels * k * n / min(s) / 1e9 for name, s in seconds.items()}


# ---------------------------------------------------------------------------------- sections
def bench_models(cfg: dict[str, Any]) -> dict[str, Any]:
    rows, cols = cfg["tile"]
    lr = lr_cube(rows, cols, cfg["channels"])
    return {name: _bench_model(name, lr, cfg["rounds"]) for name in MODELS}


def _with_engine_constants(run: Callable[[], object], **constants: Any) -> Callable[[], object]:
    """``run`` with constants of :mod:`xr_s5sr.fused` replaced (ablations), also where
    :mod:`xr_s5sr.engine` imported them (its strip-memory reserve)."""
    modules = [fused, *([engine] if all(hasattr(engine, key) for key in constants) else [])]

    def ablated() -> object:
        saved = [(module, key, getattr(module, key)) for module in modules for key in constants]
        for module, key, _ in saved:
            setattr(module, key, constants[key])
        try:
            return run()
        finally:
            for module, key, value in saved:
                setattr(module, key, value)

    return ablated


def _bench_model(name: str, lr: np.ndarray, rounds: int) -> dict[str, Any]:
    rows, cols, channels = lr.shape
    hr_pixels = 16 * rows * cols
    net, source = make_network(name, channels, lr)
    macs = net.config.macs_per_hr_pixel
    if channels == 497:
        assert macs == SPEC_MACS[name], (name, macs)
    flop = 2 * macs * hr_pixels
    gemm = gemm_rates(hr_pixels, net.config.multiplier * channels, channels, rounds)
    folded = fold_batchnorm(net)
    folded_cl = fold_batchnorm(net).to(memory_format=torch.channels_last)
    nchw = torch.from_numpy(lr.transpose(2, 0, 1).copy())[None]
    channels_last = torch.from_numpy(lr).permute(2, 0, 1)[None]
    spec = network_spec(net)
    reference = replace(spec, fused=False)
    # One tile whatever the variant (the no-strips ablation would reserve absurd strip memory).
    run_engine = partial(super_resolve_array, lr, activation_budget=2**62)

    def run_fused() -> object:
        return run_engine(spec)

    with torch.inference_mode():
        variants: dict[str, Callable[[], object]] = {
            "module_unfolded_nchw": lambda: net(nchw),
            "module_folded_nchw": lambda: folded(nchw),
            "module_folded_channels_last": lambda: folded_cl(channels_last),
            "engine_reference": lambda: run_engine(reference),
            "engine_fused": run_fused,
            "engine_fused_no_strips": _with_engine_constants(run_fused, STRIP_PIXELS=10**12),
            "engine_reference_bf16_autocast": lambda: run_engine(
                replace(reference, dtype="bfloat16")
            ),
            "engine_fused_bf16": lambda: run_engine(spec, dtype="bfloat16"),
        }
        seconds = timed_rounds(variants, rounds)
    base = min(seconds["module_unfolded_nchw"])
    table = {}
    for variant, values in seconds.items():
        rate = flop / min(values) / 1e9
        gemm_rate = gemm["bfloat16" if "bf16" in variant else "float32"]
        table[variant] = {
            **summary(values),
            "hr_pixels_per_s": hr_pixels / min(values),
            "gflops": rate,
            "fraction_of_gemm": rate / gemm_rate,
            "speedup_vs_module_unfolded_nchw": base / min(values),
        }
    return {
        "weights": source,
        "tile_lr": [rows, cols],
        "hr_pixels": hr_pixels,
        "macs_per_hr_pixel": macs,
        "gemm_gflops": gemm,
        "variants": table,
        "bf16_speedup": min(seconds["engine_fused"]) / min(seconds["engine_fused_bf16"]),
    }


def bench_tiling(cfg: dict[str, Any]) -> dict[str, Any]:
    lr = lr_cube(cfg["tiling_rows"], cfg["tiling_cols"], cfg["channels"], seed=1)
    return {
        name: _bench_tiling(name, lr, cfg["memory_budget"], cfg["tiling_rounds"]) for name in MODELS
    }


def _bench_tiling(name: str, lr: np.ndarray, budget: int, rounds: int) -> dict[str, Any]:
    net, _ = make_network(name, lr.shape[2], lr)
    spec = network_spec(net)
    whole = da.from_array(lr, chunks=(-1, -1, -1))
    tiled = super_resolve_array(whole, spec, memory_budget=budget)

    def on_workers(array: da.Array, workers: int) -> Callable[[], object]:
        return lambda: array.compute(scheduler="threads", num_workers=workers)

    # One worker: the same cores as the numpy call, so the ratio is the tiling overhead alone
    # (halo rows recomputed, graph); two workers: what a user gets on this machine.
    variants: dict[str, Callable[[], object]] = {
        # One numpy block computed as one tile (no activation limit): the untiled baseline.
        "single_block_numpy": lambda: super_resolve_array(lr, spec, activation_budget=2**40),
        "dask_default_chunks_1_worker": on_workers(tiled, 1),
        "dask_default_chunks_2_workers": on_workers(tiled, 2),
    }
    if name == "s5dscr_s":
        # The torch thread policy against every task using two threads (oversubscription).
        fixed = super_resolve_array(whole, spec, memory_budget=budget, torch_threads=2)
        variants["dask_fixed_2_threads_per_task_2_workers"] = on_workers(fixed, 2)
    # No warm-up round: the models section has already created the kernels (and time is short).
    seconds = timed_rounds(variants, rounds, warm_up=False)
    single = min(seconds["single_block_numpy"])
    parallel = min(seconds["dask_default_chunks_2_workers"])
    entry: dict[str, Any] = {
        "cube_lr": list(lr.shape),
        "output_chunks_hr_rows": list(tiled.chunks[0]),
        "halo_lr": spec.halo,
        "variants": {k: summary(v) for k, v in seconds.items()},
        "tiled_over_single_throughput": single / min(seconds["dask_default_chunks_1_worker"]),
        "tiled_2_workers_over_single_throughput": single / parallel,
    }
    if "dask_fixed_2_threads_per_task_2_workers" in seconds:
        entry["thread_policy_over_fixed_throughput"] = (
            min(seconds["dask_fixed_2_threads_per_task_2_workers"]) / parallel
        )
    return entry


def bench_bf16(cfg: dict[str, Any]) -> dict[str, Any]:
    rows, cols = cfg["scene"]
    # The band's own channels at full size (--quick keeps its small channel count).
    channels = min(cfg["channels"], get_band(BF16_BAND).spectral_channels)
    hr = make_granule(BF16_BAND, rows, cols, seed=5, n_channel=channels)
    lr = hr.s5sr.degrade()
    results: dict[str, Any] = {}
    for name in MODELS:
        net, source = make_network(name, channels, lr.radiance.values, band=BF16_BAND)
        outputs = {
            dtype: lr.s5sr.super_resolve(weights=net, device="cpu", dtype=dtype).radiance.values
            for dtype in ("float32", "bfloat16")
        }
        truth = hr.radiance.values[: 4 * lr.sizes["scanline"], : 4 * lr.sizes["ground_pixel"]]
        bicubic = lr.s5sr.bicubic().radiance.values
        scores = compute_metrics(truth, outputs["float32"], outputs["bfloat16"], bicubic)
        difference = outputs["bfloat16"] - outputs["float32"]
        value_range = float(np.ptp(outputs["float32"]))
        scale = float(np.abs(outputs["float32"]).max())
        results[name] = {
            "weights": source,
            "band": BF16_BAND,
            "scene_hr": [rows, cols, channels],
            "psnr_float32_db": float(scores["psnr"][0]),
            "psnr_bfloat16_db": float(scores["psnr"][1]),
            "psnr_bicubic_db": float(scores["psnr"][2]),
            "psnr_change_db": float(scores["psnr"][1] - scores["psnr"][0]),
            # Whole-cube PSNR of the bf16 output with the fp32 output as reference.
            "psnr_bfloat16_vs_float32_db": float(
                10 * np.log10(value_range**2 / np.mean(difference.astype(np.float64) ** 2))
            ),
            "max_abs_diff_over_max": float(np.abs(difference).max() / scale),
        }
    return results


def _rss_high_water_mark(reset: bool = False) -> int:
    """Peak RSS of this process in bytes (Linux ``VmHWM``), optionally reset to the current RSS.

    Resetting (``/proc/self/clear_refs``) keeps the memory of setting up the block (scene
    generation, imports) out of the measurement; ``ru_maxrss`` cannot be reset.
    """
    if reset:
        Path("/proc/self/clear_refs").write_text("5")
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _memory_child(
    name: str, channels: int, rows: int, cols: int, dtype: str, use_fused: bool
) -> dict[str, Any]:
    """Run one dask-task-sized block in this (fresh) process; its RSS figures in bytes."""
    import psutil

    net, _ = make_network(name, channels, lr_cube(rows, cols, channels, seed=2))
    spec = replace(network_spec(net, dtype=dtype), fused=use_fused)
    halo = spec.halo  # the block halo of the spec (S5-DSCR alone: 4)
    lr = lr_cube(rows + 2 * halo, cols, channels, seed=2)
    super_resolve_array(lr[:2, :2], spec)  # load libraries and kernels outside the measurement
    baseline = psutil.Process().memory_info().rss
    _rss_high_water_mark(reset=True)
    start = time.perf_counter()
    # Exactly what one dask task runs: a block with `halo` rows of context on both sides.
    out = engine._process_block(
        lr,
        halo,
        halo,
        spec=spec,
        activation_budget=engine.DEFAULT_ACTIVATION_BUDGET,
        torch_threads=None,
    )
    seconds = time.perf_counter() - start
    peak = _rss_high_water_mark()
    tile_rows, tile_cols = tiling.tile_shape(
        rows,
        cols,
        spec.tile_halo,
        tiling.activation_bytes_per_lr_pixel(spec, channels),
        engine.DEFAULT_ACTIVATION_BUDGET,
    )
    return {
        "baseline_rss": baseline,
        "peak_rss": peak,
        "block_peak_over_baseline": peak - baseline,
        "input_bytes": lr.nbytes,
        "output_bytes": out.nbytes,
        "halo_lr": halo,
        "estimated_activation_bytes": tiling.activation_bytes_per_lr_pixel(spec, channels)
        * (min(rows, tile_rows) + 2 * spec.tile_halo)
        * min(cols, tile_cols + 2 * spec.tile_halo),
        "seconds": seconds,
    }


def bench_memory(cfg: dict[str, Any]) -> dict[str, Any]:
    channels, cols = cfg["channels"], cfg["tiling_cols"]
    budget = cfg["memory_budget"]
    rows = max(1, budget // (16 * cols * channels * 4))  # LR rows of one default output block
    results: dict[str, Any] = {
        "block_lr": [rows, cols, channels],
        "output_budget": budget,
        "activation_budget": engine.DEFAULT_ACTIVATION_BUDGET,
    }
    context = multiprocessing.get_context("spawn")
    # The reference path (fused=False) is left out to keep the run short: its smaller tiles
    # (9 float32 HR tensors per value instead of 3) stay within the budgets too.
    for label, dtype, use_fused in (
        ("fused_float32", "float32", True),
        ("fused_bfloat16", "bfloat16", True),
    ):
        with context.Pool(1) as pool:
            measured = pool.apply(_memory_child, ("s5dscr", channels, rows, cols, dtype, use_fused))
        measured["within_budgets"] = bool(
            measured["block_peak_over_baseline"]
            <= budget + engine.DEFAULT_ACTIVATION_BUDGET + measured["input_bytes"]
        )
        results[label] = measured
    return results


def bench_degradation(cfg: dict[str, Any]) -> dict[str, Any]:
    rows, cols = cfg["degrade"]
    channels = cfg["channels"]
    rng = np.random.default_rng(3)
    cube = (1e-7 * (1 + rng.random((rows, cols, channels), dtype=np.float32))).astype(np.float32)
    kx, ky = band_kernels(BAND)
    lazy = da.from_array(cube, chunks=(128, -1, -1))

    def scipy_blur() -> np.ndarray:
        blurred = ndimage.correlate1d(cube, kx, axis=0, mode="constant")
        return ndimage.correlate1d(blurred, ky, axis=1, mode="constant")

    variants: dict[str, Callable[[], object]] = {
        "scipy_correlate1d_two_passes": scipy_blur,
        "degrade_numpy": lambda: degrade_array(cube, BAND),
        "degrade_dask_threads": lambda: degrade_array(lazy, BAND).compute(scheduler="threads"),
    }
    seconds = timed_rounds(variants, cfg["degrade_rounds"])
    megabytes = cube.nbytes / 1e6
    base = min(seconds["scipy_correlate1d_two_passes"])
    return {
        "cube_hr": [rows, cols, channels],
        "variants": {
            name: {**summary(v), "mb_per_s": megabytes / min(v), "speed_over_scipy": base / min(v)}
            for name, v in seconds.items()
        },
    }


# ---------------------------------------------------------------------------------- report
def targets(results: dict[str, Any]) -> dict[str, Any]:
    main = results["models"]["s5dscr"]
    fused_entry = main["variants"]["engine_fused"]
    bf16 = results["bf16"]["s5dscr"]
    tiling = results["tiling"]["s5dscr"]
    memory = results["memory"]
    return {
        "fp32_fraction_of_gemm": {"value": fused_entry["fraction_of_gemm"], "target": ">= 0.60"},
        "bf16_speedup": {"value": main["bf16_speedup"], "target": ">= 2.5"},
        "bf16_psnr_change_db": {"value": bf16["psnr_change_db"], "target": "|x| < 0.05"},
        "dask_tiling_overhead": {
            "value": 1 / tiling["tiled_over_single_throughput"] - 1,
            "target": "< 0.15",
        },
        "block_peak_memory_within_budgets": {
            "value": memory["fused_float32"]["within_budgets"],
            "target": "True",
        },
    }


def print_report(results: dict[str, Any]) -> None:
    m = results["machine"]
    print(
        f"\n{m['cpu']} — {m['cores']} cores, torch threads {m['torch_threads']}, "
        f"{m['torch_cpu_capability']}, flags {' '.join(m['cpu_flags'])}"
    )
    print(f"load average start {m['load_average_start']}, end {results['load_average_end']}")
    for name, entry in results["models"].items():
        gemm = entry["gemm_gflops"]
        print(
            f"\n[{name}] tile {entry['tile_lr']} LR, {entry['macs_per_hr_pixel']:,} MAC/HR px, "
            f"weights: {entry['weights']}; GEMM fp32 {gemm['float32']:.0f} GFLOP/s, "
            f"bf16 {gemm['bfloat16']:.0f} GFLOP/s"
        )
        print(
            f"  {'variant':34s} {'s (min)':>8s} {'HR px/s':>10s} {'GFLOP/s':>8s} "
            f"{'/GEMM':>6s} {'speed-up':>8s}"
        )
        for variant, v in entry["variants"].items():
            print(
                f"  {variant:34s} {v['min_s']:8.3f} {v['hr_pixels_per_s']:10.0f} "
                f"{v['gflops']:8.1f} {v['fraction_of_gemm']:6.2f} "
                f"{v['speedup_vs_module_unfolded_nchw']:8.2f}"
            )
        print(f"  bf16 ÷ fp32 speed (fused): {entry['bf16_speedup']:.2f}")
    for name, entry in results["tiling"].items():
        line = (
            f"\n[tiling {name}] cube {entry['cube_lr']} LR, chunks "
            f"{entry['output_chunks_hr_rows']} HR rows, halo {entry['halo_lr']}: tiled ÷ "
            f"single-block throughput {entry['tiled_over_single_throughput']:.3f} (1 dask "
            f"worker), {entry['tiled_2_workers_over_single_throughput']:.3f} (2 workers)"
        )
        if "thread_policy_over_fixed_throughput" in entry:
            line += (
                f"; thread policy ÷ fixed 2 threads/task "
                f"{entry['thread_policy_over_fixed_throughput']:.3f}"
            )
        print(line)
    for name, entry in results["bf16"].items():
        print(
            f"\n[bf16 {name}] PSNR fp32 {entry['psnr_float32_db']:.3f} dB, bf16 "
            f"{entry['psnr_bfloat16_db']:.3f} dB (change {entry['psnr_change_db']:+.4f} dB), "
            f"bicubic {entry['psnr_bicubic_db']:.3f} dB; bf16 vs fp32 "
            f"{entry['psnr_bfloat16_vs_float32_db']:.1f} dB, max diff "
            f"{entry['max_abs_diff_over_max']:.2e} of max"
        )
    memory = results["memory"]
    print(
        f"\n[memory] one S5-DSCR block {memory['block_lr']} LR; budgets: output "
        f"{memory['output_budget'] / 2**20:.0f} MiB, activations "
        f"{memory['activation_budget'] / 2**20:.0f} MiB"
    )
    for label in ("fused_float32", "fused_bfloat16"):
        v = memory[label]
        print(
            f"  {label:18s} block peak {v['block_peak_over_baseline'] / 2**20:7.0f} MiB over "
            f"baseline {v['baseline_rss'] / 2**20:5.0f} MiB (output "
            f"{v['output_bytes'] / 2**20:.0f} MiB, activations estimated "
            f"{v['estimated_activation_bytes'] / 2**20:.0f} MiB), {v['seconds']:.1f} s"
        )
    deg = results["degradation"]
    print(f"\n[degradation] HR cube {deg['cube_hr']}")
    for name, v in deg["variants"].items():
        print(f"  {name:30s} {v['mb_per_s']:8.1f} MB/s  ÷ scipy {v['speed_over_scipy']:.2f}")
    print("\n[targets]")
    for name, t in results["targets"].items():
        value = t["value"]
        shown = f"{value:.3f}" if isinstance(value, float) else str(value)
        print(f"  {name:34s} {shown:>8s}   target {t['target']}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (< 2 min)")
    parser.add_argument("--out", type=Path, help="JSON output (default benchmarks/results.json)")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's own)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    out = args.out or ROOT / "benchmarks" / ("results-quick.json" if args.quick else "results.json")
    cfg = QUICK if args.quick else FULL
    start = time.perf_counter()
    results: dict[str, Any] = {"mode": "quick" if args.quick else "full", "settings": cfg}
    results["machine"] = machine_info()
    for section, run in (
        ("models", bench_models),
        ("tiling", bench_tiling),
        ("bf16", bench_bf16),
        ("memory", bench_memory),
        ("degradation", bench_degradation),
    ):
        section_start = time.perf_counter()
        with dask.config.set(scheduler="threads"):
            results[section] = run(cfg)
        print(f"{section}: {time.perf_counter() - section_start:.0f} s", flush=True)
    results["load_average_end"] = os.getloadavg()
    results["targets"] = targets(results)
    results["total_seconds"] = time.perf_counter() - start
    print_report(results)
    out.write_text(json.dumps(results, indent=2, default=str) + "\n")
    print(f"\nwritten {out} ({results['total_seconds']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
