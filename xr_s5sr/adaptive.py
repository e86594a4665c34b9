"""Data-adaptive settings of the physics-guided methods, per window of scanlines, from the LR
data (and the file's noise when it has it).

Boundary: numpy arrays only (LR cubes with axes scanline, ground_pixel, spectral_channel). The
tiling engine (:func:`xr_s5sr.tiling.settings_graph`) runs :func:`window_settings` once per
window on the window's rows plus :func:`statistics_reach` rows of context, blends the windows'
settings per row (:func:`blend_rows`) and hands every block the rows it needs; the blocks
apply :func:`row_regularisation`, :func:`gram_solve_rows` and :func:`detail_gate`. The noise
variance comes from :mod:`xr_s5sr.noise`.

Windows (local settings along an orbit)
    One orbit runs from a low sun to a high sun: brightness, hence photon noise and the right
    regularisation, change along track. The settings are therefore estimated per window of
    :data:`WINDOW` scanlines, fixed in *absolute* scanline index (:func:`windows`), and
    blended linearly between window centres, so that every output block depends only on LR
    rows within a bounded distance (its own reach, the blend's one window each side, and the
    statistic's reach) and never on the dask chunking or on the rest of the granule.

Regularisation (``regularisation="auto"``)
    An exact inverse fits the noise: where the blur nearly erases a pattern (small eigenvalues
    of ``G = A Aᵀ``) it multiplies the noise by up to ``1/√d``. On dim or featureless scenes
    that costs more than bicubic interpolation (``docs/physics.md``). Tikhonov weight μ damps
    those modes, but the right μ depends on the noise *and* on how much detail the scene has,
    so it is chosen per window by Morozov's discrepancy principle: the largest regularisation
    whose data misfit is still within the noise.

    1. Noise variance ``σ²``: the window's mean over pixels and the statistic channels
       (:func:`xr_s5sr.noise.window_variance`: the file's σ, else a regression across
       channels that smooth or textured signal does not bias).
    2. Misfit curve ``δ(μ)``: the mean square of ``(I − W_μ) r`` with ``r = y − A U y`` (the
       misfit of cubic interpolation) and ``W_μ = G (G_s + μ)⁻¹ ⊗ (G_p + μ)⁻¹`` (the part of
       a misfit that the regularised projection removes, :func:`xr_s5sr.physics.gram_solve`),
       on a log grid of μ (:func:`misfit_rows`). It rises from 0 (exact fit) to ``mean r²``.
    3. μ is where ``δ(μ) = τ σ²`` (``τ`` = :data:`DISCREPANCY_FACTOR`), interpolated in log μ;
       μ = 0 without noise, :data:`MU_GRID`'s last value when interpolation alone fits within
       the noise.

    A μ that varies along track: each row's Gram solve mixes the solves of its two nearest
    windows with the blend's weights (:func:`gram_solve_rows`), the damping of the
    back-projection takes the row's blended μ. Both are exact on blocks with the usual halo
    (the solves are shift-invariant filters; the weights belong to the row), and where every
    window has μ = 0 the projection is the exact one.

Detail gate (learned detail only where the data show detail)
    A network adds detail the data cannot confirm (the null space of ``A``); it learned that
    detail on textured training scenes and invents it on featureless ones. The gate weighs the
    network's detail at each LR pixel by where the *local relative detail* of the data,
    ``ρ = (box(t²) − σ²) / box(y²)`` over a 9 × 9 window (``t``: the unit-norm 2-D second
    difference of ``y``, whose white-noise variance is ``σ²``; ``σ²`` the row's blended
    noise variance), lies on a log ramp from :data:`DETAIL_RANGE` ``[0]`` (weight 0) to
    ``[1]`` (weight 1). The ramp is the decade below what training saw: most LR pixels of every
    training family have ``ρ`` above its upper end (the fraction per band and family is
    measured by ``docs/scripts/detail_gate.py`` and shown in ``docs/physics.md``).

μ is homogeneous of degree 0 and σ² of degree 2 in the radiance (ratios of squares), so
``SR(a·y) = a·SR(y)`` holds; the windows are fixed in scanline index and each one is computed
from the same rows whatever the chunking, so nothing depends on the chunking beyond float
rounding.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from xr_s5sr.noise import window_variance
from xr_s5sr.physics import (
    degraded_interpolation_operator,
    gram_inverse_operator,
    gram_inverse_taps,
    gram_solve,
)

#: μ candidates of the misfit curve (log grid; between grid points μ is interpolated).
MU_GRID = tuple(float(10.0**e) for e in np.arange(-4.0, 3.0 + 1e-9, 1.0 / 3.0))
#: Morozov's factor τ: the chosen result leaves a misfit of τ times the noise variance. The
#: noise alone puts only 0.16–0.5 σ² into the interpolation misfit ``r`` (the noise gain of
#: ``I − A U``), so a scene whose detail barely rises above the noise has a flat misfit curve
#: near σ², where a τ close to 1 lands anywhere; τ = 3 asks for detail well above the noise
#: before fitting the data closely. Measured on bands 2/5/7/8 (6 seeds × 3 brightness levels
#: × 2 families each, docs/physics.md): τ = 3 never lost to bicubic, τ = 1.2 lost up to 2.2 dB.
DISCREPANCY_FACTOR = 3.0
#: LR pixels next to the image edges left out of the misfit (the interpolation and the
#: degradation see zeros beyond the edge there).
EDGE = 8
#: Spectral channels (evenly spaced) the statistics use: enough for stable medians at a small
#: fraction of the cost.
STATISTIC_CHANNELS = 16
#: Local relative detail ``ρ`` of the detail gate: network detail off below the first value,
#: in full above the second, log-linear between.
DETAIL_RANGE = (3e-6, 3e-5)
#: Half width (LR pixels) of the window of the local detail.
DETAIL_RADIUS = 4
#: LR scanlines per settings window (absolute scanline index, :func:`windows`): short enough to
#: follow the illumination along an orbit, long enough that the window's μ scatters little on
#: a homogeneous scene (``docs/scripts/settings_window.py`` → ``.json``). Every length up to 96
#: keeps an output block's reads within the bound (``tests/test_adaptive.py``: 64 HR rows read
#: ≤ 256 LR rows), so the bound does not pick this value; no development study has yet.
WINDOW = 24
_SECOND_DIFFERENCE = np.array([1.0, -2.0, 1.0]) / math.sqrt(6.0)


def statistic_channels(n_chan: int) -> np.ndarray:
    """Indices of the channels the statistics use (each with both spectral neighbours)."""
    if n_chan < 3:
        return np.zeros(0, dtype=int)
    spaced = np.linspace(1, n_chan - 2, min(STATISTIC_CHANNELS, n_chan - 2))
    return np.unique(spaced.round()).astype(int)


def statistics_reach(band: int) -> int:
    """LR scanlines each side that :func:`misfit_rows` reads around a row."""

    interpolation = degraded_interpolation_operator(band, 0).weights.shape[1] // 2
    return interpolation + gram_inverse_taps(band, 0, MU_GRID[0]).size // 2


def misfit_rows(
    block: np.ndarray,
    band: int,
    before: int,
    after: int,
    *,
    at_start: bool,
    at_end: bool,
) -> np.ndarray:
    """Per-scanline misfit curve of the core rows ``before:len-after`` of a finite LR block.

    Parameters
    ----------
    block : numpy.ndarray
        (scanline, ground_pixel, spectral_channel) LR radiance, finite; ``before``/``after``
        rows of context around the core (at least :func:`statistics_reach`, except at the
        granule's edges).
    band : int
        S5P band (selects ``A``).
    before, after : int
        Context rows of the block.
    at_start, at_end : bool
        Whether the block's first/last row is the granule's first/last scanline.

    Returns
    -------
    numpy.ndarray
        float64 ``(n_core, len(MU_GRID))``: the row's mean of ``((I − W_μ) r)²`` over ground
        pixels and the statistic channels for every μ of :data:`MU_GRID`, radiance² units;
        NaN for rows the statistic cannot use (next to the granule's edges, narrow swaths,
        < 3 channels).
    """
    import torch

    n_ext, n_pixel, n_chan = block.shape
    n_core = n_ext - before - after
    out = np.full((n_core, len(MU_GRID)), np.nan)
    channels = statistic_channels(n_chan)
    if channels.size == 0 or n_pixel < 2 * EDGE + 1:
        return out
    y = torch.from_numpy(np.ascontiguousarray(block[..., channels], dtype=np.float64))
    interpolated = y
    for which in (0, 1):
        operator = degraded_interpolation_operator(band, which)
        interpolated = operator.apply(interpolated, which, interpolated.shape[which])
    misfit = y - interpolated
    # The interpolation sees zeros beyond the granule's edges: leave those rows/columns out.
    misfit[:, :EDGE] = 0.0
    misfit[:, n_pixel - EDGE :] = 0.0
    if at_start:
        misfit[:EDGE] = 0.0
    if at_end:
        misfit[n_ext - EDGE :] = 0.0
    rows = np.arange(before, before + n_core)
    valid = np.ones(n_core, dtype=bool)
    if at_start:
        valid &= rows >= EDGE
    if at_end:
        valid &= rows < n_ext - EDGE
    core = misfit[before : before + n_core]
    for k, mu in enumerate(MU_GRID):
        scanline = gram_inverse_operator(band, 0, mu)
        pixel = gram_inverse_operator(band, 1, mu)
        along_scan = scanline.apply(misfit, 0, n_ext)[before : before + n_core]
        along_pixel = pixel.apply(core, 1, n_pixel)
        both = pixel.apply(along_scan, 1, n_pixel)
        # (I − W_μ) r with W_μ = (I − μ C_s)(I − μ C_p), C = (G + μ)⁻¹ per axis.
        residual = mu * (along_scan + along_pixel) - mu * mu * both
        interior = residual[:, EDGE : n_pixel - EDGE].numpy()
        out[valid, k] = np.mean(interior[valid] ** 2, axis=(1, 2))
    return out


def _second_difference(x: np.ndarray, axis: int) -> np.ndarray:
    """Unit-norm second difference along ``axis`` (valid part: 2 shorter)."""
    n = x.shape[axis]
    take = [np.take(x, range(i, n - 2 + i), axis=axis) for i in range(3)]
    return sum(w * t for w, t in zip(_SECOND_DIFFERENCE, take, strict=True))  # type: ignore[return-value]


def choose_regularisation(means: np.ndarray) -> float:
    """μ from the noise variance and the misfit curve (:func:`misfit_rows`) of a window.

    Parameters
    ----------
    means : numpy.ndarray
        ``(1 + len(MU_GRID),)``: the noise variance σ², then the misfit curve averaged over
        the window's rows (NaN rows left out).

    Returns
    -------
    float
        The μ at which the misfit curve reaches :data:`DISCREPANCY_FACTOR` × the noise
        variance (log-interpolated; linear from μ = 0 below the grid); 0 when the noise or the
        curve is unknown or zero; the grid's last μ when the curve stays below.
    """
    variance, curve = float(means[0]), np.asarray(means[1:], dtype=float)
    if not (math.isfinite(variance) and variance > 0 and np.all(np.isfinite(curve))):
        return 0.0
    ratio = curve / (DISCREPANCY_FACTOR * variance)
    above = np.nonzero(ratio >= 1.0)[0]
    if above.size == 0:
        return MU_GRID[-1]
    k = int(above[0])
    if k == 0:
        return MU_GRID[0] / ratio[0]
    low, high = math.log(MU_GRID[k - 1]), math.log(MU_GRID[k])
    fraction = (1.0 - ratio[k - 1]) / (ratio[k] - ratio[k - 1])
    return math.exp(low + fraction * (high - low))


def windows(n_scan: int, first: int = 0, size: int | None = None) -> np.ndarray:
    """The settings windows of a granule: ``(n, 2)`` int (start, stop) row ranges (0-based
    within the array) that tile ``0 … n_scan``.

    Window ``k`` holds the rows whose absolute scanline index ``first + row`` lies in
    ``[k·size, (k + 1)·size)``, so a scanline gets the same window whatever the chunking
    or the crop it arrives in; a partial window at either end of the granule shorter than
    ``size / 2`` joins its neighbour (its statistic would be too noisy alone). ``size``:
    :data:`WINDOW` for the settings (the default, read when called, so that a study may set
    it: docs/scripts/settings_window.py), :data:`xr_s5sr.spectral.WINDOW` for the spectral
    prior.

    Examples
    --------
    >>> windows(100, first=20).tolist()  # WINDOW = 24: the partial first window of 4 joins
    [[0, 28], [28, 52], [52, 76], [76, 100]]
    """
    size = WINDOW if size is None else size
    edges = np.arange((first // size + 1) * size, first + n_scan, size) - first
    bounds = [0, *edges.tolist(), n_scan]
    if len(bounds) > 2 and bounds[1] - bounds[0] < size // 2:
        del bounds[1]
    if len(bounds) > 2 and bounds[-1] - bounds[-2] < size // 2:
        del bounds[-2]
    return np.array([bounds[:-1], bounds[1:]]).T


def settings_reach(band: int) -> int:
    """LR scanlines each side of a row that its blended settings depend on.

    The row's two windows end less than ``1.5·WINDOW`` away and read :func:`statistics_reach`
    rows beyond; one more half window keeps a crop's partial last window (merged into its
    neighbour when short) away from them. So a crop whose ends lie at least this far from the
    rows of interest (plus the method's own reach) gives those rows the settings of the whole
    orbit, as long as its first scanline keeps its absolute index (``first``).
    """
    return 2 * WINDOW + statistics_reach(band)


def window_reads(n_scan: int, band: int, start: int, stop: int) -> tuple[int, int]:
    """LR rows ``(low, high)`` that the settings of window ``start:stop`` read."""
    reach = statistics_reach(band)
    return max(0, start - reach), min(n_scan, stop + reach)


def window_settings(
    y: np.ndarray,
    band: int,
    before: int,
    after: int,
    *,
    at_start: bool,
    at_end: bool,
    regularisation: float | None = None,
    sigma: np.ndarray | None = None,
) -> np.ndarray:
    """``[μ, σ²]`` of one window: the core rows ``before:len-after`` of a finite LR block.

    Parameters
    ----------
    y : numpy.ndarray
        (scanline, ground_pixel, spectral_channel) LR radiance, finite, with the context rows
        of :func:`window_reads`.
    band : int
        S5P band.
    before, after : int
        Context rows around the window.
    at_start, at_end : bool
        Whether ``y`` starts/ends at the granule's first/last scanline.
    regularisation : float, optional
        μ when fixed (the misfit curve is then not computed).
    sigma : numpy.ndarray, optional
        σ of every value of ``y`` (radiance units) from the file; None: estimated
        (:func:`xr_s5sr.noise.window_variance`).

    Returns
    -------
    numpy.ndarray
        float64 ``[μ, σ²]``: the discrepancy-principle μ of the window (or ``regularisation``)
        and the window's mean noise variance over the statistic channels (radiance², 0 when
        unknown).
    """

    n_core = y.shape[0] - before - after
    core = slice(before, before + n_core)
    channels = statistic_channels(y.shape[-1])
    if channels.size == 0:
        return np.array([regularisation or 0.0, 0.0])
    variance = window_variance(
        y[core], channels, None if sigma is None else np.asarray(sigma)[core]
    )
    if regularisation is None:
        curve = misfit_rows(y, band, before, after, at_start=at_start, at_end=at_end)
        used = np.all(np.isfinite(curve), axis=1)
        mean = np.mean(curve[used], axis=0) if used.any() else np.full(len(MU_GRID), np.nan)
        regularisation = choose_regularisation(np.array([variance, *mean]))
    return np.array([regularisation, variance if math.isfinite(variance) else 0.0])


def blend_weights(
    start: int, stop: int, centres: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The two windows and the weight of each of rows ``start:stop`` (0-based within the
    granule) in the linear blend between window ``centres`` (increasing; they must bracket the
    rows or be the granule's first/last windows).

    Returns
    -------
    (numpy.ndarray, numpy.ndarray, numpy.ndarray)
        ``low``, ``high`` (int indices into ``centres``) and ``w`` (float64) per row: the row
        takes ``(1 − w)`` of window ``low`` and ``w`` of window ``high``; constant beyond the
        first/last centre, one canonical form per row (a single window is ``low``, ``w = 0``).

    Examples
    --------
    >>> low, high, w = blend_weights(0, 4, np.array([0.5, 2.5]))
    >>> low.tolist(), high.tolist(), w.tolist()
    ([0, 0, 0, 1], [0, 1, 1, 1], [0.0, 0.25, 0.75, 0.0])
    """
    rows = np.arange(start, stop, dtype=np.float64)
    high = np.clip(np.searchsorted(centres, rows, side="right"), 1, max(1, len(centres) - 1))
    low = high - 1
    if len(centres) == 1:
        high = low
    span = np.where(high > low, centres[high] - centres[low], 1.0)
    weight = np.clip((rows - centres[low]) / span, 0.0, 1.0)
    weight[high == low] = 0.0
    # One canonical form per row (whatever windows were given): a single window is `low`.
    high = np.where(weight == 0.0, low, high)
    low = np.where(weight == 1.0, high, low)
    weight[weight == 1.0] = 0.0
    return low, high, weight


