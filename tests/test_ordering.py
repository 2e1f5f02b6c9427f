"""Cation ordering: first-order relaxation of the Li/Ni disorder, exact in expectation."""

import math

import numba
import numpy as np
import pytest

from kmc.events.arrhenius import GAS_CONSTANT_J_PER_MOL_K
from kmc.events.ordering import Ordering, relax_disorder
from kmc.params import ParameterSet
from kmc.state import Lattice, Phase

EA = 180.0          # kJ/mol
NU = 1e9            # 1/s


def layered_box(n: int, d0: int = 230, li: int = 73, tm: int = 73) -> Lattice:
    lat = Lattice.empty((n, n, n))
    lat.phase[:] = Phase.LAYERED
    lat.grain[:] = 1
    lat.tm[:] = tm
    lat.li[:] = li
    lat.disorder[:] = d0
    return lat


def mixed_lattice(n: int = 24, seed: int = 2) -> Lattice:
    rng = np.random.default_rng(seed)
    shape = (n, n + 1, n + 3)
    lat = Lattice.empty(shape)
    lat.phase[:] = rng.choice([Phase.PORE, Phase.HYDROXIDE, Phase.ROCK_SALT, Phase.LAYERED, Phase.LIOH_MELT],
                              size=shape, p=[0.1, 0.1, 0.1, 0.6, 0.1]).astype(np.uint8)
    lat.grain[:] = rng.integers(0, 50, size=shape, dtype=np.int32)
    lat.li[:] = rng.integers(0, 90, size=shape, dtype=np.uint8)
    lat.tm[:] = rng.integers(0, 90, size=shape, dtype=np.uint8)
    lat.disorder[:] = rng.integers(0, 256, size=shape, dtype=np.uint8)
    lat.flags[:] = rng.integers(0, 2, size=shape, dtype=np.uint8)
    return lat


def relax(ev: Ordering, lat: Lattice, T_C: float, dt: float, steps: int, seed: int = 5) -> list[float]:
    """Apply ``steps`` steps; returns the mean disorder of LAYERED voxels after each."""
    layered = lat.phase == Phase.LAYERED
    thr = ev.thresholds(T_C, dt)
    means = []
    for step in range(steps):
        ev.cpu_pass(lat, seed, step, thr)
        means.append(float(lat.disorder[layered].mean(dtype=np.float64)))
    return means


def test_rate_thresholds_and_parameters():
    ev = Ordering(NU, EA, 0.03)
    k = NU * math.exp(-EA * 1e3 / (GAS_CONSTANT_J_PER_MOL_K * 973.15))
    assert ev.rate_per_s(700.0) == pytest.approx(k)
    assert ev.max_rate_per_s(700.0) == pytest.approx(k)
    assert ev.consumption_rates_per_s(700.0) == {}, "exact for any dt: never limits the step"
    thr = ev.thresholds(700.0, 2.0)
    assert thr.dtype == np.uint64 and thr.shape == (4,)
    assert int(thr[0]) == round((1 - math.exp(-2 * k)) * 2**32)
    assert int(thr[1]) == round(0.03 * 255 * 65536) and int(thr[2]) == round(0.5 * 255 * 65536)
    assert int(thr[3]) == 255 * 65536
    assert not ev.thresholds(20.0, 1.0).any(), "no relaxation at room temperature: the pass can be skipped"
    assert int(ev.thresholds(2000.0, 1e6)[0]) == 2**32
    ps = ParameterSet.from_dict({"ordering": {
        "prefactor": {"value": NU, "unit": "1/s", "source": "test"},
        "activation_energy": {"value": EA, "unit": "kJ/mol", "source": "test"},
        "equilibrium_disorder": {"value": 0.02, "unit": "1", "source": "test"},
        "li_deficiency_coefficient": {"value": 0.7, "unit": "1", "source": "test"}}}, "test")
    assert Ordering.from_params(ps) == Ordering(NU, EA, 0.02, 0.7)
    with pytest.raises(ValueError):
        Ordering(NU, EA, 1.2)


def test_isothermal_decay_follows_first_order_law_exactly_in_expectation():
    n, d0, f_eq = 48, 230, 0.04
    lat = layered_box(n, d0)
    ev = Ordering(NU, EA, f_eq)
    T = 650.0
    k = ev.rate_per_s(T)
    dt = 0.15 / k
    steps = 40
    means = relax(ev, lat, T, dt, steps)
    d_eq = 255 * f_eq
    N = n**3
    for s, m in enumerate(means, start=1):
        expected = d_eq + (d0 - d_eq) * math.exp(-k * s * dt)
        # each step adds a stochastic-rounding variance <= 1/4 per voxel
        sigma = math.sqrt(s * 0.25 / N)
        assert abs(m - expected) < 5 * sigma + 1e-6 * d0, (s, m, expected)
    assert means[-1] < d_eq + 0.01 * (d0 - d_eq)


