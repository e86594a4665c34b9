"""The package's one atomic-file helper: every file it writes (netCDF, Zarr, L1B files of
:mod:`xr_s5sr.l1b`, weights and registries of :mod:`xr_s5sr.weights`, training checkpoints and
model cards of :mod:`xr_s5sr.train`, PNGs of :mod:`xr_s5sr.quicklook`) goes to a hidden
temporary file or directory next to the target, which is renamed onto the target only when
complete (:func:`atomic_output`). An existing target is refused before anything is computed
unless ``overwrite``; a failed write leaves the target untouched and no temporary behind.

Boundary: paths and file-system operations only (no xarray, no numerics); the netCDF/Zarr
writers of :mod:`xr_s5sr.store` use the pieces (:func:`reserve_temp`, :func:`commit`,
:func:`commit_after`) to commit a deferred (``compute=False``) write.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

from xr_s5sr.errors import OutputExistsError, OutputPathError


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


#: Process umask, read once at import (os.umask can only be read by setting it).
UMASK = _current_umask()
#: Mode of every file written through :func:`atomic_output`, like a file the user creates
#: (some libraries, e.g. safetensors, would create it 0600).
FILE_MODE = 0o666 & ~UMASK


def remove_output(path: Path) -> None:
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


def reserve_temp(final: Path, directory: bool) -> Path:
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


def commit(temp: Path, final: Path, overwrite: bool) -> None:
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
            remove_output(backup)
            return
    os.replace(temp, final)


@contextmanager
def drained_threads() -> Iterator[None]:
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
    temp = reserve_temp(final, directory)
    try:
        if wait_for_dask:
            with drained_threads():
                yield temp
        else:
            yield temp
        commit(temp, final, overwrite)
    except BaseException:
        remove_output(temp)
        raise


def commit_after(_written: object, temp: Path, final: Path, overwrite: bool) -> Path:
    """Delayed tail of ``to_netcdf(compute=False)``: runs once the data are written."""
    try:
        commit(temp, final, overwrite)
    except BaseException:
        remove_output(temp)
        raise
    return final


__all__ = [
    "FILE_MODE",
    "UMASK",
    "atomic_output",
    "check_target",
    "commit",
    "commit_after",
    "drained_threads",
    "remove_output",
    "reserve_temp",
]
