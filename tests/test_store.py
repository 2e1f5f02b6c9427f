"""Run store: xarray view, crash safety (SIGKILL + resume), thread-count independence."""

import os
import signal
import subprocess
import sys
import time

import numba
import numpy as np
import pytest
import xarray as xr

from kmc.config import parse_config
from kmc.simulation import Simulation, lattice_digest
from kmc.state import Lattice
from kmc.store import Clock, RunStore

from conftest import REPO, run_kmc, tiny_dict

# Long enough (many small steps) that a SIGKILL lands mid-run.
SLOW = tiny_dict(output={"snapshot_every_min": 1.0, "snapshot_at_C": [], "observe_every_min": 0.5},
                 numerics={"max_dt_s": 1.0, "max_dT_C": 0.05})


def store_digest(path) -> dict:
    """Every complete frame's field hashes, its clock and counters, and the observable table."""
    store = RunStore.open(path, mode="r")
    frames = [store.frame(i) for i in range(store.n_frames)]
    obs = store.observables()
    return {
        "frames": [(lattice_digest(f.lattice), f.clock, f.counters) for f in frames],
        "observables": {k: v.tobytes() for k, v in obs.items()},
    }


def assert_same_store(path, reference) -> None:
    """Every frame and every observable row of ``path`` equals ``reference`` bit for bit;
    a difference names the frame or the column and the first rows that differ."""
    got, want = store_digest(path), store_digest(reference)
    assert len(got["frames"]) == len(want["frames"])
    for i, (g, w) in enumerate(zip(got["frames"], want["frames"])):
        assert g == w, f"frame {i} differs"
    a, b = RunStore.open(path, mode="r").observables(), RunStore.open(reference, mode="r").observables()
    assert list(a) == list(b), "observable columns differ"
    for column in b:
        assert a[column].shape == b[column].shape, f"{column}: {a[column].shape[0]} rows, expected {b[column].shape[0]}"
        rows = np.flatnonzero(a[column].view(np.uint64) != b[column].view(np.uint64))
        assert rows.size == 0, f"{column} differs at rows {rows[:5].tolist()}: {a[column][rows[:3]]} != {b[column][rows[:3]]}"
    assert got == want


def test_store_opens_in_xarray_with_dims_and_temperature_coordinate(tmp_path):
    cfg = parse_config(tiny_dict())
    Simulation.from_config(cfg).run(tmp_path / "run")
    ds = xr.open_zarr(tmp_path / "run" / "store.zarr", consolidated=False)
    assert ds["phase"].dims == ("t", "z", "y", "x")
    assert "temperature_C" in ds.coords and "time_s" in ds.coords
    store = RunStore.open(tmp_path / "run", mode="r")
    assert ds.sizes["t"] == store.n_frames
    np.testing.assert_array_equal(ds["temperature_C"].values, store.coordinate("temperature_C"))
    np.testing.assert_array_equal(ds["tm"].isel(t=-1).values, store.frame(-1).lattice.tm)
    assert store.attrs["config"]["seed"] == cfg.seed
    assert (tmp_path / "run" / "observables.csv").read_text().count("\n") == store.n_rows + 1


