"""Reading and writing files: the S5P L1B radiance layout and atomic netCDF/Zarr writers.

Boundary: this module turns files into tidy :class:`xarray.Dataset` objects and back. It knows
the on-disk group layout of Sentinel-5P L1B radiance products (SPEC §1) and how to write any
Dataset safely (temporary file next to the target, then an atomic rename). It does no numerics
and never imports torch; it reads only metadata while opening, so dask-backed results stay lazy.

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
import shutil
import uuid
from collections.abc import Hashable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, NoReturn, overload

import numpy as np
import xarray as xr

from xr_s5sr.bands import SCALE, get_band, parse_band
from xr_s5sr.dims import RADIANCE, Role, require_dims, resolve_band
from xr_s5sr.errors import (
    BandError,
    DimensionError,
    InputDataError,
    L1BFormatError,
    OutputExistsError,
    OutputPathError,
    S5SRError,
)

if TYPE_CHECKING:
    from dask.delayed import Delayed

#: ``_FillValue`` of floating-point L1B variables (the netCDF default float fill, 9.96921e36).
FILL_VALUE = float(np.float32(9.96921e36))

#: Units of L1B spectral photon radiance.
RADIANCE_UNITS = "mol m-2 nm-1 sr-1 s-1"

#: Default of ``open_l1b(chunks=...)``: dask chunks along scanline only, sized by memory.
AUTO_SCANLINE = "auto-scanline"
#: Memory per radiance chunk aimed at by ``chunks="auto-scanline"`` (bytes).
AUTO_CHUNK_BYTES = 128 * 2**20
#: Upper bound of scanlines per chunk with ``chunks="auto-scanline"``.
AUTO_MAX_SCANLINES = 256

#: Sub-groups of ``BAND<n>_RADIANCE/STANDARD_MODE``.
OBSERVATIONS = "OBSERVATIONS"
GEODATA = "GEODATA"
INSTRUMENT = "INSTRUMENT"


class L1BVariable(NamedTuple):
    """One variable of the L1B layout that :func:`open_l1b` keeps.

    Attributes
    ----------
    name : str
        Variable name, in the file and in the tidy Dataset.
    group : str
        Sub-group of ``BAND<n>_RADIANCE/STANDARD_MODE`` holding it.
    dims : tuple of str
        Its dims after the leading ``time`` axis of the file.
    required : bool
        Whether a file without it is rejected (:class:`~xr_s5sr.errors.L1BFormatError`).
    coord : bool
        Coordinate (True) or data variable (False) of the tidy Dataset.
    kinds : str, default "fiu"
        numpy dtype kinds accepted after CF decoding (``"f"`` float, ``"i"``/``"u"`` integer,
        ``"m"``/``"M"`` timedelta/datetime); anything else is rejected.
    """

    name: str
    group: str
    dims: tuple[str, ...]
    required: bool
    coord: bool
    kinds: str = "fiu"


_SCAN_PIXEL = ("scanline", "ground_pixel")
_CUBE = ("scanline", "ground_pixel", "spectral_channel")
_BOUNDS = ("scanline", "ground_pixel", "corner")

#: The variables read by :func:`open_l1b` (others in the file are ignored), in tidy order.
LAYOUT: tuple[L1BVariable, ...] = (
    # Radiance must decode to floats: raw integers (without scale_factor) are not radiance.
    L1BVariable(RADIANCE, OBSERVATIONS, _CUBE, required=True, coord=False, kinds="f"),
    L1BVariable("radiance_noise", OBSERVATIONS, _CUBE, required=False, coord=False, kinds="f"),
    L1BVariable("quality_level", OBSERVATIONS, _CUBE, required=False, coord=False),
    L1BVariable(
        "delta_time", OBSERVATIONS, ("scanline",), required=False, coord=True, kinds="fiumM"
    ),
    L1BVariable("latitude", GEODATA, _SCAN_PIXEL, required=True, coord=True),
    L1BVariable("longitude", GEODATA, _SCAN_PIXEL, required=True, coord=True),
    L1BVariable("latitude_bounds", GEODATA, _BOUNDS, required=False, coord=True),
    L1BVariable("longitude_bounds", GEODATA, _BOUNDS, required=False, coord=True),
    L1BVariable(
        "nominal_wavelength",
        INSTRUMENT,
        ("ground_pixel", "spectral_channel"),
        required=True,
        coord=True,
    ),
)
#: Roles every L1B radiance Dataset must have (see :mod:`xr_s5sr.dims`).
_ROLES: tuple[Role, Role, Role] = ("scanline", "ground_pixel", "spectral_channel")

#: CF attributes that :func:`write_l1b` fills in when a variable lacks them.
CF_DEFAULTS: Mapping[str, Mapping[str, str]] = {
    RADIANCE: {"units": RADIANCE_UNITS, "long_name": "spectral photon radiance"},
    "radiance_noise": {"long_name": "noise of the spectral photon radiance"},
    "latitude": {
        "units": "degrees_north",
        "standard_name": "latitude",
        "long_name": "pixel centre latitude",
    },
    "longitude": {
        "units": "degrees_east",
        "standard_name": "longitude",
        "long_name": "pixel centre longitude",
    },
    "nominal_wavelength": {"units": "nm", "long_name": "nominal wavelength"},
}

_ENGINES = ("netcdf4", "h5netcdf")

#: What netCDF4, h5netcdf/h5py and xarray's CF decoding raise on damaged or non-conforming files
#: (HDF5 errors, conflicting dim sizes, undecodable time units, non-numeric scale_factor, ...).
_LIBRARY_ERRORS = (OSError, RuntimeError, ValueError, TypeError, LookupError)


# ---------------------------------------------------------------------------------- file names
def l1b_filename(
    band: int,
    start: datetime,
    end: datetime,
    orbit: int,
    stream: str = "OFFL",
    collection: str = "03",
    processor: str = "020400",
    production: datetime | None = None,
) -> str:
    """Official-style file name of an S5P L1B radiance product.

    ``S5P_<stream>_L1B_RA_BD<n>_<start>_<end>_<orbit>_<collection>_<processor>_<production>.nc``
    with times as ``YYYYMMDDTHHMMSS`` and a five-digit orbit number.

    Parameters
    ----------
    band : int
        S5P band 1–8.
    start, end : datetime.datetime
        Sensing start and end time (UTC).
    orbit : int
        Absolute orbit number.
    stream : str, default "OFFL"
        Processing stream ("OFFL", "NRTI", "RPRO").
    collection : str, default "03"
        Collection number.
    processor : str, default "020400"
        Processor version.
    production : datetime.datetime, optional
        Production time; defaults to ``end`` so that names are deterministic.

    Returns
    -------
    str
        The file name (no directory).

    Examples
    --------
    >>> from datetime import datetime
    >>> l1b_filename(7, datetime(2023, 1, 4, 0, 0), datetime(2023, 1, 4, 1, 40), 27123)
    'S5P_OFFL_L1B_RA_BD7_20230104T000000_20230104T014000_27123_03_020400_20230104T014000.nc'
    """
    number = get_band(band).number
    stamp = "%Y%m%dT%H%M%S"
    made = end if production is None else production
    return (
        f"S5P_{stream}_L1B_RA_BD{number}_{start.strftime(stamp)}_{end.strftime(stamp)}_"
        f"{orbit:05d}_{collection}_{processor}_{made.strftime(stamp)}.nc"
    )


# ---------------------------------------------------------------------------------- reading
def _resolve_engine(engine: str | None) -> str:
    if engine is None:
        return "netcdf4"
    if engine not in _ENGINES:
        raise ValueError(
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
    empty = [role for role in _ROLES if tidy.sizes[role] == 0]
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
    if isinstance(chunks, int):
        spec["scanline"] = chunks
    else:
        spec.update(chunks)
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
        raise FileNotFoundError(
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


# ---------------------------------------------------------------------------------- atomic writes
def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _exists_error(final: Path) -> OutputExistsError:
    return OutputExistsError(
        f"Output {final} already exists. Pass overwrite=True to replace it, or choose another path."
    )


def check_target(path: str | os.PathLike[str], overwrite: bool) -> Path:
    """``path`` as a Path; :class:`OutputExistsError` if it exists and ``overwrite`` is False.

    Writers call it before any computation so an existing output fails fast.
    """
    final = Path(path)
    if not overwrite and (final.exists() or final.is_symlink()):
        raise _exists_error(final)
    return final


def _reserve_temp(final: Path, directory: bool) -> Path:
    """Create an empty temporary file/directory next to ``final`` (same file system).

    Creating it up front proves the directory is writable before anything is computed.
    """
    temp = final.with_name(f".{final.name}.{uuid.uuid4().hex[:12]}.tmp")
    try:
        if directory:
            temp.mkdir()
        else:
            temp.open("xb").close()
    except OSError as err:
        raise OutputPathError(
            f"Cannot write {final}: creating a file in {final.parent} failed "
            f"({err.strerror or err}). Make sure the directory exists and is writable, "
            "or choose another path."
        ) from err
    return temp


def _commit(temp: Path, final: Path, overwrite: bool) -> None:
    """Move the finished ``temp`` to ``final``; the old target goes only once that worked."""
    if final.exists() or final.is_symlink():
        if not overwrite:  # appeared while we were writing
            raise _exists_error(final)
        if final.is_dir() or temp.is_dir():
            # rename() cannot replace a directory (or put one over a file): swap via a backup.
            backup = final.with_name(f".{final.name}.{uuid.uuid4().hex[:12]}.old")
            os.replace(final, backup)
            try:
                os.replace(temp, final)
            except BaseException:
                os.replace(backup, final)
                raise
            _remove(backup)
            return
    os.replace(temp, final)


@contextmanager
def _drained_threads() -> Iterator[None]:
    """Run dask's threaded scheduler in a private pool that is drained before leaving.

    When a task fails, dask raises at once while the other running tasks go on. A write task
    among them would re-create the deleted temporary output (netCDF4 mode "a" and Zarr stores
    both create missing files), so the cleanup must wait for them. Other schedulers, and a pool
    chosen by the user, are left alone.
    """
    import dask
    from dask.base import get_scheduler
    from dask.system import CPU_COUNT
    from dask.threaded import get as threaded_get

    if get_scheduler() not in (None, threaded_get) or dask.config.get("pool", None) is not None:
        yield
        return
    workers = dask.config.get("num_workers", None) or CPU_COUNT
    with ThreadPoolExecutor(workers) as pool, dask.config.set(pool=pool):
        yield  # leaving the executor waits for every task it still runs


@contextmanager
def atomic_output(
    path: str | os.PathLike[str], overwrite: bool, directory: bool = False
) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success move it onto ``path``, else delete it.

    The atomic-write policy of every writer of the package (netCDF, zarr, PNG): the target is
    either untouched or complete. ``directory=True`` reserves a directory (zarr stores).
    """
    final = check_target(path, overwrite)
    temp = _reserve_temp(final, directory)
    try:
        with _drained_threads():
            yield temp
        _commit(temp, final, overwrite)
    except BaseException:
        _remove(temp)
        raise


