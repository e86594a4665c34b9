"""Running a network (or bicubic) on the LR tiles of one block: the tile shape from the
activation budget, torch threads shared among concurrent blocks, reduced precision, the local
scale of scale-equivariant networks and the out-of-distribution check.

Boundary: numpy in, numpy out; torch is imported inside the functions (``import xr_s5sr``
stays torch-free). The engine (:mod:`xr_s5sr.engine`) calls :func:`run_tiles` once per block;
the formula the tiles compute is :func:`xr_s5sr.models.compose`'s gated detail.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from typing import Any

import numpy as np

from xr_s5sr import tiling
from xr_s5sr.bands import SCALE
from xr_s5sr.errors import OutOfDistributionWarning
from xr_s5sr.fused import FusedS5DSCR
from xr_s5sr.operators import upsample
from xr_s5sr.spec import ModelSpec, resolve_runner

#: Median over pixels of the mean squared normalised network input above which the input is
#: reported as far outside the training data (training data: about 1).
OUT_OF_DISTRIBUTION_LEVEL = 25.0

#: Blocks being super-resolved in this process (shares torch threads among them).
_ACTIVE_BLOCKS = 0
_ACTIVE_BLOCKS_LOCK = threading.Lock()


def run_tiles(
    block: np.ndarray,
    before: int,
    n_core: int,
    out: np.ndarray,
    spec: ModelSpec,
    activation_budget: int,
    torch_threads: int | None,
    gate: np.ndarray | None = None,
) -> None:
    """Add the network's (or bicubic's) output of the core rows to ``out``, tile by tile;
    ``gate`` (LR, like ``block``) weighs a local-scaling network's detail."""
    import torch

    runner = resolve_runner(spec)
    n_ext, n_pixel, n_chan = block.shape
    halo = spec.tile_halo
    local = spec.scaling == "local"
    # Strip temporaries of every worker thread come out of the budget before the tiles do.
    max_workers = torch_threads if torch_threads is not None else torch.get_num_threads()
    rows, cols = tiling.tile_shape(
        n_core,
        n_pixel,
        halo,
        tiling.activation_bytes_per_lr_pixel(spec, n_chan),
        activation_budget - max_workers * tiling.strip_bytes(spec, n_chan),
    )
    checked = False
    with block_threads(torch_threads) as apply_threads, torch.inference_mode():
        for r0 in range(before, before + n_core, rows):
            r1 = min(r0 + rows, before + n_core)
            for c0 in range(0, n_pixel, cols):
                c1 = min(c0 + cols, n_pixel)
                apply_threads()
                # Each tile sees `halo` extra LR pixels where the block has them: exact.
                a, b = max(0, r0 - halo), min(n_ext, r1 + halo)
                c, d = max(0, c0 - halo), min(n_pixel, c1 + halo)
                target = out[SCALE * (r0 - before) : SCALE * (r1 - before), SCALE * c0 : SCALE * c1]
                tile = np.ascontiguousarray(block[a:b, c:d])
                scale = None
                if local:
                    scale = local_scale_map(tile)
                    tile = tile / scale[..., None]
                    weight = scale if gate is None else scale * gate[a:b, c:d]
                if spec.is_network and not checked:
                    check_distribution(tile, runner, spec)
                    checked = True
                hr = run_tile(runner, tile, spec, (r0 - a, r1 - a), (c0 - c, c1 - c))
                if scale is not None:
                    hr_scale = upsample(weight, kind="linear")[
                        SCALE * (r0 - a) : SCALE * (r1 - a), SCALE * (c0 - c) : SCALE * (c1 - c)
                    ]
                    hr *= hr_scale[..., None]
                target += hr


