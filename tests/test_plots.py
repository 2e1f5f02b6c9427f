"""`kmc analyze` figures and the matplotlib cross-section (always tested: no pyvista needed)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from conftest import REPO, run_kmc, tiny_dict

# Until kmc/cli.py registers kmc.commands, run the commands through a shim that adds them.
_SHIM = ("import sys\n"
         "from kmc.cli import cli, main\n"
         "from kmc.commands import analyze_command, render_command, export_command\n"
         "for c in (analyze_command, render_command, export_command):\n"
         "    cli.commands.setdefault(c.name, c)\n"
         "sys.exit(main(sys.argv[1:]))\n")


def kmc(*args, timeout=300) -> subprocess.CompletedProcess:
    """Run ``kmc ARGS`` as a user would (through the shim when cli.py lacks the commands)."""
    from kmc.cli import cli

    if all(name in cli.commands for name in ("analyze", "render", "export")):
        return run_kmc(*args, timeout=timeout)
    import os

    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-c", _SHIM, *map(str, args)], env=env, capture_output=True,
                          text=True, timeout=timeout)


_RUNS: dict = {}


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """A 20³ tiny run, simulated once per session (test_render imports this fixture)."""
    if "run" not in _RUNS:
        from kmc.config import parse_config
        from kmc.simulation import Simulation

        out = tmp_path_factory.mktemp("plots") / "run"
        Simulation.from_config(parse_config(tiny_dict(lattice={"shape": [20, 20, 20]}))).run(out)
        _RUNS["run"] = out
    return _RUNS["run"]


@pytest.fixture(scope="module")
def analysed(tiny_run):
    res = kmc("analyze", tiny_run, "--quiet")
    assert res.returncode == 0, res.stderr
    return tiny_run, res


def _not_blank(png) -> np.ndarray:
    import matplotlib.image as mpimg

    img = mpimg.imread(png)
    assert img.ndim == 3 and img.shape[0] > 100 and img.shape[1] > 100
    assert float(img[..., :3].std()) > 0.02, f"{png} looks blank"
    return img


def test_analyze_writes_csvs_and_pngs(analysed):
    run, res = analysed
    a = run / "analysis"
    for name in ("observables.csv", "radial.csv", "tga.csv", "xrd.csv", "distributions.csv"):
        assert (a / name).is_file(), name
    for name in ("phase_fractions.png", "xrd_map.png", "radial_profiles.png", "tga.png", "size_distributions.png"):
        assert (a / name).is_file(), name
        assert f"picture: {a / name}" in res.stdout
        _not_blank(a / name)


def test_analyze_at_c_and_replot(analysed):
    run, _ = analysed
    res = kmc("analyze", run, "--replot", "--at-C", "230", "--at-C", "320")
    assert res.returncode == 0, res.stderr
    from visualize.plots import frames_at, read_csv

    obs = read_csv(run / "analysis" / "observables.csv")
    frames = frames_at(obs, [230.0, 320.0])
    assert len(frames) == 2 and frames[0] < frames[1]
    assert frames_at(obs, None)[-1] == int(obs["frame"][-1])     # default ends with the last frame


@pytest.mark.parametrize("args, key", [
    (["--at-C", "900"], "--at-C"),
    (["--x", "hold_h"], "--x"),
])
def test_analyze_bad_input_exits_2(analysed, args, key):
    run, _ = analysed
    res = kmc("analyze", run, "--replot", *args)
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("kmc: error: ") and key in lines[0]


def test_analyze_not_a_run_dir(tmp_path):
    res = kmc("analyze", tmp_path)
    assert res.returncode == 2
    assert "DIR" in res.stderr or "run directory" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1


def test_analyze_sweep_dir_needs_keys(tmp_path):
    (tmp_path / "summary.csv").write_text("run,program.hold_h,seed,status,error,tm_frac_layered\nr0,1,1,done,,0.5\n")
    res = kmc("analyze", tmp_path)
    assert res.returncode == 2
    assert "--x" in res.stderr and "program.hold_h" in res.stderr and "tm_frac_layered" in res.stderr


def test_cross_section_has_phase_colours(tiny_run, tmp_path):
    from kmc.store import RunStore
    from visualize.sections import (
        PHASE_COLOURS,
        cross_section_image,
        plot_cross_section,
    )

    fr = RunStore.open(tiny_run, mode="r").frame(-1)
    png = plot_cross_section(fr.lattice, 50.0, tmp_path / "cs.png", title="t")
    _not_blank(png)
    img = cross_section_image(fr.lattice, 50.0)
    assert img.dtype == np.uint8 and img.shape[2] == 3
    z = fr.lattice.shape[0] // 2
    present = {int(p) for p in np.unique(fr.lattice.phase[z])} - {0}
    assert present
    for p in present:
        rgb = np.array([int(PHASE_COLOURS[p].lstrip("#")[i:i + 2], 16) for i in (0, 2, 4)])
        assert (np.abs(img.astype(int) - rgb).max(axis=2) <= 12).sum() > 20, f"phase {p} colour missing"


def test_heating_end():
    from visualize.plots import heating_end

    assert heating_end(np.array([25.0, 100, 300, 300, 200, 100])) == 4
    assert heating_end(np.array([25.0, 100])) == 2
