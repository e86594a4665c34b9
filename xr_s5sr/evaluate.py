"""Scoring xarray objects: the Dataset layer over :mod:`xr_s5sr.metrics`, and its text tables.

Boundary: :func:`evaluate_dataset` (behind ``Dataset.s5sr.evaluate``) picks the radiance
variable, checks the grids, builds the default bicubic baseline, calls
:func:`xr_s5sr.metrics.compute_metrics` (and, with ``toolbox=True``, the S5P_SISR_Toolbox's
indexes of :mod:`xr_s5sr.toolbox_indexes`) and returns a tidy :class:`xarray.Dataset` on a
``model`` dimension; :func:`metrics_table` formats such a Dataset as text. The metric
definitions live in :mod:`xr_s5sr.metrics` and :mod:`xr_s5sr.toolbox_indexes`.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any

import dask
import numpy as np
import xarray as xr

from xr_s5sr._version import __version__
from xr_s5sr.bands import SCALE
from xr_s5sr.degrade import degrade_array
from xr_s5sr.dims import RADIANCE, require_dims, resolve_band
from xr_s5sr.engine import super_resolve_array
from xr_s5sr.errors import BandError, DimensionError, InputDataError
from xr_s5sr.metrics import CORRECTED_METRICS, PAPER_METRICS, TOOLBOX_METRICS, compute_metrics
from xr_s5sr.spectral import line_depth_error

#: Dimension of :func:`evaluate_dataset` results that lists the scored estimates. Not
#: ``method``, which would clash with the ``method=`` keyword of ``.sel()``.
MODEL_DIM = "model"


#: Each score variable's ``long_name`` and ``units`` (None: none, or set from the data), by
#: variable name: those of :func:`evaluate_dataset` (our metrics, the paper-compatible ones, the
#: spectral checks, the toolbox's indexes ``toolbox_*``) and the full-resolution checks
#: ``fr_*`` of :func:`xr_s5sr.assess.assess_dataset`. :func:`metric_attrs` makes them attrs.
METRIC_ATTRS: dict[str, tuple[str, str | None]] = {
    "psnr": ("peak signal-to-noise ratio, mean over channels", "dB"),
    "ssim": ("structural similarity, 7x7 window, mean over channels", "1"),
    "scc": ("Sobel spatial correlation coefficient, mean over channels", "1"),
    "sam": ("mean spectral angle", "degree"),
    "ergas": ("relative dimensionless global error in synthesis", "1"),
    "rmse": ("root-mean-square error", None),
    "paper_psnr": ("PSNR of min-max scaled cubes, data range 1", "dB"),
    "paper_ssim": ("3-D SSIM (7x7x7) of min-max scaled cubes", "1"),
    "paper_scc": ("Sobel sCC over (channel, scanline) slices", "1"),
    "psnr_per_channel": ("peak signal-to-noise ratio per channel", "dB"),
    "line_depth_error": (
        "mean relative error of the in-line/continuum ratio of the strongest absorption lines",
        "1",
    ),
    "negative_fraction": ("fraction of finite values below zero", "1"),
    "worse_than_bicubic": (
        "metrics in which the estimate is worse than bicubic (comma-separated)",
        None,
    ),
    "toolbox_Q2n": ("toolbox Q2n (hypercomplex Q, 32x32 blocks)", "1"),
    "toolbox_D_lambda": ("toolbox spectral distortion 1 - Q2n(LR, degraded SR)", "1"),
    "toolbox_Q": ("toolbox Q (SSIM 33x33, K1=K2=1e-8), mean over channels", "1"),
    "toolbox_ERGAS": ("toolbox ERGAS", "1"),
    "toolbox_SAM": ("toolbox spectral angle mapper", "degree"),
    "toolbox_sCC": ("toolbox Sobel spatial correlation (uncentred)", "1"),
    "toolbox_RMSE": ("toolbox root-mean-square error", None),
    "toolbox_PSNR": ("toolbox PSNR, peak = channel maximum", "dB"),
    "fr_chi2": ("noise-normalised consistency chi^2 of degrade(SR) vs LR", "1"),
    "fr_relative_misfit": ("rms(degrade(SR) - LR) / rms(LR - mean)", "1"),
    "fr_sam_vs_bicubic": ("mean spectral angle to bicubic", "degree"),
    "fr_sharpness": ("high-frequency energy ratio to bicubic", "1"),
}

#: Plausibility checks of every :func:`evaluate_dataset` result (smaller is better).
SPECTRAL_CHECKS = ("line_depth_error", "negative_fraction")
#: Metrics for which a larger value is better (all others: smaller is better).
HIGHER_IS_BETTER = frozenset({"psnr", "ssim", "scc", "paper_psnr", "paper_ssim", "paper_scc"})
#: Baseline every estimate is compared with (``worse_than_bicubic``).
BICUBIC = "bicubic"


# ---------------------------------------------------------------------------- xarray API
def radiance_cube(
    obj: xr.Dataset | xr.DataArray, variable: Hashable | None, what: str
) -> xr.DataArray:
    """The radiance DataArray of ``obj`` with dims ordered (scanline, ground_pixel, channel).

    Parameters
    ----------
    obj : xarray.Dataset or xarray.DataArray
        A Dataset (its ``variable``, default ``radiance``) or the radiance DataArray itself.
    variable : hashable or None
        Variable of a Dataset.
    what : str
        Name of the object in error messages (e.g. ``"reference"``).

    Raises
    ------
    InputDataError
        If the Dataset has no such variable.
    DimensionError
        If a dim is missing or there are other dims.
    """
    if isinstance(obj, xr.Dataset):
        name = RADIANCE if variable is None else variable
        if name not in obj.data_vars:
            raise InputDataError(
                f"The {what} Dataset has no variable {name!r}; found {list(obj.data_vars)}. "
                "Pass variable=<name of the radiance variable>."
            )
        obj = obj[name]
    dims = require_dims(obj, ("scanline", "ground_pixel", "spectral_channel"))
    if obj.ndim != 3:
        raise DimensionError(
            f"The {what} has dims {obj.dims}; expected exactly (scanline, ground_pixel, "
            "spectral_channel). Drop or select the other dims first, e.g. .isel(time=0)."
        )
    return obj.transpose(*dims.values())


def _drop_undegraded_edge(ref: xr.DataArray, shape: tuple[int, ...]) -> xr.DataArray:
    """Crop the last ``n mod 4`` HR rows/columns, which the ×4 degradation has no LR pixel for.

    Only when the estimate is exactly ``4·floor(n/4)`` long on that axis; any other mismatch is
    left for the grid check to report.
    """
    crop = {
        dim: slice(0, shape[axis])
        for axis, dim in enumerate(ref.dims[:2])
        if shape[axis] != ref.shape[axis] and shape[axis] == SCALE * (ref.shape[axis] // SCALE)
    }
    return ref.isel(crop) if crop else ref


def _method_name(obj: xr.Dataset | xr.DataArray, default: str) -> str:
    return str(obj.attrs.get("s5sr_model", default))


def _default_baseline(
    reference: xr.Dataset | xr.DataArray,
    obj: xr.Dataset | xr.DataArray,
    band: int | None,
    variable: Hashable | None,
) -> xr.DataArray:
    """Bicubic ×4 of the degraded reference: the paper's baseline on the reference grid."""
    number = _band_of(reference, obj, band)
    ref = radiance_cube(reference, variable, "reference")
    lr = degrade_array(ref.data.astype(np.float32), number)
    return xr.DataArray(
        super_resolve_array(lr, "bicubic"), dims=ref.dims, attrs={"s5sr_model": "bicubic"}
    )


