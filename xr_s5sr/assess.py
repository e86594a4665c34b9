"""Is it working on my data? Scores of the super-resolution methods on the user's own LR granule.

Boundary: :func:`assess_array` works on one in-memory LR cube (scanline, ground_pixel,
spectral_channel) and returns plain numbers per method; :func:`assess_dataset` (behind
``Dataset.s5sr.assess`` and ``xr-s5sr assess``) picks the radiance (and ``radiance_noise``),
reads the region into memory and returns a tidy :class:`xarray.Dataset` on a ``model``
dimension; :func:`assess_table` and :func:`save_assess_figure` present it. No HR is needed.

Reduced-resolution protocol (Wald), variables ``rr_*``
    The user's LR ``y`` plays the truth: ``y`` is degraded once more with the band's model
    (:func:`xr_s5sr.degrade.degrade_array`), every method super-resolves that ×4 back to
    ``y``'s grid, and the result is scored against ``y`` with our metrics
    (:mod:`xr_s5sr.metrics`: ``rr_psnr`` … ``rr_rmse``, ``rr_sam`` NaN for one channel) and
    the S5P_SISR_Toolbox's indexes
    (:mod:`xr_s5sr.toolbox_indexes`: ``rr_toolbox_Q2n`` … ``rr_toolbox_PSNR``; NaN when the
    region is below 62 × 62 LR pixels or holds missing values). The scene is 4× coarser than
    the real one, so these scores rank methods, they are not the scores at full resolution.

Full-resolution checks on the real output, variables ``fr_*``
    * ``fr_chi2`` — noise-normalised consistency ``mean((A·SR − y)² / σ²)``, ``A`` the
      degradation. σ per pixel from ``radiance_noise`` (the L1B SNR in dB:
      ``σ = |y| / 10^(dB/10)``, :func:`xr_s5sr.noise.sigma_from_snr_db`), else the noise
      variance that the automatic settings estimate (:func:`xr_s5sr.noise.window_variance`
      over the statistic channels, ≥ 3 channels), else ``sigma=`` when given; NaN
      when unknown. About 1 or below: the output reproduces the measurement to within its
      noise; well above 1: it departs from the data (bicubic does, by blurring). The
      :data:`CONSISTENCY_EDGE` LR pixels at each edge, which the degradation's zero padding
      affects, are left out.
    * ``fr_relative_misfit`` — ``rms(A·SR − y) / rms(y − mean y)`` on the same pixels, needs
      no σ.
    * ``fr_sam_vs_bicubic`` — mean spectral angle between the output and bicubic (degrees,
      :mod:`xr_s5sr.metrics`' SAM): how much a method changes the spectra that interpolation
      keeps; NaN for one channel.
    * ``fr_sharpness`` — high-frequency energy ratio against bicubic:
      ``Σ (D·SR)² / Σ (D·bicubic)²`` with ``D`` the 3 × 3 mixed second difference
      ``[1, −2, 1] ⊗ [1, −2, 1]`` of each channel image (zero on constants and on linear ramps
      along either axis), interior pixels. Above 1: more fine structure than bicubic — real
      detail or amplified noise; read it with ``fr_chi2`` and the ``rr_*`` scores.

Networks need their band's channel count; on data with other channels (e.g. the toolbox's
single-channel crops) only ``bicubic`` and ``backprojection`` apply, and the default list
leaves the networks out (``attrs["skipped"]`` says so).
"""

from __future__ import annotations

import math
import os
from collections.abc import Hashable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr
from scipy import ndimage

from xr_s5sr._version import __version__
from xr_s5sr.adaptive import statistic_channels
from xr_s5sr.bands import SCALE, get_band
from xr_s5sr.degrade import degrade_array
from xr_s5sr.engine import super_resolve_array
from xr_s5sr.errors import DimensionError, S5SRArgumentError
from xr_s5sr.evaluate import METRIC_ATTRS, MODEL_DIM, metric_attrs, metrics_table, radiance_cube
from xr_s5sr.metrics import CORRECTED_METRICS, TOOLBOX_METRICS, compute_metrics
from xr_s5sr.missing import fill_block
from xr_s5sr.noise import sigma_from_snr_db, window_variance
from xr_s5sr.quicklook import new_figure, save_png
from xr_s5sr.spec import ModelSpec, model_spec

