"""The demo behind ``xr-s5sr demo``: sample granule → degrade → super-resolve → scores → PNG.

Boundary: runs the package's public functions on the embedded sample granule of a band (or a
synthetic one) and reports the result honestly: the chosen method is scored against the HR
granule beside bicubic interpolation *and* the training-free physics inverse
(``backprojection``), and every metric in which it is worse than either is named. Parsing the
command line and printing belong to :mod:`xr_s5sr.cli`.

Reruns: the demo's outputs (``demo_sr_band<n>.nc``, ``demo_quicklook_band<n>.png``) are its
own files and are replaced by every run, so the README command works again and again. A
synthetic input granule written for bands without a sample is deterministic and is reused.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import cast

import xarray as xr

from xr_s5sr.errors import MissingDependencyError
from xr_s5sr.evaluate import evaluate_dataset, metric_format, worse_than
from xr_s5sr.l1b import open_l1b, write_l1b
from xr_s5sr.options import SuperResolveOptions
from xr_s5sr.quicklook import save_quicklook
from xr_s5sr.store import to_netcdf
from xr_s5sr.weights import resolve_weights

#: Default output directory of ``xr-s5sr demo``.
DEMO_DIR = "xr_s5sr_demo"
#: Size (scanlines, ground pixels) of the synthetic demo granule (seed 0) made when no sample
#: granule is embedded for the band.
DEMO_SHAPE = (128, 64)
#: HR pixels left out of the demo scores at each edge.
DEMO_BORDER = 16
#: Metrics the demo prints.
DEMO_METRICS = ("psnr", "ssim", "sam")
#: The training-free physics inverse: the yardstick a network must beat (docs/physics.md).
PHYSICS_METHOD = "backprojection"
#: Decimals printed per metric (others: 4), as in the scores table.
_DECIMALS = {"psnr": 2, "paper_psnr": 2, "sam": 3}


def demo_paths(out: str | os.PathLike[str], band: int) -> tuple[Path, Path]:
    """The demo's outputs in ``out``: (super-resolved netCDF, quicklook PNG)."""
    folder = Path(out)
    return folder / f"demo_sr_band{band}.nc", folder / f"demo_quicklook_band{band}.png"


def _granule(band: int, out: Path, regenerate: bool, info: Callable[[str], None]) -> Path:
    """The embedded sample granule of ``band``, else a synthetic one written into ``out``."""
    from xr_s5sr import synthetic

    if band in synthetic.sample_bands():
        return synthetic.sample_path(band)
    # A deterministic input, not a result: an existing one is reused unless regenerate.
    granule = out / f"demo_granule_BD{band}.nc"
    if regenerate or not granule.exists():
        made = synthetic.make_granule(band, *DEMO_SHAPE, seed=0)
        write_l1b(made, granule, overwrite=regenerate)
        info(f"wrote synthetic L1B granule {granule} (no sample embedded for band {band})")
    return granule


