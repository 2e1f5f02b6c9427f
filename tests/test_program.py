"""Temperature program: exact T(t), t(T) and durations."""

import pytest

from kmc.config import ProgramConfig
from kmc.program import TemperatureProgram


def program(*segments, start_C=25.0):
    return TemperatureProgram(ProgramConfig(start_C=start_C, segments=segments))


def test_two_step_program_durations_and_temperatures():
    p = program({"ramp_to_C": 250, "rate_C_per_min": 5}, {"hold_h": 6}, {"ramp_to_C": 850, "rate_C_per_min": 5}, {"hold_h": 6})
    ramp1 = (250 - 25) / 5 * 60
    ramp2 = (850 - 250) / 5 * 60
    assert p.duration_s == pytest.approx(ramp1 + 6 * 3600 + ramp2 + 6 * 3600)
    assert p.T_C(0) == 25
    assert p.T_C(ramp1 / 2) == pytest.approx(137.5)
    assert p.T_C(ramp1 + 3 * 3600) == 250
    assert p.T_C(ramp1 + 6 * 3600 + ramp2 / 2) == pytest.approx(550)
    assert p.T_C(p.duration_s + 10) == 850
    assert p.first_time_at(550) == pytest.approx(ramp1 + 6 * 3600 + ramp2 / 2)
    assert p.first_time_at(250) == pytest.approx(ramp1)
    assert p.first_time_at(900) is None


def test_t_of_T_inverts_T_of_t_on_ramps_and_cools():
    p = program({"ramp_to_C": 700, "rate_C_per_min": 3}, {"cool_to_C": 100, "rate_C_per_min": 7})
    for T in (30.0, 123.4, 699.0):
        assert p.T_C(p.first_time_at(T)) == pytest.approx(T)
    t_cool = p.pieces[1].t0_s + (700 - 400) / 7 * 60
    assert p.T_C(t_cool) == pytest.approx(400)


def test_quench_is_instantaneous():
    p = program({"ramp_to_C": 300, "rate_C_per_min": 5}, {"quench_to_C": 25})
    end = (300 - 25) / 5 * 60
    assert p.duration_s == pytest.approx(end)
    assert p.T_C(end - 1e-6) == pytest.approx(300, abs=1e-4)
    assert p.T_C(end) == 25
    assert end in p.breakpoints_s()
