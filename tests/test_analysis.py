"""kmc.analysis on synthetic lattices with known answers: phases, radial, pores, grains, TGA, a run."""

from __future__ import annotations

import math

import numpy as np
import pytest

from kmc.analysis import (
    core_shell,
    frame_observables,
    full_reaction_gas_mol,
    grain_stats,
    grain_table,
    initial_mixture_mass_g,
    lattice_mass_g,
    molar_masses,
    phase_fractions,
    pore_analysis,
    radial_profiles,
    stoichiometric_end_mass_g,
    tga_curve,
)
from kmc.analysis.geometry import radial_distance
from kmc.state import MOLAR_VOLUME_CM3, Lattice, Phase

VOXEL_NM = 50.0


def sphere(n: int = 40, R: float = 16.0, phase: Phase = Phase.HYDROXIDE, octant_grains: bool = True) -> tuple[Lattice, np.ndarray]:
    """A dense sphere of radius R (voxels) at the box centre, tm 64, grains = the 8 octants."""
    lat = Lattice.empty((n, n, n))
    r = radial_distance(lat.shape)
    inside = r <= R
    lat.phase[inside] = phase
    lat.tm[inside] = 64
    if octant_grains:
        z, y, x = np.indices(lat.shape)
        oct_id = 1 + (z >= n // 2) * 4 + (y >= n // 2) * 2 + (x >= n // 2)
        lat.grain[inside] = oct_id[inside]
    return lat, r


def carve(lat: Lattice, mask: np.ndarray) -> None:
    for name in ("phase", "grain", "li", "tm", "disorder"):
        getattr(lat, name)[mask] = 0


def test_the_central_void_test_sees_a_central_cavity_and_not_uniform_pores():
    """kmc validate's "no void near the centre" (`central_void_excess_nm`) on a sphere with
    scattered 1- and 8-voxel pores (porosity 0.15; the quick runs end at 0.23): no central
    void wherever the largest pore lands; the same sphere with a ball of 5 voxels carved at its
    centre: a central void."""
    from kmc.validation.criteria import CENTRAL_VOID_MIN_EXCESS_NM, central_void_excess_nm
    R = 20.0
    lat, r = sphere(n=48, R=R)
    rng = np.random.default_rng(3)
    z, y, x = np.indices(lat.shape)
    pores = (rng.random(lat.shape) < 0.17) & (r < R - 1)
    for c in rng.integers(4, 44, size=(40, 3)):                     # 2x2x2 pores anywhere
        pores |= (abs(z - c[0] - 0.5) <= 1) & (abs(y - c[1] - 0.5) <= 1) & (abs(x - c[2] - 0.5) <= 1) & (r < R - 2)
    carve(lat, pores)
    uniform = pore_analysis(lat, VOXEL_NM, radius=R)
    assert 0.1 < uniform["porosity_total"] < 0.3
    assert central_void_excess_nm(uniform) < CENTRAL_VOID_MIN_EXCESS_NM
    carve(lat, r <= 5.0)
    void = pore_analysis(lat, VOXEL_NM, radius=R)
    assert central_void_excess_nm(void) >= CENTRAL_VOID_MIN_EXCESS_NM
    assert void["void_inscribed_radius_core_nm"] >= 4.0 * VOXEL_NM         # voxel centres: within one voxel of 5


# -- phases -------------------------------------------------------------------------------
def test_phase_fractions_known_mixture():
    lat = Lattice.empty((10, 20, 20))                       # 4000 voxels
    flat = {k: v.reshape(-1) for k, v in lat.arrays().items()}
    hyd, rs, lay, src = slice(0, 600), slice(600, 1200), slice(1200, 1300), slice(1300, 1400)
    flat["phase"][hyd], flat["tm"][hyd] = Phase.HYDROXIDE, 64       # 38400 TM
    flat["phase"][rs], flat["tm"][rs] = Phase.ROCK_SALT, 32         # 19200 TM: 30 %
    flat["phase"][lay], flat["tm"][lay], flat["li"][lay] = Phase.LAYERED, 64, 64
    flat["disorder"][1200:1250] = 128                                # half the layered TM at x = 0.502
    flat["phase"][src], flat["li"][src] = Phase.LIOH, 60
    f = phase_fractions(lat)
    assert f["tm_frac_rock_salt"] == pytest.approx(0.30, rel=0.02)
    assert f["tm_frac_hydroxide"] == pytest.approx(0.60)
    assert f["tm_frac_layered"] == pytest.approx(0.10)
    assert f["tm_frac_layered_disordered"] == pytest.approx(0.05)
    assert f["tm_frac_layered_ordered"] == pytest.approx(0.05)
    assert f["li_ni_disorder"] == pytest.approx(0.5 * 128 / 255)
    assert f["li_frac_layered"] == pytest.approx(6400 / 12400)
    assert f["li_frac_lioh"] == pytest.approx(6000 / 12400)
    assert f["li_to_tm_layered"] == pytest.approx(1.0)
    vm_h = MOLAR_VOLUME_CM3[Phase.HYDROXIDE]
    vols = {"hydroxide": 38400 * vm_h, "rock_salt": 19200 * MOLAR_VOLUME_CM3[Phase.ROCK_SALT],
            "layered": 6400 * MOLAR_VOLUME_CM3[Phase.LAYERED], "lioh": 6000 * MOLAR_VOLUME_CM3[Phase.LIOH]}
    total = sum(vols.values())
    for name, v in vols.items():
        assert f[f"vol_frac_{name}"] == pytest.approx(v / total, rel=1e-5)
    # a mask restricts the sums
    only_rs = lat.phase == Phase.ROCK_SALT
    assert phase_fractions(lat, mask=only_rs)["tm_frac_rock_salt"] == 1.0


# -- radial -------------------------------------------------------------------------------
def test_core_shell_and_profiles_of_a_layered_shell_on_a_rock_salt_core():
    R = 16.0
    lat, r = sphere(R=R)
    core = (r < R / 2) & (lat.tm > 0)
    shell = (r >= R / 2) & (lat.tm > 0)
    lat.phase[core] = Phase.ROCK_SALT
    lat.phase[shell] = Phase.LAYERED
    lat.li[shell] = 64
    lat.disorder[shell] = 51                                   # 0.2 mixing
    cs = core_shell(lat, VOXEL_NM, radius=R)
    assert cs["core_tm_frac_rock_salt"] == 1.0 and cs["core_tm_frac_layered"] == 0.0
    assert cs["shell_tm_frac_layered"] == 1.0 and cs["shell_li_to_tm"] == pytest.approx(1.0)
    assert cs["shell_li_ni_disorder"] == pytest.approx(0.2)
    rs_fill = MOLAR_VOLUME_CM3[Phase.ROCK_SALT] / MOLAR_VOLUME_CM3[Phase.HYDROXIDE]
    assert cs["core_solid_fill"] == pytest.approx(rs_fill, rel=1e-6)
    assert cs["core_porosity"] == pytest.approx(1 - rs_fill, rel=1e-6)
    assert cs["core_n_voxels"] == int(core.sum())
    prof = radial_profiles(lat, VOXEL_NM, radius=R, n_shells=10)
    inner = prof["r_over_R_hi"] <= 0.5
    assert np.all(prof["tm_frac_layered"][inner] == 0.0) and np.all(prof["tm_frac_rock_salt"][inner] == 1.0)
    assert np.all(prof["tm_frac_layered"][~inner] == 1.0)
    assert np.all(prof["li_to_tm"][~inner] == pytest.approx(1.0))
    assert prof["n_voxels"].sum() == int((r <= R).sum())
    # all eight octant grains have the same size: every shell sees it
    d = (6 * (lat.grain == 1).sum() / math.pi) ** (1 / 3) * VOXEL_NM
    assert np.allclose(prof["grain_size_nm"], d)


# -- pores --------------------------------------------------------------------------------
@pytest.mark.parametrize("offset", [0, 7])
def test_central_void_radius_and_centroid(offset):
    R, r0 = 20.0, 6.0
    lat, r = sphere(n=48, R=R)
    c = np.array(lat.shape) / 2
    z, y, x = np.indices(lat.shape)
    rv = np.sqrt((z + 0.5 - c[0]) ** 2 + (y + 0.5 - c[1]) ** 2 + (x + 0.5 - c[2] - offset) ** 2)
    carve(lat, rv <= r0)
    p = pore_analysis(lat, VOXEL_NM, radius=R)
    assert abs(p["void_radius_nm"] / VOXEL_NM - r0) <= 1.0
    assert abs(p["void_offset_nm"] / VOXEL_NM - offset) <= 0.5
    assert abs(p["void_inscribed_radius_nm"] / VOXEL_NM - r0) <= 1.0
    # the ball at the void's centre lies in the core (r < R/2); balls centred in the shell are
    # those of the void's part beyond R/2 (none without offset), narrower by what lies inside R/2
    assert p["void_inscribed_radius_core_nm"] == p["void_inscribed_radius_nm"]
    shell = p["void_inscribed_radius_shell_nm"] / VOXEL_NM
    assert shell == 0.0 if offset == 0 else 0.0 < shell <= r0 - (R / 2 - offset) + 1.0
    assert p["closed_pore_count"] == 1
    n_in = int((r <= R).sum())
    assert p["porosity_closed"] == pytest.approx((rv <= r0).sum() / n_in)
    assert p["porosity_open"] == 0.0
    assert p["void_volume_um3"] == pytest.approx((rv <= r0).sum() * (VOXEL_NM / 1000) ** 3)
    assert p["porosity_total"] == pytest.approx(p["porosity_macro"] + p["porosity_nano"])


def test_open_and_closed_pores():
    R = 16.0
    lat, r = sphere(n=40, R=R)
    c = 20
    closed = np.zeros(lat.shape, bool)
    closed[c - 8:c - 5, c - 1:c + 2, c - 1:c + 2] = True               # 27-voxel closed cavity
    open_ = np.zeros(lat.shape, bool)
    open_[c + 2:c + 7, c - 2:c + 3, c - 2:c + 3] = True                # 125-voxel cavity ...
    open_[c + 4, c, c:] = True                                          # ... with a channel to the surface
    carve(lat, closed | open_)
    p = pore_analysis(lat, VOXEL_NM, radius=R)
    n_in = int((r <= R).sum())
    assert p["closed_pore_count"] == 1
    assert p["porosity_closed"] == pytest.approx(27 / n_in)
    assert p["porosity_open"] == pytest.approx(int((open_ & (r <= R)).sum()) / n_in)
    # the void is the largest *closed* pore, not the larger open one
    assert p["void_volume_um3"] == pytest.approx(27 * (VOXEL_NM / 1000) ** 3)
    assert p["void_offset_nm"] == pytest.approx(6.5 * VOXEL_NM, abs=0.5 * VOXEL_NM)


def test_intragranular_pores_and_nanoporosity():
    R = 16.0
    lat, r = sphere(n=40, R=R)
    c = 20
    inside_grain = np.zeros(lat.shape, bool)
    inside_grain[c - 8:c - 6, c - 8:c - 6, c - 8:c - 6] = True         # 8 voxels deep inside octant grain 1
    across = np.zeros(lat.shape, bool)
    across[c - 1:c + 1, c + 5:c + 7, c + 5:c + 7] = True                # straddles the z = c grain boundary
    carve(lat, inside_grain | across)
    p = pore_analysis(lat, VOXEL_NM, radius=R)
    assert p["closed_pore_count"] == 2
    assert p["intragranular_pore_count"] == 1
    assert p["intragranular_pore_d_nm"][0] == pytest.approx((6 * 8 / math.pi) ** (1 / 3) * VOXEL_NM)
    # dehydrate the octant-2 grain: its fill deficit is nanoporosity, not a pore component
    rs = lat.grain == 2
    lat.phase[rs] = Phase.ROCK_SALT
    q = pore_analysis(lat, VOXEL_NM, radius=R)
    deficit = rs.sum() * (1 - MOLAR_VOLUME_CM3[Phase.ROCK_SALT] / MOLAR_VOLUME_CM3[Phase.HYDROXIDE])
    n_in = int((r <= R).sum())
    assert q["porosity_nano"] == pytest.approx(deficit / n_in, rel=1e-5)
    assert q["nanopore_volume_um3"] == pytest.approx(deficit * (VOXEL_NM / 1000) ** 3, rel=1e-5)
    assert q["porosity_macro"] == p["porosity_macro"]
    assert q["closed_pore_count"] == 2


# -- grains -------------------------------------------------------------------------------
def test_octant_grains_count_and_sizes():
    n, cut = 16, 6                                                      # unequal octants along x
    lat = Lattice.empty((n, n, n))
    z, y, x = np.indices(lat.shape)
    lat.grain[...] = 1 + (z >= 8) * 4 + (y >= 8) * 2 + (x >= cut)
    lat.phase[...] = Phase.HYDROXIDE
    lat.tm[...] = 64
    st = grain_stats(lat, VOXEL_NM)
    assert st["grain_count"] == 8
    expected = sorted([(6 * 8 * 8 * cut / math.pi) ** (1 / 3) * VOXEL_NM] * 4
                      + [(6 * 8 * 8 * (n - cut) / math.pi) ** (1 / 3) * VOXEL_NM] * 4)
    assert np.allclose(sorted(st["d_nm"]), expected, rtol=1e-12)
    assert st["lithiated_grain_count"] == 0 and math.isnan(st["crystallite_size_nm"])
    # grain 2 (x >= cut): 60 % layered -> lithiated; grain 1: 40 % -> not
    for g, frac in ((2, 0.6), (1, 0.4)):
        vox = np.flatnonzero((lat.grain == g).reshape(-1))
        lat.phase.reshape(-1)[vox[: int(round(frac * vox.size))]] = Phase.LAYERED
    t = grain_table(lat, VOXEL_NM)
    assert t["lithiated"].tolist() == [False, True, False, False, False, False, False, False]
    st = grain_stats(lat, VOXEL_NM)
    assert st["lithiated_grain_count"] == 1
    assert st["crystallite_size_nm"] == pytest.approx(expected[-1])


# -- TGA ----------------------------------------------------------------------------------
def test_molar_masses_from_atomic_masses():
    m = molar_masses("NCM622")
    assert m["TM(OH)2"] == pytest.approx(0.6 * 58.693 + 0.2 * 58.933 + 0.2 * 54.938 + 2 * 17.007)
    assert m["LiOH"] == pytest.approx(23.947) and m["Li2CO3"] == pytest.approx(73.888)
    assert m["LiOH·H2O"] == pytest.approx(41.962)


@pytest.mark.parametrize("source", ["LiOH", "LiOH·H2O", "Li2CO3"])
@pytest.mark.parametrize("li_to_tm", [1.0, 1.05])
@pytest.mark.parametrize("composition", ["NCM622", "NCM90"])
def test_tga_of_a_fully_reacted_mixture_ends_at_the_stoichiometric_mass(source, li_to_tm, composition):
    tm, li = 1e-3, li_to_tm * 1e-3
    m0 = initial_mixture_mass_g(tm, li, composition, source)
    gas = full_reaction_gas_mol(tm, li, source)
    T = np.linspace(25, 850, 200)
    # gases come out in stages; only the cumulative end value matters for the end mass
    stage = lambda lo, hi: np.clip((T - lo) / (hi - lo), 0, 1)
    curve = tga_curve(T, gas["h2o_mol"] * stage(100, 320), gas["co2_mol"] * stage(500, 800),
                      gas["o2_uptake_mol"] * stage(250, 700), initial_mass_g=m0)
    end = stoichiometric_end_mass_g(tm, li, composition, source)
    assert curve["mass_pct"][-1] == pytest.approx(100 * end / m0, rel=0.005)
    assert curve["mass_pct"][0] == 100.0
    # textbook check: NCM622 + LiOH at Li:TM = 1 -> LiTMO2, 96.93 / (92.00 + 23.95) of the mass
    if source == "LiOH" and li_to_tm == 1.0 and composition == "NCM622":
        assert curve["mass_pct"][-1] == pytest.approx(100 * 96.928 / (92.004 + 23.947), rel=1e-3)


def test_lattice_mass_matches_the_stoichiometric_end_state():
    lat = Lattice.empty((8, 8, 8))
    lat.phase[:4], lat.tm[:4] = Phase.HYDROXIDE, 64
    lat.phase[4:], lat.li[4:] = Phase.LIOH, 64
    from kmc.state import quantum_mol

    q = quantum_mol(VOXEL_NM)
    tm_mol, li_mol = lat.tm.sum(dtype=np.int64) * q, lat.li.sum(dtype=np.int64) * q
    assert lattice_mass_g(lat, VOXEL_NM) == pytest.approx(initial_mixture_mass_g(tm_mol, li_mol, "NCM622", "LiOH"))
    # fully reacted: every TM voxel layered with Li = TM, the source gone
    lat.phase[:4], lat.li[:4] = Phase.LAYERED, 64
    lat.phase[4:], lat.li[4:] = Phase.PORE, 0
    assert lattice_mass_g(lat, VOXEL_NM) == pytest.approx(stoichiometric_end_mass_g(tm_mol, li_mol, "NCM622", "LiOH"))


# -- a whole frame and a whole run ---------------------------------------------------------
def test_frame_observables_names_and_values():
    lat, r = sphere(n=32, R=12.0)
    row = frame_observables(lat, VOXEL_NM, radius=12.0, counters={"h2o_q": 0}, initial_mass_g=1.0)
    for col in ("tm_frac_hydroxide", "core_tm_frac_layered", "porosity_total", "void_radius_nm", "grain_count",
                "crystallite_size_nm", "mass_pct", "xrd_i003_i104", "xrd_scherrer_size_nm"):
        assert col in row
    assert row["tm_frac_hydroxide"] == 1.0 and row["grain_count"] == 8
    assert all(isinstance(v, float) for v in row.values())


def test_analyze_run_on_a_tiny_simulation(tmp_path):
    import csv

    from conftest import tiny_dict
    from kmc.analysis import analyze_run
    from kmc.config import parse_config
    from kmc.simulation import Simulation
    from kmc.store import RunStore

    cfg = parse_config(tiny_dict())
    Simulation.from_config(cfg).run(tmp_path / "run")
    store = RunStore.open(tmp_path / "run", mode="r")
    result = analyze_run(tmp_path / "run")
    out = tmp_path / "run" / "analysis"
    for name in ("observables.csv", "radial.csv", "tga.csv", "xrd.csv", "xrd_peaks.csv", "distributions.csv"):
        assert (out / name).is_file(), name
    with open(out / "observables.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == store.n_frames
    build = store.attrs["build"]
    first, last = rows[0], rows[-1]
    assert float(first["porosity_macro"]) == pytest.approx(build["porosity_achieved"])
    assert int(float(first["grain_count"])) == build["grain_count"]
    assert float(first["mass_pct"]) == 100.0
    # the tiny program ends in a 320 °C hold: the hydroxide is used up (dehydrated or lithiated)
    assert float(last["tm_frac_hydroxide"]) < 0.05
    assert float(last["tm_frac_rock_salt"]) + float(last["tm_frac_layered"]) > 0.95
    for row in rows:
        assert float(row["mass_pct"]) == pytest.approx(float(row["mass_state_pct"]), rel=1e-9)
    # water has left: well below the initial mass (the Li-deficient layered oxide that forms from
    # half its Li on, lithiation.min_li_per_tm = 0.5, holds more O per TM, so not the full 16 %)
    assert float(last["mass_pct"]) < 92.0
    assert len(result["radial"]["shell"]) == 10 * store.n_frames


def test_distance_transform_matches_scipy():
    from scipy import ndimage

    from kmc.analysis.pores import distance_to_background

    rng = np.random.default_rng(3)
    for shape, p in (((7, 9, 11), 0.9), ((20, 1, 5), 0.5), ((24, 25, 23), 0.97)):
        m = rng.random(shape) < p
        m[0, 0, 0] = False
        assert np.allclose(distance_to_background(m), ndimage.distance_transform_edt(m), atol=1e-12)
    m = np.zeros((30, 30, 30), bool)
    m[10:20, 12:18, 5:25] = rng.random((10, 6, 20)) < 0.95          # cropped to its bounding box
    assert np.allclose(distance_to_background(m), ndimage.distance_transform_edt(m), atol=1e-12)


def test_every_observable_column_is_documented():
    import re
    from pathlib import Path

    lat, r = sphere(n=24, R=9.0)
    row = frame_observables(lat, VOXEL_NM, radius=9.0, counters={"h2o_q": 5}, initial_mass_g=1.0)
    doc = (Path(__file__).resolve().parents[1] / "docs" / "observables.md").read_text()
    undocumented = []
    for col in row:
        m = re.match(r"(core|shell)_(.*)", col) or re.match(r"(vol_frac|li_frac)_(.*)", col)
        if f"`{col}`" in doc or (m and (f"`{m.group(2)}`" in doc or f"`{m.group(1)}_<phase>`" in doc)):
            continue
        undocumented.append(col)
    assert not undocumented


def test_empty_and_source_only_lattices_do_not_break_the_analysis():
    lat = Lattice.empty((12, 12, 12))
    row = frame_observables(lat, VOXEL_NM, radius=4.0)
    assert row["grain_count"] == 0 and row["tm_frac_layered"] == 0.0 and math.isnan(row["xrd_i003_i104"])
    lat.phase[:2], lat.li[:2] = Phase.LIOH, 60
    row = frame_observables(lat, VOXEL_NM, radius=4.0)
    assert row["li_frac_lioh"] == 1.0 and row["vol_frac_lioh"] == 1.0


@pytest.mark.parametrize("source", [Phase.LIOH, Phase.LIOH_H2O, Phase.LI2CO3])
def test_counter_tga_agrees_with_the_state_mass_through_lithiation(source):
    """Hand-made reaction steps with the events' counter conventions: the gas-counter TGA
    (m0 - gases) and the mass of the lattice state agree at every step."""
    from kmc.analysis.tga import counters_to_mol

    lat = Lattice.empty((4, 8, 8))
    lat.phase[:2], lat.tm[:2], lat.grain[:2] = Phase.HYDROXIDE, 64, 1      # 128 TM voxels
    lat.phase[2:], lat.li[2:] = source, 60                                 # 128 source voxels, Li:TM 0.94
    m0 = lattice_mass_g(lat, VOXEL_NM)
    counters = {"h2o_q": 0, "li_from_lioh_q": 0, "li_from_li2co3_q": 0}

    def check():
        gas = counters_to_mol(counters, VOXEL_NM, lat)
        pct = tga_curve(0.0, gas["h2o_mol"], gas["co2_mol"], gas["o2_uptake_mol"], initial_mass_g=m0)["mass_pct"][0]
        assert pct == pytest.approx(100 * lattice_mass_g(lat, VOXEL_NM) / m0, rel=1e-12)
        return pct

    if source == Phase.LIOH_H2O:                      # hydrate loses its crystal water: 1 H2O per Li
        counters["h2o_q"] += int(lat.li[2:].sum())
        lat.phase[2:] = Phase.LIOH
        check()
    # the source gives 30 Li quanta to each of 64 hydroxide voxels
    take = 30
    lat.li[2, :, :] -= take
    lat.li[0, :, :] += take
    key = "li_from_li2co3_q" if source == Phase.LI2CO3 else "li_from_lioh_q"
    counters[key] += take * 64
    check()
    # half of the hydroxide dehydrates to rock salt, the lithiated half goes layered (topotactic)
    lat.phase[1] = Phase.ROCK_SALT
    lat.phase[0] = Phase.LAYERED
    counters["h2o_q"] += 2 * 64 * 64
    end = check()
    assert end < 100.0
