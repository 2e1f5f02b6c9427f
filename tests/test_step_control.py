"""The step control keeps capped Li transport ahead of the dehydration it races
(`Simulation._transport_resolving_dt_s`, docs/li_transport.md section 6)."""

import math

import numpy as np
import pytest

from kmc.analysis.radial import core_shell
from kmc.config import parse_config
from kmc.simulation import Simulation
from kmc.state import Phase

from conftest import tiny_dict


def _sim(**numerics) -> Simulation:
    return Simulation.from_config(parse_config(tiny_dict(numerics={"max_dt_s": 30.0, "max_dT_C": 2.0, **numerics})))


def _events(sim):
    by_name = {ev.NAME: ev for ev in sim.events}
    return by_name["li_hop"], by_name["dehydration"]


def test_transport_limit_while_hydroxide_is_present():
    """With hydroxide present the limit is LiHop.max_dt_s over the particle radius within
    1/k(dehydration), F = 3; it is finite and short at 250 °C, tighter at 280 °C, and absent
    without hydroxide, with hydroxide below 1 % of the TM voxels, or with F = 0."""
    sim = _sim()
    hop, dehydration = _events(sim)
    present = np.zeros(256, dtype=np.int64)
    present[int(Phase.HYDROXIDE)] = 10
    present[int(Phase.LAYERED)] = 990          # hydroxide: 1 % of the TM voxels
    radius_m = sim.cfg.particle.radius_um * 1e-6
    dt_250 = sim._transport_resolving_dt_s(250.0, present)
    assert dt_250 == pytest.approx(hop.max_dt_s(250.0, radius_m, 1.0 / dehydration.rate_per_s(250.0), 3.0))
    assert 0.01 < dt_250 < 30.0
    # at dt_250 the capped media still spread Li over 3 radii within 1/k
    for medium, (_, d_eff) in hop.capped_media(250.0, dt_250).items():
        assert math.sqrt(2.0 * d_eff / dehydration.rate_per_s(250.0)) >= 3.0 * radius_m * (1 - 1e-9), medium
    assert sim._transport_resolving_dt_s(280.0, present) < dt_250
    assert sim._transport_resolving_dt_s(250.0, np.zeros(256, dtype=np.int64)) == math.inf
    present[int(Phase.LAYERED)] = 1000          # below 1 %: the last hydroxide does not hold the step
    assert sim._transport_resolving_dt_s(250.0, present) == math.inf
    assert _sim(transport_length_factor=0.0)._transport_resolving_dt_s(250.0, present) == math.inf


def _core_layered_after_hold(**numerics) -> tuple[float, int]:
    """Core layered TM fraction of the tiny particle after 5 °C/min to 250 °C and 1 h there, and the steps it took."""
    data = tiny_dict(program={"start_C": 25.0, "segments": [{"ramp_to_C": 250.0, "rate_C_per_min": 5.0},
                                                            {"hold_h": 1.0}]},
                     numerics={"max_dT_C": 2.0, **numerics})
    sim = Simulation.from_config(parse_config(data))
    steps = sum(1 for _ in sim.steps())
    R = sim.cfg.particle.radius_um * 1000.0 / sim.cfg.lattice.voxel_nm
    return core_shell(sim.lattice, sim.cfg.lattice.voxel_nm, radius=R)["core_tm_frac_layered"], steps


@pytest.mark.slow
def test_transport_limit_converges_the_race_with_dehydration():
    """Tiny particle, 1 h at 250 °C: the default step control gives the core of a run in steps of
    at most 0.25 s (within 0.05), in fewer steps; 60 s steps without the limit lose part of the
    race to the cap (measured: core 0.78 layered against 0.98)."""
    default, n_default = _core_layered_after_hold(max_dt_s=60.0)
    reference, n_reference = _core_layered_after_hold(max_dt_s=0.25, transport_length_factor=0.0)
    capped, _ = _core_layered_after_hold(max_dt_s=60.0, transport_length_factor=0.0)
    assert reference > 0.8
    assert abs(default - reference) < 0.05
    assert n_default < n_reference / 2
    assert capped < reference - 0.1
