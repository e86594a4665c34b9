"""Tests of xr_s5sr.inference: seam-free tiling, laziness, NaN confinement, coords, metadata."""

from __future__ import annotations

import copy
import multiprocessing
import pickle
import re
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import dask
import dask.array as da
import numpy as np
import pytest
import torch
import torch.nn.functional as F
import xarray as xr
from conftest import raise_if_dask_computes, randomise_batchnorm

import xr_s5sr
from xr_s5sr import inference
from xr_s5sr.errors import (
    BandError,
    ChannelMismatchError,
    DimensionError,
    WeightsError,
)
from xr_s5sr.inference import (
    FusedS5DSCR,
    bicubic_dataset,
    hr_positions,
    model_spec,
    super_resolve_array,
    super_resolve_dataset,
)
from xr_s5sr.models import S5DSCR, bicubic_x4, build_model, fold_batchnorm
from xr_s5sr.synthetic import make_granule

BAND = 7
N_CHANNEL = 6
N_SCANLINE = 40
N_PIXEL = 12
VARIANTS = [(name, residual) for name in ("s5dscr", "s5dscr_s") for residual in ("paper", "signed")]
DIMS = ("scanline", "ground_pixel", "spectral_channel")


@pytest.fixture(scope="module")
def granule() -> xr.Dataset:
    """Small numpy-backed synthetic band-7 granule (radiance ~5e-8 mol m-2 nm-1 sr-1 s-1)."""
    return make_granule(BAND, N_SCANLINE, N_PIXEL, seed=1, n_channel=N_CHANNEL)


def make_net(
    granule: xr.Dataset, name: str = "s5dscr", residual: str = "paper", seed: int = 0
) -> S5DSCR:
    """Random network, non-trivial BatchNorm statistics, normalised to the granule's radiance.

    Left in train mode on purpose: the engine must run an eval-mode, folded snapshot.
    """
    torch.manual_seed(seed)
    net = randomise_batchnorm(build_model(name, N_CHANNEL, residual), seed)  # type: ignore[arg-type]
    radiance = granule.radiance.values
    net.set_normalisation(
        torch.from_numpy(radiance.mean(axis=(0, 1))), torch.from_numpy(radiance.std(axis=(0, 1)))
    )
    return net.train()


def max_error(a: np.ndarray, b: np.ndarray) -> float:
    """Max abs difference relative to the data scale (max |b|)."""
    return float(np.nanmax(np.abs(a - b)) / np.nanmax(np.abs(b)))


# ---------------------------------------------------------------------------------- geometry
def test_hr_positions_follow_the_degradation_convention() -> None:
    positions = hr_positions(5)
    np.testing.assert_array_equal(positions, (np.arange(20) - 2) / 4)
    # The degradation samples HR pixel 4j + 2 for LR pixel j: that HR pixel is at LR index j.
    np.testing.assert_array_equal(positions[xr_s5sr.degrade.lr_positions(20)], np.arange(5))


# ---------------------------------------------------------------------------------- engine
@pytest.mark.parametrize(("name", "residual"), VARIANTS)
def test_chunked_equals_whole(granule: xr.Dataset, name: str, residual: str) -> None:
    net = make_net(granule, name, residual)
    spec = model_spec(weights=net, device="cpu")
    radiance = granule.radiance.values
    whole = super_resolve_array(radiance, spec)
    assert isinstance(whole, np.ndarray)
    assert whole.shape == (4 * N_SCANLINE, 4 * N_PIXEL, N_CHANNEL)
    assert whole.dtype == np.float32
    assert np.isfinite(whole).all()
    for chunks in (8, 13, 32, N_SCANLINE):
        # Ground pixel and channel chunks too, to check they are made whole.
        lazy = super_resolve_array(da.from_array(radiance, chunks=(chunks, 5, 4)), spec)
        assert isinstance(lazy, da.Array)
        assert max_error(lazy.compute(), whole) <= 1e-5, chunks


def test_scanline_chunks_are_kept_and_merged_when_shorter_than_the_halo(
    granule: xr.Dataset,
) -> None:
    spec = model_spec(weights=make_net(granule), device="cpu")
    assert (spec.receptive_radius, spec.halo) == (5, 4)
    radiance = granule.radiance.values
    lazy = super_resolve_array(da.from_array(radiance, chunks=(13, -1, -1)), spec)
    # 40 = 13 + 13 + 13 + 1: the last 1-scanline chunk cannot hold the halo and is merged.
    assert lazy.chunks == ((52, 52, 56), (48,), (6,))


