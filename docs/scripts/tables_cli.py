"""The table of docs/cli.md: ``demo-output``, what ``xr-s5sr demo`` printed
(``docs/scripts/demo_output.json``).
"""

from __future__ import annotations

import json

from tables_core import ROOT, short_commit

DEMO = ROOT / "docs" / "scripts" / "demo_output.json"


def demo_output() -> str:
    """docs/cli.md: what ``xr-s5sr demo`` printed (``docs/scripts/demo_output.json``) and what
    its scores say."""
    result = json.loads(DEMO.read_text())
    scores = result["scores"]
    method, *_ = scores
    mine = scores[method]
    over = {other: mine["psnr"] - scores[other]["psnr"] for other in scores if other != method}

    def versus(other: str, name: str) -> str:
        gain = over[other]
        if round(gain, 2) == 0:
            return f"equals {name} in PSNR"
        verb = "gains" if gain > 0 else "is"
        place = "over" if gain > 0 else "below"
        return f"{verb} {abs(gain):.2f} dB {place} {name}"

    names = {"bicubic": "bicubic", "backprojection": "the physics inverse"}
    sam = "above" if mine["sam"] > scores["bicubic"]["sam"] else "at or below"
    return "\n".join(
        [
            f"What `{result['command'].replace(' -q', '')}` printed "
            f"(`docs/scripts/demo_output.py` → `demo_output.json`, commit "
            f"`{short_commit(result['record']['commit'])}`; stdout only: the progress notes "
            "go to stderr):",
            "",
            "```text",
            *result["stdout"],
            "```",
            "",
            f"On this sample the default `{method}` "
            + " and ".join(versus(o, names.get(o, o)) for o in over)
            + f" in PSNR; its spectral angle is {sam} bicubic's.",
        ]
    )
