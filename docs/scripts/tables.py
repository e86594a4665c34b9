"""Write the tables of measured numbers in README.md and docs/*.md from the committed JSON.

Run from the repository root::

    python docs/scripts/tables.py          # rewrite every table between its markers
    python docs/scripts/tables.py --check  # exit 1 and name the pages that differ

A table lives between ``<!-- table:NAME -->`` and ``<!-- /table -->``; NAME selects its
generator in :data:`TABLES`, which reads one JSON: ``weights/test_evaluation.json`` (the
pre-registered test set, ``weights/evaluate_test.py``: the only source of README's claims on
quality), ``weights/tuning_dev.json`` (the development-set choices, ``weights/tune_dev.py``:
design evidence, never a claim of quality), ``docs/scripts/assess_reference.json`` (the
toolbox's real one-channel crops, ``docs/scripts/assess_reference.py``), the fine-tuning
studies ``docs/scripts/finetune_proof/test.json``, ``criterion.json`` and
``measured_case.json`` (``finetune_test.py``, ``finetune_criterion.py``,
``finetune_measured_case.py``) or ``benchmarks/results-block-memory.json``. A "table" may also
be a sentence or a list: what the page says about those numbers. ``tests/test_claims.py`` fails
when a page differs from what this script generates, so a number typed by hand into a table
cannot survive. A smoke-run JSON (``"quick": true``) is refused: it is never quoted.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "weights"))

from granule_scenes import bootstrap_interval  # noqa: E402

from xr_s5sr.bands import SUPPORTED_BANDS  # noqa: E402

TEST = ROOT / "weights" / "test_evaluation.json"
TUNING = ROOT / "weights" / "tuning_dev.json"
ASSESS = ROOT / "docs" / "scripts" / "assess_reference.json"
ALONG_TRACK = ROOT / "docs" / "scripts" / "along_track.json"
PLAUSIBILITY = ROOT / "docs" / "scripts" / "plausibility.json"
BLOCK_MEMORY = ROOT / "benchmarks" / "results-block-memory.json"
DISTRIBUTED_HELD = ROOT / "benchmarks" / "results-distributed-held.json"
ORBIT = ROOT / "benchmarks" / "results-orbit.json"
ALLOCATOR = ROOT / "benchmarks" / "results-allocator.json"
FINETUNE_TEST = ROOT / "docs" / "scripts" / "finetune_proof" / "test.json"
FINETUNE_CRITERION = ROOT / "docs" / "scripts" / "finetune_proof" / "criterion.json"
FINETUNE_MEASURED = ROOT / "docs" / "scripts" / "finetune_proof" / "measured_case.json"
#: Pages whose marked tables are generated.
PAGES = (
    "README.md",
    "docs/evaluation.md",
    "docs/physics.md",
    "docs/performance.md",
    "docs/finetune.md",
)
#: A marked table: its indent (a table inside a list item is indented like the item's text),
#: its name, its current text and the closing marker.
MARKER = re.compile(
    r"^([ \t]*)<!-- table:([a-z0-9-]+) -->\n(.*?)^([ \t]*<!-- /table -->)",
    re.DOTALL | re.MULTILINE,
)
TEST_COMMAND = "python weights/evaluate_test.py --jobs 2"
#: A default within this of the physics inverse (dB) on every observation of a band changes
#: nothing measurable there: its network is the physics inverse (band 3's, band 6's fallback).
SAME_DB = 0.0005
#: A loss to the physics inverse larger than this (dB) is counted; below it is rounding-level.
LOSS_DB = 0.05


class QuickRunError(ValueError):
    """A smoke run's JSON was given where a table quotes measured numbers."""


def dB(value: float, decimals: int = 2) -> str:
    """``value`` as the README writes it: sign, typographic minus, 0.00 without a sign."""
    text = f"{abs(value):.{decimals}f}"
    if float(text) == 0:
        return text
    return ("+" if value > 0 else "−") + text


def _load(path: Path) -> dict[str, Any] | None:
    if not path.exists():
        return None
    result = json.loads(path.read_text())
    if result.get("quick") or result.get("set", {}).get("quick"):
        raise QuickRunError(f"{path.name} is a smoke run (--quick): its numbers are not quoted.")
    return result


# ------------------------------------------------------------------------------ the test set
def _not_scored() -> str:
    return (
        "*Not scored yet.* The test set is scored once per release, after the methods are "
        f"settled: `{TEST_COMMAND}` writes `weights/test_evaluation.json`, then "
        "`python docs/scripts/tables.py` writes this table."
    )


def _interval(values: list[float], decimals: int = 2) -> str:
    low, high = bootstrap_interval(values)
    return f"{dB(float(np.mean(values)), decimals)} [{dB(low, decimals)}, {dB(high, decimals)}]"


def _gains(scenes: list[dict], noise: str, over: str, **where: Any) -> list[float]:
    return [
        s["metrics"][noise]["s5dscr"]["psnr"] - s["metrics"][noise][over]["psnr"]
        for s in scenes
        if all(s[k] == v for k, v in where.items())
    ]


def _provenance_line(result: dict[str, Any]) -> str:
    p, settings = result["provenance"], result["set"]
    return (
        f"Test set of `weights/test_evaluation.json`: commit `{p['commit'][:12]}`, "
        f"xr_s5sr {p['package_version']}, {p['date']}; "
        f"{settings['seeds_per_cell']} scenes per band × family × brightness, "
        f"{settings['lr_rows']} × {settings['lr_width']} LR pixels, scored on "
        f"{settings['scored']}. Mean over the scenes with a 95 % bootstrap interval, and the "
        "worst scene."
    )


