"""Tables of docs/assess.md and README.md on the S5P_SISR_Toolbox's real crops
(``docs/scripts/assess_reference.json``): README's and docs/physics.md's
``assess-reference-headline`` and docs/assess.md's ``assess-reference-reading``.
"""

from __future__ import annotations

from tables_core import ROOT, and_list, dB, load_run, sci, span

ASSESS = ROOT / "docs" / "scripts" / "assess_reference.json"


def assess_reference_headline() -> str:
    """README: the physics inverse on the toolbox's real one-channel crops
    (``docs/scripts/assess_reference.json``), against their native image and by the
    reduced-resolution protocol."""
    result = load_run(ASSESS)
    assert result is not None, ASSESS
    true, reduced, bands = [], [], []
    for crop in result["crops"].values():
        t, r = crop["true_hr"], crop["reduced_resolution"]
        true.append(t["backprojection"]["psnr"] - t["bicubic"]["psnr"])
        reduced.append(r["backprojection"]["rr_psnr"] - r["bicubic"]["rr_psnr"])
        bands.append(crop["band"])
    agree = sum((a > 0) == (b > 0) for a, b in zip(true, reduced, strict=True))
    return (
        f"On the S5P_SISR_Toolbox's {len(true)} real S5P crops (one channel each, bands "
        f"{and_list(bands)}; `docs/scripts/assess_reference.json`, commit "
        f"`{result['commit'][:12]}`), scored against their native image, the physics inverse "
        f"gains {span(true, dB, ' to ')} dB over bicubic; the reduced-resolution "
        f"protocol of `assess`, which needs no HR, gives {span(reduced, dB, ' to ')} dB and ranks "
        f"the two methods as the native image does on {agree} of {len(true)} crops. The "
        "networks need their band's full set of channels, so the default has **not** been "
        "scored on real radiance."
    )


def assess_reference_reading() -> str:
    """docs/assess.md: how to read the toolbox crops' scores
    (``docs/scripts/assess_reference.json``): ranking, size of the gain, what is undefined."""
    result = load_run(ASSESS)
    assert result is not None, ASSESS
    crops = result["crops"]
    # (true-HR name, reduced-resolution name, higher is better) of the scores compared.
    scores = {
        "PSNR": ("psnr", "rr_psnr", True),
        "SSIM": ("ssim", "rr_ssim", True),
        "sCC": ("scc", "rr_scc", True),
        "ERGAS": ("ergas", "rr_ergas", False),
        "the toolbox's Q": ("toolbox_Q", "rr_toolbox_Q", True),
    }

    def better(name: str, crop: dict, protocol: str) -> bool | None:
        true_name, reduced_name, higher = scores[name]
        part = crop["true_hr" if protocol == "true" else "reduced_resolution"]
        key = true_name if protocol == "true" else reduced_name
        bp, bic = part["backprojection"][key], part["bicubic"][key]
        if bp is None or bic is None:
            return None
        return bp > bic if higher else bp < bic

    wins, agree = [], []
    for name in scores:
        verdicts = [(better(name, c, "true"), better(name, c, "reduced")) for c in crops.values()]
        defined = [(t, r) for t, r in verdicts if t is not None and r is not None]
        wins.append(f"{name} {sum(t and r for t, r in defined)} of {len(defined)}")
        agree.append(sum(t == r for t, r in defined) == len(defined))
    gains = []
    for name, crop in crops.items():
        r, t = crop["reduced_resolution"], crop["true_hr"]
        gains.append(
            f"{name} {dB(r['backprojection']['rr_psnr'] - r['bicubic']['rr_psnr'])} dB "
            f"against {dB(t['backprojection']['psnr'] - t['bicubic']['psnr'])} dB"
        )
    narrow = [
        f"{name} crop's LR is {crop['lr_shape'][1]} pixels wide"
        for name, crop in crops.items()
        if crop["reduced_resolution"]["bicubic"]["rr_toolbox_Q"] is None
    ]
    misfit = {
        m: [c["reduced_resolution"][m]["fr_relative_misfit"] for c in crops.values()]
        for m in ("backprojection", "bicubic")
    }
    sharp = [c["reduced_resolution"]["backprojection"]["fr_sharpness"] for c in crops.values()]
    native = [c["true_hr"]["native"]["sharpness"] for c in crops.values()]
    sources = sorted({c["sigma_source"] for c in crops.values()})
    lines = [
        "* Crops on which backprojection beats bicubic on both protocols: "
        + ", ".join(wins)
        + ". The reduced-resolution ranking "
        + (
            "agrees with the true ranking on every crop and score here."
            if all(agree)
            else "differs from the true ranking on some crop and score."
        ),
        "* The size of the gain does not carry over. Backprojection's PSNR gain over bicubic, "
        "reduced resolution against the native image: " + "; ".join(gains) + ". Quote the "
        "true-HR column, or your own HR data, for gains.",
    ]
    if narrow:
        lines.append(
            f"* The {'; the '.join(narrow)}, too narrow for the toolbox's indexes on the reduced "
            "scale (above), so they are n/a there."
        )
    lines += [
        "* The crops carry one channel and no `radiance_noise`, and the noise cannot be "
        f"estimated from one channel. So `fr_chi2` is NaN (`sigma_source: {', '.join(sources)}`); "
        "pass `sigma=` if you know it. `fr_relative_misfit` needs no σ: at most "
        f"{max(misfit['backprojection']):.1e} for backprojection (exact consistency, μ = 0 with "
        f"unknown noise), {span(misfit['bicubic'], '.2f')} for bicubic.",
        f"* Sharpness: backprojection puts {span(sharp, '.0f', unit='×')} bicubic's "
        f"high-frequency energy into its output, and the native images hold "
        f"{span(native, sci, unit='×')} (real pixel-scale structure and noise, which "
        "no ×4 method can recover from the LR). The ratio says that a method adds fine "
        "structure, not that the structure is right. That is why it is read together with the "
        "other columns.",
    ]
    return "\n".join(lines)
