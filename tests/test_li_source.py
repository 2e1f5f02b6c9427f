"""Li source: hydrate dehydration kinetics, melting, release into the precursor, wetting."""

import numba
import numpy as np
import pytest

from kmc.events.arrhenius import arrhenius_per_s
from kmc.events.li_hop import capacity_tables
from kmc.events.li_source import LiSource
from kmc.state import Lattice, Phase

CAP_BASE, CAP_PER_TM = capacity_tables(8)


def source(**overrides) -> LiSource:
    args = dict(hydrate=(1.2e10, 90.0), melting_point_C=462.0, lioh_release=(1.78e12, 120.0), melt_release=(9.2e5, 60.0),
                li2co3_release=(9.2e10, 200.0), wetting=(1.8e4, 60.0), cap_base=CAP_BASE, cap_per_tm=CAP_PER_TM)
    args.update(overrides)
    return LiSource(**args)


def slab(shape=(16, 16, 16), source_phase=Phase.LIOH, li=91) -> Lattice:
    """Lower half hydroxide (tm 64, li 0, grain 1), upper half Li source."""
    lat = Lattice.empty(shape)
    half = shape[0] // 2
    lat.phase[:half], lat.tm[:half], lat.grain[:half] = Phase.HYDROXIDE, 64, 1
    lat.phase[half:], lat.li[half:] = source_phase, li
    return lat


def test_hydrate_dehydration_is_first_order_and_counts_water():
    lat = Lattice.empty((24, 24, 24))
    lat.phase[:], lat.li[:] = Phase.LIOH_H2O, 54
    ev = source()
    T, dt, n = 110.0, 30.0, 20
    water = 0
    for step in range(n):
        water += ev.cpu_pass(lat, 3, step, ev.thresholds(T, dt))["h2o_q"]
    converted = int((lat.phase == Phase.LIOH).sum())
    expected = 1 - np.exp(-arrhenius_per_s(1.2e10, 90.0, T) * dt * n)
    sigma = np.sqrt(expected * (1 - expected) / lat.phase.size)
    assert abs(converted / lat.phase.size - expected) < 4 * sigma
    assert water == 54 * converted


def test_melting_and_solidifying_at_462_C():
    lat = slab()
    ev = source(lioh_release=(0.0, 100.0), melt_release=(0.0, 60.0), wetting=(0.0, 60.0))
    ev.cpu_pass(lat, 1, 0, ev.thresholds(461.9, 1.0))
    assert (lat.phase == Phase.LIOH).sum() == 16 * 16 * 8
    ev.cpu_pass(lat, 1, 1, ev.thresholds(462.0, 1.0))
    assert (lat.phase == Phase.LIOH_MELT).sum() == 16 * 16 * 8 and (lat.phase == Phase.LIOH).sum() == 0
    ev.cpu_pass(lat, 1, 2, ev.thresholds(300.0, 1.0))
    assert (lat.phase == Phase.LIOH).sum() == 16 * 16 * 8


@pytest.mark.parametrize("source_phase, counter", [(Phase.LIOH, "li_handed_lioh"), (Phase.LI2CO3, "li_handed_li2co3")])
def test_release_conserves_li_respects_capacity_and_is_counted(source_phase, counter):
    lat = slab(source_phase=source_phase, li=85)
    total = lat.totals()
    ev = source(lioh_release=(2.0, 0.0), li2co3_release=(2.0, 0.0))  # 2 quanta/s per face, any T
    released = 0
    for step in range(60):
        released += ev.cpu_pass(lat, 5, step, ev.thresholds(300.0, 1.7))[counter]
        assert lat.totals() == total
    precursor = lat.phase == Phase.HYDROXIDE
    assert released == int(lat.li[precursor].sum()) > 0
    assert lat.li[precursor].max() <= 64 + 8
    # Li arrives only through the contact plane (z = 7): 60 steps x 3.4 quanta on average, capped at 72
    assert lat.li[7].mean() == pytest.approx(72, abs=1)
    assert lat.li[:7].sum() == 0


def test_release_rate_is_the_expected_flux_per_face():
    lat = slab(li=91)
    w, dt, steps = 0.35, 1.0, 40   # 14 quanta per face on average, below capacity and supply
    ev = source(lioh_release=(w, 0.0))
    for step in range(steps):
        ev.cpu_pass(lat, 9, step, ev.thresholds(300.0, dt))
    per_face = lat.li[7].astype(float)
    assert per_face.mean() == pytest.approx(w * dt * steps, rel=0.08)


