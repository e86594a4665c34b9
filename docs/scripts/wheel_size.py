"""Measure the size of the package's wheel (the number quoted in docs/install.md).

Run from the repository root:  python docs/scripts/wheel_size.py

Builds the wheel with ``pip wheel --no-deps`` into a temporary directory (pip fetches the build
backend, hatchling, into its isolated build environment) and writes
``docs/scripts/wheel_size.json``: the file name, its size in bytes, MB (10⁶ bytes) and MiB,
the total size of the shipped ``weights/*.safetensors`` it carries, and the commit measured
(:func:`xr_s5sr.versions.run_record`).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

from xr_s5sr.versions import run_record

ROOT = Path(__file__).resolve().parents[2]
OUT = Path(__file__).with_suffix(".json")


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", tmp, str(ROOT)],
            check=True,
        )
        (wheel,) = Path(tmp).glob("*.whl")
        size = wheel.stat().st_size
        name = wheel.name
    weights = sum(p.stat().st_size for p in (ROOT / "weights").glob("*.safetensors"))
    result = {
        "command": "pip wheel --no-deps .",
        "wheel": name,
        "bytes": size,
        "MB": round(size / 1e6, 1),
        "MiB": round(size / 2**20, 1),
        "weights_safetensors_bytes": weights,
        "commit": run_record()["commit"],
    }
    OUT.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
