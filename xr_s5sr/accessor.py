"""The ``.s5sr`` accessor on :class:`xarray.Dataset` and :class:`xarray.DataArray`.

The accessor validates arguments, resolves the band and the dimension roles, and delegates to
one pure function per method (:mod:`xr_s5sr.degrade`, :mod:`xr_s5sr.inference`,
:mod:`xr_s5sr.metrics`). No numerics live here. A DataArray is wrapped into a one-variable
Dataset, processed by the same code path, and unwrapped, so both kinds behave identically.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import xarray as xr

from xr_s5sr.dims import RADIANCE, Role, require_dims, resolve_band

if TYPE_CHECKING:
    import os

    import torch

    from xr_s5sr.degrade import NoiseSpec

T = TypeVar("T", xr.Dataset, xr.DataArray)

_SPATIAL: tuple[Role, Role] = ("scanline", "ground_pixel")
_ALL_ROLES: tuple[Role, Role, Role] = ("scanline", "ground_pixel", "spectral_channel")


class S5SRAccessor(Generic[T]):
    """Sentinel-5P super-resolution tools, available as ``obj.s5sr`` after ``import xr_s5sr``.

    Parameters
    ----------
    obj : xarray.Dataset or xarray.DataArray
        L1B radiance with dims (scanline, ground_pixel, spectral_channel) or accepted aliases.
    """

    def __init__(self, obj: T):
        self._obj = obj

    # ------------------------------------------------------------------ metadata helpers
    @property
    def band(self) -> int:
        """S5P band number from ``attrs['s5p_band']`` or the name/source (raises if unknown)."""
        return resolve_band(self._obj, None)

    @property
    def dims(self) -> dict[Role, Hashable]:
        """Mapping of dimension roles to the object's dim names."""
        return require_dims(self._obj, _ALL_ROLES)

    def _as_dataset(self) -> tuple[xr.Dataset, Hashable]:
        obj = self._obj
        if isinstance(obj, xr.DataArray):
            name = obj.name if obj.name is not None else RADIANCE
            return obj.to_dataset(name=name, promote_attrs=True), name
        return obj, RADIANCE

    def _variables(
        self,
        ds: xr.Dataset,
        name: Hashable,
        variables: Sequence[Hashable] | None,
        roles: tuple[Role, ...],
    ) -> list[Hashable]:
        dims = require_dims(ds, roles)
        if variables is not None:
            missing = [v for v in variables if v not in ds.data_vars]
            if missing:
                raise KeyError(f"Variables {missing} not found; available: {list(ds.data_vars)}.")
            return list(variables)
        if name in ds.data_vars:
            return [name]
        candidates = [
            v for v, da in ds.data_vars.items() if all(d in da.dims for d in dims.values())
        ]
        if not candidates:
            raise KeyError(
                f"No {RADIANCE!r} variable and no variable on dims {tuple(dims.values())}; "
                f"pass variables=[...] naming the radiance variable(s)."
            )
        return candidates

    def _apply(
        self,
        function: Callable[..., xr.Dataset],
        roles: tuple[Role, ...],
        variables: Sequence[Hashable] | None,
        **kwargs: Any,
    ) -> Any:
        ds, name = self._as_dataset()
        selected = self._variables(ds, name, variables, roles)
        dims = require_dims(ds, roles)
        result = function(ds, variables=selected, dims=tuple(dims.values()), **kwargs)
        if isinstance(self._obj, xr.DataArray):
            out = result[name]
            out.attrs.update(
                {k: v for k, v in result.attrs.items() if k == "history" or k.startswith("s5")}
            )
            return out
        return result

    # ------------------------------------------------------------------ operations
    def degrade(
        self,
        band: int | None = None,
        noise: NoiseSpec = None,
        seed: int | None = None,
        variables: Sequence[Hashable] | None = None,
    ) -> T:
        """Simulate the LR observation: MTF blur and ×4 decimation (SPEC §2), lazily for dask.

        Parameters
        ----------
        band : int, optional
            S5P band 1–8; default from ``attrs['s5p_band']``.
        noise : {None, "lr", "hr"} or float, optional
            Optional Gaussian noise (see :func:`xr_s5sr.degrade.degrade_array`). Off by default.
        seed : int, optional
            Noise seed; results do not depend on the chunking.
        variables : sequence of hashable, optional
            Variables to degrade; default ``radiance`` (or every variable on both spatial dims).

        Returns
        -------
        xarray.Dataset or xarray.DataArray
            Same kind as the input, on the LR grid: HR pixel ``4j+2`` becomes LR pixel ``j``;
            coordinates (incl. latitude/longitude) are sampled there. ``history`` and
            ``s5sr_degradation`` attributes are added.

        Examples
        --------
        >>> import xr_s5sr
        >>> hr = xr_s5sr.synthetic.make_granule(band=7, n_scanline=32, n_ground_pixel=24,
        ...                                     n_channel=4)
        >>> lr = hr.s5sr.degrade()
        >>> dict(lr.radiance.sizes)
        {'scanline': 8, 'ground_pixel': 6, 'spectral_channel': 4}
        """
        from xr_s5sr.degrade import degrade_dataset
        from xr_s5sr.provenance import format_call, history_line

        number = resolve_band(self._obj, band)
        call = format_call("degrade", band=number, noise=noise, seed=seed)
        return self._apply(
            degrade_dataset,
            _SPATIAL,
            variables,
            band=number,
            noise=noise,
            seed=seed,
            history=history_line(call),
        )

    def super_resolve(
        self,
        band: int | None = None,
        model: str = "s5dscr",
        weights: str | os.PathLike[str] | torch.nn.Module | None = None,
        device: str | None = None,
        output_chunks: int | None = None,
        torch_threads: int | None = None,
        dtype: str = "float32",
        variables: Sequence[Hashable] | None = None,
    ) -> T:
        """Super-resolve ×4 with S5-DSCR, lazily over scanline blocks without seams.

        Parameters
        ----------
        band : int, optional
            S5P band 2–8; default from ``attrs['s5p_band']``.
        model : {"s5dscr", "s5dscr_s"}, default "s5dscr"
            Shipped model to use when ``weights`` is None.
        weights : path or torch.nn.Module, optional
            A weights file or an in-memory :class:`~xr_s5sr.models.S5DSCR` instead of the
            shipped weights.
        device : {"cpu", "cuda", None}, optional
            None picks CUDA when available, else CPU.
        output_chunks : int, optional
            HR scanlines per output chunk; default from a memory budget.
        torch_threads : int, optional
            Threads per torch call (default: torch's current setting).
        dtype : {"float32", "bfloat16"}, default "float32"
            Compute precision of the network; the output is always float32.
        variables : sequence of hashable, optional
            Radiance variables to process; default ``radiance``.

        Returns
        -------
        xarray.Dataset or xarray.DataArray
            Same kind as the input, 4× larger along scanline and ground_pixel. HR pixel ``i``
            sits at LR fractional index ``(i − 2)/4`` (the degradation convention).
        """
        from xr_s5sr.inference import super_resolve_dataset

        number = resolve_band(self._obj, band, require_super_resolution=True)
        return self._apply(
            super_resolve_dataset,
            _ALL_ROLES,
            variables,
            band=number,
            model=model,
            weights=weights,
            device=device,
            output_chunks=output_chunks,
            torch_threads=torch_threads,
            dtype=dtype,
        )

    def bicubic(self, band: int | None = None, variables: Sequence[Hashable] | None = None) -> T:
        """Bicubic ×4 baseline on the same HR grid as :meth:`super_resolve`.

        Uses PyTorch bicubic (a = −0.75, half-pixel centres, clamped border), i.e. the model's
        own upsampling branch without its learnt residual.
        """
        from xr_s5sr.inference import bicubic_dataset

        number = resolve_band(self._obj, band)
        return self._apply(bicubic_dataset, _ALL_ROLES, variables, band=number)

    def evaluate(
        self,
        reference: xr.Dataset | xr.DataArray,
        baseline: xr.Dataset | xr.DataArray | None = None,
        variable: Hashable | None = None,
        paper_compatible: bool = False,
    ) -> xr.Dataset:
        """Quality metrics of this (super-resolved) object against an HR ``reference``.

        Parameters
        ----------
        reference : xarray.Dataset or xarray.DataArray
            HR truth on the same grid.
        baseline : xarray.Dataset or xarray.DataArray, optional
            Another estimate to score beside this one (default: the bicubic upsampling of the
            reference's degradation, recomputed here).
        variable : hashable, optional
            Variable to compare in Datasets (default ``radiance``).
        paper_compatible : bool, default False
            Also compute the paper's min–max scaled metrics.

        Returns
        -------
        xarray.Dataset
            Metrics (PSNR, SSIM, sCC, SAM, ERGAS, RMSE) with a ``method`` dimension.
        """
        from xr_s5sr.metrics import evaluate_dataset

        return evaluate_dataset(
            self._obj,
            reference,
            baseline=baseline,
            variable=variable,
            paper_compatible=paper_compatible,
        )


@xr.register_dataset_accessor("s5sr")
class S5SRDatasetAccessor(S5SRAccessor[xr.Dataset]):
    """``Dataset.s5sr``: see :class:`S5SRAccessor`."""


@xr.register_dataarray_accessor("s5sr")
class S5SRDataArrayAccessor(S5SRAccessor[xr.DataArray]):
    """``DataArray.s5sr``: see :class:`S5SRAccessor`."""


__all__ = ["S5SRAccessor", "S5SRDataArrayAccessor", "S5SRDatasetAccessor"]
