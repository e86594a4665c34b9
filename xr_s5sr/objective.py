"""The self-supervised objective on LR windows (SPEC §6): what one fine-tuning step computes.

Boundary: numpy LR granules (scanline, ground_pixel, spectral_channel) in radiance units in;
torch tensors (batch, channel, scanline, ground_pixel) and scalar losses out. Granules become
:class:`LRTile` (missing values filled and masked, the granule's automatic μ and noise sigma),
windows are sampled from them, and :func:`batch_losses` evaluates the losses of
:mod:`xr_s5sr.losses` on :func:`network`, the composition ``super_resolve`` computes.
:func:`validation_sure` scores a network without HR in the measurement domain;
:func:`reduce_tiles`, :func:`reduced_errors` and :func:`compare_errors` score it where the truth
is known, one scale down (Wald's reduced-resolution protocol). The loop, the
checkpoints and the export are in :mod:`xr_s5sr.selfsup`; torch is imported lazily.

What is trained: ``f(y) = C_μ(backproject_μ(P y) + detail(P y), P y)``, the one formula of
:func:`xr_s5sr.models.compose` (its default consistency step ``C_μ``: the non-negative
consistent solution) on the granule's spectral prior ``P`` (:meth:`LRTile.input_map`, inference's
:func:`xr_s5sr.subspace.project_rows` with the granule's bases; the identity with
``spectral_prior=False``), hence the default output of ``super_resolve`` with the network's
detail gate off (:func:`network`; the fine-tuned network keeps it off,
:attr:`~xr_s5sr.models.ModelConfig.detail_gate`), with each granule's automatic μ and noise
sigma (:func:`xr_s5sr.adaptive.auto_settings`, computed once per granule; inference blends μ
between windows of :data:`xr_s5sr.adaptive.WINDOW` scanlines, so the two agree on granules of
one window). Training the unprojected output, or the formula on the data without their
prior, would shape what inference never outputs.

Losses (``y`` the LR window, ``A`` the degradation, ``σ`` the granule's noise sigma), from
:mod:`xr_s5sr.losses`:

* measurement consistency :func:`~xr_s5sr.losses.consistency_loss`:
  ``mean ‖A f(y) − y‖²``;
* SURE :func:`~xr_s5sr.losses.sure_loss`: ``‖A f(y) − y‖² − σ² + 2σ² div(A f)(y)`` per
  element, with a one-probe Monte-Carlo divergence; an unbiased estimate of
  ``‖A f(y) − A x‖²`` for ``y = A x + N(0, σ²)``: the error the data can see;
* robust equivariance :func:`~xr_s5sr.losses.equivariance_loss` (equivariant imaging, Chen
  et al. 2021 and 2022; Scanvic et al., arXiv 2312.11232): ``‖T x̂ − f(A T x̂ + n')‖²`` with
  ``x̂ = f(y)`` detached, ``n'`` fresh noise of sigma ``σ`` and ``T`` a random shift by up to
  ``max_shift`` HR pixels and/or flip (:class:`~xr_s5sr.losses.Transform`): the only term
  that reaches the null space of ``A``, where SURE is blind.

All three are weighted by ``1000 / s`` (``s`` the local radiance level,
:func:`xr_s5sr.models.local_scale`, held fixed): relative errors in per mille, so dim and
bright scenes count alike (the loss values are in per mille squared).

Context: the network runs on windows. The detail reaches a few LR pixels; the physics
inverse formally ~58 (``backprojection_reach``), but its influence decays geometrically (to
~5e-6 of the radiance maximum 8 LR pixels from a crop edge, ``docs/finetune.md``). So ``f``
runs on LR windows of ``lr_patch + 2·context`` pixels and every loss is taken on the central
``lr_patch × lr_patch`` pixels only, where ``f`` equals the whole-granule ``f`` to well below
the noise (the prior is per spectrum: a window's is the granule's). Windows never cross a
granule edge, so the zero padding of ``A`` at image edges never enters a loss.

Missing values: non-finite LR values are filled by inference's one policy
(:func:`xr_s5sr.missing.fill_block`: along the spectrum, then from neighbours) before ``f``
runs, and every loss skips the pixels within ``context`` LR pixels of them (all channels,
since the network mixes channels); channels missing in a whole granule are skipped
everywhere. A missing value is never a target and never a pseudo-target.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
from scipy import ndimage

from xr_s5sr.adaptive import auto_settings
from xr_s5sr.bands import SCALE, band_kernels, get_band
from xr_s5sr.errors import S5SRArgumentError
from xr_s5sr.losses import Transform, consistency_loss, equivariance_loss, sure_loss
from xr_s5sr.missing import fill_block
from xr_s5sr.operators import degrade, upsample
from xr_s5sr.subspace import GranulePrior

if TYPE_CHECKING:
    import torch

    from xr_s5sr.models import S5DSCR, Consistency

#: Per-mille units of the relative errors in every loss (weights ``1000 / s``).
LOSS_UNITS = 1e3
#: Loss names, in the order of :class:`FinetuneConfig`'s weights.
LOSSES = ("consistency", "sure", "equivariance")


@dataclass
class FinetuneConfig:
    """Settings of one self-supervised fine-tuning run.

    Attributes
    ----------
    band : int
        S5P band 2–8.
    model : {"s5dscr", "s5dscr_s"}
        Preset of the start (and exported) weights.
    steps : int
        Optimiser steps.
    batch_size : int
        LR windows per step.
    lr_patch : int
        Central LR pixels (per side) of a window on which the losses are taken.
    context : int
        LR pixels added on each side of the central patch for ``f`` to see (see module
        docstring); also the distance, in LR pixels, kept from missing values.
    learning_rate : float
        Adam step size, decayed to 0 by a cosine over ``steps``.
    consistency_weight, sure_weight, equivariance_weight : float
        Weights of :func:`consistency_loss`, :func:`sure_loss` and :func:`equivariance_loss`
        (0 switches a term off). SURE already contains the consistency term, corrected for
        the noise; use one of the two.
    noise_sigma : float or None
        Gaussian noise sigma of the LR radiance, mol m-2 nm-1 sr-1 s-1, for SURE (None:
        estimated from each granule, :func:`xr_s5sr.adaptive.auto_settings`; 0: SURE equals
        the consistency loss).
    max_shift : int
        Largest shift of the equivariance transforms, HR pixels (1–3 are sub-LR-pixel shifts).
    flips : bool
        Also draw flips along scanline and ground_pixel in the equivariance transforms.
    probe_tau : float
        Monte-Carlo divergence step of SURE, relative to the RMS radiance of the window.
    seed : int
        Seed of window order, transforms and SURE probes.
    checkpoint_every : int
        Steps between checkpoints (and history entries and validation scores).
    select_best : bool
        Return the weights of the checkpoint with the best reduced-resolution gain over the
        start (:func:`reduced_errors`, :func:`compare_errors`: the granules degraded once
        more, their own LR the truth), or the start weights when no gain's 95 % lower bound
        is above 0; False returns the weights of the last step (no validation).
    start_weights : str or None
        Weights file to start from (None: the shipped weights of ``band`` and ``model``).
    spectral_prior : bool
        Train, select and check what ``super_resolve(spectral_prior=...)`` outputs: with True
        (inference's default) every LR window is first projected onto its granule's spectral
        subspace (:meth:`LRTile.input_map`); False trains the formula on the data as given and must
        be matched by ``spectral_prior=False`` at inference.
    """

    band: int
    model: str = "s5dscr_s"
    steps: int = 300
    batch_size: int = 1
    lr_patch: int = 16
    context: int = 8
    learning_rate: float = 1e-3
    consistency_weight: float = 0.0
    sure_weight: float = 1.0
    equivariance_weight: float = 1.0
    noise_sigma: float | None = None
    max_shift: int = 3
    flips: bool = True
    probe_tau: float = 1e-3
    seed: int = 0
    checkpoint_every: int = 50
    select_best: bool = True
    start_weights: str | None = None
    spectral_prior: bool = True

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (JSON-ready)."""
        return asdict(self)

    @property
    def window(self) -> int:
        """LR pixels per side of the window ``f`` runs on."""
        return self.lr_patch + 2 * self.context

    def sigma(self, estimate: float) -> float:
        """SURE's noise sigma in radiance units: ``noise_sigma``, or when it is None the
        granule's ``estimate``."""
        return float(estimate if self.noise_sigma is None else self.noise_sigma)

    def weights(self) -> dict[str, float]:
        """Loss weights by name (:data:`LOSSES`)."""
        return {
            "consistency": self.consistency_weight,
            "sure": self.sure_weight,
            "equivariance": self.equivariance_weight,
        }

    def validate(self) -> None:
        """Raise :class:`~xr_s5sr.errors.S5SRArgumentError` for settings that cannot run."""
        get_band(self.band, require_super_resolution=True)
        if self.model not in ("s5dscr", "s5dscr_s"):
            raise S5SRArgumentError(f"model must be 's5dscr' or 's5dscr_s', got {self.model!r}.")
        positive = {
            "steps": self.steps,
            "batch_size": self.batch_size,
            "lr_patch": self.lr_patch,
            "checkpoint_every": self.checkpoint_every,
        }
        for name, value in positive.items():
            if int(value) < 1:
                raise S5SRArgumentError(f"{name} must be a positive integer, got {value}.")
        if self.context < 0 or self.max_shift < 0:
            raise S5SRArgumentError(
                f"context and max_shift must be >= 0, got {self.context} and {self.max_shift}."
            )
        weights = self.weights()
        if any(w < 0 for w in weights.values()) or not any(w > 0 for w in weights.values()):
            raise S5SRArgumentError(
                f"Loss weights must be >= 0 with at least one > 0, got {weights}."
            )
        if self.equivariance_weight > 0 and self.max_shift == 0 and not self.flips:
            raise S5SRArgumentError(
                "The equivariance loss needs transforms: set max_shift >= 1 or flips=True, "
                "or equivariance_weight=0."
            )
        if (self.noise_sigma or 0.0) < 0 or self.learning_rate <= 0 or self.probe_tau <= 0:
            raise S5SRArgumentError(
                "noise_sigma must be >= 0 and learning_rate, probe_tau > 0; got "
                f"{self.noise_sigma}, {self.learning_rate}, {self.probe_tau}."
            )


# ------------------------------------------------------------------------------------ data
@dataclass
class LRTile:
    """One LR granule ready for window sampling."""

    data: np.ndarray  # (h, w, C) float32, missing values filled
    usable: np.ndarray  # (h, w) bool: pixels a loss may use
    channels: np.ndarray  # (C,) bool: channels a loss may use
    regularisation: float  # the granule's automatic μ (what inference will use)
    noise_sigma: float  # the granule's estimated noise sigma, radiance units
    prior: GranulePrior | None = None  # the granule's spectral prior (None: off)

    def input_map(self, rows: Sequence[int]) -> Callable[[torch.Tensor], torch.Tensor] | None:
        """What inference does to LR windows (B, C, h, w) of this granule whose first rows
        are ``rows`` before the formula: the spectral prior (None when off).

        The granule's bases project every input, also those the granule does not hold
        (SURE's probed ``y + εb``, equivariance's ``A T x̂ + n'``): a fixed linear map above
        its lower bound, so SURE's divergence leaves out how the bases move with ``y`` (they
        average thousands of spectra: that part is small). The prior has no parameter: it
        runs on the detached values.
        """
        if self.prior is None:
            return None
        project = self.prior.project

        def prior(y: torch.Tensor) -> torch.Tensor:
            import torch

            values = y.detach().to("cpu", torch.float32).permute(0, 2, 3, 1).numpy()
            out = np.stack([project(v, int(r)) for v, r in zip(values, rows, strict=True)])
            return torch.from_numpy(out).permute(0, 3, 1, 2).to(device=y.device, dtype=y.dtype)

        return prior


def prepare_tile(lr: np.ndarray, context: int, band: int, spectral_prior: bool = True) -> LRTile:
    """Fill missing values of an LR tile, mark where the losses may look and read the
    granule's inference settings.

    Parameters
    ----------
    lr : numpy.ndarray
        (scanline, ground_pixel, channel) LR radiance, radiance units; NaN/inf = missing.
    context : int
        LR pixels kept from a missing value (Chebyshev distance).
    band : int
        S5P band (selects ``A`` for the automatic settings).
    spectral_prior : bool, default True
        Also identify the granule's spectral prior (:meth:`LRTile.input_map`), as
        ``super_resolve(spectral_prior=True)`` does.

    Returns
    -------
    LRTile
        Filled float32 data (:func:`xr_s5sr.missing.fill_block`, as ``super_resolve`` fills
        them: along the spectrum, then from neighbours), the usable pixel map, the usable
        channels, the automatic μ and noise sigma of the filled granule
        (:func:`xr_s5sr.adaptive.auto_settings`, as ``super_resolve`` computes them for this
        granule: from the data as given, not the denoised data) and the prior. ``data`` stays
        the data as given: the losses compare with it, the prior acts inside ``f``.
    """
    if lr.ndim != 3:
        raise S5SRArgumentError(
            f"LR tiles must be (scanline, ground_pixel, channel) arrays, got shape {lr.shape}."
        )
    data = np.asarray(lr, dtype=np.float32)
    finite = np.isfinite(data)
    channels = finite.any(axis=(0, 1))
    # Inference's one policy (:mod:`xr_s5sr.missing`): what f sees is what super_resolve sees.
    filled = fill_block(data)  # no copy when complete
    bad = ~finite[..., channels].all(axis=-1) if channels.any() else np.ones(data.shape[:2], bool)
    if context > 0 and bad.any():
        bad = ndimage.binary_dilation(bad, np.ones((2 * context + 1,) * 2, bool))
    regularisation, noise_variance = auto_settings(filled, band)
    return LRTile(
        np.ascontiguousarray(filled),
        np.asarray(~bad),
        np.asarray(channels),
        regularisation,
        math.sqrt(noise_variance),
        GranulePrior.of(filled) if spectral_prior else None,
    )


def window_index(
    tiles: Sequence[LRTile], config: FinetuneConfig, stride: int | None = None
) -> np.ndarray:
    """(tile, row, col) of every window (stride ``lr_patch // 2`` unless given) with a usable
    centre pixel."""
    size, patch, context = config.window, config.lr_patch, config.context
    stride = max(1, patch // 2) if stride is None else stride
    index: list[tuple[int, int, int]] = []
    for k, tile in enumerate(tiles):
        h, w = tile.usable.shape
        for r in range(0, h - size + 1, stride):
            for c in range(0, w - size + 1, stride):
                centre = tile.usable[
                    r + context : r + context + patch, c + context : c + context + patch
                ]
                if centre.any() and tile.channels.any():
                    index.append((k, r, c))
    if not index:
        shapes = sorted({t.usable.shape for t in tiles})
        raise S5SRArgumentError(
            f"No {size}x{size} LR window (lr_patch {patch} + 2 x context {context}) with usable "
            f"pixels fits in the LR tiles (shapes {shapes}): use larger or more complete "
            "granules, or a smaller lr_patch/context."
        )
    return np.asarray(index, dtype=np.int64)


class Window(NamedTuple):
    """Where an LR window comes from: its granule (μ, noise sigma, prior) and first row."""

    tile: LRTile
    row: int  # granule row of the window's first row


def window_batch(
    tiles: Sequence[LRTile], picks: np.ndarray, config: FinetuneConfig, device: str
) -> tuple[torch.Tensor, torch.Tensor, list[Window]]:
    """LR windows (B, C, W, W), their bool loss masks (B, C, W, W) on ``device`` and where
    each window comes from (:class:`Window`: its granule's μ, noise sigma and prior).

    ``picks`` are rows of :func:`window_index`; the mask is True on the usable central
    ``lr_patch × lr_patch`` pixels of each window and usable channels of its tile.
    """
    import torch

    size, patch, context = config.window, config.lr_patch, config.context
    data, masks = [], []
    for k, r, c in picks:
        tile = tiles[k]
        data.append(tile.data[r : r + size, c : c + size])
        usable = np.zeros((size, size), bool)
        inner = slice(context, context + patch)
        usable[inner, inner] = tile.usable[r : r + size, c : c + size][inner, inner]
        masks.append(usable[..., None] & tile.channels)
    to_tensor = lambda a: torch.from_numpy(np.stack(a)).permute(0, 3, 1, 2).contiguous()  # noqa: E731
    windows = [Window(tiles[k], int(r)) for k, r, _ in picks]
    return to_tensor(data).to(device), to_tensor(masks).to(device), windows


def _upsample_mask(mask: torch.Tensor) -> torch.Tensor:
    """LR bool mask → the 4 × 4 HR pixels of each LR pixel."""
    return mask.repeat_interleave(SCALE, dim=-2).repeat_interleave(SCALE, dim=-1)


def network(
    model: S5DSCR,
    regularisation: float = 0.0,
    consistency: Consistency = "nonnegative",
    prior: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> Callable[[torch.Tensor], torch.Tensor]:
    """What ``super_resolve`` computes with ``model`` (without the detail gate), as a torch
    function of LR windows (B, C, h, w): :func:`xr_s5sr.models.compose` with
    ``μ = regularisation``, on the windows' spectral prior when ``prior`` is given.

    ``f(y) = C_μ(backproject_μ(P y) + detail(P y), P y)``, with by default the non-negative
    consistency step inference uses and ``P`` the spectral prior (:meth:`LRTile.input_map`;
    None: the identity, ``spectral_prior=False``). The losses train this composition because
    the consistency step replaces what the data determine: a loss on the unprojected output
    would train a part that inference throws away. ``consistency="none"`` leaves the step out
    (with ``μ = 0`` and no prior that is ``model(y)``), ``"projection"`` keeps the projection
    alone.
    """
    from xr_s5sr.models import compose

    def f(y: torch.Tensor) -> torch.Tensor:
        data = y if prior is None else prior(y)
        return compose(model, data, regularisation=regularisation, consistency=consistency)

    return f


def batch_losses(
    model: S5DSCR,
    y: torch.Tensor,
    mask: torch.Tensor,
    config: FinetuneConfig,
    rng: np.random.Generator,
    generator: torch.Generator,
    windows: Sequence[Window],
) -> dict[str, torch.Tensor]:
    """The weighted-by-``1000/s`` losses of one batch of windows (those with weight > 0).

    Each window runs through :func:`network` with the μ and the spectral prior of its
    granule (every input ``f`` sees, probed or transformed, is projected as inference would
    project it) and SURE uses the granule's noise sigma (or ``config.noise_sigma``); the
    targets are the data as given. The losses are averaged over the windows. One
    equivariance transform is drawn per batch.

    Parameters
    ----------
    model : S5DSCR
        ``scaling="local"`` network.
    y : torch.Tensor
        LR windows (B, C, W, W), finite, radiance units.
    mask : torch.Tensor
        bool (B, C, W, W): elements the losses use (the usable centre of each window).
    config : FinetuneConfig
        Loss weights, noise sigma, transforms.
    rng : numpy.random.Generator
        Draws the equivariance transform.
    generator : torch.Generator
        Draws the SURE probes.
    windows : sequence of Window
        The granule and first row of each window (:func:`window_batch`).

    Returns
    -------
    dict of str to torch.Tensor
        Scalar losses by name, (per mille of the local radiance)².
    """
    from xr_s5sr.models import channels_last, local_scale

    weights = config.weights()
    transform = (
        Transform.random(rng, config.max_shift, config.flips)
        if weights["equivariance"] > 0
        else None
    )

    def a(x: torch.Tensor) -> torch.Tensor:
        return channels_last(degrade, x, config.band)

    totals: dict[str, torch.Tensor] = {}
    for b, (tile, row) in enumerate(windows):
        window, window_mask = y[b : b + 1], mask[b : b + 1]
        scale = local_scale(window).detach()
        w_lr = LOSS_UNITS / scale
        f = network(model, tile.regularisation, prior=tile.input_map([row]))
        x_hat = f(window)
        losses: dict[str, torch.Tensor] = {}
        if weights["consistency"] > 0 or weights["sure"] > 0:
            degraded = a(x_hat)
            if weights["consistency"] > 0:
                losses["consistency"] = consistency_loss(degraded, window, window_mask, w_lr)
            if weights["sure"] > 0:
                losses["sure"] = sure_loss(
                    lambda v, f=f: a(f(v)),  # type: ignore[misc]
                    window,
                    config.sigma(tile.noise_sigma),
                    window_mask,
                    w_lr,
                    tau=config.probe_tau,
                    generator=generator,
                    h_y=degraded,
                )
        if transform is not None:
            w_hr = LOSS_UNITS / upsample(scale, axes=(2, 3), kind="linear")
            losses["equivariance"] = equivariance_loss(
                f,
                a,
                x_hat,
                transform,
                _upsample_mask(window_mask),
                w_hr,
                noise_sigma=config.sigma(tile.noise_sigma),
                generator=generator,
            )
        for name, value in losses.items():
            totals[name] = totals[name] + value if name in totals else value
    return {name: value / len(windows) for name, value in totals.items()}


# ------------------------------------------------------------------------------------ scores
def validation_sure(
    model: S5DSCR, tiles: Sequence[LRTile], config: FinetuneConfig, max_windows: int = 16
) -> float:
    """HR-free score of ``model`` on prepared granules: the mean SURE of its default output.

    An unbiased estimate of ``mean ‖w·(A f(y) − A x)‖²`` ((per mille of the local radiance)²,
    lower is better) over up to ``max_windows`` windows spread evenly over the granules, with
    each granule's μ and noise sigma and fixed SURE probes from ``config.seed`` (the same
    windows and probes for every model, so scores compare), on the model's device. It
    measures the part of the error the data can see: a network that removes real signal, e.g.
    spectra absent from the granules it was fine-tuned on, scores worse; an error confined to
    the null space of ``A`` is invisible to it.
    """
    import torch

    device = str(next(model.parameters()).device)
    index = window_index(tiles, config)
    picks = index[np.unique(np.linspace(0, len(index) - 1, max_windows).round().astype(int))]
    generator = torch.Generator().manual_seed(config.seed)
    scoring = replace(config, consistency_weight=0.0, sure_weight=1.0, equivariance_weight=0.0)
    was_training = model.training
    model.eval()
    scores = []
    with torch.no_grad():
        for pick in picks:
            y, mask, picked = window_batch(tiles, pick[None], config, device)
            losses = batch_losses(
                model, y, mask, scoring, np.random.default_rng(0), generator, picked
            )
            scores.append(float(losses["sure"]))
    model.train(was_training)
    return float(np.mean(scores))


# ------------------------------------------------------------------------ reduced resolution
@dataclass
class ReducedTile:
    """A granule one scale down (Wald's reduced-resolution protocol) with its truth.

    ``lr`` is ``A y + n'`` prepared like any granule (its own automatic μ and noise sigma, as
    ``super_resolve`` would compute them); ``target`` is ``y`` itself, the truth at the
    reduced scale, and ``usable`` marks the target pixels that count.
    """

    lr: LRTile
    target: np.ndarray  # (4h, 4w, C) float32: the granule y (filled)
    usable: np.ndarray  # (4h, 4w, C) bool: finite, usable pixels of usable channels


def noise_gain(band: int) -> float:
    """Variance of ``A n`` per element for white noise ``n`` of unit variance: the product of
    the sums of squares of the band's two 1-D kernels (dimensionless, < 1)."""
    kernel_scanline, kernel_pixel = band_kernels(band)
    return float(np.square(kernel_scanline).sum() * np.square(kernel_pixel).sum())


def reduce_tile(tile: LRTile, config: FinetuneConfig, index: int = 0) -> ReducedTile:
    """The reduced-resolution version of a prepared granule: ``A y + n'``, with ``y`` the truth.

    ``n'`` is white Gaussian noise of variance ``σ̂² (1 − g)`` (``σ̂`` the granule's noise sigma,
    ``g`` = :func:`noise_gain`): ``A y`` carries ``y``'s own noise blurred (variance ``g σ̂²``),
    so the reduced granule has the noise variance of the granule and the network sees the
    noise regime it will meet (the relative noise too: ``A`` keeps the radiance level). The
    noise is seeded by ``config.seed`` and ``index`` (the same for every model scored).
    """
    h, w = (n // SCALE * SCALE for n in tile.data.shape[:2])
    y = tile.data[:h, :w]
    reduced = np.asarray(degrade(y, config.band), dtype=np.float64)
    extra = tile.noise_sigma * math.sqrt(max(0.0, 1.0 - noise_gain(config.band)))
    reduced += extra * np.random.default_rng([config.seed, index, 7]).standard_normal(reduced.shape)
    blocks = tile.usable[:h, :w].reshape(h // SCALE, SCALE, w // SCALE, SCALE).all(axis=(1, 3))
    reduced[~blocks] = np.nan  # a reduced pixel made from unusable LR pixels is missing
    prepared = prepare_tile(
        reduced.astype(np.float32), config.context, config.band, tile.prior is not None
    )
    usable = tile.usable[:h, :w, None] & tile.channels
    return ReducedTile(prepared, np.ascontiguousarray(y), usable)


def reduce_tiles(tiles: Sequence[LRTile], config: FinetuneConfig) -> list[ReducedTile]:
    """:func:`reduce_tile` of each granule, checking that a reduced window fits in one.

    Raises
    ------
    S5SRArgumentError
        When no granule is ``4 × (lr_patch + 2 context)`` LR pixels or more on both sides.
    """
    reduced = [reduce_tile(tile, config, k) for k, tile in enumerate(tiles)]
    try:
        window_index([r.lr for r in reduced], config)
    except S5SRArgumentError as error:
        shapes = sorted({t.data.shape[:2] for t in tiles})
        raise S5SRArgumentError(
            f"The reduced-resolution validation needs granules of at least {SCALE * config.window}"
            f" x {SCALE * config.window} LR pixels ({SCALE} x (lr_patch {config.lr_patch} + 2 x "
            f"context {config.context})); got {shapes}. Use larger granules (no "
            "--tile-scanlines), a smaller lr_patch, or select_best=False (no validation)."
        ) from error
    return reduced


def reduced_errors(
    model: S5DSCR, reduced: Sequence[ReducedTile], config: FinetuneConfig, max_windows: int = 48
) -> np.ndarray:
    """Per-window error of ``model`` at reduced resolution: ``mean ‖w·(f(A y + n') − y)‖²``.

    ``f`` is the composition inference computes (:func:`network`, with the reduced granule's
    automatic μ); ``w = 1000 / s`` with ``s`` the local radiance level of ``y`` (per mille, as
    the losses). Windows have non-overlapping centres (stride ``lr_patch``), up to
    ``max_windows`` spread evenly over the granules; the same for every model.

    Returns
    -------
    numpy.ndarray
        (windows,) float64, (per mille of the local radiance)²; lower is better. The target
        ``y`` is noisy, so every error includes its noise: differences between models are
        unbiased up to the correlation of ``f`` with that noise.
    """
    import torch

    from xr_s5sr.models import local_scale

    device = str(next(model.parameters()).device)
    index = window_index([r.lr for r in reduced], config, stride=config.lr_patch)
    picks = index[np.unique(np.linspace(0, len(index) - 1, max_windows).round().astype(int))]
    lo, hi = SCALE * config.context, SCALE * (config.context + config.lr_patch)
    was_training = model.training
    model.eval()
    errors = []
    with torch.no_grad():
        for k in np.unique(picks[:, 0]):
            rows = picks[picks[:, 0] == k]
            tile = reduced[k]
            local = np.column_stack([np.zeros(len(rows), np.int64), rows[:, 1:]])
            y, _, _ = window_batch([tile.lr], local, config, device)
            f = network(model, tile.lr.regularisation, prior=tile.lr.input_map(rows[:, 1]))
            estimate = f(y)[..., lo:hi, lo:hi]
            for b, (_, r, c) in enumerate(rows):
                r0, c0 = SCALE * r, SCALE * c
                area = np.s_[r0 : r0 + SCALE * config.window, c0 : c0 + SCALE * config.window]
                truth = torch.from_numpy(tile.target[area]).permute(2, 0, 1)[None].to(device)
                keep = torch.from_numpy(tile.usable[area]).permute(2, 0, 1)[None].to(device)
                # Weight by the truth's local level (per mille), cropped after the 5 x 5 mean.
                weight = (LOSS_UNITS / local_scale(truth))[..., lo:hi, lo:hi]
                miss = weight * (estimate[b : b + 1] - truth[..., lo:hi, lo:hi])
                inside = keep[..., lo:hi, lo:hi].expand_as(miss)
                errors.append(
                    float(miss[inside].square().mean()) if bool(inside.any()) else math.nan
                )
    model.train(was_training)
    values = np.asarray(errors, dtype=np.float64)
    return values[np.isfinite(values)]


def compare_errors(
    before: np.ndarray, after: np.ndarray, seed: int = 0, resamples: int = 2000
) -> dict[str, float]:
    """Gain of ``after`` over ``before`` (paired per-window errors), in dB, with a bootstrap
    95 % interval over the windows.

    Returns
    -------
    dict
        ``gain_db`` = ``10 log10(mean(before) / mean(after))`` (positive: ``after`` is better),
        ``low_db`` and ``high_db`` (2.5 and 97.5 % percentiles over ``resamples`` resamplings of
        the windows, paired) and ``windows``.
    """
    if before.shape != after.shape or before.size == 0:
        raise S5SRArgumentError(
            f"Paired errors of the same windows are needed, got {before.shape} and {after.shape}."
        )
    rng = np.random.default_rng([seed, 11])
    picks = rng.integers(0, before.size, (resamples, before.size))
    ratios = before[picks].mean(axis=1) / after[picks].mean(axis=1)
    low, high = np.percentile(10 * np.log10(ratios), [2.5, 97.5])
    return {
        "gain_db": float(10 * np.log10(before.mean() / after.mean())),
        "low_db": float(low),
        "high_db": float(high),
        "windows": float(before.size),
    }


__all__ = [
    "LOSSES",
    "LOSS_UNITS",
    "FinetuneConfig",
    "LRTile",
    "ReducedTile",
    "Window",
    "batch_losses",
    "compare_errors",
    "network",
    "noise_gain",
    "prepare_tile",
    "reduce_tile",
    "reduce_tiles",
    "reduced_errors",
    "validation_sure",
    "window_batch",
    "window_index",
]
