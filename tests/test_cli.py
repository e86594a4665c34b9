"""Tests of the ``xr-s5sr`` command line (xr_s5sr.cli) on tiny synthetic files."""

from __future__ import annotations

import argparse
import re
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

import xr_s5sr
from xr_s5sr import cli, l1b, synthetic
from xr_s5sr.bands import get_band
from xr_s5sr.models import build_model
from xr_s5sr.progress import compute_progress
from xr_s5sr.spec import options_spec
from xr_s5sr.weights import save_weights

N_CHANNEL = 8


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A tiny band-7 L1B granule and random S5-DSCR-S weights for its 6 channels."""
    root = tmp_path_factory.mktemp("cli")
    granule = synthetic.make_granule(7, 32, 24, seed=1, n_channel=N_CHANNEL)
    path = l1b.write_l1b(granule, root / "S5P_TEST_L1B_RA_BD7_tiny.nc")
    weights = root / "s5dscr_s_band7.safetensors"
    save_weights(build_model("s5dscr_s", N_CHANNEL), weights, band=7, model_name="s5dscr_s")
    return {"l1b": Path(path), "weights": weights}


def run_args(files: dict[str, Path], source: Path, target: Path, *extra: str) -> list[str]:
    return ["run", str(source), str(target), "--model", "s5dscr_s",
            "--weights", str(files["weights"]), *extra]  # fmt: skip


def one_line_error(err: str) -> str:
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ")
    return lines[0]


# ------------------------------------------------------------------ run / degrade
def test_run_writes_super_resolved_netcdf(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "sr.nc"
    assert cli.main(run_args(files, files["l1b"], out, "--chunks", "4")) == 0
    captured = capsys.readouterr()
    # stdout: the plausibility report in one line (issue 26.6); the file's attrs hold it.
    assert re.fullmatch(
        r"plausibility: negative values 0 %, chi2 \S+, mu \S+, sigma \S+\n", captured.out
    )
    # A progress bar may precede it on stderr when the compute lasts over a second (slow CI).
    assert captured.err.strip().splitlines()[-1] == f"wrote {out}"
    expected = l1b.open_l1b(files["l1b"], chunks=None).s5sr.super_resolve(
        model="s5dscr_s", weights=files["weights"]
    )
    with xr.open_dataset(out) as written:
        assert written.radiance.shape == (128, 96, N_CHANNEL)
        assert written.attrs["s5sr_model"] == "s5dscr_s"
        # Chunked (CLI) and whole (in-memory) runs differ by float32 rounding carried through
        # the non-negative step's iterations: up to ~3e-5 of the scene's largest value.
        scale = float(np.abs(expected.radiance).max())
        np.testing.assert_allclose(written.radiance, expected.radiance, rtol=0, atol=1e-4 * scale)
        assert written.attrs["s5sr_negative_fraction"] == 0.0
        for key in ("s5sr_chi2", "s5sr_regularisation", "s5sr_sigma"):
            # Lazy (chunked) run: the same numbers as the in-memory run's attributes.
            np.testing.assert_allclose(
                written.attrs[key], expected.attrs[key], rtol=1e-4, atol=0, err_msg=key
            )


def test_nonnegative_and_spectral_prior_flags_reach_the_options() -> None:
    parser = cli.build_parser()
    default = cli._options(parser.parse_args(["run", "in.nc", "out.nc"]))
    assert (default.nonnegative, default.spectral_prior) == (True, True)
    args = ["run", "in.nc", "out.nc", "--no-nonnegative", "--no-spectral-prior", "--band", "7"]
    options = cli._options(parser.parse_args(args))
    assert (options.nonnegative, options.spectral_prior, options.band) == (False, False, 7)
    demo = cli._options(parser.parse_args(["demo", "--no-nonnegative"]))
    assert (demo.nonnegative, demo.band, demo.torch_threads) == (False, 7, None)
    assert not default.sharp_prior
    sharp = cli._options(parser.parse_args(["run", "in.nc", "out.nc", "--sharp-prior"]))
    assert sharp.sharp_prior
    assert options_spec(sharp.with_band(7)).sharp_prior
    composed = cli._options(parser.parse_args(["run", "in.nc", "out.nc", "--spectral-composition"]))
    assert not default.spectral_composition
    assert composed.spectral_composition
    assert options_spec(composed.with_band(7)).composes_spectra


def test_progress_in_logs_is_one_line_per_tenth(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """stderr is not a terminal under pytest: progress lines, no carriage-return bar."""
    out = tmp_path / "lr.nc"
    assert cli.main(["degrade", str(files["l1b"]), str(out), "--chunks", "16"]) == 0
    err = capsys.readouterr().err
    assert "\r" not in err
    lines = [line for line in err.splitlines() if line.startswith("progress:")]
    assert lines[-1].startswith("progress: 100% of ")
    assert 1 <= len(lines) <= 10
    assert cli.main(["-q", "degrade", str(files["l1b"]), str(out), "--overwrite"]) == 0
    assert "progress" not in capsys.readouterr().err


def test_super_resolve_subcommand_and_alias(files: dict[str, Path]) -> None:
    parser = cli.build_parser()
    for name in ("super-resolve", "run"):
        args = parser.parse_args([name, "in.nc", "out.nc", "--model", "backprojection"])
        assert args.handler is cli._cmd_run
        assert (args.consistency, args.missing) == (None, "fill")
        assert args.regularisation == "auto"
    exact = parser.parse_args(["super-resolve", "in.nc", "out.nc", "--regularisation", "0.01"])
    assert exact.regularisation == 0.01
    with pytest.raises(SystemExit) as exit_info:
        parser.parse_args(["super-resolve", "in.nc", "out.nc", "--model", "s5dscrx"])
    assert exit_info.value.code == 2


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["super-resolve", "in.nc", "out.tif"], "unknown output format '.tif'"),
        (["degrade", "in.nc", "out"], r"unknown output format '\(no suffix\)'"),
        (["evaluate", "sr.nc", "hr.nc", "--out", "scores.csv"], "unknown output format '.csv'"),
        (["quicklook", "lr.nc", "sr.nc", "look.jpg"], "figures are written as PNG"),
        (["quicklook", "lr.nc", "sr.nc", "a.png", "--spectrum", "s.pdf"], "as PNG"),
        (["run", "in.nc", "out.nc", "--regularisation", "-1"], "expected 'auto' or a number"),
        (["demo", "--regularisation", "automatic"], "expected 'auto' or a number"),
        (["run", "in.nc", "out.nc", "--chunks", "0"], r"--chunks: expected a whole number >= 1"),
        (["degrade", "in.nc", "out.nc", "--chunks", "-4"], r"expected a whole number >= 1"),
        (["run", "in.nc", "out.nc", "--threads", "-2"], r"--threads: expected a whole number >="),
        (["run", "in.nc", "out.nc", "--threads", "two"], r"got 'two'"),
    ],
)
def test_unknown_output_suffixes_are_usage_errors(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.build_parser().parse_args(argv)
    assert exit_info.value.code == 2
    assert re.search(message, capsys.readouterr().err)
    for good in ("out.NC", "out.nc4", "out.zarr/", "OUT.ZARR"):
        assert cli._data_output(good) == good


def test_run_to_zarr_and_lr_input(files: dict[str, Path], tmp_path: Path) -> None:
    lr = tmp_path / "lr.nc"
    assert cli.main(["--quiet", "degrade", str(files["l1b"]), str(lr)]) == 0
    out = tmp_path / "sr.zarr"
    assert cli.main(run_args(files, lr, out, "--quiet")) == 0
    with xr.open_zarr(out) as written:
        assert written.radiance.shape == (32, 24, N_CHANNEL)
        assert written.attrs["s5p_band"] == 7


def test_degrade_matches_library_and_noise_option(files: dict[str, Path], tmp_path: Path) -> None:
    hr = l1b.open_l1b(files["l1b"], chunks=None)
    out = tmp_path / "lr.nc"
    assert cli.main(["-q", "degrade", str(files["l1b"]), str(out)]) == 0
    with xr.open_dataset(out) as written:
        np.testing.assert_array_equal(written.radiance, hr.s5sr.degrade().radiance)
    noisy = tmp_path / "noisy.nc"
    args = ["-q", "degrade", str(files["l1b"]), str(noisy), "--noise", "1e-9", "--seed", "3"]
    assert cli.main(args) == 0
    with xr.open_dataset(noisy) as written:
        expected = hr.s5sr.degrade(noise=1e-9, seed=3).radiance
        np.testing.assert_allclose(
            written.radiance, expected, rtol=1e-6, atol=1e-6 * float(np.abs(expected).max())
        )


def test_bad_noise_value_is_a_usage_error(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["degrade", str(files["l1b"]), str(tmp_path / "x.nc"), "--noise", "loud"]
    assert cli.main(args) == 2
    assert "expected 'lr', 'hr' or a sigma" in capsys.readouterr().err


# ------------------------------------------------------------------ errors and output policy
def test_refuses_to_overwrite_without_flag(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "sr.nc"
    out.write_bytes(b"precious")
    assert cli.main(run_args(files, files["l1b"], out)) == 2
    assert one_line_error(capsys.readouterr().err).endswith("(command line: add --overwrite)")
    assert out.read_bytes() == b"precious"
    assert cli.main(run_args(files, files["l1b"], out, "--overwrite", "-q")) == 0
    with xr.open_dataset(out) as written:
        assert written.radiance.shape == (128, 96, N_CHANNEL)


def test_errors_are_one_line_unless_debug(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nope.nc"
    assert cli.main(["run", str(missing), str(tmp_path / "o.nc")]) == 2
    line = one_line_error(capsys.readouterr().err)
    assert str(missing) in line
    assert cli.main(["--debug", "run", str(missing), str(tmp_path / "o.nc")]) == 2
    err = capsys.readouterr().err
    assert "Traceback" in err
    assert err.splitlines()[-1].startswith("error: No such input")


def test_not_a_radiance_file_reports_the_l1b_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = tmp_path / "other.nc"
    xr.Dataset({"a": ("x", np.arange(3.0))}).to_netcdf(other)
    assert cli.main(["degrade", str(other), str(tmp_path / "o.nc")]) == 2
    assert "is not a Sentinel-5P L1B radiance file" in one_line_error(capsys.readouterr().err)


def test_s5sr_error_exit_code_2(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["run", str(files["l1b"]), str(tmp_path / "o.nc"), "--band", "3", "--weights",
            str(files["weights"])]  # fmt: skip
    assert cli.main(args) == 2
    assert "BAND3_RADIANCE" in one_line_error(capsys.readouterr().err)


def test_unexpected_error_exit_code_1(
    files: dict[str, Path], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken(args: argparse.Namespace) -> int:
        raise RuntimeError("boom\nsecond line")

    monkeypatch.setattr(cli, "_cmd_degrade", broken)
    assert cli.main(["degrade", str(files["l1b"]), "x.nc"]) == 1
    line = one_line_error(capsys.readouterr().err)
    assert line.startswith("error: unexpected RuntimeError: boom second line")


def test_usage_version_and_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main([]) == 2
    assert "choose a command" in capsys.readouterr().err
    assert cli.main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"xr-s5sr {xr_s5sr.__version__}"
    assert cli.main(["--help"]) == 0
    out = capsys.readouterr().out
    for command in ("demo", "run", "degrade", "evaluate", "quicklook", "train",
                    "fetch-weights", "show-versions"):  # fmt: skip
        assert command in out
    assert cli.main(["run"]) == 2  # missing positional arguments
    assert "required" in capsys.readouterr().err


def test_show_versions(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["show-versions"]) == 0
    out = capsys.readouterr().out
    assert f"xr_s5sr: {xr_s5sr.__version__}" in out
    assert "torch:" in out


# ------------------------------------------------------------------ evaluate / quicklook
@pytest.fixture(scope="module")
def products(files: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("products")
    lr, sr = root / "lr.nc", root / "sr.nc"
    assert cli.main(["-q", "degrade", str(files["l1b"]), str(lr)]) == 0
    assert cli.main(run_args(files, lr, sr, "-q")) == 0
    return {"lr": lr, "sr": sr}


def test_evaluate_prints_table_and_writes_scores(
    files: dict[str, Path],
    products: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    scores_path = tmp_path / "scores.nc"
    args = ["evaluate", str(products["sr"]), str(files["l1b"]), "--paper", "--out",
            str(scores_path), "-q"]  # fmt: skip
    assert cli.main(args) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    lines = captured.out.splitlines()
    assert lines[0].split()[:3] == ["model", "psnr", "[dB]"]
    assert "paper_ssim" in lines[0]
    assert lines[1].startswith("s5dscr_s")
    assert lines[2].startswith("bicubic")
    assert lines[3].startswith("PSNR gain of s5dscr_s over bicubic:")
    hr = l1b.open_l1b(files["l1b"], chunks=None)
    with xr.open_dataset(products["sr"]) as sr:
        expected = sr.s5sr.evaluate(hr, paper_compatible=True)
    with xr.open_dataset(scores_path) as written:
        np.testing.assert_allclose(written.psnr, expected.psnr, rtol=1e-9, atol=0)
        np.testing.assert_allclose(written.paper_scc, expected.paper_scc, rtol=1e-9, atol=1e-12)
    assert f"{float(expected.psnr[0]):.2f}" in lines[1]
    # Every metric in which the estimate is worse than bicubic: one warning line each, the
    # same as the scores' worse_than_bicubic (issue 26.2).
    flagged = str(expected.worse_than_bicubic.sel(model="s5dscr_s").values)
    warnings = [line for line in lines[4:] if line.startswith("⚠ ")]
    assert [line.split()[1] for line in warnings] == (flagged.split(",") if flagged else [])
    for line in warnings:
        metric = line.split()[1]
        ours, theirs = (float(expected[metric].sel(model=m)) for m in ("s5dscr_s", "bicubic"))
        form = "{:.2f}" if metric.endswith("psnr") else "{:.3f}" if metric == "sam" else None
        if form is not None:
            assert f"({form.format(ours)} vs {form.format(theirs)}" in line


def test_evaluate_flags_each_metric_worse_than_bicubic(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # An estimate that is bicubic with negative lobes added: worse in every metric.
    hr = l1b.open_l1b(files["l1b"], chunks=None)
    bicubic = hr.s5sr.degrade().s5sr.bicubic()
    spoiled = bicubic.copy()
    noise = np.random.default_rng(0).standard_normal(bicubic.radiance.shape)
    spoiled["radiance"] = bicubic.radiance + 3 * float(bicubic.radiance.std()) * noise
    spoiled.attrs["s5sr_model"] = "spoiled"
    path = tmp_path / "spoiled.nc"
    xr_s5sr.to_netcdf(spoiled, path)
    assert cli.main(["evaluate", str(path), str(files["l1b"]), "-q"]) == 0
    warnings = [line for line in capsys.readouterr().out.splitlines() if line.startswith("⚠")]
    metrics = [line.split()[1] for line in warnings]
    assert {"psnr", "ssim", "sam", "rmse", "negative_fraction"} <= set(metrics)
    scores = spoiled.s5sr.evaluate(hr)
    negative = scores.negative_fraction.values
    assert negative[0] > 0.1, negative  # spoiled
    assert negative[1] < 0.01, negative  # bicubic
    assert set(str(scores.worse_than_bicubic.values[0]).split(",")) == set(metrics)
    assert str(scores.worse_than_bicubic.values[1]) == ""  # bicubic itself


def test_quicklook_command_writes_pngs(
    files: dict[str, Path], products: dict[str, Path], tmp_path: Path
) -> None:
    png, spectrum = tmp_path / "ql.png", tmp_path / "spectrum.png"
    radiance_map = tmp_path / "map.png"
    args = ["quicklook", str(products["lr"]), str(products["sr"]), str(png), "--hr",
            str(files["l1b"]), "--spectrum", str(spectrum), "--pixel", "5", "6", "-q",
            "--radiance-map", str(radiance_map), "--wavelength", "2330"]  # fmt: skip
    assert cli.main(args) == 0
    for path in (png, spectrum, radiance_map):
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert path.stat().st_size > 5_000
    assert cli.main(args) == 2  # refuses to overwrite
    assert cli.main([*args, "--overwrite", "--no-bicubic"]) == 0


# ------------------------------------------------------------------ demo
@pytest.fixture(scope="module")
def demo_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Random S5-DSCR-S weights with the channel count of the band-7 demo granule."""
    if 7 in synthetic.sample_bands():
        channels = l1b.open_l1b(synthetic.sample_path(7)).sizes["spectral_channel"]
    else:
        channels = get_band(7).spectral_channels
    path = tmp_path_factory.mktemp("demo_weights") / "s5dscr_s_band7.safetensors"
    save_weights(build_model("s5dscr_s", channels), path, band=7, model_name="s5dscr_s")
    return path


