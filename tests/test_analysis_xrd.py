"""Simulated XRD: Bragg positions from textbook d-spacing formulas, Scherrer, Li/Ni mixing."""

from __future__ import annotations

import math

import numpy as np
import pytest

from kmc.analysis import xrd
from kmc.state import Lattice, Phase

LAMBDA = 1.5406


def two_theta(d):
    return 2 * math.degrees(math.asin(LAMBDA / (2 * d)))


# textbook d-spacing formulas, one per crystal system
def d_hex(h, k, l, a, c):
    return 1 / math.sqrt(4 / 3 * (h * h + h * k + k * k) / a**2 + l * l / c**2)


def d_cubic(h, k, l, a):
    return a / math.sqrt(h * h + k * k + l * l)


def d_tetragonal(h, k, l, a, c):
    return 1 / math.sqrt((h * h + k * k) / a**2 + l * l / c**2)


def d_monoclinic(h, k, l, a, b, c, beta_deg):
    s, cb = math.sin(math.radians(beta_deg)), math.cos(math.radians(beta_deg))
    return 1 / math.sqrt((h * h / a**2 + k * k * s * s / b**2 + l * l / c**2 - 2 * h * l * cb / (a * c)) / s**2)


CASES = {
    "layered": (lambda h, k, l: d_hex(h, k, l, 2.87, 14.2),
                [(0, 0, 3), (1, 0, 1), (0, 0, 6), (0, 1, 2), (1, 0, 4), (0, 1, 5), (1, 0, 7), (0, 1, 8), (1, 1, 0), (1, 1, 3)]),
    "rock_salt": (lambda h, k, l: d_cubic(h, k, l, 4.17), [(1, 1, 1), (2, 0, 0), (2, 2, 0)]),
    "hydroxide": (lambda h, k, l: d_hex(h, k, l, 3.13, 4.60), [(0, 0, 1), (1, 0, 0), (1, 0, 1), (1, 0, 2), (1, 1, 0)]),
    "lioh": (lambda h, k, l: d_tetragonal(h, k, l, 3.549, 4.334), [(0, 0, 1), (1, 0, 1), (1, 1, 0), (2, 0, 0)]),
    "li2co3": (lambda h, k, l: d_monoclinic(h, k, l, 8.359, 4.973, 6.197, 114.8),
               [(1, 1, 0), (2, 0, -2), (0, 0, 2), (1, 1, -2), (3, 1, -1)]),
}


@pytest.mark.parametrize("phase", list(CASES))
def test_pure_phase_peaks_sit_at_the_bragg_angles(phase):
    d_of, lines = CASES[phase]
    sim = xrd.simulate({phase: 1.0}, two_theta=xrd.default_two_theta(0.005), sizes_nm={phase: 200.0})
    table, tt, y = sim["peaks"], sim["two_theta_deg"], sim["intensity"]
    assert set(table["phase"]) == {phase}
    for hkl in lines:
        expected = two_theta(d_of(*hkl))
        sel = (table["h"] == hkl[0]) & (table["k"] == hkl[1]) & (table["l"] == hkl[2])
        assert sel.sum() == 1, f"{phase} {hkl} missing from the table"
        assert table["two_theta_deg"][sel][0] == pytest.approx(expected, abs=0.05)
        found = xrd.peak_position_fwhm(tt, y, near=expected, window=0.15)["two_theta_deg"]
        assert found == pytest.approx(expected, abs=0.05), f"{phase} {hkl}: pattern maximum at {found:.3f}, Bragg {expected:.3f}"


def test_systematic_absences_and_strongest_lines():
    lay = xrd.peaks({"layered": 1.0})
    hkls = set(zip(lay["h"], lay["k"], lay["l"]))
    assert (0, 0, 1) not in hkls and (0, 0, 2) not in hkls and (1, 0, 2) not in hkls      # R centring: -h+k+l = 3n
    strongest = np.argsort(-lay["intensity"])[:2]
    assert {lay["hkl"][i] for i in strongest} == {"(0 0 3)", "(1 0 4)"}
    rs = xrd.peaks({"rock_salt": 1.0})
    assert set(rs["hkl"]) == {"(1 1 1)", "(2 0 0)", "(2 2 0)"}                           # F centring, 2θ <= 70°


def test_form_factors_at_zero_angle_equal_the_electron_count():
    for el, Z in {"H": 1, "Li": 3, "C": 6, "O": 8, "Mn": 25, "Co": 27, "Ni": 28}.items():
        assert xrd.form_factor(el, 0.0) == pytest.approx(Z, abs=0.02)
    assert xrd.form_factor("Ni", 0.5) < xrd.form_factor("Ni", 0.1)