def test_sigkill_then_resume_is_bit_identical_to_uninterrupted(tmp_path, write_config):
    cfg_path = write_config(SLOW)
    reference = tmp_path / "reference"
    proc = run_kmc("run", cfg_path, "--out", reference, "--quiet", "--no-picture")
    assert proc.returncode == 0, proc.stderr
    total = RunStore.open(reference, mode="r").n_frames

    crashed = tmp_path / "crashed"
    env = dict(os.environ, PYTHONPATH=str(REPO))
    child = subprocess.Popen([sys.executable, "-m", "kmc", "run", str(cfg_path), "--out", str(crashed), "--quiet",
                              "--no-picture"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300  # generous: a loaded machine compiles and steps slowly
    while time.time() < deadline:
        if (crashed / "store.zarr" / "zarr.json").exists() and RunStore.open(crashed, mode="r").n_frames >= 3:
            break
        time.sleep(0.01)
    child.send_signal(signal.SIGKILL)
    child.wait()
    killed_at = RunStore.open(crashed, mode="r").n_frames
    assert 3 <= killed_at < total, f"the kill must land mid-run: {killed_at} of {total} frames"
    assert not RunStore.open(crashed, mode="r").finished

    proc = run_kmc("run", "--resume", crashed, "--quiet", "--no-picture")
    assert proc.returncode == 0, proc.stderr
    assert RunStore.open(crashed, mode="r").finished
    assert_same_store(crashed, reference)


def test_trim_removes_a_half_written_frame(tmp_path):
    cfg = parse_config(tiny_dict())
    Simulation.from_config(cfg).run(tmp_path / "run")
    store = RunStore.open(tmp_path / "run")
    n = store.n_frames
    # simulate a crash after the chunks of frame n but before its marker
    junk = Lattice.empty(store.frame(0).lattice.shape)
    junk.phase[:] = 99
    for name, arr in junk.arrays().items():
        store.group[name].resize((n + 1, *arr.shape))
        store.group[name][n] = arr
    assert store.group["phase"].shape[0] == n + 1
    assert store.trim() == n
    assert store.group["phase"].shape[0] == n
    assert not (tmp_path / "run" / "store.zarr" / "phase" / "c" / str(n)).exists()


def test_the_completion_marker_is_one_write(tmp_path, monkeypatch):
    """A frame's marker (frame count and row count) is one write of the group's zarr.json: a
    crash (here: an exception) at any later write of it cannot leave a frame counted
    without its observable rows, which a resumed run would then lose."""
    import zarr.storage

    lattice = Lattice.empty((4, 5, 6))
    store = RunStore.create(tmp_path / "run", shape=lattice.shape, counters=("h2o_q",), attrs={})
    row = {"step": 0.0, "time_s": 0.0}
    store.append_frame(lattice, Clock(0, 0.0, 25.0), {"h2o_q": 0}, [row])

    real_set = zarr.storage.LocalStore.set
    marker_writes = []

    async def crash_after_first_marker_write(self, key, value):
        if key == "zarr.json":
            marker_writes.append(key)
            if len(marker_writes) > 1:
                raise RuntimeError("crash between two writes of the marker")
        return await real_set(self, key, value)

    monkeypatch.setattr(zarr.storage.LocalStore, "set", crash_after_first_marker_write)
    store.append_frame(lattice, Clock(1, 60.0, 30.0), {"h2o_q": 1}, [row, row])
    monkeypatch.undo()
    assert len(marker_writes) == 1
    reopened = RunStore.open(tmp_path / "run")
    assert (reopened.n_frames, reopened.n_rows) == (2, 3)


def test_one_and_two_threads_give_identical_stores(tmp_path):
    cfg = parse_config(tiny_dict())
    before = numba.get_num_threads()
    try:
        for threads in (1, 2):
            Simulation.from_config(cfg, threads=threads).run(tmp_path / f"t{threads}")
    finally:
        numba.set_num_threads(before)
    assert_same_store(tmp_path / "t1", tmp_path / "t2")


def test_existing_out_dir_is_refused_and_untouched(tmp_path, write_config):
    out = tmp_path / "run"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    proc = run_kmc("run", write_config(tiny_dict()), "--out", out, "--quiet")
    assert proc.returncode == 2
    assert "--out" in proc.stderr and "Traceback" not in proc.stderr
    assert sorted(p.name for p in out.iterdir()) == ["keep.txt"]


def test_info_summarises_a_run(tmp_path, write_config):
    out = tmp_path / "run"
    assert run_kmc("run", write_config(tiny_dict()), "--out", out, "--quiet", "--no-picture").returncode == 0
    proc = run_kmc("info", out)
    assert proc.returncode == 0, proc.stderr
    assert "B/voxel" in proc.stdout and "finished" in proc.stdout and "rock salt" in proc.stdout
    assert run_kmc("info", tmp_path / "nothing").returncode == 2
