"""Physically plausible output of the default pipeline (issue 26): no negative radiance, data
consistency within the noise, quality kept against bicubic and the physics inverse."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from xr_s5sr import synthetic
from xr_s5sr.degrade import degrade_array
from xr_s5sr.engine import super_resolve_array
from xr_s5sr.families import family_scene
from xr_s5sr.l1b import open_l1b
from xr_s5sr.metrics import compute_metrics
from xr_s5sr.physics import degrade
from xr_s5sr.spec import model_spec

#: HR pixels left out of the scores (LR edge pixels were degraded with zero padding).
BORDER = 16


def test_sample_granule_default_has_no_negative_radiance() -> None:
    # The package's band-7 sample as the input (as a new user runs it): the projection alone
    # gave 22 % negative values on the whole granule (issue 26).
    radiance = open_l1b(synthetic.sample_path(7), chunks=None)["radiance"].values[:40]
    assert radiance.min() >= 0
    default = model_spec("s5dscr", band=7, device="cpu")
    before = super_resolve_array(radiance, replace(default, nonnegative=False))
    assert np.mean(before < 0) > 0.1
    out = super_resolve_array(radiance, default)
    assert np.count_nonzero(out < 0) == 0
    assert np.isfinite(out).all()


@pytest.mark.parametrize("band", [7, 3])
@pytest.mark.parametrize("family", ["solar", "edges", "smooth"])
@pytest.mark.parametrize("noisy", [False, True])
def test_default_is_nonnegative_consistent_and_keeps_its_quality(
    band: int, family: str, noisy: bool
) -> None:
    # 24 LR ground pixels: the noise statistics need more than 2 × 8 (adaptive.EDGE).
    hr = family_scene(family, band, (128, 96), seed=5, brightness=1.0)
    clean = degrade_array(hr, band).astype(np.float32)
    lr = degrade_array(hr, band, noise="lr", seed=5).astype(np.float32) if noisy else clean
    bicubic = super_resolve_array(lr, model_spec("bicubic", device="cpu"))
    physics = super_resolve_array(
        lr, model_spec("backprojection", band=band, device="cpu", nonnegative=False)
    )
    out = super_resolve_array(lr, model_spec("s5dscr", band=band, device="cpu"))
    assert np.count_nonzero(out < 0) == 0
    psnr = compute_metrics(hr, out, bicubic, physics, border=BORDER)["psnr"]
    assert psnr[0] > psnr[1]
    assert psnr[0] >= psnr[2] - 0.3
    edge = BORDER // 4
    residual = (degrade(out, band) - lr)[edge:-edge, edge:-edge].astype(np.float64)
    if noisy:
        chi2 = np.mean(residual**2) / np.var(lr.astype(np.float64) - clean)
        print(f"chi2 {chi2:.3f}")
        assert chi2 < 1.5
    else:
        relative = np.linalg.norm(residual) / np.linalg.norm(lr[edge:-edge, edge:-edge])
        print(f"relative misfit {relative:.2e}")
        assert relative <= 1e-3
