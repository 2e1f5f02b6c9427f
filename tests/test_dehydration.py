"""Thermal dehydration: first-order kinetics in physical time."""

import math

import numpy as np
import pytest

from kmc import params
from kmc.config import parse_config
from kmc.events.dehydration import Dehydration
from kmc.simulation import Simulation
from kmc.state import Phase

from conftest import tiny_dict


def test_isothermal_conversion_follows_first_order_law(tmp_path):
    """Rock-salt fraction during a 250 °C hold equals 1 - exp(-k t) within 4 binomial sigma."""
    T_C = 250.0
    cfg = parse_config(tiny_dict(lattice={"shape": [40, 40, 40]}, particle={"radius_um": 0.9, "porosity": 0.0},
                                 program={"start_C": T_C, "segments": [{"hold_h": 1.0}]},
                                 output={"snapshot_every_min": 60.0, "snapshot_at_C": [], "observe_every_min": 5.0}))
    sim = Simulation.from_config(cfg)
    n_sites = int((sim.lattice.phase == Phase.HYDROXIDE).sum())
    obs = sim.run(tmp_path / "run").observables()
    k = Dehydration.from_params(params.load("default")).rate_per_s(T_C)
    t, x = obs["time_s"], obs["tm_frac_rock_salt"]
    expected = -np.expm1(-k * t)
    sigma = np.sqrt(expected * (1 - expected) / n_sites)
    assert len(t) == 13
    assert np.all(np.abs(x - expected) <= 4 * sigma + 1e-12)
    assert 0.2 < expected[-1] < 0.999, "the hold must cover a useful part of the conversion"


def test_arrhenius_rate_and_step_probability():
    ev = Dehydration(prefactor_per_s=1.3e10, activation_energy_kJ_per_mol=134.0)
    T_K = 523.15
    assert ev.rate_per_s(250.0) == pytest.approx(1.3e10 * math.exp(-134e3 / (8.314462618 * T_K)))
    assert ev.probability(250.0, 10.0) == pytest.approx(1 - math.exp(-ev.rate_per_s(250.0) * 10.0))


def test_dehydration_conserves_tm_and_counts_water():
    sim = Simulation.from_config(parse_config(tiny_dict()))
    before = sim.lattice.totals()
    sim.run(None)
    assert sim.lattice.totals() == before
    converted_tm = int(sim.lattice.tm[sim.lattice.phase == Phase.ROCK_SALT].sum())
    assert sim.counters["h2o_q"] == converted_tm > 0
