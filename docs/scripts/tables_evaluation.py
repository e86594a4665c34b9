"""Tables of README.md and docs/evaluation.md: the pre-registered test set
(``weights/test_evaluation.json``) and the development-set choices (``weights/tuning_dev.json``).

Writes README's ``test-evaluation-scope``, ``-physics``, ``-headline``, ``-losses`` and
``-summary``; docs/evaluation.md's ``test-evaluation-summary``, ``-losses``, ``-cells`` and
``dev-tuning``. docs/physics.md quotes the same two JSON through ``test-evaluation-losses``,
``dev-tau-grid`` and ``dev-smooth-gate``, which live here with the rest of their JSON's
readers.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import numpy as np
from tables_core import LOSS_DB, ROOT, and_list, dB, load_run, span

sys.path.insert(0, str(ROOT / "weights"))

from granule_scenes import bootstrap_interval

from xr_s5sr.bands import SUPPORTED_BANDS

TEST = ROOT / "weights" / "test_evaluation.json"
#: Bands scored after the release's set, by the same protocol (``evaluate_test.py --bands``).
TEST_MORE = ROOT / "weights" / "test_evaluation_more.json"
TEST_MORE_COMMAND = (
    "python weights/evaluate_test.py --jobs 2 --bands 6,8 --out weights/test_evaluation_more.json"
)
TUNING = ROOT / "weights" / "tuning_dev.json"
TEST_COMMAND = "python weights/evaluate_test.py --jobs 2"
#: A default within this of the physics inverse (dB) on every observation of a band changes
#: nothing measurable there: its network is the physics inverse (band 3's, band 6's fallback).
SAME_DB = 0.0005


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


def _provenance_line(result: dict[str, Any], name: str = TEST.name) -> str:
    p, settings = result["provenance"], result["set"]
    return (
        f"Test set of `weights/{name}`: commit `{p['commit'][:12]}`, "
        f"xr_s5sr {p['package_version']}, {p['date']}; "
        f"{settings['seeds_per_cell']} scenes per band × family × brightness, "
        f"{settings['lr_rows']} × {settings['lr_width']} LR pixels, scored on "
        f"{settings['scored']}. Mean over the scenes with a 95 % bootstrap interval, and the "
        "worst scene."
    )


def test_evaluation_summary() -> str:
    """README/docs: per band, the default's PSNR gain over bicubic and the physics inverse."""
    result = load_run(TEST)
    if result is None:
        return _not_scored()
    return _summary_table(result, TEST.name)


