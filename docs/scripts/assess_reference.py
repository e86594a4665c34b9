"""Worked example of ``assess`` on the S5P_SISR_Toolbox's real one-channel crops (docs/assess.md).

Each crop comes with its native-resolution image (``<detector>_IN.mat``, 512 × 256 or 512 × 215)
and the toolbox's published ×4 LR of it (``<detector>_IN_LR4.mat``, what the toolbox
super-resolves in its reduced-resolution benchmark). The script scores, per crop:

* ``reduced_resolution``: ``assess`` of the LR4 alone (no HR used): the LR4 degraded ×4 once
  more, super-resolved back, scored against the LR4 (ours and the toolbox's indexes), plus the
  full-resolution checks of the real outputs;
* ``true_hr``: the same methods applied to the LR4, scored against the native image (ours with a
  16-pixel border, and the toolbox's indexes with its own bounds cut) — what the reduced-
  resolution scores stand in for when no HR exists.

One channel per crop, so the networks (which need their band's 497/480 channels) do not apply:
bicubic and backprojection only. The crops are not part of the repository: they are read from
``$XR_S5SR_REFERENCE_DIR``, else the checkout's ``../shared/reference/s5p_sisr_toolbox``
(:func:`xr_s5sr.families.reference_dir`). From the repository root::

    OMP_NUM_THREADS=1 python docs/scripts/assess_reference.py

Writes docs/scripts/assess_reference.json and prints the table of docs/assess.md
(:func:`render_table`; ``tests/test_assess.py`` checks that the page shows it).
"""

from __future__ import annotations

import json
import math
import subprocess
from pathlib import Path

import numpy as np
import scipy.io
import torch
import xarray as xr

from xr_s5sr.assess import assess_dataset, high_frequency_energy
from xr_s5sr.engine import super_resolve_array
from xr_s5sr.families import reference_dir
from xr_s5sr.metrics import CORRECTED_METRICS, TOOLBOX_METRICS, compute_metrics
from xr_s5sr.spec import model_spec

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = reference_dir()
OUTPUT = Path(__file__).with_suffix(".json")
#: Crop and band, as the degradation test pairs them (the LR4 files match our degradation).
CROPS = (("1.UV", 2), ("2.UVIS", 3), ("3.NIR", 5), ("4.SWIR", 7))
METHODS = ("bicubic", "backprojection")
#: HR pixels left out of our metrics at each edge of the true-HR scores.
BORDER = 16
DIMS = ("scanline", "ground_pixel", "spectral_channel")


def load(name: str) -> np.ndarray:
    """A crop as a (scanline, ground_pixel, 1) float64 cube."""
    if REFERENCE is None:
        raise SystemExit("The toolbox crops are not present: set XR_S5SR_REFERENCE_DIR.")
    values = scipy.io.loadmat(REFERENCE / f"{name}.mat")["radiance"].astype(np.float64)
    return values.reshape(values.shape[0], values.shape[1], 1)


def clean(value: float) -> float | None:
    """Six significant digits; JSON has no NaN: undefined scores are null."""
    return None if not math.isfinite(value) else float(f"{value:.6g}")


def true_hr_scores(hr: np.ndarray, lr: np.ndarray, band: int) -> dict[str, dict[str, float | None]]:
    outputs = [
        super_resolve_array(lr.astype(np.float32), model_spec(m, band=band)) for m in METHODS
    ]
    reference = hr[: outputs[0].shape[0], : outputs[0].shape[1]]
    ours = compute_metrics(reference, *outputs, border=BORDER)
    toolbox = compute_metrics(reference, *outputs, protocol="toolbox", lr=lr, band=band)
    # One channel: a spectral angle only counts sign flips (0° or 180°), so it is left out.
    ours_names = [m for m in CORRECTED_METRICS if m != "sam" or hr.shape[2] > 1]
    bicubic_energy = high_frequency_energy(outputs[0])
    scores: dict[str, dict[str, float | None]] = {
        method: {
            **{m: clean(ours[m][i]) for m in ours_names},
            **{f"toolbox_{m}": clean(toolbox[m][i]) for m in TOOLBOX_METRICS},
            "sharpness": clean(high_frequency_energy(outputs[i]) / bicubic_energy),
        }
        for i, method in enumerate(METHODS)
    }
    # The sharpness that the native image itself has against bicubic, for scale.
    scores["native"] = {"sharpness": clean(high_frequency_energy(reference) / bicubic_energy)}
    return scores


def render_table(results: dict) -> str:
    """The docs/assess.md table: PSNR (ours) and the toolbox's Q on both protocols, and the
    full-resolution sharpness, per crop and method."""
    lines = [
        "| crop (band) | method | reduced-res. PSNR [dB] | true-HR PSNR [dB] "
        "| reduced-res. toolbox Q | true-HR toolbox Q | sharpness vs bicubic "
        "| native image's sharpness |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]

    def number(value: float | None, form: str) -> str:
        return "n/a" if value is None else form.format(value)

    for name, crop in results["crops"].items():
        for method in results["methods"]:
            reduced, true = crop["reduced_resolution"][method], crop["true_hr"][method]
            lines.append(
                f"| {name} ({crop['band']}) | {method} "
                f"| {number(reduced['rr_psnr'], '{:.2f}')} | {number(true['psnr'], '{:.2f}')} "
                f"| {number(reduced['rr_toolbox_Q'], '{:.3f}')} "
                f"| {number(true['toolbox_Q'], '{:.3f}')} "
                f"| {number(reduced['fr_sharpness'], '{:.1f}')} "
                f"| {number(crop['true_hr']['native']['sharpness'], '{:.3g}')} |"
            )
    return "\n".join(lines)


def main() -> None:
    torch.set_num_threads(1)
    commit = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "xr_s5sr", "docs/scripts/assess_reference.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    results: dict[str, object] = {
        "commit": commit,
        "clean_tree": not dirty,
        "methods": list(METHODS),
        "border_true_hr": BORDER,
        "crops": {},
    }
    for name, band in CROPS:
        hr, lr = load(f"{name}_IN"), load(f"{name}_IN_LR4")
        scores = assess_dataset(xr.DataArray(lr, dims=DIMS), band, methods=METHODS)
        reduced = {
            str(method): {k: clean(float(scores[k].sel(model=method))) for k in scores.data_vars}
            for method in scores.model.values
        }
        results["crops"][name] = {  # type: ignore[index]
            "band": band,
            "lr_shape": list(lr.shape),
            "hr_shape": list(hr.shape),
            "sigma_source": scores.attrs["sigma_source"],
            "reduced_resolution": reduced,
            "true_hr": true_hr_scores(hr, lr, band),
        }
        print(name, json.dumps(results["crops"][name]["true_hr"]))  # type: ignore[index]
    OUTPUT.write_text(json.dumps(results, indent=1) + "\n")
    print(render_table(results))
    print(f"wrote {OUTPUT}")


if __name__ == "__main__":
    main()
