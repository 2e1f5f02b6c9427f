"""Batch sweeps (kmc.sweep): expansion, Dask execution, skip/resume/retry, summary, Slurm script."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tomli_w

from conftest import REPO, run_kmc, tiny_dict

pytest.importorskip("distributed")
pytest.importorskip("dask_jobqueue")

from kmc.config import parse_config  # noqa: E402
from kmc.errors import UserError  # noqa: E402
from kmc.simulation import Simulation, lattice_digest  # noqa: E402
from kmc.store import RunStore  # noqa: E402
from kmc.sweep import draw_finding_map, load_sweep, run_name, run_sweep, set_dotted, slurm_cluster  # noqa: E402

#: A 20^3 lattice, ramp to 300-320 °C and a 15-30 min hold: about 2 s a run.
BASE = tiny_dict(lattice={"shape": [20, 20, 20]}, particle={"radius_um": 0.4},
                 output={"snapshot_every_min": 5.0, "snapshot_at_C": [], "observe_every_min": 1.0})
GRID = {"program.segments[1].hold_h": [0.25, 0.5], "program.segments[0].ramp_to_C": [300.0, 320.0]}


def write_sweep(folder: Path, base: dict = BASE, **sweep) -> Path:
    """Write base.toml and sweep.toml (base = "base.toml", then ``sweep``) into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "base.toml").write_text(tomli_w.dumps(base))
    path = folder / "sweep.toml"
    path.write_text(tomli_w.dumps({"base": "base.toml", **sweep}))
    return path


def test_set_dotted_and_names():
    data = {"program": {"segments": [{"ramp_to_C": 300.0}, {"hold_h": 1.0}]}}
    set_dotted(data, "program.segments[1].hold_h", 3.0)
    assert data["program"]["segments"][1]["hold_h"] == 3.0
    for key, says in (("program.segments[2].hold_h", "has 2 entries"), ("program.segmnts", "no key 'segmnts'"),
                      ("program[0]", "not a list"), ("program..x", "dotted key path")):
        with pytest.raises(KeyError, match=says):
            set_dotted(data, key, 1.0)
    assert run_name(3, 12, {"program.segments[1].hold_h": 3.0, "chemistry.li_source": "LiOH·H2O", "seed": 1}) \
        == "r003-hold_h=3-li_source=LiOH_H2O-seed=1"


def test_expansion_grid_zip_replicates(tmp_path):
    path = write_sweep(tmp_path, grid={"program.segments[1].hold_h": [0.25, 0.5]},
                       zip={"program.segments[0].ramp_to_C": [300.0, 320.0], "program.segments[0].rate_C_per_min": [5.0, 10.0]},
                       replicates=2)
    spec, base, runs = load_sweep(path)
    assert len(runs) == 2 * 2 * 2 and spec.retries == 2 and base["seed"] == 7
    assert [r.config.seed for r in runs[:2]] == [7, 8]
    assert runs[2].params == {"program.segments[1].hold_h": 0.25, "program.segments[0].ramp_to_C": 320.0,
                              "program.segments[0].rate_C_per_min": 10.0, "seed": 7}
    assert runs[2].config.program.segments[0].ramp_to_C == 320.0
    assert len({r.name for r in runs}) == len(runs)


def test_example_sweep_hold_expands_and_runs_on_a_tiny_lattice():
    _, _, runs = load_sweep(REPO / "runs" / "sweep_hold.toml")
    assert len(runs) == 9 and runs[4].name == "r004-ramp_to_C=250-hold_h=3-seed=1"
    tiny = runs[0].config.to_dict() | {"lattice": BASE["lattice"], "particle": BASE["particle"]}
    sim = Simulation.from_config(parse_config(tiny), threads=1)
    sim.run()
    assert sim.clock.temperature_C == 850.0


@pytest.fixture(scope="module")
def finished_sweep(tmp_path_factory):
    """A 4-run sweep run once on a 2-worker LocalCluster: (sweep file, DIR, outcome)."""
    folder = tmp_path_factory.mktemp("sweep")
    path = write_sweep(folder, grid=GRID)
    out = folder / "out"
    return path, out, run_sweep(path, out, workers=2, progress=False)


def test_sweep_runs_every_run_once(finished_sweep):
    path, out, first = finished_sweep
    table = first.summary
    assert len(table) == 4 and len(first.executed) == 4 and first.failed == first.resumed == []
    assert list(table.columns[:6]) == ["run", *GRID, "seed", "status", "error"]
    assert (table["status"] == "done").all()
    assert table["temperature_C"].tolist() == [300.0, 320.0, 300.0, 320.0]
    assert len(pd.read_parquet(out / "summary.parquet")) == len(pd.read_csv(out / "summary.csv")) == 4
    assert not (out / "dask-scratch").exists()

    stamps = {p: p.stat().st_mtime_ns for p in (out / "runs").rglob("*") if p.is_file()}
    again = run_sweep(path, out, workers=2, progress=False)
    assert again.executed == [] and len(again.summary) == 4 and (again.summary["status"] == "done").all()
    assert stamps == {p: p.stat().st_mtime_ns for p in (out / "runs").rglob("*") if p.is_file()}

    changed = write_sweep(path.parent / "changed", base=tiny_dict(**{**BASE, "chemistry": {"li_to_tm": 1.1}}), grid=GRID)
    with pytest.raises(UserError, match="made from another config"):
        run_sweep(changed, out, progress=False)


