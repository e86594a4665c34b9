"""Tables of docs/finetune.md from the fine-tuning studies in
``docs/scripts/finetune_proof/`` (``test.json``, ``criterion.json``, ``measured_case.json``):
``finetune-test-summary`` (also on README), ``finetune-test``, ``finetune-test-cells``,
``finetune-criterion``, ``finetune-criterion-bias`` and ``finetune-measured-case``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from tables_core import ROOT, dB, load_run

FINETUNE_TEST = ROOT / "docs" / "scripts" / "finetune_proof" / "test.json"
FINETUNE_CRITERION = ROOT / "docs" / "scripts" / "finetune_proof" / "criterion.json"
FINETUNE_MEASURED = ROOT / "docs" / "scripts" / "finetune_proof" / "measured_case.json"


def _finetune_cases() -> dict[str, dict[str, Any]]:
    result = load_run(FINETUNE_TEST)
    assert result is not None, FINETUNE_TEST
    return result["cases"]


def _finetune_provenance(result: dict[str, Any], path: Path) -> str:
    """``Results of `<path>`: commit `…` (clean tree), <date>`` from the JSON's sessions."""
    sessions = result.get("provenance", [])
    if not sessions:
        return f"Results of `{path.relative_to(ROOT)}` (its code's commit was not recorded)."
    parts = []
    for p in sessions:
        commit = f"commit `{p['commit'][:12]}`" if p.get("commit") else "no git commit"
        state = "" if p.get("tree_clean") else " with uncommitted changes"
        parts.append(f"{commit}{state}, {p['started_utc'][:10]}")
    runs = "; resumed on " if len(parts) > 1 else ""
    return f"Results of `{path.relative_to(ROOT)}`: {parts[0]}{runs}{'; '.join(parts[1:])}."


def _cell(key: str, short: bool = False) -> str:
    """``mixture scenes at 0.03 of the band's mean radiance (band noise)`` of a case key
    (``short``: ``mixture at 0.03 (band noise)``)."""
    family, brightness, noise, _ = key.split("/")
    if short:
        return f"{family} at {brightness} ({noise} noise)"
    return f"{family} scenes at {brightness} of the band's mean radiance ({noise} noise)"


def _gain_interval(gain: list[float]) -> str:
    mean, low, high = gain
    return f"{dB(mean)} dB (95 % interval {dB(low)} … {dB(high)})"


def finetune_test_summary() -> str:
    """README and docs/finetune.md: the pre-registered fine-tuning test in one sentence."""
    cases = _finetune_cases()
    returned = sum(c["returned_start"] for c in cases.values())
    best = max(cases, key=lambda k: cases[k]["gain_db_new"][0])
    worst = min(c["gain_db_new"][0] for c in cases.values())
    lost = sum(g < 0 for c in cases.values() for g in c["gain_db_per_granule"])
    granules = sum(len(c["gain_db_per_granule"]) for c in cases.values())
    wrong = sum(c["check_new"]["better"] and c["gain_db_new"][0] < 0 for c in cases.values())
    best_text = (
        "the best gain over the start on new granules was "
        f"{_gain_interval(cases[best]['gain_db_new'])} on {_cell(best)}"
        if cases[best]["gain_db_new"][0] > 0
        else "no run gained over the start on new granules"
    )
    return (
        f"{returned} of {len(cases)} runs returned the start weights; {best_text}, worst cell "
        f"mean {dB(worst)} dB, and {lost} of {granules} new granules lost; `--check` called "
        f"{wrong} losing cell{'s' if wrong != 1 else ''} better."
    )


