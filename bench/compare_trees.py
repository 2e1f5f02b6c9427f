"""Interleaved A/B benchmark: `bench_full.py` in another checkout and in this one, turn about.

On a shared machine whose speed drifts from minute to minute, only runs taken alternately
compare. This runs ``python bench/bench_full.py ARGS`` in OTHER (a checkout or a
``git archive`` of the code before a change) and then in this tree, ``--rounds`` times, and
prints per row (lattice, T, threads) the M site-updates/s per CPU-second of every round and
their medians.

    git archive REV | tar -x -C /tmp/before
    python bench/compare_trees.py /tmp/before --rounds 3 -- --sizes 256 --temperatures 850 --steps 3 --repeats 2 --cache /tmp/kmc-bench3
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]
PER_CPU_S_COLUMN = 7        #: 0-based column of "M/s per CPU-s" in bench_full.py's table


def run_bench(tree: Path, args: list[str]) -> dict[tuple[str, str, str], float]:
    """{(lattice, T, threads): M site-updates/s per CPU-s} from one run of tree's bench_full.py."""
    # bench_full.py puts its own tree first on sys.path, so each run imports that tree's kmc
    out = subprocess.run([sys.executable, str(tree / "bench" / "bench_full.py"), *args], cwd=tree,
                         capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"bench_full.py failed in {tree} (exit {out.returncode}):\n{out.stderr[-2000:]}")
    return parse_table(out.stdout)


def parse_table(text: str) -> dict[tuple[str, str, str], float]:
    """{(lattice, T, threads): M site-updates/s per CPU-s} from the rows of bench_full.py's table."""
    rows = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) > PER_CPU_S_COLUMN and cells[0].endswith("^3"):
            rows[(cells[0], cells[1], cells[3])] = float(cells[PER_CPU_S_COLUMN])
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 epilog="Arguments after -- go to bench/bench_full.py.")
    ap.add_argument("other", type=Path, help="the other checkout (its bench/bench_full.py and kmc/ are used)")
    ap.add_argument("--rounds", type=int, default=3, help="alternations of other, this (default 3)")
    argv = sys.argv[1:]
    split = argv.index("--") if "--" in argv else len(argv)
    a = ap.parse_args(argv[:split])
    args = argv[split + 1:]             # after --: the arguments for bench_full.py
    other = a.other.resolve()
    if not (other / "bench" / "bench_full.py").is_file():
        print(f"compare_trees: other = {other}: no bench/bench_full.py there", file=sys.stderr)
        raise SystemExit(2)
    if a.rounds < 1:
        print(f"compare_trees: --rounds = {a.rounds}: must be at least 1", file=sys.stderr)
        raise SystemExit(2)
    results: dict[str, list[dict]] = {"other": [], "this": []}
    for r in range(a.rounds):
        for name, tree in (("other", other), ("this", HERE)):
            print(f"# round {r + 1}/{a.rounds}: {name} ({tree}), load average {os.getloadavg()[0]:.2f}",
                  file=sys.stderr, flush=True)
            results[name].append(run_bench(tree, args))
    keys = sorted({k for rounds in results.values() for res in rounds for k in res},
                  key=lambda k: (int(k[0].split("^")[0]), float(k[1]), int(k[2])))
    print(f"# M site-updates/s per CPU-second, {a.rounds} interleaved rounds; other = {other}, this = {HERE}")
    print("| lattice | T (°C) | threads | other: rounds | other: median | this: rounds | this: median |")
    print("|---|---|---|---|---|---|---|")
    for k in keys:
        cols = []
        for name in ("other", "this"):
            vals = [res[k] for res in results[name] if k in res]
            cols += [", ".join(f"{v:.1f}" for v in vals), f"{statistics.median(vals):.1f}" if vals else "–"]
        print(f"| {k[0]} | {k[1]} | {k[2]} | " + " | ".join(cols) + " |")


if __name__ == "__main__":
    main()
