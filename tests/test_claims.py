"""Claims generated, not typed: the tables of README.md and docs/evaluation.md are what
docs/scripts/tables.py writes from the committed JSON, and the evaluation scripts keep the
development and test sets apart and their JSON honest."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "weights"))
sys.path.insert(0, str(ROOT / "docs" / "scripts"))
sys.path.insert(0, str(ROOT / "tests"))

import granule_scenes  # noqa: E402
import tables  # noqa: E402
import tables_assess  # noqa: E402
import tables_core  # noqa: E402
import tables_evaluation  # noqa: E402
import tables_finetune  # noqa: E402
import tables_physics  # noqa: E402
import tables_plausibility  # noqa: E402
import tables_weights  # noqa: E402

PAGES = [ROOT / page for page in tables.PAGES]


def test_every_table_is_what_the_script_writes_from_the_json() -> None:
    stale = tables.stale_pages()
    assert stale == [], f"run `python docs/scripts/tables.py`: tables differ in {stale}"


def test_a_hand_typed_number_is_caught() -> None:
    readme = (ROOT / "README.md").read_text()
    marker = "<!-- table:test-evaluation-summary -->"
    assert marker in readme
    # Band 7, noisy: the default's mean gain over bicubic, as the JSON gives it.
    result = json.loads(tables_evaluation.TEST.read_text())
    gains = tables_evaluation._gains(
        [s for s in result["scenes"] if s["width"] == "narrow"], "noisy", "bicubic", band=7
    )
    quoted = tables.dB(float(np.mean(gains)))
    row = readme.index("| 7 | noisy | ", readme.index(marker))
    end = readme.index("\n", row)
    assert f"| 7 | noisy | {quoted} [" in readme[row:end]
    typed_value = tables.dB(float(np.mean(gains)) + 0.01)
    typed = readme[:row] + readme[row:end].replace(quoted, typed_value, 1) + readme[end:]
    assert typed != readme
    assert tables.render(typed) == readme


def test_every_marker_names_a_generator() -> None:
    for page in PAGES:
        names = [m.group(2) for m in tables.MARKER.finditer(page.read_text())]
        assert names, page
        assert set(names) <= set(tables.TABLES), page
    with pytest.raises(KeyError, match="Unknown table 'made-up'"):
        tables.render("<!-- table:made-up -->\nx\n<!-- /table -->\n")


def test_indented_tables_keep_their_indent() -> None:
    text = "- item\n\n  <!-- table:test-evaluation-summary -->\n  old\n  <!-- /table -->\n"
    lines = tables.render(text).splitlines()
    assert lines[3].startswith("  Test set of `weights/test_evaluation.json`")
    assert all(line.startswith("  ") or not line for line in lines[2:])
    assert any(line.startswith("  | 7 | noisy |") for line in lines)


def _outside_markers(text: str) -> str:
    return tables.MARKER.sub("", text)


def test_readme_types_no_quality_number_by_hand() -> None:
    """Outside the generated blocks README states no PSNR number (dB), except the
    pre-registered fine-tuning test's, which tests/test_docs.py ties to its own JSON."""
    from test_docs import _finetune_claims

    text = " ".join(_outside_markers((ROOT / "README.md").read_text()).split())
    allowed = " ".join(_finetune_claims())
    typed = [
        m.group(0)
        for m in re.finditer(r"[+−-]?\d+(?:\.\d+)? ?dB\b", text)
        if m.group(0) not in allowed
    ]
    assert typed == [], f"README quotes dB numbers outside generated blocks: {typed}"
    # The development-era claims are gone for good.
    for stale in ("126 ", "`weights/evaluation.json`", "+0.026 dB"):
        assert stale not in text, stale


def test_readme_says_where_the_default_loses_to_the_physics_inverse() -> None:
    readme = (ROOT / "README.md").read_text()
    for name in ("test-evaluation-scope", "test-evaluation-losses", "test-evaluation-physics"):
        assert f"<!-- table:{name} -->" in readme, name
    text = " ".join(readme.split())
    assert "**Where the default loses to the physics inverse**" in text
    assert "**Not covered:** bands 2, 4, 5, 6 and 8" in text