def test_evaluation_summary() -> str:
    """README/docs: per band, the default's PSNR gain over bicubic and the physics inverse."""
    result = _load(TEST)
    if result is None:
        return _not_scored()
    scenes = [s for s in result["scenes"] if s["width"] == "narrow"]
    lines = [
        _provenance_line(result),
        "",
        "| band, family | noise | default − bicubic (dB) | worst | default − physics inverse (dB) "
        "| worst | scenes below bicubic | scenes > 0.05 dB below the physics inverse |",
        "|---|---|---|---|---|---|---|---|",
    ]
    groups: list[tuple[str, dict[str, Any]]] = [
        (str(b), {"band": b}) for b in result["set"]["bands"]
    ]
    groups += [(f"all, `{f}`", {"family": f}) for f in result["set"]["families"]]
    for label, where in groups:
        for noise in ("noisy", "noise-free"):
            bic = _gains(scenes, noise, "bicubic", **where)
            phy = _gains(scenes, noise, "backprojection", **where)
            lines.append(
                f"| {label} | {noise} | {_interval(bic)} | {dB(min(bic))} | "
                f"{_interval(phy, 3)} | {dB(min(phy), 3)} | {sum(g < 0 for g in bic)} of "
                f"{len(bic)} | {sum(g < -0.05 for g in phy)} of {len(phy)} |"
            )
    return "\n".join(lines)


def test_evaluation_headline() -> str:
    """README: the test set's verdict in one paragraph (PSNR against bicubic and the physics
    inverse, spectral angle and line depth against bicubic, negative values)."""
    result = _load(TEST)
    if result is None:
        return _not_scored()
    scenes = [s for s in result["scenes"] if s["width"] == "narrow"]
    pairs = [(s, noise) for s in scenes for noise in ("noisy", "noise-free")]
    bic = [s["metrics"][n]["s5dscr"]["psnr"] - s["metrics"][n]["bicubic"]["psnr"] for s, n in pairs]
    phy = [
        s["metrics"][n]["s5dscr"]["psnr"] - s["metrics"][n]["backprojection"]["psnr"]
        for s, n in pairs
    ]
    cells = [c for c in result["cells"] if c["width"] == "narrow"]

    def worse(metric: str) -> list[str]:
        return sorted(
            {
                f"band {c['band']} `{c['family']}`"
                for c in cells
                if c["methods"]["s5dscr"][metric]["mean"]
                > c["methods"]["bicubic"][metric]["mean"] + 0.005
            }
        )

    negatives = max(s["metrics"][n]["s5dscr"]["negative_fraction"] for s, n in pairs)
    return (
        f"On the {len(pairs)} scored observations ({len(scenes)} scenes, noisy and noise-free) "
        f"the default gains {dB(min(bic))} to {dB(max(bic))} dB over bicubic "
        f"({sum(g < 0 for g in bic)} observations below it) "
        f"and {_interval(phy, 3)} dB over the physics inverse (worst {dB(min(phy), 3)} dB; "
        f"{sum(g < -0.05 for g in phy)} observations more than 0.05 dB below it). Its mean "
        f"spectral angle is above bicubic's in: {', '.join(worse('sam')) or 'no cell'}; its "
        f"absorption-line depth error in: {', '.join(worse('line_depth_error')) or 'no cell'}. "
        f"Largest fraction of negative values: {negatives:.2g}."
    )