def test_too_small_halo_makes_seams(granule: xr.Dataset) -> None:
    # Proves that test_chunked_equals_whole can fail: with a forced halo of 1 LR scanline the
    # block borders show.
    spec = model_spec(weights=make_net(granule), device="cpu")
    radiance = granule.radiance.values
    whole = super_resolve_array(radiance, spec)
    seamed = super_resolve_array(da.from_array(radiance, chunks=(8, -1, -1)), spec, halo=1)
    assert max_error(seamed.compute(), whole) > 1e-3


@pytest.mark.parametrize(("name", "halo"), [("s5dscr", 4), ("s5dscr_s", 2)])
def test_default_halo_is_the_smallest_exact_one(granule: xr.Dataset, name: str, halo: int) -> None:
    net = make_net(granule, name)
    with torch.no_grad():
        # Positive depthwise kernels carry an edge pixel's influence undamped to the full reach
        # (random signs nearly cancel it there, hiding a too-short halo).
        for block in net.blocks:
            block.depthwise.weight.abs_().add_(0.1)
    spec = model_spec(weights=net, device="cpu")
    assert spec.halo == halo
    # Pixel noise: a clamped bicubic tap differs markedly from the true neighbour.
    mean = granule.radiance.values.mean(axis=(0, 1))
    noise = np.random.default_rng(7).uniform(0.5, 1.5, (N_SCANLINE, N_PIXEL, N_CHANNEL))
    radiance = (mean * noise).astype(np.float32)
    whole = super_resolve_array(radiance, spec)
    lazy = da.from_array(radiance, chunks=(8, -1, -1))
    assert max_error(super_resolve_array(lazy, spec).compute(), whole) <= 1e-6
    short = super_resolve_array(lazy, spec, halo=halo - 1).compute()
    assert max_error(short, whole) > 1e-3  # measured 2e-3 (S5-DSCR), 4e-2 (S5-DSCR-S)


@pytest.mark.parametrize(("tile_pixels", "expected"), [(80, (4, 4)), (16 * N_PIXEL, (12, N_PIXEL))])
@pytest.mark.parametrize("fused", [True, False])
def test_tiles_inside_a_block_are_exact(
    granule: xr.Dataset, tile_pixels: int, expected: tuple[int, int], fused: bool
) -> None:
    spec = replace(model_spec(weights=make_net(granule, "s5dscr_s"), device="cpu"), fused=fused)
    radiance = granule.radiance.values
    whole = super_resolve_array(radiance, spec)
    # Budgets of 80 LR pixels (square 4x4 tiles + halo 2) and of 16 full rows (strips of 12).
    per_pixel = inference._bytes_per_lr_pixel(spec, N_CHANNEL)
    budget = tile_pixels * per_pixel
    assert inference._tile_shape(N_SCANLINE, N_PIXEL, spec.halo, per_pixel, budget) == expected
    # One worker thread: its strip temporaries are reserved on top (fused path only).
    reserve = inference._strip_bytes(spec, N_CHANNEL)
    assert (reserve > 0) == fused
    tiled = super_resolve_array(radiance, spec, activation_budget=budget + reserve, torch_threads=1)
    assert max_error(tiled, whole) <= 1e-5


def test_axes_order_is_respected(granule: xr.Dataset) -> None:
    spec = model_spec(weights=make_net(granule, "s5dscr_s"), device="cpu")
    radiance = granule.radiance.values
    whole = super_resolve_array(radiance, spec)
    channel_first = np.ascontiguousarray(radiance.transpose(2, 0, 1))
    out = super_resolve_array(channel_first, spec, axes=(1, 2, 0))
    np.testing.assert_array_equal(out, whole.transpose(2, 0, 1))


def test_output_chunks_and_memory_budget(granule: xr.Dataset) -> None:
    spec = model_spec(weights=make_net(granule, "s5dscr_s"), device="cpu")
    lazy_input = da.from_array(granule.radiance.values, chunks=(N_SCANLINE, -1, -1))
    explicit = super_resolve_array(lazy_input, spec, output_chunks=32)
    assert explicit.chunks[0] == (32, 32, 32, 32, 32)
    # One HR scanline of output holds 4 * 12 * 6 float32 = 1152 bytes; an LR scanline 4 times.
    budgeted = super_resolve_array(lazy_input, spec, memory_budget=4 * 1152 * 7)
    # 7 LR scanlines fit; 40 % 7 = 5 is not shorter than the halo (2): regular chunks of 7.
    assert budgeted.chunks[0] == (28,) * 5 + (20,)
    whole = super_resolve_array(granule.radiance.values, spec)
    assert max_error(explicit.compute(), whole) <= 1e-5
    assert max_error(budgeted.compute(), whole) <= 1e-5


