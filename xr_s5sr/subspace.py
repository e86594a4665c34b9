"""The granule's own spectra as a prior of the pipeline: every LR spectrum projected onto the
signal subspace of its window of scanlines, numpy and dask alike.

Boundary: numpy and dask arrays whose last three axes are (scanline, ground_pixel,
spectral_channel), extra leading axes chunked one element per block (as in
:mod:`xr_s5sr.tiling`); no xarray, no torch. The engine calls :func:`spectral_prior` once, on the
filled LR cube, before the physics inverse, the network and the consistency step; the result is
then consistent with the denoised data. The identification of a subspace and the projection are
:mod:`xr_s5sr.spectral`'s, the noise variance :mod:`xr_s5sr.noise`'s (the source the automatic
settings use: the file's σ when given, else the regression across channels), the windows and
the row blend :mod:`xr_s5sr.adaptive`'s.

Windows and blend
    Windows of :data:`xr_s5sr.spectral.WINDOW` LR scanlines fixed in absolute scanline index
    (:func:`xr_s5sr.adaptive.windows` with that size). Window ``i`` has a basis ``V_i`` (the
    leading eigenvectors of the uncentred correlation of its spectra, as many as carry more
    signal than noise) and a row takes ``y' = (1 − w) P_low y + w P_high y`` with
    ``P_i = V_i V_iᵀ`` and the row's two windows and weight of
    :func:`xr_s5sr.adaptive.blend_weights` (linear between window centres): ``y'`` is
    continuous in the row, so no seam appears at window edges. The basis of window ``i`` is
    identified on the rows where it has a weight, from the centre of window ``i − 1`` to the
    centre of window ``i + 1`` (:func:`basis_rows`): every spectrum it projects helped span it,
    so a noise-free window (σ² = 0: every component kept, ``P_i`` the identity on those rows)
    is left as it is. A window whose noise is 0 or unknown (too few pixels for the regression)
    is not projected at all.

Physical bound
    A projection may dip below zero in the darkest channels of a dim scene; the denoised value
    is kept at or above ``min(y, 0)`` (0 for non-negative data), so that non-negative data stay
    non-negative and the consistency step's bound (:func:`xr_s5sr.constrained.lower_bound`)
    is that of the original data.

Every step is homogeneous in the radiance (σ² of degree 2, the bases of degree 0), so
``prior(a·y) = a·prior(y)`` for ``a > 0``; every window reads fixed rows, so any chunking gives
the whole-array result, and an output chunk depends only on the rows of the (at most three)
windows whose centres bracket it.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from xr_s5sr.adaptive import blend_weights, bracketing, statistic_channels, window_centres, windows
from xr_s5sr.noise import window_variance
from xr_s5sr.row_reads import RowSlice, delayed_on_rows
from xr_s5sr.spectral import WINDOW, signal_subspace
from xr_s5sr.tiling import concatenate_elements

if TYPE_CHECKING:
    from xr_s5sr.spec import ModelSpec


def prior_windows(n_scan: int, first: int = 0) -> np.ndarray:
    """``(n, 2)`` (start, stop) rows of the subspace windows of a granule whose first row is
    absolute scanline ``first`` (:func:`xr_s5sr.adaptive.windows` of :data:`WINDOW` rows)."""
    return windows(n_scan, first, size=WINDOW)


def basis_rows(bounds: np.ndarray, k: int) -> tuple[int, int]:
    """Rows ``(low, high)`` that window ``k``'s basis is identified on: from the centre of the
    previous window to the centre of the next one (the granule's ends for the outer windows),
    i.e. every row the blend gives window ``k`` a weight on."""
    centres = window_centres(bounds)
    # The rows strictly between the neighbouring centres (a row on a centre is all its own).
    low = 0 if k == 0 else math.floor(centres[k - 1]) + 1
    high = int(bounds[-1, 1]) if k == len(bounds) - 1 else math.ceil(centres[k + 1])
    return low, high


def prior_reach() -> int:
    """LR scanlines each side of a row that its denoised spectrum depends on.

    A row blends the two windows whose centres bracket it; their bases read the rows up to the
    centres of their own neighbours (at most ``2.5`` windows away, a merged end window being
    up to 1.5 windows long), and a crop's partial last window, merged when shorter than half a
    window, must stay beyond them: 3.5 windows.
    """
    return 7 * WINDOW // 2 + 1


def window_basis(
    rows: np.ndarray, sigma: np.ndarray | None = None
) -> tuple[np.ndarray | None, float]:
    """Signal-subspace basis ``(C, K)`` of the spectra of ``rows`` and their noise variance.

    Parameters
    ----------
    rows : numpy.ndarray
        (scanline, ground_pixel, spectral_channel) LR radiance of the basis rows, finite.
    sigma : numpy.ndarray, optional
        σ of every value of ``rows`` from the file (radiance units); None: estimated
        (:func:`xr_s5sr.noise.window_variance` over the statistic channels of the adaptive
        settings).

    Returns
    -------
    (numpy.ndarray or None, float)
        float64 ``(C, K)`` (:func:`xr_s5sr.spectral.signal_subspace` with the rows' noise
        variance), None (identity) when the noise is 0 or unknown or every component is kept;
        and that noise variance per value (radiance², 0 when unknown).
    """
    rows = np.asarray(rows, dtype=np.float32)
    channels = statistic_channels(rows.shape[-1])
    if channels.size == 0:
        return None, 0.0
    variance = window_variance(rows, channels, None if sigma is None else np.asarray(sigma))
    if not (math.isfinite(variance) and variance > 0):
        return None, 0.0
    basis = signal_subspace(rows, variance)
    return (None if basis.shape[1] >= rows.shape[-1] else basis), variance


def denoised_sigma(
    shape: tuple[int, ...], start: int, centres: np.ndarray, *priors: tuple[Any, float]
) -> np.ndarray:
    """σ of the denoised values of rows ``start:start + shape[0]`` (radiance units, float32,
    ``shape``): each window's noise variance times the share ``K / C`` of white noise its
    projection keeps, blended per row like the projections (:func:`project_rows`)."""
    low, high, weight = blend_weights(start, start + shape[0], centres)
    kept = np.array(
        [v * (1.0 if b is None else b.shape[1] / shape[-1]) for b, v in priors], np.float64
    )
    variance = (1.0 - weight) * kept[low] + weight * kept[high]
    return np.broadcast_to(np.sqrt(variance)[:, None, None], shape).astype(np.float32)


def project_rows(
    block: np.ndarray, start: int, centres: np.ndarray, *bases: np.ndarray | None
) -> np.ndarray:
    """The denoised rows of an LR block: each row's blend of its two windows' projections.

    Parameters
    ----------
    block : numpy.ndarray
        (scanline, ground_pixel, spectral_channel) LR radiance, finite; its first row is row
        ``start`` of the granule.
    start : int
        Row of the granule (0-based) of ``block``'s first row.
    centres : numpy.ndarray
        Centre rows of the windows given (:func:`xr_s5sr.adaptive.window_centres`); they
        bracket the block's rows or are the granule's first/last windows.
    *bases : numpy.ndarray or None
        Basis of each of those windows (:func:`window_basis`; None: identity).

    Returns
    -------
    numpy.ndarray
        float32, ``block``'s shape: ``Σ w_i(row) V_i V_iᵀ y`` per spectrum, kept at or above
        ``min(y, 0)``.
    """
    block = np.asarray(block, dtype=np.float32)
    if all(basis is None for basis in bases):
        return block
    low, high, weight = blend_weights(start, start + block.shape[0], centres)
    spectra = block.astype(np.float64)
    out = np.zeros(block.shape, np.float64)
    for k, basis in enumerate(bases):
        share = np.where(low == k, 1.0 - weight, 0.0) + np.where(high == k, weight, 0.0)
        rows = np.nonzero(share)[0]
        if rows.size == 0:
            continue
        part = spectra[rows]
        projected = part if basis is None else (part @ basis) @ basis.T
        out[rows] += share[rows, None, None] * projected
    # Not below what the data allow: 0 for non-negative values (see the module docstring).
    return np.maximum(out, np.minimum(spectra, 0.0)).astype(np.float32)


def spectral_prior(lr: Any, spec: ModelSpec, sigma: Any = None, first: int = 0) -> Any:
    """The LR cube with every spectrum projected onto its window's signal subspace.

    Parameters
    ----------
    lr : numpy.ndarray or dask.array.Array
        Finite LR radiance (extra dims…, scanline, ground_pixel, spectral_channel); dask:
        extra dims chunked by one, ground_pixel and spectral_channel whole.
    spec : ModelSpec
        The method; nothing is done unless :attr:`~xr_s5sr.spec.ModelSpec.uses_spectral_prior`.
    sigma : numpy.ndarray or dask.array.Array, optional
        σ of every LR value (``lr``'s shape) from the file; None: estimated per window.
    first : int, default 0
        Absolute scanline index of the first row (fixes the windows).

    Returns
    -------
    numpy.ndarray or dask.array.Array
        float32 like ``lr`` (dask in → dask out, chunked like ``lr``, nothing computed): each
        chunk is one task reading its rows and the bases of its (at most three) windows, each
        basis one task reading its :func:`basis_rows`.

    Examples
    --------
    >>> from xr_s5sr.spec import model_spec
    >>> spec = model_spec("backprojection", band=3, device="cpu")
    >>> rng = np.random.default_rng(0)
    >>> clean = rng.uniform(0.5, 1.5, (32, 16, 3)) @ (rng.uniform(1.0, 2.0, (3, 40)))
    >>> noisy = (clean + 0.05 * rng.standard_normal(clean.shape)).astype(np.float32)
    >>> out = spectral_prior(noisy, spec)
    >>> bool(np.std(out - clean) < 0.5 * np.std(noisy - clean))
    True
    """
    return prior_and_statistics(lr, lr, spec, sigma, first)[0]


def prior_and_statistics(
    lr: Any, raw: Any, spec: ModelSpec, sigma: Any = None, first: int = 0
) -> tuple[Any, Any, Any]:
    """The engine's one call: the denoised LR cube (:func:`spectral_prior`) and what the
    automatic settings read.

    Parameters
    ----------
    lr : numpy.ndarray or dask.array.Array
        The filled LR cube (finite).
    raw : numpy.ndarray or dask.array.Array
        The LR cube as given (the settings fill each window themselves).
    spec, sigma, first
        As for :func:`spectral_prior`.

    Returns
    -------
    (array, array, array or None)
        ``(denoised, data, σ)``: by default the settings read the original data and noise
        (``raw``, ``sigma``), so their μ and detail gate are those of the data as given;
        with :attr:`~xr_s5sr.spec.ModelSpec.sharp_prior` they read the denoised cube and its
        noise (:func:`denoised_sigma`), fit it more closely and sharpen more (a trade-off of
        PSNR against spectral angle, ``docs/physics.md``). Without the prior: ``(lr, raw,
        sigma)``.
    """
    if not spec.uses_spectral_prior:
        return lr, raw, sigma
    import dask

    bounds = prior_windows(lr.shape[-3], first)
    if dask.is_dask_collection(lr):
        denoised, noise = _prior_graph(lr, sigma, bounds)
    else:
        denoised, noise = _prior_numpy(lr, sigma, bounds, spec.sharp_prior)
    return (denoised, denoised, noise) if spec.sharp_prior else (denoised, raw, sigma)


@dataclass(frozen=True)
class GranulePrior:
    """The windows and bases :func:`spectral_prior` projects one numpy granule with, to
    project any crop of it (or other data on its grid) the same way.

    ``GranulePrior.of(cube).project(cube[a:b, c:d], a)`` is ``spectral_prior(cube,
    spec)[a:b, c:d]``: every spectrum is projected on its own, with the bases of its row's
    windows (:func:`project_rows`). Fine-tuning (:mod:`xr_s5sr.objective`) projects its
    windows so, as inference projects the whole granule.
    """

    centres: np.ndarray  # (windows,) centre rows (:func:`xr_s5sr.adaptive.window_centres`)
    bases: tuple[np.ndarray | None, ...]  # (C, K) float64 per window (None: identity)

    @classmethod
    def of(cls, cube: np.ndarray, sigma: np.ndarray | None = None, first: int = 0) -> GranulePrior:
        """The prior of a filled (scanline, ground_pixel, spectral_channel) granule, its σ
        from the file (None: estimated per window) and absolute first scanline."""
        bounds = prior_windows(cube.shape[-3], first)
        priors = _element_priors(cube, sigma, bounds)
        return cls(window_centres(bounds), tuple(basis for basis, _ in priors))

    def project(self, block: np.ndarray, start: int) -> np.ndarray:
        """:func:`project_rows` of a block of the granule whose first row is row ``start``."""
        return project_rows(block, start, self.centres, *self.bases)


def _element_priors(cube: np.ndarray, sigma: Any, bounds: np.ndarray) -> list[Any]:
    """:func:`window_basis` of every window of one (scanline, ground_pixel, channel) cube."""
    out = []
    for k in range(len(bounds)):
        low, high = basis_rows(bounds, k)
        out.append(window_basis(cube[low:high], None if sigma is None else sigma[low:high]))
    return out


def _prior_numpy(
    lr: np.ndarray, sigma: Any, bounds: np.ndarray, with_noise: bool
) -> tuple[Any, Any]:
    """Denoised cube and (``with_noise``) its σ in memory, every element as one block of all
    its windows."""
    centres = window_centres(bounds)
    out = np.empty(lr.shape, np.float32)
    noise = np.empty(lr.shape, np.float32) if with_noise else None
    for element in np.ndindex(lr.shape[: lr.ndim - 3]):
        element_sigma = None if sigma is None else np.asarray(sigma[element])
        priors = _element_priors(lr[element], element_sigma, bounds)
        out[element] = project_rows(lr[element], 0, centres, *(b for b, _ in priors))
        if noise is not None:
            noise[element] = denoised_sigma(lr.shape[-3:], 0, centres, *priors)
    return out, noise


def _prior_graph(lr: Any, sigma: Any, bounds: np.ndarray) -> tuple[Any, Any]:
    """:func:`_prior_numpy` of a dask array: one task per window basis, one per chunk (and
    one per chunk for the σ, which nothing computes unless the settings read it)."""
    import dask
    import dask.array as da

    lead = lr.ndim - 3
    centres = window_centres(bounds)
    chunk_starts = np.cumsum((0, *lr.chunks[-3]))
    outputs: list[Any] = [np.empty(lr.shape[:lead], dtype=object) for _ in range(2)]
    for element in np.ndindex(lr.shape[:lead]):
        priors = []
        for k in range(len(bounds)):
            low, high = basis_rows(bounds, k)
            noise = None if sigma is None else RowSlice(sigma, element, low, high)
            priors.append(
                delayed_on_rows(window_basis, RowSlice(lr, element, low, high), noise, nout=2)
            )
        parts: list[list[Any]] = [[], []]
        for a, b in itertools.pairwise(chunk_starts):
            near = bracketing(centres, int(a), int(b))
            shape = (int(b - a), *lr.shape[-2:])
            tasks = (
                delayed_on_rows(
                    project_rows,
                    RowSlice(lr, element, int(a), int(b)),
                    int(a),
                    centres[near],
                    *(p[0] for p in priors[near]),
                ),
                dask.delayed(denoised_sigma, pure=True)(
                    shape, int(a), centres[near], *(tuple(p) for p in priors[near])
                ),
            )
            for part, task in zip(parts, tasks, strict=True):
                part.append(da.from_delayed(task, shape, dtype=np.float32))
        for output, part in zip(outputs, parts, strict=True):
            whole = da.concatenate(part, axis=0)
            output[element] = whole.reshape((1,) * lead + whole.shape)
    denoised, noise = (concatenate_elements(o.tolist(), 0) if lead else o[()] for o in outputs)
    return denoised, noise


__all__ = [
    "GranulePrior",
    "basis_rows",
    "denoised_sigma",
    "prior_and_statistics",
    "prior_reach",
    "prior_windows",
    "project_rows",
    "spectral_prior",
    "window_basis",
]
