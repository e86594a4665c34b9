"""Tests of xr_s5sr.allocator: glibc's mmap threshold for the engine's large temporaries."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from xr_s5sr import allocator, row_reads
from xr_s5sr.errors import S5SRArgumentError

GLIBC = sys.platform.startswith("linux") and os.confstr("CS_GNU_LIBC_VERSION") is not None

# Allocates, touches and frees a 1 MB temporary 200 times (as the network's strips and the
# physics' channel groups do, at 1-20 MB) and prints the minor page faults of the loop. 1 MB:
# below the 2 MB of a transparent huge page, so a fresh mapping faults once per 4 KiB page.
_FAULTS = textwrap.dedent(
    """
    import resource, sys
    import numpy as np
    from xr_s5sr import allocator
    if sys.argv[1] == "tuned":
        print("set", allocator.tune_allocator(), file=sys.stderr)
    np.ones(2**18, np.float32).sum()  # warm the heap once
    start = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(200):
        np.ones(2**18, np.float32).sum()
    print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - start)
    """
)


def _page_faults(mode: str, **env: str) -> int:
    """Minor page faults of :data:`_FAULTS` in a fresh process with dask's worker setting."""
    environment = {**os.environ, "MALLOC_TRIM_THRESHOLD_": "65536", **env}
    done = subprocess.run(
        [sys.executable, "-c", _FAULTS, mode],
        env=environment,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return int(done.stdout.split()[-1])


@pytest.mark.skipif(not GLIBC, reason="the mmap threshold is a glibc setting")
def test_tuned_allocator_reuses_large_temporaries() -> None:
    # Under dask's MALLOC_TRIM_THRESHOLD_ every 1 MB temporary is a fresh mmap: 256 page
    # faults each, ~51,000 for the loop. Tuned, the heap reuses one buffer.
    plain = _page_faults("plain")
    tuned = _page_faults("tuned")
    assert plain > 200 * 200
    assert tuned < plain / 20
    # XR_S5SR_MMAP_THRESHOLD=0 leaves malloc as it is.
    assert _page_faults("tuned", XR_S5SR_MMAP_THRESHOLD="0") > 200 * 200


def test_threshold_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(allocator.ENVIRONMENT_VARIABLE, raising=False)
    assert allocator.configured_threshold() == allocator.MMAP_THRESHOLD == 32 * 2**20
    monkeypatch.setenv(allocator.ENVIRONMENT_VARIABLE, "1048576")
    assert allocator.configured_threshold() == 2**20
    for bad in ("lots", "-1", str(2**31)):
        monkeypatch.setenv(allocator.ENVIRONMENT_VARIABLE, bad)
        with pytest.raises(S5SRArgumentError, match=r"XR_S5SR_MMAP_THRESHOLD=.* is not a number"):
            allocator.configured_threshold()


def test_every_block_task_tunes_the_allocator(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    monkeypatch.setattr(row_reads, "tune_allocator", lambda: calls.append(1) or 0)
    block = np.ones((1, 2, 3, 4), np.float32)
    out = row_reads.per_element(block, function=lambda cube: cube * 2)
    np.testing.assert_allclose(out, 2 * block, rtol=1e-7, atol=1e-7)
    assert calls == [1]


def test_tune_allocator_runs_once(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[int] = []
    monkeypatch.setattr(allocator, "_applied", None)
    monkeypatch.setattr(allocator, "_set_mmap_threshold", lambda value: seen.append(value) or 7)
    monkeypatch.setenv(allocator.ENVIRONMENT_VARIABLE, "4096")
    assert allocator.tune_allocator() == 7
    assert allocator.tune_allocator() == 7
    assert seen == [4096]
