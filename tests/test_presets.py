"""Every file in runs/ is executable: run configs run on a tiny lattice, sweep files expand and
validate every variant (SPPARKS' rotted examples are the warning)."""

import tomllib
from pathlib import Path

import pytest

from kmc.config import parse_config
from kmc.simulation import Simulation
from kmc.sweep import load_sweep

RUNS = sorted((Path(__file__).resolve().parents[1] / "runs").glob("*.toml"))


def shrink(data: dict) -> dict:
    """The same run on a 16^3 lattice (coarser voxels keep the particle and grains in the box), in
    long steps: the test is that every preset is a valid, runnable, conserving config."""
    data = dict(data)
    particle = dict(data.get("particle", {}))
    radius = particle.get("radius_um", 1.0)
    voxel_nm = max(radius * 2000.0 / 14.0, 1.0)
    data["lattice"] = {"voxel_nm": voxel_nm, "shape": [16, 16, 16]}
    particle["grain_size_nm"] = max(particle.get("grain_size_nm", 300.0), 2.5 * voxel_nm)
    particle["pre_dehydrated_shell_nm"] = min(particle.get("pre_dehydrated_shell_nm", 0.0), radius * 300.0)
    data["particle"] = particle
    data["numerics"] = {**data.get("numerics", {}), "max_dt_s": 600.0, "max_dT_C": 5.0}   # long holds in few steps
    return data


@pytest.mark.parametrize("path", RUNS, ids=[p.name for p in RUNS])
def test_preset_runs_on_a_tiny_lattice(path):
    data = tomllib.loads(path.read_text())
    if "base" in data:                       # a sweep file
        spec, base, runs = load_sweep(path)
        assert runs, f"{path.name} expands to no runs"
        return
    cfg = parse_config(shrink(data), source=path.name)
    sim = Simulation.from_config(cfg)
    before = sim.lattice.totals()
    sim.run(None)
    assert sim.clock.time_s == pytest.approx(sim.program.duration_s)
    assert sim.lattice.totals() == before
