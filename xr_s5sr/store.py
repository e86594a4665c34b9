"""Writing files safely: netCDF/Zarr writers and the package's one atomic-file helper.

Boundary: this module turns an in-memory :class:`xarray.Dataset` or :class:`xarray.DataArray`
into a file or store, and owns the atomic-write policy of every file the package writes
(netCDF, Zarr, L1B files of :mod:`xr_s5sr.l1b`, weights and registries of
:mod:`xr_s5sr.weights`, training checkpoints and model cards of :mod:`xr_s5sr.train`, PNGs of
:mod:`xr_s5sr.quicklook`): the output goes to a hidden temporary file next to the target, which
is renamed onto the target only when complete. It knows nothing about the L1B group layout
(see :mod:`xr_s5sr.l1b`), does no numerics, never imports torch, and imports zarr only when a
Zarr store is written.

Default storage of :func:`to_netcdf` and :func:`to_zarr`:

* compression on (``compress=True``): netCDF4/HDF5 zlib level 4 with byte shuffle; Zarr Blosc
  zstd level 5 with byte shuffle (:class:`numcodecs.Blosc` for format-2 stores,
  :class:`zarr.codecs.BloscCodec` for format 3). ``compress=False`` stores raw bytes.
* on-disk chunks equal to the dask chunks of each dask-backed variable (one dask block = one
  file chunk); numpy-backed variables use the library's default chunking.
* stale ``encoding`` of the input (chunk sizes, compression, packing, fill values of a source
  file) dropped first, so resized results write without errors; user ``encoding=`` wins.
* a lazy plausibility report of a super-resolved Dataset is computed with the data, in one
  graph, and its numbers are added as attributes (:func:`xr_s5sr.plausibility.record_report`).
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Hashable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, overload

import xarray as xr

from xr_s5sr.dims import RADIANCE
from xr_s5sr.errors import (
    InputDataError,
    MissingDependencyError,
    OutputExistsError,
    OutputPathError,
    S5SRArgumentError,
    S5SRTypeError,
)
from xr_s5sr.plausibility import record_report

if TYPE_CHECKING:
    from dask.delayed import Delayed

#: Name of an unnamed DataArray written by :func:`to_netcdf` / :func:`to_zarr`.
DEFAULT_NAME = RADIANCE

#: netCDF4/HDF5 compression of :func:`to_netcdf` (and of :func:`xr_s5sr.l1b.write_l1b`).
NETCDF_COMPRESSION: Mapping[str, Any] = {"zlib": True, "complevel": 4, "shuffle": True}

#: Blosc settings of :func:`to_zarr`: zstd, level 5 (Blosc's default level), byte shuffle.
ZARR_BLOSC: Mapping[str, Any] = {"cname": "zstd", "clevel": 5, "shuffle": "shuffle"}

#: Suffix that selects the Zarr writer in :func:`is_zarr_path` (compared case-insensitively).
ZARR_SUFFIX = ".zarr"
#: Suffixes of netCDF-4 outputs that the command line accepts (compared case-insensitively).
NETCDF_SUFFIXES = (".nc", ".nc4", ".netcdf")

#: dtype kinds that netCDF4 can compress (numbers, booleans, and datetimes encoded as numbers).
_COMPRESSIBLE_KINDS = "fiubmM"
#: ``format=`` values of :meth:`xarray.Dataset.to_netcdf` that are HDF5 (compression, chunks).
_HDF5_FORMATS = (None, "NETCDF4", "NETCDF4_CLASSIC")
#: ``engine=`` values of :meth:`xarray.Dataset.to_netcdf` that write HDF5.
_HDF5_ENGINES = (None, "netcdf4", "h5netcdf")


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


#: Process umask, read once at import (os.umask can only be read by setting it).
UMASK = _current_umask()
#: Mode of every file written through :func:`atomic_output`, like a file the user creates
#: (some libraries, e.g. safetensors, would create it 0600).
FILE_MODE = 0o666 & ~UMASK


# ---------------------------------------------------------------------------------- atomic files
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
    """Return ``path`` as a Path, refusing an existing target unless ``overwrite``.

    Writers call it before any computation so that an existing output fails fast.

    Parameters
    ----------
    path : str or os.PathLike
        Target file or directory.
    overwrite : bool
        Whether an existing ``path`` may be replaced.

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    OutputExistsError
        If ``path`` exists (or is a dangling symlink) and ``overwrite`` is False.
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
        parent = final.parent
        reason = (
            f"{parent} does not exist or is not a directory"
            if not parent.is_dir()
            else (err.strerror or str(err))
        )
        raise OutputPathError(
            f"Cannot write {final}: creating a file in {parent} failed ({reason}). Make sure "
            "the directory exists and is writable, or choose another path."
        ) from err
    return temp


