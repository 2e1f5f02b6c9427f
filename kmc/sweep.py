"""Batch sweeps: one base config and its variations, run as ordinary runs on Dask.

``kmc sweep SWEEP.toml --out DIR`` expands the sweep file (docs/sweep.md) into runs and
runs those not yet finished, one Dask task per run, on

- a `distributed.LocalCluster` by default: one worker process per core, one thread per
  worker, one numba thread per run, scratch in ``DIR/dask-scratch`` (removed at the end);
- an existing scheduler (``--scheduler ADDRESS``), whose workers must see DIR;
- a Slurm cluster from a dask-jobqueue profile (``--slurm docs/jobqueue.yaml``), one GPU
  per worker. On these two, runs with ``backend = "cuda"`` ask for ``resources={"GPU": 1}``.

Layout of DIR:

- ``sweep.toml``: the sweep as run, base config inlined (itself a valid sweep file);
- ``runs/<name>/``: one run store per run (`kmc.store`), written by `Simulation.run`;
- ``summary.parquet``, ``summary.csv``: one row per run: ``run``, the varied parameters
  (dotted keys, and ``seed``), ``status`` (done | failed), ``error``, and the last row of
  the run's observables (units in the column names).

Robustness: a finished run is skipped; an unfinished one resumes from its last complete
frame; a run whose task raises or whose worker dies is tried again up to ``retries`` times
(``client.submit(retries=...)`` and the scheduler's ``allowed-failures``), then reported as
failed while the other runs go on. The sweep file and every expanded config are validated
before DIR is created, so a bad sweep writes nothing.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import importlib.util
import itertools
import json
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Callable

import click
import numpy as np
import tomli_w
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from kmc.config import Config, parse_config, read_toml
from kmc.errors import Problem, UserError

if TYPE_CHECKING:
    import pandas

#: Slurm jobs (one worker and one GPU each) a sweep asks for when --workers is not given.
DEFAULT_SLURM_JOBS = 8

#: Longest run name spelled out from its parameters (characters); longer ones use a hash.
MAX_NAME_CHARS = 120

_PATH = re.compile(r"[A-Za-z_]\w*(\[\d+\])*(\.[A-Za-z_]\w*(\[\d+\])*)*")
_STEP = re.compile(r"([A-Za-z_]\w*)|\[(\d+)\]")


class SweepSpec(BaseModel):
    """A sweep file. Values carry the units of the config keys they set.

    base: path of a run config TOML, relative to the sweep file, or an inline table.
    grid: dotted key -> values; every combination of values is a variant.
    zip: dotted key -> values, all lists of one length; the i-th values go together.
    replicates: runs per variant, seeds seed, seed + 1, ... from the base config's seed.
    retries: further attempts for a run whose task fails or whose worker dies.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    base: str | dict[str, Any]
    retries: Annotated[int, Field(ge=0, le=20)] = 2
    grid: dict[str, Annotated[list[Any], Field(min_length=1)]] = {}
    zip: dict[str, Annotated[list[Any], Field(min_length=1)]] = {}
    replicates: Annotated[int, Field(ge=1, le=100_000)] = 1

    @field_validator("base", mode="before")
    @classmethod
    def _path_or_table(cls, v):
        if not isinstance(v, (str, dict)):
            raise ValueError("a path to a run config TOML (relative to the sweep file) or an inline [base] table")
        return v


@dataclass(frozen=True)
class RunSpec:
    """One expanded run: directory name, varied values (dotted key -> value), config."""

    name: str
    params: dict[str, Any]
    config: Config


@dataclass(frozen=True)
class SweepOutcome:
    """What `run_sweep` did: the summary (one row per run); the runs it executed this time
    (started or resumed; finished ones are skipped, not listed), those of them it resumed
    from a store left by an earlier attempt, and those that failed."""

    summary: pandas.DataFrame
    executed: list[str]
    resumed: list[str]
    failed: list[str]


