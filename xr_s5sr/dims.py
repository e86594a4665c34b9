"""Dimension roles, their accepted aliases, and band resolution for xarray objects.

Only metadata is inspected here; no data is read or computed.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import Literal

import xarray as xr

from xr_s5sr.bands import get_band, parse_band
from xr_s5sr.errors import BandError, DimensionError

Role = Literal["scanline", "ground_pixel", "spectral_channel"]

#: Accepted dimension names per role, canonical name first (compared case-insensitively).
DIM_ALIASES: Mapping[Role, tuple[str, ...]] = {
    "scanline": ("scanline", "along_track", "y", "row", "rows", "line", "nscan"),
    "ground_pixel": ("ground_pixel", "across_track", "x", "pixel", "column", "col", "npixel"),
    "spectral_channel": ("spectral_channel", "channel", "spectral", "wavelength", "nchannel"),
}

#: Name of the radiance variable in L1B files and in the tidy Dataset.
RADIANCE = "radiance"


def find_dim(obj: xr.Dataset | xr.DataArray, role: Role) -> Hashable | None:
    """Name of the dim of ``obj`` that plays ``role``, or None when there is none.

    Examples
    --------
    >>> import numpy as np
    >>> find_dim(xr.DataArray(np.zeros((2, 3)), dims=("along_track", "x")), "ground_pixel")
    'x'
    """
    by_lower = {str(d).lower(): d for d in obj.dims}
    for alias in DIM_ALIASES[role]:
        if alias in by_lower:
            return by_lower[alias]
    return None


def require_dims(obj: xr.Dataset | xr.DataArray, roles: tuple[Role, ...]) -> dict[Role, Hashable]:
    """Map each role to a dim name of ``obj``; raise :class:`DimensionError` if one is missing."""
    found: dict[Role, Hashable] = {}
    for role in roles:
        name = find_dim(obj, role)
        if name is None:
            raise DimensionError(
                f"No {role!r} dimension found: expected one named {DIM_ALIASES[role][0]!r} "
                f"(or an alias: {', '.join(DIM_ALIASES[role][1:])}), found dims "
                f"{tuple(obj.dims)}. Rename it, e.g. obj.rename({{'<your dim>': "
                f"'{DIM_ALIASES[role][0]}'}})."
            )
        found[role] = name
    return found


def resolve_band(
    obj: xr.Dataset | xr.DataArray,
    band: int | str | None,
    *,
    require_super_resolution: bool = False,
) -> int:
    """Band number from the argument, else from attrs/names of ``obj``.

    Looks, in order, at ``band``, ``attrs["s5p_band"]`` of the object (and of its radiance
    variable), the DataArray name, and the source file name in ``encoding["source"]``.

    Raises
    ------
    BandError
        If no band can be found, or it is unknown/unsupported.
    """
    candidates: list[object] = [band]
    variable = obj[RADIANCE] if isinstance(obj, xr.Dataset) and RADIANCE in obj else obj
    for holder in (obj, variable):
        candidates.append(holder.attrs.get("s5p_band"))
    if isinstance(obj, xr.DataArray):
        candidates.append(obj.name)
    candidates.append(obj.encoding.get("source"))
    for candidate in candidates:
        if candidate is None:
            continue
        number = parse_band(candidate)
        if number is not None:
            return get_band(number, require_super_resolution=require_super_resolution).number
        if candidate is band:
            raise BandError(f"Cannot read a band number from band={band!r}; pass an int 1–8.")
    raise BandError(
        "Cannot infer the S5P band: the object has no 's5p_band' attribute and no band in its "
        "name or source file. Pass band=<n> (1–8) explicitly."
    )


__all__ = ["DIM_ALIASES", "RADIANCE", "Role", "find_dim", "require_dims", "resolve_band"]