def run_demo(
    band: int,
    out: str | os.PathLike[str],
    options: SuperResolveOptions | None = None,
    *,
    regenerate_granule: bool = False,
    info: Callable[[str], None] = lambda message: None,
) -> xr.Dataset:
    """Run the demo and write its outputs; return the scores.

    Parameters
    ----------
    band : int
        S5P band 2–8.
    out : path-like
        Output directory (created). The demo's own outputs there are replaced.
    options : SuperResolveOptions, optional
        The method to demonstrate and its settings (default: the default method,
        :meth:`xr_s5sr.accessor.S5SRAccessor.super_resolve`); its band is replaced by
        ``band``.
    regenerate_granule : bool, default False
        Rewrite the synthetic input granule of a band without an embedded sample.
    info : callable, optional
        Receives progress notes ("wrote …").

    Returns
    -------
    xarray.Dataset
        Scores (:func:`xr_s5sr.evaluate.evaluate_dataset`) on the ``model`` dim: the method,
        ``bicubic``, then ``backprojection`` unless it is the method.
    """

    options = (options or SuperResolveOptions()).with_band(band)
    model = options.model
    sr_path, png_path = demo_paths(out, band)
    if model not in ("bicubic", PHYSICS_METHOD):  # fail before the work, not after it
        resolve_weights(band, model, cast("str | None", options.weights))
    sr_path.parent.mkdir(parents=True, exist_ok=True)
    hr = open_l1b(_granule(band, sr_path.parent, regenerate_granule, info), chunks=None)
    lr = hr.s5sr.degrade()
    sr = lr.s5sr.super_resolve_with(options)
    bicubic = lr.s5sr.bicubic()
    # LR pixels near the granule edges were degraded with zero padding (SPEC §2 step 5): score
    # the interior only, as for the shipped weights' evaluation.
    scores = evaluate_dataset(sr, hr, baseline=bicubic, border=DEMO_BORDER)
    if model != PHYSICS_METHOD:
        physics = lr.s5sr.super_resolve(model=PHYSICS_METHOD)
        physics_scores = evaluate_dataset(physics, hr, baseline=bicubic, border=DEMO_BORDER)
        scores = xr.concat([scores, physics_scores.isel(model=[0])], dim="model")
    info(f"wrote {to_netcdf(sr, sr_path, overwrite=True)}")
    try:
        png = save_quicklook(
            lr, sr, hr, path=png_path, bicubic=bicubic, scores=scores, overwrite=True
        )
    except MissingDependencyError as error:
        # The figure is optional (extra "plot"); the scores are the demo's result.
        info(f"skipped the quicklook PNG: {error}")
    else:
        info(f"wrote {png}")
    return scores


def comparison_lines(scores: xr.Dataset, metrics: tuple[str, ...] = DEMO_METRICS) -> list[str]:
    """How the first method of ``scores`` compares with each other one, metric by metric.

    One line per other method with the differences (first minus other, in the metric's
    units) of ``metrics``, then one line per other method naming every metric of ``scores``
    in which the first one is worse (:func:`xr_s5sr.evaluate.worse_than`: also those not
    printed, e.g. ``line_depth_error`` and ``negative_fraction``), or saying it is worse in
    none.

    Examples
    --------
    >>> s = xr.Dataset(
    ...     {"psnr": ("model", [18.21, 16.95, 18.29]), "sam": ("model", [3.3, 2.6, 3.7])},
    ...     coords={"model": ["s5dscr", "bicubic", "backprojection"]},
    ... )
    >>> s["psnr"].attrs["units"] = "dB"
    >>> print("\\n".join(comparison_lines(s, ("psnr", "sam"))))
    s5dscr - bicubic: psnr +1.26 dB, sam +0.700
    s5dscr - backprojection: psnr -0.08 dB, sam -0.400
    worse than bicubic in: sam (3.300 vs 2.600)
    worse than backprojection in: psnr (18.21 vs 18.29 dB)
    """
    methods = [str(m) for m in scores["model"].values]
    first, others = methods[0], [m for m in methods[1:] if m != methods[0]]
    shown = [m for m in metrics if m in scores]

    def value(metric: str, method: str) -> float:
        return float(scores[metric].sel(model=method))

    def text(metric: str, number: float, sign: str = "") -> str:
        if metric not in _DECIMALS and metric not in metrics:
            return metric_format(metric).format(number)  # e.g. rmse: 3 significant digits
        decimals = _DECIMALS.get(metric, 4)
        return f"{number:{sign}.{decimals}f}"

    def unit(metric: str) -> str:
        units = scores[metric].attrs.get("units")
        return f" {units}" if units not in (None, "1") else ""

    differences, verdicts = [], []
    for other in others:
        parts = [f"{m} {text(m, value(m, first) - value(m, other), '+')}{unit(m)}" for m in shown]
        differences.append(f"{first} - {other}: " + ", ".join(parts))
        worse = [
            f"{m} ({text(m, mine)} vs {text(m, theirs)}{unit(m)})"
            for m, mine, theirs in worse_than(scores.sel(model=[first, other]), other)[first]
        ]
        verdicts.append(f"worse than {other} in: " + (", ".join(worse) if worse else "none"))
    return differences + verdicts


__all__ = [
    "DEMO_BORDER",
    "DEMO_DIR",
    "DEMO_METRICS",
    "DEMO_SHAPE",
    "PHYSICS_METHOD",
    "comparison_lines",
    "demo_paths",
    "run_demo",
]
