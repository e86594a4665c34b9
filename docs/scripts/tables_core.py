"""What every page module of ``docs/scripts/tables.py`` shares: the repository root, the
reading of a result JSON (a smoke run is refused), the run record's commit and the number
formatters the pages write with.

It writes no page itself; ``tables.py`` imports the page modules (``tables_<page>.py``),
which import this one, so nothing here imports a page module.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
#: A loss to the physics inverse larger than this (dB) is counted; below it is rounding-level
#: (the test set's losses and the plausibility notes count with the same bar).
LOSS_DB = 0.05


class QuickRunError(ValueError):
    """A smoke run's JSON was given where a table quotes measured numbers."""


def load_run(path: Path) -> dict[str, Any] | None:
    """The result JSON at ``path``, or None where it was not written yet.

    Raises
    ------
    QuickRunError
        When the JSON (or its ``set``) is marked ``"quick": true``: a smoke run is never
        quoted.
    """
    if not path.exists():
        return None
    result = json.loads(path.read_text())
    if result.get("quick") or result.get("set", {}).get("quick"):
        raise QuickRunError(f"{path.name} is a smoke run (--quick): its numbers are not quoted.")
    return result


def short_commit(commit: str) -> str:
    """A run record's commit, short, keeping its ``+uncommitted`` mark."""
    head, _, mark = commit.partition("+")
    return head[:7] + (f"+{mark}" if mark else "")


def cite_commit(result: dict[str, Any], lead: str = ", commit ") -> str:
    """``, commit `0123456``: the commit of ``result``'s run record as the pages cite it after
    "`script` → `json`" (``+uncommitted`` kept, as :func:`short_commit` writes it).

    Empty for a JSON written before its script kept a record, so such a block reads as it did;
    the generators whose JSON always had a record index ``result["record"]`` instead, so a
    missing record fails there.
    """
    record = result.get("record")
    return f"{lead}`{short_commit(record['commit'])}`" if record else ""


# ------------------------------------------------------------------------- number formatters
def dB(value: float, decimals: int = 2) -> str:
    """``value`` as the README writes it: sign, typographic minus, 0.00 without a sign."""
    text = f"{abs(value):.{decimals}f}"
    if float(text) == 0:
        return text
    return ("+" if value > 0 else "−") + text


def signed_dB(value: float, decimals: int = 2) -> str:
    """:func:`dB`, but zero written ``+0.00``: a gain that is nil, not a loss."""
    text = dB(value, decimals)
    return "+" + text if value >= 0 and not text.startswith("+") else text


def share(value: float) -> str:
    """A fraction as a percentage with one decimal: ``0.123`` as ``12.3 %``."""
    return f"{100 * value:.1f} %"


def percent(value: float) -> str:
    """``−0.37``, ``−4.4``, ``0``: two significant digits, typographic minus."""
    if value == 0:
        return "0"
    return ("+" if value > 0 else "−") + f"{abs(value):.2g}"


def sci(value: float) -> str:
    """``1.3e4``: two significant digits, the exponent without padding."""
    mantissa, exponent = f"{value:.1e}".split("e")
    return f"{mantissa}e{int(exponent)}"


def power(value: float) -> str:
    """``3e-06`` as ``3·10⁻⁶``."""
    mantissa, exponent = f"{value:.0e}".split("e")
    superscript = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")
    return f"{mantissa}·10{str(int(exponent)).translate(superscript)}"


def span(
    values: Iterable[float],
    fmt: str | Callable[[float], str],
    sep: str = "–",
    unit: str = "",
    merge: bool = False,
) -> str:
    """The smallest and the largest of ``values`` as ``low<sep>high<unit>``.

    Parameters
    ----------
    values
        The numbers; read once.
    fmt
        A format spec (``".2f"``) or a function (:func:`dB`, :func:`sci`) for each end.
    sep
        Between the two ends: ``"–"``, ``" to "``, ``" … "``.
    unit
        Written once, after the high end (``" %"``, ``"×"``).
    merge
        Write one end where both are written alike (``0.5 %``, not ``0.5–0.5 %``).
    """
    values = list(values)

    def write(value: float) -> str:
        return format(value, fmt) if isinstance(fmt, str) else fmt(value)

    low, high = write(min(values)), write(max(values))
    if merge and low == high:
        return low + unit
    return f"{low}{sep}{high}{unit}"


def and_list(items: list[Any]) -> str:
    """``[3, 7]`` as "3 and 7", ``[2, 4, 5]`` as "2, 4 and 5"."""
    text = [str(n) for n in items]
    return text[0] if len(text) == 1 else ", ".join(text[:-1]) + " and " + text[-1]