def test_demo_writes_outputs_and_table(
    demo_weights: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "demo"
    args = ["demo", "--out", str(out), "--model", "s5dscr_s", "--weights", str(demo_weights)]
    assert cli.main(args) == 0
    captured = capsys.readouterr()
    sr_path, png_path = out / "demo_sr_band7.nc", out / "demo_quicklook_band7.png"
    assert f"wrote {sr_path}" in captured.err
    assert f"wrote {png_path}" in captured.err
    assert png_path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    lines = captured.out.splitlines()
    assert lines[0].split() == ["model", "psnr", "[dB]", "ssim", "sam", "[degree]"]
    assert lines[1].startswith("s5dscr_s")
    assert lines[2].startswith("bicubic")
    assert lines[3].startswith("backprojection")  # the training-free yardstick
    assert lines[4].startswith("PSNR gain of s5dscr_s over bicubic:")
    # The method against both yardsticks, and every metric in which it is worse named.
    table = {row.split()[0]: [float(v) for v in row.split()[1:]] for row in lines[1:4]}
    assert lines[5].startswith("s5dscr_s - bicubic: psnr ")
    assert lines[6].startswith("s5dscr_s - backprojection: psnr ")
    for line, other in ((lines[7], "bicubic"), (lines[8], "backprojection")):
        assert line.startswith(f"worse than {other} in: ")
        ours, theirs = table["s5dscr_s"], table[other]
        worse = [
            name
            for name, a, b, higher in zip(
                ("psnr", "ssim", "sam"), ours, theirs, (True, True, False), strict=True
            )
            if (a < b if higher else a > b)
        ]
        named = re.findall(r"(\w+) \(", line)
        # Every printed metric that is worse is named, in the table's order; so are the
        # scores not printed (line depth, negative fraction, ERGAS, ...) that are worse.
        assert [n for n in named if n in ("psnr", "ssim", "sam")] == worse, (line, worse)
        assert set(named) <= {"psnr", "ssim", "scc", "sam", "ergas", "rmse",
                              "line_depth_error", "negative_fraction"}  # fmt: skip
        assert named or line.endswith(": none")
    with xr.open_dataset(sr_path) as sr:
        assert sr.radiance.shape[:2] == (128, 64)
        assert sr.attrs["s5sr_model"] == "s5dscr_s"
    # The README command run again works: the demo replaces its own outputs.
    before = sr_path.stat().st_mtime_ns
    assert cli.main([*args, "--quiet"]) == 0
    rerun = capsys.readouterr()
    assert rerun.err == ""
    assert rerun.out.splitlines() == lines  # deterministic
    assert sr_path.stat().st_mtime_ns > before
    assert sorted(p.name for p in out.iterdir()) == [png_path.name, sr_path.name]


def test_demo_runs_without_matplotlib(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A plain install (no "plot" extra) still runs the demo: scores, no PNG."""
    from xr_s5sr import quicklook
    from xr_s5sr.errors import MissingDependencyError

    def no_matplotlib(**kwargs: object) -> None:
        raise MissingDependencyError("Quicklooks need matplotlib, which could not be imported")

    monkeypatch.setattr(quicklook, "new_figure", no_matplotlib)
    out = tmp_path / "demo"
    assert cli.main(["demo", "--out", str(out), "--model", "backprojection"]) == 0
    captured = capsys.readouterr()
    assert "skipped the quicklook PNG: Quicklooks need matplotlib" in captured.err
    assert not (out / "demo_quicklook_band7.png").exists()
    assert (out / "demo_sr_band7.nc").exists()
    assert captured.out.splitlines()[1].startswith("backprojection")


def test_demo_checks_weights_before_writing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "demo"
    missing = tmp_path / "missing.safetensors"
    assert cli.main(["demo", "--out", str(out), "--weights", str(missing)]) == 2
    assert str(missing) in one_line_error(capsys.readouterr().err)
    assert not out.exists()


# ------------------------------------------------------------------ lazily wired commands
def test_train_is_wired_lazily(
    files: dict[str, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    calls: list[argparse.Namespace] = []
    fake = types.ModuleType("xr_s5sr.train")

    def add_arguments(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--band", type=int, required=True)

    def run_from_args(args: argparse.Namespace) -> int:
        calls.append(args)
        return 0

    fake.add_arguments, fake.run_from_args = add_arguments, run_from_args  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "xr_s5sr.train", fake)
    assert cli.main(["--quiet", "train", "--band", "5"]) == 0
    assert calls[0].band == 5
    assert calls[0].quiet is True
    # A broken train module breaks neither other commands nor the error contract.
    monkeypatch.setitem(sys.modules, "xr_s5sr.train", None)
    assert cli.main(["-q", "degrade", str(files["l1b"]), str(tmp_path / "lr.nc")]) == 0
    assert cli.main(["train", "--band", "5"]) == 2
    assert "xr_s5sr.train" in one_line_error(capsys.readouterr().err)


@pytest.mark.parametrize("command", ["demo", "run", "degrade", "train", "finetune"])
def test_own_help_describes_the_command(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    """`xr-s5sr finetune --help` said "(see xr-s5sr finetune --help)" about itself."""
    assert cli.main([command, "--help"]) == 0
    out = capsys.readouterr().out
    assert f"{command} --help" not in out
    description = out.split("\n\n")[1]  # usage, description, options
    assert len(description.split()) >= 5, description


def test_fetch_weights_is_wired(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    seen: dict[str, object] = {}

    def fake_fetch(bands: object = None, models: object = None, progress: bool = True) -> list:
        seen.update(bands=bands, models=models, progress=progress)
        return [Path("/cache/s5dscr_band7.safetensors"), Path("/cache/s5dscr_band7.json")]

    monkeypatch.setattr("xr_s5sr.weights.fetch_weights", fake_fetch)
    assert cli.main(["fetch-weights", "--band", "7", "8", "--model", "s5dscr", "-q"]) == 0
    assert seen == {"bands": [7, 8], "models": ["s5dscr"], "progress": False}
    assert capsys.readouterr().out.split() == [
        "/cache/s5dscr_band7.safetensors",
        "/cache/s5dscr_band7.json",
    ]


def test_progress_bar_on_stderr_unless_quiet(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import time

    import dask

    slow = dask.delayed(time.sleep)(1.2)
    with compute_progress(quiet=True):
        slow.compute(scheduler="threads")
    assert capsys.readouterr() == ("", "")
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)  # a terminal: dask's bar
    with compute_progress(quiet=False):
        slow.compute(scheduler="threads")
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "100% Completed" in captured.err
