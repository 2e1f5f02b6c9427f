"""Exact invariants of the full physics, on random small lattices and programs (hypothesis).

Li and TM quanta never leave the lattice (no event releases Li to the gas), so both totals
stay constant at every step; the water counter equals the TM that left the hydroxide plus
one H2O per Li of the hydrate that dehydrated.
"""

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kmc.config import parse_config
from kmc.simulation import Simulation
from kmc.state import Phase

programs = st.lists(
    st.one_of(
        st.builds(lambda T, r: {"ramp_to_C": T, "rate_C_per_min": r}, st.sampled_from([300.0, 480.0, 700.0, 900.0]),
                  st.sampled_from([5.0, 20.0, 50.0])),
        st.builds(lambda h: {"hold_h": h}, st.sampled_from([0.05, 0.2])),
    ),
    min_size=1, max_size=3,
)


def monotone(segments: list[dict]) -> list[dict]:
    """Keep ramps that go up from the temperature reached so far (the config refuses others)."""
    out, T = [], 25.0
    for seg in segments:
        if "ramp_to_C" in seg:
            if seg["ramp_to_C"] <= T:
                continue
            T = seg["ramp_to_C"]
        out.append(seg)
    return out or [{"ramp_to_C": 300.0, "rate_C_per_min": 20.0}]


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32), edge=st.integers(12, 18), source=st.sampled_from(["LiOH", "LiOH·H2O", "Li2CO3"]),
       li_to_tm=st.sampled_from([0.9, 1.05, 1.2]), porosity=st.sampled_from([0.0, 0.15]),
       w=st.sampled_from([0.0, 1.0]), segments=programs)
def test_li_and_tm_are_conserved_at_every_step(seed, edge, source, li_to_tm, porosity, w, segments):
    cfg = parse_config({
        "seed": seed,
        "lattice": {"voxel_nm": 50.0, "shape": [edge, edge + 1, edge]},
        "particle": {"radius_um": 0.25, "grain_size_nm": 120.0, "aspect_ratio": 2.0, "porosity": porosity},
        "chemistry": {"li_source": source, "li_to_tm": li_to_tm, "w_mol_percent": w},
        "program": {"segments": monotone(segments)},
        "numerics": {"max_dt_s": 120.0, "max_dT_C": 10.0},
    })
    sim = Simulation.from_config(cfg)
    li0 = sim.lattice.totals()["li"]
    tm0 = sim.lattice.totals()["tm"]
    hydrate_li0 = int(sim.lattice.li[sim.lattice.phase == Phase.LIOH_H2O].sum())
    for _ in sim.steps():
        assert sim.lattice.totals() == {"li": li0, "tm": tm0}
    lat = sim.lattice
    assert lat.li.max() <= 255 and lat.tm.max() <= 255
    left_hydroxide = tm0 - int(lat.tm[lat.phase == Phase.HYDROXIDE].sum())
    hydrate_gone = hydrate_li0 - int(lat.li[lat.phase == Phase.LIOH_H2O].sum())
    if source == "LiOH·H2O":
        assert hydrate_gone >= 0
    assert sim.counters["h2o_q"] == left_hydroxide + (hydrate_gone if source == "LiOH·H2O" else 0)
    assert np.all(lat.grain[lat.phase == Phase.PORE] == 0)
