"""The Sentinel-5P L1B radiance layout: its variables, groups, CF attributes and file names.

Boundary: the description of the on-disk layout (SPEC §1:
``BAND<n>_RADIANCE/STANDARD_MODE/{OBSERVATIONS,GEODATA,INSTRUMENT}``) that both directions of
:mod:`xr_s5sr.l1b` follow: :func:`xr_s5sr.l1b.open_l1b` reads the variables of :data:`LAYOUT`
and :func:`xr_s5sr.l1b.write_l1b` places them, with :data:`CF_DEFAULTS` and :data:`FILL_VALUE`.
No I/O, no numerics; :mod:`xr_s5sr.l1b` lists these names among its own public ones.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import NamedTuple

import numpy as np

from xr_s5sr.bands import get_band
from xr_s5sr.dims import RADIANCE, Role

#: ``_FillValue`` of floating-point L1B variables (the netCDF default float fill, 9.96921e36).
FILL_VALUE = float(np.float32(9.96921e36))

#: Units of L1B spectral photon radiance.
RADIANCE_UNITS = "mol m-2 nm-1 sr-1 s-1"

#: Sub-groups of ``BAND<n>_RADIANCE/STANDARD_MODE``.
OBSERVATIONS = "OBSERVATIONS"
GEODATA = "GEODATA"
INSTRUMENT = "INSTRUMENT"


class L1BVariable(NamedTuple):
    """One variable of the L1B layout that :func:`open_l1b` keeps.

    Attributes
    ----------
    name : str
        Variable name, in the file and in the tidy Dataset.
    group : str
        Sub-group of ``BAND<n>_RADIANCE/STANDARD_MODE`` holding it.
    dims : tuple of str
        Its dims after the leading ``time`` axis of the file.
    required : bool
        Whether a file without it is rejected (:class:`~xr_s5sr.errors.L1BFormatError`).
    coord : bool
        Coordinate (True) or data variable (False) of the tidy Dataset.
    kinds : str, default "fiu"
        numpy dtype kinds accepted after CF decoding (``"f"`` float, ``"i"``/``"u"`` integer,
        ``"m"``/``"M"`` timedelta/datetime); anything else is rejected.
    """

    name: str
    group: str
    dims: tuple[str, ...]
    required: bool
    coord: bool
    kinds: str = "fiu"


_SCAN_PIXEL = ("scanline", "ground_pixel")
_CUBE = ("scanline", "ground_pixel", "spectral_channel")
_BOUNDS = ("scanline", "ground_pixel", "corner")

#: The variables read by :func:`open_l1b` (others in the file are ignored), in tidy order.
LAYOUT: tuple[L1BVariable, ...] = (
    # Radiance must decode to floats: raw integers (without scale_factor) are not radiance.
    L1BVariable(RADIANCE, OBSERVATIONS, _CUBE, required=True, coord=False, kinds="f"),
    L1BVariable("radiance_noise", OBSERVATIONS, _CUBE, required=False, coord=False, kinds="f"),
    L1BVariable("quality_level", OBSERVATIONS, _CUBE, required=False, coord=False),
    L1BVariable(
        "delta_time", OBSERVATIONS, ("scanline",), required=False, coord=True, kinds="fiumM"
    ),
    L1BVariable("latitude", GEODATA, _SCAN_PIXEL, required=True, coord=True),
    L1BVariable("longitude", GEODATA, _SCAN_PIXEL, required=True, coord=True),
    L1BVariable("latitude_bounds", GEODATA, _BOUNDS, required=False, coord=True),
    L1BVariable("longitude_bounds", GEODATA, _BOUNDS, required=False, coord=True),
    L1BVariable(
        "nominal_wavelength",
        INSTRUMENT,
        ("ground_pixel", "spectral_channel"),
        required=True,
        coord=True,
    ),
)
#: Roles every L1B radiance Dataset must have (see :mod:`xr_s5sr.dims`).
ROLES: tuple[Role, Role, Role] = ("scanline", "ground_pixel", "spectral_channel")

#: CF attributes that :func:`write_l1b` fills in when a variable lacks them.
CF_DEFAULTS: Mapping[str, Mapping[str, str]] = {
    RADIANCE: {"units": RADIANCE_UNITS, "long_name": "spectral photon radiance"},
    "radiance_noise": {"long_name": "noise of the spectral photon radiance"},
    "latitude": {
        "units": "degrees_north",
        "standard_name": "latitude",
        "long_name": "pixel centre latitude",
    },
    "longitude": {
        "units": "degrees_east",
        "standard_name": "longitude",
        "long_name": "pixel centre longitude",
    },
    "nominal_wavelength": {"units": "nm", "long_name": "nominal wavelength"},
}


def l1b_filename(
    band: int,
    start: datetime,
    end: datetime,
    orbit: int,
    stream: str = "OFFL",
    collection: str = "03",
    processor: str = "020400",
    production: datetime | None = None,
) -> str:
    """Official-style file name of an S5P L1B radiance product.

    ``S5P_<stream>_L1B_RA_BD<n>_<start>_<end>_<orbit>_<collection>_<processor>_<production>.nc``
    with times as ``YYYYMMDDTHHMMSS`` and a five-digit orbit number.

    Parameters
    ----------
    band : int
        S5P band 1–8.
    start, end : datetime.datetime
        Sensing start and end time (UTC).
    orbit : int
        Absolute orbit number.
    stream : str, default "OFFL"
        Processing stream ("OFFL", "NRTI", "RPRO").
    collection : str, default "03"
        Collection number.
    processor : str, default "020400"
        Processor version.
    production : datetime.datetime, optional
        Production time; defaults to ``end`` so that names are deterministic.

    Returns
    -------
    str
        The file name (no directory).

    Examples
    --------
    >>> from datetime import datetime
    >>> l1b_filename(7, datetime(2023, 1, 4, 0, 0), datetime(2023, 1, 4, 1, 40), 27123)
    'S5P_OFFL_L1B_RA_BD7_20230104T000000_20230104T014000_27123_03_020400_20230104T014000.nc'
    """
    number = get_band(band).number
    stamp = "%Y%m%dT%H%M%S"
    made = end if production is None else production
    return (
        f"S5P_{stream}_L1B_RA_BD{number}_{start.strftime(stamp)}_{end.strftime(stamp)}_"
        f"{orbit:05d}_{collection}_{processor}_{made.strftime(stamp)}.nc"
    )


__all__ = [
    "CF_DEFAULTS",
    "FILL_VALUE",
    "GEODATA",
    "INSTRUMENT",
    "LAYOUT",
    "OBSERVATIONS",
    "RADIANCE_UNITS",
    "ROLES",
    "L1BVariable",
    "l1b_filename",
]
