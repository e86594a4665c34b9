"""Shared test helpers: dask compute guard, synthetic granule fixtures, reference data paths."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dask
import numpy as np
import pytest
import torch
from torch import nn

#: Real S5P crops of the S5P_SISR_Toolbox (never committed; read when present).
REFERENCE_DIR = Path(__file__).resolve().parents[2] / "shared" / "reference" / "s5p_sisr_toolbox"


class CountingScheduler:
    """dask scheduler that counts computes and raises once more than ``max_computes`` happen."""

    def __init__(self, max_computes: int = 0):
        self.total_computes = 0
        self.max_computes = max_computes

    def __call__(self, dsk, keys, **kwargs):
        self.total_computes += 1
        if self.total_computes > self.max_computes:
            raise RuntimeError(f"Too many dask computations were scheduled: {self.total_computes}")
        return dask.get(dsk, keys, **kwargs)


@contextmanager
def raise_if_dask_computes(max_computes: int = 0) -> Iterator[CountingScheduler]:
    """Context in which any dask compute beyond ``max_computes`` raises ``RuntimeError``."""
    scheduler = CountingScheduler(max_computes)
    with dask.config.set(scheduler=scheduler):
        yield scheduler


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)


def randomise_batchnorm(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Give every BatchNorm non-trivial running statistics and affine parameters."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.BatchNorm2d):
                size = module.num_features
                module.running_mean.copy_(0.3 * torch.randn(size, generator=generator))
                module.running_var.copy_(0.5 + 1.5 * torch.rand(size, generator=generator))
                module.weight.copy_(0.5 + torch.rand(size, generator=generator))
                module.bias.copy_(0.2 * torch.randn(size, generator=generator))
    return model


def reference_path(name: str) -> Path:
    """Path of a toolbox reference file, skipping the test when ``../shared`` is absent."""
    path = REFERENCE_DIR / name
    if not path.exists():
        pytest.skip(f"reference data {path} not available (needs ../shared/reference)")
    return path
