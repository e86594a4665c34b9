"""Tests of xr_s5sr.quicklook: PCA numerics, RGB stretch, figures and atomic PNG files."""

from __future__ import annotations

import sys
from pathlib import Path

import dask.array as da
import numpy as np
import pytest
import xarray as xr
from conftest import raise_if_dask_computes

import xr_s5sr
from xr_s5sr.errors import InputDataError, OutputExistsError, OutputPathError
from xr_s5sr.quicklook import (
    pca_basis,
    pca_project,
    percentile_limits,
    quicklook_figure,
    save_quicklook,
    save_spectrum,
    spectrum_figure,
    to_rgb,
)

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def rank3_cube(rng: np.random.Generator, shape: tuple[int, int, int]) -> np.ndarray:
    """mean + scores @ loadings: exactly three principal directions."""
    scores = rng.standard_normal((*shape[:2], 3)) * [5.0, 2.0, 0.5]
    loadings = np.linalg.qr(rng.standard_normal((shape[2], 3)))[0].T
    return 10.0 + scores @ loadings


@pytest.fixture(scope="module")
def scenes() -> dict[str, xr.Dataset]:
    hr = xr_s5sr.synthetic.make_granule(7, 32, 24, seed=2, n_channel=8)
    lr = hr.s5sr.degrade()
    bicubic = lr.s5sr.bicubic()
    sr = (bicubic * 1.0 + 0.02 * (hr - bicubic)).assign_attrs(bicubic.attrs, s5sr_model="s5dscr")
    return {"hr": hr, "lr": lr, "sr": sr, "bicubic": bicubic}


# ------------------------------------------------------------------ PCA
def test_components_are_orthonormal_with_positive_pivot(rng: np.random.Generator) -> None:
    cube = rng.random((30, 20, 12))
    mean, components = pca_basis(cube, n_components=4)
    np.testing.assert_allclose(components @ components.T, np.eye(4), atol=1e-12)
    np.testing.assert_allclose(mean, cube.reshape(-1, 12).mean(axis=0), rtol=1e-12, atol=1e-12)
    pivots = components[np.arange(4), np.argmax(np.abs(components), axis=1)]
    assert (pivots > 0).all()
    # Variance ordering: the scores' variances decrease.
    variances = pca_project(cube, mean, components).reshape(-1, 4).var(axis=0)
    assert (np.diff(variances) < 0).all()


@pytest.mark.parametrize("max_samples", [20_000, 50])
def test_rank3_cube_is_reconstructed(rng: np.random.Generator, max_samples: int) -> None:
    cube = rank3_cube(rng, (40, 30, 16))
    mean, components = pca_basis(cube, max_samples=max_samples)
    scores = pca_project(cube, mean, components)
    assert scores.shape == (40, 30, 3)
    reconstructed = mean + scores @ components
    np.testing.assert_allclose(reconstructed, cube, rtol=0, atol=1e-10)


def test_pca_on_dask_matches_numpy_and_ignores_nan(rng: np.random.Generator) -> None:
    cube = rank3_cube(rng, (24, 16, 10))
    cube[3, 4, 2] = np.nan
    lazy = da.from_array(cube, chunks=(7, 16, 10))
    mean, components = pca_basis(cube)
    with raise_if_dask_computes(max_computes=1):
        lazy_mean, lazy_components = pca_basis(lazy)
    np.testing.assert_allclose(lazy_components, components, atol=1e-12)
    np.testing.assert_allclose(lazy_mean, mean, rtol=1e-12, atol=1e-12)
    scores = pca_project(lazy, mean, components)
    assert isinstance(scores, np.ndarray)
    assert np.isnan(scores[3, 4]).all()
    assert np.isfinite(np.delete(scores.reshape(-1, 3), 3 * 16 + 4, axis=0)).all()


def test_pca_errors(rng: np.random.Generator) -> None:
    with pytest.raises(InputDataError, match="found 2 channels"):
        pca_basis(rng.random((5, 5, 2)))
    with pytest.raises(InputDataError, match="0 valid spectra"):
        pca_basis(np.full((5, 5, 4), np.nan))


def test_percentile_stretch_to_rgb() -> None:
    scores = np.stack([np.arange(101.0), np.arange(101.0) * 2, np.zeros(101)], axis=-1)
    limits = percentile_limits(scores)
    np.testing.assert_allclose(limits, [[2.0, 98.0], [4.0, 196.0], [0.0, 0.0]], atol=1e-12)
    rgb = to_rgb(scores, limits)
    assert rgb.min() == 0.0
    assert rgb.max() == 1.0
    np.testing.assert_allclose(rgb[50], [0.5, 0.5, 0.0], atol=1e-12)
    scores[7] = np.nan
    assert (to_rgb(scores, limits)[7] == 0.0).all()


# ------------------------------------------------------------------ figures
def test_quicklook_panels_align_and_title(scenes: dict[str, xr.Dataset]) -> None:
    fig = quicklook_figure(scenes["lr"], scenes["sr"], scenes["hr"], bicubic=scenes["bicubic"])
    axes = [ax for ax in fig.axes if ax.images]
    assert [ax.get_title().split("\n")[0] for ax in axes] == [
        "LR",
        "HR (reference)",
        "SR (s5dscr)",
        "bicubic",
    ]
    # LR 8 × 6 pixel j centred on HR 4j+2: edges at HR 0 … 32 and 0 … 24.
    assert axes[0].images[0].get_extent() == [0.0, 24.0, 32.0, 0.0]
    assert axes[1].images[0].get_extent() == [-0.5, 23.5, 31.5, -0.5]
    title = fig.get_suptitle()
    assert "S5P band 7 (SWIR, 2305–2345 nm)" in title
    assert "fitted on HR" in title
    scores = scenes["sr"].s5sr.evaluate(scenes["hr"], baseline=scenes["bicubic"])
    assert f"s5dscr: PSNR {float(scores.psnr[0]):.2f} dB" in title
    assert f"bicubic: PSNR {float(scores.psnr[1]):.2f} dB" in title
    # The HR panel shows the stretched HR projection (2–98 % limits: mid-grey on average).
    rgb = axes[1].images[0].get_array()
    assert 0.2 < float(np.mean(rgb)) < 0.8
    assert float(np.std(rgb)) > 0.1


