"""Run the validation presets and keep their measurements.

`run_all(out, size, seed, runs)` runs each preset of ``runs`` (default
`kmc.validation.plan.VALIDATION_RUNS`; ``params`` replaces each preset's parameter set) into
``out/<name>/``, ``jobs`` of them side by side in separate processes (default: one per core),
each with ``threads`` numba threads (default: the cores shared out among the jobs). A finished
run whose stored config equals the one asked for is reused, an unfinished one resumed. Each
run is then measured (`kmc.validation.measure`) and ``out/measurements.json`` written
({name: measurements} plus ``_meta``: seed, size, jobs, threads, wall times). A run's bits do
not depend on jobs or threads (the determinism tests), so neither changes a verdict.
The progress bar (``progress``) counts the furnace hours of all runs together; the worker
processes report theirs through a manager queue every REPORT_EVERY_S.
"""

from __future__ import annotations

import contextlib
import functools
import json
import math
import multiprocessing
import os
import platform
import shutil
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
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


def _stored_state(cfg, run_dir: Path) -> str:
    """'new', 'finished' or 'unfinished' for the run of ``cfg`` in ``run_dir``; a UserError when
    run_dir holds something else (checked for every run before any starts)."""
    from kmc.store import RunStore

    if not run_dir.exists():
        return "new"
    try:
        store = RunStore.open(run_dir, mode="r")
        same = store.attrs.get("config") == cfg.to_dict()
    except Exception:                                   # not a run store: leave it alone
        raise UserError(Problem("--out", str(run_dir.parent), f"{run_dir.name}/ exists and is not a run store; choose another --out")) from None
    if not same:
        raise UserError(Problem("--out", str(run_dir.parent),
                                f"{run_dir.name}/ holds a run with another config (size or seed); choose another --out"))
    return "finished" if store.finished else "unfinished"


def _run_one(cfg, run_dir: Path, threads: int | None, on_step=None) -> str:
    """Run (or reuse, or resume) one preset; returns 'ran', 'resumed' or 'reused'. on_step: as
    `Simulation.run`."""
    from kmc.simulation import Simulation
    from kmc.store import RunStore

    state = _stored_state(cfg, run_dir)
    if state == "finished":
        return "reused"
    if state == "unfinished":
        sim, store = Simulation.resume(run_dir, threads=threads)
        sim.run(store=store, on_step=on_step)
        return "resumed"
    for stale in RunStore.stale_partials(run_dir):
        shutil.rmtree(stale, ignore_errors=True)
    Simulation.from_config(cfg, threads=threads).run(run_dir, on_step=on_step)
    return "ran"


#: Wall seconds between two progress reports of a run.
REPORT_EVERY_S = 2.0


def _run_and_measure(name: str, cfg, run_dir: Path, threads: int | None, report=None) -> tuple[str, dict, float]:
    """`_run_one` then `measure_run`: (how, measurements, wall seconds). Runs in a worker process;
    ``report(name, furnace_s)``, if given, is told the run's furnace time every REPORT_EVERY_S."""
    from kmc.validation.measure import measure_run

    t0 = time.perf_counter()
    on_step = None
    if report is not None:
        last = [t0]

        def on_step(clock) -> None:
            now = time.perf_counter()
            if now - last[0] >= REPORT_EVERY_S:
                last[0] = now
                report(name, clock.time_s)
    how = _run_one(cfg, run_dir, threads, on_step)
    return how, measure_run(run_dir), time.perf_counter() - t0


def _put(queue, name: str, furnace_s: float) -> None:
    """A worker's progress report, through the manager queue to `_Progress.drain`."""
    queue.put((name, furnace_s))