def _commit(temp: Path, final: Path, overwrite: bool) -> None:
    """Move the finished ``temp`` to ``final``; the old target goes only once that worked."""
    if temp.is_file() and not temp.is_symlink():
        os.chmod(temp, FILE_MODE)
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
    path: str | os.PathLike[str],
    overwrite: bool = False,
    directory: bool = False,
    *,
    wait_for_dask: bool = True,
) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success move it onto ``path``, else delete it.

    The one atomic-write policy of the package: every writer (netCDF, Zarr, L1B, weights,
    registries, checkpoints, model cards, PNGs) writes into the yielded path, and the target is
    either untouched or complete. The temporary ``.<name>.<hex>.tmp`` is created before the
    block runs (so an unwritable directory fails before any computation), lives in the target's
    directory (so the final :func:`os.replace` is atomic), and is removed when the block raises
    (any exception, including ``KeyboardInterrupt``). A file gets mode ``0o666 & ~umask``.

    Parameters
    ----------
    path : str or os.PathLike
        Target file, or target directory when ``directory=True``.
    overwrite : bool, default False
        Replace an existing ``path`` (only after the new one is complete). If False, an
        existing ``path`` raises before the block runs, and a ``path`` created by someone else
        while the block ran is not clobbered.
    directory : bool, default False
        Reserve a directory instead of a file (Zarr stores). A directory may replace a file
        and vice versa.
    wait_for_dask : bool, default True
        Run dask's threaded scheduler in a private pool that is drained before cleaning up, so
        that tasks still running after a failure cannot re-create the removed temporary output.
        Pass False for writers that run no dask computation (PNGs, checkpoints, weights).

    Yields
    ------
    pathlib.Path
        The temporary path to write (an empty file, or an empty directory).

    Raises
    ------
    OutputExistsError
        If ``path`` exists and ``overwrite`` is False (before the block, or at the rename).
    OutputPathError
        If the directory of ``path`` is missing or not writable (before the block).

    Examples
    --------
    >>> import tempfile
    >>> target = Path(tempfile.mkdtemp()) / "notes.txt"
    >>> with atomic_output(target, wait_for_dask=False) as temp:
    ...     _ = temp.write_text("complete")
    >>> target.read_text(), sorted(p.name for p in target.parent.iterdir())
    ('complete', ['notes.txt'])
    """
    final = check_target(path, overwrite)
    temp = _reserve_temp(final, directory)
    try:
        if wait_for_dask:
            with _drained_threads():
                yield temp
        else:
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


# ---------------------------------------------------------------------------------- preparing
def is_zarr_path(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` names a Zarr store by its suffix: ``.zarr``, in any case.

    The writers of the command line pick :func:`to_zarr` or :func:`to_netcdf` with it.

    Parameters
    ----------
    path : str or os.PathLike
        Output or input path (need not exist; a trailing slash is ignored).

    Returns
    -------
    bool
        True for ``out.zarr``, ``OUT.ZARR`` and ``out.zarr/``.

    Examples
    --------
    >>> is_zarr_path("sr.zarr"), is_zarr_path("sr.zarr/"), is_zarr_path("sr.nc")
    (True, True, False)
    """
    return Path(path).suffix.lower() == ZARR_SUFFIX