# -- the sweep file ------------------------------------------------------------------------
def set_dotted(data: dict, key: str, value: Any) -> None:
    """Set ``value`` at a dotted path such as ``program.segments[1].hold_h``, in place.

    Every step must exist already (no table is created, no list extended); otherwise
    `KeyError` with a message naming the first step that does not.
    """
    if not _PATH.fullmatch(key):
        raise KeyError("a dotted key path such as program.segments[1].hold_h")
    steps = [int(index) if index else name for name, index in _STEP.findall(key)]
    node, where = data, "the config"
    for i, step in enumerate(steps):
        if isinstance(step, int) and not isinstance(node, list):
            raise KeyError(f"{where} is not a list")
        if isinstance(step, int) and step >= len(node):
            raise KeyError(f"{where} has {len(node)} entries (indices 0..{len(node) - 1})")
        if isinstance(step, str) and not isinstance(node, dict):
            raise KeyError(f"{where} is not a table")
        if isinstance(step, str) and step not in node:
            raise KeyError(f"no key {step!r} in {where}; keys there: {', '.join(node)}")
        if i == len(steps) - 1:
            node[step] = value
        else:
            node = node[step]
            where = "".join(f"[{s}]" if isinstance(s, int) else f".{s}" for s in steps[: i + 1]).lstrip(".")


def _toml_key(parts: tuple) -> str:
    return ".".join(str(p) if re.fullmatch(r"[A-Za-z0-9_-]+", str(p)) else json.dumps(str(p)) for p in parts)


def _spec_problems(err: ValidationError, source: str) -> list[Problem]:
    problems = []
    for e in err.errors():
        if e["type"] == "extra_forbidden":
            allowed = f"unknown key; allowed: {', '.join(SweepSpec.model_fields)}"
        elif e["type"] == "missing":
            allowed = "required (base: a run config TOML path or an inline [base] table)"
        elif e["type"] == "list_type":
            allowed = "a list of values (top-level keys such as retries go before the first [table])"
        else:
            allowed = e["msg"].removeprefix("Value error, ").replace("Input should be", "must be")
        value = e.get("input") if e["type"] != "missing" else None
        problems.append(Problem(f"{source}: {_toml_key(e['loc'])}", value, allowed))
    return problems


def _label(value: Any) -> str:
    if isinstance(value, np.generic):  # values read back from the summary table
        value = value.item()
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (int, float)):
        return f"{value:g}"
    if isinstance(value, str):
        return re.sub(r"[^A-Za-z0-9.+-]", "_", value)
    return hashlib.sha1(json.dumps(value, sort_keys=True).encode()).hexdigest()[:6]


def run_name(index: int, n_runs: int, params: dict[str, Any]) -> str:
    """``r<index>-<key>=<value>-...``: index zero-padded to at least 3 digits, key the last
    part of the dotted path, values as ``%g`` / sanitized strings / a 6-hex hash for tables;
    ``r<index>-<8-hex hash>`` when that is longer than `MAX_NAME_CHARS`."""
    prefix = f"r{index:0{max(3, len(str(n_runs - 1)))}d}"
    labels = "-".join(f"{[n for n, _ in _STEP.findall(k) if n][-1]}={_label(v)}" for k, v in params.items())
    if len(prefix) + 1 + len(labels) > MAX_NAME_CHARS:
        labels = hashlib.sha1(labels.encode()).hexdigest()[:8]
    return f"{prefix}-{labels}"


