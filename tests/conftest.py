"""Shared test helpers: dask compute guard, synthetic granule fixtures, reference data paths."""

from __future__ import annotations

import itertools
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

import dask
import netCDF4
import numpy as np
import pytest
import torch
import xarray as xr
from hypothesis import strategies as st
from torch import nn

if TYPE_CHECKING:
    from xr_s5sr.objective import FinetuneConfig

from xr_s5sr.l1b import FILL_VALUE, RADIANCE_UNITS
from xr_s5sr.models import S5DSCR
from xr_s5sr.synthetic import make_granule

#: Real S5P crops of the S5P_SISR_Toolbox (never committed; read when present).
REFERENCE_DIR = Path(__file__).resolve().parents[2] / "shared" / "reference" / "s5p_sisr_toolbox"


class CountingScheduler:
    """dask scheduler that counts computes and raises once more than ``max_computes`` happen."""

    def __init__(self, max_computes: int = 0):
        self.total_computes = 0
        self.max_computes = max_computes

    def __call__(self, dsk, keys, **kwargs):
        self.total_computes += 1
        if self.total_computes > self.max_computes:
            raise RuntimeError(f"Too many dask computations were scheduled: {self.total_computes}")
        return dask.get(dsk, keys, **kwargs)


@contextmanager
def raise_if_dask_computes(max_computes: int = 0) -> Iterator[CountingScheduler]:
    """Context in which any dask compute beyond ``max_computes`` raises ``RuntimeError``."""
    scheduler = CountingScheduler(max_computes)
    with dask.config.set(scheduler=scheduler):
        yield scheduler


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)


# ---------------------------------------------------------------------------------- accessor inputs
#: The small synthetic granule behind :func:`s5sr_object`: band 7, 32 scanlines × 12 ground
#: pixels × 6 channels (32 ≥ 28, the fewest LR scanlines a band-7 consistency projection
#: needs), chunked by 8 scanlines when dask-backed.
SMALL_BAND = 7
SMALL_CHANNELS = 6
SMALL_CHUNKS = {"scanline": 8}


@cache
def small_granule() -> xr.Dataset:
    """numpy-backed band-7 granule (32 × 12 × 6); its radiance carries ``s5p_band`` too.

    Cached: treat it as read-only (the accessor never mutates its input).
    """
    ds = make_granule(SMALL_BAND, 32, 12, seed=0, n_channel=SMALL_CHANNELS)
    ds["radiance"].attrs["s5p_band"] = SMALL_BAND
    return ds


@dataclass(frozen=True)
class S5SRObject:
    """One accessor input: ``obj`` (what the test calls ``.s5sr`` on) and its numpy twin."""

    obj: xr.Dataset | xr.DataArray
    eager: xr.Dataset | xr.DataArray
    kind: str  # "dataset" or "dataarray"
    lazy: bool  # dask-backed

    def radiance(self, result: xr.Dataset | xr.DataArray) -> xr.DataArray:
        """The radiance of a result of the same kind as ``obj``."""
        return result if isinstance(result, xr.DataArray) else result["radiance"]


#: (kind, lazy) combinations of :func:`s5sr_object`, with their test ids.
OBJECT_KINDS = [
    pytest.param(kind, lazy, id=f"{kind}-{'dask' if lazy else 'numpy'}")
    for kind in ("dataset", "dataarray")
    for lazy in (False, True)
]


def make_s5sr_object(kind: str, lazy: bool, ds: xr.Dataset | None = None) -> S5SRObject:
    """``ds`` (default :func:`small_granule`) as a Dataset or its radiance, numpy or dask."""
    ds = small_granule() if ds is None else ds
    eager: xr.Dataset | xr.DataArray = ds if kind == "dataset" else ds["radiance"]
    obj = eager.chunk(SMALL_CHUNKS) if lazy else eager
    return S5SRObject(obj, eager, kind, lazy)


@pytest.fixture(params=[p.values for p in OBJECT_KINDS], ids=[p.id for p in OBJECT_KINDS])
def s5sr_object(request: pytest.FixtureRequest) -> S5SRObject:
    """Each of Dataset/DataArray × numpy/dask of the small granule."""
    kind, lazy = request.param
    return make_s5sr_object(kind, lazy)


def tiny_local_network(seed: int = 0) -> S5DSCR:
    """Tiny scale-equivariant S5-DSCR for the small granule (6 channels, band 7, L=1, k=3, m=1).

    Small random weights, ``output_std`` 0.1 (detail about a tenth of the radiance), eval mode.
    """
    torch.manual_seed(seed)
    net = S5DSCR(SMALL_CHANNELS, 1, 3, 1, residual="signed", scaling="local", band=SMALL_BAND)
    with torch.no_grad():
        for parameter in net.parameters():
            parameter.mul_(0.5)
    net.set_output_scale(0.1)
    return net.eval()


