"""Thin xarray layer of super-resolution: Dataset in → :mod:`xr_s5sr.engine` → Dataset out.

Boundary: picks the radiance variables, runs the arrays-only engine on each, moves the
coordinates to the HR grid (:func:`xr_s5sr.grid.hr_coordinates`) and records provenance. The
accessor calls the ``*_dataset`` functions; this module never imports the accessor.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any, cast

import dask
import numpy as np
import xarray as xr

from xr_s5sr.bands import SCALE
from xr_s5sr.engine import super_resolve_array
from xr_s5sr.errors import DimensionError
from xr_s5sr.grid import hr_coordinates
from xr_s5sr.missing import Missing
from xr_s5sr.noise import sigma_from_error, sigma_from_snr_db
from xr_s5sr.options import METHOD_FLAGS, SuperResolveOptions
from xr_s5sr.plausibility import WINDOW_DIM, report_attrs, report_variables
from xr_s5sr.provenance import add_provenance, format_call, history_line
from xr_s5sr.spec import ModelSpec, model_spec, options_spec
from xr_s5sr.tiling import align_chunks


def super_resolve_dataset(
    ds: xr.Dataset,
    *,
    variables: Sequence[Hashable],
    dims: tuple[Hashable, Hashable, Hashable],
    options: SuperResolveOptions,
) -> xr.Dataset:
    """Super-resolve radiance variables of a Dataset ×4 and move the Dataset to the HR grid.

    Parameters
    ----------
    ds : xarray.Dataset
        LR Dataset; not modified.
    variables : sequence of hashable
        Variables to super-resolve: on the three ``dims`` and any other dims (e.g. ``time``),
        whose elements become block axes of the same dask graph.
    dims : tuple of hashable
        Names of the (scanline, ground_pixel, spectral_channel) dims.
    options : SuperResolveOptions
        The run's settings, with the band resolved (:mod:`xr_s5sr.options`): the method goes
        to :func:`xr_s5sr.spec.options_spec`, ``output_chunks``, ``torch_threads`` and
        ``missing`` to :func:`xr_s5sr.engine.super_resolve_array`.

    Returns
    -------
    xarray.Dataset
        The super-resolved variables, float32, with their dims in the input order and their
        attrs; variables without scanline/ground_pixel dims unchanged; data variables on those
        dims that were not super-resolved (e.g. ``quality_level``, ``radiance_noise``) carried to
        the HR grid by nearest neighbour (:func:`carry_to_hr_grid`); the plausibility report
        (:mod:`xr_s5sr.plausibility`: ``s5sr_negative_fraction`` and ``s5sr_chi2`` for an
        in-memory result, and, with automatic settings, ``s5sr_window_regularisation``/
        ``s5sr_window_sigma`` on the ``settings_window`` dim; suffixed ``_<name>`` when
        several variables are super-resolved). Coordinates: see
        :func:`~xr_s5sr.grid.hr_coordinates`. Global attrs are kept, ``history`` gets a new
        first line and ``s5sr_model``, ``s5sr_consistency``, ``s5sr_weights_sha256``,
        ``s5sr_model_config``, ``s5sr_version``, ``s5sr_scale``, ``s5p_band`` and
        ``s5sr_variables`` (the super-resolved variables' names, space-separated) are set,
        and the report's numbers when the result is in memory.
        ``encoding`` is empty on every variable. dask in → dask out.
    """
    return _upscale_dataset(ds, options_spec(options), variables, dims, options)


def bicubic_dataset(
    ds: xr.Dataset,
    *,
    variables: Sequence[Hashable],
    dims: tuple[Hashable, Hashable, Hashable],
    band: int,
) -> xr.Dataset:
    """Bicubic ×4 baseline (PyTorch bicubic, ``S5DSCR.upsample`` semantics) on the HR grid.

    Same engine, outputs and metadata rules as :func:`super_resolve_dataset`, with the
    ``"bicubic"`` pseudo-model (no network, no weights).
    """
    options = SuperResolveOptions(band=band, model="bicubic")
    return _upscale_dataset(ds, model_spec("bicubic"), variables, dims, options, report=False)


def _upscale_dataset(
    ds: xr.Dataset,
    spec: ModelSpec,
    variables: Sequence[Hashable],
    dims: tuple[Hashable, Hashable, Hashable],
    options: SuperResolveOptions,
    report: bool = True,
) -> xr.Dataset:
    spatial = set(dims[:2])
    band = cast(int, options.band)
    sources: dict[Hashable, str] = {}
    resolved: dict[Hashable, xr.Variable] = {}
    reports: dict[Hashable, dict[Hashable, xr.Variable]] = {}
    for name in ds.data_vars:
        if name in variables:
            resolved[name], found, sources[name] = _resolve_variable(
                ds, name, spec, dims, options, report
            )
            if found:
                reports[name] = found
    sources = {k: v for k, v in sources.items() if v}
    # Every variable gets the chunks of the (regularly chunked) result: one chunking per dim,
    # so Dataset.chunks and xarray's own Zarr/netCDF writers accept the Dataset.
    first = next(iter(resolved.values()))
    hr_chunks = dict(zip(first.dims, first.chunks or (), strict=False))
    lr_chunks = {
        d: tuple(c // SCALE for c in hr_chunks[d]) if d in spatial else hr_chunks[d]
        for d in hr_chunks
    }
    data_vars: dict[Hashable, xr.Variable] = {}
    for name, array in ds.data_vars.items():
        if name in resolved:
            data_vars[name] = resolved[name]
        elif spatial.isdisjoint(array.dims):
            data_vars[name] = array.variable.copy(deep=False)
        else:
            lr = align_chunks({name: array.variable}, lr_chunks)[name]
            data_vars[name] = carry_to_hr_grid(lr, dims[:2])
    coords = align_chunks(hr_coordinates(ds, dims[:2]), hr_chunks)
    out = xr.Dataset(align_chunks(data_vars, hr_chunks), coords=coords, attrs=dict(ds.attrs))
    for variable in out.variables.values():
        variable.encoding = {}
    out.attrs.update(
        s5sr_model=spec.name,
        s5sr_scale=SCALE,
        s5p_band=band,
        s5sr_consistency=int(spec.consistency),
        s5sr_regularisation=spec.regularisation if spec.uses_regularisation else 0.0,
        s5sr_variables=" ".join(str(name) for name in resolved),
    )
    _add_reports(out, reports)
    if spec.is_network:
        out.attrs.update(s5sr_weights_sha256=spec.key, s5sr_model_config=spec.config)
    if sources:
        unique = set(sources.values())
        out.attrs["s5sr_noise_source"] = (
            unique.pop()
            if len(unique) == 1
            else "; ".join(f"{name}: {source}" for name, source in sources.items())
        )
    method = "super_resolve" if report else "bicubic"
    call = format_call(
        method,
        band=band,
        model=spec.name if report else None,
        consistency=spec.consistency if report else None,
        regularisation=spec.regularisation if spec.uses_regularisation else None,
        **options.changed(("missing", *METHOD_FLAGS)),
    )
    return add_provenance(out, history_line(call, weights_sha256=spec.key or None))


def _resolve_variable(
    ds: xr.Dataset,
    name: Hashable,
    spec: ModelSpec,
    dims: tuple[Hashable, Hashable, Hashable],
    options: SuperResolveOptions,
    report: bool,
) -> tuple[xr.Variable, dict[Hashable, xr.Variable], str]:
    """One super-resolved variable, its plausibility report variables (none without
    ``report``) and the source of its noise σ (``""`` when the method reads no statistics)."""
    variable = _checked_variable(name, ds[name].variable, dims)
    sigma, source = (None, "") if not (report or spec.reads_statistics) else noise_sigma(ds, name)
    start = first_scanline(ds, dims[0])
    data, settings = super_resolve_array(
        variable.data,
        spec,
        axes=tuple(variable.dims.index(d) for d in dims),
        output_chunks=options.output_chunks,
        torch_threads=options.torch_threads,
        missing=cast(Missing, options.missing),
        sigma=sigma if spec.reads_statistics else None,
        first_scanline=start,
        return_settings=True,
    )
    result = xr.Variable(variable.dims, data, attrs=dict(variable.attrs))
    if not report:
        return result, {}, source if spec.reads_statistics else ""
    found = report_variables(
        result,
        variable,
        dims,
        cast(int, options.band),
        settings=settings,
        sigma=sigma,
        first_scanline=start,
        scalars=not dask.is_dask_collection(data),
    )
    return result, found, source if spec.reads_statistics else ""


def _add_reports(out: xr.Dataset, reports: dict[Hashable, dict[Hashable, xr.Variable]]) -> None:
    """Put the plausibility report variables into ``out`` (suffixed ``_<name>`` when several
    variables were super-resolved) and, when they are in memory, their numbers into its
    attrs."""
    for name, variables in reports.items():
        suffix = "" if len(reports) == 1 else f"_{name}"
        for key, variable in variables.items():
            target = key if key == WINDOW_DIM else f"{key}{suffix}"
            if key == WINDOW_DIM:
                out.coords[target] = variable
            else:
                out[target] = variable
        if len(reports) == 1 and not any(
            dask.is_dask_collection(v.data) for v in variables.values()
        ):
            values = {str(k): v.values for k, v in variables.items()}
            out.attrs.update(report_attrs(values))


def carry_to_hr_grid(variable: xr.Variable, dims: tuple[Hashable, Hashable]) -> xr.Variable:
    """A variable that is not super-resolved (quality flags, noise, error estimates) on the HR
    grid: every HR pixel takes the value of the LR pixel whose 4 × 4 footprint holds it
    (nearest neighbour along each spatial dim it has). Lazy for dask; dtype and attrs kept.

    Radiance noise and error estimates carried this way describe the *LR* measurement at that
    footprint, not the uncertainty of the super-resolved value; the attribute
    ``s5sr_carried`` says so.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> flags = xr.Variable(("scanline", "ground_pixel"), np.array([[0, 1]], np.uint8))
    >>> carry_to_hr_grid(flags, ("scanline", "ground_pixel")).shape
    (4, 8)
    """
    data = variable.data
    for d in dims:
        if d in variable.dims:
            axis = variable.get_axis_num(d)
            if variable.chunks is None:
                data = data.repeat(SCALE, axis=axis)
            else:
                # Block by block: HR chunks are exactly 4× the LR ones (dask's own repeat
                # re-cuts them).
                hr = tuple(SCALE * c for c in data.chunks[axis])
                chunks = tuple(hr if i == axis else c for i, c in enumerate(data.chunks))
                data = data.map_blocks(np.repeat, SCALE, axis, chunks=chunks, dtype=data.dtype)
    attrs = dict(variable.attrs)
    attrs["s5sr_carried"] = (
        "nearest neighbour from the LR grid: value of the LR pixel whose 4x4 HR footprint "
        "holds this pixel"
    )
    return xr.Variable(variable.dims, data, attrs=attrs)


def noise_sigma(ds: xr.Dataset, name: Hashable) -> tuple[Any, str]:
    """σ of every value of radiance variable ``name`` from the Dataset, and its source.

    ``<name>_noise`` (S5P ``radiance_noise``: signal-to-noise ratio in dB) is preferred, then
    ``<name>_error`` (dB or radiance units by its ``units``; :func:`xr_s5sr.noise.
    sigma_from_error`); either must have the variable's dims. Without them σ is estimated from
    the data (:mod:`xr_s5sr.noise`): ``(None, "estimated")``. Lazy for dask.
    """
    radiance = ds[name]
    for suffix, source in (("noise", "radiance_noise"), ("error", "radiance_error")):
        candidate = ds.data_vars.get(f"{name}_{suffix}")
        if candidate is None or set(candidate.dims) != set(radiance.dims):
            continue
        values = candidate.transpose(*radiance.dims).data
        if suffix == "noise":
            return sigma_from_snr_db(radiance.data, values), source
        return sigma_from_error(radiance.data, values, candidate.attrs.get("units")), source
    return None, "estimated"


def first_scanline(ds: xr.Dataset, dim: Hashable) -> int:
    """Absolute index of the first scanline: the integer ``dim`` coordinate's first value
    (0 without an integer coordinate), which fixes the settings windows along the orbit."""
    coordinate = ds.coords.get(dim)
    if coordinate is None or coordinate.size == 0 or coordinate.dtype.kind not in "iu":
        return 0
    return int(np.asarray(coordinate.values[0]))


def _checked_variable(
    name: Hashable, variable: xr.Variable, dims: tuple[Hashable, Hashable, Hashable]
) -> xr.Variable:
    if not set(dims) <= set(variable.dims):
        raise DimensionError(
            f"Variable {name!r} has dims {variable.dims}; super-resolution needs the dims "
            f"{tuple(dims)} (other dims, e.g. time, are processed element by element)."
        )
    return variable


__all__ = ["bicubic_dataset", "carry_to_hr_grid", "super_resolve_dataset"]