def finetune_test_table() -> str:
    """docs/finetune.md: every row of the pre-registered test."""
    result = load_run(FINETUNE_TEST)
    assert result is not None, FINETUNE_TEST
    lines = [
        _finetune_provenance(result, FINETUNE_TEST),
        "",
        "| family | brightness | noise | returned | gain on 5 new granules (dB) | per granule "
        "(dB) | check on the new granules |",
        "|---|---|---|---|---|---|---|",
    ]
    for key, case in result["cases"].items():
        family, brightness, noise, _ = key.split("/")
        per = case["gain_db_per_granule"]
        check = case["check_new"]
        if case["returned_start"]:
            returned, verdict = "start (warning)", "not better (same weights)"
        else:
            returned = "fine-tuned"
            verdict = (
                f"{'better' if check['better'] else 'not better'}: {dB(check['gain_db'])} dB "
                f"({dB(check['low_db'])} … {dB(check['high_db'])}), SURE "
                f"{dB(check['change_percent'], 0)} %"
            )
        mean, low, high = case["gain_db_new"]
        gain = "0" if not any(per) else f"{dB(mean)} ({dB(low)} … {dB(high)})"
        granules = f"0 × {len(per)}" if not any(per) else ", ".join(dB(g) for g in per)
        noise_name = "band sigma" if noise == "band" else noise
        lines.append(
            f"| {family} | {brightness} | {noise_name} | {returned} | {gain} | {granules} | "
            f"{verdict} |"
        )
    return "\n".join(lines)


def finetune_test_cells() -> str:
    """docs/finetune.md: which cells were fine-tuned (and their gains) and which returned
    the start weights."""
    cases = _finetune_cases()
    tuned = [k for k, c in cases.items() if not c["returned_start"]]
    starts = [k for k, c in cases.items() if c["returned_start"]]
    called = sum(cases[k]["check_new"]["better"] for k in tuned)
    gains = "; ".join(f"{_cell(k, short=True)} {dB(cases[k]['gain_db_new'][0])} dB" for k in tuned)
    lines = [
        f"* **Fine-tuned weights returned** ({len(tuned)} of {len(cases)} cells): "
        + (
            f"{gains}. `--check` on the new granules called {called} of {len(tuned)} better."
            if tuned
            else "none."
        ),
        f"* **Start weights returned**, with a warning ({len(starts)} of {len(cases)} cells): "
        + ("; ".join(_cell(k, short=True) for k in starts) or "none")
        + ".",
    ]
    return "\n".join(lines)


#: The criteria of the criterion study, as docs/finetune.md names them.
CRITERIA = {
    "reduced": "new check (inference, reduced resolution)",
    "composition": "training composition, reduced resolution",
    "sure": "SURE",
    "previous": "previous check (composition and SURE)",
}


