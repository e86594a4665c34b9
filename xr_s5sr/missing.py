"""Missing (non-finite) LR values: the one policy of filling and masking them.

Boundary: numpy arrays only (LR blocks with axes scanline, ground_pixel, spectral_channel and
the HR blocks made from them); the engine (:mod:`xr_s5sr.engine`) fills every block before any
processing and masks every output block after it, with the halos of :mod:`xr_s5sr.tiling`.

Policies
    ``missing="fill"`` (default): non-finite LR values are filled before any processing, along
    the spectrum at each pixel (linear in channel index) or, for pixels without any valid
    channel, from the mean of the valid 8 neighbours (repeated up to 4 times, else 0); afterwards
    exactly their HR footprint (the 4 × 4 HR pixels of the LR pixel, that channel only) is NaN.
    Far from a hole the result equals the clean run up to the reach of the method.
    ``missing="strict"``: every HR pixel whose value a missing value changes by more than 1e-3
    of the local radiance is NaN (:func:`strict_radius`), in that channel, or in every channel
    for networks without physics steps, whose 1×1 convolutions mix channels.
"""

from __future__ import annotations

from typing import Any, Literal, cast

import numpy as np
from scipy import ndimage

from xr_s5sr import tiling
from xr_s5sr.bands import SCALE
from xr_s5sr.constrained import influence_radius
from xr_s5sr.options import MISSING_POLICIES
from xr_s5sr.spec import FILL_REACH, ModelSpec, method_reach

Missing = Literal["fill", "strict"]


def fill_block(block: np.ndarray) -> np.ndarray:
    """:func:`fill_missing` of a block when it has non-finite values, else the block."""
    block = np.asarray(block, dtype=np.float32)
    holes = ~np.isfinite(block)
    return fill_missing(block, holes) if holes.any() else block


def fill_missing(block: np.ndarray, holes: np.ndarray) -> np.ndarray:
    """Fill non-finite LR values: along the spectrum, then from valid neighbours (docstring)."""
    out = np.where(holes, np.float32(0.0), block)
    partial = holes.any(axis=2) & ~holes.all(axis=2)
    channels = np.arange(block.shape[2])
    for r, c in np.argwhere(partial):
        valid = ~holes[r, c]
        out[r, c, ~valid] = np.interp(channels[~valid], channels[valid], block[r, c, valid])
    empty: np.ndarray = np.asarray(holes.all(axis=2))
    ring = np.ones((3, 3))
    for _ in range(FILL_REACH):
        if not empty.any():
            break
        valid = ~empty
        total = ndimage.convolve(
            np.where(valid[..., None], out, 0.0), ring[..., None], mode="constant"
        )
        count = ndimage.convolve(valid.astype(np.float32), ring, mode="constant")
        fillable = empty & (count > 0)
        out[fillable] = total[fillable] / count[fillable][:, None]
        empty &= ~fillable
    return out


def footprint(holes: np.ndarray) -> np.ndarray:
    """HR mask of the 4 × 4 HR pixels of every missing LR value (same channel)."""
    return np.repeat(np.repeat(holes, SCALE, axis=0), SCALE, axis=1)


def mask_missing(
    out: np.ndarray, lr: np.ndarray, before: int, after: int, spec: ModelSpec, missing: Missing
) -> np.ndarray:
    """Set NaN where the policy says (``lr``: the raw LR block with ``before``/``after`` rows
    of context around the rows of ``out``)."""
    holes = ~np.isfinite(lr)
    if not holes.any():
        return out
    n_core = lr.shape[0] - before - after
    mask = (
        footprint(holes[before : before + n_core])
        if missing == "fill"
        else _hr_missing(holes, spec, before, n_core)
    )
    np.copyto(out, np.float32(np.nan), where=mask)
    return out


def mask_block(
    out: np.ndarray,
    lr: np.ndarray,
    *,
    radius: int,
    spec: ModelSpec,
    missing: Missing,
    block_info: dict[Any, Any] | None = None,
) -> np.ndarray:
    """:func:`mask_missing` of one HR block with its (overlapped) raw LR block."""
    before, after = tiling.block_halos(block_info, 1, radius)
    return mask_missing(
        np.array(out, dtype=np.float32, copy=True), lr, before, after, spec, missing
    )


def strict_radius(spec: ModelSpec) -> int:
    """LR pixels around a missing value that ``missing="strict"`` masks.

    Methods with a physics step (back-projection, consistency): where changing the missing value
    by up to 10 × the local radiance changes the result by more than 1e-3 of the local radiance
    (:func:`xr_s5sr.constrained.influence_radius`; a network's detail adds its receptive field):
    17 LR pixels in bands 7–8, 8–9 in bands 2–6 (docs/physics.md, "Missing values"). Bicubic
    and networks without physics steps: their whole reach.
    """
    if not (spec.consistency or spec.uses_physics_base):
        return method_reach(spec, 0)

    iterations = spec.iterations if spec.uses_physics_base else 0
    detail = spec.tile_halo if spec.is_network else 0
    return influence_radius(cast(int, spec.band), iterations, spec.consistency, detail)


def _hr_missing(missing: np.ndarray, spec: ModelSpec, before: int, n_core: int) -> np.ndarray:
    """HR mask (broadcastable to the output) of pixels a missing LR input can influence."""
    # Networks mix channels (1x1 convolutions); added to the physics inverse their gated detail
    # moves other channels by < 1e-3 of the radiance (measured, docs/physics.md), so only the
    # channel of a missing value is masked there; a network alone masks every channel.
    mixes = spec.is_network and not spec.uses_physics_base
    seeds = missing.any(axis=2, keepdims=True) if mixes else missing
    size = 2 * strict_radius(spec) + 1
    grown = ndimage.binary_dilation(seeds, structure=np.ones((size, size, 1), bool))
    core = grown[before : before + n_core]
    return np.repeat(np.repeat(core, SCALE, axis=0), SCALE, axis=1)


__all__ = [
    "MISSING_POLICIES",
    "Missing",
    "fill_block",
    "fill_missing",
    "footprint",
    "mask_block",
    "mask_missing",
    "strict_radius",
]
