"""The ``xr-s5sr`` command line: demo, super-resolve, degrade, evaluate, assess, quicklook, …

Boundary: argument parsing, opening inputs, writing outputs and reporting. Every computation is
delegated to the library (``.s5sr`` accessor, :mod:`xr_s5sr.evaluate`, :mod:`xr_s5sr.quicklook`,
:mod:`xr_s5sr.train`, :mod:`xr_s5sr.weights`); torch-heavy modules are imported only by the
subcommand that needs them, so ``xr-s5sr --help`` stays fast. The flags of ``train`` and
``finetune`` are built in :mod:`xr_s5sr.cli_training` (one loop over each settings dataclass)
and reach this parser through ``add_arguments`` of :mod:`xr_s5sr.train` / :mod:`xr_s5sr.selfsup`,
imported only when that command runs.

Conventions
-----------
* Inputs: a file with a ``BAND<n>_RADIANCE`` group is read with :func:`xr_s5sr.l1b.open_l1b`;
  otherwise (a file written by this package, e.g. ``super-resolve`` (alias ``run``) or
  ``degrade`` output) it is opened with :func:`xarray.open_dataset`, and a directory or
  ``*.zarr`` store with :func:`xarray.open_zarr`. The L1B reader is tried first; its error is
  reported when the flat file has no ``radiance``.
* Outputs: written atomically (temporary file, then rename) and compressed, by
  :func:`xr_s5sr.store.to_zarr` for a ``.zarr`` suffix (any case, see
  :func:`xr_s5sr.store.is_zarr_path`), else by :func:`xr_s5sr.store.to_netcdf`; an existing
  output is never replaced without ``--overwrite``.
* Messages: results (metrics tables, paths of fetched files, versions) go to stdout; progress
  bars and "wrote …" notes go to stderr and are silenced by ``--quiet``.
* Errors: one line ``error: <message>`` on stderr. Exit code 2 for expected failures
  (:class:`~xr_s5sr.errors.S5SRError`, missing or unwritable paths, missing optional
  dependencies, usage errors), 1 for anything unexpected, 130 when interrupted. ``--debug``
  prints the full traceback too.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from xr_s5sr.bands import SUPPORTED_BANDS
from xr_s5sr.cli_training import add_device_option
from xr_s5sr.demo import DEMO_DIR
from xr_s5sr.dims import check_chunk_size
from xr_s5sr.errors import (
    L1BFormatError,
    MissingInputError,
    OutputExistsError,
    S5SRError,
)
from xr_s5sr.options import (
    AUTO,
    COMPUTE_DTYPES,
    METHOD_FLAGS,
    MISSING_POLICIES,
    MODELS,
    SuperResolveOptions,
    check_regularisation,
)
from xr_s5sr.progress import compute_progress

if TYPE_CHECKING:
    import xarray as xr

EXIT_OK, EXIT_UNEXPECTED, EXIT_ERROR, EXIT_INTERRUPTED = 0, 1, 2, 130


# ---------------------------------------------------------------------------- helpers
def _info(args: argparse.Namespace, message: str) -> None:
    """A progress note on stderr, silenced by ``--quiet``."""
    if not args.quiet:
        print(message, file=sys.stderr)


def open_input(
    path: str | os.PathLike[str], band: int | None = None, chunks: int | None = None
) -> xr.Dataset:
    """Open an L1B product or a file written by xr_s5sr (see the module docstring).

    Parameters
    ----------
    path : path-like
        L1B radiance file, flat netCDF with a ``radiance`` variable, or ``*.zarr`` store.
    band : int, optional
        Band to read from L1B files holding several bands.
    chunks : int, optional
        Scanlines per dask chunk (default: the reader's automatic scanline chunks).

    Returns
    -------
    xarray.Dataset
        dask-backed (lazy) radiance Dataset.
    """
    import xarray as xr

    from xr_s5sr.l1b import open_l1b
    from xr_s5sr.store import is_zarr_path

    if chunks is not None:
        check_chunk_size(chunks, "chunks", whole=False)
    source = Path(path)
    if not source.exists():
        raise MissingInputError(f"No such input: {source}. Check the path.")
    flat_chunks: dict[str, int] = {} if chunks is None else {"scanline": chunks}
    if source.is_dir() or is_zarr_path(source):
        return xr.open_zarr(source, chunks=flat_chunks)
    try:
        return open_l1b(source, band=band, chunks="auto-scanline" if chunks is None else chunks)
    except L1BFormatError as l1b_error:
        try:
            flat = xr.open_dataset(source, chunks=flat_chunks)
        except (OSError, ValueError):
            raise l1b_error from None
        if "radiance" not in flat.data_vars:
            flat.close()
            raise l1b_error from None
        return flat


def _write(ds: xr.Dataset, path: str, overwrite: bool, lr: xr.Dataset | None = None) -> Path:
    """Atomic, compressed write: Zarr for a ``.zarr`` suffix (any case), else netCDF;
    ``lr``: the input of a super-resolved ``ds`` (its report goes into the attributes)."""
    from xr_s5sr.store import is_zarr_path, to_netcdf, to_zarr

    if is_zarr_path(path):
        return to_zarr(ds, path, overwrite=overwrite, lr=lr)
    return to_netcdf(ds, path, overwrite=overwrite, lr=lr)


def _data_output(text: str) -> str:
    """An output path for radiance or scores: a suffix the writers know (any case)."""
    from xr_s5sr.store import NETCDF_SUFFIXES, ZARR_SUFFIX

    known = (*NETCDF_SUFFIXES, ZARR_SUFFIX)
    suffix = Path(text).suffix.lower()
    if suffix not in known:
        raise argparse.ArgumentTypeError(
            f"{text!r}: unknown output format {suffix or '(no suffix)'!r}; name a netCDF file "
            f"or a Zarr store ({', '.join(known)})"
        )
    return text


def _png_output(text: str) -> str:
    """An output path for a figure: PNG only."""
    if Path(text).suffix.lower() != ".png":
        raise argparse.ArgumentTypeError(f"{text!r}: figures are written as PNG; use a .png name")
    return text


def _noise(text: str) -> str | float:
    """``--noise`` value: "lr", "hr" or a sigma in radiance units."""
    if text in ("lr", "hr"):
        return text
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected 'lr', 'hr' or a sigma in radiance units, got {text!r}"
        ) from None


def _positive_int(text: str) -> int:
    """A count of at least 1 (``--chunks``, ``--threads``; argparse type)."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return value


def _regularisation(text: str) -> float | str:
    """``--regularisation``: "auto" or a number, checked by the one rule of
    :func:`xr_s5sr.options.check_regularisation` (argparse type)."""
    try:
        return check_regularisation(text if text == AUTO else float(text))
    except (ValueError, S5SRError) as error:
        raise argparse.ArgumentTypeError(
            f"expected 'auto' or a number >= 0, got {text!r}"
        ) from error


def _options(args: argparse.Namespace) -> SuperResolveOptions:
    """The one options object of ``--band``, the method flags (:func:`_add_model_options`,
    same names as the options) and, where the command has them, ``--dtype``/``--threads``."""
    named = ("band", "model", "weights", "device", "consistency", "regularisation", "missing")
    return SuperResolveOptions(
        **{name: getattr(args, name) for name in (*named, *METHOD_FLAGS)},
        torch_threads=getattr(args, "threads", None),
        dtype=getattr(args, "dtype", "float32"),
    )


# ---------------------------------------------------------------------------- subcommands
def _cmd_run(args: argparse.Namespace) -> int:
    from xr_s5sr.plausibility import plausibility_report, summary_line

    options = _options(args)
    ds = open_input(args.input, band=args.band, chunks=args.chunks)
    sr = ds.s5sr.super_resolve_with(options)
    written = _write(sr, args.output, args.overwrite, lr=ds)
    _info(args, f"wrote {written}")
    # The report's numbers, read back from the output's attributes.
    with open_input(str(written), band=args.band) as back:
        print(summary_line(plausibility_report(back)))
    return EXIT_OK


def _open_arguments(
    args: argparse.Namespace, *required: str, optional: str
) -> tuple[list[xr.Dataset], xr.Dataset | None]:
    """The files of the arguments ``required`` and ``optional`` (None when not given), opened
    with ``--band``."""
    extra = getattr(args, optional)
    opened = [open_input(getattr(args, name), band=args.band) for name in required]
    return opened, None if extra is None else open_input(extra, band=args.band)


def _cmd_degrade(args: argparse.Namespace) -> int:
    ds = open_input(args.input, band=args.band, chunks=args.chunks)
    lr = ds.s5sr.degrade(band=args.band, noise=args.noise, seed=args.seed)
    _info(args, f"wrote {_write(lr, args.output, args.overwrite)}")
    return EXIT_OK


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from xr_s5sr.evaluate import evaluate_dataset, metrics_table, warning_lines

    (estimate, reference), baseline = _open_arguments(
        args, "estimate", "reference", optional="baseline"
    )
    scores = evaluate_dataset(
        estimate,
        reference,
        baseline=baseline,
        variable=args.variable,
        paper_compatible=args.paper,
        border=args.border,
        band=args.band,
        toolbox=args.toolbox,
    )
    print(metrics_table(scores, reference_method=str(scores["model"].values[1])))
    for line in warning_lines(scores):
        print(line)
    if args.out is not None:
        _info(args, f"wrote {_write(scores, args.out, args.overwrite)}")
    return EXIT_OK


def _cmd_assess(args: argparse.Namespace) -> int:
    from xr_s5sr.assess import assess_table, save_assess_figure

    for path in args.input:
        ds = open_input(path, band=args.band)
        scores = ds.s5sr.assess(
            band=args.band,
            methods=args.method,
            weights=args.weights or (),
            variable=args.variable,
            sigma=args.sigma,
            device=args.device,
            torch_threads=args.threads,
        )
        print(f"== {path}")
        print(assess_table(scores))
        stem = Path(path).stem
        if args.out is not None:
            target = Path(args.out.format(stem=stem))
            _info(args, f"wrote {_write(scores, str(target), args.overwrite)}")
        if args.figure is not None:
            figure = Path(args.figure.format(stem=stem))
            _info(args, f"wrote {save_assess_figure(scores, figure, overwrite=args.overwrite)}")
    return EXIT_OK


def _cmd_quicklook(args: argparse.Namespace) -> int:
    from xr_s5sr.quicklook import save_quicklook, save_radiance_map, save_spectrum

    (lr, sr), hr = _open_arguments(args, "lr", "sr", optional="hr")
    bicubic = None if args.no_bicubic else lr.s5sr.bicubic(band=args.band)
    common = {"band": args.band, "variable": args.variable, "overwrite": args.overwrite}
    path = save_quicklook(lr, sr, hr, path=args.output, bicubic=bicubic, **common)
    _info(args, f"wrote {path}")
    if args.spectrum is not None:
        pixel = None if args.pixel is None else tuple(args.pixel)
        _info(args, f"wrote {save_spectrum(lr, sr, hr, path=args.spectrum, pixel=pixel, **common)}")
    if args.radiance_map is not None:
        written = save_radiance_map(
            lr, sr, hr, path=args.radiance_map, wavelength=args.wavelength, **common
        )
        _info(args, f"wrote {written}")
    return EXIT_OK


def _cmd_demo(args: argparse.Namespace) -> int:
    from xr_s5sr.demo import DEMO_METRICS, comparison_lines, run_demo
    from xr_s5sr.evaluate import metrics_table

    scores = run_demo(
        args.band,
        args.out,
        _options(args),
        regenerate_granule=args.overwrite,
        info=lambda message: _info(args, message),
    )
    print(metrics_table(scores, list(DEMO_METRICS), reference_method="bicubic"))
    print("\n".join(comparison_lines(scores)))
    return EXIT_OK


def _cmd_fetch_weights(args: argparse.Namespace) -> int:
    from xr_s5sr.weights import fetch_weights

    for path in fetch_weights(bands=args.band, models=args.model, progress=not args.quiet):
        print(path)
    return EXIT_OK


def _cmd_show_versions(args: argparse.Namespace) -> int:
    from xr_s5sr.versions import show_versions

    show_versions()
    return EXIT_OK


def _cmd_train(args: argparse.Namespace) -> int:
    from xr_s5sr.train import run_from_args

    return run_from_args(args)


def _cmd_finetune(args: argparse.Namespace) -> int:
    from xr_s5sr.selfsup import run_from_args

    return run_from_args(args)


# ---------------------------------------------------------------------------- parser
def _add_model_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model",
        default="s5dscr",
        choices=MODELS,
        help="shipped network, or a training-free method (default: s5dscr)",
    )
    parser.add_argument(
        "--weights", default=None, help="weights file to use instead of the shipped weights"
    )
    add_device_option(parser)
    parser.add_argument(
        "--consistency",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="project the result so that degrading it gives back the input "
        "(default: on, except for bicubic)",
    )
    parser.add_argument(
        "--regularisation",
        type=_regularisation,
        default="auto",
        metavar="MU",
        help="Tikhonov weight of the physics steps: 'auto' (default) chooses it per window "
        "from the noise in the data; 0 is exact data consistency (docs/physics.md)",
    )
    for flag, text in (
        ("--nonnegative", "non-negative radiance consistent with the data (default: on; "
         "--no-nonnegative: the consistency projection alone)"),
        ("--spectral-prior", "the granule's own spectral subspace as a prior (default: on)"),
    ):  # fmt: skip
        parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=True, help=text)
    parser.add_argument(
        "--spectral-composition",
        action="store_true",
        help="networks: the estimate's spectra take the interpolated data's shape before the "
        "consistency step: a lower spectral angle, a larger misfit (docs/physics.md)",
    )
    parser.add_argument(
        "--sharp-prior",
        action="store_true",
        help="with the spectral prior, choose mu and the detail gate for the denoised data: "
        "sharper, but the spectral angle may exceed bicubic's (docs/physics.md)",
    )
    parser.add_argument(
        "--missing",
        choices=MISSING_POLICIES,
        default="fill",
        help="missing LR values: fill them and blank their 4x4 HR footprint, or blank "
        "everything they influence (default: fill)",
    )


