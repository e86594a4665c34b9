"""Tables from the shipped models' cards ``weights/<model>_band<b>.json``: docs/weights.md's
``model-card-recipe``, ``model-card-validation`` and ``model-card-families``, and
docs/physics.md's ``model-card-training``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tables_core import ROOT, and_list, dB, percent, span

from xr_s5sr.bands import SUPPORTED_BANDS, get_band
from xr_s5sr.weightsfile import card_filename

#: The shipped models' cards ``<model>_band<b>.json`` live here, next to their weights.
CARDS = ROOT / "weights"


#: The shipped presets as the pages name them.
PRESETS = {"s5dscr": "S5-DSCR", "s5dscr_s": "S5-DSCR-S"}


def _cards(model: str) -> dict[int, dict[str, Any]]:
    """The model cards of a preset by band (``weights/<model>_band<b>.json``)."""
    cards = {}
    for band in SUPPORTED_BANDS:
        path = CARDS / card_filename(band, model)
        if path.exists():
            cards[band] = json.loads(path.read_text())
    return cards


def _loss_change(card: dict[str, Any]) -> float:
    """Validation MSE of the model relative to the physics inverse's, in % (negative: lower)."""
    scores = card["validation"]
    return 100 * (scores["mse_normalised_model"] / scores["mse_normalised_baseline"] - 1)


def _same(cards: list[dict[str, Any]], get: Callable[[dict[str, Any]], Any]) -> Any:
    """The one value ``get`` reads from every card (a generated sentence quotes it once)."""
    values = {json.dumps(get(card), sort_keys=True) for card in cards}
    if len(values) != 1:
        raise ValueError(f"The model cards differ where the page quotes one value: {values}")
    return get(cards[0])


def model_card_training() -> str:
    """docs/physics.md: how far training took the shipped S5-DSCR below the physics inverse on
    its validation tiles (``validation`` of ``weights/s5dscr_band<b>.json``)."""
    cards = _cards("s5dscr")
    change = {band: _loss_change(card) for band, card in cards.items()}
    if any(c > 0 for c in change.values()):  # the sentence says "below"
        raise ValueError("A card's validation loss is above the physics inverse's: reword.")
    kept = [b for b, c in change.items() if c == 0]
    swir = [b for b, c in change.items() if c != 0 and get_band(b).detector == "SWIR"]
    other = [b for b, c in change.items() if c != 0 and b not in swir]

    def below(bands: list[int]) -> str:
        return span([-change[b] for b in bands], ".2g", unit=" %", merge=True)

    parts = []
    if other:
        parts.append(f"{below(other)} below the physics inverse's in bands {and_list(other)}")
    if swir:
        parts.append(f"{below(swir)} in the SWIR bands {and_list(swir)}")
    text = (
        "In training, the validation loss of the shipped S5-DSCR models (MSE on validation tiles "
        "of the training families; the model cards `weights/s5dscr_band<b>.json`) went "
        + " and ".join(parts)
        + "."
    )
    if kept:
        text += (
            f" Band{'s' if len(kept) > 1 else ''} {and_list(kept)} kept the start weights, the "
            "physics inverse."
        )
    zeroed = [b for b, c in cards.items() if c["validation_against_physics"]["decision"] != "kept"]
    if zeroed:
        plural = len(zeroed) > 1
        text += (
            f" The per-family validation then zeroed the residual of band{'s' if plural else ''} "
            f"{and_list(zeroed)} ([Model weights](weights.md#the-shipped-weights)): "
            f"{'they return' if plural else 'it returns'} the physics inverse."
        )
    return text


