"""Image-quality metrics of super-resolved radiance against an HR reference (SPEC §5).

Boundary: :func:`compute_metrics` works on arrays only — numpy or dask arrays with axes
(scanline, ground_pixel, spectral_channel) — and returns plain numbers; with
``protocol="toolbox"`` it hands over to :mod:`xr_s5sr.toolbox_indexes`. The xarray layer
(``Dataset.s5sr.evaluate``, the bicubic baseline, tables) is :mod:`xr_s5sr.evaluate`; the
windowed kernels (SSIM map, Sobel magnitude) are :mod:`xr_s5sr.windowed`.

Corrected metrics (default)
---------------------------
``x`` is the reference, ``y`` the estimate, ``c`` a spectral channel, ``L = max(x) − min(x)``
the data range of the whole reference cube.

* ``psnr`` — mean over channels of ``10·log10(L² / MSE_c)``, dB. ``inf`` when ``y == x``.
* ``ssim`` — mean over channels of the mean SSIM of each (scanline, ground_pixel) image:
  7×7 uniform window, sample (co)variances (``N/(N−1)``), ``K1 = 0.01``, ``K2 = 0.03``,
  data range ``L``, averaged over window centres at least 3 pixels from the image edge. This is
  :func:`skimage.metrics.structural_similarity` with ``data_range=L`` and its defaults.
* ``scc`` — spatial correlation coefficient: per channel, the Pearson correlation between
  the Sobel gradient magnitudes of ``x`` and ``y``; averaged over channels. The Sobel gradient
  is ``hypot(Gs, Gg)``, where ``Gs`` is the central difference ``[−1, 0, 1]`` along scanline
  smoothed by ``[1, 2, 1]`` along ground_pixel and ``Gg`` the same with the axes swapped (never
  smoothed across channels). Only pixels whose whole 3×3 neighbourhood lies inside the image
  enter the correlation.
* ``sam`` — spectral angle mapper: mean over pixels of the angle between the spectra of ``x``
  and ``y``, degrees (computed as ``2·atan2(|u − v|, |u + v|)`` of the unit spectra, exact for
  small angles). Pixels with an all-zero spectrum are left out.
* ``ergas`` — ``100 / r · sqrt(mean_c(RMSE_c² / mean_c(x)²))`` with the scale ``r = 4``.
* ``rmse`` — root-mean-square error over all pixels and channels, radiance units.

Paper-compatible metrics (``paper_compatible=True``)
----------------------------------------------------
To compare with published numbers, each cube is min–max scaled to [0, 1] *separately*
(``(x − min x) / (max x − min x)``, same for ``y``), then:

* ``paper_psnr`` — ``10·log10(1 / MSE)`` over the whole scaled cube, dB;
* ``paper_ssim`` — 3-D SSIM with a 7×7×7 uniform window over (channel, scanline, ground_pixel)
  (:func:`skimage.metrics.structural_similarity` on the 3-D cube, ``data_range=1``);
* ``paper_scc`` — the Sobel magnitude above applied to each (spectral_channel, scanline) slice,
  one slice per ground pixel, and one Pearson correlation over all slices together.

NaN policy
----------
An element (pixel, channel) is *invalid* when it is NaN in the reference or in any of the
estimates scored together, so every method is judged on the same elements. Invalid elements
are left out of sums and means; a local statistic (SSIM window, Sobel 3×3 support) that touches
an invalid element is left out; SAM uses only pixels whose whole spectrum is valid. The data
range ``L`` and the paper's min–max use each cube's own non-NaN values.

Border
------
``border=b`` crops ``b`` HR pixels from each side of both spatial axes before anything is
computed (the windows then stay inside the cropped image).

dask and memory
---------------
dask arrays are reduced block-wise (``map_overlap`` for the windowed statistics) in two
computes: the data ranges first (the reference only, plus the estimates when
``paper_compatible``), then every other statistic in one pass. In-memory cubes larger than
:data:`METRICS_BLOCK_BYTES` (as float64) take the same path over spectral-channel blocks on the
synchronous scheduler, with the spectra's norms (SAM) moved to the first pass, so the float64
temporaries of the statistics exist for one block at a time: ``evaluate`` of a
256 × 128 × 497 cube (with its default bicubic baseline) raises the process's peak memory by
~0.3 GB (whole-cube: ~2.2 GB).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from xr_s5sr.bands import SCALE
from xr_s5sr.errors import DimensionError, InputDataError, S5SRArgumentError
from xr_s5sr.toolbox_indexes import TOOLBOX_METRICS, toolbox_metrics
from xr_s5sr.windowed import crop, local, sobel_magnitude, ssim_map

#: Side of the SSIM window (pixels), as in :func:`skimage.metrics.structural_similarity`.
SSIM_WINDOW = 7
#: SSIM stabilising constants (Wang et al. 2004).
SSIM_K1, SSIM_K2 = 0.01, 0.03

#: Bytes of one float64 block of an in-memory cube scored block-wise: numpy cubes larger than
#: this are split into spectral-channel blocks (dask, synchronous), which bounds the peak
#: memory of the windowed statistics at a few dozen such blocks, whatever the cube size.
METRICS_BLOCK_BYTES = 4 * 2**20
#: Corrected metrics, in output order.
CORRECTED_METRICS = ("psnr", "ssim", "scc", "sam", "ergas", "rmse")
#: Paper-compatible metrics, in output order.
PAPER_METRICS = ("paper_psnr", "paper_ssim", "paper_scc")
#: Scoring protocols of :func:`compute_metrics`: ours, or the S5P_SISR_Toolbox's indexes.
PROTOCOLS = ("xr_s5sr", "toolbox")


# ---------------------------------------------------------------------------- statistics
def _masked_sum(a: Any, axis: tuple[int, ...]) -> tuple[Any, Any]:
    """Sum and count of the non-NaN values of ``a`` along ``axis``."""
    finite = ~np.isnan(a)
    return np.sum(np.where(finite, a, 0.0), axis=axis), np.sum(finite, axis=axis)


def _correlation_sums(a: Any, b: Any, axis: tuple[int, ...]) -> dict[str, Any]:
    """Sufficient statistics of a Pearson correlation over the elements valid in both."""
    both = ~(np.isnan(a) | np.isnan(b))
    a0, b0 = np.where(both, a, 0.0), np.where(both, b, 0.0)
    return {
        "n": np.sum(both, axis=axis),
        "a": np.sum(a0, axis=axis),
        "b": np.sum(b0, axis=axis),
        "aa": np.sum(a0 * a0, axis=axis),
        "bb": np.sum(b0 * b0, axis=axis),
        "ab": np.sum(a0 * b0, axis=axis),
    }


def _correlation(s: dict[str, np.ndarray]) -> np.ndarray:
    """Pearson correlation from :func:`_correlation_sums`; NaN where a variance is zero."""
    n = s["n"].astype(np.float64)
    cov = n * s["ab"] - s["a"] * s["b"]
    var = (n * s["aa"] - s["a"] ** 2) * (n * s["bb"] - s["b"] ** 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where((n > 1) & (var > 0), cov / np.sqrt(var), np.nan)


def _sobel_field(a: Any, invalid: Any, axes: tuple[int, int]) -> Any:
    """Sobel magnitude in the plane of ``axes`` where the 3×3 support lies inside the cube."""
    halo = (int(0 in axes), int(1 in axes), int(2 in axes))
    return crop(local(sobel_magnitude, a, invalid, depth=halo, axes=axes), halo)


def _scaled(a: Any, invalid: Any, value_range: tuple[float, float]) -> Any:
    """The paper's min–max scaling to [0, 1]; invalid elements set to 0."""
    low, high = value_range
    return np.where(invalid, 0.0, (a - low) / (high - low))