def _add_band_option(parser: argparse.ArgumentParser, source: str = "file") -> None:
    """``--band`` of the commands that read radiance files (default: their ``s5p_band``)."""
    parser.add_argument(
        "--band", type=int, default=None, help=f"S5P band (default: from the {source})"
    )


def _add_variable_option(parser: argparse.ArgumentParser) -> None:
    """``--variable``: the radiance variable of files with several."""
    parser.add_argument("--variable", default=None, help="radiance variable (default: radiance)")


def _add_overwrite_option(
    parser: argparse.ArgumentParser, outputs: str = "an existing output"
) -> None:
    """``--overwrite``: without it an existing output is never replaced (module docstring)."""
    parser.add_argument("--overwrite", action="store_true", help=f"replace {outputs}")


def _global_options(parser: argparse.ArgumentParser, default: Any) -> None:
    parser.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        default=default,
        help="no progress bars or notes; print results only",
    )
    parser.add_argument(
        "--debug", action="store_true", default=default, help="print the full traceback on errors"
    )


def build_parser(with_train: bool = False, with_finetune: bool = False) -> argparse.ArgumentParser:
    """The ``xr-s5sr`` argument parser.

    Parameters
    ----------
    with_train : bool, default False
        Add the real ``train`` options (imports :mod:`xr_s5sr.train`, hence torch); otherwise
        ``train`` is listed with a placeholder so other commands start fast.
    with_finetune : bool, default False
        The same for ``finetune`` (imports :mod:`xr_s5sr.selfsup`).
    """
    from xr_s5sr._version import __version__

    parser = argparse.ArgumentParser(
        prog="xr-s5sr",
        description="Sentinel-5P L1B radiance x4 super-resolution (S5-DSCR) from the shell.",
    )
    _global_options(parser, default=False)
    parser.set_defaults(handler=None)
    # Subcommands accept the global options too; SUPPRESS keeps a value given before the
    # subcommand. Separate option objects: argparse parents share them, and a default set on
    # the main parser would then reset the subcommand's.
    shared = argparse.ArgumentParser(add_help=False)
    _global_options(shared, default=argparse.SUPPRESS)
    parser.add_argument("--version", action="version", version=f"xr-s5sr {__version__}")
    sub = parser.add_subparsers(title="commands", dest="command", metavar="COMMAND")

    def command(
        name: str,
        handler: Callable[[argparse.Namespace], int],
        help: str,
        description: str | None = None,
        **kwargs: Any,
    ) -> argparse.ArgumentParser:
        """A subcommand; ``help`` is its line in ``xr-s5sr --help``, ``description`` heads its
        own ``--help`` (default: ``help``)."""
        p = sub.add_parser(
            name, help=help, description=description or help, parents=[shared], **kwargs
        )
        p.set_defaults(handler=handler)
        return p

    p = command(
        "demo",
        _cmd_demo,
        "sample granule -> degrade -> super-resolve -> metrics + PNG",
        "Degrade the band's sample granule, super-resolve it, and score the result against "
        "the original beside bicubic and the physics inverse (backprojection), naming every "
        "metric in which it is worse. Each run replaces the demo's own outputs in --out.",
    )
    p.add_argument("--band", type=int, default=7, choices=SUPPORTED_BANDS, help="(default: 7)")
    p.add_argument("--out", default=DEMO_DIR, help=f"output directory (default: ./{DEMO_DIR})")
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="also rewrite the synthetic input granule of a band without a sample (the "
        "outputs are replaced on every run)",
    )
    _add_model_options(p)

    p = command("super-resolve", _cmd_run, "super-resolve an L1B (or LR) file x4", aliases=["run"])
    p.add_argument("input", help="L1B radiance file, or a netCDF/Zarr LR file from xr-s5sr")
    p.add_argument("output", type=_data_output, help="output .nc or .zarr")
    _add_band_option(p)
    _add_model_options(p)
    p.add_argument("--chunks", type=_positive_int, default=None, help="LR scanlines per dask chunk")
    p.add_argument(
        "--dtype",
        default="float32",
        choices=COMPUTE_DTYPES,
        help="compute precision (float16: CUDA only; output is float32)",
    )
    p.add_argument(
        "--threads", type=_positive_int, default=None, help="torch threads per task (>= 1)"
    )
    _add_overwrite_option(p)

    p = command("degrade", _cmd_degrade, "simulate the LR observation (MTF blur + x4 decimation)")
    p.add_argument("input", help="HR L1B radiance file or netCDF/Zarr radiance")
    p.add_argument("output", type=_data_output, help="output .nc or .zarr")
    _add_band_option(p)
    p.add_argument(
        "--noise",
        type=_noise,
        default=None,
        help="'lr', 'hr' or a sigma in radiance units (default: no noise)",
    )
    p.add_argument("--seed", type=int, default=None, help="noise seed")
    p.add_argument("--chunks", type=_positive_int, default=None, help="HR scanlines per dask chunk")
    _add_overwrite_option(p)

    p = command("evaluate", _cmd_evaluate, "metrics of an estimate and a baseline vs HR truth")
    p.add_argument("estimate", help="super-resolved file (e.g. xr-s5sr run output)")
    p.add_argument("reference", help="HR truth (L1B file or netCDF/Zarr)")
    p.add_argument(
        "--baseline",
        default=None,
        help="baseline file (default: bicubic of the degraded reference)",
    )
    _add_band_option(p, "files")
    _add_variable_option(p)
    p.add_argument("--border", type=int, default=0, help="HR pixels cropped on each side")
    p.add_argument("--paper", action="store_true", help="add the paper-compatible metrics")
    p.add_argument(
        "--toolbox", action="store_true", help="add the S5P_SISR_Toolbox's indexes (Q2n, ...)"
    )
    p.add_argument(
        "--out", type=_data_output, default=None, help="also write the scores to this .nc/.zarr"
    )
    _add_overwrite_option(p, "an existing --out")

    p = command("assess", _cmd_assess, "is it working on my data? scores without HR (per file)")
    p.add_argument("input", nargs="+", help="LR L1B radiance files (or netCDF/Zarr regions)")
    _add_band_option(p)
    p.add_argument(
        "--method",
        nargs="+",
        default=None,
        help="bicubic backprojection s5dscr s5dscr_s (default: the first three)",
    )
    p.add_argument("--weights", nargs="+", default=None, help="weights files to assess too")
    _add_variable_option(p)
    p.add_argument("--sigma", type=float, default=None, help="noise sigma when the file has none")
    add_device_option(p)
    p.add_argument("--threads", type=int, default=None, help="torch threads")
    p.add_argument("--out", default=None, help="write the scores to this .nc ({stem}: file name)")
    p.add_argument("--figure", default=None, help="write a PNG of the scores ({stem}: file name)")
    _add_overwrite_option(p, "existing outputs")

    p = command("quicklook", _cmd_quicklook, "PCA false-colour PNG of LR | HR | SR | bicubic")
    p.add_argument("lr", help="LR radiance (L1B or netCDF/Zarr)")
    p.add_argument("sr", help="super-resolved radiance")
    p.add_argument("output", type=_png_output, help="output PNG")
    p.add_argument("--hr", default=None, help="HR truth: PCA fitted on it, metrics in the title")
    p.add_argument("--no-bicubic", action="store_true", help="omit the bicubic panel")
    p.add_argument(
        "--spectrum", type=_png_output, default=None, help="also write a spectrum plot PNG here"
    )
    p.add_argument(
        "--pixel",
        type=int,
        nargs=2,
        default=None,
        metavar=("SCANLINE", "PIXEL"),
        help="HR pixel of the spectrum plot (default: centre)",
    )
    p.add_argument(
        "--radiance-map",
        type=_png_output,
        default=None,
        help="also write radiance maps (LR, SR, HR, SR - HR) at one wavelength to this PNG",
    )
    p.add_argument(
        "--wavelength",
        type=float,
        default=None,
        help="wavelength of the radiance maps, nm (default: the middle channel)",
    )
    _add_band_option(p, "files")
    _add_variable_option(p)
    _add_overwrite_option(p, "existing PNGs")

    train_help = "train an S5-DSCR model (see xr-s5sr train --help)"
    train_description = (
        "Train an S5-DSCR model of one band on synthetic scenes and/or L1B granules (HR "
        "truth, degraded to LR by the band's model); writes the checkpoint, the weights and "
        "their model card into --out, and resumes an interrupted run there."
    )
    if with_train:
        from xr_s5sr.train import add_arguments

        add_arguments(command("train", _cmd_train, train_help, train_description))
    else:
        command("train", _cmd_train, train_help, add_help=False)

    finetune_help = "self-supervised fine-tuning on LR granules (see xr-s5sr finetune --help)"
    finetune_description = (
        "Fine-tune S5-DSCR weights (default: the shipped ones of --band/--model) on your own LR "
        "L1B granules, without HR truth: losses of data consistency, SURE and equivariance. "
        "Writes the weights, their model card and the HR-free checks on --check granules into "
        "--out (docs/finetune.md)."
    )
    if with_finetune:
        from xr_s5sr.selfsup import add_arguments as add_finetune_arguments

        add_finetune_arguments(
            command("finetune", _cmd_finetune, finetune_help, finetune_description)
        )
    else:
        command("finetune", _cmd_finetune, finetune_help, add_help=False)

    p = command("fetch-weights", _cmd_fetch_weights, "download shipped weights into the cache")
    p.add_argument("--band", type=int, nargs="+", default=None, help="bands (default: all)")
    p.add_argument("--model", nargs="+", default=None, help="model presets (default: all)")

    command("show-versions", _cmd_show_versions, "versions of xr_s5sr, dependencies, hardware")
    return parser


