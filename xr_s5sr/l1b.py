"""The Sentinel-5P L1B radiance file layout: ``open_l1b``/``write_l1b`` and their helpers.

Boundary: this module translates between the on-disk group layout of S5P L1B radiance products
(SPEC §1: ``BAND<n>_RADIANCE/STANDARD_MODE/{OBSERVATIONS,GEODATA,INSTRUMENT}``) and a tidy
:class:`xarray.Dataset`. It validates files, reads only metadata while opening (so dask-backed
results stay lazy), and names files the official way. It does no numerics and never imports
torch. Generic writers (:func:`xr_s5sr.store.to_netcdf`, :func:`xr_s5sr.store.to_zarr`) and the
atomic-file policy that :func:`write_l1b` uses live in :mod:`xr_s5sr.store`; the description
of the layout (its variables, groups, CF attributes and file names) in :mod:`xr_s5sr.l1b_layout`.

Tidy layout returned by :func:`open_l1b` (and accepted by :func:`write_l1b`)::

    radiance            (scanline, ground_pixel, spectral_channel)  float32, fill -> NaN
    radiance_noise      (scanline, ground_pixel, spectral_channel)  when in the file
    quality_level       (scanline, ground_pixel, spectral_channel)  when in the file
    coords: scanline, ground_pixel, spectral_channel (index), time (scalar),
            delta_time (scanline), latitude/longitude (scanline, ground_pixel),
            latitude_bounds/longitude_bounds (scanline, ground_pixel, corner),
            nominal_wavelength (ground_pixel, spectral_channel)
    attrs: the file's global attributes + s5p_band
"""

from __future__ import annotations

import os
from collections.abc import Hashable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

import numpy as np
import xarray as xr

from xr_s5sr.atomic import atomic_output
from xr_s5sr.bands import SCALE, get_band, parse_band
from xr_s5sr.dims import RADIANCE, check_chunk_size, require_dims, resolve_band
from xr_s5sr.errors import (
    BandError,
    DimensionError,
    InputDataError,
    L1BFormatError,
    MissingInputError,
    S5SRArgumentError,
    S5SRError,
)
from xr_s5sr.l1b_layout import (
    CF_DEFAULTS,
    FILL_VALUE,
    GEODATA,
    INSTRUMENT,
    LAYOUT,
    OBSERVATIONS,
    RADIANCE_UNITS,
    ROLES,
    L1BVariable,
    l1b_filename,
)
from xr_s5sr.store import netcdf_variable_encoding

#: Default of ``open_l1b(chunks=...)``: dask chunks along scanline only, sized by memory.
AUTO_SCANLINE = "auto-scanline"
#: Memory per radiance chunk aimed at by ``chunks="auto-scanline"`` (bytes).
AUTO_CHUNK_BYTES = 128 * 2**20
#: Upper bound of scanlines per chunk with ``chunks="auto-scanline"``.
AUTO_MAX_SCANLINES = 256

_ENGINES = ("netcdf4", "h5netcdf")

#: What netCDF4, h5netcdf/h5py and xarray's CF decoding raise on damaged or non-conforming files
#: (HDF5 errors, conflicting dim sizes, undecodable time units, non-numeric scale_factor, ...).
_LIBRARY_ERRORS = (OSError, RuntimeError, ValueError, TypeError, LookupError)


# ---------------------------------------------------------------------------------- reading
def _resolve_engine(engine: str | None) -> str:
    if engine is None:
        return "netcdf4"
    if engine not in _ENGINES:
        raise S5SRArgumentError(
            f"engine={engine!r} is not supported: expected one of {list(_ENGINES)} "
            "(or None for netcdf4)."
        )
    return engine


def _open_low_level(path: Path, engine: str) -> Any:
    """Open ``path`` read-only with the engine's own library (metadata inspection only)."""
    if engine == "netcdf4":
        import netCDF4

        return netCDF4.Dataset(path, "r")
    import h5netcdf

    return h5netcdf.File(path, "r")


def _describe(node: Any) -> dict[str, Any]:
    """Tree of group names of ``node`` (netCDF4 or h5netcdf group) for error messages."""
    return {name: _describe(child) for name, child in node.groups.items()}


