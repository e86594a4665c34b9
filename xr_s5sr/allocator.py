"""The process's memory allocator, set once for the engine's large temporaries (glibc only).

Why: dask.distributed starts its workers with ``MALLOC_TRIM_THRESHOLD_=65536`` so that freed
memory goes back to the operating system. Setting any of glibc's malloc thresholds switches
off its *dynamic* thresholds, which otherwise rise with the blocks a program frees (the mmap
threshold up to 32 MiB on 64-bit systems, the trim threshold to twice that). Every temporary
above glibc's initial 128 KiB (a channel group of a consistency window, ~20 MB; a strip of the
fused network, a few MB) is then a fresh ``mmap``, or heap memory returned on free: either way
zero-filled page by page on its next first touch. The physics steps then ran 2–3× slower
(``docs/performance.md``, "Memory allocator on dask.distributed", measured on a cluster).

:func:`tune_allocator` sets, once per process, glibc's mmap threshold to :data:`MMAP_THRESHOLD`
and its trim threshold to twice that: the pair glibc's own dynamic rule reaches. Free memory at
the top of the heap beyond 64 MiB still goes back to the system. Every block task of the engine
calls it (:func:`xr_s5sr.row_reads.per_element`). The environment variable
:data:`ENVIRONMENT_VARIABLE` overrides the value (bytes; ``0`` leaves the allocator as it is).
Elsewhere than glibc (macOS, Windows, musl) nothing is changed.

Boundary: the C library through :mod:`ctypes`; imports nothing from the package but its errors.
"""

from __future__ import annotations

import ctypes
import os
import sys
import threading

from xr_s5sr.errors import S5SRArgumentError

#: glibc's mmap threshold set by :func:`tune_allocator`, bytes: the largest value glibc's own
#: dynamic threshold reaches on 64-bit systems, above the engine's per-group temporaries.
MMAP_THRESHOLD = 32 * 2**20
#: Environment variable overriding :data:`MMAP_THRESHOLD` (bytes; 0: leave malloc alone).
ENVIRONMENT_VARIABLE = "XR_S5SR_MMAP_THRESHOLD"
#: ``mallopt`` parameter numbers of ``M_TRIM_THRESHOLD`` and ``M_MMAP_THRESHOLD`` (malloc.h).
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3

_lock = threading.Lock()
_applied: int | None = None


def configured_threshold() -> int:
    """The mmap threshold to set, bytes: :data:`ENVIRONMENT_VARIABLE` or the default.

    Raises
    ------
    S5SRArgumentError
        If the environment variable is not a non-negative integer.
    """
    value = os.environ.get(ENVIRONMENT_VARIABLE)
    if value is None:
        return MMAP_THRESHOLD
    try:
        threshold = int(value)
    except ValueError:
        threshold = -1
    if not 0 <= threshold < 2**31:  # mallopt takes a C int
        raise S5SRArgumentError(
            f"{ENVIRONMENT_VARIABLE}={value!r} is not a number of bytes. Set it to an "
            f"integer from 0 to 2**31 - 1 (e.g. {MMAP_THRESHOLD}), or 0 to leave malloc as it is."
        )
    return threshold


def tune_allocator() -> int:
    """Set glibc's mmap and trim thresholds once in this process (module docstring).

    Returns
    -------
    int
        The threshold set, bytes; 0 when nothing was changed (not glibc, or disabled by
        :data:`ENVIRONMENT_VARIABLE`). Later calls return the first call's result.
    """
    global _applied
    if _applied is not None:
        return _applied
    with _lock:
        if _applied is None:
            _applied = _set_mmap_threshold(configured_threshold())
    return _applied


def _set_mmap_threshold(threshold: int) -> int:
    """``mallopt`` of the mmap threshold (and twice it as the trim threshold) where the C
    library is glibc; the mmap threshold set, or 0."""
    if threshold == 0 or not sys.platform.startswith("linux"):
        return 0
    try:
        libc = ctypes.CDLL(None)
    except OSError:
        return 0
    # glibc only: musl's mallopt exists and does nothing.
    if not hasattr(libc, "gnu_get_libc_version") or not hasattr(libc, "mallopt"):
        return 0
    mallopt = libc.mallopt
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    if mallopt(_M_MMAP_THRESHOLD, threshold) != 1:
        return 0
    # What glibc's dynamic rule pairs with it: a freed temporary at the top of the heap is
    # kept for the next one instead of being returned and faulted in again.
    mallopt(_M_TRIM_THRESHOLD, min(2 * threshold, 2**31 - 1))
    return threshold


__all__ = ["ENVIRONMENT_VARIABLE", "MMAP_THRESHOLD", "configured_threshold", "tune_allocator"]
