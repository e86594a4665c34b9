"""Windowed image statistics shared by the metrics modules: the SSIM map, the Sobel magnitude.

Boundary: numpy arrays (and dask arrays through :func:`local`) with axes (scanline,
ground_pixel, spectral_channel); no xarray, no reductions. :mod:`xr_s5sr.metrics` (our metrics)
and :mod:`xr_s5sr.toolbox_indexes` (the S5P_SISR_Toolbox's indexes) both build on these, so the
SSIM and Sobel formulas are written once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from scipy import ndimage


def local(
    func: Callable[..., np.ndarray], *arrays: Any, depth: tuple[int, int, int], **kwargs: Any
) -> Any:
    """Apply a windowed numpy ``func`` to arrays, block-wise with a halo when they are dask.

    The halo only has to cover the window: values whose window leaves the image are cropped
    by the callers, so the boundary treatment at the array edges does not matter.
    """
    import dask

    if any(dask.is_dask_collection(a) for a in arrays):
        import dask.array as da

        return da.map_overlap(
            func,
            *arrays,
            depth=dict(enumerate(depth)),
            boundary="none",
            dtype=np.float64,
            meta=np.empty((0, 0, 0), dtype=np.float64),
            **kwargs,
        )
    return func(*arrays, **kwargs)


def ssim_map(
    x: np.ndarray,
    y: np.ndarray,
    invalid: np.ndarray,
    *,
    size: tuple[int, int, int],
    c1: float,
    c2: float,
) -> np.ndarray:
    """SSIM index at each window centre; NaN where the window touches an invalid element."""
    n = float(np.prod(size))
    sample = n / (n - 1.0)  # unbiased (co)variances, as scikit-image by default

    def mean(a: np.ndarray) -> np.ndarray:
        return ndimage.uniform_filter(a, size=size)

    mu_x, mu_y = mean(x), mean(y)
    var_x = sample * (mean(x * x) - mu_x * mu_x)
    var_y = sample * (mean(y * y) - mu_y * mu_y)
    cov = sample * (mean(x * y) - mu_x * mu_y)
    index = ((2.0 * mu_x * mu_y + c1) * (2.0 * cov + c2)) / (
        (mu_x * mu_x + mu_y * mu_y + c1) * (var_x + var_y + c2)
    )
    touched = ndimage.maximum_filter(invalid, size=size)
    return np.where(touched, np.nan, index)


def sobel_magnitude(x: np.ndarray, invalid: np.ndarray, *, axes: tuple[int, int]) -> np.ndarray:
    """Sobel gradient magnitude in the plane of ``axes``; NaN where the 3×3 support is invalid.

    ``scipy.ndimage.sobel`` would also smooth along the third axis, so the two separable
    passes are written out to keep the channels independent. The array edges are mirrored
    (``scipy.ndimage``'s default ``mode="reflect"``), as in ``scipy.ndimage.sobel``.
    """
    derivative = np.array([-1.0, 0.0, 1.0])
    smoothing = np.array([1.0, 2.0, 1.0])
    first, second = axes
    g_first = ndimage.correlate1d(
        ndimage.correlate1d(x, derivative, axis=first), smoothing, axis=second
    )
    g_second = ndimage.correlate1d(
        ndimage.correlate1d(x, derivative, axis=second), smoothing, axis=first
    )
    size = [1, 1, 1]
    size[first] = size[second] = 3
    touched = ndimage.maximum_filter(invalid, size=tuple(size))
    return np.where(touched, np.nan, np.hypot(g_first, g_second))


def crop(a: Any, pads: tuple[int, int, int]) -> Any:
    """``a`` with ``pads[i]`` elements cut from both ends of axis ``i`` (a view)."""
    return a[tuple(slice(p, a.shape[i] - p) for i, p in enumerate(pads))]


__all__ = ["crop", "local", "sobel_magnitude", "ssim_map"]