def _commit_after(_written: object, temp: Path, final: Path, overwrite: bool) -> Path:
    """Delayed tail of ``to_netcdf(compute=False)``: runs once the data are written."""
    try:
        _commit(temp, final, overwrite)
    except BaseException:
        _remove(temp)
        raise
    return final


def _fresh_encoding(ds: xr.Dataset) -> xr.Dataset:
    """Shallow copy of ``ds`` without stale ``encoding`` (chunks, compression, dtype, fill)."""
    out = ds.copy(deep=False)
    for variable in out.variables.values():
        variable.encoding = {}
    out.encoding = {}
    return out


def _uniform_chunks(ds: xr.Dataset) -> xr.Dataset:
    """Rechunk dask variables whose chunks Zarr cannot store (uneven except the last)."""
    out = ds
    for name, variable in ds.variables.items():
        if variable.chunks is None:
            continue
        target = {
            dim: max(sizes)
            for dim, sizes in zip(variable.dims, variable.chunks, strict=True)
            if len(set(sizes[:-1])) > 1 or sizes[-1] > sizes[0]
        }
        if target:
            out = out.copy() if out is ds else out
            out[name] = ds[name].chunk(target)
    return out


@overload
def to_netcdf(
    ds: xr.Dataset,
    path: str | os.PathLike[str],
    *,
    overwrite: bool = ...,
    compute: Literal[True] = ...,
    **kwargs: Any,
) -> Path: ...


