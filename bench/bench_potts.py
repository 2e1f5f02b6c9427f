"""Throughput of the grain-growth (Potts) event on the numba CPU backend.

Prints a table: lattice size, microstructure, numba threads, site-updates/s (sites swept per
second: one site-update = one site visited in one of the 8 colour passes of a step, whether
it is skipped as interior, pinned, or attempts a flip), boundary fraction (sites with an
unlike 26-neighbour), attempts/s at boundary sites and bytes of state per voxel.

Every step is a full Potts sweep (attempt probability 1, kT = the event's default lattice kT). Microstructures are
Voronoi tessellations with a given mean grain volume, all voxels LAYERED, no coating, so the
number measures the Potts kernel alone. The best of ``--repeats`` timings is reported (the
machine may be shared). Run:

    python bench/bench_potts.py                 # 64^3 and 128^3
    python bench/bench_potts.py --sizes 64 128 256 --steps 5
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
from scipy.spatial import cKDTree

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kmc.events.grain_growth import DEFAULT_LATTICE_KT as KT
from kmc.events.grain_growth import potts_step
from kmc.state import Phase, bytes_per_voxel


def voronoi_grains(n: int, mean_volume: float, seed: int = 0) -> np.ndarray:
    """int32 (n, n, n): Voronoi grain ids 1..G, G = n^3 / mean_volume random seeds."""
    rng = np.random.default_rng(seed)
    n_grains = max(1, round(n ** 3 / mean_volume))
    seeds = rng.random((n_grains, 3)) * n
    tree = cKDTree(seeds)
    out = np.empty((n, n, n), dtype=np.int32)
    yy, xx = np.meshgrid(np.arange(n) + 0.5, np.arange(n) + 0.5, indexing="ij")
    for z in range(n):  # plane by plane: bounded memory at 256^3
        pts = np.column_stack([np.full(yy.size, z + 0.5), yy.ravel(), xx.ravel()])
        out[z] = (tree.query(pts)[1] + 1).reshape(n, n)
    return out


def boundary_fraction(grain: np.ndarray) -> float:
    """Fraction of sites with at least one in-box 26-neighbour of another grain."""
    n = grain.shape
    unlike = np.zeros(n, dtype=bool)
    for dz in (-1, 0, 1):
        for dy in (-1, 0, 1):
            for dx in (-1, 0, 1):
                if (dz, dy, dx) == (0, 0, 0):
                    continue
                src = tuple(slice(max(0, -d), s - max(0, d)) for d, s in zip((dz, dy, dx), n))
                dst = tuple(slice(max(0, d), s - max(0, -d)) for d, s in zip((dz, dy, dx), n))
                unlike[src] |= grain[src] != grain[dst]
    return float(unlike.mean())


def measure(grain0: np.ndarray, threads: int, steps: int, repeats: int, kT: float = KT) -> tuple[float, float]:
    """Best wall-clock and best CPU-time site-updates/s over ``repeats`` runs of ``steps``
    steps (each repeat restarts from grain0). CPU time is summed over threads, so the second
    number is the throughput per busy core; on a shared machine it is the less disturbed one."""
    numba.set_num_threads(threads)
    phase = np.full(grain0.shape, int(Phase.LAYERED), dtype=np.uint8)
    flags = np.zeros(grain0.shape, dtype=np.uint8)
    best_wall = best_cpu = 0.0
    for _ in range(repeats):
        grain = grain0.copy()
        t0, c0 = time.perf_counter(), time.process_time()
        for step in range(steps):
            potts_step(grain, phase, flags, 12345, step, 1 << 32, kT)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        best_wall = max(best_wall, grain.size * steps / wall)
        best_cpu = max(best_cpu, grain.size * steps / cpu)
    return best_wall, best_cpu


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[64, 128])
    ap.add_argument("--volumes", type=float, nargs="+", default=[125.0, 1000.0, 8000.0],
                    help="mean grain volumes (voxels) of the Voronoi start")
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)

    warm = voronoi_grains(16, 50.0)
    potts_step(warm.copy(), np.full(warm.shape, 3, np.uint8), np.zeros(warm.shape, np.uint8), 1, 0, 1 << 32, 0.6)

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"# kmc grain_growth Potts sweep (kT = {KT} J); {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} logical CPUs, numba {numba.__version__}, threading layer "
          f"{numba.threading_layer()}; load average at start {load:.2f}")
    print(f"# state: {bytes_per_voxel()} bytes/voxel (lattice fields; the kernel reads grain int32, "
          f"phase uint8, flags uint8 and allocates nothing per site)")
    print(f"{'lattice':>8} {'mean V':>7} {'R_eq':>5} {'bnd frac':>8} {'threads':>7} "
          f"{'Msite-upd/s':>11} {'per core*':>9} {'Mbnd-att/s':>10} {'B/voxel':>7}")
    for n in args.sizes:
        for v in args.volumes:
            grain0 = voronoi_grains(n, v)
            bf = boundary_fraction(grain0)
            r_eq = (3 * v / (4 * np.pi)) ** (1 / 3)
            for th in args.threads:
                wall, cpu = measure(grain0, th, args.steps, args.repeats)
                print(f"{n:>5}^3 {v:>7.0f} {r_eq:>5.1f} {bf:>8.3f} {th:>7d} {wall / 1e6:>11.1f} "
                      f"{cpu / 1e6:>9.1f} {wall * bf / 1e6:>10.1f} {bytes_per_voxel():>7d}", flush=True)
    print("# Msite-upd/s: wall clock. per core*: site-updates per CPU-second (summed over threads).\n"
          "# Mbnd-att/s: wall-clock rate of flip attempts at boundary sites (boundary fraction x rate).")


if __name__ == "__main__":
    main()