class _Progress:
    """One bar over all runs, in furnace hours (the runs' program durations summed); fed by
    `report` in this process or, from worker processes, through a queue (`drain`)."""

    def __init__(self, configs: dict, jobs: int):
        from tqdm import tqdm

        from kmc.program import TemperatureProgram

        self.total_s = {name: TemperatureProgram(cfg.program).duration_s for name, cfg in configs.items()}
        self.done_s = dict.fromkeys(configs, 0.0)
        self.bar = tqdm(total=round(sum(self.total_s.values()) / 3600.0, 2), unit="furnace h", dynamic_ncols=True,
                        desc=f"validate, {jobs} run{'s' if jobs != 1 else ''} at a time",
                        bar_format="{desc}: {percentage:3.0f}%|{bar}| {n:.1f}/{total:.1f} furnace h "
                                   "[{elapsed} elapsed, ETA {remaining}]")

    def report(self, name: str, furnace_s: float) -> None:
        self.done_s[name] = min(furnace_s, self.total_s[name])
        self.bar.n = round(sum(self.done_s.values()) / 3600.0, 2)
        self.bar.refresh()

    def drain(self, queue) -> None:
        import queue as queue_mod

        while True:
            try:
                self.report(*queue.get_nowait())
            except queue_mod.Empty:
                return

    def close(self) -> None:
        self.bar.close()


def share_cores(n_runs: int, jobs: int | None, threads: int | None) -> tuple[int, int]:
    """(jobs, threads per job): jobs defaults to one per core (at most one per run), threads to
    the cores left to each job (at least 1)."""
    cores = os.cpu_count() or 1
    jobs = max(1, min(jobs if jobs is not None else cores, n_runs))
    return jobs, threads if threads is not None else max(1, cores // jobs)


def run_all(out: str | Path, size: Size, seed: int, runs: tuple[str, ...] = VALIDATION_RUNS,
            threads: int | None = None, progress: bool = True, params: str | None = None,
            jobs: int | None = None) -> dict:
    """Run and measure ``runs`` (module docstring). Returns the measurements dict."""
    out = Path(out)
    configs = {name: config_for(name, size, seed, params) for name in runs}     # validate all before running any
    for name in runs:
        _stored_state(configs[name], out / name)
    jobs, threads = share_cores(len(runs), jobs, threads)
    out.mkdir(parents=True, exist_ok=True)
    bar = _Progress(configs, jobs) if progress else None
    results: dict[str, tuple[str, dict, float]] = {}

    def done(name: str, result) -> None:
        results[name] = result
        if bar is not None:
            bar.report(name, bar.total_s[name])

    t_all = time.perf_counter()
    try:
        if jobs == 1:
            for name in runs:
                done(name, _run_and_measure(name, configs[name], out / name, threads, bar and bar.report))
        else:
            # spawn, not fork: a forked child of a process whose numba thread pool already ran can hang
            ctx = multiprocessing.get_context("spawn")
            with contextlib.ExitStack() as stack:
                queue = stack.enter_context(ctx.Manager()).Queue() if bar is not None else None
                report = functools.partial(_put, queue) if queue is not None else None
                pool = stack.enter_context(ProcessPoolExecutor(jobs, mp_context=ctx))
                pending = {pool.submit(_run_and_measure, name, configs[name], out / name, threads, report): name
                           for name in runs}
                try:
                    while pending:
                        finished, _ = wait(pending, timeout=1.0, return_when=FIRST_COMPLETED)
                        if bar is not None:
                            bar.drain(queue)
                        for fut in finished:
                            done(pending.pop(fut), fut.result())
                except BaseException:                       # a failed run or Ctrl-C: stop the others too
                    for proc in list(getattr(pool, "_processes", {}).values()):
                        proc.terminate()
                    pool.shutdown(wait=False, cancel_futures=True)
                    raise
    finally:
        if bar is not None:
            bar.close()
    measured: dict = {name: results[name][1] for name in runs}
    measured["_meta"] = {"seed": int(seed), "params": params or "default", "size": size.name, "box": size.box, "runs": list(runs),
                         "wall_s": {name: results[name][2] for name in runs}, "how": {name: results[name][0] for name in runs},
                         "total_wall_s": time.perf_counter() - t_all, "jobs": jobs, "threads": threads,
                         "machine": machine_description()}
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
