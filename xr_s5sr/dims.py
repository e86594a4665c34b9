"""Dimension roles, their accepted aliases, and band resolution for xarray objects.

Only metadata is inspected here; no data is read or computed.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import Literal

import numpy as np
import xarray as xr

from xr_s5sr.bands import BANDS, get_band, parse_band
from xr_s5sr.errors import BandError, DimensionError, S5SRArgumentError

Role = Literal["scanline", "ground_pixel", "spectral_channel"]

#: Accepted dimension names per role, canonical name first (compared case-insensitively).
DIM_ALIASES: Mapping[Role, tuple[str, ...]] = {
    "scanline": ("scanline", "along_track", "y", "row", "rows", "line", "nscan"),
    "ground_pixel": ("ground_pixel", "across_track", "x", "pixel", "column", "col", "npixel"),
    "spectral_channel": ("spectral_channel", "channel", "spectral", "wavelength", "nchannel"),
}

#: Name of the radiance variable in L1B files and in the tidy Dataset.
RADIANCE = "radiance"


def check_chunk_size(value: object, argument: str, *, whole: bool = True) -> int:
    """``value`` as a number of elements per dask chunk, refusing what dask cannot use.

    Parameters
    ----------
    value : object
        The user's chunk size.
    argument : str
        How the user wrote the argument, e.g. ``"chunks"`` or ``"chunks['scanline']"``.
    whole : bool, default True
        Also accept -1 (dask's "the whole dim in one chunk").

    Returns
    -------
    int
        ``value``.

    Raises
    ------
    S5SRArgumentError
        If ``value`` is not an int >= 1 (or -1 when ``whole``): dask divides by it (0) or
        builds impossible chunks (other negative values).

    Examples
    --------
    >>> check_chunk_size(64, "chunks")
    64
    >>> check_chunk_size(0, "chunks")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    xr_s5sr.errors.S5SRArgumentError: chunks=0: expected a positive chunk length ...
    """
    number = int(value) if isinstance(value, int | np.integer) and value is not True else 0
    if not (number >= 1 or (whole and number == -1)):
        allowed = ", or -1 for one chunk" if whole else ""
        raise S5SRArgumentError(
            f"{argument}={value!r}: expected a positive chunk length (elements per dask "
            f"chunk){allowed}. Pass e.g. {argument}=64, or {argument}=None for the default."
        )
    return number


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


#: Coordinates whose values are wavelengths (nm), checked against the band's range.
WAVELENGTH_COORDS = ("nominal_wavelength", "wavelength")
#: nm by which a wavelength coordinate may extend past the band's nominal range.
WAVELENGTH_SLACK_NM = 15.0


def _declared_band(obj: xr.Dataset | xr.DataArray) -> tuple[int, str] | None:
    """The band the object's metadata names, and where it was found (first match)."""
    variable = obj[RADIANCE] if isinstance(obj, xr.Dataset) and RADIANCE in obj else obj
    places: list[tuple[object, str]] = [
        (obj.attrs.get("s5p_band"), "attrs['s5p_band']"),
        (variable.attrs.get("s5p_band"), "the radiance variable's attrs['s5p_band']"),
    ]
    if isinstance(obj, xr.DataArray):
        places.append((obj.name, f"its name {obj.name!r}"))
    places.append((obj.encoding.get("source"), "its source file name"))
    for value, where in places:
        number = parse_band(value) if value is not None else None
        if number is not None:
            return number, where
    return None


def _band_of_wavelengths(obj: xr.Dataset | xr.DataArray) -> tuple[int, float] | None:
    """The band whose range holds the median of a wavelength coordinate (metadata only: the
    coordinate is read only when it is in memory, never computed)."""
    import numpy as np

    for name in WAVELENGTH_COORDS:
        if name in obj.coords and not hasattr(obj.coords[name].data, "dask"):
            values = np.asarray(obj.coords[name].values, dtype=float)
            values = values[np.isfinite(values)]
            if values.size == 0:
                return None
            median = float(np.median(values))
            distance = {
                info.number: max(
                    info.wavelength_range[0] - median, median - info.wavelength_range[1], 0.0
                )
                for info in BANDS.values()
            }
            nearest = min(distance, key=distance.__getitem__)
            return (nearest, median) if distance[nearest] <= WAVELENGTH_SLACK_NM else None
    return None


def resolve_band(
    obj: xr.Dataset | xr.DataArray,
    band: int | str | None,
    *,
    require_super_resolution: bool = False,
) -> int:
    """Band number from the argument, else from attrs/names of ``obj``; contradictions refused.

    Looks, in order, at ``band``, ``attrs["s5p_band"]`` of the object (and of its radiance
    variable), the DataArray name, and the source file name in ``encoding["source"]``. An
    explicit ``band`` must agree with the band the object declares and with its wavelength
    coordinate (``nominal_wavelength``/``wavelength``, when in memory): running band-8 weights
    on band-7 radiance (same channel count) would otherwise go unnoticed.

    Raises
    ------
    BandError
        If no band can be found, it is unknown/unsupported, or ``band`` contradicts the data
        (the message names both; relabel the data, e.g. ``ds.attrs["s5p_band"] = n``, when
        its metadata is wrong).
    """
    declared = _declared_band(obj)
    if band is not None:
        number = parse_band(band)
        if number is None:
            raise BandError(f"Cannot read a band number from band={band!r}; pass an int 1–8.")
        # A band that does not exist (9) or cannot be super-resolved (1) is refused as such,
        # before any comparison with the data would suggest relabelling them to it.
        get_band(number, require_super_resolution=require_super_resolution)
        if declared is not None and declared[0] != number:
            raise BandError(
                f"band={band!r} contradicts the data, which is band {declared[0]} according to "
                f"{declared[1]}. Pass band={declared[0]}, or, if the metadata is wrong, relabel "
                f"the data first (obj.attrs['s5p_band'] = {number})."
            )
        by_wavelength = _band_of_wavelengths(obj)
        if by_wavelength is not None and by_wavelength[0] != number:
            low, high = get_band(number).wavelength_range
            raise BandError(
                f"band={band!r} contradicts the data's wavelengths: median "
                f"{by_wavelength[1]:.1f} nm lies in band {by_wavelength[0]}, not in band "
                f"{number} ({low:g}–{high:g} nm). Pass band={by_wavelength[0]}."
            )
    elif declared is not None:
        number = declared[0]
    else:
        raise BandError(
            "Cannot infer the S5P band: the object has no 's5p_band' attribute and no band in "
            "its name or source file. Pass band=<n> (1–8) explicitly."
        )
    return get_band(number, require_super_resolution=require_super_resolution).number


__all__ = [
    "DIM_ALIASES",
    "RADIANCE",
    "Role",
    "check_chunk_size",
    "find_dim",
    "require_dims",
    "resolve_band",
]
