"""The plausibility report of a super-resolved Dataset: negative values, consistency χ², and
the automatic settings actually used.

Boundary: :class:`xarray.Variable` in, :class:`xarray.Variable` out (numpy or dask, lazily for
dask); :mod:`xr_s5sr.inference` builds the report variables beside the result, from the very
arrays of the result and the settings tasks the engine blended (no second estimate);
:func:`plausibility_report` reads them back as numbers; :mod:`xr_s5sr.store` and the command
line write those numbers as attributes once the result is computed anyway
(:func:`report_attrs`). No torch.

The report (variables of the super-resolved Dataset)
    ``s5sr_negative_fraction`` (0-d)
        Fraction of the finite output values below 0. A radiance cannot be negative: expected 0
        for non-negative input (the default's non-negative consistency step, issue 26).
    ``s5sr_chi2`` (0-d)
        Noise-normalised consistency ``mean((A·SR − y)² / σ²)`` over the LR pixels at least
        :data:`CONSISTENCY_EDGE` from the spatial edges (the degradation sees zeros beyond the
        granule there), ``A`` the band's degradation, σ per value from the file's
        ``radiance_noise``/``radiance_error`` when present, else the noise σ of the row's
        settings window; NaN when σ is unknown. About 1 or below: the output reproduces the
        measurement within its noise.
    ``s5sr_window_regularisation``, ``s5sr_window_sigma`` (dim ``settings_window``)
        The automatic settings per window of scanlines (:mod:`xr_s5sr.adaptive`): the
        discrepancy-principle μ (dimensionless; the fixed μ when given) and the window's noise
        σ (radiance units, RMS over the statistic channels). The ``settings_window``
        coordinate is the window's centre, in the (absolute) LR scanline index. Absent for
        methods without automatic settings (bicubic, a fixed μ without the detail gate).

Numbers of an in-memory result are known at once and are also set as attributes of the same
names (``s5sr_regularisation`` and ``s5sr_sigma`` holding the per-window numbers).

A lazy (dask) result carries the per-window variables only. The two numbers of the HR values
are sums over every HR block: in the same graph as a writer's store tasks they make every block
a block with two readers, dask.order then ranks all stores after all blocks, and the
distributed scheduler (which runs ready tasks strictly by that rank) holds every finished block
until the end of the orbit. They are computed in a second pass instead, from the written HR
values and the LR input (:func:`hr_report`): :func:`plausibility_report` with ``lr=``, or
:func:`xr_s5sr.store.to_netcdf` / :func:`xr_s5sr.store.to_zarr` with ``lr=`` (the numbers
then go into the file's attributes), as ``xr-s5sr super-resolve`` does.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Mapping
from typing import Any, cast

import numpy as np
import xarray as xr

from xr_s5sr.adaptive import window_centres, windows
from xr_s5sr.degrade import degrade_array
from xr_s5sr.errors import InputDataError, S5SRArgumentError

#: LR pixels at each spatial edge left out of ``s5sr_chi2`` (as in :mod:`xr_s5sr.assess`).
CONSISTENCY_EDGE = 8
#: Dimension of the per-window settings.
WINDOW_DIM = "settings_window"
#: 0-d report variables.
SCALARS = ("s5sr_negative_fraction", "s5sr_chi2")
#: Per-window report variables and the attribute each one's numbers are written to.
WINDOW_VARIABLES = {
    "s5sr_window_regularisation": "s5sr_regularisation",
    "s5sr_window_sigma": "s5sr_sigma",
}
_ATTRS: dict[str, dict[str, str]] = {
    "s5sr_negative_fraction": {
        "long_name": "fraction of the finite super-resolved values below zero",
        "units": "1",
    },
    "s5sr_chi2": {
        "long_name": "noise-normalised consistency chi^2 of degrade(SR) vs the LR input",
        "units": "1",
    },
    "s5sr_window_regularisation": {
        "long_name": "Tikhonov weight mu used in each settings window",
        "units": "1",
    },
    "s5sr_window_sigma": {"long_name": "noise sigma of each settings window"},
}


def negative_fraction(sr: xr.Variable) -> xr.Variable:
    """Fraction (0-d, lazy for dask) of the finite values of ``sr`` that are below 0."""
    finite = np.isfinite(sr)
    return (sr < 0).sum() / finite.sum()


def consistency_chi2(
    sr: xr.Variable,
    lr: xr.Variable,
    dims: tuple[Hashable, Hashable],
    band: int,
    variance: xr.Variable | None,
) -> xr.Variable:
    """``mean((A·sr − lr)² / variance)`` away from the edges (module docstring), 0-d.

    Parameters
    ----------
    sr, lr : xarray.Variable
        HR result and LR input with the same dims (``sr`` 4× larger along ``dims``).
    dims : tuple of hashable
        (scanline, ground_pixel) dim names.
    band : int
        S5P band (the degradation).
    variance : xarray.Variable or None
        σ² (radiance²) broadcastable against ``lr`` by dim name; None: NaN.
    """
    if variance is None:
        return xr.Variable((), np.nan)
    axes = (sr.get_axis_num(dims[0]), sr.get_axis_num(dims[1]))
    # float64: the misfit of a consistent result is a small difference of large numbers.
    degraded = xr.Variable(sr.dims, degrade_array(sr.data.astype(np.float64), band, axes=axes))
    edge = {d: slice(CONSISTENCY_EDGE, -CONSISTENCY_EDGE) for d in dims}
    misfit = (degraded - lr.astype(np.float64)).isel(edge)
    normalised = misfit**2 / variance.isel({d: s for d, s in edge.items() if d in variance.dims})
    return normalised.mean(skipna=True)


def window_variables(
    settings: Any,
    lr: xr.Variable,
    dims: tuple[Hashable, Hashable, Hashable],
    first_scanline: int,
    sigma_units: str | None,
) -> tuple[dict[str, xr.Variable], xr.Variable]:
    """The per-window report variables from the engine's settings and the
    ``settings_window`` coordinate.

    Parameters
    ----------
    settings : numpy.ndarray or dask.array.Array
        ``(extra dims…, window, 2)`` ``[μ, σ²]`` from
        :func:`xr_s5sr.engine.super_resolve_array` (``return_settings=True``).
    lr : xarray.Variable
        The LR input (its extra dims name the leading axes of ``settings``).
    dims : tuple of hashable
        Names of the (scanline, ground_pixel, spectral_channel) dims.
    first_scanline : int
        Absolute index of the first LR scanline (fixes the windows).
    sigma_units : str, optional
        Units of σ (the radiance's).
    """
    scan_dim = dims[0]
    n_scan = lr.sizes[scan_dim]
    extra = tuple(d for d in lr.dims if d not in dims)
    bounds = windows(n_scan, first_scanline)
    variables = {
        "s5sr_window_regularisation": xr.Variable(
            (*extra, WINDOW_DIM), settings[..., 0], attrs=dict(_ATTRS["s5sr_window_regularisation"])
        ),
        "s5sr_window_sigma": xr.Variable(
            (*extra, WINDOW_DIM), settings[..., 1] ** 0.5, attrs=dict(_ATTRS["s5sr_window_sigma"])
        ),
    }
    if sigma_units:
        variables["s5sr_window_sigma"].attrs["units"] = sigma_units
    centre = xr.Variable(
        WINDOW_DIM,
        first_scanline + window_centres(bounds),
        attrs={
            "long_name": "centre of the settings window",
            "units": "LR scanline index",
        },
    )
    return variables, centre


def _chi2_variance(
    lr: xr.Variable,
    scan_dim: Hashable,
    sigma: Any,
    window_sigma: xr.Variable | None,
    first_scanline: int,
) -> xr.Variable | None:
    """The noise variance of the χ² (radiance²): the file's σ² of every LR value when
    ``sigma`` is given, else the σ² of each settings window (``window_sigma``, last dim the
    window) repeated over its rows, else None (noise unknown)."""
    if sigma is not None:
        return xr.Variable(lr.dims, sigma) ** 2
    if window_sigma is None:
        return None
    n_scan = lr.sizes[scan_dim]
    bounds = windows(n_scan, first_scanline)
    rows = np.repeat(np.arange(len(bounds)), bounds[:, 1] - bounds[:, 0])
    return xr.Variable((*window_sigma.dims[:-1], scan_dim), (window_sigma.data**2)[..., rows])


def report_variables(
    sr: xr.Variable,
    lr: xr.Variable,
    dims: tuple[Hashable, Hashable, Hashable],
    band: int,
    *,
    settings: Any,
    sigma: Any,
    first_scanline: int,
    scalars: bool = True,
) -> dict[Hashable, xr.Variable]:
    """Every report variable (module docstring) of one super-resolved variable.

    ``settings``: the engine's windows (None without automatic settings); ``sigma``: the
    file's σ of every LR value (numpy/dask, ``lr``'s shape) or None; ``scalars``: False
    leaves out the two HR sums (a lazy result: :func:`hr_report` computes them later).
    """
    out: dict[Hashable, xr.Variable] = {}
    if settings is not None:
        windowed, centre = window_variables(
            settings, lr, dims, first_scanline, lr.attrs.get("units")
        )
        out.update(windowed)
        out[WINDOW_DIM] = centre
    if scalars:
        window_sigma = out.get("s5sr_window_sigma")
        variance = _chi2_variance(lr, dims[0], sigma, window_sigma, first_scanline)
        out.update(_scalar_variables(sr, lr, dims, band, variance))
    return out


def _scalar_variables(
    sr: xr.Variable,
    lr: xr.Variable,
    dims: tuple[Hashable, Hashable, Hashable],
    band: int,
    variance: xr.Variable | None,
) -> dict[Hashable, xr.Variable]:
    """``s5sr_negative_fraction`` and ``s5sr_chi2`` of one super-resolved variable."""
    out: dict[Hashable, xr.Variable] = {
        "s5sr_negative_fraction": negative_fraction(sr),
        "s5sr_chi2": consistency_chi2(sr, lr, dims[:2], band, variance),
    }
    for name, variable in out.items():
        variable.attrs = dict(_ATTRS[str(name)])
    return out


def hr_report(sr: xr.Dataset, lr: xr.Dataset) -> dict[str, xr.Variable]:
    """The two HR sums of the report (``s5sr_negative_fraction``, ``s5sr_chi2``, suffixed
    ``_<name>`` when several variables were super-resolved) of a result and its LR input.

    Parameters
    ----------
    sr : xarray.Dataset
        Output of ``s5sr.super_resolve`` (lazy, in memory or read back from its file: open
        it with dask chunks, ``chunks={}``, to keep the memory to a few blocks).
        ``attrs["s5sr_variables"]`` names the super-resolved variables.
    lr : xarray.Dataset
        The LR Dataset ``sr`` was made from. σ comes from its ``radiance_noise`` /
        ``radiance_error`` when present, else from ``sr``'s per-window σ.

    Returns
    -------
    dict
        Lazy for dask input; numbers with :func:`dask.compute`.

    Raises
    ------
    InputDataError
        If ``sr`` does not name its super-resolved variables (not a result of this package),
        or ``lr`` lacks one of them.
    """
    from xr_s5sr.dims import require_dims
    from xr_s5sr.inference import first_scanline, noise_sigma
    from xr_s5sr.l1b_layout import ROLES

    names = str(sr.attrs.get("s5sr_variables", "")).split()
    missing = [n for n in names if n not in lr.data_vars or n not in sr.data_vars]
    if not names or missing:
        raise InputDataError(
            f"Cannot compute the plausibility report: the result names the super-resolved "
            f"variables {names} (attribute 's5sr_variables'), of which {missing} are not in "
            "both Datasets. Pass the output of s5sr.super_resolve (or its file) and the LR "
            "Dataset it was made from."
        )
    dims = cast(tuple[Hashable, Hashable, Hashable], tuple(require_dims(lr, ROLES).values()))
    band = int(sr.attrs["s5p_band"])
    out: dict[str, xr.Variable] = {}
    for name in names:
        suffix = "" if len(names) == 1 else f"_{name}"
        lr_variable = lr[name].variable
        sigma, _ = noise_sigma(lr, name)
        window_sigma = sr.variables.get(f"s5sr_window_sigma{suffix}")
        first = first_scanline(lr, dims[0])
        variance = _chi2_variance(lr_variable, dims[0], sigma, window_sigma, first)
        found = _scalar_variables(sr[name].variable, lr_variable, dims, band, variance)
        out.update({f"{key}{suffix}": variable for key, variable in found.items()})
    return out


def plausibility_report(
    obj: xr.Dataset | xr.DataArray, lr: xr.Dataset | None = None
) -> dict[str, Any]:
    """The plausibility numbers of a super-resolved object, computed (once, together).

    Parameters
    ----------
    obj : xarray.Dataset or xarray.DataArray
        Output of ``s5sr.super_resolve``, or its file read back. A DataArray carries the
        numbers in its attributes (in-memory results only).
    lr : xarray.Dataset, optional
        The LR Dataset ``obj`` was made from: needed when ``obj`` is a lazy result (or a file
        written from one by xarray's own writers), whose two HR sums are computed here from
        ``obj``'s values (:func:`hr_report`). A lazy ``obj`` then runs the network again:
        write it first (:func:`xr_s5sr.store.to_zarr` with ``lr=`` records the report) and
        pass the file, opened with ``chunks={}``.

    Returns
    -------
    dict
        ``s5sr_negative_fraction`` and ``s5sr_chi2`` (float), ``s5sr_regularisation`` and
        ``s5sr_sigma`` (list of float, one per settings window; absent without automatic
        settings), ``s5sr_settings_window`` (window centres, LR scanline index). Taken from
        the attributes when they hold them (in-memory results, written files).

    Examples
    --------
    >>> import xr_s5sr
    >>> lr = xr_s5sr.synthetic.make_granule(7, 96, 96, n_channel=16, seed=1).s5sr.degrade()
    >>> sr = lr.s5sr.super_resolve(model="backprojection", device="cpu")
    >>> report = plausibility_report(sr)
    >>> report["s5sr_negative_fraction"], len(report["s5sr_regularisation"])
    (0.0, 1)
    """
    keys = (*SCALARS, *WINDOW_VARIABLES.values(), "s5sr_settings_window")
    if isinstance(obj, xr.DataArray) or all(k in obj.attrs for k in SCALARS):
        # Numbers already recorded (in-memory result, or a written file): nothing to compute.
        return {k: _plain(obj.attrs[k], k in SCALARS) for k in keys if k in obj.attrs}
    import dask

    found = {name: obj[name].data for name in (*SCALARS, *WINDOW_VARIABLES) if name in obj}
    if WINDOW_DIM in obj.coords:
        found[WINDOW_DIM] = obj[WINDOW_DIM].data
    several = len(str(obj.attrs.get("s5sr_variables", "")).split()) > 1
    # The report holds the unsuffixed numbers of one super-resolved variable: the suffixed sums
    # of several would be computed for nothing.
    if not several and not any(str(name).startswith(SCALARS) for name in obj.data_vars):
        if lr is None:
            raise S5SRArgumentError(
                "This result carries no s5sr_negative_fraction / s5sr_chi2: it was lazy "
                "(dask), and those sums over the HR values are computed in a second pass. "
                "Pass lr=<the LR Dataset it was made from>, preferably with the result read "
                "back from its file (or write it with xr_s5sr.to_zarr/to_netcdf(..., lr=...))."
            )
        found.update({k: v.data for k, v in hr_report(obj, lr).items() if k in SCALARS})
    (values,) = dask.compute(found)
    return report_attrs(values)


def _plain(value: Any, scalar: bool) -> Any:
    """An attribute as a float or a list of floats (files return numpy arrays, and netCDF a
    number for a one-element list)."""
    values = np.asarray(value, dtype=np.float64)
    return float(values) if scalar else [float(v) for v in np.atleast_1d(values)]


def report_attrs(values: Mapping[str, Any]) -> dict[str, Any]:
    """Attributes (plain floats and lists) of computed report variables."""
    attrs: dict[str, Any] = {}
    for name in SCALARS:
        if name in values:
            attrs[name] = float(values[name])
    for name, attr in WINDOW_VARIABLES.items():
        if name in values:
            attrs[attr] = [float(v) for v in np.ravel(values[name])]
    if WINDOW_DIM in values:
        attrs["s5sr_settings_window"] = [float(v) for v in np.ravel(values[WINDOW_DIM])]
    return attrs


def lazy_report(ds: xr.Dataset) -> dict[str, Any]:
    """The report variables of ``ds`` that are still lazy (dask), by name; empty when the
    Dataset has none or they are in memory (their attributes are then set already)."""
    import dask

    names = [n for n in (*SCALARS, *WINDOW_VARIABLES) if n in ds]
    if not any(dask.is_dask_collection(ds[n].data) for n in names):
        return {}
    found = {n: ds[n].data for n in names}
    if WINDOW_DIM in ds.coords:
        found[WINDOW_DIM] = ds[WINDOW_DIM].data
    return found


def record_report(
    ds: xr.Dataset,
    write: Callable[[bool], Any],
    add_attrs: Callable[[dict[str, Any]], Any],
    reopen: Callable[[], xr.Dataset],
    *,
    lr: xr.Dataset | None = None,
) -> dict[str, Any]:
    """Write ``ds`` and, when its report is lazy, add the report's numbers as attributes.

    Parameters
    ----------
    ds : xarray.Dataset
        The Dataset being written.
    write : callable
        ``write(compute)``: the writer's call (``compute=False`` returns its delayed store).
    add_attrs : callable
        Adds global attributes to the written file or store.
    reopen : callable
        Opens what ``write`` wrote, lazily with the file's chunks (read only with ``lr``).
    lr : xarray.Dataset, optional
        The LR input of a lazy result: its two HR sums (:func:`hr_report`) are then computed
        from the written values, read back with ``reopen()``.

    Returns
    -------
    dict
        The attributes added (empty when the report was in memory or absent: its numbers are
        then in ``ds.attrs`` already).

    The data and the per-window numbers are computed in one pass
    (:func:`xr_s5sr.write_graph.compute_write`, every store task a leaf), so the settings
    windows they share run once; the HR sums read the written blocks back, so no
    block is held for them while the data are computed.
    """
    import dask

    from xr_s5sr.write_graph import compute_write

    pending = lazy_report(ds)
    attrs: dict[str, Any] = {}
    # The stores run as leaves of their own, so dask releases each block once it is written
    # (xr_s5sr.write_graph); the report's per-window numbers share that pass.
    _, values = compute_write(write(False), pending)
    if pending:
        attrs = report_attrs(values)
    if lr is not None and not all(k in ds.attrs for k in SCALARS):
        with reopen() as back:
            (values,) = dask.compute({k: v.data for k, v in hr_report(back, lr).items()})
        attrs.update({k: float(v) for k, v in values.items()})
    if attrs:
        add_attrs(attrs)
    return attrs


def summary_line(report: Mapping[str, Any]) -> str:
    """The report in one line, e.g. for ``xr-s5sr super-resolve``.

    Examples
    --------
    >>> summary_line({"s5sr_negative_fraction": 0.0, "s5sr_chi2": 0.93,
    ...               "s5sr_regularisation": [0.02, 0.5], "s5sr_sigma": [0.1, 0.12]})
    'plausibility: negative values 0 %, chi2 0.93, mu 0.02..0.5 (2 windows), sigma 0.1..0.12'
    """
    negative = report.get("s5sr_negative_fraction", math.nan)
    parts = [f"negative values {100 * negative:.3g} %", f"chi2 {report.get('s5sr_chi2'):.3g}"]
    for key, label in (("s5sr_regularisation", "mu"), ("s5sr_sigma", "sigma")):
        numbers = report.get(key)
        if numbers:
            low, high = min(numbers), max(numbers)
            span = f"{low:.3g}" if low == high else f"{low:.3g}..{high:.3g}"
            count = f" ({len(numbers)} windows)" if label == "mu" and len(numbers) > 1 else ""
            parts.append(f"{label} {span}{count}")
    return "plausibility: " + ", ".join(parts)


__all__ = [
    "CONSISTENCY_EDGE",
    "SCALARS",
    "WINDOW_DIM",
    "WINDOW_VARIABLES",
    "consistency_chi2",
    "lazy_report",
    "negative_fraction",
    "plausibility_report",
    "record_report",
    "report_attrs",
    "report_variables",
    "summary_line",
]
