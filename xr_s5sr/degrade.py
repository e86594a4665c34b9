"""Physical degradation model HR → LR of the S5P_SISR_Toolbox (SPEC §2) on numpy, dask and xarray.

The operator ``A`` is :func:`xr_s5sr.operators.degrade_operator` (the band's MTF kernels of
:func:`xr_s5sr.bands.band_kernels`); this module applies it to numpy arrays in its direct
tap-by-tap form (no torch needed), to dask arrays block by block with a halo, adds the seeded
noise, and wraps it for xarray objects (:func:`degrade_dataset`, which also builds the LR grid
coordinates).

The model, per spectral channel:

1. separable Gaussian-like MTF kernels from the band's GNyq values
   (:func:`xr_s5sr.bands.mtf_kernels`);
2. the kernel built from ``GNyq_x`` filters along **scanline** (axis 0), the one from ``GNyq_y``
   along **ground_pixel** (axis 1), with zeros outside the image and taps at offsets −20…19;
3. decimation: LR pixel ``j`` is the filtered HR pixel ``4 j + 2``, for ``j < floor(n / 4)``.

NaN handling: a NaN in the input makes NaN every LR pixel whose 40-tap support (along either
axis) contains it, and no other pixel — the filter taps are all non-zero inside the support.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import TYPE_CHECKING, Any, Literal, cast

import numpy as np

from xr_s5sr.bands import HALF_TAPS, SCALE, get_band
from xr_s5sr.errors import DimensionError, S5SRArgumentError, S5SRError
from xr_s5sr.grid import lr_positions
from xr_s5sr.operators import DEGRADE_REACH, AxisOperator, degrade_operator
from xr_s5sr.provenance import add_provenance
from xr_s5sr.tiling import align_chunks, is_valid_plan, regular_plan

if TYPE_CHECKING:
    import dask.array
    import xarray as xr

NoiseSpec = Literal["lr", "hr"] | float | None


def _degrade_numpy(
    x: np.ndarray, operators: tuple[AxisOperator, AxisOperator], axes: tuple[int, int], ratio: int
) -> np.ndarray:
    out = x
    for axis, operator in zip(axes, operators, strict=True):
        out = operator.correlate(out, axis, out.shape[axis] // ratio)
    return out


def _degrade_dask(
    x: dask.array.Array,
    operators: tuple[AxisOperator, AxisOperator],
    axes: tuple[int, int],
    ratio: int,
) -> dask.array.Array:
    import dask.array as da

    out = x
    for axis, operator in zip(axes, operators, strict=True):
        # Chunks that are multiples of `ratio` keep every block aligned with the global
        # decimation phase (LR j <-> HR ratio*j + ratio//2), which makes any chunking exact.
        aligned = _aligned_chunks(out.chunks[axis], ratio)
        if aligned != out.chunks[axis]:
            out = out.rechunk({axis: aligned})
        if out.numblocks[axis] > 1 and min(out.chunks[axis]) >= ratio * DEGRADE_REACH:
            out = _correlate_decimate_summed(out, operator, axis, ratio)
            continue
        if out.numblocks[axis] == 1:
            # One block along the axis: it is the whole axis, filtered with zeros outside in
            # the task (no padded copy of the HR block in the graph).
            out = da.map_blocks(
                _block_correlate,
                out,
                operator=operator,
                axis=axis,
                ratio=ratio,
                chunks=tuple(
                    (out.shape[axis] // ratio,) if i == axis else c
                    for i, c in enumerate(out.chunks)
                ),
                dtype=np.float64 if out.dtype == np.float64 else np.float32,
                meta=np.empty(
                    (0,) * out.ndim, dtype=np.float64 if out.dtype == np.float64 else np.float32
                ),
            )
            continue
        padded = da.overlap.overlap(
            out, depth={axis: HALF_TAPS}, boundary={axis: 0}, allow_rechunk=False
        )
        out_chunks = list(out.chunks)
        out_chunks[axis] = tuple(c // ratio for c in out.chunks[axis])
        out = da.map_blocks(
            _block_correlate_decimate,
            padded,
            operator=operator,
            axis=axis,
            ratio=ratio,
            chunks=tuple(out_chunks),
            dtype=np.float64 if out.dtype == np.float64 else np.float32,
            meta=np.empty(
                (0,) * out.ndim, dtype=np.float64 if out.dtype == np.float64 else np.float32
            ),
        )
    return out


def _correlate_decimate_summed(
    x: dask.array.Array, operator: AxisOperator, axis: int, ratio: int
) -> dask.array.Array:
    """``A`` along ``axis`` of a dask array whose blocks hold at least ``DEGRADE_REACH`` LR
    pixels: every block alone gives its LR part and the :data:`DEGRADE_REACH` LR rows it spills
    into each neighbour, and the LR parts are summed (overlap-add). Only LR data cross block
    borders: no HR block is copied with a halo or waits for its neighbours (which made the
    χ² of a written result hold HR blocks on a cluster)."""
    import dask.array as da

    spill = DEGRADE_REACH
    parts_chunks = list(x.chunks)
    parts_chunks[axis] = tuple(c // ratio + 2 * spill for c in x.chunks[axis])
    dtype = np.float64 if x.dtype == np.float64 else np.float32
    parts = da.map_blocks(
        _spilled_part,
        x,
        operator=operator,
        axis=axis,
        ratio=ratio,
        chunks=tuple(parts_chunks),
        dtype=dtype,
        meta=np.empty((0,) * x.ndim, dtype=dtype),
    )
    extended = da.overlap.overlap(
        parts, depth={axis: 2 * spill}, boundary={axis: 0}, allow_rechunk=False
    )
    out_chunks = list(x.chunks)
    out_chunks[axis] = tuple(c // ratio for c in x.chunks[axis])
    return da.map_blocks(
        _overlap_add,
        extended,
        axis=axis,
        spill=spill,
        chunks=tuple(out_chunks),
        dtype=dtype,
        meta=np.empty((0,) * x.ndim, dtype=dtype),
    )


def _spilled_part(block: np.ndarray, operator: AxisOperator, axis: int, ratio: int) -> np.ndarray:
    """``A`` along ``axis`` of one block seen as zero outside it: its own LR rows and
    :data:`DEGRADE_REACH` rows each side."""
    spill = DEGRADE_REACH
    widths = [(0, 0)] * block.ndim
    widths[axis] = (ratio * spill + HALF_TAPS, ratio * spill + HALF_TAPS)
    padded = np.pad(block, widths)
    return operator.correlate_padded(
        padded, axis, block.shape[axis] // ratio + 2 * spill, HALF_TAPS
    )


def _overlap_add(block: np.ndarray, axis: int, spill: int) -> np.ndarray:
    """A part's own LR rows plus what its neighbours spill into them (:func:`_spilled_part`
    with ``2·spill`` rows of each neighbour part around it, zeros beyond the array)."""
    moved = np.moveaxis(block, axis, 0)
    n_own = moved.shape[0] - 6 * spill
    own = moved[3 * spill : 3 * spill + n_own].copy()
    own[:spill] += moved[spill : 2 * spill]
    own[n_own - spill :] += moved[4 * spill + n_own : 5 * spill + n_own]
    return np.moveaxis(own, 0, axis)


def _aligned_chunks(chunks: tuple[int, ...], ratio: int) -> tuple[int, ...]:
    """Regular chunks (:func:`xr_s5sr.tiling.regular_plan`) near ``chunks``, multiples of
    ``ratio`` (but the last), each holding the filter half-width: a ``HALF_TAPS``-deep overlap
    never needs a rechunk and the LR result (sizes ÷ ``ratio``) is regular too."""
    if is_valid_plan(chunks, HALF_TAPS, ratio):
        return chunks
    return regular_plan(sum(chunks), max(chunks), HALF_TAPS, ratio)


def _block_correlate(
    block: np.ndarray, operator: AxisOperator, axis: int, ratio: int
) -> np.ndarray:
    """``A`` along ``axis`` of a block that is the whole axis (zeros outside it)."""
    return operator.correlate(block, axis, block.shape[axis] // ratio)


def _block_correlate_decimate(
    block: np.ndarray, operator: AxisOperator, axis: int, ratio: int
) -> np.ndarray:
    """``A`` along ``axis`` of a block that carries a ``HALF_TAPS`` halo on both sides."""
    core = block.shape[axis] - 2 * HALF_TAPS
    return operator.correlate_padded(block, axis, core // ratio, lead=HALF_TAPS)


def _noise_block(
    block: np.ndarray,
    seed: int,
    sigma: float,
    axis: int,
    block_info: dict[Any, Any] | None = None,
) -> np.ndarray:
    """Add noise drawn row by row from (seed, global row index) over the *whole* array width,
    then cut to the block: the values depend neither on the chunking nor on the block."""
    if block_info:
        full_shape = block_info[0]["shape"]
        location = block_info[0]["array-location"]
    else:
        full_shape = block.shape
        location = [(0, n) for n in block.shape]
    tail_shape = tuple(n for i, n in enumerate(full_shape) if i != axis)
    tail_index = tuple(slice(*loc) for i, loc in enumerate(location) if i != axis)
    start, stop = location[axis]
    noise = np.stack(
        [
            np.random.default_rng([seed, row]).standard_normal(tail_shape)[tail_index]
            for row in range(start, stop)
        ],
        axis=axis,
    )
    return block + (sigma * noise).astype(block.dtype)


def add_noise(x: Any, sigma: float, seed: int | None, axis: int = 0) -> Any:
    """Add seeded Gaussian noise, reproducible for any chunking along ``axis``.

    Parameters
    ----------
    x : numpy.ndarray or dask.array.Array
        Radiance values.
    sigma : float
        Standard deviation, radiance units.
    seed : int or None
        Seed; None draws a fresh seed (not reproducible).
    axis : int, default 0
        Axis along which rows are seeded independently (scanline).
    """
    if seed is None:
        seed = int(cast(int, np.random.SeedSequence().entropy) % (2**63))
    axis = axis % x.ndim
    if _is_dask(x):
        return x.map_blocks(_noise_block, seed=seed, sigma=sigma, axis=axis, dtype=x.dtype)
    return _noise_block(np.asarray(x), seed=seed, sigma=sigma, axis=axis)


def _is_dask(x: object) -> bool:
    return type(x).__module__.startswith("dask.")


def _noise_sigma(noise: NoiseSpec, band: int) -> tuple[str | None, float]:
    if noise is None:
        return None, 0.0
    if isinstance(noise, str):
        if noise not in ("lr", "hr"):
            raise S5SRArgumentError(
                f"noise must be None, 'lr', 'hr' or a float sigma; got {noise!r}."
            )
        sigma = get_band(band).noise_sigma
        if sigma is None:
            raise S5SRError(
                f"Band {band} has no reference noise level; pass noise=<sigma in radiance units>."
            )
        return noise, sigma
    sigma = float(noise)
    if not np.isfinite(sigma) or sigma < 0:
        raise S5SRArgumentError(f"noise sigma must be a finite non-negative float, got {noise!r}.")
    return "lr", sigma


def degrade_array(
    x: Any,
    band: int,
    ratio: int = SCALE,
    *,
    axes: tuple[int, int] = (0, 1),
    noise: NoiseSpec = None,
    seed: int | None = None,
) -> Any:
    """Degrade HR radiance to the LR grid with the band's MTF blur and ×``ratio`` decimation.

    Parameters
    ----------
    x : numpy.ndarray or dask.array.Array
        HR radiance with dims (…, scanline, ground_pixel[, spectral_channel]); ``axes`` says where
        scanline and ground_pixel are. Floating input keeps its dtype (float32 results are
        accumulated in float32, relative error ≲ 1e-6); other dtypes are computed in float64.
    band : int
        S5P band 1–8; selects GNyq_x/GNyq_y.
    ratio : int, default 4
        Decimation factor.
    axes : tuple of int, default (0, 1)
        Axes of (scanline, ground_pixel).
    noise : {None, "lr", "hr"} or float, default None
        None: noise-free. "lr": i.i.d. Gaussian with the band's sigma added on the LR grid;
        "hr": added on the HR grid before blurring (spatially correlated on LR); a float: i.i.d.
        LR noise with that sigma (radiance units).
    seed : int, optional
        Seed of the noise; the same seed gives the same noise whatever the chunking.

    Returns
    -------
    numpy.ndarray or dask.array.Array
        LR radiance, sizes ``n // ratio`` along both spatial axes; dask in → dask out (lazy).

    Examples
    --------
    >>> import numpy as np
    >>> degrade_array(np.ones((16, 12, 3), dtype=np.float32), band=7).shape
    (4, 3, 3)
    """
    ndim = x.ndim
    axes = (axes[0] % ndim, axes[1] % ndim)
    for axis in axes:
        if x.shape[axis] < ratio:
            raise DimensionError(
                f"Axis {axis} has {x.shape[axis]} pixels; degradation by {ratio} needs at least "
                f"{ratio}. Pass a larger HR image."
            )
    if not np.issubdtype(x.dtype, np.floating):
        x = x.astype(np.float64)
    operators = (degrade_operator(band, 0, ratio), degrade_operator(band, 1, ratio))
    mode, sigma = _noise_sigma(noise, band)
    if mode == "hr":
        x = add_noise(x, sigma, seed, axis=axes[0])
    out: Any = (
        _degrade_dask(x, operators, axes, ratio)
        if _is_dask(x)
        else _degrade_numpy(np.asarray(x), operators, axes, ratio)
    )
    if mode == "lr":
        out = add_noise(out, sigma, seed, axis=axes[0])
    return out


def degrade_dataset(
    obj: xr.Dataset,
    band: int,
    *,
    variables: list[Hashable],
    dims: tuple[Hashable, Hashable],
    noise: NoiseSpec = None,
    seed: int | None = None,
    history: str,
) -> xr.Dataset:
    """Degrade the radiance variables of a Dataset and move its coordinates to the LR grid.

    Parameters
    ----------
    obj : xarray.Dataset
        HR dataset; not modified.
    band : int
        S5P band.
    variables : list of hashable
        Data variables on both spatial dims to degrade (others on those dims are sampled at the
        LR positions, e.g. ``quality_level``).
    dims : tuple of hashable
        Names of the (scanline, ground_pixel) dims.
    noise, seed
        See :func:`degrade_array`.
    history : str
        Line prepended to the ``history`` attribute.

    Returns
    -------
    xarray.Dataset
        LR dataset; coordinates on the spatial dims (scanline/ground_pixel index values,
        latitude/longitude, nominal_wavelength, …) are taken at HR positions ``4 j + 2``.
    """
    import xarray as xr

    scan_dim, pixel_dim = dims
    positions = {
        scan_dim: lr_positions(obj.sizes[scan_dim]),
        pixel_dim: lr_positions(obj.sizes[pixel_dim]),
    }
    sampled = obj.isel({d: p for d, p in positions.items()})
    out = sampled.copy()
    for name in variables:
        da_in = obj[name]
        axes = (da_in.get_axis_num(scan_dim), da_in.get_axis_num(pixel_dim))
        data = degrade_array(
            da_in.data,
            band,
            axes=axes,
            noise=noise,
            seed=None if seed is None else seed + _stable_offset(name),
        )
        out[name] = xr.Variable(da_in.dims, data, attrs=dict(da_in.attrs))
    # Every variable on the chunks of the degraded radiance: one chunking per dim, valid for
    # xarray's own Zarr/netCDF writers.
    first = out[variables[0]].variable
    aligned = align_chunks(
        dict(out.variables), dict(zip(first.dims, first.chunks or (), strict=False))
    )
    out = xr.Dataset(
        {name: aligned[name] for name in out.data_vars},
        coords={name: aligned[name] for name in out.coords},
        attrs=out.attrs,
    )
    for var in out.variables.values():
        var.encoding = {}
    out.attrs.update(
        s5sr_degradation=(
            f"S5P_SISR_Toolbox MTF blur (41 taps, GNyq_x along {scan_dim}, GNyq_y along "
            f"{pixel_dim}) + x{SCALE} decimation at HR index {SCALE}j+{SCALE // 2}; noise={noise!r}"
        ),
        s5sr_scale=SCALE,
        s5p_band=band,
    )
    return add_provenance(out, history)


def _stable_offset(name: Hashable) -> int:
    """Small deterministic integer per variable name so two variables get different noise."""
    return sum(str(name).encode()) % 9973


__all__ = ["add_noise", "degrade_array", "degrade_dataset"]