def test_evaluation_cells() -> str:
    """docs/evaluation.md: every band × family × brightness × noise cell."""
    result = _load(TEST)
    if result is None:
        return _not_scored()
    lines = [
        "| band | family | brightness | noise | width | PSNR default (dB) | "
        "default − bicubic (dB), worst | default − physics (dB), worst | "
        "SAM default / bicubic / physics (°) | line-depth error default / bicubic | "
        "negative fraction default |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for cell in result["cells"]:
        m = cell["methods"]
        bic, phy = (
            cell["default_psnr_gain_over_bicubic"],
            cell["default_psnr_gain_over_backprojection"],
        )

        def ci(stats: dict, decimals: int = 2) -> str:
            low, high = stats["ci95"]
            return f"{dB(stats['mean'], decimals)} [{dB(low, decimals)}, {dB(high, decimals)}]"

        lines.append(
            f"| {cell['band']} | {cell['family']} | {cell['brightness']} | {cell['noise']} | "
            f"{cell['width']} | {m['s5dscr']['psnr']['mean']:.2f} | {ci(bic)}, "
            f"{dB(bic['worst'])} | {ci(phy, 3)}, {dB(phy['worst'], 3)} | "
            f"{m['s5dscr']['sam']['mean']:.2f} / {m['bicubic']['sam']['mean']:.2f} / "
            f"{m['backprojection']['sam']['mean']:.2f} | "
            f"{m['s5dscr']['line_depth_error']['mean']:.3f} / "
            f"{m['bicubic']['line_depth_error']['mean']:.3f} | "
            f"{m['s5dscr']['negative_fraction']['mean']:.4f} |"
        )
    return "\n".join(lines)


def _observations(result: dict[str, Any]) -> list[tuple[dict, str]]:
    """Every scored (scene, noise) pair of the narrow test scenes."""
    scenes = [s for s in result["scenes"] if s["width"] == "narrow"]
    return [(s, noise) for s in scenes for noise in ("noisy", "noise-free")]


def _psnr_gain(scene: dict, noise: str, method: str, over: str) -> float:
    scores = scene["metrics"][noise]
    return float(scores[method]["psnr"] - scores[over]["psnr"])


def _bands(numbers: list[int]) -> str:
    """``[3, 7]`` as "3 and 7", ``[2, 4, 5]`` as "2, 4 and 5"."""
    text = [str(n) for n in numbers]
    return text[0] if len(text) == 1 else ", ".join(text[:-1]) + " and " + text[-1]


def test_evaluation_scope() -> str:
    """README: what the test set covers and what it does not, with its commit and weights."""
    result = _load(TEST)
    if result is None:
        return _not_scored()
    p, s = result["provenance"], result["set"]
    untested = [b for b in SUPPORTED_BANDS if b not in s["bands"]]
    levels = " and ".join(f"{v:g}×" for v in s["brightness"].values())
    n_scenes = len({scene["key"] for scene, _ in _observations(result)})
    full = s["full_width_scenes_per_cell"]
    width = (
        "none at full swath width"
        if not full
        else f"{full} per cell at the band's full swath width"
    )
    digests = ", ".join(
        f"`{name}` `{digest[:12]}`" for name, digest in sorted(p["weights_file_sha256"].items())
    )
    return (
        f"**Covered:** bands {_bands(s['bands'])} of the {len(SUPPORTED_BANDS)} bands xr_s5sr "
        f"super-resolves; {len(s['families'])} synthetic S5P-like scene families "
        f"({', '.join(f'`{f}`' for f in s['families'])}); brightness {levels} the band's mean "
        f"radiance; {s['seeds_per_cell']} seeds per band × family × brightness ({n_scenes} "
        f"scenes), each observed with {s['noise']['noisy']} and without noise; scenes of "
        f"{s['lr_rows']} × {s['lr_width']} LR pixels (scanlines × ground pixels), {width}. "
        f"**Not covered:** bands {_bands(untested)}, full-swath granules, real L1B radiance. "
        f"Scored once, at commit `{p['commit'][:12]}` ({p['date']}), with the weights files "
        f"(sha256) {digests}."
    )


def test_evaluation_physics() -> str:
    """README: the physics inverse against bicubic on the test set, per band."""
    result = _load(TEST)
    if result is None:
        return _not_scored()
    pairs = _observations(result)
    gains = [_psnr_gain(s, n, "backprojection", "bicubic") for s, n in pairs]
    per_band, least = [], []
    for band in result["set"]["bands"]:
        mine = [(s, n) for s, n in pairs if s["band"] == band]
        band_gains = [_psnr_gain(s, n, "backprojection", "bicubic") for s, n in mine]
        per_band.append(f"band {band} {_interval(band_gains)}")
        by_family = {
            f: float(
                np.mean(
                    [
                        _psnr_gain(s, n, "backprojection", "bicubic")
                        for s, n in mine
                        if s["family"] == f
                    ]
                )
            )
            for f in result["set"]["families"]
        }
        family = min(by_family, key=by_family.__getitem__)
        least.append(f"`{family}` in band {band} ({dB(by_family[family])} dB)")
    return (
        'The training-free physics inverse (`model="backprojection"`) gains '
        f"{dB(min(gains))} to {dB(max(gains))} dB over bicubic on the {len(pairs)} scored "
        f"observations ({sum(g < 0 for g in gains)} below bicubic); mean with 95 % interval: "
        f"{'; '.join(per_band)} dB. Least on " + ", ".join(least) + "."
    )


def test_evaluation_losses() -> str:
    """README/docs: where the default does not beat the physics inverse on the test set."""
    result = _load(TEST)
    if result is None:
        return _not_scored()
    pairs = _observations(result)
    lines = []
    for band in result["set"]["bands"]:
        gains = [
            _psnr_gain(s, n, "s5dscr", "backprojection") for s, n in pairs if s["band"] == band
        ]
        if max(abs(g) for g in gains) < SAME_DB:
            lines.append(
                f"In band {band} the default equals the physics inverse on every observation "
                f"(within {SAME_DB} dB): its network changes nothing there, so these rows score "
                "the physics inverse, not a network."
            )
        else:
            lines.append(
                f"In band {band} the default differs from the physics inverse by "
                f"{dB(min(gains), 3)} to {dB(max(gains), 3)} dB per observation."
            )
    losing = [
        f"band {c['band']} `{c['family']}` {c['brightness']} {c['noise']} "
        f"{dB(c['default_psnr_gain_over_backprojection']['mean'], 3)} dB"
        for c in result["cells"]
        if c["width"] == "narrow" and c["default_psnr_gain_over_backprojection"]["mean"] < 0
    ]
    lost: dict[str, int] = {}
    for s, n in pairs:
        if _psnr_gain(s, n, "s5dscr", "backprojection") < -LOSS_DB:
            key = f"band {s['band']} `{s['family']}`"
            lost[key] = lost.get(key, 0) + 1
    worst_scene, worst_noise = min(
        pairs, key=lambda p: _psnr_gain(p[0], p[1], "s5dscr", "backprojection")
    )
    worst = _psnr_gain(worst_scene, worst_noise, "s5dscr", "backprojection")
    lines.append(
        "**Where the default loses to the physics inverse** (cells whose mean is below it): "
        f"{', '.join(losing) or 'none'}. Observations more than {LOSS_DB} dB below it: "
        f"{sum(lost.values())} of {len(pairs)} ("
        + ", ".join(f"{k}: {v}" for k, v in sorted(lost.items()))
        + f"); the worst is {dB(worst, 3)} dB (band {worst_scene['band']} "
        f"`{worst_scene['family']}`, {worst_scene['brightness']}, {worst_noise})."
    )
    return " ".join(lines)


def assess_reference_headline() -> str:
    """README: the physics inverse on the toolbox's real one-channel crops
    (``docs/scripts/assess_reference.json``), against their native image and by the
    reduced-resolution protocol."""
    result = _load(ASSESS)
    assert result is not None, ASSESS
    true, reduced, bands = [], [], []
    for crop in result["crops"].values():
        t, r = crop["true_hr"], crop["reduced_resolution"]
        true.append(t["backprojection"]["psnr"] - t["bicubic"]["psnr"])
        reduced.append(r["backprojection"]["rr_psnr"] - r["bicubic"]["rr_psnr"])
        bands.append(crop["band"])
    agree = sum((a > 0) == (b > 0) for a, b in zip(true, reduced, strict=True))
    return (
        f"On the S5P_SISR_Toolbox's {len(true)} real S5P crops (one channel each, bands "
        f"{_bands(bands)}; `docs/scripts/assess_reference.json`, commit "
        f"`{result['commit'][:12]}`), scored against their native image, the physics inverse "
        f"gains {dB(min(true))} to {dB(max(true))} dB over bicubic; the reduced-resolution "
        f"protocol of `assess`, which needs no HR, gives {dB(min(reduced))} to "
        f"{dB(max(reduced))} dB and ranks the two methods as the native image does on {agree} "
        f"of {len(true)} crops. The networks need their band's full set of channels, so the "
        "default has **not** been scored on real radiance."
    )


# ------------------------------------------------------------------------ development choices
def dev_tuning() -> str:
    """docs/evaluation.md: each hyperparameter, its development-set choice and the shipped
    value, then the grids behind them."""
    result = _load(TUNING)
    if result is None:
        return "*Not run yet:* `python weights/tune_dev.py` writes `weights/tuning_dev.json`."
    choices, s = result["choices"], result["set"]
    fallback = choices["fallback"]
    zeroed = [b for b, d in fallback["shipped_state"].items() if d == "fall back"]
    chosen_zeroed = [
        b for b, d in fallback["decisions_at_shipped_threshold"].items() if d == "fall back"
    ]
    rows = [
        ("τ (`adaptive.DISCREPANCY_FACTOR`)", "tau"),
        ("detail-gate ramp (`adaptive.DETAIL_RANGE`)", "detail_range"),
        ("window (`adaptive.WINDOW`, LR scanlines)", "window"),
        ("OOD level (`network_tiles.OUT_OF_DISTRIBUTION_LEVEL`)", "ood_level"),
    ]
    lines = [
        f"Development set of `weights/tuning_dev.json` (commit "
        f"`{result['provenance']['commit'][:12]}`): bands {', '.join(map(str, s['bands']))}; "
        f"families {', '.join(s['families'])}; {s['seeds_per_cell']} scene per band × family × "
        f"brightness; HR {s['hr_shape'][0]} × {s['hr_shape'][1]} pixels; photon noise. Margin: "
        "the chosen value's criterion minus the best other value's (values within "
        f"{choices['tau']['tie_db']} dB of the best are tied, and a tie keeps the shipped value).",
        "",
        "| setting | development-set choice | shipped | margin | agrees |",
        "|---|---|---|---|---|",
    ]
    for name, key in rows:
        c = choices[key]
        gap = f"{dB(c['margin'], 3)} dB" if isinstance(c["margin"], float) else c["margin"]
        agrees = "yes" if c["agrees_with_shipped"] else "**no**"
        lines.append(f"| {name} | {c['chosen']} | {c['shipped']} | {gap} | {agrees} |")
    agrees = "yes" if fallback["agrees_with_shipped"] else "**no**"
    lines.append(
        f"| fallback to the physics inverse (threshold {fallback['shipped_threshold_db']:+.2f} "
        f"dB) | bands {', '.join(chosen_zeroed) or 'none'} | bands {', '.join(zeroed) or 'none'} "
        f"| see below | {agrees} |"
    )
    lines += _grid(
        "τ grid (physics inverse, automatic μ; ΔPSNR over bicubic):",
        choices["tau"]["grid"],
        ("mean_gain_over_bicubic_db", "min_gain_over_bicubic_db", "scenes_below_bicubic"),
        ("τ", "mean (dB)", "smallest (dB)", "scenes below bicubic"),
    )
    lines += _grid(
        "Detail-gate ramp grid (default at τ = 3; ΔPSNR over the physics inverse):",
        choices["detail_range"]["grid"],
        ("mean_gain_over_physics_db", "min_gain_over_physics_db", "scenes"),
        ("ramp of ρ", "mean (dB)", "smallest (dB)", "scenes"),
    )
    lines += [
        "",
        "Fallback: mean ΔPSNR (dB) of each band's network over the physics inverse per training "
        "family, and the decision at each threshold (band 6: its network before the fallback):",
        "",
        "| band | worst family | "
        + " | ".join(f"threshold {t} dB" for t in fallback["decisions"])
        + " |",
        "|---|---|" + "---|" * len(fallback["decisions"]),
    ]
    for band, gains in fallback["gains_over_physics_db"].items():
        decisions = " | ".join(d[band] for d in fallback["decisions"].values())
        worst = min(gains, key=gains.__getitem__)
        lines.append(f"| {band} | {dB(gains[worst], 3)} ({worst}) | {decisions} |")
    ood = choices["ood_level"]
    lines += [
        "",
        "OOD statistic (median over pixels of the mean squared normalised network input): "
        f"training families up to {ood['training_like']['max']:.3g}; out-of-family scenes "
        f"{ood['out_of_family']['min']:.3g} to {ood['out_of_family']['max']:.3g} (median "
        f"{ood['out_of_family']['median']:.3g}); share of out-of-family scenes above the "
        f"choice {ood['out_of_family_above']['chosen']:.0%}, above the shipped level "
        f"{ood['out_of_family_above']['shipped']:.0%}.",
    ]
    return "\n".join(lines)


def dev_tau_grid() -> str:
    """docs/physics.md: the τ grid of the development set."""
    result = _load(TUNING)
    assert result is not None, TUNING
    tau, s = result["choices"]["tau"], result["set"]
    return "\n".join(
        _grid(
            f"Development set of `weights/tuning_dev.json` (bands "
            f"{_bands(s['bands'])}, families {', '.join(s['families'])}, "
            f"{len(result['scenes'])} scenes, photon noise): physics inverse with the automatic "
            f"μ, ΔPSNR over bicubic; chosen τ = {tau['chosen']}.",
            tau["grid"],
            ("mean_gain_over_bicubic_db", "min_gain_over_bicubic_db", "scenes_below_bicubic"),
            ("τ", "mean (dB)", "smallest (dB)", "scenes below bicubic"),
        )[1:]
    )


def dev_smooth_gate() -> str:
    """docs/physics.md: the default against the physics inverse on the development set's
    featureless ``smooth`` scenes, at the shipped detail-gate ramp."""
    result = _load(TUNING)
    assert result is not None, TUNING
    choice = result["choices"]["detail_range"]["chosen"].split("–")[0]
    key = f"default ramp={choice}"
    gains = {
        (s["band"], s["brightness"]): s["psnr"][key] - s["psnr"]["physics tau=3"]
        for s in result["scenes"]
        if s["family"] == "smooth" and key in s["psnr"]
    }
    worst = min(gains, key=gains.__getitem__)
    return (
        f"On the development set's featureless `smooth` scenes (bands "
        f"{_bands(sorted({b for b, _ in gains}))}, bright and dim; `weights/tuning_dev.json`) the "
        f"default is {dB(min(gains.values()), 3)} to {dB(max(gains.values()), 3)} dB from the "
        f"physics inverse (worst: band {worst[0]}, {worst[1]})."
    )


def along_track() -> str:
    """docs/physics.md: PSNR per 64-scanline window of ``docs/scripts/along_track.json``."""
    result = json.loads(ALONG_TRACK.read_text())
    lines = [
        "| LR scanlines | brightness (rel. to first window) | bicubic | **default** | "
        "back-projection (auto μ) | back-projection (μ = 0) | default − bicubic |",
        "|---|---|---|---|---|---|---|",
    ]
    for w in result["windows"]:
        first, last = w["lr_scanlines"]
        lines.append(
            f"| {first}–{last} | {w['relative_brightness']:.3g} | {w['bicubic']:.2f} | "
            f"**{w['default']:.2f}** | {w['backprojection']:.2f} | "
            f"{w['backprojection_mu0']:.2f} | {dB(w['default'] - w['bicubic'])} |"
        )
    gains = result["mean_gain_over_bicubic_db"]
    lines.append(
        f"| mean gain over bicubic | | | **{dB(gains['default'])}** | "
        f"{dB(gains['backprojection'])} | {dB(gains['backprojection_mu0'])} | |"
    )
    return "\n".join(lines)


def plausibility() -> str:
    """docs/physics.md: every method on the scenes of ``docs/scripts/plausibility.json`` and
    ``plausibility_continuum.json`` (PSNR dB / SAM ° / line-depth error)."""
    scenes = [
        *json.loads(PLAUSIBILITY.read_text())["scenes"],
        *json.loads(PLAUSIBILITY.with_name("plausibility_continuum.json").read_text())["scenes"],
    ]
    conditions = {"clean": "clean", "noisy": "noisy", "dim_noisy": "dim noisy"}
    lines = [
        "| band | family | data | bicubic | physics inverse | before | default (K) | sharp | "
        "negatives | misfit |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]

    def cell(m: dict) -> str:
        return f"{m['psnr']:.2f} / {m['sam']:.2f}° / {m['line_depth_error']:.3f}"

    for sc in scenes:
        d = sc["default"]
        misfit = f"rel {d['misfit_rel']:.1e}" if d["chi2"] is None else f"χ² {d['chi2']:.2f}"
        lines.append(
            f"| {sc['band']} | {sc['family']} | {conditions[sc['condition']]} | "
            f"{cell(sc['bicubic'])} | {cell(sc['physics'])} | {cell(sc['default_before'])} | "
            f"**{cell(d)}** ({d['rank']}) | {cell(sc['prior_sharp'])} | "
            f"{100 * sc['projection_only']['negative_fraction']:.2f} % → "
            f"{100 * d['negative_fraction']:.2f} % | {misfit} |"
        )
    return "\n".join(lines)


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


def short_commit(commit: str) -> str:
    """A run record's commit, short, keeping its ``+uncommitted`` mark."""
    head, _, mark = commit.partition("+")
    return head[:7] + (f"+{mark}" if mark else "")


def distributed_held() -> str:
    """docs/performance.md: what a LocalCluster held at most while writing an orbit to zarr
    (``benchmarks/results-distributed-held.json``), per length, with the largest prefixes."""
    result = json.loads(DISTRIBUTED_HELD.read_text())
    lines = [
        "| method | LR scanlines | wall | most task results held | largest | worker peak RSS |",
        "|---|---:|---:|---:|---|---:|",
    ]
    for run in result["runs"]:
        largest = list(run["held_by_prefix"].items())[:2]
        parts = ", ".join(
            f"`{name}` {size / 2**30:.2f} GiB in {count}" for name, (size, count) in largest
        )
        peaks = ", ".join(f"{b / 2**30:.2f}" for b in run["worker_peak_rss_bytes"])
        lines.append(
            f"| `{run['method']}` | {run['scanlines']} | {run['wall_s']:.0f} s | "
            f"{run['most_held_bytes'] / 2**30:.2f} GiB | {parts} | {peaks} GiB |"
        )
    lines.append("")
    lines.append(
        "Two one-thread workers, xarray's `to_zarr`; commit "
        f"`{short_commit(result['record']['commit'])}`."
    )
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
    lines.append(
        f"Band {config['band']}, {config['ground_pixels']} ground pixels, input chunks of "
        f"{config['chunks']} scanlines, `LocalCluster` of {config['workers']} one-thread "
        "workers, xarray's `to_zarr`."
    )
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


def _grid(title: str, grid: dict, keys: tuple[str, ...], header: tuple[str, ...]) -> list[str]:
    lines = ["", title, "", "| " + " | ".join(header) + " |", "|---" * len(header) + "|"]
    for value, g in grid.items():
        cells = [dB(g[k], 3) if isinstance(g[k], float) else str(g[k]) for k in keys]
        lines.append(f"| {value} | " + " | ".join(cells) + " |")
    return lines


# ------------------------------------------------------------------------------ fine-tuning
def _finetune_cases() -> dict[str, dict[str, Any]]:
    result = _load(FINETUNE_TEST)
    assert result is not None, FINETUNE_TEST
    return result["cases"]


def _finetune_provenance(result: dict[str, Any], path: Path) -> str:
    """``Results of `<path>`: commit `…` (clean tree), <date>`` from the JSON's sessions."""
    sessions = result.get("provenance", [])
    if not sessions:
        return f"Results of `{path.relative_to(ROOT)}` (its code's commit was not recorded)."
    parts = []
    for p in sessions:
        commit = f"commit `{p['commit'][:12]}`" if p.get("commit") else "no git commit"
        state = "" if p.get("tree_clean") else " with uncommitted changes"
        parts.append(f"{commit}{state}, {p['started_utc'][:10]}")
    runs = "; resumed on " if len(parts) > 1 else ""
    return f"Results of `{path.relative_to(ROOT)}`: {parts[0]}{runs}{'; '.join(parts[1:])}."


def _cell(key: str, short: bool = False) -> str:
    """``mixture scenes at 0.03 of the band's mean radiance (band noise)`` of a case key
    (``short``: ``mixture at 0.03 (band noise)``)."""
    family, brightness, noise, _ = key.split("/")
    if short:
        return f"{family} at {brightness} ({noise} noise)"
    return f"{family} scenes at {brightness} of the band's mean radiance ({noise} noise)"


def _gain_interval(gain: list[float]) -> str:
    mean, low, high = gain
    return f"{dB(mean)} dB (95 % interval {dB(low)} … {dB(high)})"


def finetune_test_summary() -> str:
    """README and docs/finetune.md: the pre-registered fine-tuning test in one sentence."""
    cases = _finetune_cases()
    returned = sum(c["returned_start"] for c in cases.values())
    best = max(cases, key=lambda k: cases[k]["gain_db_new"][0])
    worst = min(c["gain_db_new"][0] for c in cases.values())
    lost = sum(g < 0 for c in cases.values() for g in c["gain_db_per_granule"])
    granules = sum(len(c["gain_db_per_granule"]) for c in cases.values())
    wrong = sum(c["check_new"]["better"] and c["gain_db_new"][0] < 0 for c in cases.values())
    best_text = (
        "the best gain over the start on new granules was "
        f"{_gain_interval(cases[best]['gain_db_new'])} on {_cell(best)}"
        if cases[best]["gain_db_new"][0] > 0
        else "no run gained over the start on new granules"
    )
    return (
        f"{returned} of {len(cases)} runs returned the start weights; {best_text}, worst cell "
        f"mean {dB(worst)} dB, and {lost} of {granules} new granules lost; `--check` called "
        f"{wrong} losing cell{'s' if wrong != 1 else ''} better."
    )


def finetune_test_table() -> str:
    """docs/finetune.md: every row of the pre-registered test."""
    result = _load(FINETUNE_TEST)
    assert result is not None, FINETUNE_TEST
    lines = [
        _finetune_provenance(result, FINETUNE_TEST),
        "",
        "| family | brightness | noise | returned | gain on 5 new granules (dB) | per granule "
        "(dB) | check on the new granules |",
        "|---|---|---|---|---|---|---|",
    ]
    for key, case in result["cases"].items():
        family, brightness, noise, _ = key.split("/")
        per = case["gain_db_per_granule"]
        check = case["check_new"]
        if case["returned_start"]:
            returned, verdict = "start (warning)", "not better (same weights)"
        else:
            returned = "fine-tuned"
            verdict = (
                f"{'better' if check['better'] else 'not better'}: {dB(check['gain_db'])} dB "
                f"({dB(check['low_db'])} … {dB(check['high_db'])}), SURE "
                f"{dB(check['change_percent'], 0)} %"
            )
        mean, low, high = case["gain_db_new"]
        gain = "0" if not any(per) else f"{dB(mean)} ({dB(low)} … {dB(high)})"
        granules = f"0 × {len(per)}" if not any(per) else ", ".join(dB(g) for g in per)
        noise_name = "band sigma" if noise == "band" else noise
        lines.append(
            f"| {family} | {brightness} | {noise_name} | {returned} | {gain} | {granules} | "
            f"{verdict} |"
        )
    return "\n".join(lines)


def finetune_test_cells() -> str:
    """docs/finetune.md: which cells were fine-tuned (and their gains) and which returned
    the start weights."""
    cases = _finetune_cases()
    tuned = [k for k, c in cases.items() if not c["returned_start"]]
    starts = [k for k, c in cases.items() if c["returned_start"]]
    called = sum(cases[k]["check_new"]["better"] for k in tuned)
    gains = "; ".join(f"{_cell(k, short=True)} {dB(cases[k]['gain_db_new'][0])} dB" for k in tuned)
    lines = [
        f"* **Fine-tuned weights returned** ({len(tuned)} of {len(cases)} cells): "
        + (
            f"{gains}. `--check` on the new granules called {called} of {len(tuned)} better."
            if tuned
            else "none."
        ),
        f"* **Start weights returned**, with a warning ({len(starts)} of {len(cases)} cells): "
        + ("; ".join(_cell(k, short=True) for k in starts) or "none")
        + ".",
    ]
    return "\n".join(lines)


#: The criteria of the criterion study, as docs/finetune.md names them.
CRITERIA = {
    "reduced": "new check (inference, reduced resolution)",
    "composition": "training composition, reduced resolution",
    "sure": "SURE",
    "previous": "previous check (composition and SURE)",
}


def finetune_criterion_table() -> str:
    """docs/finetune.md: how often each criterion called "better", called a true loss
    better, and was right where the true change was at least 0.05 dB either way."""
    result = _load(FINETUNE_CRITERION)
    assert result is not None, FINETUNE_CRITERION
    threshold = -result["plan"]["loss_threshold_db"]
    lines = [
        _finetune_provenance(result, FINETUNE_CRITERION),
        "",
        f"| granules | cases | true change ≥ {threshold:g} dB: gains, losses | criterion | "
        f"called better | … with a true loss | right where the change ≥ {threshold:g} dB |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, summary in result["summary"].items():
        true = [c[name]["true_db"] for c in result["cases"].values()]
        gains, losses = sum(t >= threshold for t in true), sum(t <= -threshold for t in true)
        for k, (criterion, label) in enumerate(CRITERIA.items()):
            part = summary[criterion]
            right, material = part["verdict_right_where_change_above_0.05dB"]
            lead = f"| {name} | {summary['cases']} | {gains}, {losses} |" if k == 0 else "| | | |"
            lines.append(
                f"{lead} {label} | {part['called_better']} | "
                f"{part['called_better_but_any_loss']} | {right} of {material} |"
            )
    return "\n".join(lines)


def finetune_criterion_bias() -> str:
    """docs/finetune.md: how far the new check's gain was from the true change."""
    result = _load(FINETUNE_CRITERION)
    assert result is not None, FINETUNE_CRITERION
    own, new = (result["summary"][n]["reduced_gain_minus_true_db"] for n in ("own", "new"))

    def lean(mean: float) -> str:
        if mean > 0:
            return ": it overstates gains"
        return ": it understates gains" if mean < 0 else ""

    threshold = result["plan"]["loss_threshold_db"]
    true = [c[n]["true_db"] for c in result["cases"].values() for n in ("own", "new")]
    losses = sum(t <= threshold for t in true)
    caught = (
        f" No case lost {-threshold:g} dB or more in truth, even at the largest learning rate, "
        "so the study shows no loss being caught (the destructive test above does)."
        if losses == 0
        else f" {losses} of {len(true)} true changes were losses of {-threshold:g} dB or more."
    )
    return (
        f"The new check's gain differed from the true change by {own['mean_abs']:.3f} dB on "
        f"average (absolute; own granules; mean signed difference {dB(own['mean'], 3)} dB"
        f"{lean(own['mean'])}) and {new['mean_abs']:.3f} dB on new granules (mean signed "
        f"difference {dB(new['mean'], 3)} dB{lean(new['mean'])}).{caught}"
    )


def _verdict(check: dict[str, Any]) -> str:
    """``better, +0.30 dB (+0.20 … +0.40)`` of a check's gain and interval."""
    gain = f"{dB(check['gain_db'])} dB ({dB(check['low_db'])} … {dB(check['high_db'])})"
    return f"{'better' if check['better'] else 'not better'}, {gain}"


def _mean_list(values: list[float]) -> str:
    return f"{dB(float(np.mean(values)))} dB ({', '.join(dB(v) for v in values)})"


def finetune_measured_case() -> str:
    """docs/finetune.md: issue 25's command rerun on this code (``measured_case.json``)."""
    result = _load(FINETUNE_MEASURED)
    if result is None or "cli" not in result["cases"]:
        return (
            "*Not run yet:* `python docs/scripts/finetune_measured_case.py --out "
            "docs/scripts/finetune_proof/measured_case.json` writes its JSON."
        )
    run = result["cases"]["cli"]
    own, new = run["own"], run["new"]
    chosen = [v for v in run["validation"] if v.get("validation_low_db", 0.0) > 0]
    best = max(chosen, key=lambda v: v["validation_low_db"]) if chosen else None
    returned = (
        "the start weights, with a warning"
        if run["returned_start"]
        else f"the weights of step {best['step']:.0f} (held-out validation "
        f"{dB(best['validation_gain_db'])} dB, {dB(best['validation_low_db'])} … "
        f"{dB(best['validation_high_db'])})"
        if best
        else "the fine-tuned weights"
    )
    last, checks = new["last_step"], run["checks"]
    shipped, tuned = (new[k]["gain_over_bicubic_db"] for k in ("shipped", "finetuned"))
    return "\n".join(
        [
            _finetune_provenance(result, FINETUNE_MEASURED),
            "",
            f"* **Returned**: {returned}; the command took {run['seconds'] / 60:.0f} min (wall "
            "clock, one CPU thread of a shared machine).",
            f"* **Truth, new granules**: gain over bicubic {_mean_list(shipped)} with the "
            f"shipped weights, {_mean_list(tuned)} with the returned ones: a change of "
            f"{_mean_list(new['finetuned_true_change_db'])}.",
            "* **Truth, fine-tuning granules**: change "
            f"{_mean_list(own['finetuned_true_change_db'])} (the last one held out of training "
            "for the selection).",
            f"* **`--check`** on the new granules: {_verdict(checks['check_granules'])}, SURE "
            f"{dB(checks['check_granules']['change_percent'], 0)} %; on the fine-tuning "
            f"granules: {_verdict(checks['finetuning_granules'])}.",
            "* **The weights of the last step** (what a run without selection returns), new "
            f"granules: true change {_mean_list(new['last_step_true_change_db'])}; the new "
            f"check {_verdict(last['check'])}; the previous check (composition and SURE) "
            f"{_verdict(last['previous_check'])}, SURE "
            f"{dB(last['previous_check']['sure_change_percent'], 0)} %.",
        ]
    )


TABLES: dict[str, Callable[[], str]] = {
    "test-evaluation-summary": test_evaluation_summary,
    "test-evaluation-headline": test_evaluation_headline,
    "test-evaluation-cells": test_evaluation_cells,
    "test-evaluation-scope": test_evaluation_scope,
    "test-evaluation-physics": test_evaluation_physics,
    "test-evaluation-losses": test_evaluation_losses,
    "assess-reference-headline": assess_reference_headline,
    "dev-tuning": dev_tuning,
    "dev-tau-grid": dev_tau_grid,
    "dev-smooth-gate": dev_smooth_gate,
    "along-track": along_track,
    "plausibility": plausibility,
    "block-memory": block_memory,
    "block-memory-latest": block_memory_latest,
    "block-memory-held": block_memory_held,
    "distributed-held": distributed_held,
    "orbit": orbit,
    "allocator": allocator,
    "finetune-test-summary": finetune_test_summary,
    "finetune-test": finetune_test_table,
    "finetune-test-cells": finetune_test_cells,
    "finetune-criterion": finetune_criterion_table,
    "finetune-criterion-bias": finetune_criterion_bias,
    "finetune-measured-case": finetune_measured_case,
}


def render(text: str) -> str:
    """``text`` with every marked table replaced by what its generator writes now."""
    cache: dict[str, str] = {}

    def replace(match: re.Match[str]) -> str:
        indent, name = match.group(1), match.group(2)
        if name not in TABLES:
            raise KeyError(f"Unknown table {name!r}: expected one of {sorted(TABLES)}.")
        if name not in cache:
            cache[name] = TABLES[name]()
        body = "\n".join(indent + line if line else "" for line in cache[name].splitlines())
        return f"{indent}<!-- table:{name} -->\n{body}\n{match.group(4)}"

    return MARKER.sub(replace, text)


def stale_pages() -> list[str]:
    """Pages whose tables differ from what :func:`render` writes."""
    return [p for p in PAGES if render((ROOT / p).read_text()) != (ROOT / p).read_text()]


def main() -> None:
    if sys.argv[1:] == ["--check"]:
        stale = stale_pages()
        if stale:
            raise SystemExit(f"Tables differ from the JSON in {stale}: run docs/scripts/tables.py")
        return
    for page in PAGES:
        path = ROOT / page
        path.write_text(render(path.read_text()))


if __name__ == "__main__":
    main()
