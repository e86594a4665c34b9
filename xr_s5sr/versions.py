"""``show_versions()``: versions of xr_s5sr, its dependencies and the compute hardware; and
:func:`run_record`, what a measurement (benchmark, evaluation) was made with."""

from __future__ import annotations

import importlib
import platform
import sys
from collections.abc import Sequence
from typing import TextIO

from xr_s5sr.weights import resolve_weights

_PACKAGES = (
    "xr_s5sr",
    "numpy",
    "scipy",
    "xarray",
    "dask",
    "distributed",
    "torch",
    "netCDF4",
    "h5netcdf",
    "zarr",
    "pooch",
    "safetensors",
    "matplotlib",
)


def versions() -> dict[str, str]:
    """Mapping of component name to version string (``"not installed"`` when absent)."""
    found: dict[str, str] = {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "machine": platform.machine(),
    }
    for name in _PACKAGES:
        try:
            module = importlib.import_module(name)
        except ImportError:
            found[name] = "not installed"
            continue
        found[name] = str(getattr(module, "__version__", "unknown"))
    if found["torch"] != "not installed":
        import torch

        found["torch threads"] = str(torch.get_num_threads())
        found["cuda"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
        found["cpu capability"] = str(torch.backends.cpu.get_cpu_capability())
    return found


def show_versions(file: TextIO | None = None) -> None:
    """Print versions of xr_s5sr, its dependencies and hardware, for bug reports.

    Parameters
    ----------
    file : file-like, optional
        Where to print (default ``sys.stdout``).
    """
    out = file if file is not None else sys.stdout
    for name, version in versions().items():
        print(f"{name:>16}: {version}", file=out)


def run_record(weights: Sequence[tuple[int, str]] = ()) -> dict[str, object]:
    """Provenance of a measurement: git commit, machine, versions, weights sha256.

    Parameters
    ----------
    weights : sequence of (band, model)
        Shipped weights the measurement used; their sha256 (from the registry) are recorded.

    Returns
    -------
    dict
        ``commit`` (``"<hash>[+uncommitted]"`` in a git checkout, else ``"not a git
        checkout"``), ``date`` (UTC), ``machine``, ``versions`` (:func:`versions`) and
        ``weights_sha256`` (``"<model>_band<b>"`` → hex).
    """
    import subprocess
    import time
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=root, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            cwd=root,
            check=True,
        ).stdout.strip()
        commit += "+uncommitted" if dirty else ""
    except (OSError, subprocess.CalledProcessError):
        commit = "not a git checkout"

    return {
        "commit": commit,
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": f"{platform.machine()} {platform.processor()} {platform.system()}".strip(),
        "versions": versions(),
        "weights_sha256": {
            f"{model}_band{band}": resolve_weights(band, model).sha256 for band, model in weights
        },
    }


__all__ = ["run_record", "show_versions", "versions"]
