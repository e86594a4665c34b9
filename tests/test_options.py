"""Tests of xr_s5sr.options: the one validated settings object of super_resolve (issue 22)."""

from __future__ import annotations

import dataclasses
import inspect
from pathlib import Path
from typing import Any

import pytest

from xr_s5sr import cli
from xr_s5sr.accessor import S5SRAccessor
from xr_s5sr.errors import S5SRArgumentError
from xr_s5sr.options import (
    AUTO,
    MISSING_POLICIES,
    SuperResolveOptions,
    check_regularisation,
    check_torch_threads,
)
from xr_s5sr.spec import model_spec, options_spec

PACKAGE = Path(__file__).resolve().parents[1] / "xr_s5sr"


def test_defaults_are_the_documented_ones() -> None:
    options = SuperResolveOptions()
    assert options.model == "s5dscr"
    assert options.regularisation == AUTO
    assert (options.missing, options.dtype) == ("fill", "float32")
    assert (options.nonnegative, options.spectral_prior, options.consistency) == (True, True, None)


def test_options_mirror_the_accessor_keywords() -> None:
    # One field per keyword of super_resolve, with the same default: the accessor builds the
    # options from its signature, so a keyword added to one and not the other fails here.
    signature = inspect.signature(S5SRAccessor.super_resolve).parameters
    keywords = {name: p.default for name, p in signature.items() if name != "self"}
    fields = {f.name: f.default for f in dataclasses.fields(SuperResolveOptions)}
    assert keywords == fields


def test_options_are_frozen_and_normalised() -> None:
    options = SuperResolveOptions(regularisation=1, variables="radiance")
    assert options.regularisation == 1.0
    assert isinstance(options.regularisation, float)
    assert options.variables == ("radiance",)
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.model = "bicubic"  # type: ignore[misc]
    resolved = options.with_band(7)
    assert (resolved.band, options.band) == (7, None)


@pytest.mark.parametrize(
    ("keywords", "message"),
    [
        ({"regularisation": -1}, r"regularisation must be 'auto' or a finite non-negative"),
        ({"regularisation": float("nan")}, r"regularisation must be 'auto'.*got nan"),
        ({"regularisation": True}, r"regularisation must be 'auto'.*got True"),
        ({"regularisation": "AUTO"}, r"regularisation must be 'auto'.*got 'AUTO'"),
        ({"missing": "drop"}, r"missing must be one of \('fill', 'strict'\), got 'drop'"),
        ({"dtype": "float64"}, r"dtype must be one of .*'float16'\), got 'float64'"),
        ({"model": "srcnn"}, r"model must be one of \('s5dscr', .*got 'srcnn'"),
        ({"torch_threads": 0}, r"torch_threads=0: expected a whole number of threads >= 1"),
        ({"torch_threads": 2.0}, r"torch_threads=2.0: expected a whole number"),
        ({"consistency": "yes"}, r"consistency must be True, False or None, got 'yes'"),
        ({"nonnegative": 1}, r"nonnegative must be True or False, got 1"),
        ({"spectral_prior": None}, r"spectral_prior must be True or False, got None"),
        ({"sharp_prior": "yes"}, r"sharp_prior must be True or False, got 'yes'"),
        ({"output_chunks": 0}, r"output_chunks must be a positive whole number"),
        ({"band": "7"}, r"band must be an integer 2..8 or None, got '7'"),
        ({"device": 0}, r"device must be 'cpu', 'cuda', 'cuda:<n>' or None, got 0"),
    ],
)
def test_bad_values_are_refused_with_the_keyword_named(
    keywords: dict[str, Any], message: str
) -> None:
    with pytest.raises(S5SRArgumentError, match=message):
        SuperResolveOptions(**keywords)


def test_the_accessor_refuses_bad_values_before_any_work() -> None:
    import xr_s5sr

    lr = xr_s5sr.synthetic.make_granule(7, 16, 12, n_channel=4).s5sr.degrade()
    with pytest.raises(S5SRArgumentError, match="nonnegative must be True or False"):
        lr.s5sr.super_resolve(nonnegative="no")  # type: ignore[arg-type]
    with pytest.raises(S5SRArgumentError, match="missing must be one of"):
        lr.radiance.s5sr.super_resolve(missing="ignore")


def test_check_functions_are_the_one_rule_of_spec_and_cli() -> None:
    assert check_regularisation(0) == 0.0
    assert check_torch_threads(None) is None
    # model_spec (called by assess, benchmarks, tests) applies the same rule.
    with pytest.raises(S5SRArgumentError, match="regularisation must be 'auto' or a finite"):
        model_spec("backprojection", band=7, device="cpu", regularisation=-0.5)
    # The command line's type turns the same check into a usage error.
    parser = cli.build_parser()
    assert parser.parse_args(["run", "a.nc", "b.nc", "--regularisation", "0"]).regularisation == 0
    assert MISSING_POLICIES == ("fill", "strict")


def test_options_spec_forwards_every_method_keyword() -> None:
    options = SuperResolveOptions(
        band=3, model="backprojection", device="cpu", regularisation=0.05, nonnegative=False
    )
    spec = options_spec(options)
    assert (spec.name, spec.band, spec.regularisation, spec.nonnegative) == (
        "backprojection",
        3,
        0.05,
        False,
    )
    assert spec == model_spec(
        "backprojection", band=3, device="cpu", regularisation=0.05, nonnegative=False
    )
    with pytest.raises(S5SRArgumentError, match="spectral_prior must be True or False"):
        model_spec("bicubic", device="cpu", spectral_prior="off")  # type: ignore[arg-type]


def test_changed_lists_only_non_default_options_for_the_history() -> None:
    options = SuperResolveOptions(missing="strict", spectral_prior=False)
    assert options.changed(("missing", "nonnegative", "spectral_prior")) == {
        "missing": "strict",
        "spectral_prior": False,
    }


def test_regularisation_is_plumbed_by_name_through_few_modules() -> None:
    # Issue 22: the keyword is validated once (options) and the layers above the spec hand
    # the options object down instead of naming it. inference.py and cli.py name it only in
    # the history line and the argparse flag.
    def count(module: str) -> int:
        return (PACKAGE / f"{module}.py").read_text().count("regularisation=")

    assert count("inference") == 2  # the s5sr_regularisation attr and the history line
    assert count("demo") == 0
    assert "def _regularisation" in (PACKAGE / "cli.py").read_text()
    assert "math.isfinite(regularisation)" not in (PACKAGE / "spec.py").read_text()