def _band_of(
    reference: xr.Dataset | xr.DataArray, obj: xr.Dataset | xr.DataArray, band: int | None
) -> int:
    """The band of the reference, else of the estimate (``band`` first when given)."""
    try:
        return resolve_band(reference, band)
    except BandError:
        return resolve_band(obj, band)


def metric_attrs(name: str) -> dict[str, str]:
    """The CF attributes (``long_name``, ``units`` where it has one) of the score variable
    ``name`` (a key of :data:`METRIC_ATTRS`), as a new dict the caller may change."""
    long_name, units = METRIC_ATTRS[name]
    return {"long_name": long_name} if units is None else {"long_name": long_name, "units": units}


def _model_variable(name: str, values: Any) -> xr.DataArray:
    """``values`` (one per scored estimate) as the result variable ``name`` on the model dim,
    with its :func:`metric_attrs`."""
    return xr.DataArray(values, dims=(MODEL_DIM,), attrs=metric_attrs(name))


def _toolbox_variables(
    ref: xr.DataArray, estimates: Sequence[xr.DataArray], band: int
) -> dict[str, xr.DataArray]:
    """The toolbox's indexes of each estimate as ``toolbox_*`` variables on the model dim."""
    reference = np.asarray(ref.data)
    lr = degrade_array(reference.astype(np.float64), band)
    scores = compute_metrics(
        reference, *(e.data for e in estimates), protocol="toolbox", lr=lr, band=band
    )
    return {
        f"toolbox_{name}": _model_variable(f"toolbox_{name}", scores[name])
        for name in TOOLBOX_METRICS
    }