def load_sweep(path: str | Path) -> tuple[SweepSpec, dict, list[RunSpec]]:
    """Read and validate a sweep file; return the spec, the resolved base config (plain data)
    and the expanded runs, each with a validated config. Raises `UserError` listing every
    problem (unknown keys, bad dotted paths, list lengths, configs that fail validation)."""
    path = Path(path)
    raw = read_toml(path, "SWEEP", "an existing sweep TOML file (see docs/sweep.md)")
    try:
        spec = SweepSpec.model_validate(raw)
    except ValidationError as err:
        raise UserError(_spec_problems(err, path.name)) from None

    if isinstance(spec.base, str):
        from kmc.config import load_config

        base_path = path.parent / spec.base
        if not base_path.is_file():
            raise UserError(Problem(f"{path.name}: base", spec.base,
                                    f"an existing run config TOML, relative to the sweep file ({base_path} is missing)"))
        base_cfg = load_config(base_path)
    else:
        base_cfg = parse_config(spec.base, source=f"{path.name}: base")
    # every field present (None included), so that any valid dotted path exists
    base = base_cfg.model_dump(mode="json")

    problems = []
    varied = [("grid", k, v) for k, v in spec.grid.items()] + [("zip", k, v) for k, v in spec.zip.items()]
    for table, key, values in varied:
        try:
            set_dotted(copy.deepcopy(base), key, values[0])
        except KeyError as err:
            problems.append(Problem(f"{path.name}: {_toml_key((table, key))}", values, err.args[0]))
        if table == "zip" and key in spec.grid:
            problems.append(Problem(f"{path.name}: {_toml_key((table, key))}", values,
                                    "already varied in [grid]; vary a key in one table only"))
    lengths = {k: len(v) for k, v in spec.zip.items()}
    if len(set(lengths.values())) > 1:
        first = next(iter(lengths))
        for k, n in lengths.items():
            if n != lengths[first]:
                problems.append(Problem(f"{path.name}: {_toml_key(('zip', k))}", spec.zip[k],
                                        f"all [zip] lists must have one length: {first} has {lengths[first]} values, this one {n}"))
    seed_varied = "seed" in spec.grid or "seed" in spec.zip
    if seed_varied and spec.replicates > 1:
        problems.append(Problem(f"{path.name}: replicates", spec.replicates, "must be 1 when seed is varied in [grid] or [zip]"))
    if problems:
        raise UserError(problems)

    grid_points = [dict(zip(spec.grid, combo)) for combo in itertools.product(*spec.grid.values())]
    zip_rows = [dict(zip(spec.zip, row)) for row in zip(*spec.zip.values())] or [{}]
    variants = [g | z for g in grid_points for z in zip_rows]
    params_list = [v if seed_varied else v | {"seed": base_cfg.seed + r} for v in variants for r in range(spec.replicates)]

    runs = []
    for i, params in enumerate(params_list):
        name = run_name(i, len(params_list), params)
        data = copy.deepcopy(base)
        for key, value in params.items():
            set_dotted(data, key, value)
        try:
            runs.append(RunSpec(name, params, parse_config(data, source=f"{path.name} run {name}")))
        except UserError as err:
            problems += err.problems
    if problems:
        raise UserError(problems)
    return spec, base_cfg.to_dict(), runs


# -- running -------------------------------------------------------------------------------
def execute_run(run_dir: str, config: dict, threads: int = 1) -> bool:
    """Run one sweep run to its end in ``run_dir`` (the Dask task).

    A store already there is resumed from its last complete frame; otherwise a new run is
    built from ``config`` (leftover partial directories of a worker that died are removed
    first). ``threads``: numba threads. Returns True when it resumed.
    """
    from kmc.simulation import Simulation
    from kmc.store import RunStore

    path = Path(run_dir)
    if path.exists():  # Simulation.run renames a run directory into place after frame 0
        sim, store = Simulation.resume(path, threads=threads)
        if not store.finished:
            sim.run(store=store)
        return True
    for stale in RunStore.stale_partials(path):
        shutil.rmtree(stale, ignore_errors=True)
    Simulation.from_config(parse_config(config), threads=threads).run(path)
    return False


def _open_store(run_dir: Path):
    """The `RunStore` in ``run_dir`` opened read-only, or None when there is none."""
    from kmc.store import RunStore

    try:
        return RunStore.open(run_dir, mode="r")
    except UserError:
        return None


def _finished(run_dir: Path) -> bool:
    store = _open_store(run_dir)
    return store is not None and store.finished


def _check_out(out: Path, runs: list[RunSpec]) -> None:
    """Refuse a DIR that is not a sweep directory or whose runs came from other configs."""
    if not out.exists():
        return
    if not out.is_dir() or (any(out.iterdir()) and not (out / "sweep.toml").is_file()):
        raise UserError(Problem("--out", str(out), "a new directory or one written by 'kmc sweep' (it has no sweep.toml)"))
    for run in runs:
        store = _open_store(out / "runs" / run.name)
        # through parse_config, so that keys added to Config since (with defaults) compare equal
        if store is not None and parse_config(store.attrs["config"], "stored config").to_dict() != run.config.to_dict():
            raise UserError(Problem("--out", str(out),
                                    f"its run {run.name} was made from another config; give a new --out for a changed sweep"))