def _command(argv: list[str]) -> str | None:
    """The subcommand named in ``argv`` (global options take no values)."""
    return next((a for a in argv if not a.startswith("-")), None)


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``xr-s5sr``.

    Parameters
    ----------
    argv : list of str, optional
        Arguments without the program name (default ``sys.argv[1:]``).

    Returns
    -------
    int
        Exit code: 0 success, 2 expected error, 1 unexpected error, 130 interrupted.
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    debug = "--debug" in argv
    try:
        parser = build_parser(
            with_train=_command(argv) == "train", with_finetune=_command(argv) == "finetune"
        )
        try:
            args = parser.parse_args(argv)
        except SystemExit as exit_:  # --help, --version and usage errors
            return exit_.code if isinstance(exit_.code, int) else EXIT_ERROR
        if args.handler is None:
            parser.print_usage(sys.stderr)
            print("error: choose a command (xr-s5sr --help lists them)", file=sys.stderr)
            return EXIT_ERROR
        with compute_progress(args.quiet):
            return int(args.handler(args))
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (S5SRError, OSError, ImportError) as error:
        if debug:
            traceback.print_exc()
        hint = " (command line: add --overwrite)" if isinstance(error, OutputExistsError) else ""
        print(f"error: {_one_line(error)}{hint}", file=sys.stderr)
        return EXIT_ERROR
    except Exception as error:
        if debug:
            traceback.print_exc()
        print(
            f"error: unexpected {type(error).__name__}: {_one_line(error)} "
            "(run with --debug for the traceback and report it)",
            file=sys.stderr,
        )
        return EXIT_UNEXPECTED


__all__ = ["build_parser", "main", "open_input"]
