"""Package-level behaviour: import cost, accessor registration, versions, public API.

The accessor's own behaviour is tested in test_accessor.py.
"""

from __future__ import annotations

import io
import subprocess
import sys

import xr_s5sr


def test_import_registers_accessors_without_importing_torch() -> None:
    code = (
        "import sys, xarray as xr, numpy as np, xr_s5sr; "
        "assert hasattr(xr.Dataset, 's5sr') and hasattr(xr.DataArray, 's5sr'); "
        "print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_show_versions_lists_core_dependencies() -> None:
    buffer = io.StringIO()
    xr_s5sr.show_versions(file=buffer)
    text = buffer.getvalue()
    for name in ("xr_s5sr", "xarray", "dask", "torch", "numpy", "pooch", "cuda"):
        assert name in text
    assert xr_s5sr.__version__ in text


def test_public_api_names_exist() -> None:
    for name in xr_s5sr.__all__:
        assert hasattr(xr_s5sr, name), name
    assert issubclass(xr_s5sr.WeightsError, xr_s5sr.S5SRError)


def test_run_record_names_commit_machine_and_weights() -> None:
    from xr_s5sr.versions import run_record

    record = run_record([(3, "s5dscr_s")])
    assert set(record) == {"commit", "date", "machine", "versions", "weights_sha256"}
    assert len(record["weights_sha256"]["s5dscr_s_band3"]) == 64
    assert record["versions"]["xr_s5sr"] == xr_s5sr.__version__
