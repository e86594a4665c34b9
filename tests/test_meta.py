"""Tests of the tests: no assertion may compare an expression with itself.

``assert a[k:].max() == a[k:, :].max()`` or ``assert_allclose(x, x)`` pass whatever the code
does. The check reads every test module's syntax tree and compares the two sides of each
assertion after normalising them (a full slice ``:`` added or left out of a subscript, keyword
or positional arguments, ``pytest.approx`` wrappers), so a rewrite that only changes spelling
is caught too.
"""

from __future__ import annotations

import ast
import copy
import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

TESTS = Path(__file__).parent

#: Functions whose first two arguments are compared (numpy, xarray, pytest, unittest).
_COMPARING = {
    "assert_allclose",
    "assert_almost_equal",
    "assert_approx_equal",
    "assert_array_almost_equal",
    "assert_array_almost_equal_nulp",
    "assert_array_equal",
    "assert_array_less",
    "assert_array_max_ulp",
    "assert_chunks_equal",
    "assert_duckarray_allclose",
    "assert_duckarray_equal",
    "assert_equal",
    "assert_identical",
    "assert_eq",
    "allclose",
    "array_equal",
    "isclose",
    "assertEqual",
    "assertAlmostEqual",
}
#: Names of the compared arguments when passed by keyword.
_KEYWORDS = (("actual", "desired"), ("a", "b"), ("x", "y"), ("a1", "a2"), ("first", "second"))


class _Normalise(ast.NodeTransformer):
    """Drops spelling differences that do not change what an expression evaluates to."""

    def visit_Subscript(self, node: ast.Subscript) -> ast.AST:
        self.generic_visit(node)
        index = node.slice
        if isinstance(index, ast.Tuple):
            parts = list(index.elts)
            # x[a, :] and x[a, :, :] read the same elements as x[a] (trailing full slices).
            while len(parts) > 1 and _is_full_slice(parts[-1]):
                parts.pop()
            node.slice = parts[0] if len(parts) == 1 else ast.Tuple(parts, ast.Load())
        return node

    def visit_Call(self, node: ast.Call) -> ast.AST:
        self.generic_visit(node)
        # pytest.approx(x) == x: the wrapper changes the tolerance, not the value.
        if _name(node.func) == "approx" and node.args:
            return node.args[0]
        return node


def _is_full_slice(node: ast.AST) -> bool:
    return isinstance(node, ast.Slice) and node.lower is node.upper is node.step is None


def _name(func: ast.AST) -> str:
    if isinstance(func, ast.Attribute):
        return func.attr
    if isinstance(func, ast.Name):
        return func.id
    return ""


def _key(node: ast.AST) -> str:
    """Source-independent form of an expression (no positions, no load/store context)."""
    tree = _Normalise().visit(copy.deepcopy(node))
    return ast.dump(tree, annotate_fields=False, include_attributes=False)


def _compared_arguments(call: ast.Call) -> tuple[ast.AST, ast.AST] | None:
    if _name(call.func) not in _COMPARING:
        return None
    args: list[ast.AST] = list(call.args[:2])
    keywords = {k.arg: k.value for k in call.keywords if k.arg is not None}
    for first, second in _KEYWORDS:
        if len(args) == 0 and first in keywords and second in keywords:
            args = [keywords[first], keywords[second]]
        elif len(args) == 1 and second in keywords:
            args.append(keywords[second])
    return (args[0], args[1]) if len(args) == 2 else None


def self_comparisons(source: str, filename: str = "<test>") -> Iterator[str]:
    """``file:line: text`` of each assertion in ``source`` that compares an expression with
    itself (``assert`` comparisons and the comparing functions in ``_COMPARING``)."""
    tree = ast.parse(source, filename)
    for node in ast.walk(tree):
        pairs: list[tuple[ast.AST, ast.AST]] = []
        if isinstance(node, ast.Compare):
            operands = [node.left, *node.comparators]
            pairs.extend(itertools.pairwise(operands))
        elif isinstance(node, ast.Call):
            compared = _compared_arguments(node)
            if compared is not None:
                pairs.append(compared)
        for left, right in pairs:
            if _key(left) == _key(right):
                text = ast.get_source_segment(source, node) or ast.dump(node)
                yield f"{filename}:{node.lineno}: {' '.join(text.split())}"


@pytest.mark.parametrize(
    "snippet",
    [
        "assert x == x",
        "assert a[k:-k, :].max() == a[k:-k].max()",
        "assert a[1, :, :] is a[1]",
        "np.testing.assert_allclose(f(y), f(y), rtol=1e-6)",
        "np.testing.assert_allclose(actual=f(y), desired=f(y))",
        "xr.testing.assert_identical(ds.s5sr.degrade(), ds.s5sr.degrade())",
        "assert m.mean() == pytest.approx(m.mean(), rel=1e-6)",
        "assert 0 < v < v",
    ],
)
def test_the_check_finds_self_comparisons(snippet: str) -> None:
    assert len(list(self_comparisons(snippet))) == 1


@pytest.mark.parametrize(
    "snippet",
    [
        "assert x == y",
        "assert a[k:-k, :1].max() == a[k:-k].max()",
        "np.testing.assert_allclose(f(y), f(2 * y) / 2, rtol=1e-6)",
        "assert m.mean() == pytest.approx(n.mean(), rel=1e-6)",
        "assert 0 < v < w",
    ],
)
def test_the_check_passes_real_comparisons(snippet: str) -> None:
    assert list(self_comparisons(snippet)) == []


def test_no_test_compares_an_expression_with_itself() -> None:
    found = [
        hit
        for path in sorted(TESTS.glob("*.py"))
        for hit in self_comparisons(path.read_text(encoding="utf-8"), path.name)
    ]
    assert found == [], "assertions that cannot fail:\n" + "\n".join(found)


def missing_atol(source: str, filename: str = "<test>") -> Iterator[str]:
    """``file:line`` of each ``assert_allclose`` call without an explicit ``atol``.

    numpy's default ``atol=0`` fails an element that is near zero by float rounding (e.g. the
    difference of two large terms), on one machine and not another; xarray's default
    ``atol=1e-8`` is larger than the radiances themselves (~1e-9 to 1e-7 mol m-2 nm-1 sr-1 s-1)
    and lets any result pass. Each call must therefore choose its atol from the data's scale.
    """
    for node in ast.walk(ast.parse(source, filename)):
        if (
            isinstance(node, ast.Call)
            and _name(node.func) == "assert_allclose"
            and not any(k.arg == "atol" for k in node.keywords)
        ):
            yield f"{filename}:{node.lineno}"


def test_the_atol_check_finds_a_missing_atol() -> None:
    assert list(missing_atol("np.testing.assert_allclose(a, b, rtol=1e-6)")) == ["<test>:1"]
    assert list(missing_atol("xr.testing.assert_allclose(a, b, rtol=1e-6, atol=0)")) == []


def test_every_allclose_names_its_atol() -> None:
    found = [
        hit
        for path in sorted(TESTS.glob("*.py"))
        for hit in missing_atol(path.read_text(encoding="utf-8"), path.name)
    ]
    assert found == [], "assert_allclose without atol:\n" + "\n".join(found)
