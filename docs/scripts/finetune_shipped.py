"""The reported failure, scaled down: the shipped S5-DSCR-S fine-tuned on dim band-7 granules.

Plan (fixed before the run): band 7 with all 480 channels, family ``absorption`` (not used to
develop fine-tuning), brightness 0.03 of the band's mean, Gaussian noise of the band's sigma,
LR granules of 128 x 128 pixels; start: the shipped ``s5dscr_s`` band-7 weights; fine-tuning on
2 LR granules (seeds 1000, 1001) with the package defaults (learning rate 1e-3, windows of
16 + 2 x 8) and ``select_best=False`` (the raw weights, as a run without validation would give
them), scored after 30 and 60 steps. At each: the true PSNR change over the start on the 2
fine-tuning granules and 2 new granules (seeds 2000, 2001), and ``check_finetuned`` on each
set (reduced-resolution gain with its interval, SURE change, verdict).

One command (one CPU thread; long: 480 channels)::

    OMP_NUM_THREADS=1 python docs/scripts/finetune_shipped.py \\
        --out docs/scripts/finetune_proof/shipped.json
"""

from __future__ import annotations

import tempfile
import time

import numpy as np
from finetune_cases import BAND, granule, open_results, psnr, save

from xr_s5sr.objective import FinetuneConfig
from xr_s5sr.selfsup import check_finetuned, finetune, start_model

SIZE, BRIGHTNESS, FAMILY = 128, 0.03, "absorption"
OWN_SEEDS, NEW_SEEDS, STOPS = (1000, 1001), (2000, 2001), (30, 60)


def scene(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(HR, LR + the band's sigma) of one dim scene with all channels."""
    return granule(FAMILY, seed, BRIGHTNESS, "band", size=SIZE, channels=None)


def main() -> None:
    out, record = open_results(__doc__.splitlines()[0])
    own, new = [scene(s) for s in OWN_SEEDS], [scene(s) for s in NEW_SEEDS]
    config = FinetuneConfig(band=BAND, steps=STOPS[-1], select_best=False, checkpoint_every=30)
    start, _, _ = start_model(config)
    start_psnr = {"own": psnr(start, own), "new": psnr(start, new)}
    with tempfile.TemporaryDirectory() as run:
        started = time.perf_counter()
        for stop in STOPS:
            model = finetune(config, [lr for _, lr in own], run, progress=False, stop_after=stop)
            row: dict[str, object] = {"seconds": round(time.perf_counter() - started)}
            for name, granules in (("own", own), ("new", new)):
                after = psnr(model, granules)
                check = check_finetuned(model, config, [lr for _, lr in granules])
                row[name] = {
                    "true_db_per_granule": [
                        round(a - b, 4) for a, b in zip(after, start_psnr[name], strict=True)
                    ],
                    "check": check,
                }
            record["cases"][f"steps{stop}"] = row
            save(out, record)
            print(stop, row, flush=True)


if __name__ == "__main__":
    main()