def _corrected_stats(
    x: Any,
    y: Any,
    invalid: Any,
    data_range: float,
    x_sobel: Any,
    norms: tuple[np.ndarray, np.ndarray],
) -> dict[str, Any]:
    """Per-channel sums behind the corrected metrics (lazy for dask inputs).

    ``x_sobel`` is :func:`_sobel_field` of the reference, shared by all estimates; ``norms``
    the Euclidean norms of the spectra of ``x`` and ``y`` (scanline, ground_pixel), computed
    already for in-memory blocks, lazy otherwise.
    """
    spatial = (0, 1)
    diff = np.where(invalid, 0.0, y - x)
    valid = ~invalid
    stats: dict[str, Any] = {
        "n": np.sum(valid, axis=spatial),
        "sse": np.sum(diff * diff, axis=spatial),
        "ref_sum": np.sum(np.where(invalid, 0.0, x), axis=spatial),
    }
    c1, c2 = (SSIM_K1 * data_range) ** 2, (SSIM_K2 * data_range) ** 2
    half = SSIM_WINDOW // 2
    ssim = local(
        ssim_map,
        x,
        y,
        invalid,
        depth=(half, half, 0),
        size=(SSIM_WINDOW, SSIM_WINDOW, 1),
        c1=c1,
        c2=c2,
    )
    stats["ssim_sum"], stats["ssim_n"] = _masked_sum(crop(ssim, (half, half, 0)), spatial)
    stats["scc"] = _correlation_sums(x_sobel, _sobel_field(y, invalid, spatial), spatial)
    norm_x, norm_y = norms
    # With known norms every channel block is turned into unit spectra on its own and released.
    positive = (norm_x > 0) & (norm_y > 0)
    u = x / np.where(positive, norm_x, 1.0)[..., None]
    v = y / np.where(positive, norm_y, 1.0)[..., None]
    usable = ~np.any(invalid, axis=2) & positive
    angle = 2.0 * np.arctan2(
        np.sqrt(np.sum((u - v) ** 2, axis=2)), np.sqrt(np.sum((u + v) ** 2, axis=2))
    )
    stats["sam_sum"], stats["sam_n"] = _masked_sum(np.where(usable, angle, np.nan), spatial)
    return stats