#: Methods assessed by default (networks only where the channel count is the band's).
DEFAULT_METHODS = ("bicubic", "backprojection", "s5dscr")
#: LR pixels at each spatial edge left out of the full-resolution checks.
CONSISTENCY_EDGE = 8
#: Smallest LR region (each side) for the toolbox indexes: Q's 33-pixel window after the
#: toolbox's bounds cut of 29 pixels.
TOOLBOX_MIN_SIDE = 62
#: Smallest LR region (each side) :func:`assess_array` accepts: the reduced-resolution image
#: must hold a 7 × 7 SSIM window and the checks must keep pixels inside the edges.
MIN_SIDE = 2 * CONSISTENCY_EDGE + SCALE * 4
#: Full-resolution checks, in output order.
FR_CHECKS = ("fr_chi2", "fr_relative_misfit", "fr_sam_vs_bicubic", "fr_sharpness")

_SECOND_DIFFERENCE = np.array([1.0, -2.0, 1.0])


# ----------------------------------------------------------------------------- methods
def method_specs(
    band: int,
    n_channels: int,
    methods: Sequence[str] | None = None,
    weights: Sequence[str | os.PathLike[str]] = (),
    device: str | None = None,
) -> tuple[dict[str, ModelSpec], list[str]]:
    """Specs of the methods to assess, by name, and the default methods left out.

    ``methods=None`` takes :data:`DEFAULT_METHODS`, leaving out networks whose channel count
    is not ``n_channels``; named methods are always built (a mismatch raises when they run).
    Each weights file is added as ``weights:<file stem>``.
    """
    skipped: list[str] = []
    names = list(DEFAULT_METHODS if methods is None else methods)
    if methods is None and n_channels != get_band(band).spectral_channels:
        skipped = [m for m in names if m not in ("bicubic", "backprojection")]
        names = [m for m in names if m not in skipped]
    specs = {name: model_spec(name, band=band, device=device) for name in names}
    for path in weights:
        specs[f"weights:{Path(path).stem}"] = model_spec(band=band, weights=path, device=device)
    if "bicubic" not in specs:
        # The full-resolution checks compare against bicubic: always run it first.
        specs = {"bicubic": model_spec("bicubic", device=device), **specs}
    return specs, skipped


# ----------------------------------------------------------------------------- checks
def high_frequency_energy(cube: np.ndarray) -> float:
    """Σ of the squared mixed second difference of each channel image, interior pixels."""
    d = ndimage.correlate1d(cube.astype(np.float64), _SECOND_DIFFERENCE, axis=0)
    d = ndimage.correlate1d(d, _SECOND_DIFFERENCE, axis=1)[1:-1, 1:-1]
    return float(np.nansum(d * d))


def _consistency(
    sr: np.ndarray, y: np.ndarray, band: int, variance: float | np.ndarray | None
) -> tuple[float, float]:
    """(χ², relative misfit) of ``degrade(sr)`` against ``y`` away from the edges."""
    edge = (slice(CONSISTENCY_EDGE, -CONSISTENCY_EDGE),) * 2
    misfit = (degrade_array(sr.astype(np.float64), band) - y)[edge]
    data = y[edge].astype(np.float64)
    relative = math.sqrt(np.nanmean(misfit**2) / np.nanmean((data - np.nanmean(data)) ** 2))
    if variance is None:
        return math.nan, relative
    v = variance[edge] if isinstance(variance, np.ndarray) else variance
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(np.nanmean(misfit**2 / v)), relative


def noise_variance(
    y: np.ndarray, snr_db: np.ndarray | None = None, sigma: float | None = None
) -> tuple[float | np.ndarray | None, str]:
    """σ² of the LR radiance and where it came from (module docstring: the order).

    Returns
    -------
    (variance, source)
        Per-pixel array (``radiance_noise``), a scalar, or None; ``source`` one of
        ``"radiance_noise"``, ``"estimated"``, ``"given"``, ``"unknown"``.
    """
    if snr_db is not None:
        sigma_file = np.asarray(sigma_from_snr_db(y, snr_db), dtype=np.float64)
        return sigma_file**2, "radiance_noise"
    # The noise estimate of the automatic settings (xr_s5sr.noise, over the same channels), on
    # the data as inference fills it.
    channels = statistic_channels(y.shape[2])
    estimated = window_variance(fill_block(y), channels) if channels.size else 0.0
    if estimated > 0:
        return estimated, "estimated"
    if sigma is not None:
        return float(sigma) ** 2, "given"
    return None, "unknown"


