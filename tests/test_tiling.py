"""Chunk planning (xr_s5sr.tiling): regular output chunks for any input chunking and every
method, accepted by xarray's own Zarr/netCDF writers, and the package's output read back."""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import dask.array as da
import numpy as np
import pytest
import xarray as xr
from conftest import chunking, raise_if_dask_computes, random_network, tiny_local_network
from dask.core import get_dependencies
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import xr_s5sr
from xr_s5sr import cli, row_reads, tiling
from xr_s5sr.degrade import degrade_array
from xr_s5sr.engine import super_resolve_array
from xr_s5sr.spec import ModelSpec, model_spec
from xr_s5sr.synthetic import make_granule

PROPERTY = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
BAND = 7
#: Scanlines of the property granule: room for several blocks of the 50-row physics halo.
N_SCAN = 130


def is_regular(chunks: tuple[int, ...]) -> bool:
    """The Zarr rule: all chunks equal but the last, which is no larger than the first."""
    return all(c == chunks[0] for c in chunks[:-1]) and chunks[-1] <= chunks[0]


@functools.cache
def property_granule() -> np.ndarray:
    """(130, 6, 3) LR radiance of a smooth synthetic band-7 scene."""
    ds = make_granule(BAND, N_SCAN, 6, seed=4, n_channel=3)
    return ds.radiance.values


@functools.cache
def local_granule() -> np.ndarray:
    """(130, 6, 6) radiance for the tiny local network (6 channels)."""
    return make_granule(BAND, N_SCAN, 6, seed=4, n_channel=6).radiance.values


SPECS: dict[str, Callable[[], ModelSpec]] = {
    "bicubic": lambda: model_spec("bicubic", device="cpu"),
    "backprojection": lambda: model_spec(
        "backprojection", band=BAND, device="cpu", regularisation=0.0
    ),
    "backprojection-regularised": lambda: model_spec(
        "backprojection", band=BAND, device="cpu", regularisation=0.03
    ),
    "s5dscr_s": lambda: model_spec(
        weights=random_network(property_granule(), "s5dscr_s", "signed"),
        band=BAND,
        device="cpu",
        regularisation=0.0,
    ),
    "s5dscr": lambda: model_spec(
        weights=random_network(property_granule(), "s5dscr", "signed"),
        band=BAND,
        device="cpu",
        regularisation=0.0,
    ),
    "local-network": lambda: model_spec(
        weights=tiny_local_network(), band=BAND, device="cpu", regularisation=0.0
    ),
}


@functools.cache
def spec_of(method: str) -> ModelSpec:
    return SPECS[method]()


@functools.cache
def whole_result(method: str, n_scan: int) -> np.ndarray:
    radiance = local_granule() if method == "local-network" else property_granule()
    return super_resolve_array(radiance[:n_scan], spec_of(method))


@st.composite
def scan_chunking(draw: st.DrawFn, size: int) -> tuple[int, ...]:
    """Irregular chunkings (1 to 4 chunks) or regular ones of any size (many small chunks)."""
    if draw(st.booleans()):
        return draw(chunking(size))
    return tiling.regular_chunks(size, draw(st.integers(1, size)))


# ---------------------------------------------------------------------------------- the plan
@PROPERTY
@given(
    total=st.integers(1, 5000),
    size=st.integers(1, 600),
    minimum=st.integers(0, 120),
    multiple=st.sampled_from([1, 4]),
)
def test_regular_plan_property(total: int, size: int, minimum: int, multiple: int) -> None:
    chunks = tiling.regular_plan(total, size, minimum, multiple)
    assert sum(chunks) == total
    assert is_regular(chunks)
    assert tiling.is_valid_plan(chunks, minimum, multiple)
    if len(chunks) > 1:
        assert min(chunks) >= minimum
        assert chunks[0] % multiple == 0