def randomise_batchnorm(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Give every BatchNorm non-trivial running statistics and affine parameters."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.BatchNorm2d):
                size = module.num_features
                module.running_mean.copy_(0.3 * torch.randn(size, generator=generator))
                module.running_var.copy_(0.5 + 1.5 * torch.rand(size, generator=generator))
                module.weight.copy_(0.5 + torch.rand(size, generator=generator))
                module.bias.copy_(0.2 * torch.randn(size, generator=generator))
    return model


def random_network(
    radiance: np.ndarray, name: str = "s5dscr", residual: str = "paper", seed: int = 0
) -> S5DSCR:
    """Random preset network with non-trivial BatchNorm statistics, normalised to ``radiance``.

    ``radiance``: (scanline, ground_pixel, spectral_channel). Left in train mode on purpose:
    the engine must run an eval-mode, folded snapshot.
    """
    from xr_s5sr.models import build_model

    torch.manual_seed(seed)
    net = randomise_batchnorm(build_model(name, radiance.shape[-1], residual), seed)  # type: ignore[arg-type]
    net.set_normalisation(
        torch.from_numpy(radiance.mean(axis=(0, 1))), torch.from_numpy(radiance.std(axis=(0, 1)))
    )
    return net.train()


def make_net(
    granule: xr.Dataset, name: str = "s5dscr", residual: str = "paper", seed: int = 0
) -> S5DSCR:
    """:func:`random_network` normalised to the radiance of ``granule``."""
    return random_network(granule.radiance.values, name, residual, seed)


def flagged_granule(band: int = 7, chunks: int | None = None) -> xr.Dataset:
    """Small synthetic granule (:data:`FLAGGED_SIZES`) with NaN patches in radiance and
    radiance_noise, as real L1B files have; ``chunks``: dask scanline chunks."""
    ds = make_granule(band, FLAGGED_SIZES["scanline"], FLAGGED_SIZES["ground_pixel"], n_channel=4)
    ds["radiance"][2:4, 1:3, :] = np.nan
    ds["radiance"][7, 5, 2] = np.nan
    ds["radiance_noise"][0, 0, :] = np.nan
    return ds if chunks is None else ds.chunk({"scanline": chunks})


#: Sizes of :func:`flagged_granule`.
FLAGGED_SIZES = {"scanline": 12, "ground_pixel": 6, "spectral_channel": 4}


@st.composite
def chunking(draw: st.DrawFn, size: int) -> tuple[int, ...]:
    """Random chunk sizes summing to ``size`` (1 to 4 chunks)."""
    cuts = sorted(draw(st.sets(st.integers(1, max(1, size - 1)), max_size=3)))
    edges = [0, *(c for c in cuts if c < size), size]
    return tuple(b - a for a, b in itertools.pairwise(edges))


@st.composite
def nan_positions(draw: st.DrawFn, shape: tuple[int, int, int]) -> list[tuple[int, int, int]]:
    """Up to three (scanline, ground_pixel, channel) positions to set to NaN."""
    position = st.tuples(*(st.integers(0, n - 1) for n in shape))
    return draw(st.lists(position, max_size=3))


def max_error(a: np.ndarray, b: np.ndarray) -> float:
    """Max abs difference relative to the data scale (max |b|), NaN ignored."""
    return float(np.nanmax(np.abs(a - b)) / np.nanmax(np.abs(b)))


def reference_path(name: str) -> Path:
    """Path of a toolbox reference file, skipping the test when ``../shared`` is absent."""
    path = REFERENCE_DIR / name
    if not path.exists():
        pytest.skip(f"reference data {path} not available (needs ../shared/reference)")
    return path


def _add_variable(
    group: netCDF4.Group, name: str, dims: tuple[str, ...], values: np.ndarray, **attrs: str
) -> None:
    fill = np.float32(FILL_VALUE) if values.dtype.kind == "f" else None
    variable = group.createVariable(name, values.dtype, dims, fill_value=fill)
    variable.set_auto_maskandscale(False)  # write fill values raw, as found on disk
    variable[:] = values
    variable.setncatts(attrs)


def write_raw_l1b(
    path: Path,
    bands: Collection[int] = (3,),
    *,
    drop: Collection[str] = (),
    n_time: int = 1,
    radiance_dims: tuple[str, ...] = ("time", "scanline", "ground_pixel", "spectral_channel"),
) -> np.ndarray:
    """Write an L1B-layout file with the netCDF4 library directly, independently of write_l1b.

    Mirrors real products: dims (and coordinate variables) declared in STANDARD_MODE only,
    int time in seconds since 2010, delta_time in ms since the day, fill values written raw,
    extra variables that open_l1b must ignore. ``drop`` names groups or ``GROUP/variable``
    to leave out. Returns the radiance written (with the raw fill values).
    """
    sizes = {"time": n_time, "scanline": 5, "ground_pixel": 4, "spectral_channel": 3, "corner": 4}
    cube = ("time", "scanline", "ground_pixel", "spectral_channel")
    rng = np.random.default_rng(0)
    radiance = (rng.random([sizes[d] for d in cube]) * 1e-7).astype(np.float32)
    radiance[0, 1, 2, :] = np.float32(FILL_VALUE)
    geo_shape = [sizes[d] for d in cube[:3]]
    lat = np.linspace(10, 11, int(np.prod(geo_shape)), dtype=np.float32).reshape(geo_shape)
    wavelength = np.linspace(320, 405, sizes["spectral_channel"], dtype=np.float32)
    variables = {
        ("OBSERVATIONS", "radiance"): (
            radiance_dims,
            radiance.transpose([cube.index(d) for d in radiance_dims]),
            {"units": RADIANCE_UNITS},
        ),
        ("OBSERVATIONS", "radiance_error"): (cube, radiance * 0.01, {}),
        ("OBSERVATIONS", "quality_level"): (cube, np.full(radiance.shape, 100, np.uint8), {}),
        ("OBSERVATIONS", "delta_time"): (
            ("time", "scanline"),
            (np.arange(n_time * 5) * 1080).astype(np.int32).reshape(n_time, 5),
            {"units": "milliseconds since 2023-01-01 00:00:00"},
        ),
        ("GEODATA", "latitude"): (cube[:3], lat, {"units": "degrees_north"}),
        ("GEODATA", "longitude"): (cube[:3], lat + 100, {"units": "degrees_east"}),
        ("GEODATA", "latitude_bounds"): (
            (*cube[:3], "corner"),
            np.repeat(lat[..., None], 4, axis=-1),
            {},
        ),
        ("GEODATA", "solar_zenith_angle"): (cube[:3], np.full(geo_shape, 30, np.float32), {}),
        ("INSTRUMENT", "nominal_wavelength"): (
            ("time", "ground_pixel", "spectral_channel"),
            np.broadcast_to(wavelength, (n_time, sizes["ground_pixel"], len(wavelength))),
            {"units": "nm"},
        ),
    }
    with netCDF4.Dataset(path, "w") as nc:
        nc.setncattr("title", "TROPOMI/S5P L1B radiance")
        nc.setncattr("orbit", np.int32(27123))
        for band in bands:
            band_group = nc.createGroup(f"BAND{band}_RADIANCE")
            if "STANDARD_MODE" in drop:
                continue
            std = band_group.createGroup("STANDARD_MODE")
            for dim, size in sizes.items():
                std.createDimension(dim, size)
                std.createVariable(dim, "i4", (dim,))[:] = np.arange(size)
            std["time"].units = "seconds since 2010-01-01 00:00:00"
            std["time"][:] = 410_227_200 + np.arange(n_time)  # 2023-01-01
            for sub in ("OBSERVATIONS", "GEODATA", "INSTRUMENT"):
                if sub not in drop:
                    std.createGroup(sub)
            for (sub, name), (dims, values, attrs) in variables.items():
                if sub in std.groups and f"{sub}/{name}" not in drop:
                    _add_variable(std[sub], name, dims, values, **attrs)
    return radiance


# ---------------------------------------------------------------------------------- round trips


# ------------------------------------------------------------------ self-supervised fine-tuning
SSL_BAND = 3
SSL_CHANNELS = 8


def ssl_degrade(x: torch.Tensor) -> torch.Tensor:
    """``A`` of :data:`SSL_BAND` on (B, C, H, W) tensors."""
    from xr_s5sr.physics import degrade

    return degrade(x, SSL_BAND, axes=(2, 3))


def ssl_model(seed: int = 0, scale: float = 0.05) -> S5DSCR:
    """S5-DSCR-S-like net on 8 channels with a random (non-zero) residual."""
    torch.manual_seed(seed)
    model = S5DSCR(SSL_CHANNELS, 1, 3, 1, residual="signed", scaling="local", band=SSL_BAND)
    model.set_output_scale(scale)
    return model.eval()


def ssl_scene(shape: tuple[int, int], seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """(HR x, LR A x) float64 (1, C, ·, ·) of a held-out-family scene."""
    from xr_s5sr.families import family_scene

    hr = family_scene("edges", SSL_BAND, shape, seed, n_channel=SSL_CHANNELS, brightness=1.0)
    x = torch.from_numpy(hr.astype(np.float64)).permute(2, 0, 1)[None]
    return x, ssl_degrade(x)


def ssl_config(start: Path, **overrides: object) -> FinetuneConfig:
    """A fine-tuning config small enough for a test (4 steps of 2 tiny windows)."""
    from xr_s5sr.objective import FinetuneConfig

    settings: dict[str, object] = dict(
        band=SSL_BAND,
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


@pytest.fixture
def single_torch_thread() -> Iterator[None]:
    """Tiny tensors gain nothing from threads, and spinning threads stall on a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def ssl_start_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A weights file of :func:`ssl_model` (the start of the fine-tuning tests)."""
    from xr_s5sr.weights import save_weights

    path = tmp_path_factory.mktemp("start") / "s5dscr_s_band3.safetensors"
    save_weights(ssl_model(), path, band=SSL_BAND, model_name="s5dscr_s")
    return path


@pytest.fixture(scope="module")
def ssl_tile() -> np.ndarray:
    """A small LR granule (32 × 24 × 8) of :data:`SSL_BAND`."""
    return make_granule(SSL_BAND, 32, 24, n_channel=SSL_CHANNELS)["radiance"].values