def as_dataset(obj: xr.Dataset | xr.DataArray) -> xr.Dataset:
    """``obj`` as a Dataset: a DataArray becomes a one-variable Dataset named after it.

    Parameters
    ----------
    obj : xarray.Dataset or xarray.DataArray
        Data to write. A DataArray keeps its dims, coords and attrs (as the variable's
        attrs; the Dataset gets no global attrs); an unnamed one is named
        :data:`DEFAULT_NAME` (``"radiance"``). Not modified.

    Returns
    -------
    xarray.Dataset
        ``obj`` itself for a Dataset.

    Raises
    ------
    S5SRTypeError
        If ``obj`` is neither a Dataset nor a DataArray.
    InputDataError
        If the DataArray's name is also the name of one of its coordinates.

    Examples
    --------
    >>> import numpy as np
    >>> list(as_dataset(xr.DataArray(np.zeros(3), dims="x")).data_vars)
    ['radiance']
    """
    if isinstance(obj, xr.Dataset):
        return obj
    if not isinstance(obj, xr.DataArray):
        raise S5SRTypeError(
            f"Expected an xarray.Dataset or xarray.DataArray to write, got "
            f"{type(obj).__name__}. Wrap numpy arrays first, e.g. xr.DataArray(values, dims=...)."
        )
    name = DEFAULT_NAME if obj.name is None else obj.name
    if name in obj.coords:
        raise InputDataError(
            f"Cannot write the DataArray named {name!r}: it has a coordinate of the same name "
            f"(coordinates: {sorted(map(str, obj.coords))}). Rename it first, e.g. "
            f"da.rename('{name}_values')."
        )
    return obj.to_dataset(name=name, promote_attrs=False)


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


def _merge_encoding(
    ours: dict[Hashable, dict[str, Any]], user: Mapping[Hashable, Mapping[str, Any]] | None
) -> dict[Hashable, dict[str, Any]]:
    """Per-variable encoding: ours, updated key by key with the user's ``encoding=``."""
    merged = {name: dict(settings) for name, settings in ours.items()}
    for name, settings in (user or {}).items():
        merged[name] = {**merged.get(name, {}), **settings}
    return merged


def netcdf_variable_encoding(variable: xr.Variable, *, compress: bool = True) -> dict[str, Any]:
    """netCDF4/HDF5 storage encoding of one variable: chunks and compression.

    Parameters
    ----------
    variable : xarray.Variable
        Variable to be written (any dims).
    compress : bool, default True
        Add :data:`NETCDF_COMPRESSION` (zlib level 4 + shuffle) for numeric, boolean and
        datetime dtypes.

    Returns
    -------
    dict
        ``chunksizes`` (the largest dask chunk along each dim, for dask-backed variables
        without empty dims) and the compression keys; empty for scalars.

    Examples
    --------
    >>> import dask.array as da
    >>> v = xr.Variable(("y", "x"), da.zeros((8, 6), chunks=(4, 6), dtype="f4"))
    >>> sorted(netcdf_variable_encoding(v).items())
    [('chunksizes', (4, 6)), ('complevel', 4), ('shuffle', True), ('zlib', True)]
    """
    encoding: dict[str, Any] = {}
    if variable.ndim == 0:
        return encoding
    if variable.chunks is not None and all(variable.shape):
        encoding["chunksizes"] = tuple(max(sizes) for sizes in variable.chunks)
    if compress and variable.dtype.kind in _COMPRESSIBLE_KINDS:
        encoding.update(NETCDF_COMPRESSION)
    return encoding


