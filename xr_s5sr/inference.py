"""Thin xarray layer of super-resolution: Dataset in → :mod:`xr_s5sr.engine` → Dataset out.

Boundary: picks the radiance variables, runs the arrays-only engine on each, moves the
coordinates to the HR grid (:func:`xr_s5sr.grid.hr_coordinates`) and records provenance. The
accessor calls the ``*_dataset`` functions; this module never imports the accessor.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from xr_s5sr.bands import SCALE
from xr_s5sr.engine import super_resolve_array
from xr_s5sr.errors import DimensionError
from xr_s5sr.grid import hr_coordinates
from xr_s5sr.spec import ModelSpec, model_spec
from xr_s5sr.tiling import align_chunks

if TYPE_CHECKING:
    import os

    import torch
    import xarray as xr


def super_resolve_dataset(
    ds: xr.Dataset,
    *,
    variables: Sequence[Hashable],
    dims: tuple[Hashable, Hashable, Hashable],
    band: int,
    model: str = "s5dscr",
    weights: str | os.PathLike[str] | torch.nn.Module | None = None,
    device: str | None = None,
    output_chunks: int | None = None,
    torch_threads: int | None = None,
    dtype: str = "float32",
    consistency: bool | None = None,
    regularisation: float | str = "auto",
    missing: str = "fill",
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
    band : int
        S5P band (selects the shipped weights; recorded in ``s5p_band``).
    model, weights, device, dtype, consistency, regularisation
        See :func:`xr_s5sr.spec.model_spec` (``model="backprojection"``: the training-free
        physics inverse).
    output_chunks, torch_threads, missing
        See :func:`xr_s5sr.engine.super_resolve_array`.

    Returns
    -------
    xarray.Dataset
        The super-resolved variables, float32, with their dims in the input order and their
        attrs; variables without scanline/ground_pixel dims unchanged; data variables on those
        dims that were not super-resolved (e.g. ``quality_level``, ``radiance_noise``) carried to
        the HR grid by nearest neighbour (:func:`carry_to_hr_grid`). Coordinates: see
        :func:`~xr_s5sr.grid.hr_coordinates`. Global attrs are kept, ``history`` gets a new first
        line and ``s5sr_model``, ``s5sr_consistency``, ``s5sr_weights_sha256``,
        ``s5sr_model_config``, ``s5sr_version``, ``s5sr_scale`` and
        ``s5p_band`` are set. ``encoding`` is empty on every variable. dask in → dask out.
    """
    spec = model_spec(
        model,
        band=band,
        weights=weights,
        device=device,
        dtype=dtype,
        consistency=consistency,
        regularisation=regularisation,
    )
    return _upscale_dataset(
        ds,
        spec,
        variables,
        dims,
        band,
        "super_resolve",
        output_chunks=output_chunks,
        torch_threads=torch_threads,
        missing=missing,
    )


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
    return _upscale_dataset(ds, model_spec("bicubic"), variables, dims, band, "bicubic")


def _upscale_dataset(
    ds: xr.Dataset,
    spec: ModelSpec,
    variables: Sequence[Hashable],
    dims: tuple[Hashable, Hashable, Hashable],
    band: int,
    method: str,
    **engine: Any,
) -> xr.Dataset:
    import xarray as xr

    from xr_s5sr.provenance import add_provenance, format_call, history_line

    spatial = set(dims[:2])
    sources: dict[Hashable, str] = {}
    resolved: dict[Hashable, xr.Variable] = {}
    for name in ds.data_vars:
        if name in variables:
            noise: dict[str, Any] = {}
            if spec.reads_statistics:
                noise["sigma"], sources[name] = noise_sigma(ds, name)
                noise["first_scanline"] = first_scanline(ds, dims[0])
            resolved[name] = _super_resolve_variable(
                name, ds[name].variable, dims, spec, {**engine, **noise}
            )
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
    )
    if spec.is_network:
        out.attrs.update(s5sr_weights_sha256=spec.key, s5sr_model_config=spec.config)
    if sources:
        unique = set(sources.values())
        out.attrs["s5sr_noise_source"] = (
            unique.pop()
            if len(unique) == 1
            else "; ".join(f"{name}: {source}" for name, source in sources.items())
        )
    call = format_call(
        method,
        band=band,
        model=spec.name if method == "super_resolve" else None,
        consistency=spec.consistency if method == "super_resolve" else None,
        regularisation=spec.regularisation if spec.uses_regularisation else None,
    )
    return add_provenance(out, history_line(call, weights_sha256=spec.key or None))


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
    import xarray as xr

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
    from xr_s5sr.noise import sigma_from_error, sigma_from_snr_db

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
    import numpy as np

    coordinate = ds.coords.get(dim)
    if coordinate is None or coordinate.size == 0 or coordinate.dtype.kind not in "iu":
        return 0
    return int(np.asarray(coordinate.values[0]))


def _super_resolve_variable(
    name: Hashable,
    variable: xr.Variable,
    dims: tuple[Hashable, Hashable, Hashable],
    spec: ModelSpec,
    engine: dict[str, Any],
) -> xr.Variable:
    import xarray as xr

    if not set(dims) <= set(variable.dims):
        raise DimensionError(
            f"Variable {name!r} has dims {variable.dims}; super-resolution needs the dims "
            f"{tuple(dims)} (other dims, e.g. time, are processed element by element)."
        )
    axes = tuple(variable.dims.index(d) for d in dims)
    data = super_resolve_array(variable.data, spec, axes=axes, **engine)
    return xr.Variable(variable.dims, data, attrs=dict(variable.attrs))


__all__ = ["bicubic_dataset", "carry_to_hr_grid", "super_resolve_dataset"]