def test_used_up_source_becomes_pore():
    lat = slab(li=1)
    ev = source(lioh_release=(5.0, 0.0))
    ev.cpu_pass(lat, 1, 0, ev.thresholds(300.0, 1.0))
    assert np.all(lat.phase[8] == Phase.PORE) and np.all(lat.li[8] == 0)
    assert np.all(lat.phase[9] == Phase.LIOH)


def test_melt_wets_the_solid_and_its_pores_but_not_the_free_gas_and_conserves_li():
    """A melt layer on a layered slab that has a pore channel: the melt runs along the slab's
    surface and down the channel (pores with a solid face), never into gas with no solid face."""
    lat = Lattice.empty((12, 12, 12))
    lat.phase[6:], lat.tm[6:], lat.grain[6:] = Phase.LAYERED, 73, 1     # the solid: z >= 6
    lat.phase[6:, 5, 5], lat.tm[6:, 5, 5], lat.grain[6:, 5, 5] = Phase.PORE, 0, 0   # an open channel
    lat.phase[5, 4:7], lat.li[5, 4:7] = Phase.LIOH_MELT, 86            # a melt stripe on the surface
    total = lat.totals()
    ev = source(wetting=(10.0, 0.0), melt_release=(0.0, 0.0))
    for step in range(40):
        ev.cpu_pass(lat, 2, step, ev.thresholds(500.0, 1.0))
    assert lat.totals() == total
    melt = lat.phase == Phase.LIOH_MELT
    assert melt[5].sum() > 3 * 12 + 2 * 12, "the melt spreads along the solid surface"
    assert melt[6:, 5, 5].sum() >= 3, "and into the pore channel of the solid"
    assert not melt[:5].any(), "but not into the gas above the surface (no solid face there)"


def test_one_and_two_threads_agree():
    results = []
    before = numba.get_num_threads()
    try:
        for threads in (1, 2):
            numba.set_num_threads(threads)
            lat = slab(shape=(20, 18, 16))
            lat.phase[12:, :, :8] = Phase.LIOH_MELT
            ev = source(lioh_release=(0.7, 0.0), melt_release=(1.3, 0.0), wetting=(0.2, 0.0))
            for step in range(10):
                ev.cpu_pass(lat, 11, step, ev.thresholds(480.0, 1.0))
            results.append(lat)
    finally:
        numba.set_num_threads(before)
    for name in Lattice.DTYPES:
        np.testing.assert_array_equal(getattr(results[0], name), getattr(results[1], name))


def test_solid_source_keeps_feeding_the_contact_through_li_hops():
    """Release (li_source) + transport in the solid source (li_hop, Medium.SOURCE) on a hydroxide |
    LiOH slab at 250 °C. Without source hops only the LiOH layer that touches the hydroxide gives
    Li (its 16 x 16 x 91 quanta), then it turns to pores and the supply stops; with them the LiOH
    behind it keeps feeding the contact. Li is conserved exactly in both, and every source voxel
    that is used up (by release or by hops) is a pore."""
    from kmc.events.li_hop import MEDIA, LiHop, diffusivity_from_hop_rate

    def run(D_source):
        lat = slab((16, 16, 16))
        D = {m: diffusivity_from_hop_rate(0.05, 50.0) for m in MEDIA} | {"source": D_source}
        hop = LiHop.from_media(D, voxel_nm=50.0, capacity_excess_q=8)
        src = source()
        total = lat.totals()["li"]
        for step in range(300):
            src.cpu_pass(lat, 3, step, src.thresholds(250.0, 12.0))
            hop.cpu_pass(lat, 3, step, hop.thresholds(250.0, 12.0))
            assert lat.totals()["li"] == total
        in_tm = int(lat.li[:8].sum(dtype=np.int64))
        assert not np.any((lat.phase[8:] == Phase.LIOH) & (lat.li[8:] == 0))
        assert np.all(lat.li[lat.phase == Phase.PORE] == 0)
        return in_tm

    contact_layer = 16 * 16 * 91
    stuck = run(0.0)
    fed = run(diffusivity_from_hop_rate(1.0, 50.0))
    assert stuck == contact_layer
    assert fed > 2 * contact_layer, (stuck, fed)


