"""Tests of the spectral prior in the pipeline (issue 26): windows fixed in scanline index,
blended without seams, chunk-invariant, scale-equivariant, lazy, noise-free data unchanged and
dim noisy scenes of continuous spectral variability improved."""

from __future__ import annotations

from dataclasses import replace

import dask.array as da
import numpy as np
import pytest
from conftest import raise_if_dask_computes

from xr_s5sr.degrade import degrade_array
from xr_s5sr.engine import super_resolve_array
from xr_s5sr.families import family_scene
from xr_s5sr.metrics import compute_metrics
from xr_s5sr.physics import degrade
from xr_s5sr.spec import crop_halo, model_spec
from xr_s5sr.spectral import WINDOW, subspace_denoise
from xr_s5sr.subspace import (
    GranulePrior,
    basis_rows,
    denoised_sigma,
    prior_reach,
    prior_windows,
    spectral_prior,
    window_basis,
)

SPEC = model_spec("backprojection", band=7, device="cpu")


def _noisy_cube(rows: int = 200, seed: int = 1, channels: int = 40) -> np.ndarray:
    """A dim band-7 `continuum` LR cube with the band's noise (continuous spectral variability)."""
    hr = family_scene(
        "continuum", 7, (4 * rows, 48), seed=seed, brightness=0.03, n_channel=channels
    )
    return np.asarray(degrade_array(hr, 7, noise="lr", seed=seed), np.float32)


def test_only_methods_with_a_physics_step_use_the_prior() -> None:
    assert SPEC.uses_spectral_prior
    assert model_spec("s5dscr", band=7, device="cpu").uses_spectral_prior
    assert not model_spec("bicubic", device="cpu").uses_spectral_prior
    off = model_spec("backprojection", band=7, device="cpu", spectral_prior=False)
    assert not off.uses_spectral_prior
    lr = _noisy_cube(rows=40)
    assert spectral_prior(lr, off) is lr


def test_basis_rows_cover_every_row_the_window_weighs() -> None:
    bounds = prior_windows(300, first=10)  # windows of 64 absolute scanlines
    assert bounds.tolist() == [[0, 54], [54, 118], [118, 182], [182, 246], [246, 300]]
    assert basis_rows(bounds, 0) == (0, 86)  # up to the centre of window 1 (85.5)
    assert basis_rows(bounds, 2) == (86, 214)
    assert basis_rows(bounds, 4) == (214, 300)


@pytest.mark.parametrize("chunks", [17, 50, (64, 64, 72)])
def test_chunking_does_not_matter_and_nothing_is_computed_while_building(
    chunks: int | tuple[int, ...],
) -> None:
    lr = _noisy_cube()
    whole = spectral_prior(lr, SPEC, first=10)
    assert np.max(np.abs(whole - lr)) > 0.01 * np.max(np.abs(lr))  # it does denoise
    with raise_if_dask_computes():
        lazy = spectral_prior(da.from_array(lr, chunks=(chunks, -1, -1)), SPEC, first=10)
    assert lazy.chunks[0] == da.from_array(lr, chunks=(chunks, -1, -1)).chunks[0]
    scale = float(np.abs(whole).max())
    np.testing.assert_allclose(lazy.compute(), whole, rtol=0, atol=1e-6 * scale)


def test_extra_dims_are_denoised_one_element_at_a_time() -> None:
    stack = np.stack([_noisy_cube(rows=80, seed=s) for s in (1, 2)])
    lazy = spectral_prior(da.from_array(stack, chunks=(1, 30, -1, -1)), SPEC)
    out = lazy.compute()
    for k in range(2):
        single = spectral_prior(stack[k], SPEC)
        np.testing.assert_allclose(out[k], single, rtol=0, atol=1e-6 * np.abs(single).max())