def test_arrhenius_half_life_ratio():
    """t1/2(T1) / t1/2(T2) = exp(Ea/R (1/T1 - 1/T2)) within 5 % (measured from the lattice)."""
    ev = Ordering(NU, EA, 0.03)
    d_eq = 255 * 0.03

    def half_life(T_C: float, dt_s: float, steps: int) -> float:
        lat = layered_box(40, 250)
        means = np.array(relax(ev, lat, T_C, dt_s, steps, seed=int(T_C)))
        t = dt_s * np.arange(1, steps + 1)
        excess = (means - d_eq) / (250 - d_eq)
        slope = np.polyfit(t, np.log(excess), 1)[0]
        return math.log(2) / -slope

    T1, T2 = 500.0, 700.0
    # steps of different length in units of 1/k, so the two runs are not the same run rescaled
    ratio = half_life(T1, 0.05 / ev.rate_per_s(T1), 40) / half_life(T2, 0.037 / ev.rate_per_s(T2), 60)
    expected = math.exp(EA * 1e3 / GAS_CONSTANT_J_PER_MOL_K * (1 / (T1 + 273.15) - 1 / (T2 + 273.15)))
    assert ratio == pytest.approx(expected, rel=0.05)
    assert ratio == pytest.approx(expected, rel=0.01), "the estimate is far better than the 5 % criterion"


def test_li_deficient_voxels_relax_to_a_higher_equilibrium():
    lat = layered_box(32, d0=0)
    lat.li[:16] = 58                      # li/tm = 58/73: deficiency 0.205
    ev = Ordering(NU, EA, 0.03, li_deficiency_coefficient=0.5)
    T = 700.0
    relax(ev, lat, T, 10.0 / ev.rate_per_s(T), 3)    # k dt = 10: fully relaxed
    d_eq_def = 255 * (0.03 + 0.5 * (1 - 58 / 73))
    assert ev.equilibrium_level(58, 73) == pytest.approx(d_eq_def)
    assert lat.disorder[:16].mean() == pytest.approx(d_eq_def, abs=0.02)
    assert lat.disorder[16:].mean() == pytest.approx(255 * 0.03, abs=0.02)
    # excess Li does not lower the disorder below f_eq; tm = 0 uses f_eq; d_eq is capped at 255
    assert ev.equilibrium_level(90, 73) == pytest.approx(255 * 0.03)
    assert ev.equilibrium_level(5, 0) == pytest.approx(255 * 0.03)
    assert Ordering(NU, EA, 0.9, 5.0).equilibrium_level(0, 73) == 255.0


def test_extremes_stay_in_range():
    lat = layered_box(16, d0=255, li=0)
    ev = Ordering(NU, EA, 1.0, li_deficiency_coefficient=3.0)
    relax(ev, lat, 900.0, 1.0 / ev.rate_per_s(900.0), 3)
    assert np.all(lat.disorder == 255)
    lat = layered_box(16, d0=255)
    ev = Ordering(NU, EA, 0.0, li_deficiency_coefficient=0.0)
    relax(ev, lat, 900.0, 1e9, 1)
    assert np.all(lat.disorder == 0)


def test_only_layered_disorder_changes_and_other_fields_are_untouched():
    lat = mixed_lattice()
    before = lat.copy()
    ev = Ordering(NU, EA, 0.03)
    relax(ev, lat, 700.0, 0.7 / ev.rate_per_s(700.0), 4)
    layered = before.phase == Phase.LAYERED
    assert np.array_equal(lat.disorder[~layered], before.disorder[~layered])
    assert (lat.disorder[layered] != before.disorder[layered]).mean() > 0.5
    for name in ("phase", "grain", "li", "tm", "flags"):
        assert np.array_equal(getattr(lat, name), getattr(before, name)), name


def test_same_bits_on_one_and_two_threads():
    def go():
        lat = mixed_lattice()
        ev = Ordering(NU, EA, 0.05)
        relax(ev, lat, 650.0, 0.3 / ev.rate_per_s(650.0), 5)
        return lat.disorder.copy()

    old = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = go()
        numba.set_num_threads(2)
        two = go()
    finally:
        numba.set_num_threads(old)
    assert np.array_equal(one, two)


def test_pass_input_checks():
    lat = layered_box(4)
    ev = Ordering(NU, EA, 0.03)
    with pytest.raises(ValueError):
        relax_disorder(lat.phase, lat.disorder, lat.li, lat.tm, 1, 0, np.zeros(3, np.uint64))
    with pytest.raises(TypeError):
        relax_disorder(lat.phase, lat.disorder.astype(np.int16), lat.li, lat.tm, 1, 0, ev.thresholds(700.0, 1.0))
    assert relax_disorder(lat.phase, lat.disorder, lat.li, lat.tm, 1, 0, np.zeros(4, np.uint64)) == 0
