"""Tests of xr_s5sr.bands: the band table against SPEC §1, immutability, band parsing."""

from __future__ import annotations

import dataclasses

import pytest

from xr_s5sr.bands import BANDS, SCALE, SUPPORTED_BANDS, BandInfo, get_band, parse_band
from xr_s5sr.errors import BandError

# SPEC §1, typed in independently: detector, range (nm), channels, ground pixels,
# across-track pixel size (km), GNyq_x, GNyq_y.
SPEC_TABLE = {
    1: ("UV", (270, 300), 497, 77, 28.0, 0.36, 0.37),
    2: ("UV", (300, 320), 497, 448, 3.5, 0.36, 0.37),
    3: ("UVIS", (320, 405), 497, 450, 3.5, 0.74, 0.44),
    4: ("UVIS", (405, 500), 497, 450, 3.5, 0.74, 0.44),
    5: ("NIR", (675, 725), 497, 448, 3.5, 0.74, 0.44),
    6: ("NIR", (725, 775), 497, 448, 3.5, 0.74, 0.44),
    7: ("SWIR", (2305, 2345), 480, 215, 7.0, 0.20, 0.15),
    8: ("SWIR", (2345, 2385), 480, 215, 7.0, 0.20, 0.15),
}
# SPEC §1 second table: mean radiance, SNR, sigma (mol m-2 nm-1 sr-1 s-1).
SPEC_NOISE = {
    2: (1.0445e-07, 865.0, 1.2075e-10),
    3: (2.2519e-07, 1630.2, 1.3814e-10),
    4: (5.0227e-07, 3550.3, 1.4147e-10),
    5: (5.3997e-07, 2277.2, 2.3712e-10),
    6: (5.4753e-07, 2683.6, 2.0403e-10),
    7: (4.9688e-08, 1094.0, 4.5419e-11),
    8: (3.4856e-08, 875.3, 3.9822e-11),
}


@pytest.mark.parametrize("band", range(1, 9))
def test_table_matches_spec(band: int) -> None:
    info = BANDS[band]
    detector, wavelengths, channels, pixels, across_km, gnyq_x, gnyq_y = SPEC_TABLE[band]
    assert info.number == band
    assert info.detector == detector
    assert info.wavelength_range == wavelengths
    assert info.spectral_channels == channels
    assert info.ground_pixels == pixels
    assert info.pixel_size_km == (across_km, 5.5)
    assert (info.gnyq_x, info.gnyq_y) == (gnyq_x, gnyq_y)
    assert info.group == f"BAND{band}_RADIANCE/STANDARD_MODE"


@pytest.mark.parametrize("band", sorted(SPEC_NOISE))
def test_noise_matches_spec(band: int) -> None:
    mean, snr, sigma = SPEC_NOISE[band]
    info = BANDS[band]
    assert (info.mean_radiance, info.snr) == (mean, snr)
    assert info.noise_sigma == pytest.approx(sigma, rel=5e-5)  # SPEC gives 5 digits


def test_band_1_is_unsupported() -> None:
    assert SUPPORTED_BANDS == (2, 3, 4, 5, 6, 7, 8)
    assert BANDS[1].super_resolution is False
    assert BANDS[1].noise_sigma is None
    assert get_band(1).number == 1
    with pytest.raises(
        BandError, match=r"Band 1 is not supported .* bands \[2, 3, 4, 5, 6, 7, 8\]"
    ):
        get_band(1, require_super_resolution=True)
    assert get_band(2, require_super_resolution=True).number == 2


def test_table_is_immutable() -> None:
    with pytest.raises(TypeError):
        BANDS[9] = BANDS[1]  # type: ignore[index]
    with pytest.raises(dataclasses.FrozenInstanceError):
        BANDS[3].spectral_channels = 1  # type: ignore[misc]
    assert sorted(BANDS) == list(range(1, 9))
    assert all(isinstance(b, BandInfo) for b in BANDS.values())
    assert SCALE == 4


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (7, 7),
        ("7", 7),
        (" 3 ", 3),
        ("BAND7_RADIANCE", 7),
        ("band2_radiance/standard_mode", 2),
        ("S5P_OFFL_L1B_RA_BD5_20230104T000000_20230104T014000_27123_03_020400_20230104.nc", 5),
        ("/data/S5P_NRTI_L1B_RA_BD8_x.nc", 8),
        ("BD4", 4),
        ("band6", 6),
        ("Band_1", 1),
        ("no band here", None),
        ("S5P_OFFL_L1B_IR_UVN_x.nc", None),
        (True, None),
        (None, None),
    ],
)
def test_parse_band(value: object, expected: int | None) -> None:
    assert parse_band(value) == expected


def test_get_band_accepts_strings_and_rejects_unknown() -> None:
    assert get_band("BD7") is BANDS[7]
    assert get_band("3").spectral_channels == 497
    for bad in (0, 9, "BD9", "nothing"):
        with pytest.raises(BandError, match=r"Unknown S5P band .* expected one of \[1, 2"):
            get_band(bad)
