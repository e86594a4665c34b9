"""Data-adaptive settings of the physics-guided methods, from the LR data alone.

Boundary: numpy arrays only (LR cubes with axes scanline, ground_pixel, spectral_channel); the
tiling engine (:mod:`xr_s5sr.engine`) runs :func:`row_statistics` on scanline blocks with a halo
of :func:`statistics_reach` rows, reduces the rows with :func:`choose_regularisation`, and
applies :func:`detail_gate` inside each block.

Regularisation (``regularisation="auto"``)
    An exact inverse fits the noise: where the blur nearly erases a pattern (small eigenvalues
    of ``G = A Aᵀ``) it multiplies the noise by up to ``1/√d``. On dim or featureless scenes
    that costs more than bicubic interpolation (``docs/physics.md``). Tikhonov weight μ damps
    those modes, but the right μ depends on the noise *and* on how much detail the scene has,
    so it is chosen per granule by Morozov's discrepancy principle: the largest regularisation
    whose data misfit is still within the noise.

    1. Noise variance ``σ̂²``: the median of the squared response of a 3-D second difference
       (scanline ⊗ ground_pixel ⊗ spectral_channel, unit norm), divided by the median of a
       χ²₁ variable (0.4549). Blurred radiance is smooth along all three axes, white noise is
       not; the median ignores the few absorption lines and edges that leak through. It is
       exact on noise-dominated scenes and an overestimate on bright textured ones (where μ
       then stays small anyway).
    2. Misfit curve ``δ(μ)``: the mean square of ``(I − W_μ) r`` with ``r = y − A U y`` (the
       misfit of cubic interpolation) and ``W_μ = G (G_s + μ)⁻¹ ⊗ (G_p + μ)⁻¹`` (the part of
       a misfit that the regularised projection removes, :func:`xr_s5sr.physics.gram_solve`),
       on a log grid of μ. It rises from 0 (exact fit) to ``mean r²``.
    3. μ is where ``δ(μ) = τ σ̂²`` (``τ`` = :data:`DISCREPANCY_FACTOR`), interpolated in log μ;
       μ = 0 without noise, :data:`MU_GRID`'s last value when interpolation alone fits within
       the noise.

Detail gate (learned detail only where the data show detail)
    A network adds detail the data cannot confirm (the null space of ``A``); it learned that
    detail on textured training scenes and invents it on featureless ones. The gate weighs the
    network's detail at each LR pixel by where the *local relative detail* of the data,
    ``ρ = (box(t²) − σ̂²) / box(y²)`` over a 9 × 9 window (``t``: the unit-norm 2-D second
    difference of ``y``, whose white-noise variance is ``σ̂²``), lies on a log ramp from
    :data:`DETAIL_RANGE` ``[0]`` (weight 0) to ``[1]`` (weight 1). The ramp is the decade
    below what training saw: at least 95 % of the LR pixels of every training family have
    ``ρ`` above its upper end (99 % but for band-2 solar scenes; ``docs/physics.md``).

Both statistics and the gate are homogeneous of degree 0 in the radiance (ratios of squares),
so ``SR(a·y) = a·SR(y)`` holds; the statistics are per scanline (a median and a mean over
ground pixels and channels, exact on any scanline block with its halo) and the gate is local,
so nothing depends on the chunking beyond float rounding of the final mean over scanlines.
"""

from __future__ import annotations

import math

import numpy as np

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
#: Median of a χ² variable with one degree of freedom.
_CHI2_MEDIAN = 0.454936423119572
_SECOND_DIFFERENCE = np.array([1.0, -2.0, 1.0]) / math.sqrt(6.0)


def statistic_channels(n_chan: int) -> np.ndarray:
    """Indices of the channels the statistics use (each with both spectral neighbours)."""
    if n_chan < 3:
        return np.zeros(0, dtype=int)
    spaced = np.linspace(1, n_chan - 2, min(STATISTIC_CHANNELS, n_chan - 2))
    return np.unique(spaced.round()).astype(int)


def statistics_reach(band: int) -> int:
    """LR scanlines each side that :func:`row_statistics` reads around a row."""
    from xr_s5sr.physics import degraded_interpolation_operator, gram_inverse_taps

    interpolation = degraded_interpolation_operator(band, 0).weights.shape[1] // 2
    return interpolation + gram_inverse_taps(band, 0, MU_GRID[0]).size // 2


