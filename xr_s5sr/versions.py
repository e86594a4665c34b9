"""``show_versions()``: versions of xr_s5sr, its dependencies and the compute hardware."""

from __future__ import annotations

import importlib
import platform
import sys
from typing import TextIO

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


__all__ = ["show_versions", "versions"]
