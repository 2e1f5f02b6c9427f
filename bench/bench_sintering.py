"""Throughput of the sintering event alone on the numba CPU backend.

Two lattices, both in a box of gas (PORE) with grains from a Voronoi tessellation (mean 1000
voxels): a *porous compact* filling the box (dense layered voxels, 73 quanta, 30 % random single
pores) and a *core/shell sphere* (radius 0.4 x box: a dense layered shell 3 voxels thick around a
core of half-filled rock salt, 68 of 136 quanta, where every pair consolidates). Each timed unit
is one sub-step (36 colour passes) at p_sub = 1/2 and kT = 2 J, w_gb = 0.5 J, after 3 warm-up
sub-steps. Printed per lattice and thread count: ms per sub-step (best of ``--repeats``), voxel
updates/s = voxels x sub-steps / wall seconds (each voxel is the lower voxel of 3 pairs), the same
per CPU-second (process CPU time summed over threads), pair attempts/s (3 x voxel updates/s) and
the load average. Run:

    python bench/bench_sintering.py                 # 64^3 and 128^3, 1 and 2 threads
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numba
import numpy as np
from scipy.spatial import cKDTree

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kmc.events.sintering import sinter_step  # noqa: E402
from kmc.rng import probability_threshold  # noqa: E402
from kmc.state import Lattice, Phase  # noqa: E402


def voronoi(n: int, mean_volume: float, seed: int) -> np.ndarray:
    """int32 (n, n, n) grain ids 1..G of a Voronoi tessellation with G = n^3 / mean_volume."""
    rng = np.random.default_rng(seed)
    tree = cKDTree(rng.random((max(1, round(n**3 / mean_volume)), 3)) * n)
    yy, xx = np.meshgrid(np.arange(n) + 0.5, np.arange(n) + 0.5, indexing="ij")
    out = np.empty((n, n, n), dtype=np.int32)
    for z in range(n):
        pts = np.column_stack([np.full(yy.size, z + 0.5), yy.ravel(), xx.ravel()])
        out[z] = (tree.query(pts)[1] + 1).reshape(n, n)
    return out


def porous_compact(n: int, seed: int = 0) -> Lattice:
    rng = np.random.default_rng(seed)
    lat = Lattice.empty((n, n, n))
    solid = rng.random((n, n, n)) >= 0.3
    lat.phase[solid] = Phase.LAYERED
    lat.tm[solid] = 73
    lat.li[solid] = 73
    lat.grain[solid] = voronoi(n, 1000.0, seed)[solid]
    return lat


def core_shell(n: int, seed: int = 0) -> Lattice:
    lat = Lattice.empty((n, n, n))
    c = (n - 1) / 2
    z, y, x = np.ogrid[:n, :n, :n]
    r = np.sqrt((z - c) ** 2 + (y - c) ** 2 + (x - c) ** 2)
    R = 0.4 * n
    shell = (r <= R) & (r > R - 3)
    core = r <= R - 3
    lat.phase[shell] = Phase.LAYERED
    lat.tm[shell] = 73
    lat.li[shell] = 73
    lat.phase[core] = Phase.ROCK_SALT
    lat.tm[core] = 68
    lat.grain[r <= R] = voronoi(n, 1000.0, seed)[r <= R]
    return lat


def measure(base: Lattice, threads: int, substeps: int, repeats: int) -> tuple[float, float]:
    """Best wall and best CPU seconds per sub-step."""
    numba.set_num_threads(threads)
    thr = probability_threshold(0.5)
    best_wall = best_cpu = float("inf")
    for r in range(repeats):
        lat = base.copy()
        for s in range(3):
            sinter_step(lat, 7, 1000 * r + s, thr, 2.0, 0.5)
        t, c = time.perf_counter(), time.process_time()
        for s in range(3, 3 + substeps):
            sinter_step(lat, 7, 1000 * r + s, thr, 2.0, 0.5)
        best_wall = min(best_wall, (time.perf_counter() - t) / substeps)
        best_cpu = min(best_cpu, (time.process_time() - c) / substeps)
    return best_wall, best_cpu


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[64, 128])
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--substeps", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    print(f"# kmc sintering sub-step (36 passes, p_sub 1/2, kT 2 J), numba {numba.__version__}, "
          f"{os.cpu_count()} logical CPUs, load average at start {os.getloadavg()[0]:.2f}")
    print("| lattice | threads | ms per sub-step | M voxel updates/s | per CPU-s | M pair attempts/s | load |")
    print("|---|---|---|---|---|---|---|")
    for n in args.sizes:
        for name, make in (("porous compact (30 % pores)", porous_compact), ("core/shell sphere", core_shell)):
            base = make(n)
            for threads in args.threads:
                wall, cpu = measure(base, threads, args.substeps, args.repeats)
                rate = n**3 / wall / 1e6
                print(f"| {n}^3 {name} | {threads} | {wall * 1e3:.1f} | {rate:.1f} | {n**3 / cpu / 1e6:.1f} | "
                      f"{3 * rate:.1f} | {os.getloadavg()[0]:.1f} |", flush=True)


if __name__ == "__main__":
    main()
