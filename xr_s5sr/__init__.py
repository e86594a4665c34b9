"""xr_s5sr: ×4 super-resolution of Sentinel-5P L1B radiance (S5-DSCR) from xarray.

Importing the package registers the ``.s5sr`` accessor on :class:`xarray.Dataset` and
:class:`xarray.DataArray`. torch is imported lazily, only when a model is needed.
"""

from __future__ import annotations

from xr_s5sr import accessor as _accessor  # noqa: F401  (registers .s5sr)
from xr_s5sr import bands, degrade, errors, synthetic
from xr_s5sr._version import __version__
from xr_s5sr.errors import *  # noqa: F403  (every error and warning: errors.__all__)
from xr_s5sr.l1b import l1b_filename, open_l1b, write_l1b
from xr_s5sr.store import to_netcdf, to_zarr
from xr_s5sr.versions import show_versions

__all__ = [
    "__version__",
    "bands",
    "degrade",
    "errors",
    "l1b_filename",
    "open_l1b",
    "show_versions",
    "synthetic",
    "to_netcdf",
    "to_zarr",
    "write_l1b",
    *errors.__all__,
]