def read_slurm_profile(profile: str | Path) -> dict:
    """SLURMCluster keyword arguments from a dask-jobqueue YAML file (``jobqueue: slurm:``
    mapping, keys as in dask-jobqueue's config, e.g. ``job-extra-directives``); raises
    `UserError` for a missing file or an unknown key."""
    import dask
    import dask_jobqueue  # noqa: F401  (registers the jobqueue config defaults)
    import yaml

    profile = Path(profile)
    if not profile.is_file():
        raise UserError(Problem("--slurm", str(profile), "an existing dask-jobqueue YAML profile (see docs/jobqueue.yaml)"))
    data = yaml.safe_load(profile.read_text(encoding="utf-8"))
    jobqueue = data.get("jobqueue") if isinstance(data, dict) else None
    slurm = jobqueue.get("slurm") if isinstance(jobqueue, dict) else None
    if not isinstance(slurm, dict):
        raise UserError(Problem(f"{profile.name}: jobqueue.slurm", None, "a mapping of SLURMCluster settings (see docs/jobqueue.yaml)"))
    known = {k.replace("_", "-") for k in dask.config.get("jobqueue.slurm")}
    unknown = [Problem(f"{profile.name}: jobqueue.slurm.{k}", v, f"unknown key; allowed: {', '.join(sorted(known))}")
               for k, v in slurm.items() if k.replace("_", "-") not in known]
    if unknown:
        raise UserError(unknown)
    return {k.replace("-", "_"): v for k, v in slurm.items()}


def slurm_cluster(profile: str | Path, **overrides):
    """A `dask_jobqueue.SLURMCluster` from a profile (`read_slurm_profile`); ``overrides``
    are further SLURMCluster arguments. No job is submitted until it is scaled."""
    from dask_jobqueue import SLURMCluster

    return SLURMCluster(**(read_slurm_profile(profile) | overrides))


def _execute(runs: list[RunSpec], out: Path, *, retries: int, scheduler: str | None, slurm: Path | None,
             workers: int | None, n_total: int, progress: bool, log: Callable[[str], None]) -> tuple[dict[str, str], list[str]]:
    """Run ``runs`` on Dask; return run name -> error for those that failed, and the names
    of those that resumed a store."""
    import dask
    from dask.base import tokenize
    from distributed import Client, LocalCluster, as_completed
    from tqdm.auto import tqdm

    errors: dict[str, str] = {}
    resumed: list[str] = []
    with contextlib.ExitStack() as stack:
        stack.enter_context(dask.config.set({"distributed.scheduler.allowed-failures": retries}))
        if scheduler:
            try:
                client = stack.enter_context(Client(scheduler, timeout="20s"))
            except OSError as err:
                raise UserError(Problem("--scheduler", scheduler, f"the address of a running Dask scheduler ({err})")) from None
        else:
            if slurm:
                cluster = stack.enter_context(slurm_cluster(slurm))
                cluster.scale(jobs=workers or min(len(runs), DEFAULT_SLURM_JOBS))
            else:
                scratch = out / "dask-scratch"
                stack.callback(shutil.rmtree, scratch, ignore_errors=True)
                cluster = stack.enter_context(LocalCluster(
                    n_workers=workers or min(len(runs), os.cpu_count() or 1), threads_per_worker=1,
                    processes=True, local_directory=str(scratch), dashboard_address=":0"))
            client = stack.enter_context(Client(cluster))
        dashboard = f", dashboard {client.dashboard_link}" if importlib.util.find_spec("bokeh") else ""
        log(f"dask: {client}{dashboard}")
        gpu_capable = bool(scheduler or slurm)
        futures = {
            client.submit(execute_run, str(out / "runs" / run.name), run.config.to_dict(), 1,
                          key=f"kmc-run-{run.name}-{tokenize(str(out / 'runs' / run.name))}", retries=retries,
                          resources={"GPU": 1} if gpu_capable and run.config.backend == "cuda" else None): run.name
            for run in runs
        }
        bar = stack.enter_context(tqdm(total=n_total, initial=n_total - len(runs), unit="run", desc="sweep",
                                       disable=not progress, dynamic_ncols=True))
        for future in as_completed(futures):
            if future.status == "error":
                exc = future.exception()
                errors[futures[future]] = f"{type(exc).__name__}: {exc}"
            elif future.result():
                resumed.append(futures[future])
            bar.update(1)
            bar.set_postfix(failed=len(errors), refresh=False)
    return errors, resumed


