"""Writers under failure: interrupted pipelines, tasks still running, read-only targets.

PENDING MOVE: these are tests of xr_s5sr.store (and xr_s5sr.l1b.write_l1b) and belong in
tests/test_store.py, which the io-split helper owns; the rest of the former issue-9 matrix moved
to test_accessor.py (input validation), test_engine.py (tiny inputs), test_weights.py
(unreadable cache) and test_docs.py (errors page). Other cases are listed in docs/errors.md.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import dask
import numpy as np
import pytest
import xarray as xr
from conftest import raise_if_dask_computes

import xr_s5sr
from xr_s5sr import errors
from xr_s5sr.store import to_netcdf, to_zarr
from xr_s5sr.synthetic import make_granule


@pytest.fixture(scope="module")
def granule() -> xr.Dataset:
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
    granule: xr.Dataset, tmp_path: Path, writer: Callable[..., Path]
) -> None:
    """Tasks still running when another fails must not re-create the deleted output."""
    sr = granule.chunk({"scanline": 4}).s5sr.bicubic()
    sr["radiance"] = sr.radiance.copy(
        data=sr.radiance.data.map_blocks(_failing_third_block, dtype=np.float32)
    )
    with pytest.raises(RuntimeError, match="interrupted in block 2"):
        writer(sr, tmp_path / "sr.out")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("writer", [to_netcdf, to_zarr, xr_s5sr.write_l1b])
def test_writers_wait_for_tasks_still_running_before_cleaning_up(
    granule: xr.Dataset, tmp_path: Path, writer: Callable[..., Path]
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

    ds = granule.copy()
    lazy = granule.radiance.chunk({"scanline": 8})  # two blocks, run by two threads at once
    ds["radiance"] = lazy.copy(data=lazy.data.map_blocks(first_fails, dtype=np.float32))
    with (
        dask.config.set(scheduler="threads", num_workers=2),
        pytest.raises(RuntimeError, match="block 0 failed"),
    ):
        writer(ds, tmp_path / "out")
    assert finished == [1]
    assert list(tmp_path.iterdir()) == []


def test_read_only_directory_fails_before_computing(granule: xr.Dataset, tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        if os.access(locked, os.W_OK):
            pytest.skip("running as root: chmod does not block writes (test_store.py covers this)")
        sr = granule.chunk({"scanline": 4}).s5sr.bicubic()
        for writer in (to_netcdf, to_zarr, xr_s5sr.write_l1b):
            with raise_if_dask_computes(), pytest.raises(errors.OutputPathError, match="Cannot"):
                writer(sr, locked / "out")
        assert list(locked.iterdir()) == []
    finally:
        locked.chmod(0o755)