def finetune_criterion_table() -> str:
    """docs/finetune.md: how often each criterion called "better", called a true loss
    better, and was right where the true change was at least 0.05 dB either way."""
    result = load_run(FINETUNE_CRITERION)
    assert result is not None, FINETUNE_CRITERION
    threshold = -result["plan"]["loss_threshold_db"]
    lines = [
        _finetune_provenance(result, FINETUNE_CRITERION),
        "",
        f"| granules | cases | true change ≥ {threshold:g} dB: gains, losses | criterion | "
        f"called better | … with a true loss | right where the change ≥ {threshold:g} dB |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, summary in result["summary"].items():
        true = [c[name]["true_db"] for c in result["cases"].values()]
        gains, losses = sum(t >= threshold for t in true), sum(t <= -threshold for t in true)
        for k, (criterion, label) in enumerate(CRITERIA.items()):
            part = summary[criterion]
            right, material = part["verdict_right_where_change_above_0.05dB"]
            lead = f"| {name} | {summary['cases']} | {gains}, {losses} |" if k == 0 else "| | | |"
            lines.append(
                f"{lead} {label} | {part['called_better']} | "
                f"{part['called_better_but_any_loss']} | {right} of {material} |"
            )
    return "\n".join(lines)


def finetune_criterion_bias() -> str:
    """docs/finetune.md: how far the new check's gain was from the true change."""
    result = load_run(FINETUNE_CRITERION)
    assert result is not None, FINETUNE_CRITERION
    own, new = (result["summary"][n]["reduced_gain_minus_true_db"] for n in ("own", "new"))

    def lean(mean: float) -> str:
        if mean > 0:
            return ": it overstates gains"
        return ": it understates gains" if mean < 0 else ""

    threshold = result["plan"]["loss_threshold_db"]
    true = [c[n]["true_db"] for c in result["cases"].values() for n in ("own", "new")]
    losses = sum(t <= threshold for t in true)
    caught = (
        f" No case lost {-threshold:g} dB or more in truth, even at the largest learning rate, "
        "so the study shows no loss being caught (the destructive test above does)."
        if losses == 0
        else f" {losses} of {len(true)} true changes were losses of {-threshold:g} dB or more."
    )
    return (
        f"The new check's gain differed from the true change by {own['mean_abs']:.3f} dB on "
        f"average (absolute; own granules; mean signed difference {dB(own['mean'], 3)} dB"
        f"{lean(own['mean'])}) and {new['mean_abs']:.3f} dB on new granules (mean signed "
        f"difference {dB(new['mean'], 3)} dB{lean(new['mean'])}).{caught}"
    )


def _verdict(check: dict[str, Any]) -> str:
    """``better, +0.30 dB (+0.20 … +0.40)`` of a check's gain and interval."""
    gain = f"{dB(check['gain_db'])} dB ({dB(check['low_db'])} … {dB(check['high_db'])})"
    return f"{'better' if check['better'] else 'not better'}, {gain}"


def _mean_list(values: list[float]) -> str:
    return f"{dB(float(np.mean(values)))} dB ({', '.join(dB(v) for v in values)})"


def finetune_measured_case() -> str:
    """docs/finetune.md: issue 25's command rerun on this code (``measured_case.json``)."""
    result = load_run(FINETUNE_MEASURED)
    if result is None or "cli" not in result["cases"]:
        return (
            "*Not run yet:* `python docs/scripts/finetune_measured_case.py --out "
            "docs/scripts/finetune_proof/measured_case.json` writes its JSON."
        )
    run = result["cases"]["cli"]
    own, new = run["own"], run["new"]
    chosen = [v for v in run["validation"] if v.get("validation_low_db", 0.0) > 0]
    best = max(chosen, key=lambda v: v["validation_low_db"]) if chosen else None
    returned = (
        "the start weights, with a warning"
        if run["returned_start"]
        else f"the weights of step {best['step']:.0f} (held-out validation "
        f"{dB(best['validation_gain_db'])} dB, {dB(best['validation_low_db'])} … "
        f"{dB(best['validation_high_db'])})"
        if best
        else "the fine-tuned weights"
    )
    last, checks = new["last_step"], run["checks"]
    shipped, tuned = (new[k]["gain_over_bicubic_db"] for k in ("shipped", "finetuned"))
    return "\n".join(
        [
            _finetune_provenance(result, FINETUNE_MEASURED),
            "",
            f"* **Returned**: {returned}; the command took {run['seconds'] / 60:.0f} min (wall "
            "clock, one CPU thread of a shared machine).",
            f"* **Truth, new granules**: gain over bicubic {_mean_list(shipped)} with the "
            f"shipped weights, {_mean_list(tuned)} with the returned ones: a change of "
            f"{_mean_list(new['finetuned_true_change_db'])}.",
            "* **Truth, fine-tuning granules**: change "
            f"{_mean_list(own['finetuned_true_change_db'])} (the last one held out of training "
            "for the selection).",
            f"* **`--check`** on the new granules: {_verdict(checks['check_granules'])}, SURE "
            f"{dB(checks['check_granules']['change_percent'], 0)} %; on the fine-tuning "
            f"granules: {_verdict(checks['finetuning_granules'])}.",
            "* **The weights of the last step** (what a run without selection returns), new "
            f"granules: true change {_mean_list(new['last_step_true_change_db'])}; the new "
            f"check {_verdict(last['check'])}; the previous check (composition and SURE) "
            f"{_verdict(last['previous_check'])}, SURE "
            f"{dB(last['previous_check']['sure_change_percent'], 0)} %.",
        ]
    )
