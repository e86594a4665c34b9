"""Self-supervised fine-tuning: the three losses, masking, determinism/resume, the CLI."""

from __future__ import annotations

import json
import shutil
import warnings
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from xr_s5sr import cli
from xr_s5sr.errors import MissingInputError, S5SRArgumentError, WeightsError
from xr_s5sr.families import family_scene
from xr_s5sr.losses import Transform, consistency_loss, equivariance_loss, sure_loss
from xr_s5sr.models import S5DSCR, local_scale
from xr_s5sr.physics import degrade, project, projection_reach, upsample
from xr_s5sr.selfsup import (
    FinetuneConfig,
    batch_losses,
    checkpoint_path,
    expand_paths,
    export_finetuned,
    finetune,
    l1b_tiles,
    network,
    prepare_tile,
    window_batch,
    window_index,
)
from xr_s5sr.synthetic import make_granule
from xr_s5sr.weights import file_sha256, load_weights_file, save_weights

BAND = 3
CHANNELS = 8


def a(x: torch.Tensor) -> torch.Tensor:
    return degrade(x, BAND, axes=(2, 3))


def tiny_model(seed: int = 0, scale: float = 0.05) -> S5DSCR:
    """S5-DSCR-S-like net on 8 channels with a random (non-zero) residual."""
    torch.manual_seed(seed)
    model = S5DSCR(CHANNELS, 1, 3, 1, residual="signed", scaling="local", band=BAND)
    model.set_output_scale(scale)
    return model.eval()