@PROPERTY
@given(data=st.data())
def test_scan_chunks_property(data: st.DataObject) -> None:
    total = data.draw(st.integers(1, 400), "total")
    current = data.draw(scan_chunking(total), "current")
    halo = data.draw(st.integers(0, 80), "halo")
    budget_rows = data.draw(st.integers(1, 200), "budget_rows")
    row_elements = 10
    budget = budget_rows * 16 * row_elements * 4
    output_chunks = data.draw(st.none() | st.integers(1, 40).map(lambda n: 4 * n), "output")
    blocks = tiling.scan_chunks(current, row_elements, halo, output_chunks, budget)
    assert sum(blocks) == total
    assert len(blocks) == 1 or min(blocks) >= halo
    out = tiling.output_scan_chunks(blocks, output_chunks)
    assert is_regular(out)
    if output_chunks is None:
        assert out == blocks
        # Within the budget (or the halo) unless no regular size there holds the halo.
        limit = max(budget_rows, halo)
        if blocks != current and blocks[0] > limit:
            sizes = range(max(1, halo), min(limit, total - 1) + 1)
            assert not any(total % c == 0 or total % c >= halo for c in sizes)
    else:
        assert out[0] == min(total, output_chunks // 4)
        # Output chunks only split blocks: every block edge is an output chunk edge.
        assert set(np.cumsum(blocks)) <= set(np.cumsum(out))


def test_scan_chunks_keep_regular_input_chunks_that_hold_the_halo() -> None:
    assert tiling.scan_chunks((60, 60, 10), 10, 8, None, 2**40) == (60, 60, 10)
    # 13-row chunks of 200 scanlines with a 50-row halo (the example): 50-row blocks
    # instead of 65, 65, 70.
    assert tiling.scan_chunks((13,) * 15 + (5,), 10, 50, None, 2**40) == (50, 50, 50, 50)
    # 64-row chunks of 4000 with the same halo: the last 32 is too short; 68 leaves 56.
    planned = tiling.scan_chunks((64,) * 62 + (32,), 10, 50, None, 2**40)
    assert (planned[0], planned[-1], len(planned)) == (68, 56, 59)
    # Within a budget of 64 rows: 58 leaves 56 (60 ... 63 leave less than 50).
    budget = 64 * 16 * 10 * 4
    assert tiling.scan_chunks((64,) * 62 + (32,), 10, 50, None, budget)[:2] == (58, 58)


def test_output_chunks_are_split_from_blocks_that_hold_the_halo() -> None:
    blocks = tiling.scan_chunks((200,), 10, 50, 52, 2**40)
    # 13 LR rows per output chunk, 4 of them per block (52 >= 50); the last 44 is merged.
    assert blocks == (52, 52, 96)
    assert tiling.output_scan_chunks(blocks, 52) == (13,) * 15 + (5,)


@PROPERTY
@given(data=st.data())
def test_every_method_gives_regular_chunks_equal_to_the_whole_run(data: st.DataObject) -> None:
    method = data.draw(st.sampled_from(sorted(SPECS)), "method")
    n_scan = data.draw(st.integers(1, N_SCAN), "n_scan")
    chunks = data.draw(scan_chunking(n_scan), "chunks")
    output_chunks = data.draw(st.sampled_from([None, None, 52, 200]), "output_chunks")
    radiance = (local_granule() if method == "local-network" else property_granule())[:n_scan]
    with raise_if_dask_computes():
        lazy = super_resolve_array(
            da.from_array(radiance, chunks=(chunks, -1, -1)),
            spec_of(method),
            output_chunks=output_chunks,
        )
    assert is_regular(lazy.chunks[0]), lazy.chunks[0]
    if output_chunks is not None:
        assert lazy.chunks[0][0] == min(4 * n_scan, output_chunks)
    expected = whole_result(method, n_scan)
    # Float32 rounding of the same sums in another order (blocks vs whole).
    scale = float(np.abs(expected).max())
    np.testing.assert_allclose(lazy.compute(), expected, rtol=1e-5, atol=2e-6 * scale)


@PROPERTY
@given(data=st.data())
def test_degrade_gives_regular_chunks_equal_to_numpy(data: st.DataObject) -> None:
    n_scan = data.draw(st.integers(4, 4 * 60), "n_scan")
    n_pixel = data.draw(st.integers(4, 40), "n_pixel")
    chunks = (data.draw(scan_chunking(n_scan)), data.draw(scan_chunking(n_pixel)), -1)
    x = np.random.default_rng(data.draw(st.integers(0, 2**16))).random((n_scan, n_pixel, 2))
    x = x.astype(np.float32)
    with raise_if_dask_computes():
        lazy = degrade_array(da.from_array(x, chunks=chunks), BAND)
    assert is_regular(lazy.chunks[0]), lazy.chunks
    assert is_regular(lazy.chunks[1]), lazy.chunks
    np.testing.assert_allclose(lazy.compute(), degrade_array(x, BAND), rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------------ xarray's own writers
@functools.cache
def lr_dataset() -> xr.Dataset:
    """(61, 6, 3) LR granule with its flags, noise and coordinates (like open_l1b)."""
    hr = make_granule(BAND, 244, 24, seed=6, n_channel=3)
    return hr.s5sr.degrade()


def run_method(obj: Any, method: str) -> Any:
    if method == "degrade":
        return obj.s5sr.degrade(band=BAND)
    if method == "bicubic":
        return obj.s5sr.bicubic(band=BAND)
    if method == "backprojection":
        return obj.s5sr.super_resolve(band=BAND, model="backprojection", regularisation=0.0)
    net = random_network(lr_dataset().radiance.values, method, "signed")
    return obj.s5sr.super_resolve(band=BAND, weights=net, regularisation=0.0)


WRITER_METHODS = ["degrade", "bicubic", "backprojection", "s5dscr_s", "s5dscr"]


@pytest.mark.parametrize("method", WRITER_METHODS)
@pytest.mark.parametrize("kind", ["dataset", "dataarray"])
@pytest.mark.parametrize("chunks", [13, 50])
def test_xarray_writers_accept_the_lazy_result(
    tmp_path: Path, method: str, kind: str, chunks: int
) -> None:
    ds = lr_dataset() if method != "degrade" else make_granule(BAND, 244, 24, seed=6, n_channel=3)
    eager = ds if kind == "dataset" else ds.radiance
    lazy = eager.chunk({"scanline": chunks})
    with raise_if_dask_computes():
        result = run_method(lazy, method)
    as_dataset = result if kind == "dataset" else result.to_dataset()
    # One chunking per dim (Dataset.chunks raises otherwise), regular along scanline.
    assert is_regular(as_dataset.chunks["scanline"])
    expected = (
        run_method(eager, method).radiance if kind == "dataset" else run_method(eager, method)
    )
    result.to_zarr(tmp_path / "out.zarr")
    result.to_netcdf(tmp_path / "out.nc")
    for path, opener in (
        (tmp_path / "out.zarr", xr.open_zarr),
        (tmp_path / "out.nc", xr.open_dataset),
    ):
        with opener(path) as written:
            np.testing.assert_allclose(
                written.radiance.values,
                expected.values,
                rtol=1e-5,
                atol=1e-6 * float(expected.max()),
            )


@pytest.mark.parametrize(
    "writer", ["xr_s5sr.to_zarr", "xr_s5sr.to_netcdf", "xarray.to_zarr", "xarray.to_netcdf"]
)
def test_own_output_can_be_read_back_and_processed_again(tmp_path: Path, writer: str) -> None:
    sr = lr_dataset().chunk({"scanline": 13}).s5sr.bicubic()
    path = tmp_path / ("sr.zarr" if writer.endswith("zarr") else "sr.nc")
    if writer.startswith("xr_s5sr"):
        getattr(xr_s5sr, writer.split(".")[1])(sr, path)
    else:
        getattr(sr, writer.split(".")[1])(path)
    opener = xr.open_zarr if path.suffix == ".zarr" else xr.open_dataset
    with opener(path, chunks={}) as back:
        # Written by other tools, variables may carry their own chunks: rechunk some.
        back = back.assign_coords(latitude=back.latitude.chunk({"scanline": 7}))
        again = back.s5sr.super_resolve(band=BAND, model="backprojection", regularisation=0.0)
        lr = back.s5sr.degrade(band=BAND)
        assert is_regular(again.chunks["scanline"])
        assert is_regular(lr.chunks["scanline"])
        reference = sr.compute()
        expected = reference.s5sr.super_resolve(model="backprojection", regularisation=0.0)
        np.testing.assert_allclose(
            again.radiance.values,
            expected.radiance.values,
            rtol=1e-5,
            atol=1e-6 * float(expected.radiance.max()),
        )
        np.testing.assert_allclose(
            lr.radiance.values, reference.s5sr.degrade().radiance.values, rtol=1e-5, atol=0
        )
    for command in ("super-resolve", "degrade"):
        out = tmp_path / f"{command}.zarr"
        extra = ["--model", "backprojection"] if command == "super-resolve" else []
        assert cli.main(["-q", command, str(path), str(out), *extra]) == 0
        with xr.open_zarr(out) as written:
            factor = 4 if command == "super-resolve" else 0.25
            assert written.sizes["scanline"] == factor * sr.sizes["scanline"]


def _gathered(rows: row_reads.Rows, sizes: tuple[int, ...], width: int) -> da.Array:
    """Each block's joined rows as the output block (map_cubes of the identity)."""
    return row_reads.map_cubes(np.copy, rows, chunks=(sizes, (width,), (1,)))


def test_rows_around_reads_exact_rows_at_any_depth() -> None:
    """Issue 23: HR blocks of a few rows read the LR rows around them from any chunking, with a
    depth larger than the blocks (``dask.array.overlap`` needs chunks that hold the depth)."""
    data = np.arange(30 * 2 * 1, dtype=np.float32).reshape(30, 2, 1)
    lazy = da.from_array(data, chunks=(7, -1, -1))
    blocks = (4, 4, 4, 4, 4, 4, 4, 2)
    around = row_reads.rows_around(lazy, blocks, 9)
    starts = np.cumsum((0, *blocks))
    expected = [data[max(0, a - 9) : min(30, b + 9)] for a, b in itertools.pairwise(starts)]
    result = _gathered(around, tuple(len(e) for e in expected), 2)
    np.testing.assert_array_equal(result.compute(), np.concatenate(expected))
    # No copy of the rows in the graph: each block's task reads the input chunks its rows
    # touch (block 0: rows 0-12, chunks 0-1; block 3: rows 3-24, chunks 0-3) and nothing else.
    graph = dict(result.__dask_graph__())
    tasks = {k: v for k, v in graph.items() if k[0] == result.name}
    assert len(graph) == len(tasks) + lazy.numblocks[0]
    reads = {k[1]: {d[1] for d in get_dependencies(graph, k)} for k in tasks}
    assert reads[0] == {0, 1}
    assert reads[3] == {0, 1, 2, 3}


def test_rows_around_reads_blocks_from_the_spilled_layout() -> None:
    """LR steps run on chunks that group whole blocks and keep ``pad`` rows each side (the
    spilled layout); each block reads its rows and ``depth ≤ pad`` rows from its own chunk."""
    data = np.arange(26, dtype=np.float32).reshape(26, 1, 1)
    blocks = (6, 6, 6, 6, 2)
    chunks = tiling.group_chunks(blocks, 10)
    assert chunks == (12, 14)  # the short last group (8 < 10 rows) joins the one before
    pad = 3
    assert row_reads.spilled_sizes(chunks, pad) == (15, 17)
    spilled = np.concatenate([data[0:15], data[9:26]])  # rows 0..14 and 9..25
    lazy = da.from_array(spilled, chunks=((15, 17), -1, -1))
    around = row_reads.rows_around(lazy, blocks, 2, spilled=(chunks, pad))
    starts = np.cumsum((0, *blocks))
    expected = [data[max(0, a - 2) : min(26, b + 2)] for a, b in itertools.pairwise(starts)]
    result = _gathered(around, tuple(len(e) for e in expected), 1)
    np.testing.assert_array_equal(result.compute(), np.concatenate(expected))
