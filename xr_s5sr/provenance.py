"""Provenance attributes: the CF ``history`` line and ``s5sr_*`` attributes."""

from __future__ import annotations

from datetime import datetime, timezone

import xarray as xr

from xr_s5sr._version import __version__


def history_line(call: str, weights_sha256: str | None = None) -> str:
    """One ``history`` entry: ``"<UTC time>: <call> [xr_s5sr <version>, weights sha256:<h>]"``.

    Examples
    --------
    >>> history_line("s5sr.degrade(band=3)").endswith("]")
    True
    """

    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    tag = f"xr_s5sr {__version__}"
    if weights_sha256:
        tag += f", weights sha256:{weights_sha256}"
    return f"{stamp}: {call} [{tag}]"


def format_call(method: str, **kwargs: object) -> str:
    """``s5sr.method(a=1, b='x')`` with arguments in the given order (None values omitted)."""
    args = ", ".join(f"{k}={v!r}" for k, v in kwargs.items() if v is not None)
    return f"s5sr.{method}({args})"


def add_provenance(ds: xr.Dataset, line: str) -> xr.Dataset:
    """Return ``ds`` with ``line`` prepended to its ``history`` attribute (newest first, CF)."""

    previous = ds.attrs.get("history")
    ds.attrs["history"] = f"{line}\n{previous}" if previous else line
    ds.attrs["s5sr_version"] = __version__
    return ds


__all__ = ["add_provenance", "format_call", "history_line"]