@pytest.mark.parametrize("scale", [1e-6, 3e4])
def test_scale_equivariant(scale: float) -> None:
    lr = _noisy_cube(rows=100)
    reference = spectral_prior(lr, SPEC)
    scaled = spectral_prior((scale * lr).astype(np.float32), SPEC)
    np.testing.assert_allclose(
        scaled / scale, reference, rtol=1e-4, atol=1e-5 * np.abs(reference).max()
    )


def test_a_crop_keeps_the_windows_of_the_whole_granule() -> None:
    lr = _noisy_cube(rows=600, channels=24)
    whole = spectral_prior(lr, SPEC, first=7)
    reach = prior_reach()
    start, stop = 300 - reach, 340 + reach
    crop = spectral_prior(lr[start:stop], SPEC, first=7 + start)
    scale = float(np.abs(whole).max())
    np.testing.assert_allclose(crop[reach:-reach], whole[300:340], rtol=0, atol=1e-6 * scale)
    # ... and the accessor's crops keep at least that reach.
    assert crop_halo(SPEC)[0] >= reach


def test_granule_prior_projects_any_crop_as_the_whole_granule() -> None:
    """What fine-tuning projects its windows with: a crop of rows and columns, projected with
    the granule's windows and bases, is that crop of the whole granule's prior."""
    lr = _noisy_cube(rows=200)
    whole = spectral_prior(lr, SPEC, first=10)
    prior = GranulePrior.of(lr, first=10)
    assert len(prior.bases) == 3
    assert all(b is not None for b in prior.bases)
    scale = float(np.abs(whole).max())
    for rows, cols in ((slice(50, 82), slice(8, 40)), (slice(0, 200), slice(0, 48))):
        crop = prior.project(lr[rows, cols], rows.start)
        np.testing.assert_allclose(crop, whole[rows, cols], rtol=0, atol=1e-6 * scale)
    assert np.max(np.abs(whole - lr)) > 0.01 * scale  # it does project


def test_noise_free_data_are_unchanged() -> None:
    hr = family_scene("solar", 7, (400, 48), seed=3, n_channel=40)
    lr = degrade_array(hr, 7).astype(np.float32)
    out = spectral_prior(lr, SPEC)
    # The regression sees the family's non-linear (Beer-Lambert) variability as a tiny noise.
    assert np.max(np.abs(out - lr)) <= 1e-3 * np.abs(lr).max()
    # A file σ of 0 (noise below float rounding) is noise-free: nothing is projected.
    out = spectral_prior(lr, SPEC, sigma=np.zeros_like(lr))
    np.testing.assert_allclose(out, lr, rtol=0, atol=1e-6 * np.abs(lr).max())


def test_no_seam_at_window_edges() -> None:
    # Three spectra; the third one's share grows along track, so its power is below the
    # noise in the first window (dropped there) and above it in the second (kept).
    rng = np.random.default_rng(4)
    shapes = np.abs(rng.standard_normal((3, 40))) + 1.0
    rows = np.arange(128, dtype=np.float64)[:, None, None]
    weights = np.concatenate(
        [
            np.full((128, 16, 1), 1.0),
            0.5 + 0.3 * np.sin(np.arange(16) / 3.0)[None, :, None] + 0 * rows,
            (rows / 128.0) ** 2 * np.cos(np.arange(16) / 2.0)[None, :, None] * 0.15,
        ],
        axis=2,
    )
    clean = (weights @ shapes).astype(np.float32)
    sigma = np.full(clean.shape, 0.05, np.float32)
    out = spectral_prior(clean, SPEC, sigma=sigma)
    unblended, ranks = subspace_denoise(clean, 0.05**2)
    assert ranks == [2, 3]  # the windows differ: the third spectrum is dropped in the first
    edge = WINDOW - 1  # between rows 63 and 64

    def jumps(cube: np.ndarray) -> np.ndarray:
        # Change of the removed part from one row to the next (the signal itself is smooth).
        return np.sqrt(np.mean(np.diff(cube - clean, axis=0) ** 2, axis=(1, 2)))

    typical = np.median(jumps(out))
    assert jumps(unblended)[edge] > 20 * np.median(jumps(unblended))  # the test can fail
    assert jumps(out)[edge] < 3 * typical


