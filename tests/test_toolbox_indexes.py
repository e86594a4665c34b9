"""The S5P_SISR_Toolbox's indexes: hand-worked values on small cubes and independent routes."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest
from scipy import ndimage

import xr_s5sr  # noqa: F401  (registers .s5sr)
from xr_s5sr.degrade import degrade_array
from xr_s5sr.errors import BandError, DimensionError, InputDataError, S5SRArgumentError
from xr_s5sr.evaluate import metrics_table
from xr_s5sr.metrics import compute_metrics
from xr_s5sr.synthetic import make_granule
from xr_s5sr.toolbox_indexes import (
    TOOLBOX_METRICS,
    channel_subset,
    onion_table,
    q2n,
    toolbox_metrics,
)

#: The toolbox's bounds cut of 15: 14 pixels off the start, 15 off the end.
CUT = (slice(14, -15), slice(14, -15))
FLOOR = 2.2204e-16


# ------------------------------------------------------------- independent Q2n routes
def _standardise(xb: np.ndarray, yb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The toolbox's block standardisation, written per channel with explicit branches."""
    xn, yn = np.empty_like(xb), np.empty_like(yb)
    for c in range(xb.shape[-1]):
        mean, std = xb[..., c].mean(), xb[..., c].std(ddof=1)
        std = FLOOR if std == 0 else std
        xn[..., c] = (xb[..., c] - mean) / std + 1
        yn[..., c] = yb[..., c] + 1 if mean == 0 else (yb[..., c] - mean) / std + 1
    return xn, yn