def _zarr_compression(compress: bool, zarr_format: int | None) -> dict[str, Any]:
    """Compressor encoding for the installed zarr-python (2: ``compressor``, 3: ``compressors``)."""
    zarr = _import_zarr()

    major = int(zarr.__version__.split(".")[0])
    if major < 3:
        from numcodecs import Blosc

        blosc = Blosc(cname=ZARR_BLOSC["cname"], clevel=ZARR_BLOSC["clevel"], shuffle=Blosc.SHUFFLE)
        return {"compressor": blosc if compress else None}
    if not compress:
        return {"compressors": None}
    if zarr_format == 3:
        from zarr.codecs import BloscCodec

        return {"compressors": (BloscCodec(**ZARR_BLOSC),)}
    from numcodecs import Blosc

    return {
        "compressors": (
            Blosc(cname=ZARR_BLOSC["cname"], clevel=ZARR_BLOSC["clevel"], shuffle=Blosc.SHUFFLE),
        )
    }


def check_netcdf_path(path: str | os.PathLike[str]) -> Path:
    """``path`` as a Path, refusing a name that does not say netCDF.

    A file named ``x.txt`` or ``x.zarr`` holding netCDF-4 would mislead every later reader
    (and the command line, which picks the format by suffix).

    Parameters
    ----------
    path : str or os.PathLike
        Target file.

    Returns
    -------
    pathlib.Path
        ``path``, its suffix checked.

    Raises
    ------
    S5SRArgumentError
        If the suffix (any case) is not one of :data:`NETCDF_SUFFIXES`.

    Examples
    --------
    >>> check_netcdf_path("sr.NC").name
    'sr.NC'
    """
    final = Path(path)
    suffix = final.suffix.lower()
    if suffix not in NETCDF_SUFFIXES:
        hint = " For a Zarr store use to_zarr." if suffix == ZARR_SUFFIX else ""
        raise S5SRArgumentError(
            f"to_netcdf writes netCDF-4 files, but {final.name!r} has the suffix "
            f"{suffix or '(none)'!r}. Name the file with one of {', '.join(NETCDF_SUFFIXES)} "
            f"(e.g. {final.with_suffix('.nc').name!r}).{hint}"
        )
    return final


def _import_zarr() -> Any:
    """The zarr module, or a :class:`MissingDependencyError` that says how to install it."""
    try:
        import zarr
    except ImportError as err:
        raise MissingDependencyError(
            "Writing a Zarr store needs the optional package zarr, which is not installed "
            f"({err}). Install it with: pip install zarr (or pip install 'xr_s5sr[zarr]'), "
            "or write netCDF instead with to_netcdf(obj, 'out.nc')."
        ) from err
    return zarr


# ---------------------------------------------------------------------------------- writers
@overload
def to_netcdf(
    obj: xr.Dataset | xr.DataArray,
    path: str | os.PathLike[str],
    *,
    overwrite: bool = ...,
    compress: bool = ...,
    compute: Literal[True] = ...,
    lr: xr.Dataset | None = ...,
    **kwargs: Any,
) -> Path: ...


@overload
def to_netcdf(
    obj: xr.Dataset | xr.DataArray,
    path: str | os.PathLike[str],
    *,
    compute: Literal[False],
    overwrite: bool = ...,
    compress: bool = ...,
    lr: xr.Dataset | None = ...,
    **kwargs: Any,
) -> Delayed: ...


