"""Tests of the documentation site: strict mkdocs build, and pages that must match the code."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from xr_s5sr import errors
from xr_s5sr.bands import BANDS
from xr_s5sr.dims import DIM_ALIASES
from xr_s5sr.l1b import FILL_VALUE

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


@pytest.mark.slow
def test_mkdocs_build_strict(tmp_path: Path) -> None:
    pytest.importorskip("mkdocs")
    pytest.importorskip("mkdocstrings_handlers.python")
    site = tmp_path / "site"
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(site)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    api = (site / "api" / "index.html").read_text()
    # Docstrings were rendered, including the accessor methods under their xarray names.
    assert 'id="xr_s5sr.l1b.open_l1b"' in api
    assert 'id="xr_s5sr.accessor.S5SRAccessor.super_resolve"' in api
    assert "Dataset.s5sr / DataArray.s5sr" in api
    # The changelog page includes the repository's CHANGELOG.md.
    first_entry = re.search(r"^## (.+)$", (ROOT / "CHANGELOG.md").read_text(), re.MULTILINE)
    assert first_entry is not None
    assert first_entry.group(1) in (site / "changelog" / "index.html").read_text()


def test_api_reference_targets_exist() -> None:
    targets = re.findall(r"^::: (\S+)", (DOCS / "api.md").read_text(), flags=re.MULTILINE)
    assert "xr_s5sr.accessor.S5SRAccessor" in targets
    for module in ("bands", "l1b", "store", "degrade", "models", "dims", "errors", "synthetic"):
        assert f"xr_s5sr.{module}" in targets
    for target in targets:
        package, module, *names = target.split(".")
        source = ROOT / package / f"{module}.py"
        assert package == "xr_s5sr", target
        assert source.exists(), target
        for name in names:  # a class documented on its own must be defined in the module
            assert f"class {name}" in source.read_text(), target


def _table_rows(page: Path) -> list[list[str]]:
    lines = [line for line in page.read_text().splitlines() if line.startswith("| ")]
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in lines]


def test_band_table_matches_code() -> None:
    header, *rows = _table_rows(DOCS / "bands.md")
    assert header[0] == "band"
    assert [int(row[0]) for row in rows] == sorted(BANDS)
    for row in rows:
        info = BANDS[int(row[0])]
        band, detector, span, channels, pixels, size, gx, gy, mean, snr, sigma, sr = row
        assert detector == info.detector
        assert span == "{:g}–{:g}".format(*info.wavelength_range)
        assert (int(channels), int(pixels)) == (info.spectral_channels, info.ground_pixels)
        assert size == "{:g} × {:g}".format(*info.pixel_size_km)
        assert (float(gx), float(gy)) == (info.gnyq_x, info.gnyq_y)
        assert sr == ("yes" if info.super_resolution else "no")
        if info.mean_radiance is None:
            assert (mean, snr, sigma) == ("–", "–", "–"), band
            continue
        assert (float(mean), float(snr)) == (info.mean_radiance, info.snr)
        assert float(sigma) == pytest.approx(info.noise_sigma, rel=5e-5)


def test_conventions_match_code() -> None:
    page = (DOCS / "conventions.md").read_text()
    rows = {row[0]: row for row in _table_rows(DOCS / "conventions.md") if len(row) == 3}
    for role, aliases in DIM_ALIASES.items():
        canonical, *others = aliases
        row = next(r for r in rows.values() if r[1] == f"`{canonical}`")
        assert row[2] == ", ".join(f"`{a}`" for a in others), role
    assert f"{FILL_VALUE:.5e}".replace("e+", "e") in page  # 9.96921e36
    assert "`4j + 2`" in page
    assert "`(i − 2) / 4`" in page
    # The missing-value policy as README, errors.md and the engine have it (4 × 4 footprint).
    assert "**4 × 4 HR footprint**, in the same channel" in page
    assert "`xr_s5sr.missing.strict_radius`" in page
    assert engine_footprint_is_4x4()


def engine_footprint_is_4x4() -> bool:
    """What ``missing="fill"`` masks around one missing LR value: its 4 × 4 HR pixels."""
    import numpy as np

    from xr_s5sr.engine import super_resolve_array

    lr = np.ones((6, 5, 2), np.float32)
    lr[2, 3, 1] = np.nan
    masked = np.isnan(super_resolve_array(lr, "bicubic", device="cpu"))
    expected = np.zeros_like(masked)
    expected[8:12, 12:16, 1] = True
    return bool((masked == expected).all())


def test_install_page_pins_the_readme_torch() -> None:
    readme = ROOT / "README.md"
    if not readme.exists():
        pytest.skip("README.md not written yet")
    pins = set(re.findall(r"torch==[\d.]+", readme.read_text()))
    assert pins, "README.md has no torch==<version> install step"
    install = (DOCS / "install.md").read_text()
    for pin in pins:
        assert f"pip install {pin}" in install


def _error_rows() -> list[list[str]]:
    text = (DOCS / "errors.md").read_text()
    return [
        [cell.strip() for cell in line.strip().strip("|").split("|")]
        for line in text.splitlines()
        if line.startswith("| `") and "Error" in line.split("|")[1]
    ]


def test_errors_page_lists_every_class_and_real_messages() -> None:
    rows = _error_rows()
    documented = {row[0].strip("`") for row in rows}
    classes = {name for name in errors.__all__ if name.endswith("Error")}
    assert classes <= documented
    sources = "".join(p.read_text() for p in (ROOT / "xr_s5sr").glob("*.py"))
    # Messages are f-strings: compare with quotes and spacing of the source normalised away.
    flat = re.sub(r'"\s*\n\s*f?"', "", sources)
    for row in rows:
        for phrase in re.findall(r"`([^`]+)`", row[2]):
            assert phrase in flat, f"{row[0]}: key phrase {phrase!r} is not in any message"


def _dB(value: float, decimals: int = 2) -> str:
    """``value`` as the README writes it: sign, typographic minus, 0.00 without a sign."""
    text = f"{abs(value):.{decimals}f}"
    if float(text) == 0:
        return text
    return ("+" if value > 0 else "−") + text


FINETUNE_TEST = DOCS / "scripts" / "finetune_proof" / "test.json"


def _finetune_claims() -> list[str]:
    """What README and docs/finetune.md say about the pre-registered fine-tuning test, from
    docs/scripts/finetune_proof/test.json (read here independently of docs/scripts/tables.py,
    which writes the sentence): returned starts, the best and the worst cell, losing granules
    and the losing cells that --check called better."""
    import json

    cases = json.loads(FINETUNE_TEST.read_text())["cases"]
    returned = sum(case["returned_start"] for case in cases.values())
    best = max(cases, key=lambda key: cases[key]["gain_db_new"][0])
    mean, low, high = cases[best]["gain_db_new"]
    family, brightness, noise, _ = best.split("/")
    worst = min(case["gain_db_new"][0] for case in cases.values())
    losses = sum(g < 0 for case in cases.values() for g in case["gain_db_per_granule"])
    wrong = sum(c["check_new"]["better"] and c["gain_db_new"][0] < 0 for c in cases.values())
    best_claim = (
        f"{_dB(mean)} dB (95 % interval {_dB(low)} … {_dB(high)}) on {family} scenes at "
        f"{brightness} of the band's mean radiance ({noise} noise)"
        if mean > 0
        else "no run gained over the start on new granules"
    )
    return [
        f"{returned} of {len(cases)} runs returned the start weights",
        best_claim,
        f"worst cell mean {_dB(worst)} dB",
        f"{losses} of {5 * len(cases)} new granules",
        f"`--check` called {wrong} losing cell",
    ]


@pytest.mark.parametrize("page", ["README.md", "docs/finetune.md"])
def test_finetuning_numbers_match_the_test_json(page: str) -> None:
    text = " ".join((ROOT / page).read_text().split())
    for claim in _finetune_claims():
        assert claim in text, f"{page} does not say (from finetune_proof/test.json): {claim}"


def test_training_recipe_matches_the_model_cards() -> None:
    """weights/train_shipped.py quotes the validation MSE of the cards against the physics
    inverse (it said the models were never below it, which the cards contradict)."""
    import json

    def below(model: str, band: int) -> float:
        card = json.loads((ROOT / "weights" / f"{model}_band{band}.json").read_text())
        scores = card["validation"]
        return 100 * (1 - scores["mse_normalised_model"] / scores["mse_normalised_baseline"])

    doc = " ".join((ROOT / "weights" / "train_shipped.py").read_text().split())
    assert "0–0.9 % below the physics inverse's for S5-DSCR in bands 2–6" in doc
    assert min(below("s5dscr", b) for b in range(2, 7)) >= 0
    assert f"{max(below('s5dscr', b) for b in range(2, 7)):.1f}" == "0.9"
    swir = [below("s5dscr", b) for b in (7, 8)]
    assert f"{min(swir):.1f}–{max(swir):.1f} % in bands 7–8" in doc
    assert "under 0.03 % for S5-DSCR-S" in doc
    assert max(below("s5dscr_s", b) for b in range(2, 9)) < 0.03


# ------------------------------------------------------------------------ pages a user runs
_WRITERS = ("to_netcdf", "to_zarr", "write_l1b", "save_quicklook", "save_spectrum")


def _python_blocks(page: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", page.read_text(), flags=re.DOTALL)


@pytest.mark.parametrize("page", ["quickstart.md", "index.md", "physics.md", "finetune.md"])
def test_doc_examples_can_be_run_twice(page: str) -> None:
    """A page's examples that write files pass overwrite=True: run again, they must not stop
    with "Output ... already exists" (docs/quickstart.md did)."""
    import ast

    path = DOCS / page
    if not path.exists():
        pytest.skip(f"{page} not present")
    for block in _python_blocks(path):
        for node in ast.walk(ast.parse(block)):
            if isinstance(node, ast.Call):
                name = getattr(node.func, "attr", getattr(node.func, "id", ""))
                if name in _WRITERS:
                    keywords = {k.arg: k.value for k in node.keywords}
                    flag = keywords.get("overwrite")
                    rerun = isinstance(flag, ast.Constant) and flag.value is True
                    assert rerun, f"{page}: {ast.unparse(node)} fails when the page is run again"


def test_install_page_quotes_the_measured_wheel_size() -> None:
    import json

    measured = json.loads((DOCS / "scripts" / "wheel_size.json").read_text())
    page = " ".join((DOCS / "install.md").read_text().split())
    assert f"({measured['MB']:.0f} MB, measured by `python docs/scripts/wheel_size.py`" in page
    assert measured["command"] == "pip wheel --no-deps ."
    assert "+uncommitted" not in measured["commit"]
