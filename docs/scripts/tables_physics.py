"""Tables of docs/physics.md measured by ``docs/scripts`` and the benchmarks: ``along-track``,
``detail-gate``, ``consistency-misfit``, ``noise-estimate``, ``settings-window``,
``window-halo`` and ``nonnegative-cost``. (The page's plausibility blocks are written by
``tables_plausibility.py``; its model-card, assess and development-set blocks by the modules of
those pages.)
"""

from __future__ import annotations

import json

import numpy as np
from tables_core import (
    ROOT,
    and_list,
    cite_commit,
    dB,
    load_run,
    power,
    sci,
    share,
    short_commit,
    span,
)

from xr_s5sr.bands import SUPPORTED_BANDS, get_band
from xr_s5sr.physics import SPARSE_SHARE
from xr_s5sr.physics_graph import CHANNEL_GROUP

ALONG_TRACK = ROOT / "docs" / "scripts" / "along_track.json"
DETAIL_GATE = ROOT / "docs" / "scripts" / "detail_gate.json"
MISFIT = ROOT / "docs" / "scripts" / "consistency_misfit.json"
NOISE_ESTIMATE = ROOT / "docs" / "scripts" / "noise_estimate.json"
SETTINGS_WINDOW = ROOT / "docs" / "scripts" / "settings_window.json"
WINDOW_HALO = ROOT / "docs" / "scripts" / "window_halo.json"
#: The full run of ``benchmarks/bench_nonnegative.py`` (never its ``--quick`` smoke run).
NONNEGATIVE = ROOT / "benchmarks" / "results-nonnegative.json"


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


def detail_gate() -> str:
    """docs/physics.md: the detail gate's ramp and how much of the training tiles and of
    held-out ``smooth`` scenes it lets through (``docs/scripts/detail_gate.json``)."""
    result = json.loads(DETAIL_GATE.read_text())
    low, high = result["detail_range"]
    bands = result["bands"]
    training = {
        (int(b), f): v["full_weight"] for b, r in bands.items() for f, v in r["training"].items()
    }
    least = sorted(training, key=training.__getitem__)[:3]
    whole = sum(v == 1 for v in training.values())

    def smooth(noise: str, key: str) -> str:
        # The shares as ``share`` writes them, the unit once: "0.0–1.2 %".
        values = [100 * r["smooth"][noise][key] for r in bands.values()]
        return span(values, ".1f", unit=" %", merge=True)

    return (
        f"Weight 0 at or below `ρ = {power(low)}`, 1 at or above `{power(high)}`, log-linear "
        "between (`adaptive.DETAIL_RANGE`). On the noise-free LR of the "
        f"{result['training_tiles_per_band']} training tiles per band of "
        "`weights/train_shipped.py` the gate gives full weight to "
        f"{share(training[least[0]])} or more of the LR pixels of every training family in "
        f"every band (to every pixel in {whole} of {len(training)} band × family cases; least: "
        + ", ".join(f"band {b} `{f}` {share(training[(b, f)])}" for b, f in least)
        + "). On held-out `smooth` scenes at the band's mean radiance it gives weight 0 to "
        f"{smooth('noise_free', 'zero_weight')} of the LR pixels noise-free and "
        f"{smooth('noisy', 'zero_weight')} with the band's noise (σ² given), full weight to "
        f"{smooth('noisy', 'full_weight')} (bands {and_list([int(b) for b in bands])}; "
        "`docs/scripts/detail_gate.py` → `detail_gate.json`, commit "
        f"`{short_commit(result['record']['commit'])}`)."
    )


