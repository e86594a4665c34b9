"""Progress of the command line's computes on stderr: dask's bar on a terminal, one line per
tenth of the tasks in logs and batch jobs, the dashboard's address under dask.distributed.

Boundary: standard library and dask only; used by :mod:`xr_s5sr.cli`.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


def _active_client() -> Any:
    """The dask.distributed Client in use, or None (distributed need not be installed)."""
    try:
        from distributed import get_client
    except ImportError:
        return None
    try:
        return get_client()
    except ValueError:  # no client
        return None


def _line_progress() -> Any:
    """A dask callback printing one line per tenth of the tasks (for logs: no carriage returns)."""
    from dask.callbacks import Callback

    class LineProgress(Callback):  # type: ignore[misc]
        def _start_state(self, dsk: Any, state: Any) -> None:
            self._total = sum(len(state[k]) for k in ("ready", "waiting", "running", "finished"))
            self._done = 0
            self._reported = 0

        def _posttask(self, key: Any, result: Any, dsk: Any, state: Any, worker_id: Any) -> None:
            self._done += 1
            tenth = 10 * self._done // max(self._total, 1)
            if tenth > self._reported:
                self._reported = tenth
                print(f"progress: {10 * tenth}% of {self._total} tasks", file=sys.stderr)

    return LineProgress()


@contextmanager
def compute_progress(quiet: bool) -> Iterator[None]:
    """Progress of every compute on stderr: dask's bar on a terminal, one line per 10 % of the
    tasks otherwise (logs, batch jobs); with a dask.distributed Client, its dashboard."""
    if quiet:
        yield
        return
    client = _active_client()
    if client is not None:
        print(f"progress: see the dask dashboard at {client.dashboard_link}", file=sys.stderr)
        yield
        return
    if not sys.stderr.isatty():
        with _line_progress():
            yield
        return
    from dask.diagnostics import ProgressBar

    with ProgressBar(minimum=1.0, out=sys.stderr):
        yield


__all__ = ["compute_progress"]
