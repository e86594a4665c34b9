"""What ``xr-s5sr demo`` prints: the output shown in docs/cli.md.

Run from the repository root (seconds to a minute on one core)::

    OMP_NUM_THREADS=1 python docs/scripts/demo_output.py

Runs the command as a user does, through the CLI's entry point with its defaults (band 7, the
shipped S5-DSCR weights, the band-7 sample granule embedded in the package), into a temporary
folder, and writes ``docs/scripts/demo_output.json``: the command, its exit code, every line it
printed on stdout (the progress notes go to stderr and are not part of the result), the scores
behind those lines per method, the seconds it took and the run record
(:func:`xr_s5sr.versions.run_record`: commit, machine, versions, weights sha256).
``python docs/scripts/tables.py`` writes the page from this JSON.
"""

from __future__ import annotations

import contextlib
import io
import json
import tempfile
import time
from pathlib import Path

import xarray as xr

from xr_s5sr import cli, demo
from xr_s5sr.versions import run_record

OUT = Path(__file__).with_suffix(".json")
#: The command of docs/cli.md, without the output folder (a temporary one is added).
ARGUMENTS = ["demo", "-q"]
BAND, MODEL = 7, "s5dscr"  # the command's defaults, for the run record's weights


def main() -> None:
    # The CLI prints the scores but does not return them; the JSON keeps them too, so that the
    # page's sentence about them is generated rather than read off the printed text. The CLI
    # imports run_demo when the command runs, so a wrapper set here is what it calls.
    captured: dict[str, xr.Dataset] = {}
    run_demo = demo.run_demo

    def recording(*args: object, **kwargs: object) -> xr.Dataset:
        scores = run_demo(*args, **kwargs)  # type: ignore[arg-type]
        captured["scores"] = scores
        return scores

    demo.run_demo = recording  # type: ignore[assignment]
    printed = io.StringIO()
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder, contextlib.redirect_stdout(printed):
        code = cli.main([*ARGUMENTS, "--out", folder])
    seconds = time.perf_counter() - start
    demo.run_demo = run_demo
    if code != 0 or "scores" not in captured:
        raise SystemExit(f"xr-s5sr demo failed (exit code {code}): nothing written.")
    scores = captured["scores"]
    # The per-method numbers (not the text variables such as worse_than_bicubic).
    metrics = [
        str(name)
        for name, values in scores.data_vars.items()
        if values.dims == ("model",) and values.dtype.kind == "f"
    ]
    result = {
        "command": "xr-s5sr " + " ".join(ARGUMENTS),
        "exit_code": code,
        "stdout": printed.getvalue().splitlines(),
        "scores": {
            str(method): {name: float(scores[name].sel(model=method)) for name in metrics}
            for method in scores["model"].values
        },
        "units": {name: scores[name].attrs.get("units") for name in metrics},
        "seconds": round(seconds, 1),
        "record": run_record([(BAND, MODEL)]),
    }
    OUT.write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n")
    print("\n".join(result["stdout"]))
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