def to_netcdf(
    obj: xr.Dataset | xr.DataArray,
    path: str | os.PathLike[str],
    *,
    overwrite: bool = False,
    compress: bool = True,
    compute: bool = True,
    lr: xr.Dataset | None = None,
    **kwargs: Any,
) -> Path | Delayed:
    """Write a Dataset or DataArray to a compressed netCDF4 file, atomically.

    The data go to a hidden temporary file in the target directory, which is renamed to
    ``path`` only when complete; a failed write leaves no file at ``path`` and an existing
    ``path`` untouched. Stale ``encoding`` is dropped first; each variable is then stored
    with the file chunks equal to its dask chunks and, by default, compressed (zlib level 4
    with shuffle, lossless).

    Parameters
    ----------
    obj : xarray.Dataset or xarray.DataArray
        Data to write (not modified). A DataArray is written as a one-variable Dataset named
        after it (``"radiance"`` when unnamed); read it back with
        :func:`xarray.open_dataarray`.
    path : str or os.PathLike
        Target file, named ``*.nc``, ``*.nc4`` or ``*.netcdf`` (any case).
    overwrite : bool, default False
        Replace an existing ``path``.
    compress : bool, default True
        zlib level 4 + shuffle on every numeric variable of one or more dims. False: no
        compression. Ignored for netCDF3 formats and ``engine="scipy"``, which cannot compress.
    compute : bool, default True
        If False, return a :class:`dask.delayed.Delayed` that writes the data and renames
        the file when computed (its result is the final path). If that computation fails,
        the hidden temporary file may remain next to the target.
    lr : xarray.Dataset, optional
        The LR input of a lazy super-resolved ``obj``: the report's two sums over the HR
        values (``s5sr_negative_fraction``, ``s5sr_chi2``) are then computed from the written
        file, before it is renamed, and added to its attributes
        (:func:`xr_s5sr.plausibility.hr_report`). Ignored with ``compute=False``.
    **kwargs
        Passed to :meth:`xarray.Dataset.to_netcdf` (e.g. ``engine``, ``format``);
        ``encoding`` entries are merged over the defaults, variable by variable and key by
        key; ``mode`` is always ``"w"``.

    Returns
    -------
    pathlib.Path or dask.delayed.Delayed
        The written path, or the delayed write when ``compute=False``.

    Raises
    ------
    S5SRArgumentError
        If ``path`` does not end in a netCDF suffix (:data:`NETCDF_SUFFIXES`).
    OutputExistsError
        If ``path`` exists and ``overwrite`` is False.
    OutputPathError
        If the target directory does not exist or is not writable (checked before computing).
    S5SRTypeError
        If ``obj`` is neither a Dataset nor a DataArray.
    InputDataError
        If a DataArray has a coordinate with its own name.

    Examples
    --------
    >>> import tempfile, numpy as np
    >>> da = xr.DataArray(np.arange(3.0), dims="x", name="a")
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = to_netcdf(da, f"{tmp}/a.nc")
    ...     with xr.open_dataarray(path) as back:
    ...         (path.name, back.name, back.values.tolist(), back.encoding["zlib"])
    ('a.nc', 'a', [0.0, 1.0, 2.0], True)
    """
    ds = _fresh_encoding(as_dataset(obj))
    ours: dict[Hashable, dict[str, Any]] = {}
    if kwargs.get("engine") in _HDF5_ENGINES and kwargs.get("format") in _HDF5_FORMATS:
        ours = {
            name: netcdf_variable_encoding(variable, compress=compress)
            for name, variable in ds.variables.items()
        }
    encoding = _merge_encoding(ours, kwargs.pop("encoding", None))
    final = check_target(check_netcdf_path(path), overwrite)
    temp = _reserve_temp(final, directory=False)

    def write(now: bool) -> Any:
        return ds.to_netcdf(temp, mode="w", compute=now, encoding=encoding, **kwargs)

    try:
        with _drained_threads():
            if compute:  # report: per-window numbers with the data, HR sums from the file
                add = lambda attrs: xr.Dataset(attrs=attrs).to_netcdf(temp, mode="a", **kwargs)  # noqa: E731
                reopen = lambda: xr.open_dataset(temp, chunks={})  # noqa: E731
                record_report(ds, write, add, lr=lr, reopen=reopen)
                _commit(temp, final, overwrite)
                return final
            written = write(False)
    except BaseException:
        _remove(temp)
        raise
    import dask

    return dask.delayed(_commit_after)(written, temp, final, overwrite)


