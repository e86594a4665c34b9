"""Tests of xr_s5sr.demo: the comparison it prints and the output quoted in docs/cli.md.

The command itself (outputs, reruns, the table) is tested in tests/test_cli.py.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import xarray as xr

from xr_s5sr import cli
from xr_s5sr.demo import comparison_lines, demo_paths

CLI_PAGE = Path(__file__).resolve().parents[1] / "docs" / "cli.md"


def test_demo_comparison_names_every_worse_metric() -> None:
    scores = xr.Dataset(
        {
            "psnr": ("model", [18.21, 16.95, 18.29], {"units": "dB"}),
            "ssim": ("model", [0.5782, 0.3648, 0.5870]),
            "sam": ("model", [3.302, 2.627, 3.678], {"units": "degree"}),
        },
        coords={"model": ["s5dscr", "bicubic", "backprojection"]},
    )
    assert comparison_lines(scores) == [
        "s5dscr - bicubic: psnr +1.26 dB, ssim +0.2134, sam +0.675 degree",
        "s5dscr - backprojection: psnr -0.08 dB, ssim -0.0088, sam -0.376 degree",
        "worse than bicubic in: sam (3.302 vs 2.627 degree)",
        "worse than backprojection in: psnr (18.21 vs 18.29 dB), ssim (0.5782 vs 0.5870)",
    ]
    better = scores.copy(deep=True)
    better["sam"][0] = 2.0
    assert comparison_lines(better.isel(model=[0, 1]))[-1] == "worse than bicubic in: none"


def test_demo_paths() -> None:
    assert demo_paths("out", 3) == (
        Path("out/demo_sr_band3.nc"),
        Path("out/demo_quicklook_band3.png"),
    )


def _documented_output() -> list[str]:
    """The stdout lines of ``xr-s5sr demo`` quoted in docs/cli.md (without the "wrote" notes)."""
    section = CLI_PAGE.read_text().split("## `demo`")[1].split("\n## ")[0]
    block = re.findall(r"```text\n(model .*?)```", section, flags=re.DOTALL)[0]
    return [line for line in block.splitlines() if not line.startswith("wrote ")]


def test_documented_demo_output_has_the_current_format() -> None:
    lines = _documented_output()
    assert lines[0].split() == ["model", "psnr", "[dB]", "ssim", "sam", "[degree]"]
    assert [line.split()[0] for line in lines[1:4]] == ["s5dscr", "bicubic", "backprojection"]
    assert lines[4].startswith("PSNR gain of s5dscr over bicubic:")
    assert lines[5].startswith("s5dscr - bicubic: psnr ")
    assert lines[6].startswith("s5dscr - backprojection: psnr ")
    assert lines[7].startswith("worse than bicubic in: ")
    assert lines[8].startswith("worse than backprojection in: ")
    assert len(lines) == 9


@pytest.mark.slow
def test_documented_demo_output_is_what_the_demo_prints(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["-q", "demo", "--out", str(tmp_path)]) == 0
    assert capsys.readouterr().out.splitlines() == _documented_output()
