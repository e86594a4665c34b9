"""The banded filter's two forms, its NaN locality and in-place output, and the interpolations."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from xr_s5sr import operators
from xr_s5sr.bands import HALF_TAPS, SCALE, band_kernels

AXIS_OPERATORS = {
    "A scanline band 3": lambda: operators.degrade_operator(3, 0),
    "A ground_pixel band 7": lambda: operators.degrade_operator(7, 1),
    "A ratio 2": lambda: operators.degrade_operator(5, 0, 2),
    "adjoint band 7": lambda: operators.adjoint_operator(7, 0),
    "cubic U": lambda: operators.interpolation_operator("cubic"),
    "linear U": lambda: operators.interpolation_operator("linear"),
    "bicubic x4": lambda: operators.bicubic_operator(4),
}


def _n_out(operator: operators.AxisOperator, n_in: int) -> int:
    """Outputs of an operator for ``n_in`` inputs: decimating ones shrink, others grow ×P."""
    return n_in // operator.stride if operator.stride > 1 else operator.phases * n_in


@pytest.mark.parametrize("name", sorted(AXIS_OPERATORS))
@pytest.mark.parametrize("axis", [0, 1])
def test_numpy_direct_form_equals_the_matrix_products(name: str, axis: int) -> None:
    operator = AXIS_OPERATORS[name]()
    x = np.random.default_rng(axis).normal(size=(45, 38, 3))
    n_out = _n_out(operator, x.shape[axis])
    direct = operator.correlate(x, axis, n_out)
    products = operator.apply(torch.from_numpy(x), axis, n_out).numpy()
    assert direct.shape == products.shape
    np.testing.assert_allclose(direct, products, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("name", sorted(AXIS_OPERATORS))
def test_sparse_matrix_is_the_operator_applied_to_each_unit_input(name: str) -> None:
    # Columns of the identity through apply(): the matrix with edges as apply treats them
    # (zero or clamped), which sparse_matrix must reproduce tap for tap.
    operator = AXIS_OPERATORS[name]()
    n_in = 37
    n_out = _n_out(operator, n_in)
    columns = operator.apply(torch.eye(n_in, dtype=torch.float64), 0, n_out).numpy()
    matrix = operator.sparse_matrix(n_in, n_out).toarray()
    assert matrix.shape == (n_out, n_in)
    np.testing.assert_allclose(matrix, columns, rtol=0, atol=1e-14)


@pytest.mark.parametrize("band", [3, 7])
@pytest.mark.parametrize("spill", [0, 6])
def test_degrade_of_the_nonzero_values_equals_the_dense_degradation(band: int, spill: int) -> None:
    rng = np.random.default_rng(band + spill)
    x = np.zeros((96, 80, 5), np.float32)
    chosen = rng.random(x.shape) < 0.01
    x[chosen] = rng.normal(size=int(chosen.sum()))
    x[:3, :, 2] = -1.0  # nonzero values at the block's first scanlines reach into the spill
    padded = np.pad(x, ((4 * spill, 4 * spill), (0, 0), (0, 0)))
    dense = operators.degrade(padded, band)
    summed = operators.degrade_nonzero(x, band, spill)
    assert summed.dtype == np.float32
    assert summed.shape == dense.shape == (24 + 2 * spill, 20, 5)
    np.testing.assert_allclose(summed, dense, rtol=0, atol=2e-6 * np.abs(dense).max())
    # The spilled rows carry the edge values' contribution: not a test of zeros.
    assert spill == 0 or np.abs(summed[:spill]).max() > 1e-3


def test_direct_form_keeps_the_input_dtype_and_float32_accuracy() -> None:
    operator = operators.degrade_operator(3, 0)
    x = np.random.default_rng(2).random((64, 5)).astype(np.float32)
    direct = operator.correlate(x, 0, 16)
    assert direct.dtype == np.float32
    exact = operator.correlate(x.astype(np.float64), 0, 16)
    np.testing.assert_allclose(direct, exact, rtol=2e-6, atol=0)


def test_a_nan_reaches_only_the_outputs_whose_support_holds_it() -> None:
    operator = operators.degrade_operator(7, 0)
    x = np.ones((80, 2))
    x[37, 1] = np.nan
    out = operator.correlate(x, 0, 20)
    # LR j reads HR 4j + 2 - 20 ... 4j + 2 + 19 (SPEC §2).
    support = [j for j in range(20) if 4 * j + 2 - HALF_TAPS <= 37 <= 4 * j + 2 + HALF_TAPS - 1]
    assert np.flatnonzero(np.isnan(out[:, 1])).tolist() == support
    assert not np.isnan(out[:, 0]).any()
    # The matrix-product form spreads the NaN over its whole window: the reason for two forms.
    spread = operator.apply(torch.from_numpy(x), 0, 20).numpy()
    assert np.isnan(spread[:, 1]).sum() > len(support)


def test_direct_form_of_a_padded_block_equals_the_whole_axis() -> None:
    operator = operators.degrade_operator(3, 1)
    x = np.random.default_rng(3).normal(size=(4, 96))
    whole = operator.correlate(x, 1, 24)
    padded = np.pad(x, [(0, 0), (HALF_TAPS, HALF_TAPS)])
    block = operator.correlate_padded(padded, 1, 24, lead=HALF_TAPS)
    np.testing.assert_array_equal(block, whole)


@pytest.mark.parametrize("columns", [5, 3 * 8192])  # one product / column blocks
def test_apply_writes_into_the_given_buffer(columns: int) -> None:
    operator = operators.bicubic_operator(8)
    x = torch.from_numpy(np.random.default_rng(4).normal(size=(6, columns)).astype("f4"))
    buffer = torch.full((24 + 4, columns), -1.0)
    result = operator.apply(x, 0, 24, out=buffer[2:26])
    assert result.data_ptr() == buffer[2:26].data_ptr()
    torch.testing.assert_close(buffer[2:26], operator.apply(x, 0, 24), rtol=0, atol=0)
    assert bool((buffer[:2] == -1).all())
    assert bool((buffer[26:] == -1).all())


def test_cubic_interpolation_reproduces_lr_pixels_at_their_hr_position() -> None:
    y = np.random.default_rng(5).normal(size=(9, 7))
    hr = operators.upsample(y)
    np.testing.assert_allclose(hr[2::SCALE, 2::SCALE], y, rtol=0, atol=1e-12)


def test_degradation_taps_are_the_band_kernel() -> None:
    operator = operators.degrade_operator(7, 1)
    np.testing.assert_array_equal(operator.weights[0], band_kernels(7)[1][: 2 * HALF_TAPS])
    assert (operator.stride, operator.first) == (SCALE, SCALE // 2 - HALF_TAPS)


def test_bicubic_operator_is_pytorch_bicubic() -> None:
    image = torch.from_numpy(np.random.default_rng(6).normal(size=(1, 2, 5, 7)))
    expected = operators.bicubic_x4(image)
    along_rows = operators.bicubic_operator(4).apply(image, 2, SCALE * 5)
    both = operators.bicubic_operator(8).apply(along_rows, 3, SCALE * 7)
    torch.testing.assert_close(both, expected, rtol=1e-12, atol=1e-12)