def test_finding_map(finished_sweep, tmp_path):
    _, out, _ = finished_sweep
    png = draw_finding_map(out, "ramp_to_C", "program.segments[1].hold_h", "tm_frac_rock_salt", tmp_path / "map.png")
    assert png.stat().st_size > 1000
    with pytest.raises(UserError, match="a varied parameter"):
        draw_finding_map(out, "rate", "hold_h", "tm_frac_rock_salt", tmp_path / "x.png")


def test_failing_run_is_reported_and_others_finish(tmp_path):
    broken = tmp_path / "broken_params.toml"
    broken.write_text("this is [not TOML")
    path = write_sweep(tmp_path, retries=1, grid={"params": ["default", str(broken)]})
    outcome = run_sweep(path, tmp_path / "out", workers=2, progress=False)
    table = outcome.summary.set_index("run")
    assert table["status"].tolist() == ["done", "failed"] and outcome.failed == [table.index[1]]
    assert "not valid TOML" in table["error"].iloc[1] and table["error"].iloc[0] == ""
    assert np.isnan(table["tm_frac_rock_salt"].iloc[1]) and table["tm_frac_rock_salt"].iloc[0] > 0


def test_dry_run_lists_runs_and_writes_nothing(tmp_path):
    path = write_sweep(tmp_path, grid=GRID)
    res = run_kmc("sweep", path, "--out", tmp_path / "out", "--dry-run")
    assert res.returncode == 0, res.stderr
    assert "r003-hold_h=0.5-ramp_to_C=320-seed=7" in res.stdout and "4 runs" in res.stdout
    assert not (tmp_path / "out").exists()


def test_killed_worker_run_is_retried_and_resumed(tmp_path):
    """SIGKILL the worker running one run mid-way: it resumes elsewhere and ends bit-identical."""
    from distributed import Client, LocalCluster

    base = tiny_dict(lattice={"shape": [20, 20, 20]}, particle={"radius_um": 0.4},
                     output={"snapshot_every_min": 2.0, "snapshot_at_C": [], "observe_every_min": 1.0})
    path = write_sweep(tmp_path, base=base, grid=GRID)
    victim = load_sweep(path)[2][1]
    out = tmp_path / "out"
    killed = {}

    def kill_victim_worker(client, stop):
        while not stop.is_set():
            try:
                store = RunStore.open(out / "runs" / victim.name, mode="r")
            except UserError:
                store = None
            if store is not None and 3 <= store.n_frames and not store.finished:
                for worker, keys in client.processing().items():
                    if any(victim.name in str(key) for key in keys):
                        killed.update(frames=store.n_frames, pid=client.run(os.getpid, workers=[worker])[worker])
                        os.kill(killed["pid"], signal.SIGKILL)
                        return
            time.sleep(0.02)

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
                      local_directory=str(tmp_path / "scratch")) as cluster, Client(cluster) as client:
        stop = threading.Event()
        killer = threading.Thread(target=kill_victim_worker, args=(client, stop), daemon=True)
        killer.start()
        try:
            outcome = run_sweep(path, out, scheduler=cluster.scheduler_address, progress=False)
        finally:
            stop.set()
            killer.join()

    assert killed, "the victim run finished before its worker could be killed"
    assert len(outcome.summary) == 4 and (outcome.summary["status"] == "done").all() and outcome.failed == []
    assert outcome.resumed == [victim.name]
    assert sorted(p.name for p in (out / "runs").iterdir()) == sorted(outcome.summary["run"])
    resumed = RunStore.open(out / "runs" / victim.name, mode="r")
    reference = Simulation.from_config(victim.config, threads=1).run(tmp_path / "reference")
    assert resumed.n_frames == reference.n_frames
    np.testing.assert_array_equal(resumed.coordinate("time_s"), reference.coordinate("time_s"))
    assert lattice_digest(resumed.frame(-1).lattice) == lattice_digest(reference.frame(-1).lattice)
    for column, values in reference.observables().items():
        np.testing.assert_array_equal(resumed.observables()[column], values, err_msg=column)


def test_slurm_job_script_asks_one_gpu_per_worker():
    cluster = slurm_cluster(REPO / "docs" / "jobqueue.yaml")
    try:
        script = cluster.job_script()
    finally:
        cluster.close()
    assert "#SBATCH --gres=gpu:1" in script
    assert "--resources GPU=1" in script and "--nthreads" in script


@pytest.mark.parametrize("sweep, key", [
    ({"retires": 3, "grid": GRID}, "retires"),
    ({"grid": {"program.segmnts[1].hold_h": [1.0]}}, "program.segmnts[1].hold_h"),
    ({"grid": {"program.segments[4].hold_h": [1.0]}}, "program.segments[4].hold_h"),
    ({"grid": {"program.segments[0].ramp_to_C": [300.0, 20.0]}}, "program.segments[0].ramp_to_C"),
    ({"zip": {"program.segments[1].hold_h": [1.0, 2.0], "seed": [1]}}, "zip.seed"),
])
def test_bad_sweep_exits_2_and_writes_nothing(tmp_path, sweep, key):
    path = write_sweep(tmp_path, **sweep)
    res = run_kmc("sweep", path, "--out", tmp_path / "out", "--quiet")
    assert res.returncode == 2, res.stdout + res.stderr
    assert key in res.stderr and "Traceback" not in res.stderr
    assert not (tmp_path / "out").exists()


def test_run_labels_accept_numpy_scalars_from_the_summary_table():
    """The finding map reads parameters back from summary.csv as numpy scalars (int64 too)."""
    import numpy as np

    from kmc.sweep import _label

    assert _label(np.int64(3)) == _label(3) == "3"
    assert _label(np.float64(2.5)) == "2.5" and _label(np.bool_(True)) == "true"