def model_card_recipe() -> str:
    """docs/weights.md: the training data and recipe of the shipped models, from their cards
    (``training.data`` and ``training.recipe``)."""
    from xr_s5sr.families import BRIGHTNESS_DECADES

    every = [c for model in PRESETS for c in _cards(model).values()]
    data = _same(
        every, lambda c: {k: v for k, v in c["training"]["data"].items() if "range" not in k}
    )
    train, validation = (data[key][1] - data[key][0] for key in ("train_seeds", "validation_seeds"))
    common = ("learning_rate", "schedule", "lr_patch", "lr_stride", "lr_margin")
    recipe = _same(every, lambda c: {k: c["training"]["recipe"][k] for k in common})
    decades = BRIGHTNESS_DECADES[1] - BRIGHTNESS_DECADES[0]
    lines = [
        f"* **Data**, per band: {train} training and {validation} validation tiles of "
        f"{data['tile'][0]} × {data['tile'][1]} HR pixels from the families "
        f"{', '.join(f'`{f}`' for f in data['families'])}, brightness log-uniform over "
        f"{decades:g} decades, {100 * data['noise_fraction']:.0f} % with photon-like noise; "
        f"LR patches {recipe['lr_patch']} × {recipe['lr_patch']} at stride "
        f"{recipe['lr_stride']} inside a {recipe['lr_margin']}-pixel margin; Adam, learning "
        f"rate {recipe['learning_rate']:g} with a {recipe['schedule']} decay.",
    ]
    for model, name in PRESETS.items():
        runs: dict[tuple[int, str | None], list[int]] = {}  # (steps, start) -> bands
        for band, card in _cards(model).items():
            r = card["training"]["recipe"]
            start = r["init_from"]
            runs.setdefault((r["epochs"] * r["steps_per_epoch"], start), []).append(band)
        parts = []
        for (steps, start), bands in runs.items():
            origin = f"warm-started from `{start}`" if start else "from scratch"
            parts.append(
                f"{steps} steps {origin} for band{'s' if len(bands) > 1 else ''} {and_list(bands)}"
            )
        batch = _same(list(_cards(model).values()), lambda c: c["training"]["recipe"]["batch_size"])
        autocast = _same(
            list(_cards(model).values()), lambda c: c["training"]["recipe"]["autocast"]
        )
        lines.append(
            f"* **{name}** (batch {batch}, {autocast or 'float32'}): " + "; ".join(parts) + "."
        )
    return "\n".join(lines)


def model_card_validation() -> str:
    """docs/weights.md: each shipped model's validation MSE relative to the physics inverse
    (``validation`` of its card), and which ones kept their start weights."""
    bands = [b for b in SUPPORTED_BANDS if any(b in _cards(m) for m in PRESETS)]
    lines = [
        "| model | " + " | ".join(f"band {b}" for b in bands) + " |",
        "|---|" + "---|" * len(bands),
    ]
    for model, name in PRESETS.items():
        cards = _cards(model)
        cells = []
        for band in bands:
            if band not in cards:
                cells.append("–")
                continue
            card = cards[band]
            change = _loss_change(card)
            cell = "0" if change == 0 else f"{percent(change)} %"
            if card["training"]["best_epoch"] == 0:  # no epoch beat the start weights
                start = card["training"]["recipe"]["init_from"]
                cell += (
                    f" (kept its warm start, `{Path(start).stem}`)"
                    if start
                    else " (kept the start)"
                )
            cells.append(cell)
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def model_card_families() -> str:
    """docs/weights.md: every shipped model's PSNR gain over the physics inverse per training
    family and the decision taken (``validation_against_physics`` of its card)."""
    every = {(m, b): c for m in PRESETS for b, c in _cards(m).items()}
    checks = [c["validation_against_physics"] for c in every.values()]
    threshold = _same(checks, lambda v: v["threshold_db"])
    scenes = _same(checks, lambda v: v["scenes"])
    families = list(checks[0]["families"])
    lines = [
        "Mean PSNR gain over the physics inverse (dB) per training family, as each card records "
        f"it under `validation_against_physics` (scenes: {scenes}); a model's residual is "
        f"zeroed when its mean on some family is below {dB(threshold)} dB (bold):",
        "",
        "| model | band | " + " | ".join(families) + " | decision |",
        "|---|---|" + "---|" * len(families) + "---|",
    ]
    zeroed = []
    for (model, band), card in every.items():
        check = card["validation_against_physics"]
        values = [check["families"][f] for f in families]
        cells = [f"**{dB(v, 3)}**" if v < threshold else dB(v, 3) for v in values]
        kept = check["decision"] == "kept"
        if not kept:
            zeroed.append(f"{PRESETS[model]} band {band}")
        lines.append(
            f"| {PRESETS[model]} | {band} | "
            + " | ".join(cells)
            + " | "
            + ("kept" if kept else "**residual zeroed**")
            + " |"
        )
    lines += [
        "",
        "Residual zeroed, so the model returns the physics inverse: "
        + (", ".join(zeroed) or "none")
        + ".",
    ]
    return "\n".join(lines)
