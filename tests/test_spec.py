"""Tests of xr_s5sr.spec: ModelSpec from user choices, halos, the per-process model cache."""

from __future__ import annotations

import pickle
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import xarray as xr
from conftest import make_net, tiny_local_network
from dask.base import tokenize

from xr_s5sr import spec as spec_module
from xr_s5sr import weights
from xr_s5sr.errors import BandError, S5SRArgumentError, WeightsError
from xr_s5sr.fused import FusedS5DSCR
from xr_s5sr.models import S5DSCR, bicubic_x4
from xr_s5sr.spec import model_spec
from xr_s5sr.synthetic import make_granule

BAND = 7
N_CHANNEL = 6


@pytest.fixture(scope="module")
def granule() -> xr.Dataset:
    return make_granule(BAND, 40, 12, seed=1, n_channel=N_CHANNEL)


# ---------------------------------------------------------------------------------- methods
def test_consistency_defaults_to_true_except_for_bicubic(granule: xr.Dataset) -> None:
    assert not model_spec("bicubic", device="cpu").consistency
    assert model_spec("bicubic", band=BAND, device="cpu", consistency=True).consistency
    backprojection = model_spec("backprojection", band=BAND, device="cpu")
    assert backprojection.consistency
    assert backprojection.uses_physics_base
    assert not backprojection.is_network
    net = model_spec(weights=make_net(granule), band=BAND, device="cpu")
    assert net.consistency
    assert not net.uses_physics_base  # z-score network: no physics inverse below it
    assert not model_spec(weights=make_net(granule), device="cpu", consistency=False).consistency


def test_regularisation_is_recorded_and_validated() -> None:
    assert model_spec("backprojection", band=BAND, device="cpu").regularisation == "auto"
    spec = model_spec("backprojection", band=BAND, device="cpu", regularisation=0.03)
    assert spec.regularisation == 0.03
    exact = model_spec("backprojection", band=BAND, device="cpu", regularisation=0)
    assert exact.regularisation == 0.0
    # Bicubic has nothing to regularise: its spec (and graph token) ignores the setting.
    assert model_spec("bicubic", device="cpu").regularisation == 0.0
    assert tokenize(spec) != tokenize(exact)
    for bad in (-0.1, float("nan"), float("inf"), "automatic", True):
        with pytest.raises(S5SRArgumentError, match="regularisation must be 'auto' or a finite"):
            model_spec("backprojection", band=BAND, device="cpu", regularisation=bad)


@pytest.mark.parametrize(("name", "tile_halo"), [("s5dscr", 4), ("s5dscr_s", 2)])
def test_network_halos(granule: xr.Dataset, name: str, tile_halo: int) -> None:
    alone = model_spec(weights=make_net(granule, name), device="cpu", consistency=False)
    assert alone.halo == alone.tile_halo == tile_halo
    projected = model_spec(weights=make_net(granule, name), band=BAND, device="cpu")
    assert projected.halo == tile_halo  # the projection moves LR data only


def test_block_halo_includes_the_reach_of_the_physics_steps() -> None:
    local = model_spec(weights=tiny_local_network(), device="cpu")
    assert local.band == BAND  # from the network
    assert local.scaling == "local"
    assert local.uses_physics_base
    assert local.tile_halo == 4  # (1 + 5) // 4 + 1 + the local scale window (2)
    backprojection = model_spec("backprojection", band=BAND, device="cpu")
    assert local.halo == backprojection.halo > local.tile_halo
    fewer = model_spec("backprojection", band=BAND, device="cpu", iterations=2)
    assert fewer.halo < backprojection.halo  # each iteration reaches further


def test_spec_of_a_weights_file_is_small(granule: xr.Dataset, tmp_path: Path) -> None:
    net = make_net(granule, "s5dscr_s")
    path = tmp_path / "s5dscr_s_band7.safetensors"
    sha256 = weights.save_weights(net, path, band=BAND, model_name="s5dscr_s")
    spec = model_spec("s5dscr_s", band=BAND, weights=path, device="cpu")
    assert spec.module is None
    assert spec.key == sha256
    assert len(pickle.dumps(spec)) < 2000
    in_memory = model_spec(weights=net, band=BAND, device="cpu")
    assert in_memory.key != sha256  # state_dict hash, not a file hash
    assert in_memory.module is not None
    assert in_memory.config == spec.config


