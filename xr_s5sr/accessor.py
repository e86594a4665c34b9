"""The ``.s5sr`` accessor on :class:`xarray.Dataset` and :class:`xarray.DataArray`.

The accessor validates arguments and inputs, resolves the band and the dimension roles, and
delegates to one pure function per method (:mod:`xr_s5sr.degrade`, :mod:`xr_s5sr.inference`,
:mod:`xr_s5sr.evaluate`). No numerics live here beyond input checks. A DataArray is wrapped into
a one-variable Dataset, processed by the same code path, and unwrapped, so both kinds behave
identically.

Input rules applied before any engine runs (``docs/errors.md`` lists them all):

- the processed variables must hold real numbers (float or integer);
- undecoded fill values (the L1B ``_FillValue`` 9.96921e36, or the variable's ``_FillValue`` /
  ``missing_value`` attributes) become NaN, lazily for dask;
- numpy input without a single finite value raises :class:`~xr_s5sr.errors.InputDataError`
  (dask input is not inspected: its all-NaN blocks give all-NaN output);
- dask input split along ground_pixel or spectral_channel is super-resolved after a rechunk,
  announced by a :class:`~xr_s5sr.errors.PerformanceWarning`;
- dims beyond (scanline, ground_pixel, spectral_channel), e.g. ``time``, are handled by
  super-resolving each of their elements as block axes of one dask graph (one element per task).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Hashable, Sequence
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import numpy as np
import xarray as xr

from xr_s5sr.dims import RADIANCE, Role, require_dims, resolve_band
from xr_s5sr.errors import DimensionError, InputDataError, PerformanceWarning
from xr_s5sr.l1b import FILL_VALUE
from xr_s5sr.options import SuperResolveOptions

if TYPE_CHECKING:
    import os

    import torch

    from xr_s5sr.degrade import NoiseSpec

T = TypeVar("T", xr.Dataset, xr.DataArray)

_SPATIAL: tuple[Role, Role] = ("scanline", "ground_pixel")
_ALL_ROLES: tuple[Role, Role, Role] = ("scanline", "ground_pixel", "spectral_channel")

#: Attributes that name the fill value of data that were not CF-decoded.
_FILL_ATTRS = ("_FillValue", "missing_value")
#: Rows (along the first axis) per slab when scanning numpy input: bounds temporary arrays.
_SCAN_ROWS = 64


class S5SRAccessor(Generic[T]):
    """Sentinel-5P super-resolution tools, available as ``obj.s5sr`` after ``import xr_s5sr``.

    Parameters
    ----------
    obj : xarray.Dataset or xarray.DataArray
        L1B radiance with dims (scanline, ground_pixel, spectral_channel) or accepted aliases.
    """

    def __init__(self, obj: T):
        self._obj: T = obj

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
                raise InputDataError(
                    f"Variables {missing} not found: expected data variables of the object, "
                    f"found {list(ds.data_vars)}. Pass variables= naming some of those."
                )
            for v in variables:
                lacking = [d for d in dims.values() if d not in ds[v].dims]
                if lacking:
                    raise DimensionError(
                        f"Variable {v!r} has dims {ds[v].dims}, expected it to have "
                        f"{tuple(dims.values())}; it lacks {lacking}. Pass variables= naming "
                        "radiance variables only."
                    )
            return list(variables)
        if name in ds.data_vars:
            return [name]
        candidates = [
            v for v, da in ds.data_vars.items() if all(d in da.dims for d in dims.values())
        ]
        if not candidates:
            raise InputDataError(
                f"No {RADIANCE!r} variable and no variable on dims {tuple(dims.values())} "
                f"(found {list(ds.data_vars)}); pass variables=[...] naming the radiance "
                "variable(s)."
            )
        return candidates

    def _apply(
        self,
        function: Callable[..., xr.Dataset],
        roles: tuple[Role, ...],
        variables: Sequence[Hashable] | None,
        per_element: bool = False,
        kwargs: dict[str, Any] | None = None,
    ) -> Any:
        """Validate, run ``function`` on the Dataset form and return the input's kind.

        ``per_element``: the function runs the inference engine, which treats dims beyond the
        roles as block axes (one element per task; :func:`_check_extra_dims`) and merges chunks
        that split a non-scanline role (announced by :func:`_warn_split_chunks`).
        """
        ds, name = self._as_dataset()
        selected = self._variables(ds, name, variables, roles)
        dims = tuple(require_dims(ds, roles).values())
        ds = _checked_values(ds, selected)
        if per_element:
            _warn_split_chunks(ds, selected, dims)
            _check_extra_dims(ds, selected, dims)
        result = function(ds, variables=selected, dims=dims, **(kwargs or {}))
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
            kwargs={"band": number, "noise": noise, "seed": seed, "history": history_line(call)},
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
        consistency: bool | None = None,
        regularisation: float | str = "auto",
        missing: str = "fill",
        nonnegative: bool = True,
        spectral_prior: bool = True,
        sharp_prior: bool = False,
        spectral_composition: bool = False,
    ) -> T:
        """Super-resolve ×4, lazily over scanline blocks without seams.

        The default is the shipped S5-DSCR of the band: the training-free physics inverse plus
        the network's scale-equivariant detail, projected so that degrading the result gives
        back the input (``SR(a·y) = a·SR(y)`` for any brightness ``a > 0``).

        Parameters
        ----------
        band : int, optional
            S5P band 2–8; default from ``attrs['s5p_band']``.
        model : {"s5dscr", "s5dscr_s", "backprojection", "bicubic"}, default "s5dscr"
            Shipped model to use when ``weights`` is None, or a training-free method:
            ``"backprojection"`` (iterative back-projection with the exact degradation, SPEC §6)
            or ``"bicubic"`` (the paper's baseline).
        weights : path or torch.nn.Module, optional
            A weights file or an in-memory :class:`~xr_s5sr.models.S5DSCR` instead of the
            shipped weights.
        device : {"cpu", "cuda", None}, optional
            None picks CUDA when available, else CPU.
        output_chunks : int, optional
            dask input only: HR scanlines per output chunk, a multiple of 4 and at least the
            context a block of the model needs (the error names the smallest value); default
            from a memory budget. Refused for in-memory input, whose result is numpy.
        torch_threads : int, optional
            Threads per torch call, >= 1 (default: torch's current setting shared among the
            blocks running at once).
        dtype : {"float32", "bfloat16", "float16"}, default "float32"
            Compute precision of the network (``"float16"``: CUDA only); normalisation,
            bicubic branch and output stay float32.
        variables : sequence of hashable, optional
            Radiance variables to process; default ``radiance``.
        consistency : bool, optional
            Project the result onto the data (exact data consistency away from the first and
            last scanlines). Default: True, except for ``model="bicubic"``.
        regularisation : float or "auto", default "auto"
            Tikhonov weight μ (dimensionless) of that projection and of the damping of the
            physics inverse. ``"auto"`` chooses μ per window of scanlines from the data
            (discrepancy principle, :mod:`xr_s5sr.adaptive`; the noise from the file's
            ``radiance_noise`` when present): μ ≈ 0 on bright textured scenes, larger on
            dim or featureless ones, where an exact inverse would amplify the noise. 0: exact
            consistency (SPEC §6). Scale equivariance holds for every choice.
        missing : {"fill", "strict"}, default "fill"
            Missing (non-finite) LR values: ``"fill"`` interpolates them before processing and
            sets NaN only on their 4 × 4 HR footprint; ``"strict"`` sets NaN on every HR value
            they influence.
        nonnegative : bool, default True
            With ``consistency``: the non-negative radiance closest to consistency with the
            data (:func:`xr_s5sr.constrained.nonnegative_consistency`), so that non-negative
            input gives no negative radiance; False: the projection alone (an exact inverse
            can then give negative radiance near dark absorption lines and edges).
        spectral_prior : bool, default True
            Use the granule's own spectra as a prior: a signal subspace identified from the
            LR cube per settings window (:mod:`xr_s5sr.spectral`), which keeps spectra
            physical and lowers the noise on dim scenes. False: channel by channel.
        sharp_prior : bool, default False
            With ``spectral_prior``: choose the automatic μ and the detail gate for the
            denoised data and their lower noise rather than for the data as given. Sharper
            (+1.6 dB on the dim band-7 ``continuum`` scene of ``docs/physics.md``), but the
            spectral angle can then exceed bicubic's; the default keeps it at or below.
        spectral_composition : bool, default False
            Networks with ``consistency``: before the consistency step, each HR spectrum of
            the network's estimate takes the shape of the interpolated data's spectrum there,
            scaled to the estimate's intensity (:func:`xr_s5sr.spectral.compose_intensity`):
            a lower spectral angle at about equal PSNR, a larger misfit χ² on noisy scenes
            with edges (``docs/physics.md``). False: the network's spectra as they are.

        Returns
        -------
        xarray.Dataset or xarray.DataArray
            Same kind as the input, 4× larger along scanline and ground_pixel. HR pixel ``i``
            sits at LR fractional index ``(i − 2)/4`` (the degradation convention). A Dataset
            also holds its plausibility report (:mod:`xr_s5sr.plausibility`): the
            automatic settings per window (``s5sr_window_regularisation``,
            ``s5sr_window_sigma``; lazy for dask input) and, for in-memory input,
            ``s5sr_negative_fraction`` and ``s5sr_chi2``, with the numbers in ``attrs``. For
            dask input those two sums over the HR values are computed from the written
            result: :func:`xr_s5sr.to_zarr`/:func:`xr_s5sr.to_netcdf` with ``lr=`` the input
            put every number in the file's attributes, and
            :func:`xr_s5sr.plausibility.plausibility_report` with ``lr=`` returns them. A
            DataArray carries the numbers in ``attrs`` (in-memory input only).

        Raises
        ------
        S5SRArgumentError
            If a keyword has a value outside those listed (:class:`~xr_s5sr.options.
            SuperResolveOptions` checks them before any work).
        BandError
            If the band is unknown or has no super-resolution.
        """
        options = SuperResolveOptions(
            band=band,
            model=model,
            weights=weights,
            device=device,
            output_chunks=output_chunks,
            torch_threads=torch_threads,
            dtype=dtype,
            variables=None if variables is None else tuple(variables),
            consistency=consistency,
            regularisation=regularisation,
            missing=missing,
            nonnegative=nonnegative,
            spectral_prior=spectral_prior,
            sharp_prior=sharp_prior,
            spectral_composition=spectral_composition,
        )
        # Not through super_resolve_with: warnings point at the caller (a fixed stack depth).
        return self._apply(*_super_resolve_call(self._obj, options))

    def super_resolve_with(self, options: SuperResolveOptions) -> T:
        """:meth:`super_resolve` with its keywords as one validated
        :class:`~xr_s5sr.options.SuperResolveOptions` (what the command line hands down).

        Examples
        --------
        >>> import xr_s5sr
        >>> from xr_s5sr.options import SuperResolveOptions
        >>> lr = xr_s5sr.synthetic.make_granule(band=7, n_scanline=32, n_ground_pixel=24,
        ...                                     n_channel=4).s5sr.degrade()
        >>> sr = lr.s5sr.super_resolve_with(SuperResolveOptions(model="bicubic"))
        >>> dict(sr.radiance.sizes)
        {'scanline': 32, 'ground_pixel': 24, 'spectral_channel': 4}
        """
        return self._apply(*_super_resolve_call(self._obj, options))

    def subset(
        self,
        latitude: tuple[float, float],
        longitude: tuple[float, float],
        *,
        model: str = "s5dscr",
        band: int | None = None,
        weights: str | os.PathLike[str] | torch.nn.Module | None = None,
        consistency: bool | None = None,
        regularisation: float | str = "auto",
        halo: tuple[int, int] | None = None,
    ) -> T:
        """Crop to a latitude/longitude box plus the reach of a method, for super-resolving a
        region of interest (a city) without the whole orbit.

        Selects the smallest scanline/ground_pixel slice whose pixels cover the box
        (:func:`xr_s5sr.grid.region_slices`) plus ``halo`` LR pixels each side, by default the
        reach of the method (:func:`xr_s5sr.spec.crop_halo`): super-resolving the crop with
        the same method then gives the whole-granule result inside the box (to float
        rounding). With ``regularisation="auto"`` the automatic settings come from windows of
        whole scanlines (:mod:`xr_s5sr.adaptive`), so the crop keeps their reach along track
        and the whole swath across it.

        Parameters
        ----------
        latitude : tuple of float
            ``(south, north)``, degrees north.
        longitude : tuple of float
            ``(west, east)``, degrees east; ``west > east`` crosses the antimeridian, e.g.
            ``(175, -175)``.
        model, band, weights, consistency, regularisation
            The method that will be run (as in :meth:`super_resolve`); only its reach is used.
        halo : tuple of int, optional
            LR pixels to keep around the box along (scanline, ground_pixel) instead of the
            method's reach.

        Returns
        -------
        xarray.Dataset or xarray.DataArray
            Same kind as the input, lazy if it was (only latitude/longitude are read), with
            ``scanline``/``ground_pixel`` coordinates holding the absolute indices of the
            granule (created when absent) and ``s5sr_subset`` recording the slices.

        Raises
        ------
        RegionError
            If the box does not overlap the granule.
        S5SRArgumentError
            If the bounds are not ``(low, high)`` pairs of finite degrees.

        Examples
        --------
        >>> import xr_s5sr
        >>> lr = xr_s5sr.synthetic.make_granule(band=7, n_scanline=80, n_ground_pixel=24,
        ...                                     n_channel=4).s5sr.degrade()
        >>> lat, lon = float(lr.latitude[10, 3]), float(lr.longitude[10, 3])
        >>> city = lr.s5sr.subset(latitude=(lat - 0.1, lat + 0.1),
        ...                       longitude=(lon - 0.1, lon + 0.1), model="bicubic")
        >>> city.attrs["s5sr_subset"].split(":")[:2]  # LR row 10 ± 1 (cover) ± 6 (reach)
        ['scanline 3', '18, ground_pixel 0']
        """
        from xr_s5sr.grid import subset_region

        if halo is None:
            from xr_s5sr.spec import crop_halo, options_spec

            if model != "bicubic" or band is not None or consistency:
                band = resolve_band(self._obj, band, require_super_resolution=True)
            method = SuperResolveOptions(
                band, model, weights, "cpu", consistency=consistency, regularisation=regularisation
            )
            halo = crop_halo(options_spec(method))
        dims = require_dims(self._obj, _SPATIAL)
        spatial = (dims["scanline"], dims["ground_pixel"])
        return subset_region(self._obj, spatial, latitude, longitude, halo)

    def bicubic(self, band: int | None = None, variables: Sequence[Hashable] | None = None) -> T:
        """Bicubic ×4 baseline on the same HR grid as :meth:`super_resolve`.

        Uses PyTorch bicubic (a = −0.75, half-pixel centres, clamped border), i.e. the model's
        own upsampling branch without its learnt residual.
        """
        from xr_s5sr.inference import bicubic_dataset

        number = resolve_band(self._obj, band)
        return self._apply(
            bicubic_dataset, _ALL_ROLES, variables, per_element=True, kwargs={"band": number}
        )

    def evaluate(
        self,
        reference: xr.Dataset | xr.DataArray,
        baseline: xr.Dataset | xr.DataArray | None = None,
        variable: Hashable | None = None,
        paper_compatible: bool = False,
        border: int = 0,
        per_channel: bool = False,
        band: int | None = None,
        toolbox: bool = False,
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
        border : int, default 0
            HR pixels left out at each edge of both spatial axes.
        per_channel : bool, default False
            Also return ``psnr_per_channel`` along ``spectral_channel``.
        band : int, optional
            Band for the default bicubic baseline (default from ``attrs['s5p_band']``).
        toolbox : bool, default False
            Also report the S5P_SISR_Toolbox's indexes (``toolbox_Q2n`` … ``toolbox_PSNR``,
            :mod:`xr_s5sr.toolbox_indexes`), to put beside its published tables.

        Returns
        -------
        xarray.Dataset
            Metrics (PSNR, SSIM, sCC, SAM, ERGAS, RMSE) on a ``model`` dimension listing this
            estimate and the baseline; see :mod:`xr_s5sr.metrics` for the definitions.
        """
        from xr_s5sr.evaluate import evaluate_dataset

        return evaluate_dataset(
            self._obj,
            reference,
            baseline=baseline,
            variable=variable,
            paper_compatible=paper_compatible,
            border=border,
            per_channel=per_channel,
            band=band,
            toolbox=toolbox,
        )

    def assess(
        self,
        band: int | None = None,
        methods: Sequence[str] | None = None,
        weights: Sequence[str | os.PathLike[str]] = (),
        variable: Hashable | None = None,
        sigma: float | None = None,
        device: str | None = None,
        torch_threads: int | None = None,
    ) -> xr.Dataset:
        """Is it working on this LR granule? Scores of the methods without any HR.

        Reduced-resolution protocol (the LR degraded ×4, super-resolved, scored against the LR,
        with our metrics and the S5P_SISR_Toolbox's indexes) and full-resolution checks of the
        real output (noise-normalised consistency χ², spectral angle and sharpness against
        bicubic); :mod:`xr_s5sr.assess` defines them. The region is read into memory: assess a
        few hundred scanlines of a whole granule, e.g. ``ds.isel(scanline=slice(0, 256))``.

        Parameters
        ----------
        band : int, optional
            S5P band 2–8; default from ``attrs['s5p_band']``.
        methods : sequence of {"bicubic", "backprojection", "s5dscr", "s5dscr_s"}, optional
            Default: bicubic, backprojection and s5dscr (the network only when the data have
            the band's channel count).
        weights : sequence of path, optional
            Weights files assessed beside them (e.g. from ``xr-s5sr finetune``).
        variable : hashable, optional
            Radiance variable (default ``radiance``).
        sigma : float, optional
            Noise σ (radiance units) for χ² when the data have no ``radiance_noise`` and too
            few channels to estimate it.
        device : str, optional
            Torch device of the networks.
        torch_threads : int, optional
            Threads per torch call.

        Returns
        -------
        xarray.Dataset
            ``rr_*`` and ``fr_*`` scores on a ``model`` dimension (bicubic first); print them
            with :func:`xr_s5sr.assess.assess_table`.
        """
        from xr_s5sr.assess import assess_dataset, check_methods

        number = resolve_band(self._obj, band, require_super_resolution=True)
        check_methods(methods)
        return assess_dataset(
            self._obj,
            number,
            methods=methods,
            weights=list(weights),
            variable=variable,
            sigma=sigma,
            device=device,
            torch_threads=torch_threads,
        )


def _super_resolve_call(
    obj: xr.Dataset | xr.DataArray, options: SuperResolveOptions
) -> tuple[Callable[..., xr.Dataset], tuple[Role, ...], Any, bool, dict[str, Any]]:
    """Arguments of :meth:`S5SRAccessor._apply` for super-resolving ``obj`` with ``options``
    (the band resolved here, before any work)."""
    from xr_s5sr.inference import super_resolve_dataset

    number = resolve_band(obj, options.band, require_super_resolution=True)
    kwargs = {"options": options.with_band(number)}
    return super_resolve_dataset, _ALL_ROLES, options.variables, True, kwargs


# ---------------------------------------------------------------------------------- input checks
def _fill_values(array: xr.DataArray) -> list[float]:
    """Values of ``array`` that mark missing data it was not decoded from (may be empty)."""
    fills = [FILL_VALUE] if array.dtype.kind == "f" else []
    for key in _FILL_ATTRS:
        declared = np.atleast_1d(array.attrs.get(key, []))
        if declared.dtype.kind in "iuf":  # ignore malformed (e.g. text) attributes
            fills.extend(float(v) for v in declared)
    return fills


def _scan(values: np.ndarray, fills: list[float]) -> tuple[bool, bool]:
    """(any fill value, any finite non-fill value) in a numpy array, in bounded memory."""
    has_fill = has_finite = False
    for start in range(0, values.shape[0], _SCAN_ROWS):
        slab = values[start : start + _SCAN_ROWS]
        filled = np.isin(slab, fills)
        has_fill = has_fill or bool(filled.any())
        has_finite = has_finite or bool((np.isfinite(slab) & ~filled).any())
    return has_fill, has_finite


def _checked_values(ds: xr.Dataset, names: Sequence[Hashable]) -> xr.Dataset:
    """``ds`` (not modified) with the processed variables checked and fill values set to NaN.

    Raises
    ------
    InputDataError
        If a variable is not real-valued, or (numpy only) holds no finite, non-fill value.
    """
    out = ds
    for name in names:
        array = ds[name]
        if array.dtype.kind not in "iuf":
            raise InputDataError(
                f"Variable {name!r} has dtype {array.dtype}: expected real numbers (float32 "
                "radiance; integers and float64 are accepted). Convert it, e.g. "
                f"ds[{name!r}].astype('float32')."
            )
        fills = _fill_values(array)
        # Not inspected: dask data (that would compute) and empty data (the engines report
        # empty dims with a DimensionError naming them).
        unseen = array.chunks is not None or array.size == 0
        has_fill, has_finite = (True, True) if unseen else _scan(array.values, fills)
        if not has_finite:
            raise InputDataError(
                f"Variable {name!r} holds no finite value: every element is NaN, ±inf or a "
                f"fill value {sorted(set(fills))} (sizes {dict(array.sizes)}). Nothing can be "
                "computed; check the file and the selection (e.g. a fully flagged or "
                "night-side granule)."
            )
        if has_fill and fills:
            # Fill values are finite: left in, they would enter the filters as huge radiances.
            masked = array.where(~array.isin(fills))
            masked.attrs = {k: v for k, v in array.attrs.items() if k not in _FILL_ATTRS}
            out = out.copy() if out is ds else out
            out[name] = masked
    return out


def _check_extra_dims(
    ds: xr.Dataset, names: Sequence[Hashable], dims: tuple[Hashable, ...]
) -> None:
    """Refuse an empty extra dim (e.g. ``time``) of the variables to super-resolve."""
    for name in names:
        for dim in ds[name].dims:
            if dim not in dims and ds.sizes[dim] == 0:
                raise DimensionError(
                    f"Dim {dim!r} has size 0: nothing to super-resolve (sizes "
                    f"{dict(ds.sizes)}). Check the selection."
                )


def _warn_split_chunks(
    ds: xr.Dataset, names: Sequence[Hashable], dims: tuple[Hashable, ...]
) -> None:
    """Warn when dask chunks split ground_pixel or spectral_channel (the engine merges them)."""
    for name in names:
        # The variable's own chunks: its coordinates may be chunked otherwise (files written
        # by other tools), which DataArray.chunksizes refuses.
        chunks = ds[name].variable.chunksizes
        split = {d: chunks[d] for d in dims[1:] if len(chunks.get(d, ())) > 1}
        if split:
            whole = ", ".join(f"{str(d)!r}: -1" for d in dims[1:])
            warnings.warn(
                PerformanceWarning(
                    f"{name!r} is chunked along {list(split)} (chunks {split}); super-resolution "
                    "needs whole ground_pixel rows and the whole spectrum in each block, so it "
                    "rechunks them into one chunk, which moves data between tasks and raises "
                    f"memory use. Chunk along {str(dims[0])!r} only, e.g. "
                    f"ds.chunk({{{whole}}}), or open files with xr_s5sr.open_l1b (default "
                    "chunks)."
                ),
                stacklevel=4,
            )


@xr.register_dataset_accessor("s5sr")
class S5SRDatasetAccessor(S5SRAccessor[xr.Dataset]):
    """``Dataset.s5sr``: see :class:`S5SRAccessor`."""


@xr.register_dataarray_accessor("s5sr")
class S5SRDataArrayAccessor(S5SRAccessor[xr.DataArray]):
    """``DataArray.s5sr``: see :class:`S5SRAccessor`."""


__all__ = ["S5SRAccessor", "S5SRDataArrayAccessor", "S5SRDatasetAccessor"]
