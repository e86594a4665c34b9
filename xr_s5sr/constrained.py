"""Physically plausible consistency: the consistency step solved under a lower bound (no negative
radiance from non-negative data), and the reach of a missing value (issue 26).

Boundary: arrays only, on top of :mod:`xr_s5sr.physics` (whose projection ``P`` and operators
these functions combine). :func:`nonnegative_consistency` takes the projection and its
correction as callables, so the engine runs the same formula on numpy arrays and on dask graphs
(:mod:`xr_s5sr.physics_graph`); :func:`nonnegative_multipliers` is the same iteration in its
LR-dual form, which the engine runs; :func:`influence_radius` sets the region
``missing="strict"`` masks (:func:`xr_s5sr.missing.strict_radius`).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Any

import numpy as np

from xr_s5sr.bands import SCALE
from xr_s5sr.physics import backproject, project

#: Dual-ascent steps of :func:`nonnegative_consistency` after the first projection, each about
#: one more consistency projection: 6 match noise-free band-7 solar scenes to a relative misfit
#: of < 1e-3 (tests/test_engine.py, tests/test_plausibility.py).
NONNEGATIVE_ITERATIONS = 6
#: Over-relaxation ω of those steps (convergent for ω < 2; 1.9 halves the steps that ω = 1
#: needs on band-7 solar scenes).
NONNEGATIVE_RELAXATION = 1.9

#: ``missing="strict"``: an HR value counts as depending on a missing LR value when changing that
#: value by :data:`STRICT_PERTURBATION` × the local radiance changes it by more than this
#: fraction of the local radiance (:func:`influence_radius`).
STRICT_FRACTION = 1e-3
#: Largest error of a filled LR value, in units of the local radiance, that the strict radius
#: covers: a whole pixel filled from its neighbours at a sharp edge (docs/physics.md).
STRICT_PERTURBATION = 10.0


def nonnegative_consistency(
    x: Any,
    project: Callable[[Any], Any],
    correct: Callable[[Any], Any],
    iterations: int = NONNEGATIVE_ITERATIONS,
    lower: Any = 0.0,
) -> Any:
    """Non-negative, data-consistent HR radiance: the constrained consistency step.

    The consistency step ``P(v) = v + Aᵀ B⁻¹ (y − A v)`` (:func:`xr_s5sr.physics.project`;
    ``B = A Aᵀ`` for μ = 0, the separable Tikhonov matrix of
    :func:`xr_s5sr.physics.gram_solve` for μ > 0) returns the minimiser of
    ``‖v − x‖² + ‖y − A v‖²_W`` (exact consistency for μ = 0, a misfit within the noise in the
    modes the blur nearly erases for μ > 0). This function solves the same problem
    under the constraint ``v ≥ 0``. Its solution has the form ``v = max(z, 0)`` with
    ``z = x + Aᵀ λ`` (KKT conditions), and the multiplier ``λ`` is found by preconditioned dual
    ascent; with ``n = min(z, 0)`` (the negative part) and ``M = Aᵀ B⁻¹ A``::

        z₁ = P(x);  z ← z₁
        repeat `iterations` times:  z ← z + ω · (z₁ + M n − z)
        result: max(z, 0)

    ω = :data:`NONNEGATIVE_RELAXATION` (< 2: convergent, as ``A D Aᵀ ≤ B`` for any diagonal
    0/1 active set ``D``). With μ = 0 it is over-relaxed alternating projection between the
    non-negative orthant and ``{v : A v = y}``; the misfit shrinks with each step when a
    non-negative consistent image exists (noise-free data of a real scene).

    No value of the result is negative by construction: ``max(z, 0)`` is the form of the
    constrained solution, not a clip of another one. Every step is linear or ``min(·, 0)``,
    both positively homogeneous, so ``f(a·x, a·y) = a·f(x, y)`` for ``a > 0``. ``P`` and ``M``
    reach :func:`xr_s5sr.physics.projection_reach` LR pixels each, the result formally
    ``iterations + 1`` times that; its influence decays within
    :func:`xr_s5sr.physics.window_halo` rows (the engine's windows).

    Parameters
    ----------
    x : numpy.ndarray, dask.array.Array or torch.Tensor
        HR estimate (any values; NaN stay NaN); overwritten when ``project`` works in place
        (the engine's numpy path, which owns the array).
    project : callable
        ``P`` on arrays like ``x`` (it holds ``y``, the band and μ); it may overwrite its
        argument.
    correct : callable
        ``M = Aᵀ B⁻¹ A`` on arrays like ``x`` (band and μ as in ``project``), e.g.
        ``P(−n)`` with zero data, plus ``n``.
    iterations : int, default :data:`NONNEGATIVE_ITERATIONS`
        Dual-ascent steps after the first projection (0: ``max(P(x), 0)``).
    lower : float or array, default 0
        The bound ``v ≥ lower`` (an HR array like ``x``, e.g. :func:`lower_bound`, for data
        with negative values; 0 everywhere for non-negative data).

    Returns
    -------
    numpy.ndarray or dask.array.Array
        Like ``x``, with no value below ``lower``.

    Examples
    --------
    >>> from xr_s5sr.physics import degrade, upsample
    >>> rng = np.random.default_rng(0)
    >>> y = degrade(np.exp(rng.standard_normal((160, 48, 1))), 7)  # a non-negative scene
    >>> x = upsample(y) + rng.standard_normal((160, 48, 1))  # a guess with negative values
    >>> out = nonnegative_consistency(
    ...     x, lambda v: project(v, y, band=7), lambda n: project(-n, 0 * y, band=7) + n
    ... )
    >>> clipped = np.maximum(project(x, y, band=7), 0.0)  # what clipping afterwards gives
    >>> def misfit(v):
    ...     return float(np.abs(degrade(v, 7) - y)[14:26].max() / y.max())
    >>> bool(out.min() >= 0), misfit(out) < misfit(clipped) / 10
    (True, True)
    """
    first = project(x)
    # torch tensors (the training objective, :func:`xr_s5sr.models.compose`) take the same
    # steps: a clone instead of a copy, clip for np.minimum/np.maximum, and the negative part
    # of z - lower (a new tensor: autograd keeps it while z is updated in place).
    tensor = hasattr(first, "clone")
    z = first
    if iterations and (tensor or isinstance(first, np.ndarray)):
        z = first.clone() if tensor else first.copy()
    for _ in range(iterations):
        # In place for numpy (a pass over an HR block costs a tenth of a projection); dask
        # arrays are rebound to new lazy arrays by the same statements.
        shifted = tensor or np.ndim(lower)
        step = correct((z - lower).clip(max=0.0) if shifted else z.clip(max=lower))
        step += first
        step -= z
        step *= NONNEGATIVE_RELAXATION
        z += step
    if tensor:
        return z.clip(min=lower)
    return np.maximum(z, lower, out=z if isinstance(z, np.ndarray) else None)


def nonnegative_multipliers(
    first: Any, solve_negative: Callable[[Any], Any], iterations: int = NONNEGATIVE_ITERATIONS
) -> Any:
    """LR multipliers ``λ`` of :func:`nonnegative_consistency`, whose result is
    ``max(x + Aᵀ λ, lower)``: the same iteration on the LR grid.

    Every iterate of :func:`nonnegative_consistency` is ``z = x + Aᵀ λ``: ``P(x) = x + Aᵀ s``
    with ``s = B⁻¹ (y − A x)``, and ``M n = Aᵀ m`` with ``m = B⁻¹ A n``, so
    ``z ← z + ω (P(x) + M n − z)`` is ``λ ← λ + ω (s + m − λ)`` from ``λ = s``. Only the
    negative part ``n = min(x + Aᵀ λ − lower, 0)`` needs the HR grid, and only pointwise
    and through the short operators ``A`` and ``Aᵀ``: the long-reach solve ``B⁻¹`` acts on LR
    arrays. This is how the engine keeps the memory of the step bounded by small HR blocks
    (:mod:`xr_s5sr.physics_graph`).

    Parameters
    ----------
    first : numpy.ndarray or dask.array.Array
        ``s = B⁻¹ (y − A x)``, LR (the multipliers of the projection ``P(x)``).
    solve_negative : callable
        ``λ ↦ B⁻¹ A min(x + Aᵀ λ − lower, 0)``, LR to LR.
    iterations : int, default :data:`NONNEGATIVE_ITERATIONS`
        Steps after the projection.

    Returns
    -------
    numpy.ndarray or dask.array.Array
        ``λ``, like ``first``.
    """
    multipliers = first
    for _ in range(iterations):
        multipliers = multipliers + NONNEGATIVE_RELAXATION * (
            first + solve_negative(multipliers) - multipliers
        )
    return multipliers


#: LR pixels each side that :func:`lower_bound` reads.
LOWER_BOUND_REACH = 1


def lower_bound(y: np.ndarray) -> np.ndarray:
    """The lower bound of the constrained consistency step, per LR pixel: 0 where the LR data
    are non-negative, else the smallest LR value within one LR pixel (that channel), so that
    data with negative values (noise on dark scenes, differences) are not clipped.

    ``y``: LR (scanline, ground_pixel, channel) numpy array; returns an array like it
    (homogeneous of degree 1 in ``y``), to be repeated over each LR pixel's 4 × 4 HR footprint.
    Reads :data:`LOWER_BOUND_REACH` LR pixels each side (edges: the nearest pixel).
    """
    from scipy import ndimage

    size = (2 * LOWER_BOUND_REACH + 1,) * 2 + (1,)
    return np.minimum(ndimage.minimum_filter(y, size=size, mode="nearest"), 0.0)


@lru_cache(maxsize=64)
def influence_radius(band: int, iterations: int, consistency: bool, detail_reach: int = 0) -> int:
    """LR pixels (Chebyshev distance) within which one LR value changes the physics result by
    more than :data:`STRICT_FRACTION` of the local radiance, for an error of
    :data:`STRICT_PERTURBATION` × the local radiance in that value.

    Measured on the impulse response of the linear chain of the method: the back-projection
    (``iterations``; 0 is the cubic interpolation) and, with ``consistency``, the exact
    projection (μ = 0, the longest tails). ``detail_reach``: LR pixels a network's detail
    reaches (its receptive field); the result is at least that plus the tail the projection
    gives to an HR detail of one LR pixel's 4 × 4 footprint. The exact projection reaches
    :func:`xr_s5sr.physics.projection_reach` pixels, but its taps decay fast: 17 for bands 7
    and 8, 8 to 9 for bands 2 to 6 (with 8 back-projection iterations).
    """
    size = 2 * _INFLUENCE_GRID + 1
    impulse = np.zeros((size, size, 1))
    impulse[_INFLUENCE_GRID, _INFLUENCE_GRID] = STRICT_PERTURBATION
    response = backproject(impulse, band, iterations=iterations)
    if consistency:
        response = project(response, impulse, band)
    distance = np.abs(np.arange(SCALE * size) // SCALE - _INFLUENCE_GRID)
    chebyshev = np.maximum(distance[:, None], distance[None, :])
    radius = int(chebyshev[np.abs(response[..., 0]) > STRICT_FRACTION].max(initial=0))
    if detail_reach and consistency:
        footprint = np.zeros((SCALE * size, SCALE * size, 1))
        centre = slice(SCALE * _INFLUENCE_GRID, SCALE * (_INFLUENCE_GRID + 1))
        footprint[centre, centre] = STRICT_PERTURBATION
        tail = np.abs(project(footprint, np.zeros_like(impulse), band)[..., 0])
        radius = max(radius, detail_reach + int(chebyshev[tail > STRICT_FRACTION].max(initial=0)))
    return max(radius, detail_reach)


#: Half size (LR pixels) of the grid :func:`influence_radius` measures on.
_INFLUENCE_GRID = 48


__all__ = [
    "LOWER_BOUND_REACH",
    "NONNEGATIVE_ITERATIONS",
    "NONNEGATIVE_RELAXATION",
    "STRICT_FRACTION",
    "STRICT_PERTURBATION",
    "influence_radius",
    "lower_bound",
    "nonnegative_consistency",
    "nonnegative_multipliers",
]