def test_a_window_without_a_noise_estimate_is_left_alone() -> None:
    # 8 spectra: too few for the regression across channels (σ² unknown, not 0).
    lr = _noisy_cube(rows=64)[:8, :1]
    assert window_basis(lr) == (None, 0.0)
    np.testing.assert_array_equal(spectral_prior(lr, SPEC), lr)


def test_default_pipeline_noise_free_unchanged_and_dim_continuum_improved() -> None:
    default = model_spec("s5dscr", band=7, device="cpu")
    off = replace(default, spectral_prior=False)
    hr = family_scene("continuum", 7, (128, 96), seed=5, brightness=0.03)
    clean = degrade_array(hr, 7).astype(np.float32)
    # Noise-free: the prior changes nothing (σ̂² = 0), so the result is the one without it.
    on, without = super_resolve_array(clean, default), super_resolve_array(clean, off)
    np.testing.assert_allclose(on, without, rtol=0, atol=1e-3 * np.abs(without).max())
    # Dim and noisy: better PSNR and spectral angle than without the prior, and than bicubic.
    lr = np.asarray(degrade_array(hr, 7, noise="lr", seed=5), np.float32)
    bicubic = super_resolve_array(lr, model_spec("bicubic", device="cpu"))
    on, without = super_resolve_array(lr, default), super_resolve_array(lr, off)
    metrics = compute_metrics(hr, on, without, bicubic, border=16)
    psnr, sam = metrics["psnr"], metrics["sam"]
    print(f"psnr {psnr}, sam {sam}")
    assert psnr[0] > psnr[1] > psnr[2]
    assert sam[0] < 0.9 * sam[1]
    assert sam[0] < sam[2]
    assert np.count_nonzero(on < 0) <= np.count_nonzero(lr < 0) * 16
    # Consistent with the original data within the noise (χ² against y, not the denoised).
    noise = np.var(lr.astype(np.float64) - clean)
    residual = (degrade(on, 7) - lr)[4:-4, 4:-4].astype(np.float64)
    chi2 = np.mean(residual**2) / noise
    print(f"chi2 {chi2:.3f}")
    assert 0.5 < chi2 < 3.0


@pytest.mark.parametrize("sharp", [False, True])
def test_engine_with_the_prior_is_lazy_chunk_invariant_and_equals_numpy(sharp: bool) -> None:
    lr = _noisy_cube(rows=150, seed=3, channels=24)
    spec = model_spec("backprojection", band=7, device="cpu", sharp_prior=sharp)
    whole = super_resolve_array(lr, spec, first_scanline=5)
    without = super_resolve_array(lr, replace(spec, spectral_prior=False), first_scanline=5)
    assert np.max(np.abs(whole - without)) > 0.01 * np.abs(without).max()  # the prior acts
    scale = float(np.abs(whole).max())
    for chunks in (40, 57):
        with raise_if_dask_computes():
            lazy = super_resolve_array(
                da.from_array(lr, chunks=(chunks, -1, -1)), spec, first_scanline=5
            )
        np.testing.assert_allclose(lazy.compute(), whole, rtol=0, atol=2e-5 * scale)


def test_denoised_noise_is_the_kept_share_of_the_noise() -> None:
    basis = np.linalg.qr(np.random.default_rng(0).standard_normal((40, 4)))[0]
    # Two windows: 4 of 40 components kept (σ² 0.01 → 0.001), then nothing projected.
    sigma = denoised_sigma((4, 2, 40), 0, np.array([0.5, 2.5]), (basis, 0.01), (None, 0.04))
    expected = np.sqrt([0.001, 0.75 * 0.001 + 0.25 * 0.04, 0.25 * 0.001 + 0.75 * 0.04, 0.04])
    np.testing.assert_allclose(sigma[:, 0, 0], expected, rtol=1e-6, atol=0)
    assert sigma.shape == (4, 2, 40)