def _band_groups(root: Any) -> dict[int, str]:
    """Band number -> name of each ``BAND<n>_RADIANCE`` group at the file root."""
    found: dict[int, str] = {}
    for name in root.groups:
        number = parse_band(name)
        if number is not None and name == f"BAND{number}_RADIANCE":
            found[number] = name
    return found


def _pick_band(path: Path, band: int | str | None, present: dict[int, str], tree: object) -> int:
    """Band to read: ``band=``, else the file name, else the only band group in the file."""
    if not present:
        raise L1BFormatError(
            f"{path} is not a Sentinel-5P L1B radiance file: no BAND<n>_RADIANCE group found "
            f"(groups: {tree}). Open an L1B radiance product (S5P_*_L1B_RA_BD<n>_*.nc), "
            "not an irradiance, L2 or other file."
        )
    listing = [f"BAND{n}_RADIANCE" for n in sorted(present)]
    if band is not None:
        number = get_band(band).number
        if number not in present:
            raise BandError(
                f"{path} has no BAND{number}_RADIANCE group (band={band!r} was requested); "
                f"it contains {listing}. Pass band= one of {sorted(present)} or open the "
                f"L1B_RA_BD{number} file."
            )
        return number
    from_name = parse_band(path.name)
    if from_name is not None:
        if from_name not in present:
            raise L1BFormatError(
                f"{path}: the file name says band {from_name} but the file contains "
                f"{listing}. Pass band= explicitly if the name is wrong."
            )
        return from_name
    if len(present) > 1:
        raise BandError(
            f"{path} contains several bands {listing} and its name does not say which to "
            f"read. Pass band= one of {sorted(present)}."
        )
    return next(iter(present))


def _check_layout(path: Path, root: Any, group: str) -> list[L1BVariable]:
    """Validate the groups and variables of ``group`` (metadata only); return those present."""
    node = root
    for depth, part in enumerate(group.split("/")):
        if part not in node.groups:
            _raise_missing_group(path, root, "/".join(group.split("/")[: depth + 1]))
        node = node.groups[part]
    present: list[L1BVariable] = []
    for entry in LAYOUT:
        if entry.group not in node.groups:
            _raise_missing_group(path, root, f"{group}/{entry.group}")
        variables = node.groups[entry.group].variables
        where = f"'{group}/{entry.group}/{entry.name}'"
        expected = f"(time, {', '.join(entry.dims)})"
        if entry.name not in variables:
            if not entry.required:
                continue
            raise L1BFormatError(
                f"{path}: variable {where} is missing (found: {sorted(variables)}). open_l1b "
                f"needs {entry.name!r} with dims {expected}; the file is not a usable L1B "
                "radiance product."
            )
        dims = tuple(variables[entry.name].dimensions)
        if tuple(d for d in dims if d != "time") != entry.dims:
            raise L1BFormatError(
                f"{path}: variable {where} has dims {dims}, expected {expected}. The file does "
                "not follow the L1B layout."
            )
        steps = variables[entry.name].shape[dims.index("time")] if "time" in dims else 1
        if steps != 1:
            raise L1BFormatError(
                f"{path}: variable {where} has {steps} time steps, expected 1. Only "
                "single-granule L1B files are supported."
            )
        present.append(entry)
    return present


@contextmanager
def _library_errors(path: Path, reading: Hashable | None = None) -> Iterator[None]:
    """Re-raise what the reading libraries raise on a bad file as :class:`L1BFormatError`.

    Our own errors (all :class:`S5SRError`, some of which are ValueErrors) pass through.
    ``reading`` names the variable whose data were being read, if any.
    """
    try:
        yield
    except S5SRError:
        raise
    except _LIBRARY_ERRORS as err:
        where = "" if reading is None else f" (while reading the data of {str(reading)!r})"
        raise L1BFormatError(
            f"{path} cannot be decoded as a Sentinel-5P L1B radiance file{where}: "
            f"{type(err).__name__}: {err}. The file is damaged or does not follow the L1B "
            "layout: download it again, or inspect it with `ncdump -h`."
        ) from err


class _GuardedReads:
    """Array-like that dask reads blocks from, turning library errors into L1BFormatError.

    A damaged data chunk is only found when its block is read, i.e. at compute time; without
    this wrapper the user would see a bare ``RuntimeError: NetCDF: HDF error`` from a worker.
    """

    def __init__(self, path: Path, name: Hashable, variable: xr.Variable) -> None:
        self.path = path
        self.name = name
        self.variable = variable  # lazily indexed: slicing reads only the block's bytes
        self.shape = variable.shape
        self.dtype = variable.dtype
        self.ndim = variable.ndim

    def __getitem__(self, key: tuple[slice, ...]) -> np.ndarray:
        with _library_errors(self.path, self.name):
            return np.asarray(self.variable[key].values)