def _summary_table(result: dict[str, Any], name: str) -> str:
    """Per band, then per family over the bands: the default's PSNR gain over bicubic and
    the physics inverse (narrow scenes)."""
    scenes = [s for s in result["scenes"] if s["width"] == "narrow"]
    lines = [
        _provenance_line(result, name),
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
    result = load_run(TEST)
    if result is None:
        return _not_scored()
    scenes = [s for s in result["scenes"] if s["width"] == "narrow"]
    pairs = [(s, noise) for s in scenes for noise in ("noisy", "noise-free")]
    bic = [s["metrics"][n]["s5dscr"]["psnr"] - s["metrics"][n]["bicubic"]["psnr"] for s, n in pairs]
    phy = [
        s["metrics"][n]["s5dscr"]["psnr"] - s["metrics"][n]["backprojection"]["psnr"]
        for s, n in pairs
    ]

    def worse(metric: str) -> list[str]:
        return _cells_above_bicubic(result, metric)

    negatives = max(s["metrics"][n]["s5dscr"]["negative_fraction"] for s, n in pairs)
    return (
        f"On the {len(pairs)} scored observations ({len(scenes)} scenes, noisy and noise-free) "
        f"the default gains {span(bic, dB, ' to ')} dB over bicubic "
        f"({sum(g < 0 for g in bic)} observations below it) "
        f"and {_interval(phy, 3)} dB over the physics inverse (worst {dB(min(phy), 3)} dB; "
        f"{sum(g < -0.05 for g in phy)} observations more than 0.05 dB below it). Its mean "
        f"spectral angle is above bicubic's in: {', '.join(worse('sam')) or 'no cell'}; its "
        f"absorption-line depth error in: {', '.join(worse('line_depth_error')) or 'no cell'}. "
        f"Largest fraction of negative values: {negatives:.2g}."
    )


def _cells_above_bicubic(result: dict[str, Any], metric: str) -> list[str]:
    """The band × family cells (narrow scenes) where the default's mean ``metric`` is above
    bicubic's by more than the table's rounding (0.005)."""
    return sorted(
        {
            f"band {c['band']} `{c['family']}`"
            for c in result["cells"]
            if c["width"] == "narrow"
            and c["methods"]["s5dscr"][metric]["mean"]
            > c["methods"]["bicubic"][metric]["mean"] + 0.005
        }
    )


def test_evaluation_more() -> str:
    """docs/evaluation.md: the bands scored after the release's set
    (``weights/test_evaluation_more.json``), in the summary's form."""
    result = load_run(TEST_MORE)
    if result is None:
        return (
            f"*Not scored yet:* `{TEST_MORE_COMMAND}` writes `weights/{TEST_MORE.name}`, then "
            "`python docs/scripts/tables.py` writes this table."
        )
    pairs = [
        (s, noise)
        for s in result["scenes"]
        if s["width"] == "narrow"
        for noise in ("noisy", "noise-free")
    ]
    below = sum(
        s["metrics"][n]["s5dscr"]["psnr"] < s["metrics"][n]["bicubic"]["psnr"] for s, n in pairs
    )
    sam, depth = (_cells_above_bicubic(result, m) for m in ("sam", "line_depth_error"))
    return (
        _summary_table(result, TEST_MORE.name)
        + f"\n\nOn these {len(pairs)} observations the default is below bicubic's PSNR on "
        f"{below}. Its mean spectral angle is above bicubic's in: {', '.join(sam) or 'no cell'}; "
        f"its absorption-line depth error in: {', '.join(depth) or 'no cell'}."
    )


def test_evaluation_cells() -> str:
    """docs/evaluation.md: every band × family × brightness × noise cell."""
    result = load_run(TEST)
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


def test_evaluation_scope() -> str:
    """README: what the test set covers and what it does not, with its commit and weights."""
    result = load_run(TEST)
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
    more = load_run(TEST_MORE)
    later = (
        ""
        if more is None
        else f" Bands {and_list(more['set']['bands'])} were scored afterwards by the same "
        "protocol, outside these claims ([Evaluation](docs/evaluation.md#bands-scored-after-"
        "the-releases-set))."
    )
    return (
        f"**Covered:** bands {and_list(s['bands'])} of the {len(SUPPORTED_BANDS)} bands xr_s5sr "
        f"super-resolves; {len(s['families'])} synthetic S5P-like scene families "
        f"({', '.join(f'`{f}`' for f in s['families'])}); brightness {levels} the band's mean "
        f"radiance; {s['seeds_per_cell']} seeds per band × family × brightness ({n_scenes} "
        f"scenes), each observed with {s['noise']['noisy']} and without noise; scenes of "
        f"{s['lr_rows']} × {s['lr_width']} LR pixels (scanlines × ground pixels), {width}. "
        f"**Not covered:** bands {and_list(untested)}, full-swath granules, real L1B radiance. "
        f"Scored once, at commit `{p['commit'][:12]}` ({p['date']}), with the weights files "
        f"(sha256) {digests}.{later}"
    )


def test_evaluation_physics() -> str:
    """README: the physics inverse against bicubic on the test set, per band."""
    result = load_run(TEST)
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
        f"{span(gains, dB, ' to ')} dB over bicubic on the {len(pairs)} scored "
        f"observations ({sum(g < 0 for g in gains)} below bicubic); mean with 95 % interval: "
        f"{'; '.join(per_band)} dB. Least on " + ", ".join(least) + "."
    )


def test_evaluation_losses() -> str:
    """README/docs: where the default does not beat the physics inverse on the test set."""
    result = load_run(TEST)
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
                f"{span(gains, lambda g: dB(g, 3), ' to ')} dB per observation."
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


# ------------------------------------------------------------------------ development choices
def dev_tuning() -> str:
    """docs/evaluation.md: each hyperparameter, its development-set choice and the shipped
    value, then the grids behind them."""
    result = load_run(TUNING)
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
        agrees = {True: "yes", False: "**no**", None: "undecided"}[c["agrees_with_shipped"]]
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


def shipped_tau() -> float:
    """The shipped ``τ`` as ``weights/tuning_dev.json`` records it (read here, where
    :data:`TUNING` lives, for docs/physics.md's plausibility notes)."""
    return json.loads(TUNING.read_text())["choices"]["tau"]["shipped"]


def dev_tau_grid() -> str:
    """docs/physics.md: the τ grid of the development set."""
    result = load_run(TUNING)
    assert result is not None, TUNING
    tau, s = result["choices"]["tau"], result["set"]
    return "\n".join(
        _grid(
            f"Development set of `weights/tuning_dev.json` (bands "
            f"{and_list(s['bands'])}, families {', '.join(s['families'])}, "
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
    result = load_run(TUNING)
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
        f"{and_list(sorted({b for b, _ in gains}))}, bright and dim; `weights/tuning_dev.json`) "
        f"the default is {span(gains.values(), lambda g: dB(g, 3), ' to ')} dB from the "
        f"physics inverse (worst: band {worst[0]}, {worst[1]})."
    )


def _grid(title: str, grid: dict, keys: tuple[str, ...], header: tuple[str, ...]) -> list[str]:
    lines = ["", title, "", "| " + " | ".join(header) + " |", "|---" * len(header) + "|"]
    for value, g in grid.items():
        cells = [dB(g[k], 3) if isinstance(g[k], float) else str(g[k]) for k in keys]
        lines.append(f"| {value} | " + " | ".join(cells) + " |")
    return lines