@pytest.mark.parametrize("size_nm", [15.0, 40.0, 120.0])
@pytest.mark.parametrize("instrument", [0.0, 0.06])
def test_scherrer_recovers_the_crystallite_size(size_nm, instrument):
    sim = xrd.simulate({"layered": 1.0, "rock_salt": 0.3}, sizes_nm={"layered": size_nm, "rock_salt": 30.0},
                       instrument_fwhm_deg=instrument)
    got = xrd.size_from_pattern(sim["two_theta_deg"], sim["intensity"], near=18.7, window=1.5,
                                instrument_fwhm_deg=instrument)
    assert got == pytest.approx(size_nm, rel=0.10)


def test_fwhm_size_round_trip():
    fwhm = xrd.size_to_fwhm(37.0, 44.4, instrument_fwhm_deg=0.05)
    assert xrd.fwhm_to_size(fwhm, 44.4, instrument_fwhm_deg=0.05) == pytest.approx(37.0)
    # the textbook number: 0.9 * 1.5406 Å / (100 nm * cos 9.37°) = 0.0801° 2θ
    assert xrd.size_to_fwhm(100.0, 18.74) == pytest.approx(math.degrees(0.9 * 1.5406 / (1000 * math.cos(math.radians(9.37)))), rel=1e-3)


def test_li_ni_mixing_lowers_i003_over_i104_monotonically():
    xs = np.linspace(0.0, 0.2, 9)
    tables = [xrd.peaks({"layered": 1.0}, mixing=x) for x in xs]
    ratio = np.array([xrd.i003_i104(t) for t in tables])
    assert 1.0 < ratio[0] < 2.5                   # well-ordered NCM622
    assert np.all(np.diff(ratio) < 0)
    tt = xrd.default_two_theta()
    from_pattern = np.array([xrd.i003_i104_from_pattern(tt, xrd.pattern(tt, t)) for t in tables])
    assert np.all(np.diff(from_pattern) < 0)
    # (104) is a rock-salt-like line: mixing leaves it alone, (003) carries the change
    i104 = [t["intensity"][(t["h"] == 1) & (t["k"] == 0) & (t["l"] == 4)][0] for t in tables]
    assert np.ptp(i104) / i104[0] < 1e-9
    with pytest.raises(ValueError):
        xrd.peaks({"layered": 1.0}, mixing=0.7)   # more than the Ni fraction of NCM622


def test_intensities_scale_with_phase_amounts():
    one = xrd.peaks({"layered": 1.0, "rock_salt": 1.0})
    two = xrd.peaks({"layered": 1.0, "rock_salt": 2.0})
    rs1, rs2 = one["phase"] == "rock_salt", two["phase"] == "rock_salt"
    assert np.allclose(two["intensity"][rs2], 2 * one["intensity"][rs1])
    assert np.allclose(two["intensity"][~rs2], one["intensity"][~rs1])


def test_xrd_from_a_lattice_uses_its_disorder_and_grain_sizes():
    n = 16
    lat = Lattice.empty((n, n, n))
    z, y, x = np.indices(lat.shape)
    lat.grain[...] = 1 + (z >= 8) * 4 + (y >= 8) * 2 + (x >= 8)
    lat.phase[...] = Phase.LAYERED
    lat.tm[...] = 64
    lat.li[...] = 64
    voxel_nm = 4.0                                                   # grains of 8^3 voxels: d = 39.7 nm
    ordered = xrd.xrd_from_lattice(lat, voxel_nm)
    d = (6 * 512 / math.pi) ** (1 / 3) * voxel_nm
    assert ordered["sizes_nm"]["layered"] == pytest.approx(d)
    assert ordered["mixing"] == 0.0
    assert xrd.size_from_pattern(ordered["two_theta_deg"], ordered["intensity"], window=1.0) == pytest.approx(d, rel=0.10)
    lat.disorder[...] = 26                                           # x = 0.102
    mixed = xrd.xrd_from_lattice(lat, voxel_nm)
    assert mixed["mixing"] == pytest.approx(26 / 255)
    assert mixed["i003_i104"] < ordered["i003_i104"]


def test_frame_xrd_columns_read_broad_peaks_too():
    from kmc.analysis import frame_observables

    n = 16
    lat = Lattice.empty((n, n, n))
    z, y, x = np.indices(lat.shape)
    lat.grain[...] = 1 + (z >= 8) * 4 + (y >= 8) * 2 + (x >= 8)
    lat.phase[...], lat.tm[...], lat.li[...] = Phase.LAYERED, 64, 64
    for voxel_nm in (1.0, 10.0):                                   # domains of 5 and 50 nm
        row = frame_observables(lat, voxel_nm)
        d = (6 * 512 / math.pi) ** (1 / 3) * voxel_nm
        assert row["xrd_scherrer_size_nm"] == pytest.approx(d, rel=0.10)
        assert row["crystallite_size_nm"] == pytest.approx(d)
        assert row["xrd_003_two_theta_deg"] == pytest.approx(two_theta(14.2 / 3), abs=0.05)