def to_zarr(
    obj: xr.Dataset | xr.DataArray,
    path: str | os.PathLike[str],
    *,
    overwrite: bool = False,
    compress: bool = True,
    lr: xr.Dataset | None = None,
    **kwargs: Any,
) -> Path:
    """Write a Dataset or DataArray to a compressed Zarr store, atomically.

    The store is written into a hidden temporary directory next to ``path`` and renamed when
    complete; with ``overwrite=True`` an existing store (or file) is removed only after the new
    one is in place. Stale ``encoding`` is dropped, uneven dask chunks are made regular (Zarr
    needs equal chunks except the last), and each variable is stored with the Zarr chunks
    equal to its dask chunks and, by default, Blosc zstd compression with shuffle.

    Parameters
    ----------
    obj : xarray.Dataset or xarray.DataArray
        Data to write (not modified). A DataArray is written as a one-variable Dataset named
        after it (``"radiance"`` when unnamed); read it back with
        ``xr.open_zarr(path)[name]``.
    path : str or os.PathLike
        Target store directory.
    overwrite : bool, default False
        Replace an existing ``path``.
    compress : bool, default True
        Blosc zstd level 5 with byte shuffle on every variable (:class:`numcodecs.Blosc` in
        format-2 stores, :class:`zarr.codecs.BloscCodec` in format 3). False: no compressor.
    lr : xarray.Dataset, optional
        As for :func:`to_netcdf`: the report's HR sums, read back from the written store.
    **kwargs
        Passed to :meth:`xarray.Dataset.to_zarr` (e.g. ``consolidated``, ``zarr_format``);
        ``encoding`` entries are merged over the defaults, variable by variable and key by
        key; ``mode`` is always ``"w"`` and the data are always computed. ``zarr_format``
        defaults to 2: its consolidated metadata are part of that format, so the store opens
        quickly with any Zarr reader (with format 3 they are an extension and zarr-python
        warns on every write). Pass ``zarr_format=3`` for a version-3 store.

    Returns
    -------
    pathlib.Path
        The written store.

    Raises
    ------
    MissingDependencyError
        If zarr is not installed (``pip install zarr`` or the ``zarr`` extra).
    OutputExistsError, OutputPathError, S5SRTypeError, InputDataError
        As for :func:`to_netcdf`.
    """
    ds = _uniform_chunks(_fresh_encoding(as_dataset(obj)))
    kwargs.setdefault("zarr_format", 2)
    compression = _zarr_compression(compress, kwargs["zarr_format"])
    ours: dict[Hashable, dict[str, Any]] = {}
    for name, variable in ds.variables.items():
        ours[name] = dict(compression)
        if variable.chunks is not None:
            ours[name]["chunks"] = tuple(max(sizes[0], 1) for sizes in variable.chunks)
    encoding = _merge_encoding(ours, kwargs.pop("encoding", None))
    with atomic_output(path, overwrite, directory=True) as temp:
        write: Any = ds.to_zarr  # compute=bool matches no single overload
        record_report(  # Zarr replaces the group's attributes: write them all
            ds,
            lambda now: write(temp, mode="w", encoding=encoding, compute=now, **kwargs),
            lambda new: xr.Dataset(attrs={**ds.attrs, **new}).to_zarr(temp, mode="a", **kwargs),
            lr=lr,
            reopen=lambda: xr.open_zarr(temp, chunks={}),
        )
    return Path(path)


__all__ = [
    "DEFAULT_NAME",
    "FILE_MODE",
    "NETCDF_COMPRESSION",
    "UMASK",
    "ZARR_BLOSC",
    "ZARR_SUFFIX",
    "as_dataset",
    "atomic_output",
    "check_netcdf_path",
    "check_target",
    "is_zarr_path",
    "netcdf_variable_encoding",
    "to_netcdf",
    "to_zarr",
]