def evaluate_dataset(
    obj: xr.Dataset | xr.DataArray,
    reference: xr.Dataset | xr.DataArray,
    baseline: xr.Dataset | xr.DataArray | None = None,
    variable: Hashable | None = None,
    paper_compatible: bool = False,
    border: int = 0,
    per_channel: bool = False,
    band: int | None = None,
    toolbox: bool = False,
) -> xr.Dataset:
    """Metrics of ``obj`` and a baseline against an HR ``reference``, side by side.

    Parameters
    ----------
    obj : xarray.Dataset or xarray.DataArray
        Estimate on the reference's HR grid, e.g. the output of ``s5sr.super_resolve``. Its
        method name is ``attrs["s5sr_model"]`` (else ``"estimate"``).
    reference : xarray.Dataset or xarray.DataArray
        HR truth; dims (scanline, ground_pixel, spectral_channel) in any order/aliases.
    baseline : xarray.Dataset or xarray.DataArray, optional
        Second estimate (method ``attrs["s5sr_model"]``, else ``"baseline"``). Default: the
        bicubic ×4 of the reference's own degradation (the same as
        ``reference.s5sr.degrade().s5sr.bicubic()``), named ``"bicubic"``.
    variable : hashable, optional
        Variable compared in Datasets (default ``radiance``).
    paper_compatible : bool, default False
        Also report ``paper_psnr``, ``paper_ssim`` and ``paper_scc``.
    border : int, default 0
        HR pixels cropped from each side of both spatial axes.
    per_channel : bool, default False
        Also return ``psnr_per_channel`` along ``spectral_channel``.
    band : int, optional
        S5P band for the default baseline (default from ``attrs["s5p_band"]``).
    toolbox : bool, default False
        Also report the S5P_SISR_Toolbox's indexes (:mod:`xr_s5sr.toolbox_indexes`) as
        ``toolbox_Q2n``, ``toolbox_D_lambda``, ``toolbox_Q``, ``toolbox_ERGAS``,
        ``toolbox_SAM``, ``toolbox_sCC``, ``toolbox_RMSE`` and ``toolbox_PSNR``, D_lambda
        against the reference's own degradation (the toolbox's reduced-resolution protocol).
        Computed in memory; ``border`` does not apply to them (the toolbox cuts its bounds).

    Notes
    -----
    The ×4 degradation has no LR pixel for the last ``n mod 4`` HR scanlines/ground pixels
    (LR ``j < floor(n/4)``), so super-resolved outputs are ``4·floor(n/4)`` long. A reference
    longer by exactly that remainder (e.g. 215 ground pixels vs 212) is cropped to the
    estimate's grid; any other difference is an error.

    Returns
    -------
    xarray.Dataset
        Variables ``psnr`` (dB), ``ssim``, ``scc``, ``sam`` (degrees), ``ergas``, ``rmse``
        (radiance units) — and ``paper_*`` — on a ``model`` dimension, the estimate first.
        Computed eagerly: dask input is read into memory once.

    Raises
    ------
    DimensionError
        If the grids differ (both shapes are named) or a dim is missing.
    InputDataError
        If ``variable`` is missing or no valid data remain.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> dims = ("scanline", "ground_pixel", "spectral_channel")
    >>> hr = xr.DataArray(np.linspace(0.0, 1.0, 768).reshape(16, 12, 4), dims=dims)
    >>> sr = (hr + 0.01).assign_attrs(s5sr_model="s5dscr")
    >>> scores = evaluate_dataset(sr, hr, baseline=hr * 0.9)
    >>> scores.model.values.tolist(), round(float(scores.psnr.sel(model="s5dscr")), 2)
    (['s5dscr', 'baseline'], 40.0)
    """
    ref = radiance_cube(reference, variable, "reference")
    names = [_method_name(obj, "estimate")]
    if baseline is None:
        baseline = _default_baseline(reference, obj, band, variable)
        names.append("bicubic")
    else:
        names.append(_method_name(baseline, "baseline"))
    if names[1] == names[0]:
        names[1] += "_baseline"
    estimates = [
        radiance_cube(o, variable, what) for o, what in ((obj, "estimate"), (baseline, "baseline"))
    ]
    ref = _drop_undegraded_edge(ref, estimates[0].shape)
    # One compute for dask input: the metrics and the spectral checks read the same cubes.
    ref, *estimates = dask.compute(ref, *estimates)
    scores = compute_metrics(
        ref.data, *(e.data for e in estimates), paper_compatible=paper_compatible, border=border
    )
    metric_names = list(CORRECTED_METRICS) + (list(PAPER_METRICS) if paper_compatible else [])
    data_vars = {name: _model_variable(name, scores[name]) for name in metric_names}
    data_vars["rmse"].attrs["units"] = ref.attrs.get("units", "radiance units")
    data_vars.update(_spectral_checks(ref, estimates, border))
    if toolbox:
        data_vars.update(_toolbox_variables(ref, estimates, _band_of(reference, obj, band)))
    if per_channel:
        channel_dim = ref.dims[2]
        data_vars["psnr_per_channel"] = xr.DataArray(
            scores["psnr_per_channel"],
            dims=(MODEL_DIM, channel_dim),
            coords={channel_dim: ref[channel_dim]} if channel_dim in ref.coords else None,
            attrs=metric_attrs("psnr_per_channel"),
        )
    attrs: dict[str, Any] = {
        "data_range": float(scores["data_range"]),
        "border": border,
        "s5sr_version": __version__,
        "description": "xr_s5sr.metrics definitions (see the xr_s5sr metrics documentation)",
    }
    band_attr = reference.attrs.get("s5p_band", obj.attrs.get("s5p_band"))
    if band_attr is not None:
        attrs["s5p_band"] = band_attr
    out = xr.Dataset(data_vars, coords={MODEL_DIM: names}, attrs=attrs)
    if BICUBIC in names:
        flags = worse_than(out, BICUBIC)
        out["worse_than_bicubic"] = _model_variable(
            "worse_than_bicubic", [",".join(m for m, _, _ in flags.get(name, [])) for name in names]
        )
    return out


