"""Score the shipped weights against bicubic AND the physics inverse: a development tool.

Run from the repository root:  python weights/evaluate_shipped.py [--size 96] [--scenes 1]
(writes ``runs/dev_evaluation.json``, which git ignores, and prints its report).

For every band with shipped weights, every scene family of :mod:`xr_s5sr.families` (training
families from seeds no training run used, with the ``texture`` family drawn from the crop rows
kept out of training, and the held-out families ``edges`` and ``smooth`` that no model saw) and
three brightness levels over three decades (0.03×, 1× and 30× the band's mean radiance), an HR
scene is degraded with the toolbox model, instrument noise of the band's sigma scaled by
``sqrt(brightness)`` (photon noise) is added on the LR grid, and the LR cube is super-resolved by

* ``bicubic`` — PyTorch bicubic ×4 (the paper's baseline);
* ``backprojection`` — the training-free physics inverse (8 damped iterations), no projection;
* ``backprojection+P`` — the same, projected onto the data (the package's physics method);
* every shipped model with (``+P``, the default) and without the consistency projection;
* with ``--regularisation 0``: ``+P(0)``, the exact versions (undamped back-projection and exact
  projection, SPEC §6) of the physics inverse and of S5-DSCR.

Every method but bicubic runs with ``regularisation="auto"`` (μ from the data,
:mod:`xr_s5sr.adaptive`) unless a ``(μ)`` suffix names a fixed μ.

Scores: :func:`xr_s5sr.metrics.compute_metrics` (PSNR, SSIM, SAM), 16 HR border pixels excluded.
The JSON output records the commit, the machine and the sha256 of every weights file used;
:func:`markdown` renders it. Nothing in README.md or docs/ quotes it: these scenes are small
(24 LR scanlines), one per cell, and were scored again after design changes, so they are a
development set, not a test. The release is scored once on the pre-registered test set of
``evaluate_test.py`` (``weights/test_evaluation.json``, the only set README quotes), and every
setting is chosen on the development set of ``tune_dev.py``. ``validate_shipped.py`` and
``robustness_check.py`` reuse :func:`score` and :func:`provenance`.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from xr_s5sr.bands import SUPPORTED_BANDS, get_band
from xr_s5sr.degrade import degrade_array
from xr_s5sr.engine import super_resolve_array
from xr_s5sr.families import (
    FAMILIES,
    HELD_OUT_FAMILIES,
    TEXTURE_EVAL_ROWS,
    family_scene,
    load_textures,
)
from xr_s5sr.metrics import compute_metrics
from xr_s5sr.spec import model_spec
from xr_s5sr.versions import run_record
from xr_s5sr.weights import available_weights

ROOT = Path(__file__).resolve().parents[1]
BORDER = 16
BRIGHTNESS = (0.03, 1.0, 30.0)
METRICS = ("psnr", "ssim", "sam")
#: The default of ``super_resolve``: what the README's claims are about.
DEFAULT = "s5dscr+P"
#: The physics inverses the default is scored against: the package's (automatic μ) and the
#: exact one of SPEC §6 (present when run with ``--regularisation 0``).
PHYSICS = ("backprojection+P", "backprojection+P(0)")


def methods_for(
    band: int, names: list[str], regularisations: tuple[float, ...] = ()
) -> dict[str, object]:
    """Method name → what :func:`super_resolve_array` runs; ``+P(μ)``: the projection with
    Tikhonov weight μ (``regularisation=``), for the physics inverse and the default."""
    methods: dict[str, object] = {
        "bicubic": "bicubic",
        "backprojection": model_spec("backprojection", band=band, consistency=False, device="cpu"),
        "backprojection+P": model_spec("backprojection", band=band, device="cpu"),
    }
    for name in names:
        methods[f"{name}+P"] = model_spec(name, band=band, device="cpu")
        methods[name] = model_spec(name, band=band, device="cpu", consistency=False)
    regularised = ["backprojection"] + (["s5dscr"] if "s5dscr" in names else [])
    for mu in regularisations:
        # Fixed μ: damping of the physics inverse and weight of the projection alike.
        for name in regularised:
            methods[f"{name}+P({mu:g})"] = model_spec(
                name, band=band, device="cpu", regularisation=mu
            )
    return methods


def score(
    band: int, hr: np.ndarray, brightness: float, seed: int, methods: dict[str, object]
) -> dict[str, dict[str, float]]:
    info = get_band(band)
    lr = degrade_array(hr, band).astype(np.float32)
    sigma = (info.noise_sigma or 0.0) * np.sqrt(brightness)
    lr += (sigma * np.random.default_rng(seed).standard_normal(lr.shape)).astype(np.float32)
    hr = hr[: 4 * lr.shape[0], : 4 * lr.shape[1]]
    estimates = {name: super_resolve_array(lr, method) for name, method in methods.items()}
    values = compute_metrics(hr, *estimates.values(), border=BORDER)
    return {name: {k: float(values[k][i]) for k in METRICS} for i, name in enumerate(estimates)}


def provenance(bands: list[int]) -> dict[str, object]:
    """Commit, machine and weights sha256 of this evaluation."""
    return run_record([(band, model) for band, model in available_weights() if band in bands])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scenes", type=int, default=1, help="scenes per band/family/brightness")
    parser.add_argument("--size", type=int, default=96, help="HR scene size (pixels)")
    parser.add_argument("--bands", nargs="*", type=int, default=list(SUPPORTED_BANDS))
    parser.add_argument("--out", default=str(ROOT / "runs" / "dev_evaluation.json"))
    parser.add_argument(
        "--regularisation",
        nargs="*",
        type=float,
        default=[],
        metavar="MU",
        help="also score the projection with these Tikhonov weights (e.g. 0.01 0.03 0.1)",
    )
    parser.add_argument(
        "--merge",
        nargs="+",
        default=None,
        metavar="JSON",
        help="combine the rows of earlier runs (e.g. bands run in parallel) instead of scoring",
    )
    args = parser.parse_args()
    if args.merge:
        parts = [json.loads(Path(path).read_text()) for path in args.merge]
        rows = [row for part in parts for row in part["rows"]]
        bands = sorted({row["band"] for row in rows})
        settings = {
            **parts[0]["settings"],
            "bands": bands,
            "merged_from": [Path(path).name for path in args.merge],
        }
        result = {"provenance": provenance(bands), "settings": settings, "rows": rows}
        _write(result, Path(args.out))
        return
    textures = load_textures()
    shipped = available_weights()
    rows = []
    for band in args.bands:
        names = sorted(m for b, m in shipped if b == band)
        if not names:
            continue
        methods = methods_for(band, names, tuple(args.regularisation))
        width = min(args.size, get_band(band).ground_pixels)
        for family in FAMILIES:
            if family == "texture" and not textures:
                continue
            for level in BRIGHTNESS:
                for k in range(args.scenes):
                    seed = 900_000 + 1000 * band + 10 * k + BRIGHTNESS.index(level)
                    hr = family_scene(
                        family,
                        band,
                        (args.size, width),
                        seed,
                        brightness=level,
                        textures=textures,
                        texture_rows=TEXTURE_EVAL_ROWS,
                    )
                    metrics = score(band, hr, level, seed, methods)
                    rows.append(
                        {
                            "band": band,
                            "family": family,
                            "held_out": family in HELD_OUT_FAMILIES,
                            "brightness": level,
                            "seed": seed,
                            "metrics": metrics,
                        }
                    )
                    print(
                        band,
                        family,
                        level,
                        {m: round(v["psnr"], 2) for m, v in metrics.items()},
                        flush=True,
                    )
    result = {"provenance": provenance(args.bands), "settings": vars(args), "rows": rows}
    _write(result, Path(args.out))


def _write(result: dict, out: Path) -> None:
    """Write the JSON and print its report (a development record: nothing quotes it)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(markdown(result))


