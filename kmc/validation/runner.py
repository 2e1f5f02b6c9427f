"""Run the validation presets and keep their measurements.

`run_all(out, size, seed, runs)` runs each preset of ``runs`` (default
`kmc.validation.plan.VALIDATION_RUNS`; ``params`` replaces each preset's parameter set) into ``out/<name>/`` one after the other with the
CPU threads given (numba), reusing a finished run whose stored config equals the one asked
for and resuming an unfinished one; then measures each (`kmc.validation.measure`) and writes
``out/measurements.json`` ({name: measurements} plus ``_meta``: seed, size, wall times).
"""

from __future__ import annotations

import json
import math
import platform
import shutil
import time
from pathlib import Path

from kmc.errors import Problem, UserError
from kmc.validation.plan import VALIDATION_RUNS, Size, config_for


def _json_default(v):
    if isinstance(v, float) and math.isnan(v):
        return None
    raise TypeError(type(v))


def _nan_to_none(obj):
    if isinstance(obj, float):
        return None if math.isnan(obj) or math.isinf(obj) else obj
    if isinstance(obj, dict):
        return {k: _nan_to_none(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_nan_to_none(v) for v in obj]
    return obj


def _none_to_nan(obj):
    if obj is None:
        return math.nan
    if isinstance(obj, dict):
        return {k: _none_to_nan(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_none_to_nan(v) for v in obj]
    return obj


def _run_one(name: str, cfg, run_dir: Path, threads: int | None) -> str:
    """Run (or reuse, or resume) one preset; returns 'ran', 'resumed' or 'reused'."""
    from kmc.simulation import Simulation
    from kmc.store import RunStore

    if run_dir.exists():
        try:
            store = RunStore.open(run_dir, mode="r")
            same = store.attrs.get("config") == cfg.to_dict()
        except Exception:                                   # not a run store: leave it alone
            raise UserError(Problem("--out", str(run_dir.parent), f"{run_dir.name}/ exists and is not a run store; choose another --out")) from None
        if not same:
            raise UserError(Problem("--out", str(run_dir.parent),
                                    f"{run_dir.name}/ holds a run with another config (size or seed); choose another --out"))
        if store.finished:
            return "reused"
        sim, store = Simulation.resume(run_dir, threads=threads)
        sim.run(store=store)
        return "resumed"
    for stale in RunStore.stale_partials(run_dir):
        shutil.rmtree(stale, ignore_errors=True)
    Simulation.from_config(cfg, threads=threads).run(run_dir)
    return "ran"


def run_all(out: str | Path, size: Size, seed: int, runs: tuple[str, ...] = VALIDATION_RUNS,
            threads: int | None = None, progress: bool = True, params: str | None = None) -> dict:
    """Run and measure ``runs`` (module docstring). Returns the measurements dict."""
    from kmc.validation.measure import measure_run

    out = Path(out)
    configs = {name: config_for(name, size, seed, params) for name in runs}     # validate all before running any
    out.mkdir(parents=True, exist_ok=True)
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(runs), unit="run", desc="validate", dynamic_ncols=True)
    measured: dict = {}
    walls: dict[str, float] = {}
    how: dict[str, str] = {}
    t_all = time.perf_counter()
    try:
        for name in runs:
            if bar is not None:
                bar.set_postfix_str(name)
            t0 = time.perf_counter()
            how[name] = _run_one(name, configs[name], out / name, threads)
            measured[name] = measure_run(out / name)
            walls[name] = time.perf_counter() - t0
            if bar is not None:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    measured["_meta"] = {"seed": int(seed), "params": params or "default", "size": size.name, "box": size.box, "runs": list(runs),
                         "wall_s": walls, "how": how, "total_wall_s": time.perf_counter() - t_all,
                         "threads": threads, "machine": machine_description()}
    (out / "measurements.json").write_text(json.dumps(_nan_to_none(measured), indent=1))
    return measured


def load_measurements(out: str | Path) -> dict:
    """The measurements a previous `run_all` wrote to ``out/measurements.json`` (NaN restored)."""
    path = Path(out) / "measurements.json"
    if not path.is_file():
        raise UserError(Problem("--out", str(out), "a directory with measurements.json from an earlier 'kmc validate'"))
    data = json.loads(path.read_text())
    meta = data.pop("_meta")
    data = _none_to_nan(data)
    data["_meta"] = meta
    return data


def machine_description() -> str:
    """CPU model, core count and Python/numba versions, for the report."""
    import os

    import numba

    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} cores visible, Python {platform.python_version()}, numba {numba.__version__}"