#: Plane of the paper's Sobel: (spectral_channel, scanline) slices, one per ground pixel.
_PAPER_SOBEL_AXES = (2, 0)


def _paper_stats(xs: Any, ys: Any, invalid: Any, xs_sobel: Any) -> dict[str, Any]:
    """Whole-cube sums behind the paper-compatible metrics (lazy for dask inputs).

    ``xs``/``ys`` are the :func:`_scaled` cubes; ``xs_sobel`` is the reference's Sobel field.
    """
    diff = ys - xs
    half = SSIM_WINDOW // 2
    ssim = local(
        ssim_map,
        xs,
        ys,
        invalid,
        depth=(half, half, half),
        size=(SSIM_WINDOW,) * 3,
        c1=SSIM_K1**2,
        c2=SSIM_K2**2,
    )
    everything = (0, 1, 2)
    ssim_sum, ssim_n = _masked_sum(crop(ssim, (half, half, half)), everything)
    ys_sobel = _sobel_field(ys, invalid, _PAPER_SOBEL_AXES)
    return {
        "n": np.sum(~invalid),
        "sse": np.sum(diff * diff),
        "ssim_sum": ssim_sum,
        "ssim_n": ssim_n,
        "scc": _correlation_sums(xs_sobel, ys_sobel, everything),
    }


def _finish_corrected(s: dict[str, Any], data_range: float, ratio: int) -> dict[str, Any]:
    n = s["n"].astype(np.float64)
    has = n > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        mse = np.where(has, s["sse"] / n, np.nan)
        psnr_c = 10.0 * np.log10(data_range**2 / mse)
        ssim_c = np.where(s["ssim_n"] > 0, s["ssim_sum"] / s["ssim_n"], np.nan)
        mean_c = np.where(has, s["ref_sum"] / n, np.nan)
        ergas = 100.0 / ratio * np.sqrt(np.mean(mse[has] / mean_c[has] ** 2))
    scc_c = _correlation(s["scc"])
    return {
        "psnr": _channel_mean(psnr_c),
        "ssim": _channel_mean(ssim_c),
        "scc": _channel_mean(scc_c),
        "sam": float(np.degrees(s["sam_sum"] / s["sam_n"])) if s["sam_n"] else np.nan,
        "ergas": float(ergas),
        "rmse": float(np.sqrt(s["sse"].sum() / n.sum())),
        "psnr_per_channel": psnr_c,
    }