def _guard_reads(path: Path, lazy: xr.Dataset, chunked: xr.Dataset) -> xr.Dataset:
    """``chunked`` with each dask variable reading its blocks through :class:`_GuardedReads`."""
    import dask.array as da
    from dask.base import tokenize

    stat = path.stat()
    out = chunked.copy()
    for name, variable in chunked.variables.items():
        if variable.chunks is None:
            continue
        # Deterministic graph names: the same unchanged file opened twice gives the same keys.
        token = tokenize(os.fspath(path), stat.st_mtime_ns, stat.st_size, name, variable.chunks)
        data = da.from_array(
            _GuardedReads(path, name, lazy[name].variable),
            chunks=variable.chunks,
            name=f"open_l1b-{name}-{token}",
            meta=np.empty((0,) * variable.ndim, variable.dtype),
        )
        out[name] = variable.copy(data=data)
    return out


def _check_decoded(path: Path, group: str, tidy: xr.Dataset, present: list[L1BVariable]) -> None:
    """Validate dims, dtypes and sizes after CF decoding (lazy arrays know them: no data read).

    Catches what the raw layout check cannot see: character arrays (decoded with one dim
    less), strings, undecodable packing attributes, integer radiance, empty granules.
    """
    for entry in present:
        variable = tidy[entry.name].variable
        where = f"'{group}/{entry.group}/{entry.name}'"
        if variable.dims != entry.dims or variable.dtype.kind not in entry.kinds:
            raise L1BFormatError(
                f"{path}: variable {where} decodes to dtype {variable.dtype} with dims "
                f"{variable.dims}, expected a numeric type (kinds {entry.kinds!r}) with dims "
                f"{entry.dims}. The file does not follow the L1B layout (radiance is float32, "
                "coordinates numeric); open the original product."
            )
    empty = [role for role in ROLES if tidy.sizes[role] == 0]
    if empty:
        raise L1BFormatError(
            f"{path} holds no observations: dims {empty} have size 0 (sizes: "
            f"{dict(tidy[RADIANCE].sizes)}). Open a granule with data."
        )


def _raise_missing_group(path: Path, root: Any, missing: str) -> NoReturn:
    raise L1BFormatError(
        f"{path} is not a complete Sentinel-5P L1B radiance file: group {missing!r} is "
        f"missing (groups found: {_describe(root)}). Expected BAND<n>_RADIANCE/STANDARD_MODE/"
        f"{{{OBSERVATIONS},{GEODATA},{INSTRUMENT}}}; the file may be truncated (download it "
        "again) or be another product."
    )


