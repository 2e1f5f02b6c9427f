"""kmc validate: the criteria as pure functions (each can hold and each can fail), the CLI's
errors, and a small end-to-end run on a 16^3 lattice."""

import math

import pytest

from kmc.cli import main
from kmc.validation import criteria as C
from kmc.validation.evaluate import evaluate
from kmc.validation.measure import frame_at
from kmc.validation.plan import VALIDATION_RUNS, Size, config_for, reduce, preset_data


def frame(**kw):
    base = {"temperature_C": 300.0, "heating": True, "tm_frac_hydroxide": 0.1, "tm_frac_layered": 0.5,
            "shell_minus_core_tm_frac_layered": 0.5, "core_porosity": 0.4, "shell_porosity": 0.2,
            "void_volume_um3": 0.1, "void_radius_nm": 300.0, "intragranular_pore_count": 10,
            "core_tm_frac_layered": 0.95, "grain_count": 100, "grain_d_mean_nm": 200.0, "crystallite_size_nm": 200.0,
            "li_ni_disorder": 0.2}
    base.update(kw)
    return base


def test_onset_interpolates_on_the_first_heating_only():
    T = [100, 200, 300, 400, 300]
    assert C.onset_C(T, [0.0, 0.0, 0.04, 0.5, 0.9]) == pytest.approx(250.0)
    assert math.isnan(C.onset_C(T, [0.0, 0.0, 0.0, 0.01, 0.9]))     # only after the top: not an onset on heating
    assert C.onset_C(T, [0.5, 0.5, 0.5, 0.5, 0.5]) == 100


@pytest.mark.parametrize("lay, rs, holds", [(200, 220, True), (225, 215, False), (170, 220, False), (200, 250, False),
                                            (None, 220, None)])
def test_lioh_order(lay, rs, holds):
    assert C.lioh_order(lay, rs).holds is holds


@pytest.mark.parametrize("lioh, lay, rs, holds", [(200, 600, 220, True), (200, 280, 220, False), (200, 600, 650, False),
                                                  (200, math.nan, 220, False)])
def test_li2co3_order(lioh, lay, rs, holds):
    assert C.li2co3_order(lioh, lay, rs).holds is holds


def test_core_shell_300_each_part_can_fail():
    assert C.core_shell_300(frame()).holds is True
    assert C.core_shell_300(frame(shell_minus_core_tm_frac_layered=0.3)).holds is False
    assert C.core_shell_300(frame(core_porosity=0.1)).holds is False
    assert C.core_shell_300(frame(tm_frac_hydroxide=0.0)).holds is False
    assert C.core_shell_300(None).holds is None


def test_healed_500():
    assert C.healed_500(frame(), frame(shell_minus_core_tm_frac_layered=0.2)).holds is True
    assert C.healed_500(frame(), frame(shell_minus_core_tm_frac_layered=0.6)).holds is False
    # no core-shell at 300 °C: nothing healed, even though the difference shrank
    assert C.healed_500(frame(shell_minus_core_tm_frac_layered=0.04),
                        frame(shell_minus_core_tm_frac_layered=0.03)).holds is False


def test_two_step_needs_both_reductions():
    direct = frame(void_volume_um3=0.1, intragranular_pore_count=10)
    assert C.two_step(direct, frame(void_volume_um3=0.05, intragranular_pore_count=5)).holds is True
    assert C.two_step(direct, frame(void_volume_um3=0.08, intragranular_pore_count=5)).holds is False
    assert C.two_step(direct, frame(void_volume_um3=0.05, intragranular_pore_count=9)).holds is False
    no_void = frame(void_volume_um3=0.0, intragranular_pore_count=10)
    assert C.two_step(no_void, frame(void_volume_um3=0.0, intragranular_pore_count=0)).holds is False
    unresolved = frame(void_volume_um3=0.1, intragranular_pore_count=C.MIN_RESOLVED_NANOPORES - 1)
    assert C.two_step(unresolved, frame(void_volume_um3=0.0, intragranular_pore_count=0)).holds is False


