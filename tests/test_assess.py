"""assess: scores without HR on a written L1B file (numpy and dask), the toolbox crops, the CLI."""

from __future__ import annotations

import json
import runpy
from pathlib import Path

import numpy as np
import pytest
import scipy.io
import xarray as xr

import xr_s5sr
from xr_s5sr.assess import (
    CONSISTENCY_EDGE,
    FR_CHECKS,
    assess_dataset,
    assess_table,
    noise_variance,
    save_assess_figure,
)
from xr_s5sr.cli import main
from xr_s5sr.degrade import degrade_array
from xr_s5sr.errors import BandError, DimensionError, S5SRArgumentError
from xr_s5sr.families import reference_dir
from xr_s5sr.metrics import CORRECTED_METRICS, TOOLBOX_METRICS
from xr_s5sr.synthetic import make_granule

DIMS = ("scanline", "ground_pixel", "spectral_channel")
JSON = Path(__file__).resolve().parents[1] / "docs" / "scripts" / "assess_reference.json"


@pytest.fixture(scope="module")
def l1b_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small noisy band-7 granule written as L1B (8 channels: networks do not apply)."""
    path = tmp_path_factory.mktemp("assess") / "S5P_TEST_L1B_RA_BD7_granule.nc"
    xr_s5sr.write_l1b(make_granule(7, 40, 40, seed=1, n_channel=8, noise=True), path)
    return path


@pytest.fixture(scope="module")
def scores(l1b_file: Path) -> xr.Dataset:
    return xr_s5sr.open_l1b(l1b_file, chunks=None).s5sr.assess()


def test_assess_on_a_written_l1b_file(scores: xr.Dataset) -> None:
    assert scores.model.values.tolist() == ["bicubic", "backprojection"]
    assert scores.attrs["skipped"] == "s5dscr"  # 8 channels, the band has 480
    assert scores.attrs["sigma_source"] == "radiance_noise"
    expected = [f"rr_{m}" for m in CORRECTED_METRICS]
    expected += [f"rr_toolbox_{m}" for m in TOOLBOX_METRICS] + list(FR_CHECKS)
    assert list(scores.data_vars) == expected
    bicubic = scores.sel(model="bicubic")
    assert float(bicubic.fr_sharpness) == pytest.approx(1.0, rel=1e-12)
    assert float(bicubic.fr_sam_vs_bicubic) == pytest.approx(0.0, abs=1e-6)
    # The physics inverse fits the data much closer than interpolation, and on the
    # reduced-resolution protocol it recovers more of the LR than bicubic does.
    physics = scores.sel(model="backprojection")
    # A native (not blurred) synthetic granule has no non-negative HR image consistent with it
    # (docs/physics.md); the non-negative physics inverse still fits it far closer than bicubic.
    assert float(physics.fr_relative_misfit) < 0.5 * float(bicubic.fr_relative_misfit)
    assert float(physics.rr_psnr) > float(bicubic.rr_psnr) + 0.5
    # 40 LR pixels are below the toolbox's 62: its indexes are NaN, ours are not.
    assert np.all(np.isnan(scores.rr_toolbox_Q.values))
    assert np.all(np.isfinite(scores.rr_ssim.values))


def test_chi2_is_the_noise_normalised_misfit(l1b_file: Path) -> None:
    ds = xr_s5sr.open_l1b(l1b_file, chunks=None)
    radiance = ds.radiance.isel(spectral_channel=slice(0, 2))  # 2 channels: no noise estimate
    sigma = 3e-10
    found = radiance.s5sr.assess(methods=["bicubic"], sigma=sigma)
    assert found.attrs["sigma_source"] == "given"
    bicubic = radiance.s5sr.bicubic().values.astype(np.float64)
    edge = (slice(CONSISTENCY_EDGE, -CONSISTENCY_EDGE),) * 2
    misfit = (degrade_array(bicubic, 7) - radiance.values)[edge]
    assert float(found.fr_chi2[0]) == pytest.approx(np.mean(misfit**2) / sigma**2, rel=1e-5)


def test_noise_from_radiance_noise_decibels() -> None:
    y = np.full((4, 4, 3), 2.0)
    variance, source = noise_variance(y, snr_db=np.full(y.shape, 10.0))
    assert source == "radiance_noise"
    # σ is float32 (xr_s5sr.noise.sigma_from_snr_db): 0.2 to 3e-8, its square to 6e-8.
    np.testing.assert_allclose(variance, (2.0 / 10.0) ** 2, rtol=2e-7, atol=0)
    assert noise_variance(y[..., :1]) == (None, "unknown")


def test_assess_is_the_same_on_dask_input(l1b_file: Path, scores: xr.Dataset) -> None:
    lazy = xr_s5sr.open_l1b(l1b_file, chunks={"scanline": 16})
    assert lazy.radiance.chunks is not None
    found = lazy.s5sr.assess()
    for name in scores.data_vars:
        np.testing.assert_allclose(
            found[name].values, scores[name].values, rtol=1e-6, atol=1e-12, err_msg=name
        )


def test_assess_runs_a_network_with_the_band_channels() -> None:
    ds = make_granule(7, 32, 32, seed=2, noise=True)
    found = ds.s5sr.assess(methods=["bicubic", "s5dscr_s"])
    assert found.model.values.tolist() == ["bicubic", "s5dscr_s"]
    assert found.attrs["skipped"] == "none"
    network = found.sel(model="s5dscr_s")
    assert float(network.fr_relative_misfit) < float(found.fr_relative_misfit[0])
    assert np.isfinite(float(network.fr_sam_vs_bicubic))


def test_assess_errors(l1b_file: Path) -> None:
    ds = xr_s5sr.open_l1b(l1b_file, chunks=None)
    with pytest.raises(S5SRArgumentError, match="Unknown method 'lanczos'"):
        ds.s5sr.assess(methods=["lanczos"])
    with pytest.raises(DimensionError, match="at least 32 x 32 LR pixels"):
        ds.isel(scanline=slice(0, 20)).s5sr.assess()
    with pytest.raises(BandError, match="not supported"):
        xr.DataArray(ds.radiance.values, dims=DIMS).s5sr.assess(band=1)


def test_table_and_figure(scores: xr.Dataset, tmp_path: Path) -> None:
    text = assess_table(scores)
    assert "Reduced resolution" in text
    assert "rr_toolbox_Q2n" in text
    assert "Not assessed (channel count is not the band's): s5dscr" in text
    pytest.importorskip("matplotlib")
    path = save_assess_figure(scores, tmp_path / "assess.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_assess(l1b_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "{stem}_scores.nc"
    code = main(["assess", str(l1b_file), "--out", str(out), "--method", "bicubic", "--quiet"])
    assert code == 0
    printed = capsys.readouterr().out
    assert f"== {l1b_file}" in printed
    assert "Full resolution (sigma from radiance_noise)" in printed
    written = xr.open_dataset(tmp_path / f"{l1b_file.stem}_scores.nc")
    assert written.model.values.tolist() == ["bicubic"]


# ------------------------------------------------------------- the toolbox's real crops
def _crop(name: str) -> np.ndarray:
    directory = reference_dir()
    if directory is None or not (directory / f"{name}.mat").exists():
        pytest.skip("the toolbox's reference crops are not present (XR_S5SR_REFERENCE_DIR)")
    values = scipy.io.loadmat(directory / f"{name}.mat")["radiance"].astype(np.float64)
    return values.reshape(values.shape[0], values.shape[1], 1)


def test_assess_on_the_toolbox_uv_crop_matches_the_committed_json() -> None:
    lr = _crop("1.UV_IN_LR4")
    found = assess_dataset(xr.DataArray(lr, dims=DIMS), 2)
    assert found.model.values.tolist() == ["bicubic", "backprojection"]
    assert found.attrs["skipped"] == "s5dscr"  # one channel: no network applies
    committed = json.loads(JSON.read_text())["crops"]["1.UV"]["reduced_resolution"]
    for method, values in committed.items():
        for name, value in values.items():
            got = float(found[name].sel(model=method))
            if value is None:
                assert np.isnan(got), (method, name)
            else:
                assert got == pytest.approx(value, rel=1e-5, abs=1e-12), (method, name)
    # One channel: Q2n, D_lambda and the spectral angles are undefined.
    assert np.all(np.isnan(found.rr_toolbox_Q2n.values))
    assert np.all(np.isnan(found.fr_sam_vs_bicubic.values))
    assert np.all(np.isfinite(found.rr_toolbox_Q.values))


def test_docs_page_shows_the_committed_json() -> None:
    script = runpy.run_path(str(JSON.with_suffix(".py")))
    results = json.loads(JSON.read_text())
    page = (JSON.parents[1] / "assess.md").read_text()
    assert script["render_table"](results) in page
    uv = results["crops"]["1.UV"]
    reduced = uv["reduced_resolution"]
    true = uv["true_hr"]
    rr_gain = reduced["backprojection"]["rr_psnr"] - reduced["bicubic"]["rr_psnr"]
    hr_gain = true["backprojection"]["psnr"] - true["bicubic"]["psnr"]
    assert f"+{rr_gain:.2f} dB" in page
    assert f"+{hr_gain:.2f} dB" in page