def test_snapshot_of_an_in_memory_module(granule: xr.Dataset) -> None:
    net = make_net(granule, "s5dscr_s", "signed")
    spec = model_spec(weights=net, device="cpu", consistency=False)
    assert net.training  # the caller's module is neither folded nor switched to eval
    assert spec.module is not None
    assert not spec.module.training
    with torch.no_grad():
        net.blocks[-1].pointwise.weight.mul_(-3.0)  # training continues after the call
    assert model_spec(weights=net, device="cpu", consistency=False).key != spec.key


# ---------------------------------------------------------------------------------- cache
def test_module_cache_is_shared_between_threads(granule: xr.Dataset) -> None:
    spec = model_spec(weights=make_net(granule, "s5dscr_s"), device="cpu", consistency=False)
    weights.clear_model_cache()
    found: list[Any] = []
    threads = [
        threading.Thread(target=lambda: found.append(spec_module.resolve_model(spec)))
        for _ in range(2)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert found[0] is found[1]
    unpickled = pickle.loads(pickle.dumps(spec))
    assert spec_module.resolve_model(unpickled) is found[0]  # keyed by content, not identity
    weights.clear_model_cache()
    assert spec_module.resolve_model(unpickled) is not found[0]


def test_runners(granule: xr.Dataset) -> None:
    assert spec_module.resolve_runner(model_spec("bicubic", device="cpu")) is bicubic_x4
    spec = model_spec(weights=make_net(granule, "s5dscr_s"), device="cpu", consistency=False)
    runner = spec_module.resolve_runner(spec)
    assert isinstance(runner, FusedS5DSCR)
    assert spec_module.resolve_runner(spec) is runner  # cached
    from dataclasses import replace

    assert isinstance(spec_module.resolve_runner(replace(spec, fused=False)), S5DSCR)


# ---------------------------------------------------------------------------------- errors
def test_argument_errors(granule: xr.Dataset) -> None:
    with pytest.raises(
        ValueError, match=r"dtype must be one of \('float32', 'bfloat16', 'float16'\)"
    ):
        model_spec("bicubic", dtype="int8")
    with pytest.raises(ValueError, match=r"dtype='float16' needs a CUDA device, got device='cpu'"):
        model_spec("bicubic", device="cpu", dtype="float16")
    with pytest.raises(ValueError, match="device must be 'cpu', 'cuda'"):
        model_spec("bicubic", device="tpu")
    with pytest.raises(ValueError, match="iterations must be a non-negative integer, got -1"):
        model_spec("backprojection", band=BAND, iterations=-1)
    with pytest.raises(WeightsError, match=r"must be a path or an xr_s5sr\.models\.S5DSCR"):
        model_spec(weights=torch.nn.Linear(2, 2))
    with pytest.raises(BandError, match="pass band="):
        model_spec("s5dscr")
    with pytest.raises(BandError, match=r"model='backprojection' .* needs the S5P band: pass"):
        model_spec("backprojection")
    with pytest.raises(BandError, match=r"model='bicubic' .* needs the S5P band"):
        model_spec("bicubic", consistency=True)
    with pytest.raises(BandError, match=r"projection needs the S5P band.*or consistency=False"):
        model_spec(weights=make_net(granule), consistency=True)
    # Without a band an in-memory z-score network runs without the projection.
    assert not model_spec(weights=make_net(granule)).consistency
    with pytest.raises(BandError, match=r"trained for band 7 but band=3 was given"):
        model_spec(weights=tiny_local_network(), band=3)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_request_without_cuda() -> None:
    with pytest.raises(ValueError, match="torch sees no CUDA device"):
        model_spec("bicubic", device="cuda")
    assert model_spec("bicubic").device == "cpu"


def test_tokens_identify_the_weights_not_the_module_object(granule: xr.Dataset) -> None:
    from dask.base import tokenize

    first = model_spec(weights=make_net(granule, "s5dscr_s"), device="cpu", consistency=False)
    again = model_spec(weights=make_net(granule, "s5dscr_s"), device="cpu", consistency=False)
    assert first.module is not again.module
    assert first == again
    assert tokenize(first) == tokenize(again)
    assert tokenize(first) != tokenize(model_spec("bicubic", device="cpu"))
    assert np.isfinite(float(first.receptive_radius))