def _finish_paper(s: dict[str, Any]) -> dict[str, float]:
    with np.errstate(divide="ignore"):
        psnr = 10.0 * np.log10(1.0 / (s["sse"] / s["n"]))
    return {
        "paper_psnr": float(psnr),
        "paper_ssim": float(s["ssim_sum"] / s["ssim_n"]) if s["ssim_n"] else np.nan,
        "paper_scc": float(_correlation(s["scc"])),
    }


def _channel_mean(values: np.ndarray) -> float:
    """Mean over the channels that have a value (channels without valid data are NaN)."""
    kept = values[~np.isnan(values)]
    return float(kept.mean()) if kept.size else np.nan


def _blocked(cubes: list[Any]) -> list[Any]:
    """In-memory cubes larger than :data:`METRICS_BLOCK_BYTES` (as float64) as dask arrays of
    spectral-channel blocks, so that the float64 temporaries exist one block at a time."""
    import dask
    import dask.array as da

    n_scan, n_pixel, n_chan = cubes[0].shape
    channels = max(1, METRICS_BLOCK_BYTES // (8 * n_scan * n_pixel))
    if channels >= n_chan or any(dask.is_dask_collection(a) for a in cubes):
        return cubes
    return [
        da.from_array(
            _SlicedOnDemand(a), chunks=(-1, -1, channels), meta=np.empty((0, 0, 0), a.dtype)
        )
        for a in cubes
    ]


class _SlicedOnDemand:
    """An in-memory array seen through ``__getitem__`` only: ``dask.array.from_array`` of a
    numpy array copies it into chunks at once, this hands out views when a block runs."""

    def __init__(self, array: np.ndarray) -> None:
        self.array = array
        self.shape = array.shape
        self.dtype = array.dtype
        self.ndim = array.ndim

    def __getitem__(self, index: Any) -> np.ndarray:
        return self.array[index]


def _compute(obj: Any, scheduler: str | None = None) -> Any:
    """Evaluate every dask collection inside ``obj`` in one compute; numpy passes through."""
    import dask

    return dask.compute(obj, scheduler=scheduler)[0]


def _value_range(a: Any) -> tuple[Any, Any]:
    """(min, max) over the non-NaN values; (inf, -inf) when there are none."""
    nan = np.isnan(a)
    return np.min(np.where(nan, np.inf, a)), np.max(np.where(nan, -np.inf, a))


def _checked_range(low: float, high: float, what: str) -> tuple[float, float]:
    if not (np.isfinite(low) and np.isfinite(high)):
        raise InputDataError(
            f"The {what} has no valid values: expected finite radiance, found only NaN in the "
            "evaluated region. Check the input (fill values) or reduce border=."
        )
    if high <= low:
        raise InputDataError(
            f"The {what} is constant (min = max = {low!r}): its data range is 0, so PSNR and "
            "SSIM are undefined. Evaluate on a region with some contrast."
        )
    return float(low), float(high)


# ---------------------------------------------------------------------------- array API
def compute_metrics(
    reference: Any,
    *estimates: Any,
    paper_compatible: bool = False,
    border: int = 0,
    ratio: int = SCALE,
    protocol: str = "xr_s5sr",
    lr: Any = None,
    band: int | None = None,
) -> dict[str, np.ndarray]:
    """Score one or more estimates against a reference cube (module docstring: definitions).

    Parameters
    ----------
    reference : numpy.ndarray or dask.array.Array
        HR truth, axes (scanline, ground_pixel, spectral_channel), radiance units.
    *estimates : numpy.ndarray or dask.array.Array
        Cubes of the same shape to score (super-resolved, bicubic, …).
    paper_compatible : bool, default False
        Also compute ``paper_psnr``, ``paper_ssim`` and ``paper_scc``.
    border : int, default 0
        HR pixels cropped from each side of both spatial axes before scoring.
    ratio : int, default 4
        Scale factor ``r`` of ERGAS.
    protocol : {"xr_s5sr", "toolbox"}, default "xr_s5sr"
        ``"toolbox"``: the S5P_SISR_Toolbox's indexes instead, as its code computes them
        (:mod:`xr_s5sr.toolbox_indexes`; in memory, finite values only, with its own bounds
        cut, so ``border`` must be 0 and ``paper_compatible`` False).
    lr : numpy.ndarray or dask.array.Array, optional
        ``protocol="toolbox"`` only: the LR cube the estimates were made from (D_lambda).
    band : int, optional
        ``protocol="toolbox"`` only: the S5P band, needed with ``lr``.

    Returns
    -------
    dict of str to numpy.ndarray
        ``psnr``, ``ssim``, ``scc``, ``sam``, ``ergas``, ``rmse`` (and ``paper_*``), each of
        shape ``(len(estimates),)``; ``psnr_per_channel`` of shape
        ``(len(estimates), spectral_channel)``; ``data_range`` (scalar, radiance units).
        With ``protocol="toolbox"``: ``Q2n``, ``D_lambda``, ``Q``, ``ERGAS``, ``SAM``,
        ``sCC``, ``RMSE``, ``PSNR``, each of shape ``(len(estimates),)``.

    Raises
    ------
    DimensionError
        If shapes differ, a cube is not 3-D, ``border`` is negative, or fewer than 7 pixels
        (7 channels for the paper's 3-D SSIM) remain.
    InputDataError
        If the reference has no valid values or no contrast.
    S5SRArgumentError
        If ``protocol`` is unknown, or ``"toolbox"`` with ``border``/``paper_compatible``.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.linspace(0.0, 1.0, 16 * 12 * 4).reshape(16, 12, 4)  # data range 1
    >>> scores = compute_metrics(x, x, x + 0.01)
    >>> scores["psnr"].round(2).tolist(), scores["rmse"].round(4).tolist()
    ([inf, 40.0], [0.0, 0.01])
    """
    if not estimates:
        raise InputDataError("compute_metrics needs at least one estimate besides the reference.")
    if protocol not in PROTOCOLS:
        raise S5SRArgumentError(f"protocol must be one of {PROTOCOLS}, got {protocol!r}.")
    if protocol == "toolbox":
        if border or paper_compatible:
            raise S5SRArgumentError(
                "protocol='toolbox' applies the toolbox's own bounds cut and indexes; found "
                f"border={border!r}, paper_compatible={paper_compatible!r}. Leave both unset."
            )
        rows = [toolbox_metrics(reference, e, lr=lr, band=band, ratio=ratio) for e in estimates]
        return {name: np.array([row[name] for row in rows]) for name in TOOLBOX_METRICS}
    return _compute_ours(reference, estimates, paper_compatible, border, ratio)


def _compute_ours(
    reference: Any, estimates: Sequence[Any], paper_compatible: bool, border: int, ratio: int
) -> dict[str, np.ndarray]:
    """:func:`compute_metrics` with our definitions (module docstring)."""
    _check_shapes(reference, estimates, border, paper_compatible)
    cropped = [crop(a, (border, border, 0)) for a in (reference, *estimates)]
    cubes = _blocked(cropped)
    in_memory_blocks = cubes is not cropped
    # Blocks made here from memory run one at a time (bounded memory); the user's own dask
    # arrays run on their scheduler (threads, a distributed cluster).
    scheduler = "synchronous" if in_memory_blocks else None
    cubes = [a.astype(np.float64) for a in cubes]
    x, ys = cubes[0], cubes[1:]
    invalid = np.isnan(x)
    for y in ys:
        invalid = invalid | np.isnan(y)
    x, ys = np.where(invalid, 0.0, x), [np.where(invalid, 0.0, y) for y in ys]

    # Data ranges first: SSIM's constants and the paper's scaling depend on them.
    ranged = {"reference": cubes[0]}
    if paper_compatible:
        ranged.update({f"estimate {i}": y for i, y in enumerate(cubes[1:])})
    lazy_ranges = {what: _value_range(a) for what, a in ranged.items()}
    norms = [np.sqrt(np.sum(a * a, axis=2)) for a in (x, *ys)]
    if in_memory_blocks:
        # Known norms spare SAM a whole-spectrum reduction inside the second pass, which would
        # hold every block until it is done. Not for the caller's dask arrays: reading (or
        # computing, e.g. a lazy super-resolution) the estimates twice costs more.
        found, norms = _compute((lazy_ranges, norms), scheduler)
    else:
        found = _compute(lazy_ranges, scheduler)
    ranges = [_checked_range(found[what][0], found[what][1], what) for what in ranged]
    data_range = ranges[0][1] - ranges[0][0]

    # Reference-only fields are built once and shared by every estimate.
    x_sobel = _sobel_field(x, invalid, (0, 1))
    if paper_compatible:
        xs = _scaled(x, invalid, ranges[0])
        xs_sobel = _sobel_field(xs, invalid, _PAPER_SOBEL_AXES)
    lazy: list[dict[str, Any]] = []
    for i, y in enumerate(ys):
        item = {
            "corrected": _corrected_stats(
                x, y, invalid, data_range, x_sobel, (norms[0], norms[i + 1])
            )
        }
        if paper_compatible:
            ys_scaled = _scaled(y, invalid, ranges[i + 1])
            item["paper"] = _paper_stats(xs, ys_scaled, invalid, xs_sobel)
        lazy.append(item)
    rows = []
    for item in _compute(lazy, scheduler):
        if item["corrected"]["n"].sum() == 0:
            raise InputDataError(
                "No element is valid in both the reference and the estimates: expected "
                "overlapping non-NaN radiance, found NaN everywhere in one of them."
            )
        row = _finish_corrected(item["corrected"], data_range, ratio)
        if paper_compatible:
            row.update(_finish_paper(item["paper"]))
        rows.append(row)
    out = {name: np.array([row[name] for row in rows]) for name in rows[0]}
    out["data_range"] = np.array(data_range)
    return out


def _check_shapes(
    reference: Any, estimates: Sequence[Any], border: int, paper_compatible: bool
) -> None:
    shapes = [tuple(reference.shape)] + [tuple(e.shape) for e in estimates]
    if len(shapes[0]) != 3:
        raise DimensionError(
            f"Expected 3-D cubes (scanline, ground_pixel, spectral_channel), found shape "
            f"{shapes[0]}. Select a single time step / variable first."
        )
    for i, shape in enumerate(shapes[1:]):
        if shape != shapes[0]:
            raise DimensionError(
                f"Grid mismatch: the reference has shape {shapes[0]} but estimate {i} has "
                f"shape {shape}. Score on the same HR grid, e.g. crop the reference to "
                "4 × (LR size) along scanline and ground_pixel."
            )
    if border < 0:
        raise DimensionError(f"border must be >= 0 HR pixels, got {border}.")
    left = (shapes[0][0] - 2 * border, shapes[0][1] - 2 * border)
    if min(left) < SSIM_WINDOW:
        raise DimensionError(
            f"After cropping border={border} the image is {left[0]} x {left[1]} pixels; SSIM "
            f"needs at least {SSIM_WINDOW} x {SSIM_WINDOW}. Use a smaller border or larger image."
        )
    if paper_compatible and shapes[0][2] < SSIM_WINDOW:
        raise DimensionError(
            f"The paper's 3-D SSIM needs at least {SSIM_WINDOW} spectral channels, found "
            f"{shapes[0][2]}. Use paper_compatible=False for fewer channels."
        )


__all__ = [
    "CORRECTED_METRICS",
    "METRICS_BLOCK_BYTES",
    "PAPER_METRICS",
    "PROTOCOLS",
    "SSIM_K1",
    "SSIM_K2",
    "SSIM_WINDOW",
    "TOOLBOX_METRICS",
    "compute_metrics",
]
