"""Tables of docs/performance.md from the benchmarks' ``benchmarks/results-*.json``:
``targets``, ``orbit``, ``block-memory``, ``block-memory-held``, ``distributed-held``,
``graph-order`` and ``allocator``, and README's ``block-memory-latest``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from tables_core import ROOT, dB, short_commit, span

from xr_s5sr.bands import get_band
from xr_s5sr.models import ModelConfig

BLOCK_MEMORY = ROOT / "benchmarks" / "results-block-memory.json"
DISTRIBUTED_HELD = ROOT / "benchmarks" / "results-distributed-held.json"
ORBIT = ROOT / "benchmarks" / "results-orbit.json"
ALLOCATOR = ROOT / "benchmarks" / "results-allocator.json"
GRAPH_ORDER = ROOT / "benchmarks" / "results-graph-order.json"
#: ``benchmarks/run_all.py`` with one torch thread and with two, in the page's order.
RUN_ALL = {
    "1 thread": ROOT / "benchmarks" / "results-1thread.json",
    "2 threads": ROOT / "benchmarks" / "results.json",
}


def block_memory() -> str:
    """docs/performance.md: every case of ``benchmarks/results-block-memory.json`` (the commit
    that ran it, seconds, peak RSS of the whole process), by method and length."""
    runs = json.loads(BLOCK_MEMORY.read_text())["runs"]
    labels = {
        "backprojection": "`backprojection` (default: non-negative consistency)",
        "backprojection_projected": "`backprojection`, `nonnegative=False` (projection only)",
        "s5dscr": "default `s5dscr`",
    }
    lines = [
        "| method | LR scanlines | commit | time | peak RSS | HR scanlines per block |",
        "|---|---:|---|---:|---:|---:|",
    ]
    order = {method: k for k, method in enumerate(labels)}
    for run in sorted(runs, key=lambda r: (order[r["method"]], r["scanlines"])):
        lines.append(
            f"| {labels[run['method']]} | {run['scanlines']} | `{run['commit'][:7]}` | "
            f"{run['seconds']:.0f} s | {run['peak_rss_bytes'] / 2**30:.2f} GiB | "
            f"{run['hr_scanline_chunks'][0]} |"
        )
    return "\n".join(lines)


def block_memory_held() -> str:
    """docs/performance.md: the most bytes of task results held on the sync scheduler, by
    method and length (``held_bytes_48_pixels`` of ``benchmarks/results-block-memory.json``)."""
    held = json.loads(BLOCK_MEMORY.read_text())["held_bytes_48_pixels"]
    names = {"backprojection": "back-projection", "s5dscr": "the default"}
    parts = []
    for method, by_length in held.items():
        lengths = sorted(by_length, key=int)
        values = " / ".join(f"{by_length[n] / 2**30:.2f}" for n in lengths)
        parts.append(
            f"{names.get(method, method)} holds at most {values} GiB on "
            f"{' / '.join(f'{int(n):,}' for n in lengths)} scanlines"
        )
    return "; ".join(parts) + "."


def distributed_held() -> str:
    """docs/performance.md: what a LocalCluster held at most while writing an orbit to zarr
    (``benchmarks/results-distributed-held.json``), per method and length, with the largest
    prefixes."""
    result = json.loads(DISTRIBUTED_HELD.read_text())
    lines = [
        "| method | LR scanlines | wall | most task results held | largest | worker peak RSS "
        "| commit |",
        "|---|---:|---:|---:|---|---:|---|",
    ]
    for run in result["runs"]:
        largest = list(run["held_by_prefix"].items())[:2]
        parts = ", ".join(
            f"`{name}` {size / 2**30:.2f} GiB in {count}" for name, (size, count) in largest
        )
        peaks = ", ".join(f"{b / 2**30:.2f}" for b in run["worker_peak_rss_bytes"])
        writer = " (stores as leaves)" if run.get("writer", "xarray") == "leaves" else ""
        lines.append(
            f"| `{run['method']}`{writer} | {run['scanlines']} | {run['wall_s']:.0f} s | "
            f"{run['most_held_bytes'] / 2**30:.2f} GiB | {parts} | {peaks} GiB | "
            f"`{short_commit(run['record']['commit'])}` |"
        )
    lines.append("")
    lines.append(
        "Two one-thread workers, xarray's `to_zarr` graph, computed by `client.compute` or, "
        "*stores as leaves*, by `xr_s5sr.write_graph.compute_write`."
    )
    return "\n".join(lines)


#: Row labels of ``run_all.py``'s variants, in the page's order (bold: the engine's paths).
VARIANT_LABELS = {
    "module_unfolded_nchw": "module, BatchNorm unfolded, NCHW (baseline)",
    "module_folded_nchw": "+ BatchNorm folded",
    "module_folded_channels_last": "+ channels-last",
    "engine_reference": "engine, reference path (module forward)",
    "engine_fused": "**engine, fused path (default)**",
    "engine_fused_no_strips": "fused path without strips",
    "engine_reference_bf16_autocast": "reference path, bf16 autocast",
    "engine_fused_bf16": "**fused path, bf16**",
}


def _run_all() -> dict[str, dict[str, Any]]:
    """The ``run_all.py`` results by thread count (:data:`RUN_ALL`)."""
    return {label: json.loads(path.read_text()) for label, path in RUN_ALL.items()}


def run_all_results() -> str:
    """docs/performance.md: the machine, each model's variants on one thread, the two-thread
    rates and the tiling, bf16, memory and degradation figures of ``run_all.py``."""
    runs = _run_all()
    one, two = runs["1 thread"], runs["2 threads"]
    machine = one["machine"]
    versions = machine["versions"]
    lines = [
        "| | |",
        "|---|---|",
        f"| CPU | {machine['cpu']}, {machine['cores']} cores, flags "
        f"{', '.join(machine['cpu_flags'])} |",
        f"| software | Python {versions['python']}, torch {versions['torch']}, numpy "
        f"{versions['numpy']}, dask {versions['dask']} |",
        "| load average (1 min) at start / end | "
        + "; ".join(
            f"{run['machine']['load_average_start'][0]:.1f} / {run['load_average_end'][0]:.1f} "
            f"({label})"
            for label, run in runs.items()
        )
        + " |",
        f"| commit | `{short_commit(machine['commit'])}` |",
    ]
    for model, name in (("s5dscr", "S5-DSCR"), ("s5dscr_s", "S5-DSCR-S")):
        entry = one["models"][model]
        gemm = entry["gemm_gflops"]
        lines += [
            "",
            f"{name}, one torch thread (`results-1thread.json`; weights: {entry['weights']}; "
            f"tile {entry['tile_lr'][0]} × {entry['tile_lr'][1]} LR; GEMM "
            f"{gemm['float32']:.0f} GFLOP/s fp32, {gemm['bfloat16']:.0f} bf16):",
            "",
            "| variant | s | HR px/s | GFLOP/s | /GEMM | speed-up |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for key, label in VARIANT_LABELS.items():
            v = entry["variants"].get(key)
            if v is None:
                continue
            bf16 = "¹" if "bf16" in key else ""
            lines.append(
                f"| {label} | {v['min_s']:.3f} | {v['hr_pixels_per_s']:,.0f} | "
                f"{v['gflops']:.1f} | {v['fraction_of_gemm']:.2f}{bf16} | "
                f"{v['speedup_vs_module_unfolded_nchw']:.2f} |"
            )
    lines += ["", "¹ of the bf16 GEMM rate.", ""]
    lines += [
        "Two torch threads (`results.json`), fused paths:",
        "",
        "| | fp32 s (GFLOP/s) | /GEMM | bf16 s (GFLOP/s) | bf16 ÷ fp32 |",
        "|---|---:|---:|---:|---:|",
    ]
    for model, name in (("s5dscr", "S5-DSCR"), ("s5dscr_s", "S5-DSCR-S")):
        v = two["models"][model]["variants"]
        fp32, bf16 = v["engine_fused"], v["engine_fused_bf16"]
        lines.append(
            f"| {name} | {fp32['min_s']:.3f} ({fp32['gflops']:.1f}) | "
            f"{fp32['fraction_of_gemm']:.2f} | {bf16['min_s']:.3f} ({bf16['gflops']:.1f}) | "
            f"{fp32['min_s'] / bf16['min_s']:.2f} |"
        )
    tiling = {label: run["tiling"] for label, run in runs.items()}
    bf16 = one["bf16"]
    memory = one["memory"]
    degradation = {label: run["degradation"]["variants"] for label, run in runs.items()}
    scene = bf16["s5dscr"]["scene_hr"]
    lines += [
        "",
        "| measure | one thread | two threads |",
        "|---|---:|---:|",
        "| dask at default chunks ÷ one untiled numpy block, S5-DSCR "
        f"({' × '.join(map(str, tiling['1 thread']['s5dscr']['cube_lr']))} LR), 1 / 2 dask "
        "workers | "
        + " | ".join(
            f"{t['s5dscr']['tiled_over_single_throughput']:.3f} / "
            f"{t['s5dscr']['tiled_2_workers_over_single_throughput']:.3f}"
            for t in tiling.values()
        )
        + " |",
        "| same for S5-DSCR-S | "
        + " | ".join(
            f"{t['s5dscr_s']['tiled_over_single_throughput']:.3f} / "
            f"{t['s5dscr_s']['tiled_2_workers_over_single_throughput']:.3f}"
            for t in tiling.values()
        )
        + " |",
        f"| PSNR fp32 / bf16 / bicubic vs HR truth, S5-DSCR band {bf16['s5dscr']['band']} "
        f"({scene[0]} × {scene[1]} × {scene[2]} HR, {bf16['s5dscr']['weights']}) | "
        + " | ".join(
            f"{b['s5dscr']['psnr_float32_db']:.4f} / {b['s5dscr']['psnr_bfloat16_db']:.4f} / "
            f"{b['s5dscr']['psnr_bicubic_db']:.4f} dB"
            for b in (run["bf16"] for run in runs.values())
        )
        + " |",
        "| bf16 output vs fp32 output, S5-DSCR | "
        + " | ".join(
            f"{b['s5dscr']['psnr_bfloat16_vs_float32_db']:.1f} dB, max diff "
            f"{b['s5dscr']['max_abs_diff_over_max']:.1e} of max"
            for b in (run["bf16"] for run in runs.values())
        )
        + " |",
        "| peak RSS of one default S5-DSCR block "
        f"({' × '.join(map(str, memory['block_lr']))} LR) over its baseline, fp32 / bf16; "
        f"budgets {memory['output_budget'] / 2**20:.0f} MiB output + "
        f"{memory['activation_budget'] / 2**20:.0f} MiB activations | "
        + " | ".join(
            f"{run['memory']['fused_float32']['block_peak_over_baseline'] / 2**20:,.0f} / "
            f"{run['memory']['fused_bfloat16']['block_peak_over_baseline'] / 2**20:,.0f} MiB"
            for run in runs.values()
        )
        + " |",
        "| degradation of a "
        f"{' × '.join(map(str, one['degradation']['cube_hr']))} HR cube: scipy `correlate1d` ×2 "
        "/ `degrade_array` numpy / dask | "
        + " | ".join(
            f"{d['scipy_correlate1d_two_passes']['mb_per_s']:.0f} / "
            f"{d['degrade_numpy']['mb_per_s']:.0f} / {d['degrade_dask_threads']['mb_per_s']:.0f} "
            "MB/s"
            for d in degradation.values()
        )
        + " |",
    ]
    return "\n".join(lines)


def _verdict(values: dict[str, float], met: Callable[[float], bool]) -> str:
    """ "met", "missed", or where the thread counts disagree, which one meets it."""
    passing = [label for label, value in values.items() if met(value)]
    if len(passing) == len(values):
        return "met"
    if not passing:
        return "missed"
    return f"met with {' and '.join(passing)}, missed otherwise"


def targets() -> str:
    """docs/performance.md: the page's targets, measured by ``benchmarks/run_all.py`` with
    two torch threads and with one (``results.json``, ``results-1thread.json``)."""
    runs = _run_all()

    def each(read: Callable[[dict[str, Any]], float], fmt: str) -> tuple[dict[str, float], str]:
        values = {label: read(run) for label, run in runs.items()}
        return values, "; ".join(f"{format(v, fmt)} ({label})" for label, v in values.items())

    def fused(run: dict[str, Any], variant: str) -> dict[str, Any]:
        return run["models"]["s5dscr"]["variants"][variant]

    def overhead(model: str, key: str) -> Callable[[dict[str, Any]], float]:
        return lambda run: 100 * (1 / run["tiling"][model][key] - 1)

    rows = []
    values, text = each(lambda r: 100 * fused(r, "engine_fused")["fraction_of_gemm"], ".0f")
    rows.append(
        (
            "fp32 S5-DSCR ≥ 60 % of the fp32 GEMM rate",
            text.replace(" (", " % ("),
            _verdict(values, lambda v: v >= 60),
        )
    )
    values, text = each(
        lambda r: fused(r, "engine_fused")["min_s"] / fused(r, "engine_fused_bf16")["min_s"], ".2f"
    )
    rows.append(
        ("bf16 ≥ 2.5× fp32", text.replace(" (", "× ("), _verdict(values, lambda v: v >= 2.5))
    )
    values, text = each(lambda r: 100 * fused(r, "engine_fused_bf16")["fraction_of_gemm"], ".0f")
    rows.append(
        (
            "bf16 S5-DSCR ≥ 60 % of the bf16 GEMM rate",
            text.replace(" (", " % ("),
            _verdict(values, lambda v: v >= 60),
        )
    )
    values = {label: run["bf16"]["s5dscr"]["psnr_change_db"] for label, run in runs.items()}
    text = "; ".join(f"{dB(v, 4)} ({label})" for label, v in values.items())
    rows.append(
        (
            "bf16 PSNR change < 0.05 dB",
            text.replace(" (", " dB ("),
            _verdict(values, lambda v: abs(v) < 0.05),
        )
    )
    # Tiling at equal cores: one dask worker against the single block on one thread, two
    # workers (one torch thread each) against the single block on two threads.
    pairs = (
        ("tiled_over_single_throughput", "1 thread", "1 dask worker"),
        ("tiled_2_workers_over_single_throughput", "2 threads", "2 dask workers"),
    )
    for model, name in (("s5dscr", "S5-DSCR"), ("s5dscr_s", "S5-DSCR-S")):
        for key, label, workers in pairs:
            value = overhead(model, key)(runs[label])
            rows.append(
                (
                    f"dask tiling overhead < 15 %, {name}, {workers}",
                    f"{dB(value, 0)} % (single block on {label})",
                    "met" if value < 15 else "missed",
                )
            )
    memory = {label: run["memory"] for label, run in runs.items()}
    values = {label: float(m["fused_float32"]["within_budgets"]) for label, m in memory.items()}
    text = "; ".join(
        f"{m['fused_float32']['block_peak_over_baseline'] / 2**20:,.0f} MiB fp32, "
        f"{m['fused_bfloat16']['block_peak_over_baseline'] / 2**20:,.0f} MiB bf16 ({label})"
        for label, m in memory.items()
    )
    rows.append(
        (
            "one block's peak within its output + activation budgets",
            text,
            _verdict(values, lambda v: v > 0),
        )
    )
    over = [
        (v["block_peak_over_baseline"] - v["output_bytes"]) / v["estimated_activation_bytes"] - 1
        for m in memory.values()
        for v in (m["fused_float32"], m["fused_bfloat16"])
    ]
    machine = runs["1 thread"]["machine"]
    flags = ", ".join(machine["cpu_flags"])
    commits = sorted(
        {
            f"`{short_commit(run['machine']['commit'])}`"
            if "commit" in run["machine"]
            else "not recorded"
            for run in runs.values()
        }
    )
    lines = [
        "| target | measured | |",
        "|---|---|---|",
        *(f"| {target} | {measured} | {verdict} |" for target, measured, verdict in rows),
        "",
        f"`python benchmarks/run_all.py` (two torch threads) and `--threads 1` → "
        f"`benchmarks/results.json`, `results-1thread.json`; {machine['cpu']}, "
        f"{machine['cores']} cores, flags {flags}; commit {', '.join(commits)}. A block's "
        "peak over its output is what its activations took: "
        f"{span([100 * o for o in over], '+.0f', unit=' %')} against the estimate that sizes "
        "its tiles (`tiling.activation_bytes_per_lr_pixel`).",
    ]
    return "\n".join(lines)


#: LR scanlines of the orbit the estimate is for.
ORBIT_SCANLINES = 4000
#: Band groups of the estimate (same channels and ground pixels within a group).
ORBIT_BAND_GROUPS = ((2, 5, 6), (3, 4), (7, 8))


def _macs_per_hr_pixel(model: str, band: int) -> int:
    """Multiply-adds per HR pixel of a shipped network's residual stack, from its model card's
    architecture (:attr:`xr_s5sr.models.ModelConfig.macs_per_hr_pixel`, as
    ``benchmarks/run_all.py`` counts them)."""
    card = json.loads((ROOT / "weights" / f"{model}_band{band}.json").read_text())
    return ModelConfig(**card["architecture"]).macs_per_hr_pixel


def orbit_estimate() -> str:
    """docs/performance.md: time to super-resolve a whole orbit per band group, from the
    one-thread rates of ``results-1thread.json`` and the tiling overhead measured there."""
    run = _run_all()["1 thread"]
    models = run["models"]
    measured = 1 / run["tiling"]["s5dscr"]["tiled_over_single_throughput"]
    halo = max(1.0, measured)  # a halo adds work: a measured speed-up is timing noise
    rate = {
        (model, variant): models[model]["variants"][variant]["gflops"] * 1e9
        for model in ("s5dscr", "s5dscr_s")
        for variant in ("engine_fused", "engine_fused_bf16", "module_unfolded_nchw")
    }
    lines = [
        "| bands | C × ground pixels | HR pixels | S5-DSCR TFLOP | fp32, 1 core / 2 cores | "
        "bf16, 1 core / 2 cores | S5-DSCR-S fp32 / bf16, 1 core | HR output |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    slowest = 0.0
    for group in ORBIT_BAND_GROUPS:
        info = get_band(group[0])
        pixels = 16 * ORBIT_SCANLINES * info.ground_pixels
        flop = {m: 2 * pixels * _macs_per_hr_pixel(m, group[0]) for m in ("s5dscr", "s5dscr_s")}

        def minutes(model: str, variant: str) -> float:
            return flop[model] / rate[(model, variant)] * halo / 60  # noqa: B023

        fp32, bf16 = minutes("s5dscr", "engine_fused"), minutes("s5dscr", "engine_fused_bf16")
        slowest = max(slowest, minutes("s5dscr", "module_unfolded_nchw"))
        small = f"{minutes('s5dscr_s', 'engine_fused'):.1f} / "
        small += f"{minutes('s5dscr_s', 'engine_fused_bf16'):.1f} min"
        output = pixels * info.spectral_channels * 4 / 1e9
        lines.append(
            f"| {', '.join(map(str, group))} | {info.spectral_channels} × {info.ground_pixels} | "
            f"{pixels / 1e6:.1f} M | {flop['s5dscr'] / 1e12:.0f} | {fp32:.0f} / {fp32 / 2:.0f} "
            f"min | {bf16:.0f} / {bf16 / 2:.0f} min | {small} | {output:.0f} GB |"
        )
    unoptimised = rate[("s5dscr", "module_unfolded_nchw")] / 1e9
    lines += [
        "",
        f"{ORBIT_SCANLINES:,} LR scanlines per band; time = HR pixels × 2 × multiply-adds (from "
        f"each band's model card) ÷ the one-thread rate of `results-1thread.json` (fp32 "
        f"{rate[('s5dscr', 'engine_fused')] / 1e9:.1f}, bf16 "
        f"{rate[('s5dscr', 'engine_fused_bf16')] / 1e9:.1f} GFLOP/s for S5-DSCR; "
        f"{rate[('s5dscr_s', 'engine_fused')] / 1e9:.1f} and "
        f"{rate[('s5dscr_s', 'engine_fused_bf16')] / 1e9:.1f} for S5-DSCR-S) × "
        f"{halo:.2f} (the halo work at default chunks, one dask worker on one thread: "
        f'measured {dB(100 * (measured - 1), 0)} %, counted as none below 0). "Two '
        'cores" halves the one-core time: derived, not measured. The HR output is float32. '
        f"The unoptimised module ({unoptimised:.0f} GFLOP/s on one core) needs "
        f"{slowest:.0f} minutes per band on one core at most.",
    ]
    return "\n".join(lines)


def graph_order() -> str:
    """docs/performance.md: how many network blocks dask's static order keeps alive in the
    default's writer graph, with xarray's finalize reducers and with the stores as leaves
    (``benchmarks/results-graph-order.json``)."""
    if not GRAPH_ORDER.exists():
        return (
            "*Not measured yet:* `python benchmarks/bench_graph_order.py` writes "
            "`benchmarks/results-graph-order.json`."
        )
    result = json.loads(GRAPH_ORDER.read_text())
    lines = [
        "| LR scanlines | tasks | network blocks | most alive, xarray's writer graph | "
        "most alive, stores as leaves |",
        "|---:|---:|---:|---:|---:|",
    ]
    for row in result["rows"]:
        lines.append(
            f"| {row['scanlines']:,} | {row['tasks']:,} | {row['network_blocks']} | "
            f"{row['most_alive_xarray_writer']} | {row['most_alive_stores_as_leaves']} |"
        )
    lines += [
        "",
        f"Band {result['band']}, {result['ground_pixels']} ground pixels, input chunks of "
        f"{result['input_chunks']} scanlines; graphs only (`dask.order.order`), commit "
        f"`{short_commit(result['record']['commit'])}`.",
    ]
    if result["held"]:
        held = "; ".join(
            f"{run['scanlines']:,} scanlines at {run['ground_pixels']} ground pixels "
            f"{run['held_bytes_xarray_writer'] / 2**30:.2f} and "
            f"{run['held_bytes_stores_as_leaves'] / 2**30:.2f} GiB"
            for run in result["held"]
        )
        lines += [
            "",
            "Computed on the synchronous scheduler, the two graphs held at most (xarray's, "
            f"stores as leaves): {held} of task results. A scheduler runs what a finished task "
            "has just made ready first, not strictly in rank, so it holds far less than the "
            "ranks suggest, but in both graphs more for a longer granule.",
        ]
    return "\n".join(lines)


def orbit() -> str:
    """docs/performance.md: the orbit benchmark's runs (``benchmarks/results-orbit.json``)."""
    result = json.loads(ORBIT.read_text())
    config = result["config"]
    lines = [
        "| method | LR scanlines | wall | s per LR scanline | worker peak RSS | commit |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for label, run in result["runs"].items():
        peaks = ", ".join(f"{b / 2**30:.2f}" for b in run["worker_peak_rss_bytes"])
        ratio = run.get("wall_over_network_time")
        wall = f"{run['wall_s'] / 60:.1f} min" + (
            f" ({ratio:.2f} × the network alone)" if ratio else ""
        )
        lines.append(
            f"| `{label}` | {run['scanlines']} | {wall} | {run['s_per_lr_scanline']:.3f} | "
            f"{peaks} GiB | `{short_commit(run['record']['commit'])}` |"
        )
    lines.append("")
    caption = (
        f"Band {config['band']}, {config['ground_pixels']} ground pixels, input chunks of "
        f"{config['chunks']} scanlines, `LocalCluster` of {config['workers']} one-thread "
        "workers, xarray's `to_zarr`."
    )
    pair = [result["runs"].get(label) for label in ("s5dscr", "s5dscr_network_only")]
    if all(pair) and len({(r["record"]["commit"], r["scanlines"]) for r in pair}) == 1:
        overhead = pair[0]["wall_s"] / pair[1]["wall_s"] - 1
        caption += (
            f" The physics and the automatic settings add {100 * overhead:+.1f} % to the wall "
            "time of the same network without them (`s5dscr` over `s5dscr_network_only`, same "
            "length and commit; target ≤ 15 %)."
        )
    time_run = result.get("time_granules")
    if time_run:
        one = result["runs"][time_run["label"]]
        peaks = ", ".join(f"{b / 2**30:.2f}" for b in time_run["worker_peak_rss_bytes"])
        caption += (
            f" {time_run['granules']} granules of {time_run['scanlines']} scanlines along "
            f"`time` in one graph (`{time_run['label']}`): "
            f"{time_run['wall_s'] / 60:.1f} min, {time_run['wall_over_one_granule']:.2f}× one "
            f"granule ({one['wall_s'] / 60:.1f} min; target ≈ {time_run['granules']}×), worker "
            f"peak RSS {peaks} GiB, commit `{short_commit(result['record']['commit'])}`."
        )
    lines.append(caption)
    return "\n".join(lines)


def allocator() -> str:
    """docs/performance.md: a LocalCluster's wall time with glibc as dask leaves it and with
    the package's allocator setting (``benchmarks/results-allocator.json``)."""
    result = json.loads(ALLOCATOR.read_text())
    config = result["config"]
    lines = [
        "| method | malloc in the workers | wall | s per LR scanline | worker peak RSS |",
        "|---|---|---:|---:|---:|",
    ]
    walls: dict[str, dict[str, float]] = {}
    for run in result["runs"]:
        setting = {
            "untouched": "as dask starts them (`XR_S5SR_MMAP_THRESHOLD=0`)",
            "tuned": f"package setting ({run['mmap_threshold'] // 2**20} MiB)",
        }[run["setting"]]
        peaks = ", ".join(f"{b / 2**30:.2f}" for b in run["worker_peak_rss_bytes"])
        walls.setdefault(run["label"], {})[run["setting"]] = run["wall_s"]
        lines.append(
            f"| `{run['label']}` | {setting} | {run['wall_s']:.1f} s | "
            f"{run['s_per_lr_scanline']:.3f} | {peaks} GiB |"
        )
    ratios = ", ".join(
        f"`{label}` {pair['untouched'] / pair['tuned']:.2f}×" for label, pair in walls.items()
    )
    lines.append("")
    lines.append(
        f"Band {config['band']}, {config['scanlines']} × {config['ground_pixels']} LR pixels, "
        f"input chunks of {config['chunks']} scanlines, `LocalCluster` of {config['workers']} "
        f"one-thread workers, xarray's `to_zarr`; faster with the setting: {ratios}; commit "
        f"`{short_commit(result['record']['commit'])}`."
    )
    return "\n".join(lines)


def block_memory_latest() -> str:
    """README: the latest run of each method and length of
    ``benchmarks/results-block-memory.json`` (peak RSS of the two-thread process)."""
    latest: dict[tuple[str, int], dict[str, Any]] = {}
    for run in json.loads(BLOCK_MEMORY.read_text())["runs"]:
        latest[(run["method"], run["scanlines"])] = run  # the file appends runs in time order
    names = {"backprojection": "`backprojection`", "s5dscr": "the default `s5dscr`"}
    parts = []
    for method, name in names.items():
        runs = sorted(
            (r for (m, _), r in latest.items() if m == method), key=lambda r: r["scanlines"]
        )
        if runs:
            peaks = ", ".join(f"{r['peak_rss_bytes'] / 2**30:.2f}" for r in runs)
            lengths = ", ".join(str(r["scanlines"]) for r in runs)
            parts.append(f"{name} peaks at {peaks} GiB on {lengths} band-3 scanlines")
    return "; ".join(parts) + "."
