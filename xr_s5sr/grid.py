"""Grid conventions of the ×4 problem (SPEC §2–3): LR/HR sample positions and HR coordinates.

Boundary: numpy positions and xarray coordinate variables; no model, no tiling. The degradation
puts LR pixel ``j`` at HR pixel ``4j + 2`` (:func:`lr_positions`), so HR pixel ``i`` sits at LR
fractional index ``(i − 2)/4`` (:func:`hr_positions`); every module that needs either convention
imports it from here.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from xr_s5sr.bands import SCALE

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


__all__ = ["hr_coordinates", "hr_positions", "lr_positions"]