@overload
def to_netcdf(
    ds: xr.Dataset,
    path: str | os.PathLike[str],
    *,
    overwrite: bool = ...,
    compute: Literal[False],
    **kwargs: Any,
) -> Delayed: ...


def to_netcdf(
    ds: xr.Dataset,
    path: str | os.PathLike[str],
    *,
    overwrite: bool = False,
    compute: bool = True,
    **kwargs: Any,
) -> Path | Delayed:
    """Write ``ds`` to a netCDF file atomically.

    The data go to a hidden temporary file in the target directory, which is renamed to
    ``path`` only when complete; a failed write leaves no file at ``path``. Stale
    ``encoding`` (chunk sizes, compression, packing dtype, fill values of the source file) is
    dropped first so that the results of resizing operations write without errors.

    Parameters
    ----------
    ds : xarray.Dataset
        Data to write (not modified).
    path : str or os.PathLike
        Target file.
    overwrite : bool, default False
        Replace an existing ``path``.
    compute : bool, default True
        If False, return a :class:`dask.delayed.Delayed` that writes the data and renames
        the file when computed (its result is the final path). If that computation fails,
        the hidden temporary file may remain next to the target.
    **kwargs
        Passed to :meth:`xarray.Dataset.to_netcdf` (e.g. ``encoding``, ``engine``,
        ``format``); ``mode`` is always ``"w"``.

    Returns
    -------
    pathlib.Path or dask.delayed.Delayed
        The written path, or the delayed write when ``compute=False``.

    Raises
    ------
    OutputExistsError
        If ``path`` exists and ``overwrite`` is False.
    OutputPathError
        If the target directory does not exist or is not writable (checked before computing).

    Examples
    --------
    >>> import tempfile, numpy as np
    >>> ds = xr.Dataset({"a": ("x", np.arange(3.0))})
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     to_netcdf(ds, f"{tmp}/a.nc").name
    'a.nc'
    """
    final = check_target(path, overwrite)
    temp = _reserve_temp(final, directory=False)
    try:
        with _drained_threads():
            written = _fresh_encoding(ds).to_netcdf(temp, mode="w", compute=compute, **kwargs)
        if compute:
            _commit(temp, final, overwrite)
            return final
    except BaseException:
        _remove(temp)
        raise
    import dask

    return dask.delayed(_commit_after)(written, temp, final, overwrite)