def consistency_misfit() -> str:
    """docs/physics.md: the RMS misfit of the output against noisy and noise-free data
    (``docs/scripts/consistency_misfit.json``)."""
    result = json.loads(MISFIT.read_text())
    noisy = result["noisy"]
    physics, default = ([v[k] for v in noisy.values()] for k in ("physics", "default"))
    scenes = sorted({k.split("/")[0] for k in noisy})
    levels = sorted({float(k.split("/")[1]) for k in noisy})
    track, free = result["along_track"], result["noise_free"]
    return (
        f"Measured in band {result['band']} (`docs/scripts/consistency_misfit.py` → "
        f"`consistency_misfit.json`, commit `{short_commit(result['record']['commit'])}`), "
        "the RMS of `A(SR) − y` in units of the true noise σ: "
        f"{span(physics, '.2f', merge=True)} σ for the physics inverse and "
        f"{span(default, '.2f', merge=True)} σ for the default on "
        f"{' and '.join(f'`{s}`' for s in scenes)} scenes at "
        f"{' and '.join(f'{b:g}×' for b in levels)} the band's mean radiance; "
        f"{span([track['min'], track['max']], '.2f', merge=True)} σ row by row "
        f"({track['rows']} rows) for the physics inverse on a scene whose brightness falls "
        f"along track (`families.along_track_scene`, {track['channels']} channels, photon "
        "noise), where the noise estimate from so few channels is "
        f"{span(track['estimated_over_true_sigma'], '.2f', merge=True)}× the true σ, so μ is "
        "larger than needed. "
        "Noise-free (μ = 0 in every window), the relative misfit `‖A(SR) − y‖ / ‖y‖` away "
        "from the granule's first and last scanlines is at most "
        f"{max(v['exact'] for v in free.values()):.1e} with the exact projection "
        f"(`nonnegative=False`) and {max(v['default'] for v in free.values()):.1e} with the "
        "default, whose non-negative step changes the fit where the exact inverse dips below "
        f"zero ({' and '.join(f'`{f}`' for f in free)} scenes)."
    )


def noise_estimate() -> str:
    """docs/physics.md: how well the noise estimate across channels recovers known noise
    (``docs/scripts/noise_estimate.json``)."""
    result = json.loads(NOISE_ESTIMATE.read_text())
    families = result["families"]
    rows, pixels, channels = result["window"]
    white = [v for f in families.values() for k, v in f.items() if k.startswith("white_")]
    levels = sorted(
        {
            float(k[len("white_") : -1])
            for f in families.values()
            for k in f
            if k.startswith("white_")
        }
    )
    photon = [f["photon_1x"] for f in families.values()]
    free = [f["noise_free_sigma"] for f in families.values()]
    free_text = (
        "every family gives exactly 0"
        if not any(free)
        else f"the estimated σ² is at most {max(free):.1e}"
    )
    excess = (
        " (every ratio at or above 1: the small excess is the leverage of a channel in the "
        "signal subspace, about rank / channels)"
        if min(white) >= 1
        else ""
    )
    return (
        f"Band {result['band']} windows of {rows} × {pixels} LR pixels × {channels} channels, "
        f"{len(families)} families ({', '.join(f'`{f}`' for f in families)}; "
        f"`docs/scripts/noise_estimate.py` → `noise_estimate.json`{cite_commit(result)}): "
        "noise-free, "
        f"{free_text}; with white noise at {' and '.join(f'{b:g}×' for b in levels)} the mean "
        f"radiance the estimated over the true σ is {span(white, '.4f', ' … ')}{excess}; with "
        f"photon noise (`σ ∝ √L`) the estimate over the window's RMS σ is "
        f"{span(photon, '.4f', ' … ')}."
    )


def _trend(values: list[float]) -> str:
    """Whether ``values`` (in order of the window length) fall, rise or neither."""
    steps = np.diff(values)
    if np.all(steps < 0):
        return "falls"
    if np.all(steps > 0):
        return "rises"
    return "neither falls nor rises steadily"


