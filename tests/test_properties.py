"""The open_l1b fuzzer (hypothesis): malformed layouts, truncated and bit-flipped files,
non-netCDF files. open_l1b returns a valid Dataset or raises an S5SRError, never anything else,
also when the damage is only found while dask reads the data.

PENDING MOVE: these are tests of xr_s5sr.l1b and belong in tests/test_l1b.py, which the
io-split helper owns. The property tests of the degradation moved to test_degrade.py, those of
the engine to test_engine.py.
"""

from __future__ import annotations

import contextlib
import functools
import tempfile
from collections.abc import Callable
from pathlib import Path

import h5py
import netCDF4
import numpy as np
import pytest
import xarray as xr
from conftest import write_raw_l1b
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from xr_s5sr.errors import BandError, L1BFormatError, S5SRError
from xr_s5sr.l1b import open_l1b, write_l1b
from xr_s5sr.synthetic import make_granule

PROPERTY = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
#: h5netcdf's File.__del__ complains (unraisable) about files it failed to open: not our error.
QUIET_H5NETCDF = pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
ENGINES = ("netcdf4", "h5netcdf")
STANDARD = "BAND3_RADIANCE/STANDARD_MODE"


# ---------------------------------------------------------------------------------- open_l1b fuzz
def _shape(group: netCDF4.Group, dims: tuple[str, ...]) -> list[int]:
    sizes = {}
    node: netCDF4.Group | None = group
    while node is not None:  # dims are declared in STANDARD_MODE, looked up through parents
        sizes = {name: len(dim) for name, dim in node.dimensions.items()} | sizes
        node = node.parent
    return [sizes[d] for d in dims]


def _replace(group: netCDF4.Group, name: str, dtype: object, dims: tuple[str, ...]) -> None:
    """Swap variable ``name`` for a new one of another dtype or dims (the old one renamed)."""
    if name in group.variables:
        group.renameVariable(name, f"{name}_was_{len(group.variables)}")
    variable = group.createVariable(name, dtype, dims)
    shape = _shape(group, dims)
    if dtype is str:
        variable[:] = np.full(shape, "1e-7", dtype=object)
    else:
        variable[:] = np.ones(shape, dtype=np.dtype(dtype))  # type: ignore[call-overload]


CUBE = ("time", "scanline", "ground_pixel", "spectral_channel")
Mutation = Callable[[netCDF4.Group], object]

#: Damage done to a valid file (applied to its STANDARD_MODE group) → key phrase of the error.
MUTATIONS: dict[str, tuple[Mutation, str]] = {
    "string radiance": (lambda s: _replace(s["OBSERVATIONS"], "radiance", str, CUBE), "decodes to"),
    "character radiance": (
        lambda s: _replace(s["OBSERVATIONS"], "radiance", "S1", CUBE),
        "decodes to dtype",
    ),
    "integer radiance": (
        lambda s: _replace(s["OBSERVATIONS"], "radiance", "i2", CUBE),
        "decodes to dtype int16",
    ),
    "string latitude": (lambda s: _replace(s["GEODATA"], "latitude", str, CUBE[:3]), "decodes to"),
    "text scale_factor": (
        lambda s: s["OBSERVATIONS/radiance"].setncattr("scale_factor", "abc"),
        "decodes to dtype",
    ),
    "bad time units": (
        lambda s: s["time"].setncattr("units", "seconds since the launch"),
        "cannot be decoded as a Sentinel-5P L1B radiance file",
    ),
    "bad delta_time units": (
        lambda s: s["OBSERVATIONS/delta_time"].setncattr("units", "fortnights since 2023-01-01"),
        "cannot be decoded as a Sentinel-5P L1B radiance file",
    ),
    "conflicting dim sizes": (
        lambda s: (
            s["GEODATA"].createDimension("scanline", 7),
            _replace(s["GEODATA"], "latitude", "f4", CUBE[:3]),
        ),
        "cannot be decoded as a Sentinel-5P L1B radiance file",
    ),
    "radiance of rank 3": (
        lambda s: _replace(s["OBSERVATIONS"], "radiance", "f4", CUBE[:3]),
        "The file does not follow the L1B layout",
    ),
    "swapped wavelength dims": (
        lambda s: _replace(
            s["INSTRUMENT"],
            "nominal_wavelength",
            "f4",
            ("time", "spectral_channel", "ground_pixel"),
        ),
        "The file does not follow the L1B layout",
    ),
    "no radiance": (
        lambda s: s["OBSERVATIONS"].renameVariable("radiance", "radiance_x"),
        r"/radiance' is missing \(found:",
    ),
    "no GEODATA group": (
        lambda s: s.renameGroup("GEODATA", "GEO"),
        r"GEODATA' is missing \(groups found",
    ),
}


def _mutated(path: Path, names: list[str]) -> Path:
    write_raw_l1b(path)
    with netCDF4.Dataset(path, "a") as nc:
        for name in names:
            # A mutation whose target an earlier one removed (e.g. a renamed group) is void.
            with contextlib.suppress(IndexError, KeyError):
                MUTATIONS[name][0](nc[STANDARD])
    return path


def _open_fully(path: Path, engine: str, chunks: str | None) -> xr.Dataset:
    """open_l1b, then read every value (lazy reads happen here for dask chunks)."""
    ds = open_l1b(path, engine=engine, chunks=chunks)
    try:
        return ds.load()
    finally:
        ds.close()