def summarize(out: Path, runs: list[RunSpec], errors: dict[str, str]) -> pandas.DataFrame:
    """One row per run: run, varied parameters, status, error, last observable row.

    Tables and lists among the parameters are written as JSON text. Writes
    DIR/summary.parquet and DIR/summary.csv; returns the pandas DataFrame."""
    import pandas as pd

    rows = []
    for run in runs:
        run_dir = out / "runs" / run.name
        row = {"run": run.name}
        row |= {k: v if isinstance(v, (bool, int, float, str)) else json.dumps(v) for k, v in run.params.items()}
        done = run.name not in errors and _finished(run_dir)
        row |= {"status": "done" if done else "failed", "error": errors.get(run.name, "" if done else "run did not finish")}
        if done:
            row |= {k: float(v[-1]) for k, v in _open_store(run_dir).observables().items()}
        rows.append(row)
    table = pd.DataFrame(rows)
    table.to_parquet(out / "summary.parquet", index=False)
    table.to_csv(out / "summary.csv", index=False)
    return table


def run_sweep(sweep_file: str | Path, out: str | Path, *, scheduler: str | None = None, slurm: str | Path | None = None,
              workers: int | None = None, progress: bool = True, log: Callable[[str], None] = lambda line: None) -> SweepOutcome:
    """Expand ``sweep_file`` and run every unfinished run into ``out``/runs; write the summary.

    scheduler: address of an existing Dask scheduler; slurm: a dask-jobqueue profile
    (`read_slurm_profile`); neither: a LocalCluster. workers: local worker processes
    (default one per core, at most one per run) or Slurm jobs (default `DEFAULT_SLURM_JOBS`).
    log: called with one line about the cluster. Raises `UserError` before writing anything
    when the sweep, DIR or the options are wrong.
    """
    spec, base, runs = load_sweep(sweep_file)
    out = Path(out).resolve()
    if scheduler and slurm:
        raise UserError(Problem("--scheduler", scheduler, "give either --scheduler or --slurm, not both"))
    if scheduler and workers:
        raise UserError(Problem("--workers", workers, "not with --scheduler: that cluster has its own workers"))
    if slurm:
        read_slurm_profile(slurm)
    _check_out(out, runs)

    (out / "runs").mkdir(parents=True, exist_ok=True)
    (out / "sweep.toml").write_text(tomli_w.dumps(spec.model_dump(exclude_defaults=False) | {"base": base}))
    todo = [run for run in runs if not _finished(out / "runs" / run.name)]
    errors, resumed = {}, []
    if todo:
        errors, resumed = _execute(todo, out, retries=spec.retries, scheduler=scheduler,
                                   slurm=Path(slurm) if slurm else None, workers=workers, n_total=len(runs),
                                   progress=progress, log=log)
    return SweepOutcome(summarize(out, runs, errors), [run.name for run in todo], sorted(resumed), sorted(errors))


# -- pictures ------------------------------------------------------------------------------
def _column(name: str, columns: list[str], what: str, option: str) -> str:
    if name in columns:
        return name
    matches = [c for c in columns if c.rsplit(".", 1)[-1] == name]
    if len(matches) != 1:
        raise UserError(Problem(option, name, f"{what}: {', '.join(columns)}"))
    return matches[0]