def settings_window() -> str:
    """docs/physics.md: per settings-window length, the LR rows read, the spread of μ and the
    error of σ (``docs/scripts/settings_window.json``), and why the chosen length."""
    result = json.loads(SETTINGS_WINDOW.read_text())
    scene, lengths, bound = result["scene"], result["lengths"], result["reads_for_64_hr_rows_max"]
    families = list(lengths[0]["families"])

    def worst(row: dict, key: str) -> str:
        return max(row["families"], key=lambda f: row["families"][f][key])

    lines = [
        f"`python docs/scripts/settings_window.py` (→ `settings_window.json`"
        f"{cite_commit(result)}; band "
        f"{result['band']}, development scenes of the families "
        f"{', '.join(f'`{f}`' for f in families)} at the band's mean radiance with photon noise, "
        f"seed {scene['seed']}, {scene['lr_rows']} × {scene['lr_ground_pixels']} LR pixels; not "
        "the along-track test scene) measures, per window length, the LR scanlines read for the "
        "locality bound above, the spread (standard deviation) of log10 μ across the interior "
        "windows of each scene and the RMS error of each interior window's σ against its true "
        "RMS σ; the worst family in brackets:",
        "",
        "| window (LR scanlines) | interior windows | LR scanlines read for the first 64 HR "
        "scanlines | spread of log10 μ across windows (worst family) | RMS error of the "
        "window's σ (worst family) |",
        "|---|---|---|---|---|",
    ]
    for row in lengths:
        count = max(v["windows"] for v in row["families"].values())
        spread = (
            "— (one interior window)"
            if count < 2
            else f"{row['log10_mu_std_max']:.3f} (`{worst(row, 'log10_mu_std')}`)"
        )
        lines.append(
            f"| {row['window']} | {count} | {row['reads_for_64_hr_rows']} | {spread} | "
            f"{share(row['sigma_error_rms_max'])} (`{worst(row, 'sigma_error_rms')}`) |"
        )
    shipped, admitted = result["shipped"], result["admitted"]
    inside = [r for r in lengths if r["window"] in admitted]
    reads = [r["reads_for_64_hr_rows"] for r in inside]
    over = [r["window"] for r in lengths if r["window"] not in admitted]
    track = json.loads(ALONG_TRACK.read_text())["scene"]
    per_window = track["brightness_fall"] ** (shipped / track["lr_shape"][0])
    longest = max(admitted)
    per_longest = track["brightness_fall"] ** (longest / track["lr_shape"][0])
    band = get_band(result["band"])
    wide = max(SUPPORTED_BANDS, key=lambda b: get_band(b).ground_pixels)
    pixels = scene["lr_ground_pixels"]
    bound_text = (
        f"The bound ({bound} LR scanlines) admits every length up to {longest} "
        f"({span(reads, 'd')} scanlines read"
        + (f"; from {min(over)} on more" if over else "")
        + "): the reach of the other steps decides the reads, hardly the window. So the bound "
        f"does not choose the length; {shipped} (`adaptive.WINDOW`) was chosen under an "
        "earlier count in whole input chunks of 50 scanlines, which put 32 over the bound. "
        "Which admitted length scores best along track was not measured on development "
        "scenes (the along-track scene below is the test scene)."
    )
    lines += [
        "",
        f"{bound_text} Within the bound, the spread of log10 μ "
        f"{_trend([r['log10_mu_std_max'] for r in inside])} with the window length and the "
        f"error of σ {_trend([r['sigma_error_rms_max'] for r in inside])}. The along-track "
        f"test scene's {track['brightness_fall']:g}× fall over {track['lr_shape'][0]} "
        f"scanlines (below) is {per_window:.1f}× per window of {shipped}"
        + (f" and {per_longest:.1f}× per window of {longest}" if longest != shipped else "")
        + f". On a full swath "
        f"({band.ground_pixels} ground pixels for band {band.number}, "
        f"{get_band(wide).ground_pixels} for band {wide}, instead of {pixels} here) each window "
        f"holds {band.ground_pixels / pixels:.1f}–{get_band(wide).ground_pixels / pixels:.1f}× "
        "more pixels; how much that narrows the spread was not measured.",
    ]
    return "\n".join(lines)