def test_disorder_peak():
    T = [200, 250, 300, 400, 600, 850]
    f = [0.01, 0.1, 0.3, 0.4, 0.9, 1.0]
    assert C.disorder_peak(T, [0.9, 0.3, 0.35, 0.3, 0.2, 0.05], f).holds is True    # 200 °C skipped: no layered
    assert C.disorder_peak(T, [0.1, 0.3, 0.35, 0.3, 0.4, 0.05], f).holds is False   # peak at 600 °C
    assert C.disorder_peak(T, [0.1, 0.2, 0.35, 0.3, 0.2, 0.36], f).holds is False   # rises again at the end
    assert C.disorder_peak([], [], []).holds is None


def test_coating_criteria():
    geo = {"core_porosity": 0.25, "shell_porosity": 0.2, "void_inscribed_radius_shell_nm": 250.0}
    bare = frame(core_tm_frac_layered=0.5, void_inscribed_radius_core_nm=900.0, grain_count=100, grain_d_mean_nm=200.0, **geo)
    assert C.coated_centre(bare, frame(core_tm_frac_layered=0.95, void_inscribed_radius_core_nm=340.0, **geo), "x").holds is True
    assert C.coated_centre(bare, frame(core_tm_frac_layered=0.95, void_inscribed_radius_core_nm=350.0, **geo), "x").holds is False
    assert C.coated_centre(bare, frame(core_tm_frac_layered=0.80, void_inscribed_radius_core_nm=250.0, **geo), "x").holds is False
    # a cavity in the core no wider than the shell's: not a central void, however large
    wide_shell = dict(geo, void_inscribed_radius_shell_nm=900.0)
    assert C.coated_centre(bare, frame(core_tm_frac_layered=0.95, void_inscribed_radius_core_nm=900.0, **wide_shell), "x").holds is True
    porous_core = dict(geo, core_porosity=0.2 + C.CORE_POROSITY_EXCESS_MAX + 0.01)         # an open void shows as a porous core
    assert C.coated_centre(bare, frame(core_tm_frac_layered=0.95, void_inscribed_radius_core_nm=250.0, **porous_core), "x").holds is False
    both = C.coated_centre(frame(core_tm_frac_layered=0.95, void_inscribed_radius_core_nm=250.0, **geo),
                           frame(core_tm_frac_layered=0.95, void_inscribed_radius_core_nm=250.0, **geo), "x")
    assert both.holds is True and "not reproduced" in both.note
    assert C.coated_grains_500(bare, frame(grain_count=150, crystallite_size_nm=150.0), "x").holds is True
    assert C.coated_grains_500(bare, frame(grain_count=100, crystallite_size_nm=150.0), "x").holds is False
    assert C.coated_grains_500(bare, frame(grain_count=150, crystallite_size_nm=250.0), "x").holds is False
    # the number mean does not decide: remnants of consumed precursor grains make it small
    assert C.coated_grains_500(bare, frame(grain_count=150, crystallite_size_nm=250.0, grain_d_mean_nm=100.0), "x").holds is False
    assert C.coated_grains_500(bare, frame(grain_count=150, crystallite_size_nm=math.nan), "x").holds is None


def test_two_step_diagnosis_tells_a_dehydrated_core_from_one_without_li():
    """The report says why the 250 °C hold leaves a rock-salt core: Li arrived (core Li/TM >= 0.8)
    but too late, or it stayed in the source, or the source is used up without reaching it."""
    from kmc.validation.evaluate import _two_step_hold
    first = frame(time_h=1.0, core_tm_frac_hydroxide=0.55, core_tm_frac_rock_salt=0.45, core_tm_frac_layered=0.0,
                  core_li_to_tm=0.05)
    late = frame(time_h=6.0, core_tm_frac_hydroxide=0.0, core_tm_frac_rock_salt=0.75, core_tm_frac_layered=0.25,
                 core_li_to_tm=0.9, tm_frac_layered=0.71, li_frac_lioh=0.05)
    said = _two_step_hold(first, late)
    assert "Li does reach the core: its Li/TM is 0.05 at 1.0 h and 0.90" in said
    assert "of its 55% hydroxide, 25% of the core's TM turns layered and 30% rock salt" in said
    starved = dict(late, core_li_to_tm=0.3)
    assert "Li transport into it" in _two_step_hold(first, starved)
    assert "has not left the source" in _two_step_hold(first, dict(starved, li_frac_lioh=0.5))
    done = dict(late, core_tm_frac_rock_salt=0.1, core_tm_frac_layered=0.9)
    assert _two_step_hold(first, done).startswith(" After the 250 °C hold (6.0 h) the core is 90% layered")


