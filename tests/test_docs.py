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
