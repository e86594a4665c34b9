"""The per-process cache of loaded models: one bounded, lock-guarded store shared by all threads.

Boundary: keys and objects only; nothing here reads files or builds modules. Graph tasks carry
a small spec (:class:`xr_s5sr.spec.ModelSpec`), and each worker process turns it into a module
once: weights files (:func:`xr_s5sr.weights.cached_model`), in-memory modules moved to a device
and the fast CPU forms of :mod:`xr_s5sr.fused` (:func:`xr_s5sr.spec.resolve_runner`) all go
through :func:`cached_model_object`, so they share one bound on memory.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

#: Models (and their fast CPU forms) kept per process by :func:`cached_model_object`.
MODEL_CACHE_SIZE = 8
_MODEL_CACHE: OrderedDict[tuple[object, ...], Any] = OrderedDict()
_MODEL_CACHE_LOCK = threading.Lock()


def cached_model_object(key: tuple[object, ...], make: Callable[[], Any]) -> Any:
    """The process's one bounded model cache: ``make()`` once per ``key``, least recently used
    entries dropped beyond :data:`MODEL_CACHE_SIZE`.

    The lock is held while ``make()`` runs, so concurrent first calls (dask threads) build a
    model once. ``key`` starts with what kind of object it is (``"weights"``, ``"module"``,
    ``"fused"``) so that kinds never collide.

    Examples
    --------
    >>> built = []
    >>> first = cached_model_object(("example", 1), lambda: built.append(1) or "model")
    >>> again = cached_model_object(("example", 1), lambda: built.append(1) or "model")
    >>> first, again, len(built)
    ('model', 'model', 1)
    """
    with _MODEL_CACHE_LOCK:
        value = _MODEL_CACHE.get(key)
        if value is None:
            value = make()
            _MODEL_CACHE[key] = value
            while len(_MODEL_CACHE) > MODEL_CACHE_SIZE:
                _MODEL_CACHE.popitem(last=False)
        else:
            _MODEL_CACHE.move_to_end(key)
    return value


def clear_model_cache() -> None:
    """Forget every model cached by this process (weights files, modules, fast CPU forms)."""
    with _MODEL_CACHE_LOCK:
        _MODEL_CACHE.clear()


__all__ = ["MODEL_CACHE_SIZE", "cached_model_object", "clear_model_cache"]
