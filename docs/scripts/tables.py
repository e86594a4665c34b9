"""Write the tables of measured numbers in README.md and docs/*.md from the committed JSON.

Run from the repository root::

    python docs/scripts/tables.py          # rewrite every table between its markers
    python docs/scripts/tables.py --check  # exit 1 and name the pages that differ

A table lives between ``<!-- table:NAME -->`` and ``<!-- /table -->``; NAME selects its
generator in :data:`TABLES`. The generators live next to this script, one module per page
(``tables_evaluation.py``: README and docs/evaluation.md; ``tables_physics.py`` and
``tables_plausibility.py``: docs/physics.md; ``tables_performance.py``, ``tables_finetune.py``,
``tables_weights.py``, ``tables_assess.py``, ``tables_cli.py``: the page of that name; each
module's docstring names the blocks it writes), their
shared helpers and number formatters in ``tables_core.py``. Each reads one JSON:
``weights/test_evaluation.json`` (the pre-registered test set, ``weights/evaluate_test.py``:
the only source of README's claims on quality), ``weights/tuning_dev.json`` (the
development-set choices, ``weights/tune_dev.py``: design evidence, never a claim of quality),
``docs/scripts/assess_reference.json`` (the toolbox's real one-channel crops,
``docs/scripts/assess_reference.py``), the fine-tuning studies
``docs/scripts/finetune_proof/test.json``, ``criterion.json`` and ``measured_case.json``
(``finetune_test.py``, ``finetune_criterion.py``, ``finetune_measured_case.py``), the
benchmarks' ``benchmarks/results-*.json``, the shipped models' cards
``weights/<model>_band<b>.json`` (written by ``weights/train_shipped.py`` and
``weights/validate_shipped.py``), or a measurement of ``docs/scripts``: ``detail_gate.json``,
``consistency_misfit.json``, ``demo_output.json`` (what ``xr-s5sr demo`` prints),
``noise_estimate.json``, ``settings_window.json``, ``window_halo.json``, ``plausibility.json``,
``plausibility_continuum.json`` and ``hr_subspace.json``, each written by the script of the
same name. A "table" may also be a sentence, a list or a block
of printed output: what the page says about those numbers. ``tests/test_claims.py`` fails
when a page differs from what this script generates, so a number typed by hand into a table
cannot survive. A smoke-run JSON (``"quick": true``) is refused: it is never quoted.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable

import tables_assess as assess
import tables_cli as cli
import tables_evaluation as evaluation
import tables_finetune as finetune
import tables_performance as performance
import tables_physics as physics
import tables_plausibility as plausibility
import tables_weights as weights
from tables_core import ROOT, QuickRunError, dB

# The shared core's names that callers (tests, other scripts) reach through this entry point.
__all__ = ["MARKER", "PAGES", "TABLES", "QuickRunError", "dB", "main", "render", "stale_pages"]

#: Pages whose marked tables are generated.
PAGES = (
    "README.md",
    "docs/evaluation.md",
    "docs/physics.md",
    "docs/performance.md",
    "docs/finetune.md",
    "docs/weights.md",
    "docs/assess.md",
    "docs/cli.md",
)
#: A marked table: its indent (a table inside a list item is indented like the item's text),
#: its name, its current text and the closing marker.
MARKER = re.compile(
    r"^([ \t]*)<!-- table:([a-z0-9-]+) -->\n(.*?)^([ \t]*<!-- /table -->)",
    re.DOTALL | re.MULTILINE,
)

TABLES: dict[str, Callable[[], str]] = {
    "test-evaluation-summary": evaluation.test_evaluation_summary,
    "test-evaluation-headline": evaluation.test_evaluation_headline,
    "test-evaluation-cells": evaluation.test_evaluation_cells,
    "test-evaluation-more": evaluation.test_evaluation_more,
    "test-evaluation-scope": evaluation.test_evaluation_scope,
    "test-evaluation-physics": evaluation.test_evaluation_physics,
    "test-evaluation-losses": evaluation.test_evaluation_losses,
    "assess-reference-headline": assess.assess_reference_headline,
    "dev-tuning": evaluation.dev_tuning,
    "dev-tau-grid": evaluation.dev_tau_grid,
    "dev-smooth-gate": evaluation.dev_smooth_gate,
    "along-track": physics.along_track,
    "plausibility": plausibility.plausibility,
    "block-memory": performance.block_memory,
    "block-memory-latest": performance.block_memory_latest,
    "block-memory-held": performance.block_memory_held,
    "distributed-held": performance.distributed_held,
    "graph-order": performance.graph_order,
    "targets": performance.targets,
    "run-all-results": performance.run_all_results,
    "orbit-estimate": performance.orbit_estimate,
    "orbit": performance.orbit,
    "allocator": performance.allocator,
    "finetune-test-summary": finetune.finetune_test_summary,
    "finetune-test": finetune.finetune_test_table,
    "finetune-test-cells": finetune.finetune_test_cells,
    "finetune-criterion": finetune.finetune_criterion_table,
    "finetune-criterion-bias": finetune.finetune_criterion_bias,
    "finetune-measured-case": finetune.finetune_measured_case,
    "model-card-training": weights.model_card_training,
    "model-card-recipe": weights.model_card_recipe,
    "model-card-validation": weights.model_card_validation,
    "model-card-families": weights.model_card_families,
    "detail-gate": physics.detail_gate,
    "consistency-misfit": physics.consistency_misfit,
    "assess-reference-reading": assess.assess_reference_reading,
    "demo-output": cli.demo_output,
    "noise-estimate": physics.noise_estimate,
    "settings-window": physics.settings_window,
    "window-halo": physics.window_halo,
    "nonnegative-cost": physics.nonnegative_cost,
    "plausibility-negatives": plausibility.plausibility_negatives,
    "plausibility-consistency": plausibility.plausibility_consistency,
    "plausibility-reading": plausibility.plausibility_reading,
}


def render(text: str) -> str:
    """``text`` with every marked table replaced by what its generator writes now."""
    cache: dict[str, str] = {}

    def replace(match: re.Match[str]) -> str:
        indent, name = match.group(1), match.group(2)
        if name not in TABLES:
            raise KeyError(f"Unknown table {name!r}: expected one of {sorted(TABLES)}.")
        if name not in cache:
            cache[name] = TABLES[name]()
        body = "\n".join(indent + line if line else "" for line in cache[name].splitlines())
        return f"{indent}<!-- table:{name} -->\n{body}\n{match.group(4)}"

    return MARKER.sub(replace, text)


def stale_pages() -> list[str]:
    """Pages whose tables differ from what :func:`render` writes."""
    return [p for p in PAGES if render((ROOT / p).read_text()) != (ROOT / p).read_text()]


def main() -> None:
    if sys.argv[1:] == ["--check"]:
        stale = stale_pages()
        if stale:
            raise SystemExit(f"Tables differ from the JSON in {stale}: run docs/scripts/tables.py")
        return
    for page in PAGES:
        path = ROOT / page
        path.write_text(render(path.read_text()))


if __name__ == "__main__":
    main()