def _spectral_checks(
    ref: xr.DataArray, estimates: list[xr.DataArray], border: int
) -> dict[str, xr.DataArray]:
    """``line_depth_error`` and ``negative_fraction`` of each estimate (same ``border``)."""
    crop = slice(border, -border if border else None)
    truth = np.asarray(ref.data[crop, crop], dtype=np.float64)
    depth, negative = [], []
    for estimate in estimates:
        values = np.asarray(estimate.data[crop, crop], dtype=np.float64)
        depth.append(line_depth_error(truth, values))
        finite = max(1, int(np.count_nonzero(np.isfinite(values))))
        negative.append(float(np.count_nonzero(values < 0)) / finite)
    return {
        name: _model_variable(name, np.array(found))
        for name, found in zip(SPECTRAL_CHECKS, (depth, negative), strict=True)
    }


def worse_than(
    scores: xr.Dataset, reference: str = BICUBIC
) -> dict[str, list[tuple[str, float, float]]]:
    """Every scalar metric in which each other method of ``scores`` is worse than
    ``reference``: ``{method: [(metric, its value, the reference's value), …]}``.

    Larger is better for :data:`HIGHER_IS_BETTER`, smaller for the others; NaN and ties are
    not worse.

    Examples
    --------
    >>> s = xr.Dataset({"psnr": ("model", [18.2, 17.0]), "sam": ("model", [2.70, 2.63])},
    ...                coords={"model": ["s5dscr", "bicubic"]})
    >>> worse_than(s)
    {'s5dscr': [('sam', 2.7, 2.63)]}
    """
    methods = [str(m) for m in scores[MODEL_DIM].values]
    metrics = [
        str(m)
        for m, v in scores.data_vars.items()
        if v.dims == (MODEL_DIM,) and v.dtype.kind == "f"
    ]
    out: dict[str, list[tuple[str, float, float]]] = {}
    for method in methods:
        if method == reference:
            continue
        found = []
        for metric in metrics:
            mine = float(scores[metric].sel({MODEL_DIM: method}))
            theirs = float(scores[metric].sel({MODEL_DIM: reference}))
            better = mine > theirs if metric in HIGHER_IS_BETTER else mine < theirs
            if not better and mine != theirs and np.isfinite([mine, theirs]).all():
                found.append((metric, mine, theirs))
        out[method] = found
    return out


