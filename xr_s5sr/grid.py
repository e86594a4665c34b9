"""Grid conventions of the ×4 problem (SPEC §2–3): LR/HR sample positions, HR coordinates and
regions of interest (latitude/longitude box -> index slices).

Boundary: numpy positions and xarray coordinate variables; no model, no tiling (the halo of a
region comes from the caller, :func:`xr_s5sr.spec.crop_halo`). The degradation
puts LR pixel ``j`` at HR pixel ``4j + 2`` (:func:`lr_positions`), so HR pixel ``i`` sits at LR
fractional index ``(i − 2)/4`` (:func:`hr_positions`); every module that needs either convention
imports it from here.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from xr_s5sr.bands import SCALE
from xr_s5sr.errors import InputDataError, RegionError, S5SRArgumentError

if TYPE_CHECKING:
    import xarray as xr


def lr_positions(n_hr: int, ratio: int = SCALE) -> np.ndarray:
    """HR indices sampled by LR pixels: ``ratio * j + ratio // 2`` for ``j < n_hr // ratio``.

    Examples
    --------
    >>> lr_positions(9).tolist()
    [2, 6]
    """
    return ratio * np.arange(n_hr // ratio) + ratio // 2


def hr_positions(n_lr: int) -> np.ndarray:
    """LR fractional index of each HR pixel along one axis: ``(i − 2)/4`` for ``i < 4·n_lr``.

    Parameters
    ----------
    n_lr : int
        Number of LR pixels along the axis.

    Returns
    -------
    numpy.ndarray
        float64 array of length ``4·n_lr``.

    Examples
    --------
    >>> hr_positions(2).tolist()
    [-0.5, -0.25, 0.0, 0.25, 0.5, 0.75, 1.0, 1.25]
    """
    return (np.arange(SCALE * n_lr) - SCALE // 2) / SCALE


def hr_coordinates(ds: xr.Dataset, dims: tuple[Hashable, Hashable]) -> dict[Hashable, Any]:
    """Coordinates of ``ds`` moved to the ×4 HR grid of the (scanline, ground_pixel) ``dims``.

    HR pixel ``i`` sits at LR fractional index ``(i − 2)/4`` (:func:`hr_positions`). Numeric
    coordinates whose dims are the spatial dims plus, optionally, dims of the radiance (e.g.
    ``latitude``/``longitude`` on both, ``nominal_wavelength`` on ground_pixel ×
    spectral_channel, a ``scanline`` index, ``delta_time``) are linearly interpolated at those
    positions along each spatial dim they have (bilinear for 2-D), extrapolated linearly past the
    edges (HR rows −0.5 and n − 0.25 in LR units), so there is no NaN. Longitude (named
    ``longitude``/``lon``, ``standard_name`` longitude or units ``degrees_east``) is
    interpolated across the ±180° wrap and returned in [−180, 180); latitude is clipped to
    [−90, 90]. A spatial dim without an index coordinate gets one holding ``hr_positions``.
    Floating coordinates keep their dtype, integer ones become float64; coordinates on spatial
    dims that are not numeric or carry other dims (e.g. corner bounds) are dropped. Lazy
    (dask) coordinates stay lazy.

    Parameters
    ----------
    ds : xarray.Dataset
        LR Dataset.
    dims : tuple of hashable
        Names of the (scanline, ground_pixel) dims.

    Returns
    -------
    dict
        Coordinate name → :class:`xarray.Variable` on the HR grid.
    """
    import xarray as xr

    positions = {d: hr_positions(ds.sizes[d]) for d in dims}
    allowed = set(dims) | {
        d for v in ds.data_vars.values() if set(dims) <= set(v.dims) for d in v.dims
    }
    coords: dict[Hashable, Any] = {}
    for name, coord in ds.coords.items():
        variable = coord.variable
        if set(dims).isdisjoint(variable.dims):
            coords[name] = variable.copy(deep=False)
        elif set(variable.dims) <= allowed and variable.dtype.kind in "iuf":
            coords[name] = _interp_variable(name, variable, positions)
    for d in dims:
        if d not in coords:
            coords[d] = xr.Variable(
                d,
                positions[d],
                attrs={
                    "long_name": f"LR {d} fractional index",
                    "comment": f"HR pixel i is at LR index (i - {SCALE // 2})/{SCALE}",
                },
            )
    return coords


def _interp_variable(
    name: Hashable, variable: xr.Variable, positions: dict[Hashable, np.ndarray]
) -> xr.Variable:
    import xarray as xr

    kind = _angle_kind(name, variable.attrs)
    data = variable.data.astype(np.float64)
    for d in variable.dims:
        if d in positions:
            data = _interp_axis(
                data,
                positions[d],
                variable.get_axis_num(d),
                period=360.0 if kind == "longitude" else None,
            )
    if kind == "longitude":
        data = (data + 180.0) % 360.0 - 180.0
    elif kind == "latitude":
        data = data.clip(-90.0, 90.0)
    if variable.dtype.kind == "f":
        data = data.astype(variable.dtype)
    return xr.Variable(variable.dims, data, attrs=dict(variable.attrs))


def _angle_kind(name: Hashable, attrs: dict[Hashable, Any]) -> Literal["longitude", "latitude", ""]:
    for kind, short, units in (
        ("longitude", "lon", "degrees_east"),
        ("latitude", "lat", "degrees_north"),
    ):
        if (
            str(name).lower() in (kind, short)
            or attrs.get("standard_name") == kind
            or (attrs.get("units") == units)
        ):
            return kind  # type: ignore[return-value]
    return ""


def _interp_axis(values: Any, positions: np.ndarray, axis: int, period: float | None) -> Any:
    """Linear interpolation (and extrapolation) of ``values`` at fractional indices along ``axis``.

    With ``period`` the step between neighbours is taken modulo the period (shortest way), so a
    longitude jump from 179.9 to −179.9 is a step of 0.2 degrees. numpy or dask.
    """
    n = values.shape[axis]
    if n == 1:
        return np.take(values, np.zeros(positions.size, np.intp), axis=axis)
    lower = np.clip(np.floor(positions).astype(np.intp), 0, n - 2)
    shape = [1] * values.ndim
    shape[axis] = positions.size
    fraction = (positions - lower).reshape(shape)
    start = np.take(values, lower, axis=axis)
    step = np.take(values, lower + 1, axis=axis) - start
    if period is not None:
        step = (step + period / 2) % period - period / 2
    return start + fraction * step


def region_slices(
    latitude: np.ndarray,
    longitude: np.ndarray,
    south_north: tuple[float, float],
    west_east: tuple[float, float],
    halo: tuple[int, int] = (0, 0),
) -> tuple[slice, slice]:
    """Smallest (scanline, ground_pixel) index slices covering a latitude/longitude box.

    A pixel covers the area up to half-way to its neighbours, so the pixels whose centres lie
    in the box plus one pixel each side cover it; a box between pixel centres (smaller than a
    pixel) is covered by the pixel nearest to its centre and its neighbours. ``halo`` more
    pixels are added each side (the method's reach, so that super-resolving the crop gives
    the whole-granule result inside the box), clipped at the granule's edges.

    Parameters
    ----------
    latitude, longitude : numpy.ndarray
        Pixel-centre coordinates (degrees; longitude in any 360° range), dims
        (scanline, ground_pixel). NaN pixels are never inside.
    south_north : tuple of float
        Southern and northern edges, degrees north, ``south <= north``.
    west_east : tuple of float
        Western and eastern edges, degrees east. ``west > east`` (after taking both modulo
        360) crosses the antimeridian: ``(170, -170)`` is 20° wide around ±180°.
    halo : tuple of int, default (0, 0)
        Extra LR pixels each side along (scanline, ground_pixel).

    Returns
    -------
    tuple of slice
        ``(scanline, ground_pixel)`` slices with explicit start and stop.

    Raises
    ------
    S5SRArgumentError
        If the bounds are not two numbers each, not ordered south <= north, or outside
        [−90, 90].
    RegionError
        If no pixel of the granule lies in or next to the box.

    Examples
    --------
    >>> lat, lon = np.meshgrid(np.arange(10.0), np.arange(5.0), indexing="ij")
    >>> region_slices(lat, lon, (3.0, 5.0), (1.0, 2.0))
    (slice(2, 7, None), slice(0, 4, None))
    """
    south, north = _bounds("latitude", south_north)
    west, east = _bounds("longitude", west_east)
    if not -90.0 <= south <= north <= 90.0:
        raise S5SRArgumentError(
            f"latitude=(south, north) must satisfy -90 <= south <= north <= 90 degrees, got "
            f"({south}, {north}). Give the southern edge first."
        )
    lat = np.asarray(latitude, dtype=np.float64)
    lon = np.asarray(longitude, dtype=np.float64)
    if lat.ndim != 2 or lat.shape != lon.shape:
        raise InputDataError(
            f"A region needs 2-D latitude and longitude on (scanline, ground_pixel), got shapes "
            f"{lat.shape} and {lon.shape}. Open the granule with xr_s5sr.open_l1b."
        )
    span = east - west if east - west >= 360.0 else (east - west) % 360.0
    inside = (lat >= south) & (lat <= north) & ((lon - west) % 360.0 <= span)
    if inside.any():
        rows, cols = np.flatnonzero(inside.any(axis=1)), np.flatnonzero(inside.any(axis=0))
        first, last = (rows[0], cols[0]), (rows[-1], cols[-1])
    else:
        first = last = _pixel_under(lat, lon, (south + north) / 2, west + span / 2, (south, north))
    cover = [
        slice(int(max(0, a - 1 - h)), int(min(n, b + 2 + h)))
        for a, b, h, n in zip(first, last, halo, lat.shape, strict=True)
    ]
    return cover[0], cover[1]


def subset_region(
    obj: Any,
    dims: tuple[Hashable, Hashable],
    south_north: tuple[float, float],
    west_east: tuple[float, float],
    halo: tuple[int, int],
) -> Any:
    """``obj`` (Dataset or DataArray) cut to :func:`region_slices` of its latitude/longitude.

    Only the two coordinates are read (computed if lazy); the data stay lazy. The spatial
    ``dims`` get coordinates holding the absolute indices of the granule when they have none,
    and ``attrs["s5sr_subset"]`` records the slices.
    """
    latitude, longitude = (_angle_coordinate(obj, kind, dims) for kind in ("latitude", "longitude"))
    rows, cols = region_slices(latitude, longitude, south_north, west_east, halo)
    index = {d: np.arange(obj.sizes[d]) for d in dims if d not in obj.coords}
    out = obj.assign_coords(index).isel({dims[0]: rows, dims[1]: cols})
    out.attrs["s5sr_subset"] = (
        f"{dims[0]} {rows.start}:{rows.stop}, {dims[1]} {cols.start}:{cols.stop} of "
        f"{obj.sizes[dims[0]]} x {obj.sizes[dims[1]]}: latitude {tuple(south_north)}, longitude "
        f"{tuple(west_east)}, halo {tuple(halo)} LR pixels"
    )
    return out


def _angle_coordinate(obj: Any, kind: str, dims: tuple[Hashable, Hashable]) -> np.ndarray:
    """The 2-D ``kind`` ("latitude"/"longitude") coordinate of ``obj`` as (dims[0], dims[1])."""
    for name, coord in obj.coords.items():
        if set(coord.dims) == set(dims) and _angle_kind(name, coord.attrs) == kind:
            return np.asarray(coord.transpose(*dims).values)
    raise InputDataError(
        f"A region needs a {kind} coordinate on {tuple(dims)}; found coordinates "
        f"{list(obj.coords)}. Open the granule with xr_s5sr.open_l1b, which reads them."
    )


def _bounds(name: str, pair: tuple[float, float]) -> tuple[float, float]:
    """Two finite numbers from a ``(low, high)`` argument (message names ``name``)."""
    try:
        low, high = (float(v) for v in pair)
    except (TypeError, ValueError):
        low = high = float("nan")
    if not (np.isfinite(low) and np.isfinite(high)):
        order = "(south, north)" if name == "latitude" else "(west, east)"
        raise S5SRArgumentError(
            f"{name}= must be a pair of finite numbers {order} in degrees, got {pair!r}. "
            f"Example: {name}=(48.7, 49.0)."
        )
    return low, high


def _pixel_under(
    lat: np.ndarray, lon: np.ndarray, lat0: float, lon0: float, south_north: tuple[float, float]
) -> tuple[int, int]:
    """(scanline, ground_pixel) of the pixel nearest to a point, if the point lies within one
    pixel spacing of it (inside the granule's footprint); else :class:`RegionError`."""
    coslat = np.cos(np.deg2rad(np.clip(lat0, -89.0, 89.0)))
    distance = np.hypot(lat - lat0, coslat * ((lon - lon0 + 180.0) % 360.0 - 180.0))
    if not np.isfinite(distance).any():
        raise RegionError("The granule has no finite latitude/longitude: no region can be found.")
    row, col = np.unravel_index(int(np.nanargmin(distance)), distance.shape)
    neighbours = [
        np.hypot(
            lat[r, c] - lat[row, col], coslat * ((lon[r, c] - lon[row, col] + 180) % 360 - 180)
        )
        for r, c in ((row - 1, col), (row + 1, col), (row, col - 1), (row, col + 1))
        if 0 <= r < lat.shape[0] and 0 <= c < lat.shape[1]
    ]
    spacing = float(np.nanmax(neighbours)) if neighbours else 0.0
    if not distance[row, col] <= spacing:
        raise RegionError(
            f"The box latitude={south_north}, longitude centre {((lon0 + 180) % 360) - 180:.4g} "
            f"lies outside the granule: it covers latitude {np.nanmin(lat):.4g} to "
            f"{np.nanmax(lat):.4g} and longitude {np.nanmin(lon):.4g} to {np.nanmax(lon):.4g} "
            "(degrees). Pick a granule (orbit) that passes over the region."
        )
    return int(row), int(col)


__all__ = ["hr_coordinates", "hr_positions", "lr_positions", "region_slices", "subset_region"]
