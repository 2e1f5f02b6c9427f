"""Config validation: every mistake names its key, exits 2, writes nothing."""

import pytest

from kmc.config import parse_config
from kmc.errors import UserError

from conftest import run_kmc, tiny_dict

MALFORMED = {
    "unknown_key": (tiny_dict(lattice={"voxel_nm": 50.0, "shape": [24, 24, 24], "voxle": 3}), "lattice.voxle"),
    "negative_ramp_rate": (tiny_dict(program={"segments": [{"ramp_to_C": 300, "rate_C_per_min": -5}]}),
                           "program.segments[0].rate_C_per_min"),
    "particle_larger_than_box": (tiny_dict(particle={"radius_um": 5.0}), "particle.radius_um"),
    "zero_li_to_tm": (tiny_dict(chemistry={"li_to_tm": 0}), "chemistry.li_to_tm"),
    "ramp_target_below_current": (tiny_dict(program={"start_C": 400, "segments": [{"ramp_to_C": 300, "rate_C_per_min": 5}]}),
                                  "program.segments[0].ramp_to_C"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_config_exits_2_names_key_and_writes_nothing(case, write_config, tmp_path):
    data, key = MALFORMED[case]
    cfg = write_config(data)
    out = tmp_path / "run"
    proc = run_kmc("run", cfg, "--out", out, "--quiet")
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert key in lines[0]
    assert "Traceback" not in proc.stderr
    assert not out.exists()
    assert not any(p.name.startswith(".run.partial") for p in tmp_path.iterdir())


def test_every_problem_gets_its_own_line():
    bad = tiny_dict(lattice={"voxel_nm": -1}, chemistry={"li_source": "LiNO3", "li_to_tm": 0})
    with pytest.raises(UserError) as err:
        parse_config(bad)
    keys = " ".join(err.value.lines())
    assert "lattice.voxel_nm" in keys and "chemistry.li_source" in keys and "chemistry.li_to_tm" in keys
    assert len(err.value.lines()) == 3


def test_segment_shape_and_w_spec_errors():
    with pytest.raises(UserError, match=r"segments\[0\].*a segment is one of"):
        parse_config(tiny_dict(program={"segments": [{"hold_h": 1, "rate_C_per_min": 5}]}))
    with pytest.raises(UserError, match="either w_mol_percent or ald_cycles"):
        parse_config(tiny_dict(chemistry={"w_mol_percent": 1.0, "ald_cycles": 10}))
    with pytest.raises(UserError, match="grain_size_nm"):
        parse_config(tiny_dict(particle={"grain_size_nm": 60}))


def test_valid_config_is_frozen_and_resolves_aliases():
    cfg = parse_config(tiny_dict(chemistry={"li_source": "LiOH.H2O", "ald_cycles": 10}))
    assert cfg.chemistry.li_source == "LiOH·H2O"
    assert cfg.chemistry.w_mol_percent_total == pytest.approx(1.1)
    with pytest.raises(Exception):
        cfg.seed = 3


def test_check_command_prints_memory(write_config):
    proc = run_kmc("check", write_config(tiny_dict()))
    assert proc.returncode == 0, proc.stderr
    assert "B/voxel" in proc.stdout and "valid" in proc.stdout
