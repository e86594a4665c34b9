"""The per-process model cache: one build per key, least recently used entries dropped."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from xr_s5sr import cache


@pytest.fixture(autouse=True)
def empty_cache() -> Iterator[None]:
    cache.clear_model_cache()
    yield
    cache.clear_model_cache()


def test_least_recently_used_entry_is_dropped_beyond_the_bound() -> None:
    builds: list[int] = []

    def get(key: int) -> object:
        return cache.cached_model_object(("test", key), lambda: builds.append(key) or f"m{key}")

    for key in range(cache.MODEL_CACHE_SIZE):
        get(key)
    get(0)  # now the most recently used: key 1 is the oldest
    get(cache.MODEL_CACHE_SIZE)  # one over the bound drops key 1
    assert builds == [*range(cache.MODEL_CACHE_SIZE), cache.MODEL_CACHE_SIZE]
    get(0)
    get(1)
    assert builds[-1] == 1
    assert builds.count(0) == 1


def test_clear_forgets_every_entry() -> None:
    builds: list[str] = []
    cache.cached_model_object(("test", "a"), lambda: builds.append("a") or "model")
    cache.clear_model_cache()
    cache.cached_model_object(("test", "a"), lambda: builds.append("a") or "model")
    assert builds == ["a", "a"]
