"""bench/compare_trees.py: reading bench_full.py's table, and its refusals (exit 2)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "bench"


def _compare_trees():
    spec = importlib.util.spec_from_file_location("compare_trees", BENCH / "compare_trees.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_reads_the_per_cpu_second_column_of_every_row():
    table = """# kmc full-physics step, numba 0.68.1
| lattice | T (°C) | dt (s) | threads | ms/step | M site-updates/s | M/s per thread | M/s per CPU-s | load | largest CPU shares |
|---|---|---|---|---|---|---|---|---|---|
| 256^3 | 850 | 60 | 1 | 2281.2 | 7.4 | 7.4 | 7.3 | 1.3 | sintering 56%, li_hop 24%, grain_growth 8% |
| 256^3 | 850 | 60 | 2 | 1370.0 | 12.2 | 6.1 | 6.5 | 1.4 | sintering 59%, li_hop 23%, grain_growth 8% |
"""
    assert _compare_trees().parse_table(table) == {("256^3", "850", "1"): 7.3, ("256^3", "850", "2"): 6.5}


def test_refuses_a_tree_without_the_benchmark_and_no_rounds(tmp_path):
    script = str(BENCH / "compare_trees.py")
    out = subprocess.run([sys.executable, script, str(tmp_path)], capture_output=True, text=True)
    assert out.returncode == 2 and "no bench/bench_full.py there" in out.stderr
    out = subprocess.run([sys.executable, script, str(BENCH.parent), "--rounds", "0"], capture_output=True, text=True)
    assert out.returncode == 2 and "--rounds = 0" in out.stderr
