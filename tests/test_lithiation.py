"""Lithiation: the Li:TM threshold, first-order kinetics, disorder of the product, water."""

import numpy as np
import pytest

from kmc.events.arrhenius import arrhenius_per_s
from kmc.events.lithiation import Lithiation
from kmc.state import Lattice, Phase

EV = Lithiation(topotactic=(2.2e9, 100.0), rock_salt=(1.45e9, 180.0), topotactic_initial_disorder=0.15,
                rock_salt_initial_disorder=0.4, min_li_per_tm=0.75)


def block(phase, li, tm=64, shape=(20, 20, 20)) -> Lattice:
    lat = Lattice.empty(shape)
    lat.phase[:], lat.li[:], lat.tm[:], lat.grain[:] = phase, li, tm, 1
    return lat


def test_below_the_li_threshold_nothing_happens():
    lat = block(Phase.HYDROXIDE, li=47)        # 47/64 < 0.75
    EV.cpu_pass(lat, 1, 0, np.array([2**32, 2**32], dtype=np.uint64))
    assert np.all(lat.phase == Phase.HYDROXIDE)
    lat = block(Phase.HYDROXIDE, li=48)        # 48/64 = 0.75
    EV.cpu_pass(lat, 1, 0, np.array([2**32, 2**32], dtype=np.uint64))
    assert np.all(lat.phase == Phase.LAYERED)


@pytest.mark.parametrize("parent, T_C, k", [(Phase.HYDROXIDE, 200.0, arrhenius_per_s(2.2e9, 100.0, 200.0)),
                                            (Phase.ROCK_SALT, 520.0, arrhenius_per_s(1.45e9, 180.0, 520.0))])
def test_isothermal_conversion_is_first_order(parent, T_C, k):
    lat = block(parent, li=64)
    dt, n = 5.0, 12
    for step in range(n):
        EV.cpu_pass(lat, 4, step, EV.thresholds(T_C, dt))
    x = (lat.phase == Phase.LAYERED).mean()
    expected = 1 - np.exp(-k * dt * n)
    assert 0.1 < expected < 0.95
    assert abs(x - expected) < 4 * np.sqrt(expected * (1 - expected) / lat.phase.size)


def test_rock_salt_route_is_slower_than_topotactic():
    k_topo, k_rs = EV.rates_per_s(300.0)
    assert k_rs < 1e-3 * k_topo


def test_product_disorder_and_water():
    lat = block(Phase.HYDROXIDE, li=64, shape=(4, 4, 4))
    lat.li[0] = 56                               # 8/64 deficient
    out = EV.cpu_pass(lat, 1, 0, np.array([2**32, 0], dtype=np.uint64))
    assert out["h2o_q"] == 64 * 64
    d0 = round(0.15 * 255)
    assert np.all(lat.disorder[1:] == d0)
    assert np.all(lat.disorder[0] == d0 + 255 * 8 // 64)
    rs = block(Phase.ROCK_SALT, li=70, shape=(4, 4, 4))
    out = EV.cpu_pass(rs, 1, 0, np.array([0, 2**32], dtype=np.uint64))
    assert out["h2o_q"] == 0 and np.all(rs.phase == Phase.LAYERED) and np.all(rs.disorder == round(0.4 * 255))


def test_fields_other_than_phase_and_disorder_untouched():
    lat = block(Phase.HYDROXIDE, li=60)
    lat.grain[:] = np.arange(lat.grain.size, dtype=np.int32).reshape(lat.grain.shape)
    before = lat.copy()
    EV.cpu_pass(lat, 2, 0, EV.thresholds(260.0, 30.0))
    for name in ("li", "tm", "grain", "flags"):
        np.testing.assert_array_equal(getattr(lat, name), getattr(before, name))
