"""Tables of docs/performance.md from the benchmarks' ``benchmarks/results-*.json``:
``orbit``, ``block-memory``, ``block-memory-held``, ``distributed-held`` and ``allocator``,
and README's ``block-memory-latest``.
"""

from __future__ import annotations

import json
from typing import Any

from tables_core import ROOT, short_commit

BLOCK_MEMORY = ROOT / "benchmarks" / "results-block-memory.json"
DISTRIBUTED_HELD = ROOT / "benchmarks" / "results-distributed-held.json"
ORBIT = ROOT / "benchmarks" / "results-orbit.json"
ALLOCATOR = ROOT / "benchmarks" / "results-allocator.json"
GRAPH_ORDER = ROOT / "benchmarks" / "results-graph-order.json"


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
        lines.append(
            f"| `{run['method']}` | {run['scanlines']} | {run['wall_s']:.0f} s | "
            f"{run['most_held_bytes'] / 2**30:.2f} GiB | {parts} | {peaks} GiB | "
            f"`{short_commit(run['record']['commit'])}` |"
        )
    lines.append("")
    lines.append("Two one-thread workers, xarray's `to_zarr`.")
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
    for run in result["held"]:
        xarray_writer = run["held_bytes_xarray_writer"] / 2**30
        leaves = run["held_bytes_stores_as_leaves"] / 2**30
        lines += [
            "",
            f"Computed on the synchronous scheduler ({run['scanlines']} scanlines narrowed to "
            f"{run['ground_pixels']} ground pixels), the two graphs held at most "
            f"{xarray_writer:.2f} GiB and {leaves:.2f} GiB of task results (a scheduler runs "
            "what a finished task has just made ready first, not strictly in rank).",
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