def _mean(rows: list[dict], method: str, metric: str) -> float:
    return float(np.mean([r["metrics"][method][metric] for r in rows]))


def _listed(scenes: list[tuple[int, str, float]], fmt: str) -> str:
    """`` (band b family ±d dB, …).`` for the scenes, or ``.`` when there are none."""
    if not scenes:
        return "."
    return " (" + ", ".join(f"band {b} {f} {d:{fmt}} dB" for b, f, d in scenes) + ")."


def markdown(result: dict) -> str:
    """The report of an evaluation JSON (its sections start at ``###``)."""
    rows = result["rows"]
    settings = result["settings"]
    methods = list(rows[0]["metrics"])
    physics = [p for p in PHYSICS if p in methods]
    commit = result["provenance"]["commit"]
    # Runs from before evaluate_test.py's clean-tree rule recorded "+uncommitted": say it.
    commit = f"`{commit.removesuffix('+uncommitted')}`" + (
        " with uncommitted changes" if commit.endswith("+uncommitted") else ""
    )
    lines = [
        "Generated by `python weights/evaluate_shipped.py` "
        f"(HR scenes of {settings['size']}×{settings['size']} pixels, {settings['scenes']} per "
        f"band, family and brightness, {BORDER} border pixels excluded, instrument noise on "
        f"the LR grid). Commit {commit}, "
        f"{result['provenance']['date']}; weights sha256 in the JSON. All "
        "scenes are *synthetic* (some with real S5P spatial texture); skill on real L1B "
        "radiance is unverified.",
        "",
        "Methods: `bicubic` (the paper's baseline), `backprojection` (training-free physics "
        "inverse), `+P` = projected onto the data (the default for everything but bicubic), "
        f"`s5dscr_s`, `s5dscr` = the shipped networks. **`{DEFAULT}` is what "
        "`super_resolve(band=b)` runs.** Everything but bicubic chooses its regularisation μ "
        'from the data (`regularisation="auto"`); `(0)` marks the exact versions of SPEC §6 '
        "(undamped back-projection, exact projection). Families marked * were never used in "
        "training.",
        "",
        "### Summary: the default against bicubic and against the physics inverse",
        "",
        "ΔPSNR (dB) of the default, per band and family; *min* is over the three brightness "
        "levels (0.03×, 1×, 30× the band's mean radiance).",
        "",
        "| band | family | Δ vs bicubic (mean) | Δ vs bicubic (min) | "
        + " | ".join(f"Δ vs {p} (mean) | Δ vs {p} (min)" for p in physics)
        + " | SAM default / bicubic (°) |",
        "|---|---|---|---|" + "---|---|" * len(physics) + "---|",
    ]
    losses_bicubic: list[tuple[int, str, float]] = []
    losses_physics: dict[str, list[tuple[int, str, float]]] = {p: [] for p in physics}
    gains_physics: dict[str, list[float]] = {p: [] for p in physics}
    for band in sorted({r["band"] for r in rows}):
        for family in FAMILIES:
            group = [r for r in rows if r["band"] == band and r["family"] == family]
            if not group or DEFAULT not in group[0]["metrics"]:
                continue
            d_bic = [r["metrics"][DEFAULT]["psnr"] - r["metrics"]["bicubic"]["psnr"] for r in group]
            losses_bicubic += [(band, family, d) for d in d_bic if d < 0]
            cells = []
            for p in physics:
                d_phy = [r["metrics"][DEFAULT]["psnr"] - r["metrics"][p]["psnr"] for r in group]
                gains_physics[p] += d_phy
                losses_physics[p] += [(band, family, d) for d in d_phy if d < -0.005]
                cells.append(f"{np.mean(d_phy):+.3f} | {min(d_phy):+.3f}")
            mark = "*" if group[0]["held_out"] else ""
            sam = f"{_mean(group, DEFAULT, 'sam'):.2f} / {_mean(group, 'bicubic', 'sam'):.2f}"
            lines.append(
                f"| {band} | {family}{mark} | {np.mean(d_bic):+.2f} | {min(d_bic):+.2f} | "
                + " | ".join(cells)
                + f" | {sam} |"
            )
    n_scenes = len(gains_physics[physics[0]])
    lines += [
        "",
        f"- Scenes where the default loses to bicubic: **{len(losses_bicubic)}** of "
        f"{n_scenes}{_listed(losses_bicubic, '+.2f')}",
    ]
    for p in physics:
        lines.append(
            f"- Mean gain of the default over `{p}`: **{np.mean(gains_physics[p]):+.3f} dB**; "
            f"scenes where it is more than 0.005 dB worse: {len(losses_physics[p])}"
            f"{_listed(losses_physics[p], '+.3f')}"
        )
    lines += [
        "",
        "### All methods, mean over brightness levels",
        "",
        "| band | family | " + " | ".join(methods) + " |",
        "|---|---|" + "---|" * len(methods),
    ]
    for metric, fmt in (("psnr", "{:.2f}"), ("ssim", "{:.4f}"), ("sam", "{:.3f}")):
        for band in sorted({r["band"] for r in rows}):
            for family in FAMILIES:
                group = [r for r in rows if r["band"] == band and r["family"] == family]
                if not group:
                    continue
                mark = "*" if group[0]["held_out"] else ""
                values = " | ".join(fmt.format(_mean(group, m, metric)) for m in methods)
                lines.append(f"| {band} | {family}{mark} {metric.upper()} | {values} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
