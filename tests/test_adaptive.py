"""Tests of xr_s5sr.adaptive: noise estimate, automatic μ (discrepancy principle), detail gate,
and what they do to the default super-resolution (issue 13); the settings per window of
scanlines, their locality and the quality along an orbit (issue 23)."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest
from conftest import raise_if_dask_computes

from xr_s5sr import adaptive, physics
from xr_s5sr.bands import get_band
from xr_s5sr.degrade import degrade_array
from xr_s5sr.engine import super_resolve_array
from xr_s5sr.families import along_track_scene, family_scene
from xr_s5sr.metrics import compute_metrics
from xr_s5sr.noise import photon_sigma
from xr_s5sr.spec import model_spec
from xr_s5sr.tiling import settings_graph

BAND = 7


def noisy_scene(
    family: str, brightness: float, seed: int = 3, shape: tuple[int, int] = (256, 160)
) -> tuple[np.ndarray, np.ndarray, float]:
    """(HR truth, LR with the band's photon-scaled noise, noise sigma) of a family scene."""
    hr = family_scene(family, BAND, shape, seed, brightness=brightness)
    lr = degrade_array(hr, BAND).astype(np.float64)
    sigma = float(get_band(BAND).noise_sigma or 0.0) * np.sqrt(brightness)
    lr += sigma * np.random.default_rng(seed).standard_normal(lr.shape)
    return hr, lr.astype(np.float32), sigma


@pytest.mark.parametrize("family", ["smooth", "absorption"])
def test_noise_variance_is_estimated_from_the_data(family: str) -> None:
    # Dim scenes: the estimate is the true variance within its sampling error (< 10 %).
    _, lr, sigma = noisy_scene(family, brightness=0.03)
    _, noise = adaptive.auto_settings(lr, BAND)
    assert noise / sigma**2 == pytest.approx(1.0, abs=0.1)


def test_no_noise_means_exact_consistency() -> None:
    flat = np.full((40, 40, 12), 3.0, np.float32)
    assert adaptive.auto_settings(flat, BAND) == (0.0, 0.0)
    assert adaptive.choose_regularisation(np.array([0.0, *np.ones(len(adaptive.MU_GRID))])) == 0


def test_choose_regularisation_reads_the_crossing_of_the_misfit_curve() -> None:
    grid = np.array(adaptive.MU_GRID)
    tau = adaptive.DISCREPANCY_FACTOR
    curve = np.log10(grid) + 5.0  # rises through tau * noise between grid points
    mu = adaptive.choose_regularisation(np.array([1.0, *curve]))
    assert 10 ** (tau - 5.0) == pytest.approx(mu, rel=1e-9)  # log-linear curve: exact
    # Curve below the noise everywhere: interpolation alone fits the data.
    assert adaptive.choose_regularisation(np.array([1.0, *np.full(grid.size, 0.5)])) == grid[-1]
    # Above at the first grid point: linear from (0, 0).
    first = adaptive.choose_regularisation(np.array([1.0, *np.full(grid.size, 4 * tau)]))
    assert first == pytest.approx(grid[0] / 4)
    # Unknown statistics (NaN: too small an image) leave the exact projection.
    assert adaptive.choose_regularisation(np.full(grid.size + 1, np.nan)) == 0.0


def test_automatic_mu_grows_with_the_noise_and_is_scale_free() -> None:
    mus = [adaptive.auto_settings(noisy_scene("solar", b)[1], BAND)[0] for b in (30.0, 1.0, 0.03)]
    assert mus[0] < mus[1] < mus[2]
    _, lr, _ = noisy_scene("smooth", 1.0)
    mu, noise = adaptive.auto_settings(lr, BAND)
    for scale in (1e-3, 1e3):
        scaled_mu, scaled_noise = adaptive.auto_settings(lr * np.float32(scale), BAND)
        assert scaled_mu == pytest.approx(mu, rel=1e-5)
        assert scaled_noise == pytest.approx(noise * scale**2, rel=1e-5)


def along_track(
    n_lr: int, pixels: int, *, seed: int = 21, family: str = "solar", n_channel: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(HR, LR with photon noise) of a band-7 scene whose brightness falls 300× along track."""
    hr = along_track_scene(family, BAND, (4 * n_lr, 4 * pixels), seed, n_channel=n_channel)
    lr = degrade_array(hr, BAND).astype(np.float64)
    lr += photon_sigma(lr, BAND) * np.random.default_rng(seed).standard_normal(lr.shape)
    return hr, lr.astype(np.float32)


@pytest.fixture(scope="module")
def falling() -> np.ndarray:
    """LR of 160 scanlines (several windows, μ and σ changing along track), 24 channels."""
    return along_track(160, 28, n_channel=24)[1]


@pytest.mark.parametrize("chunks", [50, 67, 160])
def test_window_settings_do_not_depend_on_the_chunking(falling: np.ndarray, chunks: int) -> None:
    spec = model_spec("backprojection", band=BAND, device="cpu")
    whole = adaptive.blend_windows(adaptive.window_values(falling, BAND), len(falling))
    assert np.ptp(np.log10(whole[:, 0, 0])) > 0.3  # μ does change along track (> 2×)
    with raise_if_dask_computes():
        lazy, _ = settings_graph(da.from_array(falling, chunks=(chunks, -1, -1)), spec)
    assert lazy.chunks[0] == da.from_array(falling, chunks=(chunks, -1, -1)).chunks[0]
    np.testing.assert_allclose(lazy.compute(), whole, rtol=1e-9, atol=0)


def test_windows_are_fixed_in_absolute_scanline_index() -> None:
    bounds = adaptive.windows(1000, first=3000)
    assert bounds[0, 0] == 0
    assert bounds[-1, 1] == 1000
    np.testing.assert_array_equal(bounds[1:, 0], bounds[:-1, 1])
    interior = bounds[1:-1] + 3000
    np.testing.assert_array_equal(interior % adaptive.WINDOW, np.zeros_like(interior))
    # A crop starting elsewhere keeps the orbit's windows away from its own ends.
    crop = adaptive.windows(500, first=3333) + 3333
    assert {tuple(w) for w in crop[1:-1]} <= {tuple(w) for w in bounds + 3000}
    assert adaptive.windows(5).tolist() == [[0, 5]]


@pytest.mark.parametrize(("start", "stop"), [(7, 160), (0, 131), (0, 100), (77, 160)])
def test_a_crop_keeps_the_settings_of_the_whole_granule(
    falling: np.ndarray, start: int, stop: int
) -> None:
    """A crop that keeps absolute scanline indices gives its rows farther than
    settings_reach from its ends the settings of the whole granule (region-of-interest use)."""
    whole = adaptive.blend_windows(adaptive.window_values(falling, BAND), len(falling))
    crop = adaptive.blend_windows(
        adaptive.window_values(falling[start:stop], BAND, first=start),
        len(falling[start:stop]),
        start,
    )
    margin = adaptive.settings_reach(BAND)
    low = margin if start > 0 else 0
    high = (stop - start) - (margin if stop < falling.shape[0] else 0)
    assert high > low
    np.testing.assert_allclose(
        crop[low:high], whole[start + low : start + high], rtol=1e-12, atol=0
    )


def test_blended_rows_interpolate_between_window_centres() -> None:
    centres = np.array([15.5, 47.5, 79.5])
    values = np.array([[1.0, 4.0], [3.0, 8.0], [0.0, 2.0]])
    rows = adaptive.blend_rows(0, 96, centres, values)[:, 0]
    mu = adaptive.row_regularisation(rows[:, None])[:, 0, 0]
    np.testing.assert_allclose(mu[:16], 1.0, rtol=0, atol=1e-12)  # constant before the first centre
    np.testing.assert_allclose(mu[80:], 0.0, rtol=0, atol=1e-12)
    np.testing.assert_allclose(mu[31], 1.0 + 2.0 * (31 - 15.5) / 32, rtol=1e-12, atol=0)
    np.testing.assert_allclose(
        rows[63, 3], 8.0 + (2.0 - 8.0) * (63 - 47.5) / 32, rtol=1e-12, atol=0
    )
    assert np.abs(np.diff(mu)).max() <= 3.0 / 32 + 1e-12  # no jumps: the steepest ramp
    for start, stop in ((0, 10), (20, 50), (47, 48), (60, 96)):
        near = adaptive.bracketing(centres, start, stop)
        part = adaptive.blend_rows(start, stop, centres[near], values[near])
        np.testing.assert_array_equal(part[:, 0], rows[start:stop])


def test_gram_solve_with_mu_varying_along_track() -> None:
    misfit = np.random.default_rng(0).standard_normal((120, 30, 3))
    constant = np.zeros((120, 1, 4))
    constant[..., :2] = 0.3
    np.testing.assert_allclose(
        adaptive.gram_solve_rows(misfit, BAND, constant),
        physics.gram_solve(misfit, BAND, regularisation=0.3),
        rtol=1e-12,
        atol=1e-12,
    )
    settings = adaptive.blend_rows(0, 120, np.array([30.0, 90.0]), np.array([[0.0, 1], [1.0, 1]]))
    mixed = adaptive.gram_solve_rows(misfit, BAND, settings)
    exact = physics.gram_solve(misfit, BAND)
    damped = physics.gram_solve(misfit, BAND, regularisation=1.0)
    np.testing.assert_allclose(mixed[:31], exact[:31], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(mixed[90:], damped[90:], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(mixed[60], 0.5 * (exact[60] + damped[60]), rtol=1e-12, atol=1e-12)


class RecordedRows:
    """Array-like for ``da.from_array`` that records which scanlines dask reads."""

    def __init__(self, data: np.ndarray):
        self.data, self.shape, self.dtype, self.ndim = data, data.shape, data.dtype, data.ndim
        self.rows: set[int] = set()

    def __getitem__(self, key: tuple[slice, ...]) -> np.ndarray:
        self.rows.update(range(*key[0].indices(self.shape[0])))
        return self.data[key]


def _first_rows_read(
    n_scan: int, rows_per_chunk: int, **settings: bool
) -> tuple[int, np.ndarray, np.ndarray]:
    """LR scanlines read to compute the first 64 HR scanlines of an ``n_scan``-row band-7
    granule in dask chunks of ``rows_per_chunk`` LR scanlines with the back-projection
    (``settings``: keywords of :func:`model_spec`, default otherwise), with those rows and the
    same rows of the whole result."""
    rng = np.random.default_rng(5)
    level = np.exp(-np.linspace(0.0, np.log(300.0), n_scan))[:, None, None]  # 300× along track
    data = (level * (1.0 + 0.05 * rng.standard_normal((n_scan, 24, 8)))).astype(np.float32)
    spec = model_spec("backprojection", band=BAND, device="cpu", **settings)
    source = RecordedRows(data)
    lazy = super_resolve_array(
        da.from_array(source, chunks=(rows_per_chunk, -1, -1), asarray=False),
        spec,
        output_chunks=4 * rows_per_chunk,
    )
    head = lazy[:64].compute(scheduler="sync")
    assert max(source.rows) == len(source.rows) - 1  # a prefix of the granule
    return len(source.rows), head, super_resolve_array(data, spec)[:64]


def test_an_output_block_reads_a_bounded_number_of_scanlines() -> None:
    """Issue 23: the first 64 HR scanlines of a 768-scanline granule read ≤ 256 LR scanlines
    and equal the whole result, with every step of the default (per-window settings, spectral
    prior, back-projection, the non-negative consistency step in windows of
    :func:`xr_s5sr.physics.window_halo` rows); the same on 1600 scanlines (bounded, not growing
    with the granule). Dask reads whole input chunks: in chunks of 50 rows, 300."""
    for n_scan in (768, 1600):
        rows, head, whole = _first_rows_read(n_scan, 16)
        assert rows <= 256, rows  # measured 176
        np.testing.assert_allclose(head, whole, rtol=0, atol=1e-5 * np.abs(whole).max())
    rows, head, whole = _first_rows_read(768, 16, spectral_prior=False, nonnegative=False)
    assert rows <= 160, rows  # measured 130: the spectral prior's windows read 46 more
    rows, head, whole = _first_rows_read(768, 50)
    assert rows <= 300, rows  # measured 300: six input chunks
    np.testing.assert_allclose(head, whole, rtol=0, atol=1e-5 * np.abs(whole).max())


def test_local_settings_keep_chunk_invariance_scale_and_consistency(falling: np.ndarray) -> None:
    spec = model_spec("backprojection", band=BAND, device="cpu")
    whole = super_resolve_array(falling, spec)
    with raise_if_dask_computes():
        lazy = super_resolve_array(da.from_array(falling, chunks=(53, -1, -1)), spec)
    tiled = lazy.compute()
    # Per row: the scene's brightness falls 300× along track.
    scale = np.abs(whole).max(axis=(1, 2), keepdims=True)
    assert np.abs(tiled - whole).max(axis=(1, 2), keepdims=True).max() <= 1e-5 * scale.max()
    assert (np.abs(tiled - whole) <= 1e-5 * scale).all()
    scaled = super_resolve_array(falling * np.float32(1e3), spec) / np.float32(1e3)
    assert (np.abs(scaled - whole) <= 1e-5 * scale).all()
    reach = physics.projection_reach(BAND)
    misfit = np.abs(physics.degrade(whole, BAND) - falling)[reach:-reach]
    rows = np.sqrt(np.mean(falling[reach:-reach].astype(np.float64) ** 2, axis=(1, 2)))
    sigma = np.sqrt(
        adaptive.blend_windows(adaptive.window_values(falling, BAND), len(falling))[
            reach:-reach, 0, 3
        ]
    )
    # The data are fitted to the noise, row by row, not beyond and not worse.
    rms = np.sqrt(np.mean(misfit.astype(np.float64) ** 2, axis=(1, 2)))
    assert (rms < 1.5 * sigma).all()
    assert (rms < 0.1 * rows).all()


def test_damped_backprojection_goes_from_the_exact_iteration_to_interpolation() -> None:
    _, lr, _ = noisy_scene("solar", 1.0, shape=(128, 96))
    y = lr.astype(np.float64)
    exact = physics.backproject(y, BAND)
    np.testing.assert_allclose(
        physics.backproject(y, BAND, regularisation=0.0),
        exact,
        atol=1e-12 * np.abs(exact).max(),
    )
    interpolated = physics.upsample(y)
    damped = physics.backproject(y, BAND, regularisation=1e6)
    assert np.abs(damped - interpolated).max() < 1e-4 * np.abs(y).max()
    middle = physics.backproject(y, BAND, regularisation=0.1)
    assert np.abs(middle - interpolated).max() < np.abs(exact - interpolated).max()
    # float64 arithmetic: a few ulps relative to the largest value (atol), not per element (an
    # element near zero is the difference of large terms and carries their rounding).
    np.testing.assert_allclose(
        physics.backproject(3.0 * y, BAND, regularisation=0.1),
        3.0 * middle,
        rtol=1e-10,
        atol=1e-12 * np.abs(3.0 * middle).max(),
    )


def test_detail_gate_is_off_on_featureless_scenes_and_on_for_texture() -> None:
    _, smooth, _ = noisy_scene("smooth", 30.0)
    _, textured, _ = noisy_scene("solar", 30.0)
    for lr, expected in ((smooth, 0.0), (textured, 1.0)):
        _, noise = adaptive.auto_settings(lr, BAND)
        gate = adaptive.detail_gate(lr, noise)
        assert gate.shape == lr.shape[:2]
        assert np.mean(np.abs(gate - expected) < 0.05) > 0.95
        scaled = adaptive.detail_gate(lr * np.float32(1e3), noise * 1e6)
        np.testing.assert_allclose(scaled, gate, atol=1e-4)


def test_default_keeps_the_network_detail_off_where_the_data_show_none() -> None:
    _, lr, _ = noisy_scene("smooth", 30.0, shape=(128, 96))
    default = super_resolve_array(lr, model_spec("s5dscr_s", band=BAND, device="cpu"))
    physics_only = super_resolve_array(lr, model_spec("backprojection", band=BAND, device="cpu"))
    # Inside the frame where the scene's own (zero-padded) degradation darkens the LR edges.
    inside = (slice(32, -32), slice(32, -32))
    difference = np.abs(default - physics_only)[inside].max()
    assert difference <= 1e-6 * np.abs(physics_only).max()


@pytest.mark.parametrize("brightness", [0.03, 1.0])
def test_default_beats_bicubic_on_a_dim_smooth_swir_scene(brightness: float) -> None:
    """The scene of issue 13: the exact inverse lost 10 dB to bicubic at 0.03x."""
    hr, lr, _ = noisy_scene("smooth", brightness, shape=(96, 96))
    hr = hr[: 4 * lr.shape[0], : 4 * lr.shape[1]]
    methods = {
        "bicubic": "bicubic",
        "default": model_spec("s5dscr", band=BAND, device="cpu"),
        "exact": model_spec("s5dscr", band=BAND, device="cpu", regularisation=0.0),
    }
    estimates = [super_resolve_array(lr, method) for method in methods.values()]
    bicubic, default, exact = compute_metrics(hr, *estimates, border=16)["psnr"]
    assert default > bicubic + 1.0
    assert default > exact + 2.0


def test_noisy_result_fits_the_data_to_the_noise_not_beyond() -> None:
    _, lr, sigma = noisy_scene("solar", 0.03, shape=(256, 160))
    sr = super_resolve_array(lr, model_spec("backprojection", band=BAND, device="cpu"))
    misfit = (physics.degrade(sr, BAND) - lr)[16:-16, 8:-8]
    rms = float(np.sqrt(np.mean(misfit.astype(np.float64) ** 2)))
    assert 0.2 * sigma < rms < 1.5 * sigma


def window_psnr(hr: np.ndarray, *estimates: np.ndarray) -> np.ndarray:
    """PSNR (dB) per 64-LR-scanline window: (windows, estimates)."""
    step = 4 * 64
    return np.array(
        [
            compute_metrics(hr[a : a + step], *(e[a : a + step] for e in estimates), border=16)[
                "psnr"
            ]
            for a in range(0, hr.shape[0], step)
        ]
    )


@pytest.mark.parametrize(
    ("family", "n_lr", "pixels", "seed"),
    [
        ("absorption", 128, 20, 7),  # fast: two windows, the brightness falling 300× over them
        pytest.param("solar", 384, 40, 11, marks=pytest.mark.slow),  # docs/scripts/along_track.py
    ],
)
def test_default_keeps_its_quality_along_an_orbit(
    family: str, n_lr: int, pixels: int, seed: int
) -> None:
    """Issue 23: one μ for the whole granule lost up to 4 dB to plain back-projection in the
    bright windows. Per-window settings: in every 64-scanline window the default beats bicubic,
    and on average it beats the unregularised back-projection."""
    hr, lr = along_track(n_lr, pixels, seed=seed, family=family)
    estimates = [
        super_resolve_array(lr, method)
        for method in (
            "bicubic",
            model_spec("s5dscr", band=BAND, device="cpu"),
            model_spec("backprojection", band=BAND, device="cpu", regularisation=0.0),
        )
    ]
    psnr = window_psnr(hr, *estimates)
    bicubic, default, exact = psnr.T
    assert (default > bicubic + 0.5).all(), psnr
    assert np.mean(default - exact) > 0.0, psnr