def _auto_scanlines(bytes_per_scanline: int) -> int:
    """Scanlines per chunk: ≤ ``AUTO_MAX_SCANLINES``, ~``AUTO_CHUNK_BYTES``, multiple of 4.

    A multiple of the scale factor keeps degraded (LR) chunks aligned with HR chunks.
    """
    fitting = AUTO_CHUNK_BYTES // max(bytes_per_scanline, 1)
    return max(SCALE, min(AUTO_MAX_SCANLINES, fitting) // SCALE * SCALE)


def _chunk_spec(
    chunks: Mapping[Hashable, int] | int | str, ds: xr.Dataset
) -> Mapping[Hashable, int] | str:
    """Translate ``open_l1b(chunks=...)`` into an argument of :meth:`xarray.Dataset.chunk`."""
    if isinstance(chunks, str) and chunks == AUTO_SCANLINE:
        radiance = ds[RADIANCE]
        per_scanline = radiance.dtype.itemsize * radiance.size // max(ds.sizes["scanline"], 1)
        chunks = _auto_scanlines(per_scanline)
    if isinstance(chunks, str):
        return chunks
    # Dims not named stay whole: blocks span full ground-pixel rows and the full spectrum.
    spec: dict[Hashable, int] = dict.fromkeys(ds.dims, -1)
    if isinstance(chunks, Mapping):
        for dim, size in chunks.items():
            spec[dim] = check_chunk_size(size, f"chunks[{dim!r}]")
    else:
        spec["scanline"] = check_chunk_size(chunks, "chunks")
    return spec


def _assemble(
    source: Path, engine: str, number: int, present: list[L1BVariable], opened: list[xr.Dataset]
) -> xr.Dataset:
    """Open the groups lazily (each appended to ``opened``) and build the tidy Dataset."""
    group = get_band(number).group

    def open_group(name: str | None) -> xr.Dataset:
        opened.append(xr.open_dataset(source, group=name, engine=engine))
        return opened[-1]

    attrs = dict(open_group(None).attrs)
    standard = open_group(group)
    parts = {sub: open_group(f"{group}/{sub}") for sub in dict.fromkeys(e.group for e in present)}
    # Variables only (not DataArrays): group-local coordinates must not leak into the result.
    found = {e.name: parts[e.group][e.name].variable for e in present}
    used = {dim for variable in found.values() for dim in variable.dims}
    coords: dict[Hashable, xr.Variable] = {
        d: standard[d].variable for d in standard.variables if d in used
    }
    coords.update({e.name: found[e.name] for e in present if e.coord})
    data_vars = {e.name: found[e.name] for e in present if not e.coord}
    tidy = xr.Dataset(data_vars, coords, attrs)
    if "time" in tidy.dims:
        tidy = tidy.isel(time=0)
    tidy.attrs["s5p_band"] = number
    _check_decoded(source, group, tidy, present)
    return tidy


def open_l1b(
    path: str | os.PathLike[str],
    band: int | None = None,
    *,
    chunks: Mapping[Hashable, int] | int | str | None = AUTO_SCANLINE,
    engine: str | None = None,
) -> xr.Dataset:
    """Open one band of a Sentinel-5P L1B radiance file as a tidy Dataset.

    Reads ``BAND<n>_RADIANCE/STANDARD_MODE/{OBSERVATIONS,GEODATA,INSTRUMENT}`` (dims declared
    in ``STANDARD_MODE``), squeezes the single ``time`` step and decodes ``_FillValue`` to NaN.
    Only metadata is read: with dask chunks nothing is computed.

    Parameters
    ----------
    path : str or os.PathLike
        Local L1B file (``S5P_*_L1B_RA_BD<n>_*.nc`` or any name).
    band : int, optional
        Band 1–8 to read. Default: from the file name (``_BD<n>_``), else the only
        ``BAND<n>_RADIANCE`` group in the file.
    chunks : {"auto-scanline"} or int or dict or str or None, default "auto-scanline"
        ``"auto-scanline"``: dask chunks along ``scanline`` only (at most 256 scanlines,
        ~128 MiB of radiance, a multiple of 4), ground_pixel and spectral_channel whole.
        int: scanlines per chunk. dict: chunks per dim (dims not named stay whole). Other str
        (e.g. ``"auto"``): passed to :meth:`xarray.Dataset.chunk`. None: load numpy arrays
        eagerly and close the file.
    engine : {"netcdf4", "h5netcdf"}, optional
        xarray backend; default netcdf4.

    Returns
    -------
    xarray.Dataset
        ``radiance`` (scanline, ground_pixel, spectral_channel), float32 in
        mol m-2 nm-1 sr-1 s-1 with NaN for fill, plus ``radiance_noise`` and ``quality_level``
        when present. Coordinates: ``scanline``, ``ground_pixel``, ``spectral_channel``
        (integer indices as in the file), scalar ``time``, ``delta_time`` (scanline),
        ``latitude``/``longitude`` (scanline, ground_pixel) in degrees, their ``*_bounds``
        (scanline, ground_pixel, corner) when present, ``nominal_wavelength``
        (ground_pixel, spectral_channel) in nm. Attributes: the file's global attributes and
        ``s5p_band``; ``encoding["source"]`` is the path.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    L1BFormatError
        If the file is not netCDF4/HDF5, lacks a group or variable of the layout, has
        unexpected dims, or its name contradicts its band groups; if a variable cannot be
        decoded (damaged file, conflicting dim sizes, undecodable time units or packing
        attributes) or decodes to a non-numeric dtype (radiance: not floating-point); if
        the granule is empty. With dask chunks the data are read at compute time: a damaged
        data chunk then raises L1BFormatError from that computation.
    BandError
        If ``band`` is unknown or not in the file, or the file holds several bands and
        ``band`` is None.

    Examples
    --------
    >>> import tempfile, xr_s5sr
    >>> ds = xr_s5sr.synthetic.make_granule(band=7, n_scanline=8, n_ground_pixel=6, n_channel=3)
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = write_l1b(ds, f"{tmp}/granule_BD7.nc")
    ...     back = open_l1b(path, chunks=None)
    >>> back.attrs["s5p_band"], dict(back.radiance.sizes)
    (7, {'scanline': 8, 'ground_pixel': 6, 'spectral_channel': 3})
    """
    source = Path(path)
    if not source.exists():
        raise MissingInputError(
            f"No such L1B file: {source}. Check the path (or download the granule first)."
        )
    engine = _resolve_engine(engine)
    try:
        root = _open_low_level(source, engine)
    except _LIBRARY_ERRORS as err:
        raise L1BFormatError(
            f"{source} is not a readable netCDF4/HDF5 file ({err}). open_l1b expects a "
            "Sentinel-5P L1B radiance product (S5P_*_L1B_RA_BD<n>_*.nc); check the file is "
            "complete (download it again) or try engine='h5netcdf'."
        ) from err
    with root, _library_errors(source):
        number = _pick_band(source, band, _band_groups(root), _describe(root))
        group = get_band(number).group
        present = _check_layout(source, root, group)

    opened: list[xr.Dataset] = []

    def close() -> None:
        for ds in opened:
            ds.close()

    try:
        with _library_errors(source):
            tidy = _assemble(source, engine, number, present, opened)
            if chunks is None:
                tidy = tidy.load()
            else:
                tidy = _guard_reads(source, tidy, tidy.chunk(_chunk_spec(chunks, tidy)))
    except BaseException:
        close()
        raise
    tidy.encoding["source"] = os.fspath(source)
    if chunks is None:
        close()
    else:
        tidy.set_close(close)
    return tidy


# ---------------------------------------------------------------------------------- L1B writing
def _file_variable(variable: xr.Variable, name: Hashable) -> xr.Variable:
    """L1B on-disk form of a tidy variable: leading ``time`` axis, CF attributes completed."""
    attrs = dict(variable.attrs)
    for key, value in CF_DEFAULTS.get(str(name), {}).items():
        attrs.setdefault(key, value)
    return xr.Variable(("time", *variable.dims), variable.data[None], attrs)


def _l1b_encoding(variable: xr.Variable, index: bool = False) -> dict[str, Any]:
    """netCDF encoding: L1B fill for floats, none for integers and indices, compressed arrays.

    Arrays of two or more dims get the package's netCDF storage policy
    (:func:`xr_s5sr.store.netcdf_variable_encoding`: zlib level 4 + shuffle, file chunks
    equal to the dask chunks).
    """
    kind = variable.dtype.kind
    encoding: dict[str, Any] = {}
    if kind == "f":
        encoding["_FillValue"] = None if index else variable.dtype.type(FILL_VALUE)
    elif kind in "iub":
        encoding["_FillValue"] = None
    if kind in "fiub" and variable.ndim >= 2:
        encoding.update(netcdf_variable_encoding(variable))
    return encoding


def _l1b_groups(ds: xr.Dataset, number: int) -> dict[str, xr.Dataset]:
    """Split a tidy Dataset into the Datasets of the L1B groups, keyed by group path."""
    dims = require_dims(ds, ROLES)
    tidy = ds.rename({name: role for role, name in dims.items() if name != role})
    if "time" in tidy.dims:
        if tidy.sizes["time"] != 1:
            raise DimensionError(
                f"write_l1b writes one granule: expected no 'time' dim or one of size 1, "
                f"found size {tidy.sizes['time']}. Select one time step first, e.g. "
                "ds.isel(time=0)."
            )
        tidy = tidy.isel(time=0)
    missing = [e.name for e in LAYOUT if e.required and e.name not in tidy.variables]
    if missing:
        raise InputDataError(
            f"Cannot write an L1B file: {missing} missing (found: "
            f"{sorted(map(str, tidy.variables))}). An L1B file needs radiance, latitude, "
            "longitude and nominal_wavelength; add them, e.g. "
            "ds.assign_coords(latitude=..., longitude=...)."
        )
    group = get_band(number).group
    placement = {e.name: e.group for e in LAYOUT}
    standard: dict[Hashable, xr.Variable] = {}
    subgroups: dict[str, dict[Hashable, xr.Variable]] = {
        OBSERVATIONS: {},
        GEODATA: {},
        INSTRUMENT: {},
    }
    for name, variable in tidy.variables.items():
        if name == "time":
            standard[name] = variable.set_dims(("time",))
        elif name in tidy.indexes:
            standard[name] = variable
        else:
            # Everything not placed by the L1B layout is an observation (kept on disk).
            subgroups[placement.get(str(name), OBSERVATIONS)][name] = _file_variable(variable, name)
    out = {group: xr.Dataset(coords=standard)}
    for sub, variables in subgroups.items():
        out[f"{group}/{sub}"] = xr.Dataset(variables)
    return out


def write_l1b(
    ds: xr.Dataset,
    path: str | os.PathLike[str],
    *,
    band: int | None = None,
    overwrite: bool = False,
) -> Path:
    """Write a tidy radiance Dataset as a netCDF4 file with the real L1B group layout.

    Layout: global attributes at the root (without ``s5p_band``, which the group name
    carries); ``BAND<n>_RADIANCE/STANDARD_MODE`` declares the dims (time=1, scanline,
    ground_pixel, spectral_channel, corner, …) and holds their coordinate variables;
    ``OBSERVATIONS`` holds radiance, ``delta_time`` and every other variable,
    ``GEODATA`` latitude/longitude (and bounds), ``INSTRUMENT`` nominal_wavelength, each with
    a leading ``time`` axis. Floating-point NaN is stored as ``_FillValue`` 9.96921e36;
    missing ``units``/``long_name`` of the known variables are filled in. The write is atomic
    (:func:`xr_s5sr.atomic.atomic_output`) and ``open_l1b(write_l1b(ds, p))`` reproduces ``ds``.

    Parameters
    ----------
    ds : xarray.Dataset
        Tidy radiance Dataset as returned by :func:`open_l1b` (dim aliases accepted); must
        contain radiance, latitude, longitude and nominal_wavelength. Not modified.
    path : str or os.PathLike
        Target file, e.g. named with :func:`l1b_filename`.
    band : int, optional
        S5P band; default ``ds.attrs["s5p_band"]`` (or the source file name).
    overwrite : bool, default False
        Replace an existing ``path``.

    Returns
    -------
    pathlib.Path
        The written file.

    Raises
    ------
    BandError
        If the band is unknown or cannot be inferred.
    DimensionError
        If a scanline/ground_pixel/spectral_channel dim is missing or ``time`` has size > 1.
    InputDataError
        If radiance, latitude, longitude or nominal_wavelength is missing.
    OutputExistsError
        If ``path`` exists and ``overwrite`` is False.
    OutputPathError
        If the directory does not exist or is not writable (checked before computing).
    """
    import netCDF4

    number = resolve_band(ds, band)
    groups = _l1b_groups(ds, number)
    standard_group = get_band(number).group
    sizes: dict[Hashable, int] = {"time": 1}  # first, as in real files
    for part in groups.values():
        sizes.update(part.sizes)
    attrs = {k: v for k, v in ds.attrs.items() if k != "s5p_band"}
    with atomic_output(path, overwrite) as temp:
        xr.Dataset(attrs=attrs).to_netcdf(temp, mode="w", engine="netcdf4")
        # Declare every dim once in STANDARD_MODE, as real files do; xarray then reuses
        # these parent dims in the sub-groups instead of redeclaring them.
        with netCDF4.Dataset(temp, "a") as nc:
            node = nc.createGroup(standard_group)
            for dim, size in sizes.items():
                node.createDimension(str(dim), size)
        for name, part in groups.items():
            encoding = {
                var: _l1b_encoding(part[var].variable, index=var in part.indexes)
                for var in part.variables
            }
            part.to_netcdf(temp, mode="a", group=name, engine="netcdf4", encoding=encoding)
    return Path(path)


__all__ = [
    "AUTO_SCANLINE",
    "CF_DEFAULTS",
    "FILL_VALUE",
    "LAYOUT",
    "RADIANCE_UNITS",
    "L1BVariable",
    "l1b_filename",
    "open_l1b",
    "write_l1b",
]