def _hamilton(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    a1, b1, c1, d1 = np.moveaxis(p, -1, 0)
    a2, b2, c2, d2 = np.moveaxis(q, -1, 0)
    return np.stack(
        [
            a1 * a2 - b1 * b2 - c1 * c2 - d1 * d2,
            a1 * b2 + b1 * a2 + c1 * d2 - d1 * c2,
            a1 * c2 - b1 * d2 + c1 * a2 + d1 * b2,
            a1 * d2 + b1 * c2 - c1 * b2 + d1 * a2,
        ],
        axis=-1,
    )


def _blocks(x: np.ndarray, y: np.ndarray, width: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """32 x 32 blocks after mirroring the last rows/columns; channels zero-padded to width."""
    pad = ((0, -x.shape[0] % 32), (0, -x.shape[1] % 32), (0, 0))
    x, y = (np.pad(a, pad, mode="symmetric") for a in (x, y))
    zeros = np.zeros((*x.shape[:2], width - x.shape[2]))
    x, y = np.concatenate([x, zeros], 2), np.concatenate([y, zeros], 2)
    return [
        (x[i : i + 32, j : j + 32], y[i : i + 32, j : j + 32])
        for i in range(0, x.shape[0], 32)
        for j in range(0, x.shape[1], 32)
    ]


def _q_from_moments(cov: float, vx: float, vy: float, mx: float, my: float) -> float:
    return cov * 2 / (vx + vy) * 2 * mx * my / (mx**2 + my**2)


def q2n_complex(x: np.ndarray, y: np.ndarray) -> float:
    """Q2n of 2 channels with numpy complex numbers (Q4's 2-D analogue)."""
    values = []
    for xb, yb in _blocks(x, y, 2):
        xn, yn = _standardise(xb, yb)
        z, w = (a[..., 0] + 1j * a[..., 1] for a in (xn, yn))
        n = z.size
        cov = n / (n - 1) * np.mean((z - z.mean()) * np.conj(w - w.mean()))
        vz, vw = (n / (n - 1) * np.mean(np.abs(a - a.mean()) ** 2) for a in (z, w))
        values.append(_q_from_moments(abs(cov), vz, vw, abs(z.mean()), abs(w.mean())))
    return float(np.mean(values))


def q2n_quaternion(x: np.ndarray, y: np.ndarray) -> float:
    """Q2n of 3 or 4 channels with Hamilton's quaternion product."""
    values = []
    for xb, yb in _blocks(x, y, 4):
        xn, yn = _standardise(xb, yb)
        p, q = xn.reshape(-1, 4), yn.reshape(-1, 4) * np.array([1, -1, -1, -1])  # q conjugated
        n = p.shape[0]
        mp, mq = p.mean(0), q.mean(0)
        cov = n / (n - 1) * (_hamilton(p, q).mean(0) - _hamilton(mp, mq))
        vp, vq = (
            n / (n - 1) * (np.sum(a * a, 1).mean() - np.sum(m * m)) for a, m in ((p, mp), (q, mq))
        )
        values.append(
            _q_from_moments(np.linalg.norm(cov), vp, vq, np.linalg.norm(mp), np.linalg.norm(mq))
        )
    return float(np.mean(values))


@pytest.fixture
def pair(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    x = 1.0 + rng.random((66, 70, 4))
    return x, x + 0.3 * rng.standard_normal(x.shape)


# ------------------------------------------------------------- onion algebra
def test_onion_table_of_two_is_complex_multiplication(rng: np.random.Generator) -> None:
    k, s = onion_table(2)
    p, q = rng.standard_normal(2), rng.standard_normal(2)
    product = np.zeros(2)
    np.add.at(product, k.ravel(), (s * np.outer(p, q)).ravel())
    expected = complex(*p) * complex(*q)
    np.testing.assert_allclose(product, [expected.real, expected.imag], rtol=1e-14, atol=1e-15)


@pytest.mark.parametrize("n", [4, 8, 16])
def test_onion_product_keeps_norms_up_to_octonions_and_beyond_is_signed_permutation(
    n: int, rng: np.random.Generator
) -> None:
    k, s = onion_table(n)
    # Each row and column of k is a permutation: e_i e_j hits every component once.
    assert all(sorted(row) == list(range(n)) for row in k)
    assert all(sorted(col) == list(range(n)) for col in k.T)
    assert set(np.unique(s)) == {-1.0, 1.0}
    p, q = rng.standard_normal(n), rng.standard_normal(n)
    product = np.zeros(n)
    np.add.at(product, k.ravel(), (s * np.outer(p, q)).ravel())
    if n <= 8:  # composition algebras: |pq| = |p||q|
        assert np.linalg.norm(product) == pytest.approx(
            np.linalg.norm(p) * np.linalg.norm(q), rel=1e-13
        )


def test_onion_product_of_four_is_hamilton_with_last_component_negated(
    rng: np.random.Generator,
) -> None:
    k, s = onion_table(4)
    p, q = rng.standard_normal(4), rng.standard_normal(4)
    product = np.zeros(4)
    np.add.at(product, k.ravel(), (s * np.outer(p, q)).ravel())
    np.testing.assert_allclose(
        product, _hamilton(p, q) * np.array([1, 1, 1, -1]), rtol=1e-13, atol=1e-14
    )


def test_onion_table_rejects_odd_dimension() -> None:
    with pytest.raises(DimensionError, match="power of 2"):
        onion_table(6)


# ------------------------------------------------------------- Q2n
def test_q2n_of_two_channels_matches_complex_route(rng: np.random.Generator) -> None:
    x = rng.random((50, 33, 2))
    y = 0.5 * x + 0.2 * rng.random(x.shape)
    assert q2n(x, y) == pytest.approx(q2n_complex(x, y), rel=1e-12, abs=1e-14)


@pytest.mark.parametrize("channels", [3, 4])
def test_q2n_matches_quaternion_route(channels: int, pair: tuple[np.ndarray, np.ndarray]) -> None:
    x, y = (a[..., :channels] for a in pair)
    assert q2n(x, y) == pytest.approx(q2n_quaternion(x, y), rel=1e-12, abs=1e-14)


@pytest.mark.parametrize("channels", [5, 8])
def test_q2n_of_identical_images_is_one(channels: int, rng: np.random.Generator) -> None:
    x = 1.0 + rng.random((64, 40, channels))
    assert q2n(x, x) == pytest.approx(1.0, rel=1e-13)


def test_q2n_of_constant_blocks_is_the_mean_bias_with_the_std_floor() -> None:
    # Constant reference: std 0 is replaced by 2.2204e-16, so an offset of one ulp of 1.0
    # becomes a = eps / 2.2204e-16 + 1 per channel; the variances vanish and Q is the mean
    # term 2|m1||m2| / (|m1|^2 + |m2|^2) with m1 = (1, 1), m2 = (a, -a): 2a / (1 + a^2).
    x = np.ones((32, 32, 2))
    y = x + np.finfo(float).eps
    a = np.finfo(float).eps / FLOOR + 1.0
    assert q2n(x, y) == pytest.approx(2 * a / (1 + a * a), rel=1e-12)


def test_q2n_of_identical_images_below_one_where_a_block_mean_is_zero() -> None:
    # A zero-mean reference channel: the toolbox shifts the estimate without scaling it, so
    # identical images no longer score 1 (checked against the complex route).
    checker = np.indices((32, 32)).sum(0) % 2 * 2.0 - 1.0
    x = np.stack([2.0 + checker, 3.0 * checker], axis=2)
    value = q2n(x, x)
    assert value == pytest.approx(q2n_complex(x, x), rel=1e-12)
    assert value < 1.0 - 1e-3


# ------------------------------------------------------------- the eight indexes
def test_identical_cubes_score_the_toolbox_ideal(rng: np.random.Generator) -> None:
    x = 1.0 + rng.random((80, 72, 4))
    scores = toolbox_metrics(x, x, lr=degrade_array(x, 7), band=7)
    for name, ideal in (("Q2n", 1.0), ("D_lambda", 0.0), ("Q", 1.0), ("sCC", 1.0)):
        assert scores[name] == pytest.approx(ideal, abs=1e-12), name
    for name in ("ERGAS", "SAM", "RMSE"):
        assert scores[name] == pytest.approx(0.0, abs=1e-12), name
    assert scores["PSNR"] == np.inf


def test_pointwise_indexes_by_formula(pair: tuple[np.ndarray, np.ndarray]) -> None:
    x, y = pair
    scores = toolbox_metrics(x, y)
    xc, yc = x[CUT], y[CUT]
    mse = np.mean((xc - yc) ** 2, axis=(0, 1))
    peaks = x.reshape(-1, 4).max(0)  # uncut reference
    ergas = 25.0 * np.sqrt(np.mean(mse / xc.mean(axis=(0, 1)) ** 2))
    assert scores["ERGAS"] == pytest.approx(ergas, rel=1e-12)
    assert scores["RMSE"] == pytest.approx(np.sqrt(np.mean((xc - yc) ** 2)), rel=1e-12)
    assert scores["PSNR"] == pytest.approx(np.mean(20 * np.log10(peaks / np.sqrt(mse))), rel=1e-12)
    cosine = np.sum(xc * yc, 2) / np.sqrt(np.sum(xc * xc, 2) * np.sum(yc * yc, 2))
    assert scores["SAM"] == pytest.approx(np.degrees(np.mean(np.arccos(cosine))), rel=1e-12)
    assert np.isnan(scores["D_lambda"])  # no LR given


def test_sam_of_known_angles_leaves_zero_spectra_out() -> None:
    x = np.zeros((40, 40, 2))
    y = np.zeros((40, 40, 2))
    x[..., 0], y[..., 0] = 1.0, 1.0
    y[:20, :, 1] = 1.0  # 45 degrees on the top half of the image, 0 below
    x[30:], y[30:] = 0.0, 0.0  # zero spectra: left out
    scores = toolbox_metrics(x, y, dim_cut=1)  # cut 0 pixels at the start, 1 at the end
    # Rows 0..19 at 45°, rows 20..29 at 0°, rows 30..38 left out.
    assert scores["SAM"] == pytest.approx(45.0 * 20 / 30, rel=1e-12)


def test_q_of_a_constant_offset_by_formula(rng: np.random.Generator) -> None:
    # y = x + c: equal variances and covariance, so Q is the luminance term averaged over the
    # 33 x 33 windows centred >= 16 pixels from the cut image's edge.
    x = 1.0 + ndimage.uniform_filter(rng.random((80, 76, 1)), size=(9, 9, 1))
    c = 0.25
    scores = toolbox_metrics(x, x + c)
    xc = x[CUT][..., 0]
    rows, cols = xc.shape
    c1 = (1e-8 * (x.max() - x.min())) ** 2
    terms = []
    for i in range(16, rows - 16):
        for j in range(16, cols - 16):
            mu = xc[i - 16 : i + 17, j - 16 : j + 17].mean()
            terms.append((2 * mu * (mu + c) + c1) / (mu**2 + (mu + c) ** 2 + c1))
    assert scores["Q"] == pytest.approx(np.mean(terms), rel=1e-10)


def test_scc_is_the_uncentred_correlation_of_sobel_magnitudes(
    pair: tuple[np.ndarray, np.ndarray],
) -> None:
    x, y = pair
    xc, yc = x[CUT], y[CUT]
    mags = [
        np.stack(
            [np.hypot(ndimage.sobel(a[..., c], 0), ndimage.sobel(a[..., c], 1)) for c in range(4)],
            axis=2,
        )
        for a in (xc, yc)
    ]
    expected = np.sum(mags[0] * mags[1]) / np.sqrt(np.sum(mags[0] ** 2) * np.sum(mags[1] ** 2))
    assert toolbox_metrics(x, y)["sCC"] == pytest.approx(expected, rel=1e-12)


def test_d_lambda_compares_the_degraded_estimate_with_the_lr(
    pair: tuple[np.ndarray, np.ndarray],
) -> None:
    x, y = pair
    x, y = x[:64, :64], y[:64, :64]
    lr = degrade_array(x, 3)
    expected = 1.0 - q2n(lr, degrade_array(y, 3))
    assert toolbox_metrics(x, y, lr=lr, band=3)["D_lambda"] == pytest.approx(expected, rel=1e-12)
    assert expected > 0.01


def test_many_channels_use_every_hundredth_for_q2n_and_scc(rng: np.random.Generator) -> None:
    assert channel_subset(299) == slice(None)
    assert channel_subset(497) == slice(None, None, 4)
    x = 1.0 + rng.random((64, 64, 300))
    y = x.copy()
    y[..., 1] += 0.5 * rng.standard_normal((64, 64))  # channel 1 is not in ::3
    scores = toolbox_metrics(x, y)
    assert scores["Q2n"] == pytest.approx(1.0, abs=1e-12)
    assert scores["sCC"] == pytest.approx(1.0, abs=1e-12)
    assert scores["Q"] < 1.0 - 1e-4
    assert scores["RMSE"] > 0.01


def test_single_channel_has_no_hypercomplex_or_spectral_index(rng: np.random.Generator) -> None:
    x = 1.0 + rng.random((64, 64, 1))
    y = x + 0.1
    scores = toolbox_metrics(x, y, lr=degrade_array(x, 7), band=7)
    for name in ("Q2n", "D_lambda", "SAM"):
        assert np.isnan(scores[name]), name
    assert scores["PSNR"] == pytest.approx(20 * np.log10(x.max() / 0.1), rel=1e-12)


def test_compute_metrics_toolbox_protocol_on_numpy_and_dask(
    pair: tuple[np.ndarray, np.ndarray],
) -> None:
    x, y = pair
    lr = degrade_array(x, 5)
    eager = compute_metrics(x, y, x, protocol="toolbox", lr=lr, band=5)
    lazy = compute_metrics(
        da.from_array(x, chunks=(16, -1, -1)),
        da.from_array(y, chunks=(16, -1, -1)),
        da.from_array(x, chunks=(16, -1, -1)),
        protocol="toolbox",
        lr=lr,
        band=5,
    )
    assert list(eager) == list(TOOLBOX_METRICS)
    for name in TOOLBOX_METRICS:
        assert eager[name].shape == (2,)
        np.testing.assert_allclose(lazy[name], eager[name], rtol=1e-12, atol=1e-14)
    assert eager["Q"][1] == pytest.approx(1.0, abs=1e-12)


# ------------------------------------------------------------- errors
def test_toolbox_errors(pair: tuple[np.ndarray, np.ndarray]) -> None:
    x, y = pair
    with pytest.raises(DimensionError, match="same 3-D shape"):
        toolbox_metrics(x, y[:-1])
    with pytest.raises(DimensionError, match="lr must be the reference's LR cube"):
        toolbox_metrics(x, y, lr=x, band=7)
    with pytest.raises(BandError, match="band= is needed"):
        toolbox_metrics(x, y, lr=degrade_array(x, 7))
    bad = y.copy()
    bad[3, 3, 0] = np.nan
    with pytest.raises(InputDataError, match="finite values"):
        toolbox_metrics(x, bad)
    with pytest.raises(DimensionError, match="at least 33 x 33"):
        toolbox_metrics(x[:40], y[:40])
    with pytest.raises(S5SRArgumentError, match="protocol must be one of"):
        compute_metrics(x, y, protocol="matlab")
    with pytest.raises(S5SRArgumentError, match="own bounds cut"):
        compute_metrics(x, y, protocol="toolbox", border=2)


def test_evaluate_reports_the_toolbox_indexes_beside_ours(rng: np.random.Generator) -> None:
    hr = make_granule(3, 72, 68, seed=3, n_channel=4).radiance
    sr = (hr * (1.0 + 0.01 * rng.standard_normal(hr.shape))).assign_attrs(s5sr_model="noisy")
    scores = sr.s5sr.evaluate(hr, toolbox=True, band=3)
    assert scores.model.values.tolist() == ["noisy", "bicubic"]
    reference = hr.values.astype(np.float64)
    expected = compute_metrics(
        reference,
        sr.values,
        protocol="toolbox",
        lr=degrade_array(reference, 3),
        band=3,
    )
    for name in TOOLBOX_METRICS:
        assert float(scores[f"toolbox_{name}"][0]) == pytest.approx(
            float(expected[name][0]), rel=1e-9, abs=1e-12
        ), name
    assert "toolbox_Q2n" in metrics_table(scores)
    # 1 % noise on the truth beats the bicubic baseline on ERGAS.
    assert float(scores.toolbox_ERGAS[1]) > float(scores.toolbox_ERGAS[0])