def test_coating_diagnosis_says_when_li_reaches_the_bare_centre_before_coarsening():
    from kmc.validation.evaluate import _bare_centre_race
    heat = [frame(time_h=t, temperature_C=T, grain_count=n, core_li_to_tm=li)
            for t, T, n, li in ((0.0, 25.0, 8000, 0.0), (1.0, 325.0, 8000, 0.45), (1.25, 400.0, 8000, 0.69),
                                (1.6, 500.0, 6900, 0.82), (1.9, 600.0, 1800, 0.91))]
    said = _bare_centre_race(heat)
    assert "Li/TM reaches 0.69 by 400 °C, and its grain count halves (8000 -> 1800) only by 600 °C" in said
    early = [dict(f, grain_count=3000) if f["temperature_C"] >= 325.0 else f for f in heat]
    assert _bare_centre_race(early) == ""            # coarsened before Li arrived: the race went the other way
    assert _bare_centre_race([dict(f, core_li_to_tm=0.1) for f in heat]) == ""


def test_diagnosis_says_why_the_bare_particle_meets_the_coated_centre_test():
    from kmc.validation.evaluate import diagnose
    end = frame(heating=False, core_tm_frac_layered=1.0, core_porosity=0.23, shell_porosity=0.24, core_li_to_tm=1.0,
                void_inscribed_radius_core_nm=253.0, void_inscribed_radius_shell_nm=268.0)
    measured = {"ncm90_bare": {"frames": [end]}, "ncm90_ald10": {"frames": [end]}}
    said = diagnose(measured, [C.coated_centre(end, end, "ald10")])
    assert any("finding 5's contrast" in line and "core / shell 253 / 268 nm" in line for line in said)
    starved = frame(heating=False, core_tm_frac_layered=0.5, core_porosity=0.4, shell_porosity=0.2,
                    void_inscribed_radius_core_nm=900.0, void_inscribed_radius_shell_nm=268.0)
    measured["ncm90_bare"] = {"frames": [starved]}
    assert not any("finding 5" in line for line in diagnose(measured, [C.coated_centre(starved, end, "ald10")]))


def test_predehydrated():
    bare = [frame(shell_minus_core_tm_frac_layered=0.2), frame(temperature_C=700.0, shell_minus_core_tm_frac_layered=0.9)]
    # a rock-salt shell around a layered core is not the faster dense shell of finding 7
    assert C.predehydrated(bare, [frame(shell_minus_core_tm_frac_layered=-0.4)]).holds is False
    assert C.predehydrated(bare, [frame(shell_minus_core_tm_frac_layered=0.4)]).holds is True
    assert C.predehydrated(bare, [frame(shell_minus_core_tm_frac_layered=0.1)]).holds is False
    assert C.predehydrated(bare, [frame(shell_minus_core_tm_frac_layered=0.2 + C.PREDEHYDRATED_MIN_EXCESS / 2)]).holds is False


def test_evaluate_without_runs_evaluates_nothing():
    verdicts = evaluate({})
    assert verdicts and all(v.holds is None for v in verdicts)


def test_frame_at_takes_the_heating_frame():
    frames = [frame(temperature_C=300.0, heating=False, frame=2), frame(temperature_C=300.4, frame=1)]
    assert frame_at(frames, 300.0)["frame"] == 1
    assert frame_at(frames, 500.0) is None