def draw_finding_map(sweep_dir: str | Path, x: str, y: str, value: str, out_png: str | Path) -> Path:
    """Heat map of a final observable over two varied parameters of a finished sweep.

    x, y: varied parameters (summary columns, dotted, or their last part when that is
    unique, e.g. ``hold_h``); value: a final observable column, e.g. ``tm_frac_rock_salt``.
    A cell is the mean over the done runs with that (x, y) (replicates, other parameters),
    its run count in brackets when above 1; failed cells stay blank. Writes ``out_png``.
    """
    import numpy as np
    import pandas as pd
    from matplotlib.figure import Figure

    summary = Path(sweep_dir) / "summary.parquet"
    if not summary.is_file():
        raise UserError(Problem("sweep directory", str(sweep_dir), "a directory written by 'kmc sweep' (with summary.parquet)"))
    table = pd.read_parquet(summary)
    columns = list(table.columns)
    params = columns[1:columns.index("status")]
    x = _column(x, params, "a varied parameter", "x")
    y = _column(y, params, "a varied parameter", "y")
    value = _column(value, columns[columns.index("error") + 1:], "a final observable", "value")

    done = table[table["status"] == "done"]
    xs, ys = sorted(table[x].unique()), sorted(table[y].unique())
    mean = done.pivot_table(index=y, columns=x, values=value, aggfunc="mean").reindex(index=ys, columns=xs)
    count = done.pivot_table(index=y, columns=x, values=value, aggfunc="count").reindex(index=ys, columns=xs).fillna(0)
    grid = mean.to_numpy(dtype=float)

    fig = Figure(figsize=(2.0 + 1.1 * len(xs), 1.6 + 0.7 * len(ys)), layout="constrained")
    ax = fig.add_subplot()
    image = ax.imshow(np.ma.masked_invalid(grid), origin="lower", aspect="auto", cmap="viridis")
    for (i, j), v in np.ndenumerate(grid):
        if np.isfinite(v):
            n = int(count.iat[i, j])
            ax.text(j, i, f"{v:.3g}" + (f" ({n})" if n > 1 else ""), ha="center", va="center", fontsize=8,
                    color="white" if image.norm(v) < 0.5 else "black")
    ax.set_xticks(range(len(xs)), [_label(v) for v in xs])
    ax.set_yticks(range(len(ys)), [_label(v) for v in ys])
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    ax.set_title(f"{Path(sweep_dir).resolve().name}: final {value}", fontsize=10)
    fig.colorbar(image, ax=ax, label=value)
    out_png = Path(out_png)
    fig.savefig(out_png, dpi=150)
    return out_png


# -- command line --------------------------------------------------------------------------
@click.command("sweep")
@click.argument("sweep_file", type=click.Path(path_type=Path))
@click.option("--out", type=click.Path(path_type=Path), help="Sweep directory (default: out/<sweep file name>).")
@click.option("--scheduler", metavar="ADDRESS", help="Use a running Dask scheduler, e.g. tcp://host:8786.")
@click.option("--slurm", type=click.Path(path_type=Path), metavar="PROFILE.yaml",
              help="Start a Slurm cluster from a dask-jobqueue profile (docs/jobqueue.yaml), one GPU per worker.")
@click.option("--workers", type=click.IntRange(1, 100_000),
              help=f"Local worker processes (default: one per core) or Slurm jobs (default: {DEFAULT_SLURM_JOBS}).")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@click.option("--dry-run", is_flag=True, help="List the expanded runs and write nothing.")
def sweep_command(sweep_file, out, scheduler, slurm, workers, quiet, dry_run):
    """Run every variation in SWEEP_FILE (docs/sweep.md); finished runs are skipped."""
    out = out or Path("out") / sweep_file.stem
    if dry_run:
        _, _, runs = load_sweep(sweep_file)
        _check_out(out.resolve(), runs)
        for run in runs:
            status = "done" if _finished(out / "runs" / run.name) else "to run"
            click.echo(f"{run.name}  [{status}]  " + ", ".join(f"{k} = {v!r}" for k, v in run.params.items()))
        click.echo(f"{len(runs)} runs -> {out}/runs (dry run: nothing written)")
        return
    outcome = run_sweep(sweep_file, out, scheduler=scheduler, slurm=slurm, workers=workers, progress=not quiet,
                        log=lambda line: None if quiet else click.echo(line))
    n = len(outcome.summary)
    click.echo(f"{n} runs in {out}: {len(outcome.executed)} executed ({len(outcome.resumed)} resumed), "
               f"{n - len(outcome.executed)} already done, {len(outcome.failed)} failed")
    table = outcome.summary.set_index("run")
    for name in outcome.failed:
        click.echo(f"  failed {name}: {table.at[name, 'error']}")
    click.echo(f"summary: {out / 'summary.csv'}")
    if outcome.failed:
        raise click.ClickException(f"{len(outcome.failed)} of {n} runs failed; 'kmc sweep' again retries them")