def row_statistics(
    block: np.ndarray,
    band: int,
    before: int,
    after: int,
    *,
    at_start: bool,
    at_end: bool,
    misfit_curve: bool = True,
) -> np.ndarray:
    """Per-scanline statistics of the core rows ``before:len-after`` of a finite LR block.

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
    misfit_curve : bool, default True
        Compute the misfit curve (needed for the automatic μ only); False leaves its columns
        NaN and computes the noise estimate alone.

    Returns
    -------
    numpy.ndarray
        float64 ``(n_core, 1 + len(MU_GRID))``: column 0 the row's noise estimate (median of
        the squared 3-D second difference over ground pixels and channels), then the row's
        mean of ``((I − W_μ) r)²`` for every μ of :data:`MU_GRID`, radiance² units; NaN for
        rows the statistic cannot use (next to the granule's edges, narrow swaths, < 3
        channels).
    """
    import torch

    from xr_s5sr.physics import degraded_interpolation_operator, gram_inverse_operator

    n_ext, n_pixel, n_chan = block.shape
    n_core = n_ext - before - after
    out = np.full((n_core, 1 + len(MU_GRID)), np.nan)
    channels = statistic_channels(n_chan)
    if channels.size == 0 or n_pixel < 2 * EDGE + 1:
        return out
    cube = block.astype(np.float64)
    spectral = sum(w * cube[..., channels + i - 1] for i, w in enumerate(_SECOND_DIFFERENCE))
    spatial = _second_difference(_second_difference(spectral, 0), 1)  # rows 1..n-2, cols 1..P-2
    medians = np.median(spatial.reshape(spatial.shape[0], -1) ** 2, axis=1) / _CHI2_MEDIAN
    rows = np.arange(before, before + n_core)
    has_noise = (rows >= 1) & (rows <= n_ext - 2)
    out[has_noise, 0] = medians[rows[has_noise] - 1]
    if not misfit_curve:
        return out

    y = torch.from_numpy(np.ascontiguousarray(cube[..., channels]))
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
        out[valid, 1 + k] = np.mean(interior[valid] ** 2, axis=(1, 2))
    return out


def _second_difference(x: np.ndarray, axis: int) -> np.ndarray:
    """Unit-norm second difference along ``axis`` (valid part: 2 shorter)."""
    n = x.shape[axis]
    take = [np.take(x, range(i, n - 2 + i), axis=axis) for i in range(3)]
    return sum(w * t for w, t in zip(_SECOND_DIFFERENCE, take, strict=True))  # type: ignore[return-value]


def choose_regularisation(means: np.ndarray) -> float:
    """μ from the row statistics of :func:`row_statistics` averaged over scanlines.

    Parameters
    ----------
    means : numpy.ndarray
        ``(1 + len(MU_GRID),)``: the mean over scanlines (NaN rows left out) of each column.

    Returns
    -------
    float
        The μ at which the misfit curve reaches :data:`DISCREPANCY_FACTOR` × the noise
        variance (log-interpolated; linear from μ = 0 below the grid); 0 when the noise or the
        curve is unknown or zero; the grid's last μ when the curve stays below.
    """
    noise, curve = float(means[0]), np.asarray(means[1:], dtype=float)
    if not (math.isfinite(noise) and noise > 0 and np.all(np.isfinite(curve))):
        return 0.0
    ratio = curve / (DISCREPANCY_FACTOR * noise)
    above = np.nonzero(ratio >= 1.0)[0]
    if above.size == 0:
        return MU_GRID[-1]
    k = int(above[0])
    if k == 0:
        return MU_GRID[0] / ratio[0]
    low, high = math.log(MU_GRID[k - 1]), math.log(MU_GRID[k])
    fraction = (1.0 - ratio[k - 1]) / (ratio[k] - ratio[k - 1])
    return math.exp(low + fraction * (high - low))


def auto_settings(
    y: np.ndarray, band: int, regularisation: float | None = None
) -> tuple[float, float]:
    """``(μ, σ̂²)`` of one whole in-memory LR cube (scanline, ground_pixel, channel): the
    automatic regularisation (or ``regularisation`` when given, without computing the misfit
    curve) and the noise variance (radiance², 0 when unknown).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> smooth = np.ones((60, 60, 32), np.float32)
    >>> auto_settings(smooth, 3)
    (0.0, 0.0)
    >>> mu, noise = auto_settings(smooth + 0.01 * rng.standard_normal((60, 60, 32)), 3)
    >>> mu > 1.0, round(noise / 0.01**2, 1)
    (True, 1.0)
    """
    finite = np.nan_to_num(np.asarray(y, dtype=np.float32))
    stats = row_statistics(
        finite, band, 0, 0, at_start=True, at_end=True, misfit_curve=regularisation is None
    )
    counts = np.sum(np.isfinite(stats), axis=0)
    return settings_from_rows(np.nansum(stats, axis=0), counts, regularisation)


def settings_from_rows(
    sums: np.ndarray, counts: np.ndarray, regularisation: float | None = None
) -> tuple[float, float]:
    """``(μ, σ̂²)`` from the row statistics summed over scanlines (NaN rows left out) and the
    number of rows behind each sum: the automatic μ unless ``regularisation`` is given."""
    with np.errstate(invalid="ignore", divide="ignore"):
        means = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
    mu = choose_regularisation(means) if regularisation is None else regularisation
    noise = float(means[0])
    return mu, (noise if math.isfinite(noise) and noise > 0 else 0.0)


def detail_gate(block: np.ndarray, noise: float) -> np.ndarray:
    """Weight in [0, 1] of the network's detail at each LR pixel of a finite block.

    Parameters
    ----------
    block : numpy.ndarray
        (scanline, ground_pixel, spectral_channel) LR radiance, finite.
    noise : float
        Noise variance ``σ̂²`` of the granule (radiance²; :func:`auto_settings`).

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
    detail = uniform_filter(roughness, size, mode="nearest") - noise
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
    "auto_settings",
    "choose_regularisation",
    "detail_gate",
    "row_statistics",
    "settings_from_rows",
    "statistics_reach",
]