def test_losses_name_every_losing_cell(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A cell whose mean is below the physics inverse is named; a band whose network changes
    nothing is said to score the physics inverse."""
    result = json.loads(tables_evaluation.TEST.read_text())
    for cell in result["cells"]:
        cell["default_psnr_gain_over_backprojection"]["mean"] = 0.01
    cell = next(c for c in result["cells"] if c["band"] == 7 and c["family"] == "edges")
    cell["default_psnr_gain_over_backprojection"]["mean"] = -0.3
    path = tmp_path / "test_evaluation.json"
    path.write_text(json.dumps(result))
    monkeypatch.setattr(tables_evaluation, "TEST", path)
    text = tables_evaluation.test_evaluation_losses()
    assert f"band 7 `edges` {cell['brightness']} {cell['noise']} −0.300 dB" in text
    assert "`texture`" not in text.split("Observations")[0]
    assert "In band 3 the default equals the physics inverse" in text


def test_bands_scored_after_the_release_have_their_own_table(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The later bands' block reads its own JSON, in the summary's form (the release's JSON
    stands in for it here), and says "not scored" without one."""
    monkeypatch.setattr(tables_evaluation, "TEST_MORE", tmp_path / "test_evaluation_more.json")
    assert "Not scored yet" in tables_evaluation.test_evaluation_more()
    result = json.loads(tables_evaluation.TEST.read_text())
    scene = next(s for s in result["scenes"] if s["width"] == "narrow")
    scene["metrics"]["noisy"]["s5dscr"]["psnr"] = scene["metrics"]["noisy"]["bicubic"]["psnr"] - 1
    path = tmp_path / "test_evaluation_more.json"
    path.write_text(json.dumps(result))
    monkeypatch.setattr(tables_evaluation, "TEST_MORE", path)
    text = tables_evaluation.test_evaluation_more()
    narrow = sum(s["width"] == "narrow" for s in result["scenes"])
    assert text.startswith("Test set of `weights/test_evaluation_more.json`")
    assert f"On these {2 * narrow} observations the default is below bicubic's PSNR on 1." in text
    assert "| 7 | noisy |" in text


def test_the_test_set_scored_the_shipped_weights() -> None:
    """The quoted test set is that of the weights in weights/: new weights need a new score."""
    from xr_s5sr.weightsfile import file_sha256

    result = json.loads(tables_evaluation.TEST.read_text())
    for name, digest in result["provenance"]["weights_file_sha256"].items():
        assert file_sha256(ROOT / "weights" / f"{name}.safetensors") == digest, name


def test_assess_headline_follows_the_json(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    result = json.loads(tables_assess.ASSESS.read_text())
    text = tables_assess.assess_reference_headline()
    true = [
        c["true_hr"]["backprojection"]["psnr"] - c["true_hr"]["bicubic"]["psnr"]
        for c in result["crops"].values()
    ]
    assert f"gains {tables.dB(min(true))} to {tables.dB(max(true))} dB over bicubic" in text
    uv = result["crops"]["1.UV"]["true_hr"]
    uv["bicubic"]["psnr"] = uv["backprojection"]["psnr"] + 1.0
    path = tmp_path / "assess_reference.json"
    path.write_text(json.dumps(result))
    monkeypatch.setattr(tables_assess, "ASSESS", path)
    changed = tables_assess.assess_reference_headline()
    assert "gains −1.00 to" in changed
    assert "on 3 of 4 crops" in changed


def test_a_quick_run_is_never_quoted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    quick = tmp_path / "test_evaluation.json"
    quick.write_text(json.dumps({"quick": True, "scenes": []}))
    monkeypatch.setattr(tables_evaluation, "TEST", quick)
    with pytest.raises(tables.QuickRunError, match="smoke run"):
        tables_evaluation.test_evaluation_summary()
    for page in [ROOT / "README.md", *(ROOT / "docs").glob("*.md")]:
        for smoke in ("test_evaluation_quick", "results-nonnegative-quick"):
            assert smoke not in page.read_text(), (page, smoke)


@pytest.mark.parametrize(
    "name", ["tuning_dev.json", "test_evaluation.json", "test_evaluation_quick.json"]
)
def test_committed_results_name_a_clean_commit(name: str) -> None:
    path = ROOT / "weights" / name
    if not path.exists():
        pytest.skip(f"{name} not written yet")
    result = json.loads(path.read_text())
    commit = result["provenance"]["commit"]
    assert len(commit) == 40
    assert "+uncommitted" not in commit
    if name == "tuning_dev.json":
        assert result["complete"] is True
        assert {"tau", "detail_range", "fallback", "window", "ood_level"} <= set(result["choices"])
    if name.startswith("test_evaluation"):
        assert result["quick"] is name.endswith("_quick.json")
        assert set(result["provenance"]["weights_file_sha256"]) >= {
            f"s5dscr_band{b}" for b in result["set"]["bands"]
        }


# ------------------------------------------------------------------------------ fine-tuning
FINETUNE_GENERATORS = {
    "README.md": {"finetune-test-summary"},
    "docs/finetune.md": {
        "finetune-test-summary",
        "finetune-test",
        "finetune-test-cells",
        "finetune-criterion",
        "finetune-criterion-bias",
        "finetune-measured-case",
    },
}


@pytest.mark.parametrize("page", sorted(FINETUNE_GENERATORS))
def test_finetuning_numbers_are_generated_from_the_json(page: str) -> None:
    """README and docs/finetune.md quote the fine-tuning studies through generated blocks
    (test_every_table_is_what_the_script_writes_from_the_json keeps them equal to the JSON)."""
    names = {m.group(2) for m in tables.MARKER.finditer((ROOT / page).read_text())}
    assert FINETUNE_GENERATORS[page] <= names


def test_a_hand_typed_finetuning_number_is_caught() -> None:
    page = (ROOT / "docs" / "finetune.md").read_text()
    cases = json.loads(tables_finetune.FINETUNE_TEST.read_text())["cases"]
    key, case = next((k, c) for k, c in cases.items() if not c["returned_start"])
    family, brightness, _, _ = key.split("/")
    row = page.index(f"| {family} | {brightness} | band sigma | fine-tuned |")
    end = page.index("\n", row)
    typed_gain = tables.dB(case["gain_db_new"][0] + 0.01)
    written = tables.dB(case["gain_db_new"][0])
    assert f"| {written} (" in page[row:end]
    typed = page[:row] + page[row:end].replace(f"| {written} (", f"| {typed_gain} (") + page[end:]
    assert tables.render(typed) != typed
    assert tables.render(typed) == page


def test_finetuning_summary_counts_the_json() -> None:
    """The sentence's counts are those of the test JSON (a second reading of the cases)."""
    cases = json.loads(tables_finetune.FINETUNE_TEST.read_text())["cases"]
    text = tables_finetune.finetune_test_summary()
    returned = sum(c["returned_start"] for c in cases.values())
    assert text.startswith(f"{returned} of {len(cases)} runs returned the start weights")
    lost = sum(g < 0 for c in cases.values() for g in c["gain_db_per_granule"])
    assert f"{lost} of {5 * len(cases)} new granules lost" in text
    cells = tables_finetune.finetune_test_cells()
    assert f"({len(cases) - returned} of {len(cases)} cells)" in cells
    assert f"({returned} of {len(cases)} cells)" in cells


@pytest.mark.parametrize("name", ["test.json", "criterion.json", "measured_case.json"])
def test_finetuning_results_name_a_clean_commit(name: str) -> None:
    result = json.loads((tables_finetune.FINETUNE_TEST.parent / name).read_text())
    sessions = result["provenance"]
    assert sessions
    for session in sessions:
        assert len(session["commit"]) == 40
        assert session["tree_clean"] is True
    # Every pre-registered case finished (the JSON holds only the finished part of a plan).
    plan = result["plan"]
    if name == "measured_case.json":  # one run: the command finished
        assert result["cases"]["cli"]["exit_code"] == 0
    elif "rows" in plan:  # the test: its rows
        assert len(result["cases"]) == len(plan["rows"])
    else:  # the criterion study: families x brightness x noise
        cells = len(plan["families"]) * len(plan["brightness"]) * len(plan["noise"])
        assert len(result["cases"]) == cells


def test_development_and_test_seeds_are_disjoint() -> None:
    def seeds(base: int) -> set[int]:
        return {
            granule_scenes.scene_seed(base, band, family, level, k)
            for band in range(1, 9)
            for family in ("solar", "continuum", "smooth")
            for level in granule_scenes.BRIGHTNESS
            for k in (0, 99)
        }

    dev, test = seeds(granule_scenes.DEV_SEED), seeds(granule_scenes.TEST_SEED)
    assert not dev & test
    assert max(dev) < granule_scenes.TEST_SEED <= min(test)
    assert min(dev) >= 3_000_000  # training seeds lie below (xr_s5sr.trainpairs)


def test_test_texture_rows_are_mirrored_held_out_rows() -> None:
    crop = np.arange(512 * 3, dtype=float).reshape(512, 3)
    out, rows = granule_scenes.mirrored_textures({"UV": crop}, (352, 512), 400)
    mirrored = out["UV"]
    assert rows == (0, 480)
    assert mirrored.shape == (480, 3)
    np.testing.assert_array_equal(mirrored[:160], crop[352:512])
    np.testing.assert_array_equal(mirrored[160:320], crop[511:351:-1])
    # Nothing from the rows training used (0-319).
    assert mirrored.min() >= crop[352].min()


def test_bootstrap_interval_brackets_the_mean() -> None:
    values = [1.0, 2.0, 3.0, 10.0]
    low, high = granule_scenes.bootstrap_interval(values)
    assert 1.0 <= low < np.mean(values) < high <= 10.0
    assert granule_scenes.bootstrap_interval([2.5] * 5) == pytest.approx((2.5, 2.5), abs=1e-12)


def test_test_cells_summarise_the_seeds() -> None:
    import evaluate_test

    def scene(k: int, gain: float) -> dict:
        metrics = {
            m: {"psnr": 30.0, "sam": 1.0, "line_depth_error": 0.1, "negative_fraction": 0.0}
            for m in evaluate_test.METHODS
        }
        metrics["s5dscr"] = {**metrics["s5dscr"], "psnr": 30.0 + gain}
        return {
            "band": 7,
            "family": "solar",
            "brightness": "dim",
            "width": "narrow",
            "k": k,
            "metrics": {noise: metrics for noise in evaluate_test.NOISE},
        }

    cells = evaluate_test.summarise([scene(0, 0.5), scene(1, -0.25), scene(2, 1.0)])
    assert len(cells) == 2  # noisy and noise-free
    gain = cells[0]["default_psnr_gain_over_bicubic"]
    assert gain["mean"] == pytest.approx(0.41666666, abs=1e-6)
    assert gain["worst"] == pytest.approx(-0.25, abs=1e-12)
    assert -0.25 <= gain["ci95"][0] <= gain["mean"] <= gain["ci95"][1] <= 1.0
    assert cells[0]["methods"]["bicubic"]["sam"]["worst"] == pytest.approx(1.0, abs=1e-12)


def test_a_dirty_checkout_is_refused() -> None:
    head = "0123456789abcdef0123456789abcdef01234567"
    assert granule_scenes.clean_commit(False, head) == head
    with pytest.raises(SystemExit, match="uncommitted changes to tracked files"):
        granule_scenes.clean_commit(False, head + "+uncommitted")
    with pytest.raises(SystemExit, match="not a git checkout"):
        granule_scenes.clean_commit(False, "not a git checkout")
    assert granule_scenes.clean_commit(True, head + "+uncommitted").endswith("+uncommitted")


def test_physics_page_prose_matches_the_plausibility_json() -> None:
    """The sentences under docs/physics.md's generated plausibility table, from its JSON."""
    page = " ".join((ROOT / "docs" / "physics.md").read_text().split())
    scenes = [
        *json.loads(tables_plausibility.PLAUSIBILITY.read_text())["scenes"],
        *json.loads(
            tables_plausibility.PLAUSIBILITY.with_name("plausibility_continuum.json").read_text()
        )["scenes"],
    ]
    over_physics = [s["default"]["psnr"] - s["physics"]["psnr"] for s in scenes]
    low, high = f"+{min(over_physics):.2f}", tables.dB(max(over_physics))
    assert f"at or above the physics inverse on every scene ({low} to {high} dB)" in page
    assert min(over_physics) >= 0
    sam_ok = sum(s["default"]["sam"] <= s["bicubic"]["sam"] for s in scenes)
    assert f"**SAM at or below bicubic's on {sam_ok} of {len(scenes)} scenes**" in page
    solar = {
        s["condition"]: (s["default"]["sam"], s["bicubic"]["sam"])
        for s in scenes
        if s["band"] == 7 and s["family"] == "solar"
    }
    quoted = (
        "({:.2f}° vs bicubic {:.2f}° noise-free, {:.2f}° vs {:.2f}° noisy, "
        "{:.2f}° vs {:.2f}° dim;".format(*solar["clean"], *solar["noisy"], *solar["dim_noisy"])
    )
    assert quoted in page
    # "noise-free data are unchanged (the noise-free scenes below: the default scores as
    # before the prior": the prior does not project a noise-free window.
    for scene in scenes:
        if scene["condition"] == "clean":
            for metric in ("psnr", "sam", "line_depth_error", "misfit_rel"):
                assert scene["default"][metric] == scene["default_before"][metric], metric


# --------------------------------------------- model cards, docs/scripts measurements, CLI output
#: Pages whose measured numbers all come from generated blocks (docs/assess.md's crop table is
#: checked against its JSON by tests/test_assess.py).
NO_TYPED_NUMBERS = ("docs/weights.md", "docs/assess.md", "docs/cli.md", "docs/physics.md")
#: A measured quantity as these pages write one: a dB figure or a decimal percentage.
MEASURED = re.compile(r"[+−-]?\d+(?:\.\d+)? ?dB\b|\d+\.\d+ ?%")


@pytest.mark.parametrize("page", NO_TYPED_NUMBERS)
def test_page_types_no_measured_number_by_hand(page: str) -> None:
    text = _outside_markers((ROOT / page).read_text())
    if page == "docs/assess.md":
        start = text.index("<!-- assess_reference table")
        text = text[:start] + text[text.index("<!-- end of assess_reference table -->") :]
    typed = MEASURED.findall(text)
    assert typed == [], f"{page} quotes measured numbers outside generated blocks: {typed}"


def test_physics_page_lost_its_unsupported_numbers() -> None:
    """The figures an audit found without a committed source stay gone (issue 24)."""
    text = " ".join(_outside_markers((ROOT / "docs" / "physics.md").read_text()).split())
    for stale in ("R² −0.01", "less than 0.2 %", "0.4–0.9 %", "≥ 95 %", "0.2–1.5 σ"):
        assert stale not in text, stale
    names = {m.group(2) for m in tables.MARKER.finditer((ROOT / "docs" / "physics.md").read_text())}
    assert {"model-card-training", "detail-gate", "consistency-misfit"} <= names


#: The generated blocks that replaced docs/physics.md's hand-typed figures (issue 24, second pass).
PHYSICS_GENERATED = {
    "noise-estimate",
    "settings-window",
    "window-halo",
    "nonnegative-cost",
    "plausibility-negatives",
    "plausibility-consistency",
    "plausibility-reading",
}


def test_physics_page_lost_its_hand_typed_figures() -> None:
    """The figures a second audit found typed by hand on docs/physics.md stay out of its prose
    (issue 24): the noise-estimate ratios, the settings-window table, the window halo's
    agreement, the smoke run's costs, the χ² ranges and the negative-value shares are generated
    from their JSON; those without a committed JSON are not quoted at all."""
    page = (ROOT / "docs" / "physics.md").read_text()
    text = " ".join(_outside_markers(page).split())
    stale = (
        # noise_estimate.json, settings_window.json, window_halo.json: now generated.
        "1.0002",
        "1.0142",
        "0.9910",
        "1.0074",
        "| 24 | 250 |",
        "Why 24 scanlines",
        "3–7×",
        "5.1e-7",
        "differ by 0.1",
        # A smoke run (benchmarks/results-nonnegative-quick.json) is never quoted.
        "+7 %",
        "+19 %",
        "+25 %",
        "16 × 120",
        "24 % negative",
        # plausibility*.json and hr_subspace.json: now generated.
        "0.77–3.73",
        "0.79–3.11",
        "0.00–3.29",
        "0.16–2.43",
        "8e-8",
        "0.1–5 %",
        "halves the angle",
        "improves alike",
        # No committed JSON: not quoted.
        "22 %",
        "−11 ×",
        "10–15 ×",
        "98.6 %",
        "−0.6 dB",
        "< 5e-3",
    )
    for figure in stale:
        assert figure not in text, figure
    names = {m.group(2) for m in tables.MARKER.finditer(page)}
    assert names >= PHYSICS_GENERATED


def test_settings_window_json_records_the_shipped_window_and_what_the_bound_admits() -> None:
    """The settings-window table explains ``adaptive.WINDOW``: the JSON was measured with it
    shipped, and the page says the bound admits the lengths the JSON admits, not that the
    bound chose the shipped one."""
    from xr_s5sr import adaptive

    result = json.loads(tables_physics.SETTINGS_WINDOW.read_text())
    assert result["shipped"] == adaptive.WINDOW
    bound = result["reads_for_64_hr_rows_max"]
    admitted = [r["window"] for r in result["lengths"] if r["reads_for_64_hr_rows"] <= bound]
    assert result["admitted"] == admitted
    text = tables_physics.settings_window()
    assert f"admits every length up to {max(admitted)}" in text
    assert "the longest window within it" not in text


def test_window_halo_block_quotes_the_json_at_each_bands_halo() -> None:
    from xr_s5sr.physics import window_halo

    rows = json.loads(tables_physics.WINDOW_HALO.read_text())["rows"]
    for row in rows:
        assert row["window_halo"] == window_halo(row["band"]), row["band"]
    worst = max(r["at_window_halo"] for r in rows if r["nonnegative"])
    assert f"within {tables_core.sci(worst)} of its scale" in tables_physics.window_halo()


RECORDED = "0123456789abcdef0123456789abcdef01234567"


def _recorded(path: Path, commit: str | None, to: Path) -> Path:
    """``path``'s JSON written to ``to`` with a run record of ``commit`` (None: without one)."""
    result = json.loads(path.read_text())
    result.pop("record", None)
    if commit is not None:
        result["record"] = {"commit": commit}
    to.write_text(json.dumps(result))
    return to


@pytest.mark.parametrize(
    ("module", "constant", "block", "cited"),
    [
        (tables_physics, "NOISE_ESTIMATE", "noise_estimate", "`noise_estimate.json`{}): "),
        (tables_physics, "SETTINGS_WINDOW", "settings_window", "(→ `settings_window.json`{}; "),
        (
            tables_physics,
            "WINDOW_HALO",
            "window_halo",
            "`docs/scripts/window_halo.json`{}, `tests/test_constrained.py`)",
        ),
        (tables_plausibility, "HR_SUBSPACE", "plausibility_reading", "`hr_subspace.json`{}: "),
    ],
)
@pytest.mark.parametrize("mark", ["", "+uncommitted"])
def test_a_recorded_run_is_cited_by_its_commit(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    module: object,
    constant: str,
    block: str,
    cited: str,
    mark: str,
) -> None:
    """Issue 24: a JSON written with its run record makes its block cite the short commit as
    the other generated blocks do, ``+uncommitted`` kept; one written before its script kept a
    record reads as it did, without a commit."""
    path = getattr(module, constant)
    monkeypatch.setattr(module, constant, _recorded(path, None, tmp_path / path.name))
    without = getattr(module, block)()
    assert cited.format("") in without
    _recorded(path, RECORDED + mark, tmp_path / path.name)
    text = getattr(module, block)()
    commit = f", commit `0123456{mark}`"
    assert cited.format(commit) in text
    assert text.replace(commit, "", 1) == without


def test_the_plausibility_table_cites_the_commit_of_each_json(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Under the table, each of its two JSONs' commits once either has a run record (a JSON
    without one says so); without any record the table ends at its last row, as it did."""
    path = tables_plausibility.PLAUSIBILITY
    continuum = path.with_name("plausibility_continuum.json")
    plain = _recorded(path, None, tmp_path / path.name)
    _recorded(continuum, None, tmp_path / continuum.name)
    monkeypatch.setattr(tables_plausibility, "PLAUSIBILITY", plain)
    table = tables_plausibility.plausibility()
    assert table.splitlines()[-1].startswith("| ")
    _recorded(path, RECORDED + "+uncommitted", plain)
    assert tables_plausibility.plausibility() == table + (
        "\n\n`docs/scripts/plausibility.py` → `plausibility.json`, commit `0123456+uncommitted`; "
        "`docs/scripts/plausibility.py continuum` → `plausibility_continuum.json` (its commit "
        "was not recorded)."
    )
    _recorded(continuum, "fedcba9876543210", tmp_path / continuum.name)
    assert tables_plausibility.plausibility().endswith(
        "`plausibility_continuum.json`, commit `fedcba9`."
    )


def test_plausibility_merges_parts_of_one_commit_only(tmp_path: Path) -> None:
    """``plausibility.py merge`` keeps each band's record and refuses parts measured on
    different commits (or written without a record): the table cites one commit."""
    import plausibility

    def part(band: int, commit: str | None) -> None:
        record = {"commit": commit, "date": f"day {band}", "weights_sha256": {f"w{band}": "0"}}
        result = {"shape": [1, 1], "scenes": [{"band": band}]}
        if commit is not None:
            result["record"] = record
        (tmp_path / f"p_band{band}.json").write_text(json.dumps(result))

    for band in plausibility.BANDS:
        part(band, RECORDED)
    merged = plausibility.merge(tmp_path / "p.json")
    assert [s["band"] for s in merged["scenes"]] == list(plausibility.BANDS)
    assert merged["record"]["commit"] == RECORDED
    assert set(merged["record"]["weights_sha256"]) == {f"w{b}" for b in plausibility.BANDS}
    assert {b: r["date"] for b, r in merged["part_records"].items()} == {
        str(b): f"day {b}" for b in plausibility.BANDS
    }
    for other in (RECORDED + "+uncommitted", None):
        part(plausibility.BANDS[-1], other)
        with pytest.raises(SystemExit, match="refusing to merge"):
            plausibility.merge(tmp_path / "p.json")


def test_nonnegative_cost_quotes_only_a_full_run(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Without ``benchmarks/results-nonnegative.json`` the page says it was not measured;
    a full run is quoted with its commit; a run marked as a smoke run is refused."""
    missing = tmp_path / "results-nonnegative.json"
    monkeypatch.setattr(tables_physics, "NONNEGATIVE", missing)
    assert tables_physics.nonnegative_cost().startswith("*Not measured yet:*")

    def case(added: float, negative: float) -> dict:
        return {
            "seconds": {"projection_alone": 1.0, "default": 1.0 + added},
            "added_fraction": added,
            "negative_fraction_projection_alone": negative,
        }

    run = {
        "lr_block": [32, 450],
        "iterations": 6,
        "threads": 1,
        "record": {"commit": "0123456789abcdef0123456789abcdef01234567"},
        "band3": case(0.04, 0.0),
        "band7": case(0.12, 0.005),
        "band7_sample": case(0.3, 0.2),
    }
    missing.write_text(json.dumps(run))
    text = tables_physics.nonnegative_cost()
    assert "commit `0123456`, 32 × 450 LR blocks" in text
    assert "**+4 %** (0.0 % negative values without the step) on a band-3" in text
    assert "**+30 %** (20.0 % negative values without the step) on the first 64 scanlines" in text
    missing.write_text(json.dumps({**run, "quick": True}))
    with pytest.raises(tables.QuickRunError, match="smoke run"):
        tables_physics.nonnegative_cost()


def test_plausibility_blocks_follow_the_json(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The χ² ranges and the reading notes change when the JSON does."""
    scenes = tables_plausibility._plausibility_scenes()
    bright = [s["default"]["chi2"] for s in scenes if s["condition"] == "noisy"]
    assert f"is {min(bright):.2f}–{max(bright):.2f} on bright scenes" in (
        tables_plausibility.plausibility_consistency()
    )
    result = json.loads(tables_plausibility.PLAUSIBILITY.read_text())
    scene = next(
        s
        for s in result["scenes"]
        if (s["band"], s["family"], s["condition"]) == (3, "edges", "dim_noisy")
    )
    scene["default"]["sam"] = scene["bicubic"]["sam"] + 1.0
    path = tmp_path / "plausibility.json"
    path.write_text(json.dumps(result))
    (tmp_path / "plausibility_continuum.json").write_text(
        tables_plausibility.PLAUSIBILITY.with_name("plausibility_continuum.json").read_text()
    )
    monkeypatch.setattr(tables_plausibility, "PLAUSIBILITY", path)
    text = tables_plausibility.plausibility_reading()
    assert f"**SAM at or below bicubic's on 18 of {len(scenes)} scenes**" in text
    assert "**Not yet: band-3 `edges`**" in text
    assert "`edges`" not in text.split("scene included")[0].split("every")[-1]


@pytest.mark.parametrize("name", ["demo_output.json", "consistency_misfit.json"])
def test_docs_measurements_ran_the_shipped_weights(name: str) -> None:
    """A measurement quoted from the shipped weights names their sha256: new weights need it
    run again (``python docs/scripts/<name>.py``)."""
    from xr_s5sr.weightsfile import file_sha256

    record = json.loads((ROOT / "docs" / "scripts" / name).read_text())["record"]
    assert record["weights_sha256"]
    for weights, digest in record["weights_sha256"].items():
        assert file_sha256(ROOT / "weights" / f"{weights}.safetensors") == digest, weights


def test_detail_gate_json_measured_the_shipped_ramp() -> None:
    from xr_s5sr import adaptive

    result = json.loads(tables_physics.DETAIL_GATE.read_text())
    assert result["detail_range"] == list(adaptive.DETAIL_RANGE)
    assert tables_core.power(3e-6) == "3·10⁻⁶"


def test_model_card_tables_follow_the_cards(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A card's validation loss is what the weights page quotes, and a changed card changes it."""
    card = json.loads((tables_weights.CARDS / "s5dscr_band7.json").read_text())
    scores = card["validation"]
    change = 100 * (scores["mse_normalised_model"] / scores["mse_normalised_baseline"] - 1)
    assert f"| {tables_core.percent(change)} % |" in tables_weights.model_card_validation()
    for path in tables_weights.CARDS.glob("s5dscr*_band*.json"):
        (tmp_path / path.name).write_text(path.read_text())
    scores["mse_normalised_model"] = scores["mse_normalised_baseline"] * 0.5
    (tmp_path / "s5dscr_band7.json").write_text(json.dumps(card))
    monkeypatch.setattr(tables_weights, "CARDS", tmp_path)
    assert "| −50 % |" in tables_weights.model_card_validation()
    assert "50 % in the SWIR bands 7 and 8" in tables_weights.model_card_training()
