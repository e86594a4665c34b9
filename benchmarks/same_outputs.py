"""Whether a restructuring changed any number: the operators' outputs of two checkouts, compared.

Run it once with each checkout first on the path, then compare (NaN-aware, bit for bit)::

    PYTHONPATH=<old checkout> python benchmarks/same_outputs.py --write old.npz
    PYTHONPATH=<new checkout> python benchmarks/same_outputs.py --write new.npz
    python benchmarks/same_outputs.py --compare old.npz new.npz

The outputs cover the degradation on numpy and dask (float32 and float64, a NaN in the input,
bands 3 and 7, scanline-first and channel-first layouts), the physics operators (``U`` cubic and
linear, ``A``, ``Aᵀ``, back-projection, the regularised projection) and the fast CPU bicubic of
:mod:`xr_s5sr.fused` on a small and an orbit-wide tile. Uses only the names that both sides of
the operators move (main 7a8f066 and later) provide.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np


def outputs() -> dict[str, np.ndarray]:
    """Every output, by name, from the ``xr_s5sr`` first on ``sys.path``."""
    import dask.array as da
    import torch

    from xr_s5sr import fused, physics
    from xr_s5sr.degrade import degrade_array

    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    out: dict[str, np.ndarray] = {}
    for dtype in ("f4", "f8"):
        x = rng.normal(size=(203, 97, 5)).astype(dtype)
        x[50, 40, 2] = np.nan
        for band in (3, 7):
            out[f"numpy {dtype} band {band}"] = degrade_array(x, band)
            lazy = da.from_array(x, chunks=(37, 50, 5))
            out[f"dask {dtype} band {band}"] = degrade_array(lazy, band).compute()
            channel_first = np.moveaxis(x, 2, 0)
            out[f"axes {dtype} band {band}"] = degrade_array(channel_first, band, axes=(1, 2))
    y = rng.normal(size=(40, 30, 6)).astype("f4")
    out["upsample cubic"] = physics.upsample(y)
    out["upsample linear"] = physics.upsample(y, kind="linear")
    out["degrade"] = physics.degrade(physics.upsample(y), 7)
    out["adjoint"] = physics.degrade_adjoint(y, 7, (160, 120))
    out["backproject"] = physics.backproject(y, 7)
    out["project"] = physics.project(physics.upsample(y), y, 7, regularisation=0.1)
    small = torch.from_numpy(rng.normal(size=(13, 37, 3)).astype("f4"))
    out["fused bicubic small"] = fused._bicubic_x4(small, pad=2)[2 : 2 + 52].numpy()
    wide = torch.from_numpy(rng.normal(size=(40, 220, 480)).astype("f4"))
    out["fused bicubic orbit-wide"] = fused._bicubic_x4(wide, pad=3)[3 : 3 + 160].numpy()
    return out


def compare(old: str, new: str) -> int:
    """Print one line per output; 0 when every output is bit-identical (NaNs where NaNs are)."""
    before, after = np.load(old), np.load(new)
    changed = 0
    for name in before.files:
        a, b = before[name], after[name]
        if a.shape == b.shape and np.array_equal(a, b, equal_nan=True):
            print(f"{name}: identical {a.shape}")
            continue
        changed += 1
        detail = f"max |diff| {np.nanmax(np.abs(a - b)):.3g}" if a.shape == b.shape else "shape"
        print(f"{name}: CHANGED ({detail})")
    return 1 if changed else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--write", metavar="NPZ", help="write this checkout's outputs")
    group.add_argument("--compare", nargs=2, metavar=("OLD", "NEW"), help="compare two files")
    args = parser.parse_args()
    if args.compare:
        return compare(*args.compare)
    np.savez(args.write, **outputs())
    return 0


if __name__ == "__main__":
    sys.exit(main())
