"""Exception hierarchy of xr_s5sr.

Every error the package raises on purpose derives from :class:`S5SRError`, so callers can catch
one class. Messages follow one pattern: what was expected, what was found, and how to fix it.
Warnings about avoidable costs (the input is processed correctly, but slowly) are
:class:`PerformanceWarning`. ``docs/errors.md`` lists every cause and its fix.
This module imports nothing from the rest of the package.
"""

from __future__ import annotations


class S5SRError(Exception):
    """Base class of every error raised on purpose by xr_s5sr."""


class S5SRArgumentError(S5SRError, ValueError):
    """An argument has a value the function does not accept (the message lists the allowed ones)."""


class S5SRTypeError(S5SRError, TypeError):
    """An argument has a type the function does not accept."""


class MissingInputError(S5SRError, FileNotFoundError):
    """An input file (granule, sample, reference data) does not exist."""


class MissingDependencyError(S5SRError, ImportError):
    """An optional dependency needed by the feature is not installed."""


class DimensionError(S5SRError, ValueError):
    """A required dimension is missing, misnamed, chunked wrongly or too small."""


class RegionError(S5SRError, ValueError):
    """A region of interest (latitude/longitude box) does not overlap the granule."""


class BandError(S5SRError, ValueError):
    """The S5P band is unknown, cannot be inferred, or is not supported for the operation."""


class ChannelMismatchError(S5SRError, ValueError):
    """The number of spectral channels does not match the model weights."""


class InputDataError(S5SRError, ValueError):
    """The radiance values cannot be processed (all NaN/fill, wrong dtype, bad coordinates)."""


class L1BFormatError(S5SRError, ValueError):
    """A file is not a readable Sentinel-5P L1B radiance product."""


class WeightsError(S5SRError, RuntimeError):
    """Model weights are missing, corrupt, of the wrong band, unsafe or unreachable."""


class OutputExistsError(S5SRError, FileExistsError):
    """The output path exists and overwriting was not requested."""


class OutputPathError(S5SRError, OSError):
    """The output path cannot be written (read-only directory, missing parent)."""


class PerformanceWarning(UserWarning):
    """The input works but forces avoidable work (e.g. a rechunk); the message says what to do."""


class OutOfDistributionWarning(UserWarning):
    """The input's radiance statistics lie far outside what the model was trained on."""


__all__ = [
    "BandError",
    "ChannelMismatchError",
    "DimensionError",
    "InputDataError",
    "L1BFormatError",
    "MissingDependencyError",
    "MissingInputError",
    "OutOfDistributionWarning",
    "OutputExistsError",
    "OutputPathError",
    "PerformanceWarning",
    "RegionError",
    "S5SRArgumentError",
    "S5SRError",
    "S5SRTypeError",
    "WeightsError",
]
