"""PCA false-colour quicklooks of LR / HR / SR radiance and spectrum plots (paper Figure 4).

Boundary: the PCA helpers (:func:`pca_basis`, :func:`pca_project`, :func:`percentile_limits`)
work on numpy or dask arrays whose last axis is the spectral channel; the figure functions take
tidy xarray objects (as returned by :func:`xr_s5sr.open_l1b` and the ``.s5sr`` methods) and
return :class:`matplotlib.figure.Figure` objects; the ``save_*`` functions write PNG files
atomically. matplotlib is optional (the ``[plot]`` extra) and imported only when a figure is made.

False colour: the first three principal components of the spectra of the HR cube (of the SR cube
when no HR exists) become red, green and blue. Every panel is projected on the same components
and stretched with the same per-component 2–98 % percentile limits of the HR projection, so
colours are comparable across panels. The LR panel is nearest-neighbour upsampled at its true
footprint on the HR grid: LR pixel ``j`` is drawn as the 4 × 4 block of HR pixels centred on HR
pixel ``4j + 2`` (the degradation convention), so the panels align.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import xarray as xr

from xr_s5sr.atomic import atomic_output
from xr_s5sr.bands import SCALE, get_band
from xr_s5sr.errors import InputDataError, MissingDependencyError
from xr_s5sr.evaluate import evaluate_dataset, radiance_cube

if TYPE_CHECKING:
    from matplotlib.figure import Figure

#: Default number of spectra used to fit the PCA.
MAX_PCA_SAMPLES = 20_000


def new_figure(**kwargs: Any) -> Figure:
    """A new matplotlib Figure, not registered with pyplot (no GUI, no global state)."""
    try:
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise MissingDependencyError(
            "Quicklooks need matplotlib, which could not be imported "
            f"({exc}). Install it with `pip install matplotlib` or `pip install xr_s5sr[plot]`."
        ) from exc
    return Figure(**kwargs)


# ---------------------------------------------------------------------------- PCA (arrays)
def pca_basis(
    cube: Any, n_components: int = 3, max_samples: int = MAX_PCA_SAMPLES
) -> tuple[np.ndarray, np.ndarray]:
    """Mean spectrum and leading principal components of a cube's spectra.

    The spectra of a regular spatial subsample (every ``s``-th scanline and ground pixel, ``s``
    chosen so at most about ``max_samples`` spectra are used; only that subsample is computed
    for dask input) are mean-centred and decomposed by SVD. Spectra containing NaN are ignored.
    Each component's sign is fixed so that its largest-magnitude loading is positive.

    Parameters
    ----------
    cube : numpy.ndarray or dask.array.Array
        Radiance (scanline, ground_pixel, spectral_channel).
    n_components : int, default 3
        Number of components.
    max_samples : int, default 20000
        Upper bound (approximate) on the number of spectra in the fit.

    Returns
    -------
    mean : numpy.ndarray
        Mean spectrum, shape (spectral_channel,), radiance units.
    components : numpy.ndarray
        Orthonormal rows, shape (n_components, spectral_channel).

    Raises
    ------
    InputDataError
        If fewer valid spectra than ``n_components`` remain, or the cube has fewer channels.

    Examples
    --------
    >>> cube = np.random.default_rng(0).random((20, 10, 5))
    >>> mean, comps = pca_basis(cube)
    >>> np.allclose(comps @ comps.T, np.eye(3))
    True
    """
    n_scan, n_pixel, n_channel = cube.shape
    stride = max(1, int(np.ceil(np.sqrt(n_scan * n_pixel / max_samples))))
    sample = np.asarray(cube[::stride, ::stride]).reshape(-1, n_channel).astype(np.float64)
    sample = sample[np.all(np.isfinite(sample), axis=1)]
    if n_channel < n_components or sample.shape[0] < n_components:
        raise InputDataError(
            f"PCA with {n_components} components needs at least {n_components} channels and "
            f"valid (NaN-free) spectra; found {n_channel} channels and {sample.shape[0]} valid "
            "spectra in the subsample. Use a larger, less masked region."
        )
    mean = sample.mean(axis=0)
    _, _, vt = np.linalg.svd(sample - mean, full_matrices=False)
    components = vt[:n_components]
    pivots = np.argmax(np.abs(components), axis=1)
    signs = np.sign(components[np.arange(n_components), pivots])
    return mean, components * signs[:, None]


def pca_project(cube: Any, mean: np.ndarray, components: np.ndarray) -> np.ndarray:
    """Scores of every spectrum on the components: ``(cube − mean) · componentsᵀ``.

    Parameters
    ----------
    cube : numpy.ndarray or dask.array.Array
        Radiance (…, spectral_channel); dask input is reduced block-wise, then computed.
    mean, components : numpy.ndarray
        From :func:`pca_basis`.

    Returns
    -------
    numpy.ndarray
        Shape (…, n_components), float64; NaN where the spectrum has NaN.
    """
    scores = (cube.astype(np.float64) - mean) @ components.T
    return np.asarray(scores)


def percentile_limits(scores: np.ndarray, low: float = 2.0, high: float = 98.0) -> np.ndarray:
    """Per-component stretch limits: ``[[lo_0, hi_0], …]`` (NaN ignored), shape (n, 2)."""
    flat = scores.reshape(-1, scores.shape[-1])
    return np.nanpercentile(flat, [low, high], axis=0).T


def to_rgb(scores: np.ndarray, limits: np.ndarray) -> np.ndarray:
    """Linear stretch of 3 components to RGB in [0, 1] (clipped); NaN spectra become black."""
    lo, hi = limits[:, 0], limits[:, 1]
    span = np.where(hi > lo, hi - lo, 1.0)
    return np.nan_to_num(np.clip((scores - lo) / span, 0.0, 1.0), nan=0.0)


# ---------------------------------------------------------------------------- figures
def _band_text(band: int | None, *objs: xr.Dataset | xr.DataArray | None) -> str:
    if band is None:
        band = next(
            (o.attrs["s5p_band"] for o in objs if o is not None and "s5p_band" in o.attrs), None
        )
    if band is None:
        return "S5P radiance"
    info = get_band(band)
    low, high = info.wavelength_range
    return f"S5P band {info.number} ({info.detector}, {low:g}–{high:g} nm)"


def _score_text(scores: xr.Dataset) -> str:
    return " · ".join(
        f"{method}: PSNR {psnr:.2f} dB, SSIM {ssim:.4f}"
        for method, psnr, ssim in zip(
            scores["model"].values, scores["psnr"].values, scores["ssim"].values, strict=True
        )
    )


def quicklook_figure(
    lr: xr.Dataset | xr.DataArray,
    sr: xr.Dataset | xr.DataArray,
    hr: xr.Dataset | xr.DataArray | None = None,
    *,
    bicubic: xr.Dataset | xr.DataArray | None = None,
    scores: xr.Dataset | None = None,
    band: int | None = None,
    variable: Hashable | None = None,
    panel_width: float = 3.2,
) -> Figure:
    """PCA false-colour figure: LR | HR | SR (| bicubic), or LR | SR without HR.

    Parameters
    ----------
    lr : xarray.Dataset or xarray.DataArray
        Low-resolution radiance (the network input).
    sr : xarray.Dataset or xarray.DataArray
        Super-resolved radiance on the HR grid (4× LR).
    hr : xarray.Dataset or xarray.DataArray, optional
        HR truth; the PCA is fitted on it (else on ``sr``) and metrics go in the title.
    bicubic : xarray.Dataset or xarray.DataArray, optional
        Bicubic upsampling of ``lr``, shown as a fourth panel and used as the metrics baseline.
    scores : xarray.Dataset, optional
        Precomputed :func:`xr_s5sr.evaluate.evaluate_dataset` result for the title; computed
        from ``sr``, ``hr`` and ``bicubic`` when ``hr`` is given and ``scores`` is None.
    band : int, optional
        S5P band for the title (default from ``attrs["s5p_band"]``).
    variable : hashable, optional
        Radiance variable of Datasets (default ``radiance``).
    panel_width : float, default 3.2
        Width of one panel, inches.

    Returns
    -------
    matplotlib.figure.Figure
    """
    panels: list[tuple[str, xr.DataArray]] = [("LR", radiance_cube(lr, variable, "LR"))]
    if hr is not None:
        panels.append(("HR (reference)", radiance_cube(hr, variable, "HR")))
    panels.append(
        (f"SR ({sr.attrs.get('s5sr_model', 'model')})", radiance_cube(sr, variable, "SR"))
    )
    if bicubic is not None:
        panels.append(("bicubic", radiance_cube(bicubic, variable, "bicubic")))
    # panels[1] is HR when given, else SR: the PCA basis and the stretch both come from it.
    fit_on = panels[1][1]
    mean, components = pca_basis(fit_on.data)
    projected = [pca_project(cube.data, mean, components) for _, cube in panels]
    limits = percentile_limits(projected[1])

    n_hr = fit_on.shape[:2]
    aspect = n_hr[0] / max(n_hr[1], 1)
    fig = new_figure(
        figsize=(panel_width * len(panels), panel_width * min(max(aspect, 0.6), 3.0) + 1.2),
        layout="constrained",
    )
    axes = fig.subplots(1, len(panels), sharex=True, sharey=True, squeeze=False)[0]
    for ax, (title, cube), scores_rgb in zip(axes, panels, projected, strict=True):
        extent: tuple[float, float, float, float]
        if cube is panels[0][1]:
            # LR pixel j is centred on HR pixel 4j+2: its edges lie at HR positions 4j and 4j+4.
            extent = (0.0, SCALE * cube.shape[1], SCALE * cube.shape[0], 0.0)
        else:
            extent = (-0.5, cube.shape[1] - 0.5, cube.shape[0] - 0.5, -0.5)
        ax.imshow(to_rgb(scores_rgb, limits), extent=extent, interpolation="nearest")
        ax.set_title(f"{title}\n{cube.shape[0]} × {cube.shape[1]}", fontsize=9)
        ax.set_xlabel("ground_pixel (HR)")
    axes[0].set_ylabel("scanline (HR)")
    for ax in axes:
        ax.set_xlim(-0.5, n_hr[1] - 0.5)
        ax.set_ylim(n_hr[0] - 0.5, -0.5)
    fitted = "HR" if hr is not None else "SR"
    title = f"{_band_text(band, hr, sr, lr)} · PCA false colour (fitted on {fitted})"
    if hr is not None:
        if scores is None:
            scores = evaluate_dataset(sr, hr, baseline=bicubic, variable=variable, band=band)
        title += "\n" + _score_text(scores)
    fig.suptitle(title, fontsize=10)
    return fig


def spectrum_figure(
    lr: xr.Dataset | xr.DataArray,
    sr: xr.Dataset | xr.DataArray,
    hr: xr.Dataset | xr.DataArray | None = None,
    *,
    pixel: tuple[int, int] | None = None,
    band: int | None = None,
    variable: Hashable | None = None,
) -> Figure:
    """Radiance spectra at one HR pixel: LR (the covering LR pixel), SR and HR.

    Parameters
    ----------
    lr, sr, hr : xarray.Dataset or xarray.DataArray
        As in :func:`quicklook_figure` (``hr`` optional).
    pixel : tuple of int, optional
        HR (scanline, ground_pixel) indices; default the centre of the SR grid. The LR pixel
        shown is the one whose centre ``4j + 2`` is nearest.
    band : int, optional
        S5P band for the title.
    variable : hashable, optional
        Radiance variable of Datasets.

    Returns
    -------
    matplotlib.figure.Figure
        Spectra against ``nominal_wavelength`` (nm) when that coordinate exists, else against the
        channel index; with ``hr``, a lower panel shows SR − HR and LR − HR.
    """
    sr_cube = radiance_cube(sr, variable, "SR")
    n_scan, n_pixel = sr_cube.shape[:2]
    row, col = pixel if pixel is not None else (n_scan // 2, n_pixel // 2)
    if not (0 <= row < n_scan and 0 <= col < n_pixel):
        raise InputDataError(
            f"pixel={pixel!r} is outside the HR grid of {n_scan} × {n_pixel} pixels; pass "
            "0-based (scanline, ground_pixel) indices inside it."
        )
    lr_cube = radiance_cube(lr, variable, "LR")
    lr_row = int(np.clip(round((row - SCALE // 2) / SCALE), 0, lr_cube.shape[0] - 1))
    lr_col = int(np.clip(round((col - SCALE // 2) / SCALE), 0, lr_cube.shape[1] - 1))
    sr_spectrum = sr_cube[row, col]
    spectra = {
        f"LR [{lr_row}, {lr_col}]": lr_cube[lr_row, lr_col],
        f"SR ({sr.attrs.get('s5sr_model', 'model')})": sr_spectrum,
    }
    if hr is not None:
        spectra["HR (reference)"] = radiance_cube(hr, variable, "HR")[row, col]
    values = {name: np.asarray(s.values, dtype=np.float64) for name, s in spectra.items()}
    # The SR output carries nominal_wavelength to the HR ground pixels; the HR truth has its own.
    reference = spectra.get("HR (reference)", sr_spectrum)
    if "nominal_wavelength" in reference.coords:
        x = np.asarray(reference["nominal_wavelength"].values, dtype=np.float64)
        xlabel = "nominal wavelength (nm)"
    else:
        x = np.arange(sr_cube.shape[2], dtype=np.float64)
        xlabel = "spectral channel"
    fig = new_figure(figsize=(8.0, 5.5 if hr is not None else 3.8), layout="constrained")
    axes = fig.subplots(2 if hr is not None else 1, 1, sharex=True, squeeze=False)[:, 0]
    styles = {"LR": {"color": "0.55", "ls": "--"}, "SR": {"color": "C3"}, "HR": {"color": "k"}}
    for name, y in values.items():
        axes[0].plot(x, y, lw=1.0, label=name, **styles[name[:2]])
    units = reference.attrs.get("units", "")
    axes[0].set_ylabel(f"radiance ({units})" if units else "radiance")
    axes[0].legend(fontsize=8)
    if hr is not None:
        truth = values["HR (reference)"]
        for name, y in values.items():
            if not name.startswith("HR"):
                axes[1].plot(x, y - truth, lw=1.0, label=f"{name} − HR", **styles[name[:2]])
        axes[1].axhline(0.0, color="k", lw=0.5)
        axes[1].set_ylabel(f"difference ({units})" if units else "difference")
        axes[1].legend(fontsize=8)
    axes[-1].set_xlabel(xlabel)
    fig.suptitle(f"{_band_text(band, hr, sr, lr)} · HR pixel ({row}, {col})", fontsize=10)
    return fig


def _channel_at(cube: xr.DataArray, wavelength: float | None) -> tuple[int, str]:
    """Channel index nearest to ``wavelength`` (nm, median over ground pixels) and its label."""
    if wavelength is None:
        channel = cube.shape[2] // 2
    elif "nominal_wavelength" in cube.coords:
        grid = np.asarray(cube["nominal_wavelength"].values, dtype=np.float64)
        grid = np.nanmedian(grid.reshape(-1, grid.shape[-1]), axis=0)
        channel = int(np.nanargmin(np.abs(grid - wavelength)))
        return channel, f"{grid[channel]:.2f} nm (channel {channel})"
    else:
        raise InputDataError(
            f"wavelength={wavelength} nm needs a nominal_wavelength coordinate, which the data "
            "lack; pass wavelength=None (the middle channel) instead."
        )
    return channel, f"channel {channel}"


def radiance_map_figure(
    lr: xr.Dataset | xr.DataArray,
    sr: xr.Dataset | xr.DataArray,
    hr: xr.Dataset | xr.DataArray | None = None,
    *,
    wavelength: float | None = None,
    band: int | None = None,
    variable: Hashable | None = None,
) -> Figure:
    """Radiance maps at one wavelength: LR, SR, HR and SR − HR, with colour bars and units.

    Parameters
    ----------
    lr, sr, hr, band, variable
        As in :func:`spectrum_figure` (without ``hr`` there is no difference map).
    wavelength : float, optional
        Wavelength (nm) of the channel shown (nearest channel, from ``nominal_wavelength`` of
        the SR output); default the middle channel.

    Returns
    -------
    matplotlib.figure.Figure
        LR, SR (and HR) on one colour scale (2nd–98th percentile of the reference), and the
        difference SR − HR on a symmetric scale.
    """
    sr_cube = radiance_cube(sr, variable, "SR")
    channel, label = _channel_at(sr_cube, wavelength)
    panels = [("LR", radiance_cube(lr, variable, "LR")), ("SR", sr_cube)]
    if hr is not None:
        panels.append(("HR (reference)", radiance_cube(hr, variable, "HR")))
    images = {
        name: np.asarray(cube[..., channel].values, dtype=np.float64) for name, cube in panels
    }
    reference = images.get("HR (reference)", images["SR"])
    low, high = np.nanpercentile(reference, [2, 98])
    units = sr_cube.attrs.get("units", "")
    columns = len(images) + (1 if hr is not None else 0)
    fig = new_figure(figsize=(3.2 * columns, 3.6), layout="constrained")
    axes = fig.subplots(1, columns, squeeze=False)[0]
    for ax, (name, image) in zip(axes, images.items(), strict=False):
        shown = ax.imshow(image, vmin=low, vmax=high, cmap="viridis", interpolation="nearest")
        ax.set_title(name, fontsize=9)
        fig.colorbar(shown, ax=ax, shrink=0.8, label=units)
    if hr is not None:
        difference = images["SR"] - images["HR (reference)"]
        limit = float(np.nanpercentile(np.abs(difference), 98)) or 1.0
        shown = axes[-1].imshow(difference, vmin=-limit, vmax=limit, cmap="RdBu_r")
        axes[-1].set_title("SR − HR", fontsize=9)
        fig.colorbar(shown, ax=axes[-1], shrink=0.8, label=units)
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(f"{_band_text(band, hr, sr, lr)} · radiance at {label}", fontsize=10)
    return fig


# ---------------------------------------------------------------------------- PNG files
def save_png(
    fig: Figure, path: str | os.PathLike[str], *, overwrite: bool = False, dpi: int = 110
) -> Path:
    """Write a matplotlib Figure to a PNG file atomically (a temporary file in the same
    directory, then a rename: :func:`xr_s5sr.atomic.atomic_output`); returns the path."""
    with atomic_output(path, overwrite, wait_for_dask=False) as temp:
        fig.savefig(temp, format="png", dpi=dpi)
    return Path(path)


def _save_figure(
    make: Callable[..., Figure],
    lr: xr.Dataset | xr.DataArray,
    sr: xr.Dataset | xr.DataArray,
    hr: xr.Dataset | xr.DataArray | None,
    *,
    path: str | os.PathLike[str],
    overwrite: bool = False,
    dpi: int = 110,
    **kwargs: Any,
) -> Path:
    return save_png(make(lr, sr, hr, **kwargs), path, overwrite=overwrite, dpi=dpi)


def save_quicklook(
    lr: xr.Dataset | xr.DataArray,
    sr: xr.Dataset | xr.DataArray,
    hr: xr.Dataset | xr.DataArray | None = None,
    *,
    path: str | os.PathLike[str],
    overwrite: bool = False,
    dpi: int = 110,
    **kwargs: Any,
) -> Path:
    """Write the :func:`quicklook_figure` as a PNG file, atomically.

    Parameters
    ----------
    lr, sr, hr
        See :func:`quicklook_figure`.
    path : path-like
        Target PNG file.
    overwrite : bool, default False
        Replace an existing file; otherwise :class:`~xr_s5sr.errors.OutputExistsError`
        (a missing or read-only directory raises :class:`~xr_s5sr.errors.OutputPathError`).
    dpi : int, default 110
        Resolution.
    **kwargs
        ``bicubic``, ``scores``, ``band``, ``variable``, ``panel_width`` of
        :func:`quicklook_figure`.

    Returns
    -------
    pathlib.Path
        The written file.
    """
    return _save_figure(
        quicklook_figure, lr, sr, hr, path=path, overwrite=overwrite, dpi=dpi, **kwargs
    )


def save_spectrum(
    lr: xr.Dataset | xr.DataArray,
    sr: xr.Dataset | xr.DataArray,
    hr: xr.Dataset | xr.DataArray | None = None,
    **kwargs: Any,
) -> Path:
    """Write the :func:`spectrum_figure` as a PNG file, atomically: ``path``, ``overwrite``
    and ``dpi`` as in :func:`save_quicklook`, the other keywords :func:`spectrum_figure`'s."""
    return _save_figure(spectrum_figure, lr, sr, hr, **kwargs)


def save_radiance_map(
    lr: xr.Dataset | xr.DataArray,
    sr: xr.Dataset | xr.DataArray,
    hr: xr.Dataset | xr.DataArray | None = None,
    **kwargs: Any,
) -> Path:
    """Write the :func:`radiance_map_figure` as a PNG file, atomically: ``path``,
    ``overwrite`` and ``dpi`` as in :func:`save_quicklook`, the other keywords
    :func:`radiance_map_figure`'s."""
    return _save_figure(radiance_map_figure, lr, sr, hr, **kwargs)


__all__ = [
    "MAX_PCA_SAMPLES",
    "new_figure",
    "pca_basis",
    "pca_project",
    "percentile_limits",
    "quicklook_figure",
    "radiance_map_figure",
    "save_png",
    "save_quicklook",
    "save_radiance_map",
    "save_spectrum",
    "spectrum_figure",
    "to_rgb",
]
