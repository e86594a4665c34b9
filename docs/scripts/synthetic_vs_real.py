"""Compare synthetic scenes with the real S5P crops of the S5P_SISR_Toolbox (docs figure).

Run from the repository root (needs ../shared/reference and matplotlib):
    python docs/scripts/synthetic_vs_real.py
Writes docs/images/synthetic_vs_real.png and prints the table used in docs/synthetic.md.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np
import scipy.io
import torch
import torch.nn.functional as F

from xr_s5sr.degrade import degrade_array
from xr_s5sr.synthetic import make_granule

matplotlib.use("Agg")
import matplotlib.pyplot as plt

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = ROOT.parent / "shared" / "reference" / "s5p_sisr_toolbox"
CROPS = [("1.UV", 2), ("2.UVIS", 3), ("3.NIR", 6), ("4.SWIR", 7)]
SEEDS = range(8)


def radial_psd(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Radially averaged power spectrum (normalised to unit total power), cycles/pixel."""
    image = image - image.mean()
    power = np.abs(np.fft.fft2(image)) ** 2
    k = np.hypot(
        *np.meshgrid(np.fft.fftfreq(image.shape[0]), np.fft.fftfreq(image.shape[1]), indexing="ij")
    )
    edges = np.linspace(0.01, 0.5, 25)
    which = np.digitize(k.ravel(), edges)
    psd = np.array([power.ravel()[which == i].mean() for i in range(1, len(edges))])
    return (edges[1:] + edges[:-1]) / 2, psd / power.sum()


def spectral_slope(k: np.ndarray, psd: np.ndarray) -> float:
    """Log-log slope of a power spectrum."""
    return float(np.polyfit(np.log(k), np.log(psd), 1)[0])


def bicubic_loss(image: np.ndarray, band: int) -> float:
    """RMSE of bicubic ×4 after degradation, relative to the image std (lost detail)."""
    lr = degrade_array(image.astype(np.float64), band)
    up = F.interpolate(
        torch.from_numpy(lr)[None, None], scale_factor=4, mode="bicubic", align_corners=False
    )[0, 0].numpy()
    hr = image[: up.shape[0], : up.shape[1]]
    error = (up - hr)[16:-16, 16:-16]
    return float(np.sqrt((error**2).mean()) / hr.std())


def main() -> None:
    fig, axes = plt.subplots(4, 4, figsize=(14, 14))
    rows = []
    for col, (name, band) in enumerate(CROPS):
        real = scipy.io.loadmat(REFERENCE / f"{name}_IN.mat")["radiance"].astype(np.float64)
        synthetic = [
            make_granule(band, real.shape[0], real.shape[1], seed=s, n_channel=40)
            .radiance.values[:, :, 20]
            .astype(np.float64)
            for s in SEEDS
        ]
        k, p_real = radial_psd(real)
        p_syn = np.mean([radial_psd(s)[1] for s in synthetic], axis=0)
        rows.append(
            (
                name,
                band,
                spectral_slope(k, p_real),
                spectral_slope(k, p_syn),
                real.std() / real.mean(),
                np.mean([s.std() / s.mean() for s in synthetic]),
                bicubic_loss(real, band),
                np.mean([bicubic_loss(s, band) for s in synthetic]),
            )
        )
        axes[0, col].imshow(real, cmap="gray", aspect="auto")
        axes[0, col].set_title(f"real crop {name}")
        axes[1, col].imshow(synthetic[0], cmap="gray", aspect="auto")
        axes[1, col].set_title(f"synthetic band {band} (seed 0)")
        axes[2, col].loglog(k, p_real, label="real")
        axes[2, col].loglog(k, p_syn, label="synthetic (mean of 8)")
        axes[2, col].set_xlabel("spatial frequency (cycles/pixel)")
        axes[2, col].legend()
        axes[3, col].hist(real.ravel() / real.mean(), 80, density=True, alpha=0.5, label="real")
        axes[3, col].hist(
            np.concatenate([s.ravel() / s.mean() for s in synthetic]),
            80,
            density=True,
            alpha=0.5,
            label="synthetic",
        )
        axes[3, col].set_xlabel("radiance / scene mean")
        axes[3, col].legend()
    fig.tight_layout()
    fig.savefig(ROOT / "docs" / "images" / "synthetic_vs_real.png", dpi=60)
    print(
        "| crop | band | PSD slope real | PSD slope synthetic | std/mean real | "
        "std/mean synthetic | bicubic RMSE/std real | bicubic RMSE/std synthetic |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for row in rows:
        print("| {} | {} | {:.2f} | {:.2f} | {:.2f} | {:.2f} | {:.2f} | {:.2f} |".format(*row))


if __name__ == "__main__":
    main()