def test_budget_chunks_prefer_regular_chunks() -> None:
    # 30 scanlines in chunks of at most 8, halo 5: 8 leaves 6 (ok); 29 in 8s leaves 5 (ok);
    # 26 in 8s leaves 2 (< halo) so 7 is tried, which leaves 5.
    assert inference._budget_chunks(30, 8, 5) == (8, 8, 8, 6)
    assert inference._budget_chunks(26, 8, 5) == (7, 7, 7, 5)


# ---------------------------------------------------------------------------------- fused path
def reference_forward(net: S5DSCR, radiance: np.ndarray) -> np.ndarray:
    """``S5DSCR.forward`` of an eval-mode copy (BatchNorm not folded) on a (scan, pixel, C) cube."""
    evaluated = copy.deepcopy(net).eval()  # a copy: the caller's module stays in train mode
    with torch.inference_mode():
        hr = evaluated(torch.from_numpy(radiance.transpose(2, 0, 1).copy())[None])
    return hr[0].permute(1, 2, 0).numpy()


@pytest.mark.parametrize(("name", "residual"), VARIANTS)
def test_fused_path_equals_the_module_forward(
    granule: xr.Dataset, name: str, residual: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    net = make_net(granule, name, residual)
    spec = model_spec(weights=net, device="cpu")
    assert spec.uses_fused_path
    assert not replace(spec, fused=False).uses_fused_path
    radiance = granule.radiance.values
    expected = reference_forward(net, radiance)
    fused = super_resolve_array(radiance, spec)
    reference = super_resolve_array(radiance, replace(spec, fused=False))
    assert max_error(fused, expected) <= 1e-5
    assert max_error(reference, expected) <= 1e-5
    assert max_error(fused, reference) > 0  # two different computations
    # Strips of 7 HR pixels: 1-row strips, strips that end inside a row's reach, ragged ends;
    # with two torch threads the strips run on two worker threads.
    monkeypatch.setattr(inference, "_STRIP_PIXELS", 7)
    assert max_error(super_resolve_array(radiance, spec), expected) <= 1e-5
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        assert max_error(super_resolve_array(radiance, spec), expected) <= 1e-5
    finally:
        torch.set_num_threads(before)


def test_fused_module_upscales_a_core_and_writes_into_out(
    granule: xr.Dataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(inference, "_STRIP_PIXELS", 100)  # strips of 2 HR rows
    net = fold_batchnorm(make_net(granule, "s5dscr", "signed"))
    tile = granule.radiance.values[:20]
    expected = reference_forward(net, tile)
    runner = FusedS5DSCR(net)
    with torch.inference_mode():
        whole = runner.upscale(tile, (0, 20))
        out = torch.full((8 * 4, 4 * N_PIXEL, N_CHANNEL), np.nan)
        returned = runner.upscale(tile, (6, 14), out=out)
    assert returned is out
    assert max_error(whole.numpy(), expected) <= 1e-5
    with torch.inference_mode():
        # Strips shared by two worker threads: the same operations, so the same numbers.
        np.testing.assert_array_equal(runner.upscale(tile, (0, 20), workers=2).numpy(), whole)
    # Core rows 6..14 of a 20-row tile: the rows around them are context, exact to rounding.
    assert max_error(out.numpy(), expected[24:56]) <= 1e-5


def test_fused_module_needs_folded_batchnorm(granule: xr.Dataset) -> None:
    with pytest.raises(WeightsError, match=r"needs a BatchNorm-folded network; pass .*fold_batch"):
        FusedS5DSCR(make_net(granule).eval())


@pytest.mark.parametrize(("rows", "cols"), [(1, 1), (2, 3), (5, 1), (13, 37)])
def test_bicubic_products_equal_pytorch_bicubic(rows: int, cols: int) -> None:
    z = torch.from_numpy(np.random.default_rng(rows).normal(size=(rows, cols, 3)).astype("f4"))
    padded = inference._bicubic_x4(z, pad=2)
    expected = bicubic_x4(z.permute(2, 0, 1)[None])[0].permute(1, 2, 0)
    torch.testing.assert_close(padded[2 : 2 + 4 * rows], expected, rtol=0, atol=2e-6)
    assert padded.shape[0] >= 4 * rows + 4
    assert bool((padded[:2] == 0).all())
    assert bool((padded[2 + 4 * rows : 4 + 4 * rows] == 0).all())


@pytest.mark.parametrize("name", ["s5dscr", "s5dscr_s"])
def test_bfloat16_runs_close_to_float32(granule: xr.Dataset, name: str) -> None:
    # Documented tolerance: 2e-2 of the largest radiance (random networks with large
    # residuals; trained ones stay far below, see docs/performance.md).
    net = make_net(granule, name, "signed")
    radiance = granule.radiance.values
    spec = model_spec(weights=net, device="cpu")
    full = super_resolve_array(radiance, spec)
    for half_spec in (
        replace(spec, dtype="bfloat16"),
        replace(spec, dtype="bfloat16", fused=False),
    ):
        half = super_resolve_array(radiance, half_spec)
        assert half.dtype == np.float32
        assert 0 < max_error(half, full) <= 2e-2
    chunked = super_resolve_array(
        da.from_array(radiance, chunks=(8, -1, -1)), spec, dtype="bfloat16"
    ).compute()
    whole = super_resolve_array(radiance, spec, dtype="bfloat16")
    assert max_error(chunked, whole) <= 1e-6


def test_reduced_precision_uses_autocast_only_on_the_reference_path(granule: xr.Dataset) -> None:
    spec = model_spec(weights=make_net(granule, "s5dscr_s"), device="cpu", dtype="bfloat16")
    assert isinstance(inference._autocast(spec), type(inference.nullcontext()))
    autocast = inference._autocast(replace(spec, fused=False))
    assert isinstance(autocast, torch.autocast)
    assert autocast.fast_dtype == torch.bfloat16
    assert isinstance(inference._autocast(replace(spec, dtype="float32")), inference.nullcontext)


def test_torch_threads_are_set_for_the_task_and_restored(
    granule: xr.Dataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[int] = []

    def recording_model(spec: Any) -> Any:
        def run(tile: torch.Tensor) -> torch.Tensor:
            seen.append(torch.get_num_threads())
            return F.interpolate(tile, scale_factor=4, mode="bicubic", align_corners=False)

        return run

    monkeypatch.setattr(inference, "_resolve_model", recording_model)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        super_resolve_array(granule.radiance.values, "bicubic", device="cpu", torch_threads=1)
        assert seen == [1]
        assert torch.get_num_threads() == 2
        super_resolve_array(granule.radiance.values, "bicubic", device="cpu")
        assert seen == [1, 2]  # one block alone keeps the caller's threads
    finally:
        torch.set_num_threads(before)


def test_concurrent_blocks_share_the_torch_threads(
    granule: xr.Dataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[tuple[int, int]] = []
    both_running = threading.Barrier(2, timeout=30)

    def recording_model(spec: Any) -> Any:
        def run(tile: torch.Tensor) -> torch.Tensor:
            seen.append((threading.get_ident(), torch.get_num_threads()))
            both_running.wait()  # the two blocks advance tile by tile, together
            return F.interpolate(tile, scale_factor=4, mode="bicubic", align_corners=False)

        return run

    monkeypatch.setattr(inference, "_resolve_model", recording_model)
    radiance = da.from_array(granule.radiance.values, chunks=(20, -1, -1))
    # Two blocks of 20 LR rows, each in three tiles (9 + 9 + 2 rows), on two dask threads.
    budget = 13 * N_PIXEL * inference._bytes_per_lr_pixel(model_spec("bicubic"), N_CHANNEL)
    lazy = super_resolve_array(radiance, "bicubic", device="cpu", activation_budget=budget)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with dask.config.set(scheduler="threads", num_workers=2):
            lazy.compute()
    finally:
        torch.set_num_threads(before)
    assert len(seen) == 6
    assert len({ident for ident, _ in seen}) == 2
    # Once both blocks run (after the first barrier), every tile gets 2 // 2 threads.
    assert [threads for _, threads in seen[2:]] == [1, 1, 1, 1]


def test_bicubic_pseudo_model_is_pytorch_bicubic(granule: xr.Dataset) -> None:
    radiance = granule.radiance.values
    expected = F.interpolate(
        torch.from_numpy(radiance.transpose(2, 0, 1).copy())[None],
        scale_factor=4,
        mode="bicubic",
        align_corners=False,
    )[0].permute(1, 2, 0)
    whole = super_resolve_array(radiance, "bicubic", device="cpu")
    np.testing.assert_array_equal(whole, expected.numpy())
    chunked = super_resolve_array(da.from_array(radiance, chunks=(8, -1, -1)), "bicubic")
    assert max_error(chunked.compute(), whole) <= 1e-6


# ---------------------------------------------------------------------------------- NaN
def nan_region(shape: tuple[int, int], rows: range, cols: range, radius: int) -> np.ndarray:
    """Documented HR region: |floor(i/4) - p| <= r and |floor(j/4) - q| <= r for a NaN (p, q)."""
    hr_rows = np.arange(4 * shape[0]) // 4
    hr_cols = np.arange(4 * shape[1]) // 4
    near_rows = (np.abs(hr_rows[:, None] - np.array(rows)[None]) <= radius).any(axis=1)
    near_cols = (np.abs(hr_cols[:, None] - np.array(cols)[None]) <= radius).any(axis=1)
    return near_rows[:, None] & near_cols[None, :]


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_missing_values_are_confined_to_the_documented_region(
    granule: xr.Dataset, bad: float
) -> None:
    spec = model_spec(weights=make_net(granule), device="cpu")
    clean = granule.radiance.values
    dirty = clean.copy()
    dirty[14:16, 5, 2] = bad  # one channel only: the network mixes channels, all get NaN
    reference = super_resolve_array(clean, spec)
    out = super_resolve_array(da.from_array(dirty, chunks=(8, -1, -1)), spec).compute()
    region = nan_region((N_SCANLINE, N_PIXEL), range(14, 16), range(5, 6), 5)
    for channel in range(N_CHANNEL):
        np.testing.assert_array_equal(np.isnan(out[..., channel]), region)
    assert max_error(out[~region], reference[~region]) <= 1e-5


def test_bicubic_missing_values_stay_in_their_channel(granule: xr.Dataset) -> None:
    dirty = granule.radiance.values.copy()
    dirty[3, 0, 1] = np.nan
    out = super_resolve_array(dirty, "bicubic", device="cpu")
    region = nan_region((N_SCANLINE, N_PIXEL), range(3, 4), range(0, 1), 2)
    np.testing.assert_array_equal(np.isnan(out[..., 1]), region)
    assert np.isfinite(np.delete(out, 1, axis=2)).all()


# ---------------------------------------------------------------------------------- xarray layer
def test_dataset_laziness_and_equality_with_numpy(granule: xr.Dataset) -> None:
    net = make_net(granule, "s5dscr_s")
    lazy_granule = granule.chunk({"scanline": 8})  # lat/lon and wavelengths become dask too
    with raise_if_dask_computes():
        lazy = lazy_granule.s5sr.super_resolve(weights=net, device="cpu")
        lazy_bicubic = lazy_granule.s5sr.bicubic()
        lazy_array = lazy_granule.radiance.s5sr.super_resolve(band=BAND, weights=net)
    assert isinstance(lazy.radiance.data, da.Array)
    assert isinstance(lazy.latitude.data, da.Array)
    assert isinstance(lazy_array, xr.DataArray)
    eager = granule.s5sr.super_resolve(weights=net, device="cpu")
    assert isinstance(eager.radiance.data, np.ndarray)
    computed = lazy.compute()
    xr.testing.assert_allclose(computed, eager, rtol=1e-5, atol=1e-5 * float(eager.radiance.max()))
    xr.testing.assert_allclose(lazy_array.compute(), eager.radiance)
    assert lazy_array.attrs["s5sr_model"] == "s5dscr_s"
    np.testing.assert_array_equal(
        lazy_bicubic.radiance.values, granule.s5sr.bicubic().radiance.values
    )


def test_snapshot_of_the_module_is_taken_when_the_graph_is_built(granule: xr.Dataset) -> None:
    net = make_net(granule, "s5dscr_s", "signed")
    lazy_input = granule.radiance.chunk({"scanline": 8})
    lazy = lazy_input.s5sr.super_resolve(band=BAND, weights=net, device="cpu")
    expected = granule.radiance.s5sr.super_resolve(band=BAND, weights=net, device="cpu")
    with torch.no_grad():
        net.blocks[-1].pointwise.weight.mul_(-3.0)  # training continues after the call
    xr.testing.assert_allclose(lazy.compute(), expected)
    assert net.training  # the caller's module is neither folded nor switched to eval


def test_graph_names_are_deterministic(granule: xr.Dataset) -> None:
    radiance = da.from_array(granule.radiance.values, chunks=(8, -1, -1))
    first = super_resolve_array(radiance, make_net(granule, "s5dscr_s", seed=0), device="cpu")
    again = super_resolve_array(radiance, make_net(granule, "s5dscr_s", seed=0), device="cpu")
    other = super_resolve_array(radiance, make_net(granule, "s5dscr_s", seed=1), device="cpu")
    assert first.name == again.name
    assert first.name != other.name
    assert first.name.startswith("s5sr-s5dscr_s")


def test_coordinates_on_the_hr_grid(granule: xr.Dataset) -> None:
    sr = granule.s5sr.bicubic()
    assert dict(sr.sizes) == {"scanline": 160, "ground_pixel": 48, "spectral_channel": 6}
    np.testing.assert_array_equal(sr.scanline.values, hr_positions(N_SCANLINE))
    np.testing.assert_array_equal(sr.ground_pixel.values, hr_positions(N_PIXEL))
    np.testing.assert_array_equal(sr.spectral_channel.values, granule.spectral_channel.values)
    # HR pixel (4j+2, 4k+2) sits on LR pixel (j, k): coordinates equal there.
    centre = {"scanline": slice(2, None, 4), "ground_pixel": slice(2, None, 4)}
    for name in ("latitude", "longitude"):
        assert sr[name].dtype == np.float32
        assert np.isfinite(sr[name].values).all()
        np.testing.assert_allclose(sr[name].isel(centre).values, granule[name].values, atol=2e-5)
    np.testing.assert_allclose(
        sr.nominal_wavelength.isel(ground_pixel=slice(2, None, 4)).values,
        granule.nominal_wavelength.values,
        rtol=1e-6,
    )
    np.testing.assert_array_equal(sr.delta_time.values, 1080 * hr_positions(N_SCANLINE))
    # Linear extrapolation half an LR pixel before the first and 0.25 after the last scanline.
    lat = granule.latitude.values.astype(np.float64)
    np.testing.assert_allclose(
        sr.latitude.values[0, 2::4], lat[0] - 0.5 * (lat[1] - lat[0]), atol=2e-5
    )
    np.testing.assert_allclose(
        sr.latitude.values[-1, 2::4], lat[-1] + 0.25 * (lat[-1] - lat[-2]), atol=2e-5
    )
    assert sr.time.values == granule.time.values


def test_longitude_is_interpolated_across_the_antimeridian() -> None:
    lon = np.array([[179.5, -179.9, -179.3]] * 4, dtype=np.float32)
    ds = xr.Dataset(
        {"radiance": (DIMS, np.ones((4, 3, 2), np.float32))},
        coords={
            "longitude": (("scanline", "ground_pixel"), lon, {"units": "degrees_east"}),
            "latitude": (("scanline", "ground_pixel"), np.full((4, 3), 89.9, np.float32)),
        },
        attrs={"s5p_band": BAND},
    )
    sr = bicubic_dataset(ds, variables=["radiance"], dims=DIMS, band=BAND)
    row = sr.longitude.values[5].astype(np.float64)
    # Positions -0.5, -0.25, 0, ... 2.25 along ground_pixel, steps of +0.6 degrees per LR pixel.
    expected = 179.5 + 0.6 * hr_positions(3)
    np.testing.assert_allclose(row, (expected + 180) % 360 - 180, atol=1e-4)
    assert (row >= -180).all()
    assert (row < 180).all()
    np.testing.assert_array_equal(sr.latitude.values, 89.9 * np.ones((16, 12), np.float32))


def test_metadata_history_and_dropped_variables(granule: xr.Dataset) -> None:
    net = make_net(granule, "s5dscr_s")
    source = granule.copy()
    source.attrs["history"] = "earlier processing"
    source.radiance.encoding.update(
        {"dtype": "int16", "scale_factor": 1e-9, "chunksizes": (1, 2, 3)}
    )
    sr = source.s5sr.super_resolve(weights=net, device="cpu")
    assert set(sr.data_vars) == {"radiance"}  # quality_level, radiance_noise: no HR meaning
    assert sr.radiance.attrs == granule.radiance.attrs
    for key, value in granule.attrs.items():
        assert sr.attrs[key] == value
    first, second = sr.attrs["history"].split("\n")
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ: s5sr\.super_resolve\(band=7, model='s5dscr_s'\) "
        r"\[xr_s5sr [^,]+, weights sha256:[0-9a-f]{64}\]",
        first,
    )
    assert second == "earlier processing"
    assert sr.attrs["s5sr_model"] == "s5dscr_s"
    assert sr.attrs["s5sr_scale"] == 4
    assert sr.attrs["s5p_band"] == BAND
    assert sr.attrs["s5sr_version"] == xr_s5sr.__version__
    assert sr.attrs["s5sr_weights_sha256"] == model_spec(weights=net).key
    assert '"layers": 1' in sr.attrs["s5sr_model_config"]
    assert all(not variable.encoding for variable in sr.variables.values())
    assert source.radiance.encoding["scale_factor"] == 1e-9  # input untouched
    assert "s5sr_model" not in source.attrs


def test_roundtrip_through_zarr_and_netcdf(granule: xr.Dataset, tmp_path: Path) -> None:
    net = make_net(granule, "s5dscr_s")
    sr = granule.chunk({"scanline": 13}).s5sr.super_resolve(weights=net, device="cpu")
    expected = sr.compute()
    zarr_path = xr_s5sr.to_zarr(sr, tmp_path / "sr.zarr")
    nc_path = xr_s5sr.to_netcdf(sr, tmp_path / "sr.nc")
    with xr.open_zarr(zarr_path) as from_zarr, xr.open_dataset(nc_path) as from_nc:
        xr.testing.assert_identical(from_zarr.load(), expected)
        xr.testing.assert_identical(from_nc.load(), expected)
    # A fresh process without torch opens the store with its coordinates and attributes.
    script = (
        "import xarray as xr, sys; ds = xr.open_zarr(sys.argv[1]); "
        "print(ds.radiance.shape, ds.latitude.shape, ds.attrs['s5sr_model'], "
        "'torch' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, str(zarr_path)], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "(160, 48, 6) (160, 48) s5dscr_s False"


def test_weights_file_is_loaded_per_process_from_a_small_spec(
    granule: xr.Dataset, tmp_path: Path
) -> None:
    from xr_s5sr.weights import save_weights

    net = make_net(granule, "s5dscr_s")
    path = tmp_path / "s5dscr_s_band7.safetensors"
    sha256 = save_weights(net, path, band=BAND, model_name="s5dscr_s")
    spec = model_spec("s5dscr_s", band=BAND, weights=path, device="cpu")
    assert spec.module is None
    assert spec.key == sha256
    assert len(pickle.dumps(spec)) < 2000
    from_file = granule.s5sr.super_resolve(model="s5dscr_s", weights=path, device="cpu")
    in_memory = granule.s5sr.super_resolve(weights=net, device="cpu")
    xr.testing.assert_allclose(from_file.radiance, in_memory.radiance, rtol=0, atol=0)
    assert from_file.attrs["s5sr_weights_sha256"] == sha256
    assert from_file.attrs["history"].endswith(f"weights sha256:{sha256}]")


def test_module_cache_is_shared_between_threads(granule: xr.Dataset) -> None:
    spec = model_spec(weights=make_net(granule, "s5dscr_s"), device="cpu")
    inference.clear_model_cache()
    found: list[Any] = []
    threads = [
        threading.Thread(target=lambda: found.append(inference._resolve_model(spec)))
        for _ in range(2)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert found[0] is found[1]
    unpickled = pickle.loads(pickle.dumps(spec))
    assert inference._resolve_model(unpickled) is found[0]  # keyed by content, not identity
    inference.clear_model_cache()
    assert inference._resolve_model(unpickled) is not found[0]


def test_in_memory_module_is_one_graph_key_not_part_of_every_task() -> None:
    net = build_model("s5dscr_s", 497)
    module_bytes = len(pickle.dumps(net))
    lazy = super_resolve_array(da.zeros((40, 4, 497), chunks=(8, -1, -1)), net, device="cpu")
    graph = dict(lazy.__dask_graph__())
    # The distributed scheduler sends tasks one by one: each pickled on its own.
    shipped = sum(len(pickle.dumps(task)) for task in graph.values())
    assert module_bytes > 1e6
    assert shipped < 1.5 * module_bytes


def test_distributed_cluster_equals_local(granule: xr.Dataset) -> None:
    distributed = pytest.importorskip("distributed")
    net = make_net(granule, "s5dscr")
    lazy = granule.chunk({"scanline": 8}).s5sr.super_resolve(
        weights=net, device="cpu", torch_threads=1
    )
    local = lazy.compute(scheduler="threads")
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        remote = client.compute(lazy).result()
        workers_used = len(client.run(lambda: 1))
    assert workers_used == 2
    xr.testing.assert_identical(remote, local)


# ---------------------------------------------------------------------------------- errors
def test_channel_mismatch_is_raised_eagerly(granule: xr.Dataset) -> None:
    net = make_net(granule, "s5dscr_s")
    lazy = granule.chunk({"scanline": 8}).isel(spectral_channel=slice(0, 5))
    with (
        raise_if_dask_computes(),
        pytest.raises(
            ChannelMismatchError, match="expects 6 spectral channels but the input has 5"
        ),
    ):
        lazy.s5sr.super_resolve(weights=net, device="cpu")


@pytest.mark.parametrize(
    ("array", "kwargs", "match"),
    [
        (np.zeros((4, 4)), {}, r"Expected a 3-D \(scanline, ground_pixel, spectral_channel\)"),
        (np.zeros((4, 4, 6)), {"axes": (0, 0, 2)}, "permutation of"),
        (np.zeros((0, 4, 6)), {}, r"at least one scanline .* got 0 scanline"),
        (np.zeros((4, 0, 6)), {}, r"got 4 scanline\(s\) × 0 ground pixel"),
        (da.zeros((8, 4, 6)), {"output_chunks": 30}, "positive multiple of 4 .* got 30. Use"),
        (da.zeros((8, 4, 6)), {"output_chunks": 0}, "positive multiple of 4 HR scanlines"),
    ],
)
def test_dimension_errors(array: Any, kwargs: dict[str, Any], match: str) -> None:
    with raise_if_dask_computes(), pytest.raises(DimensionError, match=match):
        super_resolve_array(array, "bicubic", device="cpu", **kwargs)


def test_variable_with_extra_dims_is_refused(granule: xr.Dataset) -> None:
    with_time = granule.radiance.expand_dims(time=1).to_dataset()
    with pytest.raises(DimensionError, match="needs exactly the dims"):
        super_resolve_dataset(
            with_time, variables=["radiance"], dims=DIMS, band=BAND, model="bicubic", device="cpu"
        )


def test_argument_errors(granule: xr.Dataset) -> None:
    radiance = granule.radiance.values
    with pytest.raises(
        ValueError, match=r"dtype must be one of \('float32', 'bfloat16', 'float16'\)"
    ):
        model_spec("bicubic", dtype="int8")
    with pytest.raises(ValueError, match=r"dtype='float16' needs a CUDA device, got device='cpu'"):
        model_spec("bicubic", device="cpu", dtype="float16")
    with pytest.raises(ValueError, match="dtype must be one of"):
        super_resolve_array(radiance, model_spec("bicubic", device="cpu"), dtype="int8")
    with pytest.raises(ValueError, match="needs a CUDA device"):
        super_resolve_array(radiance, model_spec("bicubic", device="cpu"), dtype="float16")
    with pytest.raises(ValueError, match="device must be 'cpu', 'cuda'"):
        model_spec("bicubic", device="tpu")
    with pytest.raises(ValueError, match="halo must be a non-negative"):
        super_resolve_array(radiance, "bicubic", device="cpu", halo=-1)
    with pytest.raises(WeightsError, match=r"must be a path or an xr_s5sr\.models\.S5DSCR"):
        model_spec(weights=torch.nn.Linear(2, 2))
    with pytest.raises(WeightsError, match="model must be a ModelSpec"):
        super_resolve_array(radiance, "s5dscr")
    with pytest.raises(BandError, match="pass band="):
        model_spec("s5dscr")


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_request_without_cuda() -> None:
    with pytest.raises(ValueError, match="torch sees no CUDA device"):
        model_spec("bicubic", device="cuda")
    assert model_spec("bicubic").device == "cpu"


# ---------------------------------------------------------------------------------- streaming
def stream_to_zarr(
    path: str, n_scanline: int, n_pixel: int | None, n_channel: int | None, model: str
) -> tuple[float, int]:
    """Super-resolve a lazily generated band-3 granule into ``path``; (seconds, peak RSS bytes).

    Meant to run in a fresh (spawned) process, so that the peak RSS is the pipeline's own.
    """
    import resource

    from dask.diagnostics import ProgressBar

    torch.set_num_threads(1)
    ds = make_granule(3, n_scanline, n_pixel, seed=3, n_channel=n_channel, chunks=16)
    net = build_model(model, ds.sizes["spectral_channel"])
    net.set_normalisation(2.2519e-07, 1e-07)
    sr = ds.s5sr.super_resolve(weights=net, device="cpu", torch_threads=1)
    start = time.perf_counter()
    with dask.config.set(scheduler="threads", num_workers=2), ProgressBar(minimum=1.0):
        xr_s5sr.to_zarr(sr, path)
    seconds = time.perf_counter() - start
    return seconds, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def run_streaming(path: Path, *args: Any) -> tuple[float, int]:
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(stream_to_zarr, (str(path), *args))


def test_streaming_pipeline_small(tmp_path: Path) -> None:
    seconds, peak = run_streaming(tmp_path / "small.zarr", 40, 12, 6, "s5dscr_s")
    with xr.open_zarr(tmp_path / "small.zarr") as out:
        assert out.radiance.shape == (160, 48, 6)
        assert out.radiance.encoding["chunks"][0] == 64
        assert bool(np.isfinite(out.radiance).all())
    assert seconds > 0
    assert peak > 0


@pytest.mark.slow
def test_streaming_full_band(tmp_path: Path) -> None:
    n_scanline = 3000
    seconds, peak = run_streaming(tmp_path / "band3.zarr", n_scanline, 450, 497, "s5dscr")
    print(
        f"\nstreamed {n_scanline} x 450 x 497 -> x4 zarr: {seconds:.0f} s "
        f"({seconds / n_scanline:.2f} s per LR scanline), peak RSS {peak / 2**30:.2f} GiB"
    )
    # Two workers, each at most one output block and its activations, plus libraries.
    budgets = inference.DEFAULT_OUTPUT_BUDGET + inference.DEFAULT_ACTIVATION_BUDGET
    assert peak < 2 * budgets + 2**30