@pytest.fixture(autouse=True)
def one_torch_thread() -> Iterator[None]:
    """Tiny tensors gain nothing from threads, and spinning threads stall on a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def start_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("start") / "s5dscr_s_band3.safetensors"
    save_weights(tiny_model(), path, band=BAND, model_name="s5dscr_s")
    return path


@pytest.fixture(scope="module")
def tile() -> np.ndarray:
    return make_granule(BAND, 32, 24, n_channel=CHANNELS)["radiance"].values


def scene_lr(shape: tuple[int, int], seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """(HR x, LR A x) float64 (1, C, ·, ·) of a held-out-family scene."""
    hr = family_scene("edges", BAND, shape, seed, n_channel=CHANNELS, brightness=1.0)
    x = torch.from_numpy(hr.astype(np.float64)).permute(2, 0, 1)[None]
    return x, a(x)


def tiny_config(start: Path, **overrides: object) -> FinetuneConfig:
    settings: dict[str, object] = dict(
        band=BAND,
        steps=4,
        batch_size=2,
        lr_patch=4,
        context=6,
        learning_rate=1e-3,
        consistency_weight=0.5,
        checkpoint_every=1,
        start_weights=str(start),
    )
    settings.update(overrides)
    return FinetuneConfig(**settings)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------ consistency
def test_consistency_loss_is_zero_for_an_exact_preimage() -> None:
    x, y = scene_lr((96, 64))
    assert float(consistency_loss(a(x), y)) == 0.0
    # The HR image closest to the cubic interpolation that degrades to y: exact in the interior.
    noisy = y * (1 + 1e-2 * torch.randn(y.shape, generator=torch.Generator().manual_seed(0)))
    preimage = project(upsample(noisy, axes=(2, 3)), noisy, BAND, axes=(2, 3))
    reach = projection_reach(BAND)
    interior = torch.zeros_like(noisy, dtype=torch.bool)
    interior[..., reach:-reach, :] = True
    relative = consistency_loss(a(preimage), noisy, interior) / noisy.pow(2).mean()
    assert float(relative) <= 1e-10
    # The cubic interpolation alone is far from consistent.
    assert (
        float(consistency_loss(a(upsample(noisy, axes=(2, 3))), noisy) / noisy.pow(2).mean()) > 1e-5
    )


def test_consistency_loss_ignores_masked_values() -> None:
    y = torch.rand(1, 3, 6, 5, dtype=torch.float64)
    estimate = y + 0.1 * torch.rand(y.shape, dtype=torch.float64)
    mask = torch.rand(1, 1, 6, 5) > 0.3
    broken = torch.where(mask, y, torch.full_like(y, float("nan")))
    expected = ((estimate - y)[mask.expand_as(y)] ** 2).mean()
    torch.testing.assert_close(consistency_loss(estimate, broken, mask), expected)
    weight = 1.0 / local_scale(y)
    torch.testing.assert_close(
        consistency_loss(estimate, broken, mask, weight),
        consistency_loss(estimate, y, mask, weight),
    )


# ------------------------------------------------------------------------------------- SURE
def test_sure_is_unbiased_for_the_projected_error() -> None:
    """Mean SURE over noise draws = mean true ‖w(A f(y) − A x)‖², within sampling error."""
    model = tiny_model().double()
    f = network(model, consistency=False)  # with the exact projection A f(y) = y: no test
    _x, clean = scene_lr((80, 64), seed=3)
    sigma = 0.01 * float(clean.mean())  # noise large enough for SURE's correction to matter
    weight = 1.0 / local_scale(clean)  # fixed weight (it must not depend on the noise)
    mask = torch.zeros_like(clean, dtype=torch.bool)
    mask[..., 4:-4, 3:-3] = True
    generator = torch.Generator().manual_seed(1)
    sure, true, plain = [], [], []
    with torch.no_grad():
        for _draw in range(24):
            noise = torch.randn(clean.shape, generator=generator, dtype=torch.float64)
            y = clean + sigma * noise
            h_y = a(f(y))
            sure.append(
                float(sure_loss(lambda v: a(f(v)), y, sigma, mask, weight, generator=generator))
            )
            true.append(float(consistency_loss(h_y, clean, mask, weight)))
            plain.append(float(consistency_loss(h_y, y, mask, weight)))
    error = np.asarray(sure) - np.asarray(true)
    bias = np.asarray(plain) - np.asarray(true)
    standard_error = error.std(ddof=1) / np.sqrt(error.size)
    assert abs(error.mean()) <= 3 * standard_error
    assert abs(error.mean()) <= 0.02 * np.mean(true)
    # Without the divergence correction the plain misfit is far off (a denoiser's blind spot).
    assert abs(bias.mean()) > 10 * bias.std(ddof=1) / np.sqrt(bias.size)
    assert abs(error.mean()) < 0.1 * abs(bias.mean())


def test_sure_without_noise_is_the_consistency_loss() -> None:
    model = tiny_model().double()
    f = network(model, consistency=False)
    _, y = scene_lr((32, 32), seed=5)
    with torch.no_grad():
        torch.testing.assert_close(
            sure_loss(lambda v: a(f(v)), y, 0.0), consistency_loss(a(f(y)), y), rtol=1e-12, atol=0
        )


def test_sure_ignores_masked_values_for_a_local_map() -> None:
    y = torch.rand(2, 3, 5, 4, dtype=torch.float64) + 0.5
    mask = torch.rand(2, 1, 5, 4) > 0.4
    broken = torch.where(mask, y, torch.full_like(y, 7.0))

    def h(v: torch.Tensor) -> torch.Tensor:
        return 0.5 * v + 0.1 * v**2

    def run(values: torch.Tensor) -> torch.Tensor:
        return sure_loss(h, values, 0.1, mask, generator=torch.Generator().manual_seed(0))

    torch.testing.assert_close(run(broken), run(y), rtol=1e-12, atol=0)


# ------------------------------------------------------------------------------ equivariance
def test_equivariance_loss_is_zero_when_the_inverse_commutes() -> None:
    """f = A⁺ (the consistency projection of 0) commutes with shifts by whole LR pixels only."""
    _, y = scene_lr((256, 96), seed=2)

    def pinv(v: torch.Tensor) -> torch.Tensor:
        zeros = v.new_zeros((*v.shape[:2], 4 * v.shape[2], 4 * v.shape[3]))
        return project(zeros, v, BAND, axes=(2, 3))

    x = pinv(y)
    interior = torch.zeros_like(x, dtype=torch.bool)
    margin = 4 * (projection_reach(BAND) + 8)
    interior[..., margin:-margin, 8:-8] = True
    level = float(x.pow(2).mean())

    def loss(transform: Transform) -> float:
        return float(equivariance_loss(pinv, a, x, transform, interior)) / level

    assert loss(Transform()) <= 1e-12  # identity
    assert loss(Transform(shift=(4, 0))) <= 1e-12  # one LR scanline
    assert loss(Transform(shift=(1, 0))) > 0.1  # a quarter of an LR pixel: not equivariant
    assert loss(Transform(shift=(0, -2), flip_scanline=True)) > 0.1


def test_robust_equivariance_adds_fresh_noise_to_the_measurement() -> None:
    """``‖T x − f(A T x + n')‖²``: n' drawn from the generator with the given sigma."""
    _, y = scene_lr((64, 48), seed=6)
    model = tiny_model().double()
    f = network(model, consistency=False)
    with torch.no_grad():
        x = f(y)
        transform = Transform(shift=(1, 2), flip_pixel=True)
        sigma = 0.02 * float(y.mean())
        got = equivariance_loss(
            f, a, x, transform, noise_sigma=sigma, generator=torch.Generator().manual_seed(4)
        )
        noise = torch.randn(y.shape, generator=torch.Generator().manual_seed(4), dtype=y.dtype)
        target = transform(x)
        expected = ((target - f(a(target) + sigma * noise)) ** 2).mean()
        torch.testing.assert_close(got, expected, rtol=1e-12, atol=0)
        # The noise term is what separates a network that passes noise on from one that
        # removes it: with it, the loss of f grows by the noise f lets through.
        clean = equivariance_loss(f, a, x, transform)
        passed = ((f(a(target) + sigma * noise) - f(a(target))) ** 2).mean()
        assert float(got - clean) == pytest.approx(float(passed), rel=0.2)


def test_transforms() -> None:
    x = torch.arange(2 * 8 * 12, dtype=torch.float64).reshape(1, 2, 8, 12)
    shifted = Transform(shift=(1, -2))(x)
    torch.testing.assert_close(shifted[..., 1:, :-2], x[..., :-1, 2:])
    flipped = Transform(flip_scanline=True, flip_pixel=True)(x)
    torch.testing.assert_close(flipped, x.flip(-1).flip(-2))
    assert Transform().is_identity
    draws = [Transform.random(np.random.default_rng(7), 3, True) for _ in range(2)]
    assert draws[0] == draws[1]
    assert not draws[0].is_identity
    rng = np.random.default_rng(0)
    for _ in range(20):
        t = Transform.random(rng, 2, False)
        assert max(abs(s) for s in t.shift) <= 2
        assert not (t.flip_scanline)
        assert not (t.flip_pixel)


def test_network_is_the_model() -> None:
    model = tiny_model()
    y = torch.from_numpy(make_granule(BAND, 12, 10, n_channel=CHANNELS)["radiance"].values).permute(
        2, 0, 1
    )[None]
    with torch.no_grad():
        torch.testing.assert_close(
            network(model, consistency=False)(y), model(y), rtol=1e-5, atol=0
        )


@pytest.mark.parametrize("mu", [0.0, 3.0])
def test_network_is_what_inference_computes(mu: float) -> None:
    """The losses train exactly the default output of super_resolve (gate off, the same μ)."""
    from xr_s5sr.engine import super_resolve_array
    from xr_s5sr.spec import model_spec

    model = replace_gate(tiny_model(scale=0.2))
    lr = family_scene("edges", BAND, (96, 64), 4, n_channel=CHANNELS, brightness=1.0)
    expected = super_resolve_array(lr, model_spec(weights=model, device="cpu", regularisation=mu))
    y = torch.from_numpy(lr).permute(2, 0, 1)[None]
    with torch.no_grad():
        got = network(model, mu)(y)[0].permute(1, 2, 0).numpy()
    level = float(np.abs(expected).max())
    assert np.abs(got - expected).max() <= 2e-5 * level
    # The projection matters: without it the output differs by far more.
    with torch.no_grad():
        unprojected = network(model, mu, consistency=False)(y)[0].permute(1, 2, 0).numpy()
    assert np.abs(unprojected - expected).max() > 1e-3 * level


def replace_gate(model: S5DSCR) -> S5DSCR:
    """The model with its detail gate off, as fine-tuning leaves it."""
    model.config = replace(model.config, detail_gate=False)
    return model


# ------------------------------------------------------------------------------ missing data
def test_missing_values_never_enter_a_loss(tile: np.ndarray, start_weights: Path) -> None:
    config = tiny_config(start_weights, consistency_weight=1.0)
    broken = tile.copy()
    broken[15, 11, :] = np.nan  # a whole pixel
    broken[9, 14, 3] = np.inf  # one channel of one pixel
    prepared = prepare_tile(broken, config.context, BAND)
    assert not prepared.usable[15 - 6 : 15 + 7, 11 - 6 : 11 + 7].any()
    assert not prepared.usable[9 - 6 : 9 + 7, 14 - 6 : 14 + 7].any()
    assert prepared.usable.sum() > 0
    assert np.isfinite(prepared.data).all()
    clean = prepare_tile(tile, config.context, BAND)
    clean.usable = prepared.usable  # the same loss region, the true values at the holes
    clean.regularisation, clean.noise_sigma = prepared.regularisation, prepared.noise_sigma
    index = window_index([prepared], config)
    model = tiny_model()
    results = []
    for prepared_tile in (prepared, clean):
        y, mask, picked = window_batch([prepared_tile], index, config, "cpu")
        losses = batch_losses(
            model,
            y,
            mask,
            config,
            np.random.default_rng(0),
            torch.Generator().manual_seed(0),
            picked,
        )
        results.append({k: float(v.detach()) for k, v in losses.items()})
    assert set(results[0]) == {"consistency", "sure", "equivariance"}
    for name, value in results[0].items():
        assert np.isfinite(value)
        # Whatever the hidden values are, the losses agree (up to the physics inverse's tail).
        # SURE's finite-difference divergence divides float32 rounding by its small step.
        assert value == pytest.approx(results[1][name], rel=5e-5 if name == "sure" else 1e-5)


def test_dead_channel_and_unusable_tile(tile: np.ndarray, start_weights: Path) -> None:
    config = tiny_config(start_weights)
    broken = tile.copy()
    broken[..., 2] = np.nan
    prepared = prepare_tile(broken, config.context, BAND)
    assert prepared.usable.all()
    assert not prepared.channels[2]
    assert prepared.channels.sum() == 7
    assert (prepared.data[..., 2] == 0).all()
    hole = tile.copy()
    hole[::4, ::4] = np.nan
    with pytest.raises(S5SRArgumentError, match="No 16x16 LR window"):
        window_index([prepare_tile(hole, config.context, BAND)], config)


# ------------------------------------------------------------------------------ fine-tuning
def test_finetune_is_deterministic_and_resumes(
    tile: np.ndarray, start_weights: Path, tmp_path: Path
) -> None:
    config = tiny_config(start_weights)
    first = finetune(config, [tile], tmp_path / "a", progress=False, device="cpu")
    second = finetune(config, [tile], tmp_path / "b", progress=False, device="cpu")
    start = load_weights_file(start_weights)
    for name, value in first.state_dict().items():
        assert torch.equal(value, second.state_dict()[name]), name
    assert not torch.equal(first.blocks[0].pointwise.weight, start.blocks[0].pointwise.weight)
    assert not first.training
    assert not first.config.detail_gate  # fitted to these granules' noise: no gate
    # Interrupted after 2 steps, then resumed: the same weights as the uninterrupted run.
    finetune(config, [tile], tmp_path / "c", progress=False, device="cpu", stop_after=2)
    saved = torch.load(checkpoint_path(tmp_path / "c"), weights_only=True)
    assert saved["step"] == 2
    resumed = finetune(config, [tile], tmp_path / "c", progress=False, device="cpu")
    for name, value in first.state_dict().items():
        assert torch.equal(value, resumed.state_dict()[name]), name
    # Other settings: the checkpoint is not reused.
    shutil.copytree(tmp_path / "c", tmp_path / "d")
    with pytest.warns(UserWarning, match="other settings"):
        finetune(replace(config, seed=1), [tile], tmp_path / "d", progress=False, device="cpu")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_finetune_on_cuda(tile: np.ndarray, start_weights: Path, tmp_path: Path) -> None:
    model = finetune(tiny_config(start_weights), [tile], tmp_path, progress=False, device="cuda")
    assert next(model.parameters()).device.type == "cpu"
    assert not model.training


def test_finetune_argument_errors(tile: np.ndarray, start_weights: Path, tmp_path: Path) -> None:
    config = tiny_config(start_weights)
    with pytest.raises(S5SRArgumentError, match="steps must be a positive integer"):
        finetune(replace(config, steps=0), [tile], tmp_path, progress=False)
    with pytest.raises(S5SRArgumentError, match="Loss weights"):
        replace(config, sure_weight=0, equivariance_weight=0, consistency_weight=0).validate()
    with pytest.raises(S5SRArgumentError, match="model must be 's5dscr' or 's5dscr_s'"):
        replace(config, model="large").validate()
    with pytest.raises(S5SRArgumentError, match="needs transforms"):
        replace(config, max_shift=0, flips=False).validate()
    with pytest.raises(S5SRArgumentError, match="spectral channels"):
        finetune(config, [tile[..., :5]], tmp_path, progress=False, device="cpu")
    zscore = tmp_path / "zscore.safetensors"
    save_weights(S5DSCR(CHANNELS, 1, 3, 1), zscore, band=BAND, model_name="s5dscr_s")
    with pytest.raises(WeightsError, match="scaling='local'"):
        finetune(replace(config, start_weights=str(zscore)), [tile], tmp_path, progress=False)
    with pytest.raises(MissingInputError, match="No L1B file matches"):
        expand_paths([str(tmp_path / "nothing*.nc")])


def test_export_card(tile: np.ndarray, start_weights: Path, tmp_path: Path) -> None:
    config = tiny_config(start_weights, steps=2)
    model = finetune(config, [tile], tmp_path, progress=False, device="cpu")
    card_path = export_finetuned(model, config, tmp_path, l1b_files=["/data/x.nc"])
    card = json.loads(card_path.read_text())
    assert card["self_supervised"] is True
    assert card["losses"] == {
        "consistency": {"weight": 0.5},
        "sure": {"weight": 1.0},
        "equivariance": {"weight": 1.0},
    }
    assert card["l1b_files"] == ["x.nc"]
    assert card["steps"] == 2
    assert card["start_weights"]["sha256"] == file_sha256(start_weights)
    assert [entry["step"] for entry in card["finetuning"]["history"]] == [1.0, 2.0]
    weights = card_path.with_suffix(".safetensors")
    assert card["sha256"] == file_sha256(weights)
    loaded = load_weights_file(weights, band=BAND)
    for name, value in model.state_dict().items():
        assert torch.equal(value, loaded.state_dict()[name])


def test_cli_finetune_writes_loadable_weights(start_weights: Path, tmp_path: Path) -> None:
    from xr_s5sr.l1b import open_l1b, write_l1b

    granule = make_granule(BAND, 32, 24, n_channel=CHANNELS)
    granule["radiance"][3, 4, :] = np.nan
    l1b = write_l1b(granule, tmp_path / "S5P_TEST_L1B_RA_BD3_granule.nc")
    out = tmp_path / "run"
    args = ["-q", "finetune", "--band", "3", "--model", "s5dscr_s"]
    args += ["--l1b", str(tmp_path / "S5P_*.nc"), "--out", str(out), "--steps", "2"]
    args += ["--weights", str(start_weights), "--seed", "3", "--batch-size", "1"]
    args += ["--learning-rate", "1e-3", "--lr-patch", "4", "--context", "6", "--device", "cpu"]
    args += ["--check", str(l1b)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # 2 steps may not beat the start
        assert cli.main(args) == 0
    weights = out / "s5dscr_s_band3.safetensors"
    card = json.loads(weights.with_suffix(".json").read_text())
    assert card["self_supervised"] is True
    assert set(card["sure_checks"]) == {"finetuning_granules", "check_granules"}
    for check in card["sure_checks"].values():
        assert check["change_percent"] == pytest.approx(
            100 * (check["finetuned"] / check["start"] - 1)
        )
    assert not load_weights_file(weights).config.detail_gate
    assert card["l1b_files"] == [l1b.name]
    assert card["finetuning"]["recipe"]["seed"] == 3
    assert card["start_weights"]["sha256"] == file_sha256(start_weights)
    tiles = l1b_tiles([l1b], BAND, tile_scanlines=12)
    assert [t.shape for t in tiles] == [(12, 24, CHANNELS), (12, 24, CHANNELS), (8, 24, CHANNELS)]
    assert np.isnan(tiles[0][3, 4]).all()
    sr = open_l1b(l1b, chunks=None).s5sr.super_resolve(weights=weights, device="cpu")
    assert sr["radiance"].shape == (128, 96, CHANNELS)
    assert np.isfinite(sr["radiance"].values[:8]).all()
    assert (
        cli.main(["finetune", "--band", "3", "--l1b", str(tmp_path / "no*.nc"), "--out", "x"]) == 2
    )


def test_cli_help_lists_every_option(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["finetune", "--help"]) == 0
    text = capsys.readouterr().out
    for flag in (
        "--band", "--model", "--l1b", "--out", "--steps", "--weights", "--seed",
        "--batch-size", "--learning-rate", "--lr-patch", "--context", "--noise-sigma",
        "--sure-weight", "--equivariance-weight", "--consistency-weight", "--max-shift",
        "--tile-scanlines", "--device", "--no-resume", "--check", "--no-select-best",
    ):  # fmt: skip
        assert flag in text
    assert cli.main(["--help"]) == 0
    assert "finetune" in capsys.readouterr().out


# ------------------------------------------------------------------------------ the gain
def dim_granule(family: str, seed: int, band: int = 7, channels: int = 16) -> tuple:
    """(HR, noisy LR) of a dim scene (3 % of the band's mean radiance, where noise matters)."""
    from xr_s5sr.bands import get_band
    from xr_s5sr.degrade import degrade_array

    hr = family_scene(family, band, (192, 192), seed, n_channel=channels, brightness=0.03)
    lr = degrade_array(hr, band)
    noise = np.random.default_rng([seed, 1]).standard_normal(lr.shape)
    return hr, (lr + float(get_band(band).noise_sigma or 0.0) * noise).astype(np.float32)


def test_finetuning_gains_on_its_granules_and_the_check_sees_other_data(tmp_path: Path) -> None:
    """Fine-tuned on two dim LR granules, the network beats its start on their unseen HR; the
    HR-free SURE check agrees, and flags granules of another family where it would lose."""
    from xr_s5sr.engine import super_resolve_array
    from xr_s5sr.metrics import compute_metrics
    from xr_s5sr.models import zero_residual
    from xr_s5sr.selfsup import check_finetuned
    from xr_s5sr.spec import model_spec

    band, channels = 7, 16
    own = [dim_granule("edges", seed) for seed in range(2)]
    other = [dim_granule("smooth", 50 + seed) for seed in range(2)]
    start = S5DSCR(channels, 1, 3, 1, residual="signed", scaling="local", band=band)
    y = torch.from_numpy(own[0][1]).permute(2, 0, 1)[None]
    z = y / local_scale(y)
    start.set_normalisation(z.mean(dim=(0, 2, 3)), z.std(dim=(0, 2, 3)))
    start.set_output_scale(1.0)
    zero_residual(start)  # the start is the physics inverse
    path = tmp_path / "s5dscr_s_band7.safetensors"
    save_weights(start, path, band=band, model_name="s5dscr_s")
    config = FinetuneConfig(band=band, steps=60, start_weights=str(path), checkpoint_every=60)
    model = finetune(config, [lr for _, lr in own], tmp_path / "run", progress=False)

    def psnr(method: S5DSCR | str, granules: list) -> float:
        spec = (
            model_spec(method, band=band, device="cpu")
            if isinstance(method, str)
            else model_spec(weights=method, band=band, device="cpu")
        )
        scores = [
            compute_metrics(hr, super_resolve_array(lr, spec), border=8) for hr, lr in granules
        ]
        return float(np.mean([s["psnr"][0] for s in scores]))

    gain = psnr(model, own) - psnr(start, own)
    assert gain >= 0.12  # measured +0.18 dB (16 channels; the docs measure the full band)
    assert psnr(model, own) > psnr("bicubic", own) + 0.5
    check = check_finetuned(model, config, [lr for _, lr in own])
    assert check["change_percent"] < -10  # measured -15 %
    # Granules of another family (other spectra): the network loses, and the check says so.
    assert psnr(model, other) < psnr(start, other)
    assert check_finetuned(model, config, [lr for _, lr in other])["change_percent"] > 20


def test_a_run_that_only_hurts_returns_the_start_weights(
    tile: np.ndarray, start_weights: Path, tmp_path: Path
) -> None:
    noisy = tile + 1e-3 * float(tile.mean()) * np.random.default_rng(0).standard_normal(tile.shape)
    config = tiny_config(start_weights, learning_rate=3.0, steps=3, consistency_weight=0.0)
    with pytest.warns(UserWarning, match="returning the start weights"):
        model = finetune(config, [noisy.astype(np.float32)], tmp_path / "a", progress=False)
    start = load_weights_file(start_weights)
    for name, value in start.state_dict().items():
        assert torch.equal(value, model.state_dict()[name]), name
    history = torch.load(checkpoint_path(tmp_path / "a"), weights_only=True)["history"]
    scores = [entry["validation_sure"] for entry in history]
    assert len(scores) == 3
    assert min(scores) > 0
    last = finetune(
        replace(config, select_best=False),
        [noisy.astype(np.float32)],
        tmp_path / "b",
        progress=False,
    )
    assert not torch.equal(last.blocks[0].pointwise.weight, start.blocks[0].pointwise.weight)
