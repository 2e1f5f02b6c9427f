"""Thermal dehydration: first-order kinetics in physical time, Arrhenius shift with heating rate."""

import math

import numpy as np
import pytest

from kmc import params
from kmc.config import parse_config
from kmc.events.arrhenius import GAS_CONSTANT_J_PER_MOL_K
from kmc.events.dehydration import Dehydration
from kmc.simulation import Simulation
from kmc.state import Lattice, Phase

from conftest import tiny_dict

EV = Dehydration.from_params(params.load("default"))


def hydroxide_block(edge: int) -> Lattice:
    lat = Lattice.empty((edge, edge, edge))
    lat.phase[:], lat.tm[:], lat.grain[:] = Phase.HYDROXIDE, 64, 1
    return lat


def test_isothermal_conversion_follows_first_order_law():
    """Rock-salt fraction during a 250 °C hold equals 1 - exp(-k t) within 4 binomial sigma."""
    lat = hydroxide_block(40)
    T_C, dt = 250.0, 300.0
    k = EV.rate_per_s(T_C)
    for step in range(12):
        EV.cpu_pass(lat, 5, step, EV.thresholds(T_C, dt))
        x = (lat.phase == Phase.ROCK_SALT).mean()
        expected = -math.expm1(-k * dt * (step + 1))
        assert abs(x - expected) <= 4 * math.sqrt(expected * (1 - expected) / lat.phase.size)
    assert 0.2 < expected < 0.999, "the hold must cover a useful part of the conversion"


def peak_temperature_K(rate_C_per_min: float, seed: int) -> float:
    """Temperature (K) of the fastest conversion under constant heating (64^3 voxels)."""
    lat = hydroxide_block(64)
    dT = 0.5
    dt = dT / (rate_C_per_min / 60.0)
    T, done, rates = 150.0, [0], []
    step = 0
    while done[-1] < lat.phase.size * 0.999:
        EV.cpu_pass(lat, seed, step, EV.thresholds(T + dT / 2, dt))
        done.append(int((lat.phase == Phase.ROCK_SALT).sum()))
        rates.append((T + dT / 2, done[-1] - done[-2]))
        T += dT
        step += 1
    temps, counts = np.array(rates).T
    i = int(np.argmax(np.convolve(counts, np.ones(5) / 5, mode="same")))
    a, b, _ = np.polyfit(temps[i - 6:i + 7], counts[i - 6:i + 7], 2)  # parabola through the peak
    return -b / (2 * a) + 273.15


def test_kissinger_slope_gives_back_the_activation_energy():
    """ln(beta / Tp^2) against 1/Tp has slope -Ea/R: recover Ea within 10 %."""
    betas = [1.0, 2.0, 5.0, 10.0, 20.0]
    Tp = np.array([peak_temperature_K(b, seed=i) for i, b in enumerate(betas)])
    assert np.all(np.diff(Tp) > 0), "the peak moves up with the heating rate"
    slope = np.polyfit(1.0 / Tp, np.log(np.array(betas) / Tp**2), 1)[0]
    Ea_kJ = -slope * GAS_CONSTANT_J_PER_MOL_K / 1e3
    assert Ea_kJ == pytest.approx(EV.activation_energy_kJ_per_mol, rel=0.10)
    # and the MODEL.md anchor: the 5 °C/min peak lies between 5 % (~230 °C) and 95 % (~300 °C)
    assert 230 + 273.15 < Tp[2] < 300 + 273.15


def test_arrhenius_rate_and_step_probability():
    ev = Dehydration(prefactor_per_s=1.3e10, activation_energy_kJ_per_mol=134.0)
    assert ev.rate_per_s(250.0) == pytest.approx(1.3e10 * math.exp(-134e3 / (8.314462618 * 523.15)))
    assert ev.probability(250.0, 10.0) == pytest.approx(1 - math.exp(-ev.rate_per_s(250.0) * 10.0))


def test_water_released_equals_tm_that_left_the_hydroxide():
    """With LiOH, dehydration and topotactic lithiation each release one H2O per TM."""
    sim = Simulation.from_config(parse_config(tiny_dict()))
    before = sim.lattice.totals()
    sim.run(None)
    assert sim.lattice.totals() == before
    left_hydroxide = before["tm"] - int(sim.lattice.tm[sim.lattice.phase == Phase.HYDROXIDE].sum())
    assert sim.counters["h2o_q"] == left_hydroxide > 0