def _assert_valid_or_s5sr_error(path: Path) -> None:
    for engine in ENGINES:
        for chunks in (None, "auto-scanline"):
            try:
                ds = _open_fully(path, engine, chunks)
            except S5SRError:
                continue
            assert ds.radiance.dims == ("scanline", "ground_pixel", "spectral_channel")
            assert ds.radiance.dtype.kind == "f"


@QUIET_H5NETCDF
@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("name", sorted(MUTATIONS))
def test_open_l1b_rejects_each_malformed_layout(tmp_path: Path, name: str, engine: str) -> None:
    path = _mutated(tmp_path / "bad.nc", [name])
    with pytest.raises(L1BFormatError, match=MUTATIONS[name][1]):
        open_l1b(path, engine=engine)


@QUIET_H5NETCDF
@PROPERTY
@given(names=st.lists(st.sampled_from(sorted(MUTATIONS)), min_size=1, max_size=3, unique=True))
def test_open_l1b_fuzzed_layouts(names: list[str]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        _assert_valid_or_s5sr_error(_mutated(Path(tmp) / "bad.nc", names))


@functools.cache
def _valid_bytes() -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "good.nc"
        write_raw_l1b(path)
        return path.read_bytes()


@QUIET_H5NETCDF
@PROPERTY
@given(
    cut=st.floats(0.0, 1.0, exclude_max=True),
    flips=st.integers(0, 16),
    truncate=st.booleans(),
)
def test_open_l1b_fuzzed_bytes(cut: float, flips: int, truncate: bool) -> None:
    data = bytearray(_valid_bytes())
    offset = int(cut * len(data))
    if truncate:
        data = data[:offset]
    for i in range(offset, min(offset + flips, len(data))):
        data[i] ^= 0xA5
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "damaged.nc"
        path.write_bytes(bytes(data))
        _assert_valid_or_s5sr_error(path)


def _hdf5_without_netcdf_dims(path: Path) -> None:
    with h5py.File(path, "w") as f:
        for sub, name, shape in (
            ("OBSERVATIONS", "radiance", (1, 5, 4, 3)),
            ("GEODATA", "latitude", (1, 5, 4)),
            ("GEODATA", "longitude", (1, 5, 4)),
            ("INSTRUMENT", "nominal_wavelength", (1, 4, 3)),
        ):
            f.require_group(f"{STANDARD}/{sub}")[name] = np.zeros(shape, np.float32)


def _netcdf3(path: Path) -> None:
    with netCDF4.Dataset(path, "w", format="NETCDF3_CLASSIC") as nc:
        nc.createDimension("scanline", 5)
        nc.createVariable("radiance", "f4", ("scanline",))[:] = np.ones(5)


def _empty_granule(path: Path) -> None:
    write_l1b(make_granule(3, 4, 3, n_channel=2).isel(scanline=slice(0, 0)), path)


SPECIAL_FILES: dict[str, tuple[Callable[[Path], object], type[S5SRError], str]] = {
    "empty file": (lambda p: p.write_bytes(b""), L1BFormatError, "not a readable netCDF4/HDF5"),
    "random bytes": (
        lambda p: p.write_bytes(np.random.default_rng(0).bytes(4096)),
        L1BFormatError,
        "not a readable netCDF4/HDF5",
    ),
    "half a file": (
        lambda p: p.write_bytes(_valid_bytes()[: len(_valid_bytes()) // 2]),
        L1BFormatError,
        "not a readable netCDF4/HDF5",
    ),
    "HDF5 without netCDF dims": (
        _hdf5_without_netcdf_dims,
        L1BFormatError,
        "does not follow the L1B layout|cannot be decoded as",
    ),
    "netCDF3 file": (_netcdf3, L1BFormatError, "no BAND<n>_RADIANCE group found|not a readable"),
    "several bands": (
        lambda p: write_raw_l1b(p, bands=(3, 7)),
        BandError,
        r"contains several bands \['BAND3_RADIANCE', 'BAND7_RADIANCE'\]",
    ),
    "empty granule": (_empty_granule, L1BFormatError, r"holds no observations: dims \['scanline"),
}


@QUIET_H5NETCDF
@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("name", sorted(SPECIAL_FILES))
def test_open_l1b_special_files(tmp_path: Path, name: str, engine: str) -> None:
    make, error, match = SPECIAL_FILES[name]
    path = tmp_path / "file.nc"
    make(path)
    with pytest.raises(error, match=match):
        open_l1b(path, engine=engine)


def test_damaged_data_chunk_is_an_l1b_error_also_when_read_lazily(tmp_path: Path) -> None:
    path = write_l1b(make_granule(3, 16, 6, seed=1, n_channel=4), tmp_path / "granule_BD3.nc")
    with h5py.File(path, "r") as f:  # zlib-compressed: a damaged chunk fails to inflate
        chunk = f[f"{STANDARD}/OBSERVATIONS/radiance"].id.get_chunk_info(0)
    data = bytearray(path.read_bytes())
    middle = chunk.byte_offset + chunk.size // 2
    data[middle : middle + 32] = bytes(b ^ 0xFF for b in data[middle : middle + 32])
    path.write_bytes(bytes(data))
    lazy = open_l1b(path)  # metadata only: fine
    with pytest.raises(L1BFormatError, match=r"while reading the data of 'radiance'"):
        lazy.radiance.load()
    lazy.close()
    with pytest.raises(L1BFormatError, match="cannot be decoded as a Sentinel-5P L1B"):
        open_l1b(path, chunks=None)