def assess_array(
    y: np.ndarray,
    band: int,
    specs: dict[str, ModelSpec],
    *,
    variance: float | np.ndarray | None = None,
    torch_threads: int | None = None,
) -> dict[str, dict[str, float]]:
    """Reduced-resolution scores and full-resolution checks of each method (module docstring).

    Parameters
    ----------
    y : numpy.ndarray
        LR radiance (scanline, ground_pixel, spectral_channel), radiance units.
    band : int
        S5P band (the degradation model).
    specs : dict of str to ModelSpec
        Methods by name (:func:`method_specs`); must include ``"bicubic"``.
    variance : float or numpy.ndarray, optional
        Noise variance σ² (scalar or per pixel, radiance²) for ``fr_chi2``; NaN without it.
    torch_threads : int, optional
        Threads per torch call.

    Returns
    -------
    dict of str to dict of str to float
        Per method: ``rr_<metric>`` for our metrics and ``rr_toolbox_<index>``, then
        :data:`FR_CHECKS`.
    """
    n1, n2 = y.shape[:2]
    if min(n1, n2) < MIN_SIDE:
        raise DimensionError(
            f"assess needs at least {MIN_SIDE} x {MIN_SIDE} LR pixels, found {n1} x {n2}. "
            "Assess a larger region of the granule."
        )
    names = list(specs)
    reference = y[: SCALE * (n1 // SCALE), : SCALE * (n2 // SCALE)]
    reduced = degrade_array(y.astype(np.float64), band).astype(np.float32)
    estimates = [
        super_resolve_array(reduced, spec, torch_threads=torch_threads) for spec in specs.values()
    ]
    scores = compute_metrics(reference, *estimates)
    if y.shape[2] == 1:
        scores["sam"][:] = np.nan  # one channel: an "angle" only counts sign flips
    rows: dict[str, dict[str, float]] = {
        name: {f"rr_{m}": float(scores[m][i]) for m in CORRECTED_METRICS}
        for i, name in enumerate(names)
    }
    toolbox = min(reference.shape[:2]) >= TOOLBOX_MIN_SIDE and bool(np.all(np.isfinite(y)))
    for name, estimate in zip(names, estimates, strict=True):
        found = (
            compute_metrics(reference, estimate, protocol="toolbox", lr=reduced, band=band)
            if toolbox
            else {}
        )
        rows[name].update(
            {f"rr_toolbox_{m}": float(found[m][0]) if found else math.nan for m in TOOLBOX_METRICS}
        )
    outputs = {
        name: super_resolve_array(y, spec, torch_threads=torch_threads)
        for name, spec in specs.items()
    }
    bicubic = outputs["bicubic"]
    sam = compute_metrics(bicubic, *outputs.values())["sam"] if y.shape[2] > 1 else None
    reference_energy = high_frequency_energy(bicubic)
    for i, (name, sr) in enumerate(outputs.items()):
        chi2, relative = _consistency(sr, y, band, variance)
        rows[name].update(
            fr_chi2=chi2,
            fr_relative_misfit=relative,
            fr_sam_vs_bicubic=math.nan if sam is None else float(sam[i]),
            fr_sharpness=high_frequency_energy(sr) / reference_energy,
        )
    return rows


# ----------------------------------------------------------------------------- xarray layer
def assess_dataset(
    obj: xr.Dataset | xr.DataArray,
    band: int,
    *,
    methods: Sequence[str] | None = None,
    weights: Sequence[str | os.PathLike[str]] = (),
    variable: Hashable | None = None,
    sigma: float | None = None,
    device: str | None = None,
    torch_threads: int | None = None,
) -> xr.Dataset:
    """Assess the methods on an LR granule (module docstring: protocol and checks).

    The function behind ``Dataset.s5sr.assess``, which documents the keywords; here ``band`` is
    required and nothing is validated beyond what the engine checks.

    Parameters
    ----------
    obj : xarray.Dataset or xarray.DataArray
        LR radiance (e.g. :func:`xr_s5sr.open_l1b` of a granule, or a region of it); a Dataset's
        ``radiance_noise`` (dB) gives σ for ``fr_chi2``. Read into memory.
    band : int
        S5P band.

    Returns
    -------
    xarray.Dataset
        ``rr_*`` and ``fr_*`` variables on the ``model`` dimension (bicubic first); attrs
        ``s5p_band``, ``sigma_source``, ``skipped``, ``lr_shape``.
    """
    cube = radiance_cube(obj, variable, "LR")
    y = np.asarray(cube.values)
    snr_db = None
    if isinstance(obj, xr.Dataset) and "radiance_noise" in obj.data_vars:
        snr_db = np.asarray(radiance_cube(obj, "radiance_noise", "noise").values)
    variance, source = noise_variance(y, snr_db, sigma)
    specs, skipped = method_specs(band, y.shape[2], methods, weights, device)
    rows = assess_array(y, band, specs, variance=variance, torch_threads=torch_threads)
    names = list(rows)
    data_vars = {
        key: xr.DataArray([rows[n][key] for n in names], dims=(MODEL_DIM,), attrs=_attrs(key))
        for key in rows[names[0]]
    }
    attrs: dict[str, Any] = {
        "s5p_band": band,
        "sigma_source": source,
        "skipped": ", ".join(skipped) if skipped else "none",
        "lr_shape": list(y.shape),
        "s5sr_version": __version__,
        "description": "xr_s5sr.assess: reduced-resolution (rr_*) and full-resolution (fr_*) "
        "checks on the LR data alone (see the 'Is it working on my data?' documentation)",
    }
    return xr.Dataset(data_vars, coords={MODEL_DIM: names}, attrs=attrs)


def _attrs(key: str) -> dict[str, str]:
    """CF attributes of an :func:`assess_dataset` variable: the table's for the ``fr_*``
    checks, a description naming the metric for the ``rr_*`` scores."""
    if key in METRIC_ATTRS:
        return metric_attrs(key)
    return {"long_name": f"reduced-resolution {key[3:]} against the LR itself"}


def assess_table(scores: xr.Dataset) -> str:
    """Two plain-text tables of an :func:`assess_dataset` result: the reduced-resolution
    scores (ours, then the toolbox's), then the full-resolution checks."""
    ours = [f"rr_{m}" for m in CORRECTED_METRICS]
    toolbox = [f"rr_toolbox_{m}" for m in TOOLBOX_METRICS]
    parts = [
        "Reduced resolution (the LR degraded x4, super-resolved, scored against the LR):",
        metrics_table(scores, ours),
        metrics_table(scores, toolbox),
        f"Full resolution (sigma from {scores.attrs.get('sigma_source', '?')}):",
        metrics_table(scores, list(FR_CHECKS)),
    ]
    if scores.attrs.get("skipped", "none") != "none":
        parts.append(f"Not assessed (channel count is not the band's): {scores.attrs['skipped']}")
    return "\n".join(parts)


def save_assess_figure(
    scores: xr.Dataset, path: str | os.PathLike[str], *, overwrite: bool = False, dpi: int = 110
) -> Path:
    """Bar charts of an :func:`assess_dataset` result as a PNG: reduced-resolution PSNR gain
    over bicubic, full-resolution χ² (relative misfit when σ is unknown) and sharpness."""
    names = [str(n) for n in scores[MODEL_DIM].values]
    psnr = scores["rr_psnr"].values
    chi2 = scores["fr_chi2"].values
    misfit_name = "fr_chi2" if np.any(np.isfinite(chi2)) else "fr_relative_misfit"
    panels = [
        ("reduced-resolution PSNR gain over bicubic [dB]", psnr - psnr[names.index("bicubic")]),
        (misfit_name.replace("fr_", "full-resolution "), scores[misfit_name].values),
        ("full-resolution sharpness (HF energy / bicubic)", scores["fr_sharpness"].values),
    ]
    fig = new_figure(figsize=(4.2 * len(panels), 3.4), layout="constrained")
    for ax, (title, values) in zip(fig.subplots(1, len(panels)), panels, strict=True):
        ax.bar(names, values, color="0.45")
        ax.set_title(title, fontsize=9)
        ax.tick_params(axis="x", labelrotation=30, labelsize=8)
    fig.suptitle(f"xr-s5sr assess, band {scores.attrs.get('s5p_band', '?')}")
    return save_png(fig, path, overwrite=overwrite, dpi=dpi)


def check_methods(methods: Sequence[str] | None) -> None:
    """Refuse method names that :func:`method_specs` cannot build, before any work."""
    allowed = ("bicubic", "backprojection", "s5dscr", "s5dscr_s")
    for name in methods or ():
        if name not in allowed:
            raise S5SRArgumentError(
                f"Unknown method {name!r} for assess: expected some of {allowed} (pass weights "
                "files with weights=)."
            )


__all__ = [
    "CONSISTENCY_EDGE",
    "DEFAULT_METHODS",
    "FR_CHECKS",
    "assess_array",
    "assess_dataset",
    "assess_table",
    "check_methods",
    "high_frequency_energy",
    "method_specs",
    "noise_variance",
    "save_assess_figure",
]
