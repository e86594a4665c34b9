"""compute_write: a writer's store tasks as leaves, then its closing tasks (issue 23)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dask
import dask.array as da
import numpy as np
import pytest
import xarray as xr
from dask.callbacks import Callback
from dask.utils import key_split

from xr_s5sr.write_graph import REDUCER_PREFIXES, compute_write


def lazy_dataset() -> xr.Dataset:
    rng = np.random.default_rng(0)
    values = rng.standard_normal((40, 6, 3)).astype(np.float32)
    return xr.Dataset(
        {
            "radiance": (("scanline", "ground_pixel", "spectral_channel"), values),
            "flag": (("scanline",), np.arange(40, dtype=np.int16)),
        }
    ).chunk({"scanline": 8})


class Order(Callback):  # type: ignore[misc]
    """Records the task keys in the order they finish."""

    def __init__(self) -> None:
        super().__init__()
        self.finished: list[Any] = []

    def _posttask(self, key: Any, result: Any, dsk: Any, state: Any, id: Any) -> None:
        self.finished.append(key)


@pytest.mark.parametrize("writer", ["zarr", "netcdf"])
def test_the_written_file_holds_the_data(tmp_path: Path, writer: str) -> None:
    ds = lazy_dataset()
    if writer == "zarr":
        path = tmp_path / "out.zarr"
        delayed = ds.to_zarr(path, mode="w", compute=False)
    else:
        path = tmp_path / "out.nc"
        delayed = ds.to_netcdf(path, compute=False)
    extra = {"total": ds.radiance.data.sum(), "kept": "as is"}
    _, values = compute_write(delayed, extra)
    with xr.open_dataset(path, engine="zarr" if writer == "zarr" else None) as back:
        np.testing.assert_array_equal(back.radiance.values, ds.radiance.values)
        np.testing.assert_array_equal(back.flag.values, ds.flag.values)
    expected = float(ds.radiance.values.astype(np.float64).sum())
    assert values["total"] == pytest.approx(expected, rel=1e-5, abs=1e-4)
    assert values["kept"] == "as is"


def test_the_scheduler_runs_the_stores_as_leaves_without_the_closing_tasks(
    tmp_path: Path,
) -> None:
    """What the scheduler runs (a callback sees it) holds every store task and none of the
    closing ones, which run afterwards in this process; nothing else is added or dropped:
    xarray's own compute runs the same tasks plus the closing ones."""
    ds = lazy_dataset()
    ran = []
    for name in ("own", "leaves"):
        delayed = ds.to_zarr(tmp_path / f"{name}.zarr", mode="w", compute=False)
        with dask.config.set(scheduler="sync"), Order() as order:
            if name == "own":
                delayed.compute()
            else:
                compute_write(delayed, {})
        ran.append(sorted(key_split(k) for k in order.finished))
    own, leaves = ran
    closing = [n for n in own if n.startswith(REDUCER_PREFIXES)]
    assert closing
    assert not [n for n in leaves if n.startswith(REDUCER_PREFIXES)]
    assert sorted(n for n in own if not n.startswith(REDUCER_PREFIXES)) == leaves
    # Every chunk of every variable stored (the stores' names differ with the dask version).
    chunks = sum(len(v.chunks[0]) for v in ds.data_vars.values())
    assert sum(n.endswith("store-map") for n in leaves) >= chunks
    with xr.open_zarr(tmp_path / "leaves.zarr") as back:
        np.testing.assert_array_equal(back.radiance.values, ds.radiance.values)


def test_a_lazy_extra_value_costs_what_it_costs_in_one_dask_compute(tmp_path: Path) -> None:
    """The extra values are optimised with the writer, as ``dask.compute`` does: no task runs
    more often than there."""
    calls: list[int] = []

    def mark(block: np.ndarray) -> np.ndarray:
        calls.append(1)
        return block

    shared = da.from_array(np.arange(16.0), chunks=4).map_blocks(mark, dtype=float)
    ds = xr.Dataset({"x": ("i", shared)})
    counts = []
    for name in ("own", "leaves"):
        delayed = ds.to_zarr(tmp_path / f"{name}.zarr", mode="w", compute=False)
        calls.clear()
        if name == "own":
            _, total = dask.compute(delayed, shared.sum())
        else:
            _, values = compute_write(delayed, {"sum": shared.sum()})
            total = values["sum"]
        assert total == pytest.approx(120.0)
        counts.append(len(calls))
    assert counts[1] == counts[0]


def test_a_graph_without_the_writers_closing_tasks_is_computed_as_it_is() -> None:
    written, values = compute_write(dask.delayed(sum)([1, 2]), {"n": da.ones(3, chunks=1).sum()})
    assert written == 3
    assert values["n"] == pytest.approx(3.0)


@pytest.mark.slow
def test_distributed_cluster_writes_with_stores_as_leaves(tmp_path: Path) -> None:
    """On a dask.distributed client the stores run on the cluster and the file is whole."""
    from dask.distributed import Client, LocalCluster

    ds = lazy_dataset()
    delayed = ds.to_zarr(tmp_path / "out.zarr", mode="w", compute=False)
    with (
        LocalCluster(n_workers=2, threads_per_worker=1, processes=False) as cluster,
        Client(cluster) as client,
    ):
        _, values = compute_write(delayed, {"total": ds.radiance.data.sum()})
        prefixes = client.run_on_scheduler(
            lambda dask_scheduler: list(dask_scheduler.task_prefixes)
        )
    assert any(p.endswith("store-map") for p in prefixes)  # the cluster ran the stores
    with xr.open_zarr(tmp_path / "out.zarr") as back:
        np.testing.assert_array_equal(back.radiance.values, ds.radiance.values)
    expected = float(ds.radiance.values.astype(np.float64).sum())
    assert values["total"] == pytest.approx(expected, rel=1e-5, abs=1e-4)
