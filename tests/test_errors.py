"""The error contract: every error raised on purpose is an S5SRError; every class documented."""

from __future__ import annotations

import ast
import builtins
import inspect
from pathlib import Path

import pytest

import xr_s5sr
from xr_s5sr import errors

PACKAGE = Path(xr_s5sr.__file__).parent
DOCS = PACKAGE.parent / "docs" / "errors.md"
#: Builtin exceptions a library may raise on purpose: leaving the interpreter.
ALLOWED_BUILTINS = {"SystemExit"}


def _raised_builtins(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if not isinstance(node, ast.Raise) or node.exc is None:
            continue
        target = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
        if isinstance(target, ast.Name) and target.id not in ALLOWED_BUILTINS:
            value = getattr(builtins, target.id, None)
            if inspect.isclass(value) and issubclass(value, BaseException):
                found.append(f"{path.name}:{node.lineno} raises {target.id}")
    return found


def test_no_module_raises_a_builtin_exception() -> None:
    offenders = [hit for path in sorted(PACKAGE.glob("*.py")) for hit in _raised_builtins(path)]
    assert offenders == []


def test_the_scan_finds_builtin_raises(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("def f():\n    raise ValueError('x')\n\ndef g():\n    raise SystemExit(1)\n")
    assert _raised_builtins(sample) == ["sample.py:2 raises ValueError"]


def test_every_error_class_derives_from_s5srerror_and_a_builtin() -> None:
    classes = [
        value
        for name, value in vars(errors).items()
        if inspect.isclass(value)
        and issubclass(value, Exception)
        and not issubclass(value, Warning)
        and name != "S5SRError"
    ]
    assert len(classes) >= 10
    for cls in classes:
        assert issubclass(cls, errors.S5SRError), cls
        # A builtin base too, so callers catching ValueError/OSError/... keep working.
        assert any(base.__module__ == "builtins" for base in cls.__mro__[1:-2]), cls


@pytest.mark.parametrize("name", sorted(errors.__all__))
def test_every_error_and_warning_is_documented(name: str) -> None:
    assert f"`{name}`" in DOCS.read_text()
