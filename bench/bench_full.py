"""Throughput of a full-physics step on the numba CPU backend.

A step is every event of `kmc.events.build_events` in order (Li source, Li hops, lithiation,
dehydration, recrystallisation, grain growth, ordering, sintering), exactly as
`Simulation.run` applies them. One site-update = one voxel of the box in one step, so
site-updates/s = voxels x steps / seconds. The lattice is a built particle (the quickstart's
particle scaled to the box: radius 0.4 x box edge, 250 nm grains, 12 % pores, LiOH) at two
moments of a calcination:

- 250 °C: Li entering the precursor, lithiation and dehydration competing, hops everywhere;
- 850 °C: after a 5 °C/min ramp from 25 °C has been run (so the lattice holds layered and
  rock salt, the melt has wet the pores), with grain growth, ordering and sintering active.
  The ramp runs with ``numerics.transport_length_factor = 0``: the step control that resolves
  the race of Li transport with dehydration (docs/li_transport.md, section 6) takes steps that
  shrink as (h / R)^2, which made the 256^3 ramp a matter of days (the 128^3 one was still at
  283 °C after 27 000 steps); without it the ramp takes 902-936 steps at any size, and the 850 °C
  microstructure is alike (64^3: 54 912 against 54 971 layered voxels, 5.1 against 5.3 % of the
  face pairs can sinter). The timed steps use the fixed dt below either way.

dt = 10 s per step at 250 °C and 60 s at 850 °C (what the step control allows there with the
default parameters). Prints a table; the best of ``--repeats`` timings is reported (the
machine may be shared), as wall-clock site-updates/s and, separately, per CPU-second (process
CPU time summed over threads: the throughput of a busy core, less disturbed by other jobs),
followed by the share of the slowest events in the step. The 850 °C state costs a whole ramp
to prepare (9 s at 64^3, ~2 min at 128^3, ~10 min at 256^3 on 2 threads here), so ``--cache
DIR`` keeps it as ``DIR/state_<edge>_<T>_f0.npz`` (lattice fields and step; the state is
bit-identical whatever the thread count). Run:

    python bench/bench_full.py                      # 64^3 and 128^3, 1 and 2 threads
    python bench/bench_full.py --sizes 64 128 256 --steps 5 --cache /tmp/kmc-bench
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numba
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kmc.config import parse_config  # noqa: E402
from kmc.simulation import Simulation  # noqa: E402
from kmc.state import bytes_per_voxel  # noqa: E402
from kmc.store import Clock  # noqa: E402


def config(edge: int, ramp_to_C: float) -> dict:
    voxel_nm = 50.0
    return {
        "seed": 1,
        "lattice": {"voxel_nm": voxel_nm, "shape": [edge, edge, edge]},
        "particle": {"radius_um": 0.4 * edge * voxel_nm / 1000.0, "grain_size_nm": 250.0, "aspect_ratio": 2.0,
                     "porosity": 0.12},
        "chemistry": {"li_source": "LiOH", "li_to_tm": 1.05},
        "program": {"segments": [{"ramp_to_C": ramp_to_C, "rate_C_per_min": 5.0}]},
        "output": {"snapshot_every_min": 1e6, "observe_every_min": 1e6},
        "numerics": {"transport_length_factor": 0.0},     # the ramp in ~900 steps (module docstring)
    }


def prepared(edge: int, T_C: float, cache: Path | None = None) -> Simulation:
    """A simulation whose lattice has been heated at 5 °C/min to T_C (only for T_C > 300 °C),
    read from / written to ``cache`` (a folder) when given."""
    sim = Simulation.from_config(parse_config(config(edge, max(T_C, 26.0))))
    if T_C <= 300:
        return sim
    path = None if cache is None else Path(cache) / f"state_{edge}_{T_C:.0f}_f0.npz"
    if path is not None and path.exists():
        with np.load(path) as data:
            for name, arr in sim.lattice.arrays().items():
                arr[...] = data[name]
            sim.clock = Clock(int(data["step"]), float(data["time_s"]), float(data["temperature_C"]))
        return sim
    for _ in sim.steps():
        pass
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, step=sim.clock.step, time_s=sim.clock.time_s, temperature_C=sim.clock.temperature_C,
                 **sim.lattice.arrays())
    return sim


def time_steps(sim: Simulation, T_C: float, dt_s: float, steps: int, repeats: int) -> tuple[float, float, dict]:
    """Best wall time (s) and best CPU time (s, summed over threads) per full-physics step at
    T_C with step length dt_s, and the CPU seconds per step of each event in the best repeat."""
    best_wall = best_cpu = float("inf")
    per_event: dict[str, float] = {}
    step0 = sim.clock.step
    for r in range(repeats):
        lattice = sim.lattice.copy()
        events: dict[str, float] = {}
        t, c = time.perf_counter(), time.process_time()
        for k in range(steps):
            for ev in sim.events:
                th = ev.thresholds(T_C, dt_s)
                if th.any():
                    c_ev = time.process_time()
                    sim.backend.apply(ev, lattice, sim.cfg.seed, step0 + 1000 * r + k, th)
                    events[ev.NAME] = events.get(ev.NAME, 0.0) + (time.process_time() - c_ev) / steps
        wall, cpu = (time.perf_counter() - t) / steps, (time.process_time() - c) / steps
        best_wall = min(best_wall, wall)
        if cpu < best_cpu:
            best_cpu, per_event = cpu, events
    return best_wall, best_cpu, per_event


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[64, 128])
    ap.add_argument("--temperatures", type=float, nargs="+", default=[250.0, 850.0])
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--cache", type=Path, default=None, help="folder for the prepared 850 °C states")
    args = ap.parse_args()
    dts = {250.0: 10.0, 850.0: 60.0}
    print(f"# kmc full-physics step, numba {numba.__version__}, {platform.processor() or platform.machine()}, "
          f"{numba.config.NUMBA_NUM_THREADS} cores visible, {bytes_per_voxel()} B/voxel of state, "
          f"load average at start {os.getloadavg()[0]:.2f}")
    print("# site-updates/s = voxels x steps / seconds (every voxel of the box, once per full-physics step)")
    print("| lattice | T (°C) | dt (s) | threads | ms/step | M site-updates/s | M/s per thread | M/s per CPU-s | "
          "load | largest CPU shares |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for edge in args.sizes:
        for T_C in args.temperatures:
            dt = dts.get(T_C, 60.0)
            sim = prepared(edge, T_C, args.cache)
            for threads in args.threads:
                numba.set_num_threads(threads)
                time_steps(sim, T_C, dt, 1, 1)  # compile / warm up
                sec, cpu, per_event = time_steps(sim, T_C, dt, args.steps, args.repeats)
                rate = edge**3 / sec / 1e6
                total = sum(per_event.values()) or 1.0
                shares = ", ".join(f"{name} {v / total:.0%}" for name, v in
                                   sorted(per_event.items(), key=lambda kv: -kv[1])[:3])
                print(f"| {edge}^3 | {T_C:.0f} | {dt:g} | {threads} | {sec * 1e3:.1f} | {rate:.1f} | "
                      f"{rate / threads:.1f} | {edge**3 / cpu / 1e6:.1f} | {os.getloadavg()[0]:.1f} | {shares} |",
                      flush=True)


if __name__ == "__main__":
    main()