def test_every_validation_preset_reduces_to_a_valid_config():
    for name in VALIDATION_RUNS:
        cfg = config_for(name, Size.parse(True, None), seed=3)
        assert cfg.lattice.shape == (64, 64, 64) and cfg.seed == 3
        full = preset_data(name)
        full_cfg = config_for(name, Size.parse(False, None), seed=3)
        assert cfg.program == full_cfg.program
        # the particle keeps its size (the Li race goes with its radius squared); the voxels grow
        assert cfg.particle == full_cfg.particle
        assert cfg.particle.radius_um * 1000.0 / cfg.lattice.voxel_nm == pytest.approx(0.875 * 32)
        assert cfg.particle.grain_size_nm >= 2.5 * cfg.lattice.voxel_nm
        r = reduce(full, 16)
        assert r["particle"]["radius_um"] == full["particle"]["radius_um"]
        assert r["particle"]["grain_size_nm"] == pytest.approx(2.5 * r["lattice"]["voxel_nm"])


@pytest.mark.parametrize("args, key", [(["--runs", "nope"], "--runs"), (["--params", "nope"], "params"),
                                       (["--sensitivity", "x"], "--sensitivity"), (["--report", "x.txt"], "--report"),
                                       (["--report-only", "--out", "/nonexistent/dir"], "--out")])
def test_bad_options_exit_2_with_one_line(args, key, capsys, tmp_path):
    code = main(["validate", "--box", "16", "--report", str(tmp_path / "v.md"), *args])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and key in err[0]


def test_validate_end_to_end_on_a_tiny_lattice(tmp_path, capsys):
    report = tmp_path / "docs" / "validation.md"
    args = ["validate", "--box", "16", "--runs", "ncm622_lioh_direct,ncm622_li2co3", "--out", str(tmp_path / "out"),
            "--report", str(report), "--quiet", "--jobs", "2", "--threads", "1"]
    assert main(args) == 0
    text = report.read_text()
    assert "| 1 | 1. With LiOH" in text and "not evaluated" in text
    assert (tmp_path / "docs" / "img" / "validation" / "phases_vs_T.png").is_file()
    assert (tmp_path / "docs" / "img" / "validation" / "lioh_vs_li2co3_300C.png").is_file()
    first = capsys.readouterr().out
    assert main(args) == 0                        # finished runs are reused: same verdicts
    assert capsys.readouterr().out.splitlines()[:-1] == first.splitlines()[:-1]


def test_runs_side_by_side_measure_what_runs_one_after_another_do(tmp_path, capsys):
    import json

    from kmc.validation.plan import Size
    from kmc.validation.runner import run_all

    runs = ("ncm622_lioh_direct", "ncm622_li2co3")
    run_all(tmp_path / "side", Size.parse(False, 16), 5, runs, threads=1, progress=True, jobs=2)
    bar = capsys.readouterr().err
    run_all(tmp_path / "one", Size.parse(False, 16), 5, runs, threads=2, progress=True, jobs=1)
    side, one = (json.loads((tmp_path / d / "measurements.json").read_text()) for d in ("side", "one"))
    assert (side.pop("_meta")["jobs"], one.pop("_meta")["jobs"]) == (2, 1)
    assert side == one and set(side) == set(runs) and side["ncm622_lioh_direct"]["frames"]
    # one bar over both runs in furnace hours (two 14.75 h programs), fed from the worker processes
    assert "2 runs at a time" in bar and "29.5/29.5 furnace h" in bar
    assert "1 run at a time" in capsys.readouterr().err


def test_seed_and_sensitivity_tables_name_what_differs():
    from kmc.validation.report import seed_rows, sensitivity_rows

    a = [C.lioh_order(200, 220), C.core_shell_300(frame())]
    b = [C.lioh_order(200, 220), C.core_shell_300(frame(shell_minus_core_tm_frac_layered=0.1))]
    text = "\n".join(seed_rows(a, b, 1, 2))
    assert "disagree on core_shell_300" in text and "lioh_order" not in text.split("disagree")[1]
    table = "\n".join(sensitivity_rows(a, {"x2": b}))
    assert "| x2 |" in table and "**does not hold**" in table