def run_tile(
    runner: Any, tile: np.ndarray, spec: ModelSpec, rows: tuple[int, int], cols: tuple[int, int]
) -> np.ndarray:
    """HR output of the core ``rows``/``cols`` (LR, within the tile) of one tile."""
    import torch

    core = (SCALE * cols[0], SCALE * cols[1])
    if isinstance(runner, FusedS5DSCR):
        # The block's torch threads become strip workers of one thread each.
        hr = runner.upscale(tile, rows, workers=torch.get_num_threads())
        return hr[:, core[0] : core[1]].numpy()
    # (1, C, h, w) view of the (h, w, C) tile: channels-last, no transposing copy.
    lr = torch.from_numpy(tile).permute(2, 0, 1)[None].to(spec.device)
    # A local-scaling tile was divided by its local scale already: the detail per unit of scale.
    # Reduced precision covers the network only: the local scale and its upsampling around it
    # stay float32 numpy (under CPU autocast they came out bfloat16, which numpy cannot hold).
    with autocast_for(spec):
        hr = runner.relative_detail(lr) if spec.scaling == "local" else runner(lr)
    hr = hr[0].permute(1, 2, 0).float()
    hr = hr[SCALE * rows[0] : SCALE * rows[1], core[0] : core[1]]
    return hr.cpu().numpy()


def local_scale_map(tile: np.ndarray) -> np.ndarray:
    """:func:`xr_s5sr.models.local_scale` of an (h, w, C) tile, as an (h, w) array."""
    import torch

    from xr_s5sr.models import local_scale

    return local_scale(torch.from_numpy(tile).permute(2, 0, 1)[None])[0, 0].numpy()


def check_distribution(tile: np.ndarray, runner: Any, spec: ModelSpec) -> None:
    """Warn when the normalised network input is far from the training data (median level)."""
    mean = runner.input_mean.detach().cpu().numpy()
    std = runner.input_std.detach().cpu().numpy()
    level = float(np.median(np.mean(np.square((tile - mean) / std), axis=-1)))
    if level > OUT_OF_DISTRIBUTION_LEVEL:
        kind = (
            "spectral shape (radiance divided by its local level)"
            if spec.scaling == "local"
            else "brightness or spectral shape"
        )
        warnings.warn(
            f"The input's {kind} lies far outside the training data of the {spec.name!r} "
            f"weights: mean squared normalised input {level:.3g} (training data: about 1). "
            "The result may be unreliable: compare with model='backprojection' (training-free) "
            "or fine-tune the weights on your data.",
            OutOfDistributionWarning,
            stacklevel=2,
        )


def autocast_for(spec: ModelSpec) -> Any:
    """``torch.autocast`` for reduced precision on the reference path (the fused path casts)."""
    if spec.dtype == "float32" or spec.uses_fused_path:
        return nullcontext()
    import torch

    return torch.autocast(device_type=spec.device.split(":")[0], dtype=getattr(torch, spec.dtype))


@contextmanager
def block_threads(threads: int | None) -> Iterator[Callable[[], None]]:
    """Torch intra-op threads of one block; yields a callable that (re)applies them per tile.

    ``threads`` if given; otherwise this thread's torch threads shared among the blocks running
    in this process at that moment (two dask threads on two cores: one torch thread each, as
    two OpenMP teams of two oversubscribe the cores; a single numpy call keeps them all).
    torch threads are per calling thread, so concurrent blocks do not disturb each other; the
    previous value is restored at the end.
    """
    import torch

    global _ACTIVE_BLOCKS
    previous = torch.get_num_threads()
    with _ACTIVE_BLOCKS_LOCK:
        _ACTIVE_BLOCKS += 1

    def apply() -> None:
        wanted = threads if threads is not None else max(1, previous // max(1, _ACTIVE_BLOCKS))
        if torch.get_num_threads() != wanted:
            torch.set_num_threads(wanted)

    try:
        apply()
        yield apply
    finally:
        with _ACTIVE_BLOCKS_LOCK:
            _ACTIVE_BLOCKS -= 1
        if torch.get_num_threads() != previous:
            torch.set_num_threads(previous)


__all__ = [
    "OUT_OF_DISTRIBUTION_LEVEL",
    "autocast_for",
    "block_threads",
    "check_distribution",
    "local_scale_map",
    "run_tile",
    "run_tiles",
]