def test_melt_freezes_below_the_melting_point_and_at_a_quench():
    """Melting is a state rule: melt -> LiOH whenever T < T_m (the threshold entry says SOLID, so
    the event runs even when nothing else would), and a simulation applies it again right after
    a quench: a run quenched from 500 °C ends with solid LiOH and no melt, Li unchanged."""
    from kmc.config import parse_config
    from kmc.events.li_source import MOLTEN, SOLID, T_MELTED
    from kmc.simulation import Simulation
    from tests.conftest import tiny_dict

    lat = Lattice.empty((6, 6, 6))
    lat.phase[:3], lat.li[:3] = Phase.LIOH_MELT, 50
    ev = source(lioh_release=(0.0, 0.0), melt_release=(0.0, 0.0), wetting=(0.0, 0.0), hydrate=(0.0, 0.0))
    th = ev.thresholds(300.0, 0.0)
    assert th[T_MELTED] == SOLID and ev.thresholds(500.0, 0.0)[T_MELTED] == MOLTEN
    ev.cpu_pass(lat, 1, 0, th)
    assert np.all(lat.phase[:3] == Phase.LIOH) and np.all(lat.li[:3] == 50)

    cfg = parse_config(tiny_dict(lattice={"shape": [16, 16, 16]}, particle={"radius_um": 0.3}, program={"start_C": 25.0, "segments": [
        {"ramp_to_C": 500.0, "rate_C_per_min": 50.0}, {"hold_h": 0.05}, {"quench_to_C": 25.0}]}))
    sim = Simulation.from_config(cfg)
    li0 = int(sim.lattice.li.sum(dtype=np.int64))
    melt_before_quench = 0
    for clock in sim.steps():
        if clock.temperature_C > 400.0:
            melt_before_quench = int((sim.lattice.phase == Phase.LIOH_MELT).sum())
    assert melt_before_quench > 0, "the source melted on the way"
    assert sim.clock.temperature_C == 25.0
    assert not (sim.lattice.phase == Phase.LIOH_MELT).any(), "a quenched melt is solid LiOH"
    assert int(sim.lattice.li.sum(dtype=np.int64)) == li0


def test_row_extents_change_no_result_when_wetting_runs_into_rows_without_source(monkeypatch):
    """The pair passes visit a row only between the extents of its source voxels with Li, widened
    when a pore of the row is wetted, and only the pairs whose class bytes say that a source with
    Li meets a TM voxel or a pore (rewritten after every pair that acts). A melt that wets its way
    through pores into rows that held no source, and releases into the solid from there within
    the same step, must give the bits of passes that start from every pair of every row."""
    import kmc.events.li_source as li_source

    def lattice():
        rng = np.random.default_rng(12)
        lat = Lattice.empty((14, 13, 15))
        solid = rng.random(lat.shape) < 0.45
        lat.phase[solid], lat.tm[solid], lat.grain[solid] = Phase.LAYERED, 60, 1
        lat.phase[0, :, :], lat.li[0, :, :], lat.tm[0], lat.grain[0] = Phase.LIOH_MELT, 90, 0, 0    # melt on one face
        lat.phase[:, 0, 0], lat.li[:, 0, 0], lat.tm[:, 0, 0], lat.grain[:, 0, 0] = Phase.LIOH_MELT, 80, 0, 0
        return lat

    ev = source(wetting=(1e9, 0.0), melt_release=(2.0, 0.0))       # every eligible pore is wetted
    th = ev.thresholds(600.0, 1.0)
    fast, counts_fast = lattice(), []
    for step in range(6):
        counts_fast.append(ev.cpu_pass(fast, 3, step, th))

    def every_class(pf, lf, cls):
        cls[:] = li_source.C_SOURCE | li_source.C_TARGET   # no pair screened out at the step's start

    def every_row(member, a, b, c, nz, ny, nx, ext):
        ext[:, 0] = 0
        ext[:, 1] = nx - 1

    monkeypatch.setattr(li_source, "_classes", every_class)
    monkeypatch.setattr(li_source, "row_extents", every_row)
    full, counts_full = lattice(), []
    for step in range(6):
        counts_full.append(ev.cpu_pass(full, 3, step, th))
    assert counts_fast == counts_full
    for name in Lattice.DTYPES:
        np.testing.assert_array_equal(getattr(fast, name), getattr(full, name))
    start = lattice()
    assert (fast.phase == Phase.LIOH_MELT).sum() > (start.phase == Phase.LIOH_MELT).sum() + 100, "the melt spread"
    assert fast.li[fast.phase == Phase.LAYERED].sum() > 0, "and released into the solid"
