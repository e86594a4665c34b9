"""Tests of xr_s5sr.store: the atomic-file helper, netCDF/Zarr writers, DataArrays, compression.

Every writer of the package (write_l1b too) is checked against the same atomic-write policy.
"""

from __future__ import annotations

import json
import os
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import dask
import dask.array as da
import netCDF4
import numpy as np
import pytest
import xarray as xr
from conftest import flagged_granule, raise_if_dask_computes
from dask.delayed import Delayed

import xr_s5sr
from xr_s5sr import errors, store
from xr_s5sr.atomic import FILE_MODE, UMASK, atomic_output
from xr_s5sr.errors import (
    InputDataError,
    MissingDependencyError,
    OutputExistsError,
    OutputPathError,
    S5SRArgumentError,
)
from xr_s5sr.l1b import write_l1b
from xr_s5sr.store import (
    as_dataset,
    is_zarr_path,
    netcdf_variable_encoding,
    to_netcdf,
    to_zarr,
)
from xr_s5sr.synthetic import make_granule


def _size(path: Path) -> int:
    """Bytes of a file, or of every file of a directory (Zarr store)."""
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _listing(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


# ---------------------------------------------------------------------------------- all writers
def _failing(ds: xr.Dataset) -> xr.Dataset:
    """Copy whose radiance raises when computed (a write that fails midway)."""

    def boom(block: np.ndarray) -> np.ndarray:
        raise RuntimeError("boom")

    data = da.from_array(ds.radiance.values, chunks=4).map_blocks(boom, dtype=np.float32)
    return ds.assign(radiance=ds.radiance.copy(data=data))


@pytest.mark.parametrize("writer", ["write_l1b", "to_netcdf", "to_zarr"])
def test_atomic_writers(tmp_path: Path, writer: str) -> None:
    write = {"write_l1b": write_l1b, "to_netcdf": to_netcdf, "to_zarr": to_zarr}[writer]
    read = xr.open_zarr if writer == "to_zarr" else xr.open_dataset
    ds = flagged_granule(7)
    target = tmp_path / "out.nc"  # to_netcdf needs a netCDF name; the others take any
    assert write(ds, target) == target
    first = sorted(p.name for p in tmp_path.iterdir())
    assert first == ["out.nc"]
    with pytest.raises(OutputExistsError, match=r"out.nc already exists\. Pass overwrite=True"):
        write(ds, target)
    # A failing write leaves the old output untouched and no temporary file behind.
    with pytest.raises(RuntimeError, match="boom"):
        write(_failing(ds), target, overwrite=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == first
    # Overwriting works, also across kinds (file <-> directory).
    changed = ds.assign_attrs(title="second")
    write(changed, target, overwrite=True)
    if writer == "to_zarr":
        to_netcdf(ds, target, overwrite=True)
        assert target.is_file()
        write(changed, target, overwrite=True)
    with read(target) as back:
        assert back.attrs["title"] == "second"
    assert sorted(p.name for p in tmp_path.iterdir()) == first
    # A failing first write leaves nothing at all.
    with pytest.raises(RuntimeError, match="boom"):
        write(_failing(ds), tmp_path / "new.nc")
    assert sorted(p.name for p in tmp_path.iterdir()) == first


@pytest.mark.parametrize("writer", [write_l1b, to_netcdf, to_zarr])
def test_unwritable_target_fails_before_computing(
    tmp_path: Path, writer: Callable[..., object]
) -> None:
    lazy = flagged_granule(7, chunks=4)
    (tmp_path / "a_file").write_text("x")
    for bad in (tmp_path / "missing" / "out.nc", tmp_path / "a_file" / "out.nc"):
        with raise_if_dask_computes(), pytest.raises(OutputPathError, match="Cannot write"):
            writer(lazy, bad)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file"]


def test_to_netcdf_resets_stale_encoding(tmp_path: Path) -> None:
    ds = xr.Dataset({"a": ("x", np.linspace(0.0, 1.0, 7, dtype=np.float32))})
    ds["a"].encoding = {"dtype": "int16", "scale_factor": 0.1, "_FillValue": -1}
    ds.to_netcdf(tmp_path / "xr.nc")
    with xr.open_dataset(tmp_path / "xr.nc") as packed:  # plain xarray keeps the stale packing
        assert not np.array_equal(packed.a.values, ds.a.values)
    with xr.open_dataset(to_netcdf(ds, tmp_path / "ours.nc")) as back:
        np.testing.assert_array_equal(back.a.values, ds.a.values)
        assert back.a.dtype == np.float32
    assert ds["a"].encoding["dtype"] == "int16"  # input untouched


def test_to_netcdf_compute_false(tmp_path: Path) -> None:
    ds = flagged_granule(7, chunks=4)
    target = tmp_path / "out.nc"
    with raise_if_dask_computes():
        delayed = to_netcdf(ds, target, compute=False)
    assert isinstance(delayed, Delayed)
    assert not target.exists()
    assert delayed.compute() == target
    assert [p.name for p in tmp_path.iterdir()] == ["out.nc"]
    with xr.open_dataset(target) as back:
        xr.testing.assert_identical(back.radiance, ds.radiance.compute())


def test_target_created_during_write_is_not_clobbered(tmp_path: Path) -> None:
    target = tmp_path / "out.nc"
    delayed = to_netcdf(flagged_granule(7, chunks=4), target, compute=False)
    target.write_text("written by someone else meanwhile")
    with pytest.raises(OutputExistsError, match="Pass overwrite=True"):
        delayed.compute()
    assert target.read_text() == "written by someone else meanwhile"
    assert [p.name for p in tmp_path.iterdir()] == ["out.nc"]


def test_to_zarr_uneven_chunks_and_stale_encoding(tmp_path: Path) -> None:
    ds = flagged_granule(7).chunk({"scanline": (3, 4, 5)})
    ds["radiance"].encoding = {"chunks": (5, 6, 4)}
    with pytest.raises(ValueError, match="chunk"):  # plain xarray cannot store this
        ds.to_zarr(tmp_path / "plain.zarr", mode="w")
    path = to_zarr(ds, tmp_path / "ours.zarr")
    with xr.open_zarr(path) as back:
        xr.testing.assert_identical(back.compute(), ds.compute())
    assert ds["radiance"].encoding == {"chunks": (5, 6, 4)}
    assert ds.radiance.chunks == ((3, 4, 5), (6,), (4,))


@pytest.mark.parametrize("zarr_format", [None, 3])
def test_to_zarr_format_and_no_warnings(tmp_path: Path, zarr_format: int | None) -> None:
    ds = flagged_granule(7)
    kwargs = {} if zarr_format is None else {"zarr_format": zarr_format, "consolidated": False}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        path = to_zarr(ds, tmp_path / "out.zarr", **kwargs)
        with xr.open_zarr(path, consolidated=zarr_format is None) as back:
            xr.testing.assert_identical(back.compute(), ds)
    expected = "zarr.json" if zarr_format == 3 else ".zmetadata"
    assert (path / expected).exists()


# ---------------------------------------------------------------------------------- the helper
def _interrupted_write(
    target: Path, error: type[BaseException], directory: bool, seen: list[Path]
) -> None:
    """Write part of an output through atomic_output, then fail with ``error``."""
    with atomic_output(target, True, directory) as temp:
        seen.append(temp)
        (temp / "part" if directory else temp).write_text("partial")
        raise error("boom")


@pytest.mark.parametrize("directory", [False, True], ids=["file", "directory"])
@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
def test_atomic_output_failure_keeps_target_and_leaves_no_temp(
    tmp_path: Path, directory: bool, error: type[BaseException]
) -> None:
    target = tmp_path / "out"
    target.write_text("old")
    seen: list[Path] = []
    with pytest.raises(error, match="boom"):
        _interrupted_write(target, error, directory, seen)
    temp = seen[0]
    assert temp.parent == tmp_path  # same directory: the rename is atomic
    assert temp.name.startswith(".out.")
    assert temp.name.endswith(".tmp")
    assert not temp.exists()
    assert target.read_text() == "old"
    assert _listing(tmp_path) == ["out"]
    # A failing first write leaves nothing at all.
    with pytest.raises(error, match="boom"):
        _interrupted_write(tmp_path / "new", error, directory, seen)
    assert _listing(tmp_path) == ["out"]


def _enter(target: Path, **kwargs: bool) -> list[bool]:
    """Enter atomic_output(target) and report whether the block ran."""
    ran: list[bool] = []
    with atomic_output(target, **kwargs):
        ran.append(True)
    return ran


def test_atomic_output_success_overwrite_and_mode(tmp_path: Path) -> None:
    target = tmp_path / "notes.txt"
    with atomic_output(target, wait_for_dask=False) as temp:
        temp.write_text("first")
        assert not target.exists()  # nothing at the target until the block completes
    assert target.read_text() == "first"
    assert target.stat().st_mode & 0o777 == FILE_MODE == 0o666 & ~UMASK
    ran: list[bool] = []
    with pytest.raises(OutputExistsError, match=r"notes\.txt already exists\. Pass overwrite="):
        ran = _enter(target)  # refused before the block runs
    assert ran == []
    with atomic_output(target, overwrite=True) as temp:
        os.chmod(temp, 0o600)  # like safetensors: the committed file still gets FILE_MODE
        temp.write_text("second")
    assert (target.read_text(), target.stat().st_mode & 0o777) == ("second", FILE_MODE)
    assert _listing(tmp_path) == ["notes.txt"]


def _race(target: Path) -> None:
    """Write through atomic_output while someone else creates ``target``."""
    with atomic_output(target) as temp:
        temp.write_text("ours")
        target.write_text("theirs")


def test_atomic_output_does_not_clobber_a_target_created_meanwhile(tmp_path: Path) -> None:
    target = tmp_path / "out.txt"
    with pytest.raises(OutputExistsError, match="Pass overwrite=True"):
        _race(target)
    assert target.read_text() == "theirs"
    assert _listing(tmp_path) == ["out.txt"]


def test_atomic_output_missing_directory(tmp_path: Path) -> None:
    missing = tmp_path / "missing" / "out.txt"
    with pytest.raises(
        OutputPathError, match=r"Cannot write .*missing does not exist.*Make sure the directory"
    ):
        _enter(missing)
    assert _listing(tmp_path) == []


def test_every_module_writes_through_the_one_helper() -> None:
    """No module renames temporary files itself: all writes go through atomic.atomic_output."""
    package = Path(xr_s5sr.__file__).parent
    for source in sorted(package.glob("*.py")):
        if source.name == "atomic.py":
            continue
        text = source.read_text()
        for forbidden in ("os.replace(", "os.rename(", '.tmp")', "tmp.replace("):
            assert forbidden not in text, f"{source.name} uses {forbidden!r}: use atomic_output"


# ---------------------------------------------------------------------------------- DataArrays
@pytest.mark.parametrize("chunks", [None, 5], ids=["numpy", "dask"])
@pytest.mark.parametrize("writer", ["to_netcdf", "to_zarr"])
def test_dataarray_round_trip(tmp_path: Path, writer: str, chunks: int | None) -> None:
    array = flagged_granule(7, chunks=chunks).radiance
    array.attrs["history"] = "made for a test"
    before = array.copy(deep=True)
    write = {"to_netcdf": to_netcdf, "to_zarr": to_zarr}[writer]
    path = write(array, tmp_path / ("sr.zarr" if writer == "to_zarr" else "sr.nc"))
    engine = "zarr" if writer == "to_zarr" else None
    with xr.open_dataarray(path, engine=engine) as back:
        # values (NaN included), dims, coords (with their attrs), attrs and name: identical.
        xr.testing.assert_identical(back.compute(), array.compute())
        assert back.dtype == np.float32
    xr.testing.assert_identical(array, before)  # input untouched


@pytest.mark.parametrize("writer", [to_netcdf, to_zarr])
def test_unnamed_dataarray_is_written_as_radiance(
    tmp_path: Path, writer: Callable[..., Path]
) -> None:
    array = flagged_granule(7).radiance.rename(None) * 2
    suffix = ".zarr" if writer is to_zarr else ".nc"
    path = writer(array, tmp_path / f"x{suffix}")
    with xr.open_zarr(path) if writer is to_zarr else xr.open_dataset(path) as back:
        assert list(back.data_vars) == ["radiance"]
        xr.testing.assert_identical(back["radiance"].compute(), array.rename("radiance"))
    named = writer(array.rename("sr"), tmp_path / f"y{suffix}")
    with xr.open_zarr(named) if writer is to_zarr else xr.open_dataset(named) as back:
        assert list(back.data_vars) == ["sr"]


def test_as_dataset_errors() -> None:
    with pytest.raises(TypeError, match=r"Expected an xarray.Dataset or xarray.DataArray.*ndarray"):
        as_dataset(np.zeros(3))  # type: ignore[arg-type]
    clash = xr.DataArray([1.0, 2.0], dims="x", coords={"x": [0, 1]}, name="x")
    with pytest.raises(InputDataError, match=r"named 'x'.*coordinate of the same name.*rename"):
        as_dataset(clash)
    ds = flagged_granule(7)
    assert as_dataset(ds) is ds


def test_is_zarr_path() -> None:
    for zarr_path in ("sr.zarr", "SR.ZARR", "a/sr.zarr/", Path("b.zarr")):
        assert is_zarr_path(zarr_path), zarr_path
    for other in ("sr.nc", "zarr", "sr.zarr.nc"):
        assert not is_zarr_path(other), other


# ---------------------------------------------------------------------------------- compression
@pytest.mark.parametrize("writer", ["to_netcdf", "to_zarr"])
def test_compression_shrinks_a_granule(tmp_path: Path, writer: str) -> None:
    write = {"to_netcdf": to_netcdf, "to_zarr": to_zarr}[writer]
    ds = make_granule(7, 32, n_channel=20)
    suffix = ".zarr" if writer == "to_zarr" else ".nc"
    compressed = write(ds, tmp_path / f"compressed{suffix}")
    raw = write(ds, tmp_path / f"raw{suffix}", compress=False)
    ratio = _size(compressed) / _size(raw)
    assert ratio < 0.9, ratio
    open_ = xr.open_zarr if writer == "to_zarr" else xr.open_dataset
    with open_(compressed) as a, open_(raw) as b:  # lossless
        xr.testing.assert_identical(a.compute(), b.compute())
        xr.testing.assert_identical(a.compute(), ds)


def test_netcdf_encoding_chunks_equal_dask_chunks(tmp_path: Path) -> None:
    ds = flagged_granule(7, chunks=5)  # scanline chunks (5, 5, 2)
    path = to_netcdf(ds, tmp_path / "out.nc")
    with netCDF4.Dataset(path) as nc:
        for name in ("radiance", "radiance_noise", "latitude", "nominal_wavelength"):
            variable = nc[name]
            assert variable.chunking() == [max(c) for c in ds[name].chunks], name
            filters = variable.filters()
            assert (filters["zlib"], filters["shuffle"], filters["complevel"]) == (True, True, 4)
    with xr.open_dataset(path, chunks={}) as back:
        assert back.radiance.encoding["chunksizes"] == (5, 6, 4)
        assert back.radiance.chunks == ds.radiance.chunks
    plain = to_netcdf(ds, tmp_path / "plain.nc", compress=False)
    with netCDF4.Dataset(plain) as nc:
        assert nc["radiance"].chunking() == [5, 6, 4]
        assert nc["radiance"].filters()["zlib"] is False
        assert nc["radiance"].filters()["shuffle"] is False


def test_netcdf_user_encoding_wins_and_netcdf3_is_not_compressed(tmp_path: Path) -> None:
    ds = flagged_granule(7, chunks=4)
    encoding = {"radiance": {"complevel": 9, "chunksizes": (2, 6, 4)}}
    path = to_netcdf(ds, tmp_path / "user.nc", encoding=encoding)
    with netCDF4.Dataset(path) as nc:
        assert nc["radiance"].chunking() == [2, 6, 4]
        assert nc["radiance"].filters()["complevel"] == 9
        assert nc["radiance"].filters()["shuffle"] is True
    assert encoding == {"radiance": {"complevel": 9, "chunksizes": (2, 6, 4)}}
    classic = to_netcdf(ds.drop_vars("time"), tmp_path / "nc3.nc", format="NETCDF3_64BIT")
    with xr.open_dataset(classic) as back:
        np.testing.assert_array_equal(back.radiance.values, ds.radiance.values)


def test_netcdf_variable_encoding() -> None:
    lazy = xr.Variable(("y", "x"), da.zeros((7, 3), chunks=(4, 3), dtype=np.float32))
    assert netcdf_variable_encoding(lazy) == {
        "chunksizes": (4, 3),
        "zlib": True,
        "complevel": 4,
        "shuffle": True,
    }
    assert netcdf_variable_encoding(lazy, compress=False) == {"chunksizes": (4, 3)}
    assert netcdf_variable_encoding(xr.Variable((), 1.0)) == {}
    assert netcdf_variable_encoding(xr.Variable("x", np.array(["a", "b"]))) == {}
    empty = xr.Variable("x", da.zeros(0, chunks=1))
    assert "chunksizes" not in netcdf_variable_encoding(empty)


@pytest.mark.parametrize("zarr_format", [2, 3])
def test_zarr_encoding_chunks_and_blosc(tmp_path: Path, zarr_format: int) -> None:
    ds = flagged_granule(7).chunk({"scanline": (3, 4, 5)})  # uneven: stored as regular chunks of 5
    kwargs = {"zarr_format": zarr_format, "consolidated": zarr_format == 2}
    path = to_zarr(ds, tmp_path / "out.zarr", **kwargs)
    raw = to_zarr(ds, tmp_path / "raw.zarr", compress=False, **kwargs)
    for name in ("radiance", "latitude"):
        if zarr_format == 2:
            meta = json.loads((path / name / ".zarray").read_text())
            assert meta["compressor"]["id"] == "blosc"
            assert (meta["compressor"]["cname"], meta["compressor"]["shuffle"]) == ("zstd", 1)
            assert json.loads((raw / name / ".zarray").read_text())["compressor"] is None
        else:
            meta = json.loads((path / name / "zarr.json").read_text())
            codecs = {c["name"]: c.get("configuration", {}) for c in meta["codecs"]}
            assert codecs["blosc"]["cname"] == "zstd"
            assert codecs["blosc"]["shuffle"] == "shuffle"
            raw_meta = json.loads((raw / name / "zarr.json").read_text())
            assert [c["name"] for c in raw_meta["codecs"]] == ["bytes"]
        chunk_shape = (
            meta["chunks"]
            if zarr_format == 2
            else meta["chunk_grid"]["configuration"]["chunk_shape"]
        )
        assert chunk_shape == [5, *ds[name].shape[1:]], name
    with xr.open_zarr(path, consolidated=zarr_format == 2) as back:
        assert back.radiance.encoding["chunks"] == (5, 6, 4)
        assert back.radiance.chunks == ((5, 5, 2), (6,), (4,))  # the dask chunks written
        xr.testing.assert_identical(back.compute(), ds.compute())


def test_zarr_even_dask_chunks_are_the_store_chunks(tmp_path: Path) -> None:
    ds = flagged_granule(7, chunks=4)
    with raise_if_dask_computes(max_computes=1):  # the write itself computes once
        path = to_zarr(ds, tmp_path / "out.zarr")
    with xr.open_zarr(path) as back:
        for name in ("radiance", "radiance_noise", "latitude", "longitude"):
            assert back[name].chunks == ds[name].chunks, name
            assert back[name].encoding["chunks"] == tuple(c[0] for c in ds[name].chunks), name


# ------------------------------------------------------------------ writers under failure
@pytest.fixture(scope="module")
def small_granule() -> xr.Dataset:
    """Small numpy band-7 granule, 16 scanlines × 6 ground pixels × 3 channels."""
    return make_granule(7, 16, 6, seed=4, n_channel=3)


# ---------------------------------------------------------------------------------- outputs
def _failing_third_block(block: np.ndarray, block_info: dict | None = None) -> np.ndarray:
    """Block 2 fails at once; the others are slow, so they still run (and write) after it."""
    assert block_info is not None
    if block_info[0]["chunk-location"][0] == 2:
        raise RuntimeError("interrupted in block 2")
    time.sleep(0.05)
    return block


@pytest.mark.parametrize("writer", [to_netcdf, to_zarr])
def test_interrupted_pipeline_leaves_no_file(
    small_granule: xr.Dataset, tmp_path: Path, writer: Callable[..., Path]
) -> None:
    """Tasks still running when another fails must not re-create the deleted output."""
    sr = small_granule.chunk({"scanline": 4}).s5sr.bicubic()
    sr["radiance"] = sr.radiance.copy(
        data=sr.radiance.data.map_blocks(_failing_third_block, dtype=np.float32)
    )
    with pytest.raises(RuntimeError, match="interrupted in block 2"):
        writer(sr, tmp_path / "sr.nc")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("writer", [to_netcdf, to_zarr, xr_s5sr.write_l1b])
def test_writers_wait_for_tasks_still_running_before_cleaning_up(
    small_granule: xr.Dataset, tmp_path: Path, writer: Callable[..., Path]
) -> None:
    """dask raises as soon as one task fails while others still run; a writer that cleaned up
    then could see its temporary file re-created by them (netCDF4 mode "a" creates files)."""
    finished: list[int] = []

    def first_fails(block: np.ndarray, block_info: dict | None = None) -> np.ndarray:
        assert block_info is not None
        index = block_info[0]["chunk-location"][0]
        if index == 0:
            raise RuntimeError("block 0 failed")
        time.sleep(0.3)  # still running when block 0 fails
        finished.append(index)
        return block

    ds = small_granule.copy()
    lazy = small_granule.radiance.chunk({"scanline": 8})  # two blocks, run by two threads at once
    ds["radiance"] = lazy.copy(data=lazy.data.map_blocks(first_fails, dtype=np.float32))
    with (
        dask.config.set(scheduler="threads", num_workers=2),
        pytest.raises(RuntimeError, match="block 0 failed"),
    ):
        writer(ds, tmp_path / "out.nc")
    assert finished == [1]
    assert list(tmp_path.iterdir()) == []


def test_read_only_directory_fails_before_computing(
    small_granule: xr.Dataset, tmp_path: Path
) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        if os.access(locked, os.W_OK):
            pytest.skip("running as root: chmod does not block writes (test_store.py covers this)")
        sr = small_granule.chunk({"scanline": 4}).s5sr.bicubic()
        for writer in (to_netcdf, to_zarr, xr_s5sr.write_l1b):
            with raise_if_dask_computes(), pytest.raises(errors.OutputPathError, match="Cannot"):
                writer(sr, locked / "out.nc")
        assert list(locked.iterdir()) == []
    finally:
        locked.chmod(0o755)


@pytest.mark.parametrize(
    ("name", "match"),
    [
        ("x.txt", r"'x.txt' has the suffix '.txt'. Name the file with one of .nc, .nc4, .netcdf"),
        ("x", r"has the suffix '\(none\)'"),
        ("x.zarr", r"For a Zarr store use to_zarr"),
    ],
)
def test_to_netcdf_refuses_names_that_are_not_netcdf(tmp_path: Path, name: str, match: str) -> None:
    ds = xr.Dataset({"a": ("x", np.arange(3.0))})
    with pytest.raises(S5SRArgumentError, match=match):
        to_netcdf(ds, tmp_path / name)
    assert list(tmp_path.iterdir()) == []  # nothing written
    assert to_netcdf(ds, tmp_path / "x.NC4").exists()


def test_to_zarr_without_zarr_says_how_to_install_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "zarr", None)  # import zarr now raises ImportError
    ds = xr.Dataset({"a": ("x", np.arange(3.0))})
    with pytest.raises(MissingDependencyError, match=r"pip install zarr .*xr_s5sr\[zarr\]"):
        to_zarr(ds, tmp_path / "x.zarr")
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------ plausibility report
@pytest.mark.parametrize("suffix", [".zarr", ".nc"])
def test_writers_record_the_lazy_report(tmp_path: Path, suffix: str) -> None:
    # Issue 26.6: the report's numbers become attributes of the file: the per-window numbers
    # computed with the data, the HR sums from the written values read back (lr=), so the
    # network's blocks are not run twice and no block waits in memory for a sum.
    from xr_s5sr.plausibility import plausibility_report

    hr = xr_s5sr.synthetic.make_granule(7, 96, 96, n_channel=16, seed=2)
    lr = hr.s5sr.degrade(noise="lr", seed=2)
    sr = lr.chunk({"scanline": 8}).s5sr.super_resolve(model="backprojection", device="cpu")
    target = tmp_path / f"sr{suffix}"
    writer = store.to_zarr if suffix == ".zarr" else store.to_netcdf
    with raise_if_dask_computes(max_computes=2):
        writer(sr, target, lr=lr)
    opener = xr.open_zarr if suffix == ".zarr" else xr.open_dataset
    eager = plausibility_report(lr.s5sr.super_resolve(model="backprojection", device="cpu"))
    with opener(target) as back:
        assert back.attrs["s5sr_negative_fraction"] == 0.0
        for key, value in eager.items():
            # The chunked and whole results differ by float32 rounding (~2e-6 of the scale);
            # χ² squares residuals that are themselves small, so it moves ~1e-5 relative.
            rtol = 1e-3 if key == "s5sr_chi2" else 1e-5
            np.testing.assert_allclose(back.attrs[key], value, rtol=rtol, atol=0, err_msg=key)
        assert back.attrs["s5sr_model"] == "backprojection"  # the other attrs are kept
        # Read back without computing anything: the numbers are the file's attributes.
        with raise_if_dask_computes():
            assert plausibility_report(back)["s5sr_chi2"] == back.attrs["s5sr_chi2"]
