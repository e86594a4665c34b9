"""The granule's own spectra as a prior, and spectral checks of a result.

Boundary: numpy, cubes with axes (scanline, ground_pixel, spectral_channel); no xarray, no
dask; the composition also takes torch tensors (the trained formula,
:func:`xr_s5sr.models.compose`). The engine (or a caller) decides where the functions run;
everything here is homogeneous in the radiance (``f(a·y) = a·f(y)`` for the projections,
``f(a·y) = f(y)`` for the ranks and the scores), so scale equivariance of the
super-resolution is kept.

Signal subspace (HySime-style identification)
    The few hundred channels of a band share a few spectral shapes: the LR spectra of a granule
    lie close to a subspace of small dimension, and white noise spreads evenly over all
    channels. With the uncentred correlation ``R = Yᵀ Y / N`` of the N spectra of a window of
    scanlines and its eigen-pairs ``(λ_k, v_k)``, the component ``k`` holds signal power
    ``λ_k − σ²`` and noise power ``σ²`` (σ² the noise variance per value). Keeping it lowers
    the mean squared error when its signal power exceeds its noise power, ``λ_k > 2 σ²``
    (:func:`subspace_rank`); the spectra are then replaced by their projection ``V_K V_Kᵀ y``
    (:func:`project_spectra`), which removes ``(C − K)/C`` of the noise and none of the signal
    the window shows. Windows are fixed in absolute scanline index (:data:`WINDOW`), so a
    result never depends on how a granule is cut into blocks.

Spectral composition
    A network and the physics inverse sharpen each channel on its own, and their errors at
    dark absorption channels distort the spectra. :func:`compose_intensity` keeps their
    intensity (the sum over channels) and gives every HR pixel the spectral shape of the
    interpolated data there (a Brovey-type composition); the consistency step that follows
    restores, channel by channel, what the data demand.

Spectral checks
    :func:`spectral_angle` (mean angle between reference and estimate spectra, degrees) and
    :func:`line_depth_error` (how well the depth of the strongest absorption lines is kept).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from xr_s5sr.errors import DimensionError

#: LR scanlines of one subspace window (windows start at multiples of this absolute index).
WINDOW = 64
#: Signal-to-noise power ratio a component must exceed to be kept (HySime: signal > noise).
KEEP_RATIO = 1.0
#: Strongest absorption lines scored by :func:`line_depth_error`.
LINES = 5
#: Channels each side of a line that are searched for its continuum (the local maximum).
CONTINUUM_HALF_WIDTH = 12


def _spectra(cube: np.ndarray) -> np.ndarray:
    if cube.ndim != 3:
        raise DimensionError(
            f"Expected a (scanline, ground_pixel, spectral_channel) cube, got shape "
            f"{tuple(cube.shape)} ({cube.ndim}-D). Add the missing dims."
        )
    return np.asarray(cube, dtype=np.float64).reshape(-1, cube.shape[-1])


def subspace_rank(eigenvalues: np.ndarray, noise: float) -> int:
    """Number of leading components whose signal power exceeds ``KEEP_RATIO`` × the noise.

    Parameters
    ----------
    eigenvalues : numpy.ndarray
        Eigenvalues of the uncentred correlation of the spectra, descending, radiance².
    noise : float
        Noise variance per value σ², radiance² (0: noise-free, every non-zero component kept).

    Returns
    -------
    int
        ``K ≥ 1``: the count of ``λ_k − σ² > KEEP_RATIO · σ²`` (the components are sorted, so
        the kept ones lead).

    Examples
    --------
    >>> subspace_rank(np.array([10.0, 3.0, 1.5, 1.0, 1.0]), noise=1.0)
    2
    """
    threshold = (1.0 + KEEP_RATIO) * noise if noise > 0 else 0.0
    count = int(np.count_nonzero(eigenvalues > threshold))
    return max(1, count)


def signal_subspace(cube: np.ndarray, noise: float) -> np.ndarray:
    """Orthonormal basis ``(C, K)`` of the signal subspace of the spectra of a cube.

    Parameters
    ----------
    cube : numpy.ndarray
        (scanline, ground_pixel, spectral_channel) radiance, finite.
    noise : float
        Noise variance per value, radiance² (:func:`xr_s5sr.adaptive.auto_settings`).

    Returns
    -------
    numpy.ndarray
        float64 ``(C, K)``, columns the leading eigenvectors of ``Yᵀ Y / N``, ``K`` from
        :func:`subspace_rank`.
    """
    spectra = _spectra(cube)
    scale = float(np.max(np.abs(spectra))) or 1.0
    # Scaled first: the eigenvectors of a·Y are those of Y (exact scale equivariance).
    unit = spectra / scale
    correlation = unit.T @ unit / max(1, unit.shape[0])
    eigenvalues, vectors = np.linalg.eigh(correlation)
    order = np.argsort(eigenvalues)[::-1]
    rank = subspace_rank(eigenvalues[order], noise / scale**2)
    return vectors[:, order[:rank]]


def project_spectra(cube: np.ndarray, basis: np.ndarray) -> np.ndarray:
    """Every spectrum of ``cube`` replaced by its projection ``V Vᵀ y`` (float32 out)."""
    spectra = _spectra(cube)
    projected = (spectra @ basis) @ basis.T
    return projected.reshape(cube.shape).astype(np.float32)


def subspace_denoise(
    cube: np.ndarray, noise: float, first_row: int = 0, window: int = WINDOW
) -> tuple[np.ndarray, list[int]]:
    """Project the spectra of each window of scanlines onto that window's signal subspace.

    Parameters
    ----------
    cube : numpy.ndarray
        LR (scanline, ground_pixel, spectral_channel) radiance, finite.
    noise : float
        Noise variance per value, radiance².
    first_row : int, default 0
        Absolute scanline index of ``cube``'s first row: windows start at multiples of
        ``window`` in absolute index, so any block that holds whole windows gives the same
        values as the whole granule.
    window : int, default :data:`WINDOW`
        LR scanlines per window.

    Returns
    -------
    (numpy.ndarray, list of int)
        The projected cube (float32) and the rank ``K`` of every window. With ``noise = 0``
        every non-zero component is kept (the cube is returned to float rounding).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> shapes = np.abs(rng.standard_normal((3, 40))) + 1.0
    >>> clean = rng.uniform(0.5, 1.5, (32, 16, 3)) @ shapes
    >>> noisy = clean + 0.05 * rng.standard_normal(clean.shape)
    >>> out, ranks = subspace_denoise(noisy, noise=0.05**2)
    >>> ranks, bool(np.std(out - clean) < 0.5 * np.std(noisy - clean))
    ([3], True)
    """
    if window < 1:
        raise DimensionError(f"window must be a positive number of scanlines, got {window}.")
    out = np.empty(cube.shape, np.float32)
    ranks = []
    start = 0
    while start < cube.shape[0]:
        stop = min(cube.shape[0], start + window - (first_row + start) % window)
        part = cube[start:stop]
        basis = signal_subspace(part, noise)
        out[start:stop] = project_spectra(part, basis)
        ranks.append(int(basis.shape[1]))
        start = stop
    return out, ranks


def intensity_gain(estimate: Any, reference_intensity: Any, axis: int = -1) -> Any:
    """Per-pixel ratio of the estimate's intensity (sum over channels) to the reference's.

    ``estimate``: cube with its channels along ``axis`` (numpy array or torch tensor);
    ``reference_intensity``: its pixels' reference intensity (size 1 along ``axis``). Returns
    the gain like ``reference_intensity`` (float32 for numpy), NaN where either intensity is
    not positive (dark or negative data: :func:`compose_intensity` keeps the estimate there).
    Homogeneous of degree 0: a brightness factor cancels.
    """
    if not isinstance(estimate, np.ndarray):
        # torch (xr_s5sr.models.compose): the same formula, differentiable.
        intensity = estimate.sum(axis, keepdim=True)
        valid = (intensity > 0) & (reference_intensity > 0)
        safe = reference_intensity.where(valid, reference_intensity.new_ones(()))
        return (intensity / safe).where(valid, intensity.new_tensor(math.nan))
    estimate_intensity = estimate.sum(axis=axis, keepdims=True, dtype=np.float64)
    valid = (estimate_intensity > 0) & (reference_intensity > 0)
    gain = np.full(estimate_intensity.shape, np.nan)
    np.divide(estimate_intensity, reference_intensity, out=gain, where=valid)
    return gain.astype(np.float32)


def compose_intensity(estimate: Any, reference: Any, gain: Any) -> Any:
    """The reference spectra scaled to the estimate's intensity: ``reference · gain``, with
    ``gain`` of :func:`intensity_gain` (computed over all channels), the estimate where the
    gain is NaN. ``estimate`` and ``reference``: cubes of the same pixels (numpy arrays or
    torch tensors; a channel group of them is fine: the gain carries the whole spectrum's
    intensities).

    A spectrum of the result is a multiple of the reference's, so its angle to the truth is
    the reference's; the intensity, where sharpening gains, is the estimate's.

    Examples
    --------
    >>> estimate = np.array([[[3.0, 1.0]]])  # intensity 4, shape (0.75, 0.25)
    >>> reference = np.array([[[1.0, 1.0]]])  # intensity 2, shape (0.5, 0.5)
    >>> gain = intensity_gain(estimate, reference.sum(-1, keepdims=True))
    >>> compose_intensity(estimate, reference, gain)
    array([[[2., 2.]]])
    """
    if not isinstance(estimate, np.ndarray):
        # NaN out of the product, so that no NaN reaches a gradient through the unused branch.
        return (reference * gain.nan_to_num()).where(~gain.isnan(), estimate)
    composed = reference * gain
    return np.where(np.isnan(gain), estimate, composed).astype(estimate.dtype, copy=False)


def spectral_angle(reference: np.ndarray, estimate: np.ndarray) -> float:
    """Mean angle (degrees) between the reference and estimate spectra of every pixel.

    Examples
    --------
    >>> a = np.ones((2, 2, 3))
    >>> round(spectral_angle(a, 5.0 * a), 6)
    0.0
    """
    ref, est = _spectra(reference), _spectra(estimate)
    dot = np.sum(ref * est, axis=1)
    norms = np.linalg.norm(ref, axis=1) * np.linalg.norm(est, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        cosine = np.clip(dot / norms, -1.0, 1.0)
    return float(np.degrees(np.nanmean(np.arccos(cosine))))


def strongest_lines(mean_spectrum: np.ndarray, count: int = LINES) -> list[tuple[int, int]]:
    """``(line, continuum)`` channel pairs of the deepest absorption lines of a spectrum.

    A line is a local minimum; its continuum the largest value within
    :data:`CONTINUUM_HALF_WIDTH` channels; depth ``1 − line / continuum``. Lines closer than
    the half width to a deeper one are skipped.
    """
    spectrum = np.asarray(mean_spectrum, dtype=np.float64)
    n = spectrum.size
    candidates = []
    for k in range(1, n - 1):
        if spectrum[k] <= spectrum[k - 1] and spectrum[k] <= spectrum[k + 1]:
            low, high = max(0, k - CONTINUUM_HALF_WIDTH), min(n, k + CONTINUUM_HALF_WIDTH + 1)
            top = low + int(np.argmax(spectrum[low:high]))
            if spectrum[top] > 0:
                candidates.append((1.0 - spectrum[k] / spectrum[top], k, top))
    chosen: list[tuple[int, int]] = []
    for _, line, top in sorted(candidates, reverse=True):
        if all(abs(line - other) > CONTINUUM_HALF_WIDTH for other, _ in chosen):
            chosen.append((line, top))
        if len(chosen) == count:
            break
    return chosen


def line_depth_error(reference: np.ndarray, estimate: np.ndarray, count: int = LINES) -> float:
    """Mean relative error of the in-line / continuum radiance ratio of the strongest lines.

    The lines are those of the reference's mean spectrum (:func:`strongest_lines`); at every
    pixel the ratio ``L[line] / L[continuum]`` of the estimate is compared with the
    reference's, ``min(|r_est − r_ref| / r_ref, 1)`` averaged over pixels and lines (pixels
    whose reference radiance is not positive are left out; an estimate continuum of 0 counts
    as error 1).

    Returns
    -------
    float
        Dimensionless; 0 for an estimate whose line depths are the reference's (NaN when the
        spectrum has no line).
    """
    ref, est = _spectra(reference), _spectra(estimate)
    errors = []
    for line, top in strongest_lines(ref.mean(axis=0), count):
        valid = (ref[:, top] > 0) & (ref[:, line] > 0)
        ratio_ref = ref[valid, line] / ref[valid, top]
        with np.errstate(invalid="ignore", divide="ignore"):
            ratio_est = est[valid, line] / est[valid, top]
        # A continuum of 0 or below in the estimate loses the line entirely: error 1 (capped,
        # so that one such pixel does not make the mean infinite).
        relative = np.minimum(np.abs(ratio_est - ratio_ref) / ratio_ref, 1.0)
        errors.append(np.mean(np.where(np.isfinite(relative), relative, 1.0)))
    return float(np.mean(errors)) if errors else math.nan


__all__ = [
    "KEEP_RATIO",
    "WINDOW",
    "compose_intensity",
    "intensity_gain",
    "line_depth_error",
    "project_spectra",
    "signal_subspace",
    "spectral_angle",
    "strongest_lines",
    "subspace_denoise",
    "subspace_rank",
]
