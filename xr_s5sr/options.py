"""The settings of one super-resolution run: a frozen, validated :class:`SuperResolveOptions`.

Boundary: plain Python values only, no arrays, no torch, no other package module but
:mod:`xr_s5sr.errors` (so every layer may import it). The accessor and the command line build one
options object from the user's keywords; :mod:`xr_s5sr.inference` hands it to
:func:`xr_s5sr.spec.options_spec` (the method) and to the engine (how to run it). Every rule
about a keyword's *value* lives here, once: the spec, the engine and the command line call the
same checks (:func:`check_regularisation`, :func:`check_torch_threads`, …). What needs the
data or the machine (the band from the file, CUDA's presence, chunks of dask input) is checked
where those are known.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, fields, replace
from typing import TYPE_CHECKING, Any

from xr_s5sr.errors import S5SRArgumentError

if TYPE_CHECKING:
    import os

    import torch

#: ``regularisation`` value that chooses μ per settings window from the data
#: (:mod:`xr_s5sr.adaptive`).
AUTO = "auto"
#: Compute precisions accepted by ``dtype=``; the output is float32 in every case.
COMPUTE_DTYPES = ("float32", "bfloat16", "float16")
#: Policies for missing (non-finite) input values (:mod:`xr_s5sr.missing`).
MISSING_POLICIES = ("fill", "strict")
#: Methods accepted as ``model=``: the shipped network presets, then the training-free methods.
MODELS = ("s5dscr", "s5dscr_s", "backprojection", "bicubic")
#: The method's on/off switches (booleans): the same names as options, CLI flags and history.
METHOD_FLAGS = ("nonnegative", "spectral_prior", "sharp_prior", "spectral_composition")


def check_regularisation(regularisation: object) -> float | str:
    """``"auto"`` or a finite non-negative float; anything else is an argument error.

    Examples
    --------
    >>> check_regularisation(0), check_regularisation("auto")
    (0.0, 'auto')
    """
    if regularisation == AUTO:
        return AUTO
    if (
        isinstance(regularisation, int | float)
        and not isinstance(regularisation, bool)
        and math.isfinite(regularisation)
        and regularisation >= 0
    ):
        return float(regularisation)
    raise S5SRArgumentError(
        f"regularisation must be 'auto' or a finite non-negative number, got {regularisation!r}. "
        "Pass e.g. regularisation=0 for exact data consistency, or 'auto'."
    )


def check_torch_threads(torch_threads: object) -> int | None:
    """None or a whole number of torch threads >= 1 (torch would fail inside a task)."""
    if torch_threads is not None and (
        isinstance(torch_threads, bool) or not isinstance(torch_threads, int) or torch_threads < 1
    ):
        raise S5SRArgumentError(
            f"torch_threads={torch_threads!r}: expected a whole number of threads >= 1 per "
            "task, or None for the default (the calling thread's torch threads shared among "
            "the blocks running at once)."
        )
    return torch_threads


def check_choice(name: str, value: object, allowed: Sequence[object]) -> None:
    """Refuse ``value`` for keyword ``name`` unless it is one of ``allowed``."""
    if not isinstance(value, str) or value not in allowed:
        raise S5SRArgumentError(f"{name} must be one of {tuple(allowed)}, got {value!r}.")


def check_flag(name: str, value: object, optional: bool = False) -> None:
    """A boolean keyword (or None where ``optional``); anything else is an argument error."""
    if isinstance(value, bool) or (optional and value is None):
        return
    allowed = "True, False or None" if optional else "True or False"
    raise S5SRArgumentError(f"{name} must be {allowed}, got {value!r}.")


@dataclass(frozen=True)
class SuperResolveOptions:
    """The keywords of :meth:`xr_s5sr.accessor.S5SRAccessor.super_resolve`, checked once.

    Building one validates every value that can be judged without the data (the errors are
    :class:`~xr_s5sr.errors.S5SRArgumentError` naming the keyword, the value and what is
    allowed); the band, the weights file and the device are resolved by
    :func:`xr_s5sr.spec.options_spec`, the chunks by the engine.

    Attributes
    ----------
    band : int or None
        S5P band 2–8; None: from ``attrs['s5p_band']`` (resolved by the accessor).
    model : {"s5dscr", "s5dscr_s", "backprojection", "bicubic"}
        Shipped network preset, or a training-free method; ignored when ``weights`` is a
        module.
    weights : path or torch.nn.Module or None
        A weights file or an in-memory :class:`~xr_s5sr.models.S5DSCR` instead of the shipped
        weights.
    device : str or None
        ``"cpu"``, ``"cuda"``, ``"cuda:<n>"``; None: CUDA when available.
    output_chunks : int or None
        HR scanlines per output chunk (dask input only; the engine checks the multiple of 4).
    torch_threads : int or None
        Threads per torch call (>= 1).
    dtype : {"float32", "bfloat16", "float16"}
        Compute precision of the network (float16: CUDA only).
    variables : tuple of hashable or None
        Radiance variables to process; None: ``radiance``.
    consistency : bool or None
        Project onto the data; None: on for everything but bicubic.
    regularisation : float or "auto"
        Tikhonov weight μ (dimensionless) of the physics steps, or ``"auto"``: per settings
        window from the data.
    missing : {"fill", "strict"}
        Policy for missing LR values (:mod:`xr_s5sr.missing`).
    nonnegative : bool
        With consistency: the non-negative consistent result
        (:func:`xr_s5sr.constrained.nonnegative_consistency`); False: the projection alone.
    spectral_prior : bool
        Use the granule's own spectral subspace as a prior (:mod:`xr_s5sr.subspace`).
    sharp_prior : bool
        With ``spectral_prior``: the automatic settings read the denoised data (sharper, a
        spectral angle that may exceed bicubic's; ``docs/physics.md``).
    spectral_composition : bool
        Networks with consistency: the estimate's spectra take the interpolated data's shape
        before the consistency step (:func:`xr_s5sr.spectral.compose_intensity`).

    Examples
    --------
    >>> options = SuperResolveOptions(model="backprojection", regularisation=0)
    >>> options.regularisation, options.with_band(7).band
    (0.0, 7)
    >>> SuperResolveOptions(missing="drop")
    Traceback (most recent call last):
    ...
    xr_s5sr.errors.S5SRArgumentError: missing must be one of ('fill', 'strict'), got 'drop'.
    """

    band: int | None = None
    model: str = "s5dscr"
    weights: str | os.PathLike[str] | torch.nn.Module | None = None
    device: str | None = None
    output_chunks: int | None = None
    torch_threads: int | None = None
    dtype: str = "float32"
    variables: tuple[Hashable, ...] | None = None
    consistency: bool | None = None
    regularisation: float | str = AUTO
    missing: str = "fill"
    nonnegative: bool = True
    spectral_prior: bool = True
    sharp_prior: bool = False
    spectral_composition: bool = False

    def __post_init__(self) -> None:
        check_choice("model", self.model, MODELS)
        check_choice("dtype", self.dtype, COMPUTE_DTYPES)
        check_choice("missing", self.missing, MISSING_POLICIES)
        check_torch_threads(self.torch_threads)
        check_flag("consistency", self.consistency, optional=True)
        for flag in METHOD_FLAGS:
            check_flag(flag, getattr(self, flag))
        if self.device is not None and not isinstance(self.device, str):
            raise S5SRArgumentError(
                f"device must be 'cpu', 'cuda', 'cuda:<n>' or None, got {self.device!r}."
            )
        band = self.band
        if band is not None and (isinstance(band, bool) or not isinstance(band, int)):
            raise S5SRArgumentError(f"band must be an integer 2..8 or None, got {self.band!r}.")
        if self.output_chunks is not None and (
            isinstance(self.output_chunks, bool)
            or not isinstance(self.output_chunks, int)
            or self.output_chunks < 1
        ):
            raise S5SRArgumentError(
                f"output_chunks must be a positive whole number of HR scanlines (a multiple "
                f"of 4) or None, got {self.output_chunks!r}."
            )
        # Normalised forms: frozen, hence object.__setattr__ (values only, never new fields).
        object.__setattr__(self, "regularisation", check_regularisation(self.regularisation))
        if self.variables is not None:
            names = [self.variables] if isinstance(self.variables, str) else self.variables
            object.__setattr__(self, "variables", tuple(names))

    def with_band(self, band: int) -> SuperResolveOptions:
        """The same options for a resolved ``band``."""
        return replace(self, band=band)

    def changed(self, names: Sequence[str]) -> dict[str, Any]:
        """The options among ``names`` that differ from their defaults (for the ``history``
        line), in the order of ``names``.

        Examples
        --------
        >>> SuperResolveOptions(nonnegative=False).changed(("missing", "nonnegative"))
        {'nonnegative': False}
        """
        defaults = {item.name: item.default for item in fields(self)}
        return {n: getattr(self, n) for n in names if getattr(self, n) != defaults[n]}


__all__ = [
    "AUTO",
    "COMPUTE_DTYPES",
    "METHOD_FLAGS",
    "MISSING_POLICIES",
    "MODELS",
    "SuperResolveOptions",
    "check_choice",
    "check_flag",
    "check_regularisation",
    "check_torch_threads",
]
