"""Throughput of the CUDA backend, and the two-step program on a GPU against the CPU backend.

Prints two tables (markdown, for bench/RESULTS.md):

1. Per lattice edge (default 128, 256, 512, 1024; an edge whose lattice does not fit in device
   memory is reported and skipped): site-updates/s of
   - *Potts only*: a full grain-growth sweep per step (attempt probability 1, the event's
     lattice kT) on Voronoi grains of mean radius ~6 voxels, all voxels LAYERED;
   - *full physics* at 250 °C (fresh built particle, dt = 10 s) and at 850 °C (after a
     5 °C/min ramp run on the GPU, dt = 60 s): every event of `kmc.events.build_events`
     that has a kernel, in order, plus the per-step phase reduction of the step control;
   one site-update = one voxel of the box in one step (voxels x steps / seconds, as
   bench/bench_full.py and bench/bench_potts.py count), and the device bytes per voxel
   (fields plus per-site scratch, measured from what the backend holds).
2. Wall time of the two-step program (25 °C, 5 °C/min to 250 °C, 6 h hold, 5 °C/min to
   850 °C, 6 h hold) on a built particle of edge ``--program-edge`` (256) on the GPU, written
   to a run store (frames at start and end, observables every 10 min), and the same program
   on the CPU backend (numba, all cores) on a reduced lattice of edge ``--cpu-edge`` (64),
   with the GPU on that reduced lattice too for a like-for-like ratio.

Events without a kernel (``kmc.backends.missing_kernels``; none since sintering has one) would be
left out on both backends and named in the header, so the two sides do the same work. The particle is
bench/bench_full.py's (radius 0.4 x box, 250 nm grains, 12 % pores, LiOH, 50 nm voxels).

Without CuPy or a CUDA device it prints one line saying which and exits with status 2. Run on
a GPU host (docs/cuda.md):

    python bench/bench_gpu.py
    python bench/bench_gpu.py --sizes 128 256 --steps 5 --cpu-edge 0     # quick
"""

from __future__ import annotations

import argparse
import datetime
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kmc import params as param_sets  # noqa: E402
from kmc.backends import CpuBackend, device_problem, missing_kernels  # noqa: E402
from kmc.config import parse_config  # noqa: E402
from kmc.events import EventContext, build_events  # noqa: E402
from kmc.events.grain_growth import DEFAULT_LATTICE_KT, GrainGrowth, boltzmann_thresholds  # noqa: E402
from kmc.simulation import Simulation  # noqa: E402
from kmc.state import Lattice, Phase  # noqa: E402

VOXEL_NM = 50.0
TWO_STEP = [{"ramp_to_C": 250.0, "rate_C_per_min": 5.0}, {"hold_h": 6.0},
            {"ramp_to_C": 850.0, "rate_C_per_min": 5.0}, {"hold_h": 6.0}]


def config(edge: int, segments: list[dict], observe_every_min: float = 1e6) -> dict:
    """bench_full.py's particle in a box of edge ``edge`` voxels, with ``segments`` as program."""
    return {
        "seed": 1,
        "lattice": {"voxel_nm": VOXEL_NM, "shape": [edge, edge, edge]},
        "particle": {"radius_um": 0.4 * edge * VOXEL_NM / 1000.0, "grain_size_nm": 250.0, "aspect_ratio": 2.0,
                     "porosity": 0.12},
        "chemistry": {"li_source": "LiOH", "li_to_tm": 1.05},
        "program": {"segments": segments},
        "output": {"snapshot_every_min": 1e6, "observe_every_min": observe_every_min},
    }


