"""Tests of xr_s5sr.fused: the fast CPU form of a network equals the module, banded bicubic."""

from __future__ import annotations

import copy
from dataclasses import replace

import numpy as np
import pytest
import torch
import xarray as xr
from conftest import make_net, max_error

from xr_s5sr import fused
from xr_s5sr.engine import super_resolve_array
from xr_s5sr.errors import WeightsError
from xr_s5sr.fused import FusedS5DSCR
from xr_s5sr.models import S5DSCR, bicubic_x4, fold_batchnorm
from xr_s5sr.spec import model_spec
from xr_s5sr.synthetic import make_granule

BAND = 7
N_CHANNEL = 6
N_SCANLINE = 40
N_PIXEL = 12
VARIANTS = [(name, residual) for name in ("s5dscr", "s5dscr_s") for residual in ("paper", "signed")]


@pytest.fixture(scope="module")
def granule() -> xr.Dataset:
    """Small numpy-backed synthetic band-7 granule (radiance ~5e-8 mol m-2 nm-1 sr-1 s-1)."""
    return make_granule(BAND, N_SCANLINE, N_PIXEL, seed=1, n_channel=N_CHANNEL)


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
    # The network alone: no data-consistency projection after it.
    spec = model_spec(weights=net, device="cpu", consistency=False)
    assert spec.uses_fused_path
    assert not replace(spec, fused=False).uses_fused_path
    radiance = granule.radiance.values
    expected = reference_forward(net, radiance)
    fast = super_resolve_array(radiance, spec)
    reference = super_resolve_array(radiance, replace(spec, fused=False))
    assert max_error(fast, expected) <= 1e-5
    assert max_error(reference, expected) <= 1e-5
    assert max_error(fast, reference) > 0  # two different computations
    # Strips of 7 HR pixels: 1-row strips, strips that end inside a row's reach, ragged ends;
    # with two torch threads the strips run on two worker threads.
    monkeypatch.setattr(fused, "STRIP_PIXELS", 7)
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
    monkeypatch.setattr(fused, "STRIP_PIXELS", 100)  # strips of 2 HR rows
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
    padded = fused._bicubic_x4(z, pad=2)
    expected = bicubic_x4(z.permute(2, 0, 1)[None])[0].permute(1, 2, 0)
    torch.testing.assert_close(padded[2 : 2 + 4 * rows], expected, rtol=0, atol=2e-6)
    assert padded.shape[0] >= 4 * rows + 4
    assert bool((padded[:2] == 0).all())
    assert bool((padded[2 + 4 * rows : 4 + 4 * rows] == 0).all())