def test_quicklook_without_hr_fits_on_sr(scenes: dict[str, xr.Dataset]) -> None:
    fig = quicklook_figure(scenes["lr"].radiance, scenes["sr"].radiance, band=7)
    axes = [ax for ax in fig.axes if ax.images]
    assert len(axes) == 2
    assert "fitted on SR" in fig.get_suptitle()
    assert "PSNR" not in fig.get_suptitle()


def test_spectrum_figure(scenes: dict[str, xr.Dataset]) -> None:
    fig = spectrum_figure(scenes["lr"], scenes["sr"], scenes["hr"], pixel=(9, 14))
    top, bottom = fig.axes
    labels = [line.get_label() for line in top.get_lines()]
    assert labels == ["LR [2, 3]", "SR (s5dscr)", "HR (reference)"]  # round((9-2)/4), (14-2)/4
    wavelength = scenes["hr"].nominal_wavelength.values[14]
    np.testing.assert_allclose(top.get_lines()[2].get_xdata(), wavelength, atol=0)
    np.testing.assert_allclose(top.get_lines()[2].get_ydata(), scenes["hr"].radiance[9, 14], atol=0)
    np.testing.assert_allclose(
        bottom.get_lines()[1].get_ydata(),
        scenes["sr"].radiance[9, 14].values.astype(float)
        - scenes["hr"].radiance[9, 14].values.astype(float),
        atol=0,
    )
    assert bottom.get_xlabel() == "nominal wavelength (nm)"
    with pytest.raises(InputDataError, match="outside the HR grid of 32 × 24"):
        spectrum_figure(scenes["lr"], scenes["sr"], pixel=(32, 0))


# ------------------------------------------------------------------ files
def test_save_quicklook_writes_png_atomically(
    scenes: dict[str, xr.Dataset], tmp_path: Path
) -> None:
    target = tmp_path / "ql.png"
    written = save_quicklook(
        scenes["lr"], scenes["sr"], scenes["hr"], path=target, bicubic=scenes["bicubic"], dpi=60
    )
    assert written == target
    assert target.read_bytes()[:8] == PNG_SIGNATURE
    image = matplotlib.image.imread(target)
    assert image.ndim == 3
    assert image.shape[1] > image.shape[0] > 100
    assert float(image[..., :3].std()) > 0.05  # not a blank canvas
    assert [p.name for p in tmp_path.iterdir()] == ["ql.png"]  # no temporary left behind
    with pytest.raises(OutputExistsError, match="overwrite=True"):
        save_quicklook(scenes["lr"], scenes["sr"], path=target)
    before = target.stat().st_size
    save_quicklook(scenes["lr"], scenes["sr"], path=target, overwrite=True, dpi=40)
    assert target.stat().st_size != before
    with pytest.raises(OutputPathError, match="Make sure the directory exists"):
        save_quicklook(scenes["lr"], scenes["sr"], path=tmp_path / "missing" / "ql.png")


def test_save_spectrum_png(scenes: dict[str, xr.Dataset], tmp_path: Path) -> None:
    target = save_spectrum(scenes["lr"], scenes["sr"], path=tmp_path / "spectrum.png", dpi=50)
    assert target.read_bytes()[:8] == PNG_SIGNATURE
    assert target.stat().st_size > 5_000


def test_missing_variable_and_matplotlib(
    scenes: dict[str, xr.Dataset], monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(InputDataError, match="The LR Dataset has no variable 'rad'"):
        quicklook_figure(scenes["lr"], scenes["sr"], variable="rad")
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(ImportError, match=r"pip install matplotlib.*xr_s5sr\[plot\]"):
        quicklook_figure(scenes["lr"], scenes["sr"])


def test_radiance_map_at_a_wavelength_with_difference(tmp_path: Path) -> None:
    from xr_s5sr.quicklook import radiance_map_figure, save_radiance_map

    hr = xr_s5sr.synthetic.make_granule(7, 32, 24, n_channel=6, seed=1)
    lr = hr.s5sr.degrade()
    sr = lr.s5sr.super_resolve(model="backprojection")
    wavelengths = np.nanmedian(sr.nominal_wavelength.values, axis=0)
    fig = radiance_map_figure(lr, sr, hr, wavelength=float(wavelengths[4]))
    assert len(fig.axes) == 8  # four maps and their colour bars
    assert "channel 4" in fig._suptitle.get_text()
    assert fig.axes[3].get_title() == "SR − HR"
    units = {ax.get_ylabel() for ax in fig.axes[4:]}
    assert units == {hr.radiance.attrs["units"]}
    assert len(radiance_map_figure(lr, sr).axes) == 4  # no HR: no difference map
    written = save_radiance_map(lr, sr, hr, path=tmp_path / "map.png")
    assert written.read_bytes()[:4] == b"\x89PNG"
    bare_lr, bare_sr = (o.drop_vars("nominal_wavelength") for o in (lr, sr))
    with pytest.raises(InputDataError, match="needs a nominal_wavelength coordinate"):
        radiance_map_figure(bare_lr, bare_sr, wavelength=2330.0)