def window_halo() -> str:
    """docs/physics.md: a consistency window's rows against the whole granule's
    (``docs/scripts/window_halo.json``)."""
    result = json.loads(WINDOW_HALO.read_text())
    rows = result["rows"]
    step = [r for r in rows if r["nonnegative"]]
    alone = [r for r in rows if not r["nonnegative"]]
    short = min(int(h) for h in step[0]["by_halo"])
    far = max(step, key=lambda r: r["by_halo"][str(short)])
    return (
        "The influence of the projections decays fast: at each band's `window_halo` "
        f"({and_list([r['window_halo'] for r in step])} LR rows for bands "
        f"{and_list([r['band'] for r in step])}) a window's rows equal the whole granule's result "
        f"within {sci(max(r['at_window_halo'] for r in step))} of its scale with the "
        f"non-negative step ({sci(max(r['at_window_halo'] for r in alone))} with the "
        f"projection alone), and differ by {far['by_halo'][str(short)]:.2g} of it with a "
        f"{short}-row halo in band {far['band']} (`docs/scripts/window_halo.py` → "
        f"`docs/scripts/window_halo.json`{cite_commit(result)}, `tests/test_constrained.py`)."
    )


#: Most the non-negative step may add to the default's time (issue 26), as a fraction.
COST_TARGET = 0.20


def nonnegative_cost() -> str:
    """docs/physics.md: what the non-negative consistency step adds to the default's time
    (``benchmarks/results-nonnegative.json``; its smoke run is never quoted)."""
    result = load_run(NONNEGATIVE)
    if result is None:
        return (
            "*Not measured yet:* `python benchmarks/bench_nonnegative.py` writes "
            "`benchmarks/results-nonnegative.json`, then `python docs/scripts/tables.py` "
            "writes this paragraph. Only a smoke run (`--quick`) of it was kept, and a smoke "
            "run is never quoted."
        )
    rows, cols = result["lr_block"]
    cases = {"band3": "band 3", "band7": "band 7", "band7_sample": "the sample granule"}
    met = [name for key, name in cases.items() if result[key]["added_fraction"] <= COST_TARGET]
    missed = [name for key, name in cases.items() if name not in met]
    verdict = f"target ≤ {100 * COST_TARGET:.0f} % on top (issue 26): " + (
        f"met on {and_list(met)}" if met else "missed everywhere"
    )
    if met and missed:
        verdict += f", missed on {and_list(missed)}"

    sample = result["band7_sample"]["added_fraction"]

    def case(key: str) -> str:
        c = result[key]
        return (
            f"**{dB(100 * c['added_fraction'], 0)} %** ("
            f"{100 * c['negative_fraction_projection_alone']:.1f} % negative values without "
            "the step)"
        )

    return (
        "Measured on top of S5-DSCR (`benchmarks/bench_nonnegative.py` → "
        f"`benchmarks/results-nonnegative.json`, commit "
        f"`{short_commit(result['record']['commit'])}`, {rows} × {cols} LR blocks, "
        f"{result['threads']} torch thread{'s' if result['threads'] != 1 else ''}, "
        f"{result['iterations']} iterations, the minimum over "
        f"rounds): {case('band3')} on a band-3 `solar` block, {case('band7')} on a band-7 "
        f"`solar` block and {case('band7_sample')} on the first {2 * rows} scanlines of the "
        f"band-7 sample granule; {verdict}. A group of {CHANNEL_GROUP} channels whose "
        "projection leaves no value below the bound skips the iterations (the projection's "
        "iterate, computed once, is the result); in the others each step degrades the "
        "negative part from its nonzero values alone where they are at most "
        f"{100 * SPARSE_SHARE:.1f} % of the window (`xr_s5sr.physics.SPARSE_SHARE`), so the "
        "few scattered negative values of the band-7 `solar` block cost "
        + ("less" if result["band7"]["added_fraction"] < sample else "no less")
        + " than the many of the sample granule."
    )