def to_zarr(
    ds: xr.Dataset, path: str | os.PathLike[str], *, overwrite: bool = False, **kwargs: Any
) -> Path:
    """Write ``ds`` to a Zarr store atomically.

    The store is written into a hidden temporary directory next to ``path`` and renamed when
    complete; with ``overwrite=True`` an existing store is removed only after the new one is
    in place. Stale ``encoding`` is dropped and uneven dask chunks are made regular (Zarr
    needs equal chunks except the last).

    Parameters
    ----------
    ds : xarray.Dataset
        Data to write (not modified).
    path : str or os.PathLike
        Target store directory.
    overwrite : bool, default False
        Replace an existing ``path``.
    **kwargs
        Passed to :meth:`xarray.Dataset.to_zarr` (e.g. ``encoding``, ``consolidated``,
        ``zarr_format``); ``mode`` is always ``"w"`` and the data are always computed.
        ``zarr_format`` defaults to 2: its consolidated metadata are part of that format, so
        the store opens quickly with any Zarr reader (with format 3 they are an extension and
        zarr-python warns on every write). Pass ``zarr_format=3`` for a version-3 store.

    Returns
    -------
    pathlib.Path
        The written store.

    Raises
    ------
    OutputExistsError
        If ``path`` exists and ``overwrite`` is False.
    OutputPathError
        If the target directory does not exist or is not writable (checked before computing).
    """
    with atomic_output(path, overwrite, directory=True) as temp:
        kwargs.setdefault("zarr_format", 2)
        _uniform_chunks(_fresh_encoding(ds)).to_zarr(temp, mode="w", **kwargs)
    return Path(path)


# ---------------------------------------------------------------------------------- L1B writing
def _file_variable(variable: xr.Variable, name: Hashable) -> xr.Variable:
    """L1B on-disk form of a tidy variable: leading ``time`` axis, CF attributes completed."""
    attrs = dict(variable.attrs)
    for key, value in CF_DEFAULTS.get(str(name), {}).items():
        attrs.setdefault(key, value)
    return xr.Variable(("time", *variable.dims), variable.data[None], attrs)


def _l1b_encoding(variable: xr.Variable, index: bool = False) -> dict[str, Any]:
    """netCDF encoding: L1B fill for floats, none for integers and indices, zlib for arrays."""
    kind = variable.dtype.kind
    encoding: dict[str, Any] = {}
    if kind == "f":
        encoding["_FillValue"] = None if index else variable.dtype.type(FILL_VALUE)
    elif kind in "iub":
        encoding["_FillValue"] = None
    if kind in "fiub" and variable.ndim >= 2:
        encoding.update(zlib=True, complevel=4)
    return encoding


def _l1b_groups(ds: xr.Dataset, number: int) -> dict[str, xr.Dataset]:
    """Split a tidy Dataset into the Datasets of the L1B groups, keyed by group path."""
    dims = require_dims(ds, _ROLES)
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
    (see :func:`to_netcdf`) and ``open_l1b(write_l1b(ds, p))`` reproduces ``ds``.

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
    "FILL_VALUE",
    "LAYOUT",
    "RADIANCE_UNITS",
    "L1BVariable",
    "atomic_output",
    "check_target",
    "l1b_filename",
    "open_l1b",
    "to_netcdf",
    "to_zarr",
    "write_l1b",
]