def blend_rows(start: int, stop: int, centres: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Settings of rows ``start:stop``, blended linearly between window centres.

    Parameters
    ----------
    start, stop : int
        Rows (0-based within the granule).
    centres : numpy.ndarray
        Centre row (float) of each window given, increasing; the windows given must bracket
        the rows (or be the first/last windows of the granule).
    values : numpy.ndarray
        ``(len(centres), 2)``: ``[μ, σ²]`` of those windows (:func:`window_settings`).

    Returns
    -------
    numpy.ndarray
        float64 ``(stop − start, 1, 4)``: per row ``μ_low, μ_high, w, σ²``. The row's
        regularisation is ``(1 − w) μ_low + w μ_high``, its Gram solve the same mixture of the
        two windows' solves (:func:`gram_solve_rows`), its noise variance blended alike;
        constant beyond the first/last centre.
    """
    low, high, weight = blend_weights(start, stop, centres)
    out = np.empty((stop - start, 1, 4))
    out[:, 0, 0] = values[low, 0]
    out[:, 0, 1] = values[high, 0]
    out[:, 0, 2] = weight
    out[:, 0, 3] = (1.0 - weight) * values[low, 1] + weight * values[high, 1]
    return out


def bracketing(centres: np.ndarray, start: int, stop: int) -> slice:
    """The windows whose settings rows ``start:stop`` blend (:func:`blend_rows`)."""
    low = max(0, int(np.searchsorted(centres, start, side="right")) - 1)
    high = min(len(centres), int(np.searchsorted(centres, stop - 1, side="left")) + 1)
    return slice(low, max(high, low + 1))


def window_centres(bounds: np.ndarray) -> np.ndarray:
    """Centre row (float) of each window of :func:`windows`."""
    return (bounds[:, 0] + bounds[:, 1] - 1) / 2.0


def blend_windows(values: np.ndarray, n_scan: int, first: int = 0) -> np.ndarray:
    """Blended per-row settings (:func:`blend_rows`) of a whole cube of ``n_scan`` rows whose
    first row is absolute scanline ``first``, from its windows' ``values``
    (:func:`window_values`): float64 (scanline, 1, 4), exactly as the dask graph blends them.
    """
    return blend_rows(0, n_scan, window_centres(windows(n_scan, first)), values)


def window_values(
    y: np.ndarray,
    band: int,
    *,
    first: int = 0,
    regularisation: float | None = None,
    sigma: np.ndarray | None = None,
    prepare: Callable[[np.ndarray], np.ndarray] | None = None,
) -> np.ndarray:
    """``[μ, σ²]`` of every settings window (:func:`windows`) of a whole in-memory LR cube
    whose first row is absolute scanline ``first``: float64 ``(n_windows, 2)``, each window
    computed from its own rows (:func:`window_reads`) after ``prepare`` (e.g. the engine's
    fill of missing values; the cube must be finite without it), with the fixed
    ``regularisation`` (None: automatic) and the file's ``sigma`` (None: estimated).
    :func:`blend_windows` blends them per row."""
    n_scan = y.shape[0]
    bounds = windows(n_scan, first)
    values = np.empty((len(bounds), 2))
    for k, (start, stop) in enumerate(bounds):
        low, high = window_reads(n_scan, band, start, stop)
        values[k] = window_settings(
            y[low:high] if prepare is None else prepare(y[low:high]),
            band,
            start - low,
            high - stop,
            at_start=low == 0,
            at_end=high == n_scan,
            regularisation=regularisation,
            sigma=None if sigma is None else sigma[low:high],
        )
    return values


def auto_settings(
    y: np.ndarray,
    band: int,
    regularisation: float | None = None,
    sigma: np.ndarray | None = None,
) -> tuple[float, float]:
    """``(μ, σ²)`` of one whole in-memory LR cube (scanline, ground_pixel, channel) taken as
    one window: the automatic regularisation (or ``regularisation`` when given, without
    computing the misfit curve) and the noise variance (radiance², 0 when unknown).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> smooth = np.ones((60, 60, 32), np.float32)
    >>> auto_settings(smooth, 3)
    (0.0, 0.0)
    >>> mu, variance = auto_settings(smooth + 0.01 * rng.standard_normal((60, 60, 32)), 3)
    >>> mu > 1.0, round(variance / 0.01**2, 1)
    (True, 1.0)
    """
    finite = np.nan_to_num(np.asarray(y, dtype=np.float32))
    mu, variance = window_settings(
        finite, band, 0, 0, at_start=True, at_end=True, regularisation=regularisation, sigma=sigma
    )
    return float(mu), float(variance)


def row_regularisation(settings: np.ndarray) -> np.ndarray:
    """Per-row μ, ``(rows, 1, 1)``, of blended settings (:func:`blend_rows`)."""
    mu = (1.0 - settings[:, 0, 2]) * settings[:, 0, 0] + settings[:, 0, 2] * settings[:, 0, 1]
    return mu[:, None, None]


def row_variance(settings: np.ndarray) -> np.ndarray:
    """Per-row noise variance σ² (radiance², ``(rows,)``) of blended settings
    (:func:`blend_rows`): the window RMS σ² blended between window centres."""
    return settings[:, 0, 3]


def gram_solve_rows(misfit: np.ndarray, band: int, settings: np.ndarray) -> np.ndarray:
    """``(A Aᵀ + μ)⁻¹`` of an LR misfit block with μ blended along scanline.

    Row ``r`` of the result is ``(1 − w_r) [S(μ_low) e]_r + w_r [S(μ_high) e]_r`` with
    ``S(μ)`` the separable Tikhonov solve of :func:`xr_s5sr.physics.gram_solve` and
    ``μ_low, μ_high, w`` the row's settings (:func:`blend_rows`): each row mixes the solves
    of its two nearest windows. Every solve is shift-invariant along scanline, so a row's
    value depends only on the misfit within the taps' reach and on the row's own settings:
    exact and chunk-invariant on blocks with that halo. Where all windows share one μ it is
    that μ's solve (μ = 0 everywhere: the exact projection).
    """

    mus = np.unique(settings[:, 0, :2])
    if mus.size == 1:
        return np.asarray(gram_solve(misfit, band, regularisation=float(mus[0])))
    out = np.zeros(misfit.shape, dtype=misfit.dtype)
    low, high, weight = settings[:, 0, 0], settings[:, 0, 1], settings[:, 0, 2]
    for mu in mus:
        share = np.where(low == mu, 1.0 - weight, 0.0) + np.where(high == mu, weight, 0.0)
        if not share.any():
            continue
        solved = gram_solve(misfit, band, regularisation=float(mu))
        out += (share[:, None, None] * solved).astype(misfit.dtype)
    return out


def detail_gate(block: np.ndarray, variance: float | np.ndarray) -> np.ndarray:
    """Weight in [0, 1] of the network's detail at each LR pixel of a finite block.

    Parameters
    ----------
    block : numpy.ndarray
        (scanline, ground_pixel, spectral_channel) LR radiance, finite.
    variance : float or numpy.ndarray
        Noise variance ``σ²`` (radiance²): one value, or one per row of the block (the
        blended settings of :func:`blend_rows`).

    Returns
    -------
    numpy.ndarray
        float32 (scanline, ground_pixel): 0 where the local relative detail is below
        ``DETAIL_RANGE[0]``, 1 above ``DETAIL_RANGE[1]``, log-linear between. Rows within
        ``DETAIL_RADIUS + 1`` of the block's ends depend on data beyond the block (the detail
        of the nearest complete row is used at the edges).

    Examples
    --------
    >>> flat = np.ones((12, 12, 5), np.float32)
    >>> float(detail_gate(flat, 0.0).max())
    0.0
    >>> rough = np.random.default_rng(0).uniform(0.5, 1.5, (12, 12, 5)).astype(np.float32)
    >>> float(detail_gate(rough, 0.0).min())
    1.0
    """
    from scipy.ndimage import uniform_filter

    n_scan, n_pixel, n_chan = block.shape
    channels = statistic_channels(n_chan)
    if channels.size == 0:
        channels = np.arange(n_chan)
    if n_scan < 3 or n_pixel < 3:
        return np.ones((n_scan, n_pixel), np.float32)
    cube = block[..., channels].astype(np.float64)
    size = 2 * DETAIL_RADIUS + 1
    level = uniform_filter(np.mean(cube**2, axis=2), size, mode="nearest")
    # Unit-norm 2-D second difference: white noise keeps its variance, smooth radiance ~0.
    roughness = np.mean(_second_difference(_second_difference(cube, 0), 1) ** 2, axis=2)
    roughness = np.pad(roughness, 1, mode="edge")
    variance = np.asarray(variance, dtype=np.float64)
    detail = uniform_filter(roughness, size, mode="nearest") - (
        variance[:, None] if variance.ndim else variance
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        rho = detail / level
    low, high = np.log(DETAIL_RANGE[0]), np.log(DETAIL_RANGE[1])
    position = (np.log(np.maximum(rho, DETAIL_RANGE[0] * 1e-3)) - low) / (high - low)
    gate = np.clip(np.nan_to_num(position, nan=1.0), 0.0, 1.0)
    return gate.astype(np.float32)


__all__ = [
    "DETAIL_RANGE",
    "DISCREPANCY_FACTOR",
    "MU_GRID",
    "WINDOW",
    "auto_settings",
    "blend_rows",
    "blend_weights",
    "blend_windows",
    "bracketing",
    "choose_regularisation",
    "detail_gate",
    "gram_solve_rows",
    "misfit_rows",
    "row_regularisation",
    "row_variance",
    "settings_reach",
    "statistics_reach",
    "window_centres",
    "window_reads",
    "window_settings",
    "window_values",
    "windows",
]