def warning_lines(scores: xr.Dataset, reference: str = BICUBIC) -> list[str]:
    """One ``⚠`` line per metric in which the first method is worse than ``reference``.

    Examples
    --------
    >>> sam = xr.DataArray([2.70, 2.63], dims="model", attrs={"units": "degree"})
    >>> s = xr.Dataset({"sam": sam}, coords={"model": ["s5dscr", "bicubic"]})
    >>> warning_lines(s)
    ['⚠ sam of s5dscr worse than bicubic (2.700 vs 2.630 degree)']
    """
    methods = [str(m) for m in scores[MODEL_DIM].values]
    if reference not in methods or methods[0] == reference:
        return []
    lines = []
    for metric, mine, theirs in worse_than(scores, reference)[methods[0]]:
        form = metric_format(metric)
        units = scores[metric].attrs.get("units")
        unit = f" {units}" if units not in (None, "1") else ""
        lines.append(
            f"⚠ {metric} of {methods[0]} worse than {reference} "
            f"({form.format(mine)} vs {form.format(theirs)}{unit})"
        )
    return lines


def metric_format(metric: str) -> str:
    """Number format of a table column, by the metric's kind (any prefix: paper_, rr_, …)."""
    kind = metric.lower()
    for suffix, form in (("psnr", "{:.2f}"), ("sam", "{:.3f}"), ("rmse", "{:.3e}")):
        if kind.endswith(suffix) or kind.endswith(f"{suffix}_vs_bicubic"):
            return form
    return "{:.4g}" if kind.endswith(("chi2", "sharpness")) else "{:.4f}"


def metrics_table(
    scores: xr.Dataset, metrics: Sequence[str] | None = None, *, reference_method: str | None = None
) -> str:
    """Plain-text table of an :func:`evaluate_dataset` result, one row per method.

    Parameters
    ----------
    scores : xarray.Dataset
        Output of :func:`evaluate_dataset`.
    metrics : sequence of str, optional
        Columns (default: every scalar metric present).
    reference_method : str, optional
        When given, a last line states the PSNR gain of the first method over this one.

    Examples
    --------
    >>> import xarray as xr
    >>> psnr = xr.DataArray([41.5, 40.25], dims="model", attrs={"units": "dB"})
    >>> s = xr.Dataset({"psnr": psnr}, coords={"model": ["m", "bicubic"]})
    >>> print(metrics_table(s, reference_method="bicubic"))
    model    psnr [dB]
    m            41.50
    bicubic      40.25
    PSNR gain of m over bicubic: +1.25 dB
    """
    if metrics is None:
        toolbox = (f"toolbox_{m}" for m in TOOLBOX_METRICS)
        known = (*CORRECTED_METRICS, *SPECTRAL_CHECKS, *PAPER_METRICS, *toolbox)
        metrics = [m for m in known if m in scores]
    headers = [MODEL_DIM] + [
        f"{m} [{scores[m].attrs['units']}]"
        if scores[m].attrs.get("units") not in (None, "1")
        else m
        for m in metrics
    ]
    methods = [str(m) for m in scores[MODEL_DIM].values]
    rows = [
        [name] + [metric_format(m).format(float(scores[m].values[i])) for m in metrics]
        for i, name in enumerate(methods)
    ]
    widths = [max(len(r[j]) for r in [headers, *rows]) for j in range(len(headers))]
    lines = [
        "  ".join(
            cell.ljust(w) if j == 0 else cell.rjust(w)
            for j, (cell, w) in enumerate(zip(row, widths, strict=True))
        )
        for row in [headers, *rows]
    ]
    if reference_method is not None and "psnr" in scores:
        psnr = scores["psnr"]
        gain = float(psnr.sel({MODEL_DIM: methods[0]}) - psnr.sel({MODEL_DIM: reference_method}))
        lines.append(f"PSNR gain of {methods[0]} over {reference_method}: {gain:+.2f} dB")
    return "\n".join(lines)


__all__ = [
    "BICUBIC",
    "HIGHER_IS_BETTER",
    "METRIC_ATTRS",
    "MODEL_DIM",
    "SPECTRAL_CHECKS",
    "evaluate_dataset",
    "metric_attrs",
    "metric_format",
    "metrics_table",
    "radiance_cube",
    "warning_lines",
    "worse_than",
]