def potts_lattice(edge: int, radius: float = 6.0, seed: int = 0) -> Lattice:
    """LAYERED box with Voronoi grains of mean equivalent radius ~``radius`` voxels, built on a
    grid 4x coarser above 256^3 (then each cell is 4^3 voxels and the seeds are 4x sparser)."""
    from scipy.spatial import cKDTree

    coarse = 4 if edge > 256 else 1
    n = -(-edge // coarse)
    rng = np.random.default_rng(seed)
    n_grains = max(1, round(n**3 / (4.0 / 3.0 * math.pi * (radius / coarse) ** 3)))
    tree = cKDTree(rng.random((n_grains, 3)) * n)
    ids = np.empty((n, n, n), dtype=np.int32)
    yy, xx = np.meshgrid(np.arange(n) + 0.5, np.arange(n) + 0.5, indexing="ij")
    for z in range(n):
        pts = np.column_stack([np.full(yy.size, z + 0.5), yy.ravel(), xx.ravel()])
        ids[z] = (tree.query(pts)[1] + 1).reshape(n, n)
    lat = Lattice.empty((edge, edge, edge))
    lat.phase[...] = int(Phase.LAYERED)
    lat.tm[...] = 64
    if coarse > 1:
        ids = ids.repeat(coarse, 0)[:edge].repeat(coarse, 1)[:, :edge].repeat(coarse, 2)[:, :, :edge]
    lat.grain[...] = ids
    return lat


def synchronize() -> None:
    import cupy

    cupy.cuda.Device().synchronize()


def time_potts(backend, lattice: Lattice, steps: int) -> float:
    """Site-updates/s of full Potts sweeps on the device (lattice attached to ``backend``)."""
    from kmc.backends.cuda import plan

    event = GrainGrowth(1.0, 0.0)
    thr = np.r_[np.uint64(2**32), boltzmann_thresholds(DEFAULT_LATTICE_KT)].astype(np.uint64)
    backend.attach(lattice)
    backend.run_plan(plan(event, lattice.shape, 1, 0, thr), ("gg_flips",))  # NVRTC compile, warm-up
    synchronize()
    t = time.perf_counter()
    for k in range(steps):
        backend.run_plan(plan(event, lattice.shape, 1, 1 + k, thr), ("gg_flips",))
    synchronize()
    return lattice.phase.size * steps / (time.perf_counter() - t)


def kernel_events(events) -> tuple:
    """The events of ``events`` that have a CUDA kernel (the same set runs on both backends)."""
    missing = missing_kernels(events)
    return tuple(ev for ev in events if ev.NAME not in missing)


def time_full(backend, lattice: Lattice, events, T_C: float, dt_s: float, steps: int, step0: int) -> float:
    """Site-updates/s of full-physics steps at T_C, dt_s on the attached ``lattice``."""
    def one(step):
        backend.phase_counts(lattice)  # the step control's reduction, as in Simulation
        for ev in events:
            th = ev.thresholds(T_C, dt_s)
            if th.any():
                backend.apply(ev, lattice, 1, step, th)

    one(step0)  # warm-up: compiles every module
    synchronize()
    t = time.perf_counter()
    for k in range(steps):
        one(step0 + 1 + k)
    synchronize()
    return lattice.phase.size * steps / (time.perf_counter() - t)


def simulation(edge: int, segments, backend, observe_every_min: float = 1e6, built=None):
    """A Simulation of bench_full's particle on ``backend`` with the events that have kernels.
    built: (lattice, build report) of `kmc.build.build` for this edge, to skip building (the
    lattice is copied)."""
    from kmc.build import build

    cfg = parse_config(config(edge, segments, observe_every_min), source=f"bench_gpu {edge}^3")
    lattice, report = build(cfg) if built is None else (built[0].copy(), built[1])
    sim = TimedSimulation(cfg, lattice, build_report=report.to_dict(), backend=backend)
    keep = kernel_events(sim.events)
    sim.counters = {c: v for c, v in sim.counters.items() if any(c in ev.COUNTERS for ev in keep)}
    sim.events = keep
    return sim


class TimedSimulation(Simulation):
    """A Simulation that adds up the wall time of its observable rows (``observe_s``, s)."""

    observe_s = 0.0

    def _row(self):
        t = time.perf_counter()
        row = super()._row()
        self.observe_s += time.perf_counter() - t
        return row


def run_program(edge: int, backend) -> tuple[float, float, int, int]:
    """(wall s, observation s, steps, voxels) of the two-step program on ``backend`` into a store."""
    sim = simulation(edge, TWO_STEP, backend, observe_every_min=10.0)
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        sim.run(Path(tmp) / "run")
        if backend.name == "cuda":
            synchronize()
        wall = time.perf_counter() - t
    steps = sim.clock.step
    sim.backend.release()
    return wall, sim.observe_s, steps, edge**3


def header(backend) -> None:
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                cwd=Path(__file__).parent, check=False).stdout.strip() or "?"
    except OSError:
        commit = "?"
    import cupy

    names = build_events(param_sets.load("default"), EventContext(voxel_nm=VOXEL_NM, n_precursor_grains=1))
    left_out = missing_kernels(names)
    print(f"# kmc CUDA backend, {backend.describe()}, CUDA runtime {cupy.cuda.runtime.runtimeGetVersion()}, "
          f"host {platform.processor() or platform.machine()} ({os.cpu_count()} cores), "
          f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, commit {commit}")
    print(f"# full physics = {', '.join(ev.NAME for ev in names if ev.NAME not in left_out)}"
          + (f"; left out on every backend (no kernel yet): {', '.join(left_out)}" if left_out else ""))


def throughput_table(backend, sizes, steps: int) -> None:
    from kmc.backends.cuda import CudaBackend

    print("\n| lattice | device GiB | B/voxel on device | Potts M site-updates/s | full 250 °C M/s | "
          "full 850 °C M/s | 850 °C state prepared in (s) |")
    print("|---|---|---|---|---|---|---|")
    for edge in sizes:
        shape = (edge, edge, edge)
        try:
            backend.check_fits(shape)
        except MemoryError as err:
            print(f"| {edge}^3 | {CudaBackend.bytes_needed(shape) / 2**30:.1f} | - | does not fit: {err} | | | |",
                  flush=True)
            continue
        potts = time_potts(backend, potts_lattice(edge), steps)
        backend.release()
        from kmc.build import build

        ramp = [{"ramp_to_C": 850.0, "rate_C_per_min": 5.0}]
        built = build(parse_config(config(edge, ramp), source=f"bench_gpu {edge}^3"))
        sim = simulation(edge, ramp, backend, built=built)
        lattice = sim.lattice  # the attached host lattice (synced: nothing has run yet)
        full_250 = time_full(backend, lattice, sim.events, 250.0, 10.0, steps, 10**6)
        held = backend.memory_report()["lattice"] / lattice.phase.size
        sim = simulation(edge, ramp, backend, built=built)
        t = time.perf_counter()
        for _ in sim.steps():
            pass
        prepared_s = time.perf_counter() - t
        lattice = sim.lattice
        full_850 = time_full(backend, lattice, sim.events, 850.0, 60.0, steps, 10**6)
        backend.release()
        print(f"| {edge}^3 | {backend.bytes_needed(shape) / 2**30:.2f} | {held:.1f} | {potts / 1e6:,.0f} | "
              f"{full_250 / 1e6:,.0f} | {full_850 / 1e6:,.0f} | {prepared_s:.0f} |", flush=True)


def program_table(backend, program_edge: int, cpu_edge: int) -> None:
    print("\n| two-step program | lattice | steps | wall (s) | of which observations (s) | M site-updates/s |")
    print("|---|---|---|---|---|---|")
    runs = [("GPU", program_edge, backend)]
    if cpu_edge:
        runs += [("GPU (reduced)", cpu_edge, backend), ("CPU numba (reduced)", cpu_edge, CpuBackend())]
    for label, edge, be in runs:
        wall, obs, steps, n = run_program(edge, be)
        print(f"| {label} | {edge}^3 | {steps} | {wall:.1f} | {obs:.1f} | {n * steps / wall / 1e6:,.1f} |", flush=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[128, 256, 512, 1024])
    ap.add_argument("--steps", type=int, default=10, help="timed steps per measurement")
    ap.add_argument("--program-edge", type=int, default=256, help="lattice edge of the two-step run on the GPU (0: skip)")
    ap.add_argument("--cpu-edge", type=int, default=64, help="reduced lattice edge of the CPU comparison (0: skip)")
    args = ap.parse_args()
    problem = device_problem()
    if problem is not None:
        print(f"bench_gpu: cannot run: {problem}; the benchmark needs a CUDA device (docs/cuda.md)", file=sys.stderr)
        return 2
    from kmc.backends.cuda import CudaBackend

    backend = CudaBackend()
    header(backend)
    throughput_table(backend, args.sizes, args.steps)
    if args.program_edge:
        program_table(backend, args.program_edge, args.cpu_edge)
    return 0


if __name__ == "__main__":
    sys.exit(main())
