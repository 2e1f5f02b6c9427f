"""Command line: ``kmc run | check | info`` (and the commands other modules register).

User mistakes raise `UserError`; `main` prints one line per problem to stderr and exits 2,
without a traceback and without creating any output.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from kmc.errors import Problem, UserError


def _fmt_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{n:.0f} B"
        n /= 1024


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="kmc")
def cli():
    """kmc: lattice kinetic Monte Carlo of cathode calcination."""


@cli.command()
@click.argument("config", required=False, type=click.Path(dir_okay=True, path_type=Path))
@click.option("--out", "out", type=click.Path(path_type=Path), help="Run directory (default: out/<config name>).")
@click.option("--seed", type=int, help="Override the config's seed.")
@click.option("--backend", type=click.Choice(["auto", "cpu", "cuda"]), help="Override the config's backend.")
@click.option("--resume", is_flag=True, help="Continue the run in DIR (CONFIG or --out) from its last complete frame.")
@click.option("--threads", type=click.IntRange(1, 1024), help="CPU threads (default: all cores).")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@click.option("--no-picture", is_flag=True, help="Skip the cross-section PNG at the end.")
def run(config, out, seed, backend, resume, threads, quiet, no_picture):
    """Run a calcination from CONFIG (a TOML file), or continue one with --resume DIR."""
    from kmc.config import load_config
    from kmc.simulation import Simulation

    if resume:
        target = out or config
        if target is None:
            raise UserError(Problem("--resume", None, "give the run directory: kmc run --resume DIR"))
        if seed is not None or backend is not None:
            raise UserError(Problem("--resume", str(target), "a resumed run keeps its stored seed and backend; drop --seed/--backend"))
        sim, store = Simulation.resume(target, threads=threads)
        if store.finished:
            click.echo(f"{target}: run already complete ({store.n_frames} frames)")
            return
        click.echo(f"resuming {target} at frame {store.n_frames - 1}: t = {sim.clock.time_s / 60:.1f} min, "
                   f"T = {sim.clock.temperature_C:.1f} °C")
        sim.run(store=store, progress=not quiet)
        out = Path(target)
    else:
        if config is None:
            raise UserError(Problem("CONFIG", None, "a run configuration TOML file (see runs/quickstart.toml)"))
        cfg = load_config(config)
        updates = {k: v for k, v in (("seed", seed), ("backend", backend)) if v is not None}
        if updates:
            from kmc.config import parse_config

            cfg = parse_config(cfg.to_dict() | updates, source=Path(config).name)
        out = out or Path("out") / Path(config).stem
        from kmc.store import RunStore

        RunStore.check_new(out)
        sim = Simulation.from_config(cfg, threads=threads)
        click.echo(f"kmc run {config} -> {out}")
        for line in _build_lines(sim.build_report):
            click.echo(f"  {line}")
        click.echo(f"  program: {sim.program.describe()}")
        click.echo(f"  backend: {sim.backend.describe()}")
        sim.run(out, progress=not quiet)
    _summary(out, picture=not no_picture)


def _build_lines(report: dict) -> list[str]:
    from kmc.build import BuildReport

    return BuildReport(**report).lines() if report else []


def _summary(out: Path, picture: bool) -> None:
    from kmc.store import RunStore

    store = RunStore.open(out, mode="r")
    obs = store.observables()
    last = {k: v[-1] for k, v in obs.items()}
    click.echo(f"done: {store.n_frames} frames, {len(obs['time_s'])} observation rows in {out}")
    click.echo(_observable_line(last))
    if picture:
        from visualize.sections import plot_cross_section

        frame = store.frame(-1)
        voxel_nm = store.attrs["config"]["lattice"]["voxel_nm"]
        png = plot_cross_section(frame.lattice, voxel_nm, out / "cross_section.png",
                                 title=f"{out.name}: t = {frame.clock.time_s / 3600:.2f} h, T = {frame.clock.temperature_C:.0f} °C")
        click.echo(f"picture: {png}")


def _observable_line(row: dict) -> str:
    return (f"  t = {row['time_h']:.2f} h, T = {row['temperature_C']:.1f} °C | TM fractions: "
            f"hydroxide {row['tm_frac_hydroxide']:.3f}, rock salt {row['tm_frac_rock_salt']:.3f}, "
            f"layered {row['tm_frac_layered']:.3f} | particle porosity {row['particle_porosity']:.3f} | "
            f"H2O released {row.get('h2o_released_mol', 0.0):.3e} mol")


@cli.command()
@click.argument("config", type=click.Path(path_type=Path))
def check(config):
    """Validate CONFIG; print the resolved config, the program and the memory estimate."""
    import tomli_w

    from kmc.config import load_config
    from kmc.program import TemperatureProgram
    from kmc.simulation import estimate_memory_bytes, frame_times_s
    from kmc.state import bytes_per_voxel

    cfg = load_config(config)
    program = TemperatureProgram(cfg.program)
    click.echo(f"# {config}: valid")
    click.echo(tomli_w.dumps(cfg.to_dict()))
    click.echo(f"# program: {program.describe()}")
    click.echo(f"# frames: {len(frame_times_s(cfg, program))}")
    click.echo(f"# lattice: {cfg.lattice.n_voxels:,} voxels x {bytes_per_voxel()} B/voxel = "
               f"{_fmt_bytes(estimate_memory_bytes(cfg))} of state")


@cli.command()
@click.argument("name", default="default")
def params(name):
    """Print parameter set NAME (shipped name or TOML path) as a table with units and sources."""
    from kmc import params as param_sets

    click.echo(param_sets.load(name).markdown(), nl=False)


@cli.command()
@click.argument("run_dir", type=click.Path(path_type=Path))
def info(run_dir):
    """Summarise a run directory: config, frames, memory, last observables."""
    from kmc.config import parse_config
    from kmc.program import TemperatureProgram
    from kmc.state import bytes_per_voxel
    from kmc.store import RunStore

    store = RunStore.open(run_dir, mode="r")
    a = store.attrs
    cfg = parse_config(a["config"], source="stored config")
    lat, part, chem = cfg.lattice, cfg.particle, cfg.chemistry
    click.echo(f"run: {run_dir}  (kmc {a['kmc_version']}, backend {a['backend']}, seed {a['seed']}, params {a['params']['name']})")
    click.echo(f"lattice: {list(lat.shape)} voxels of {lat.voxel_nm:g} nm = "
               f"{' x '.join(f'{n * lat.voxel_nm / 1000:g}' for n in lat.shape)} µm")
    click.echo(f"particle: radius {part.radius_um:g} µm, grains {part.grain_size_nm:g} nm (aspect {part.aspect_ratio:g}), "
               f"porosity {part.porosity:g}")
    click.echo(f"chemistry: {chem.composition if isinstance(chem.composition, str) else chem.ni_co_mn} + {chem.li_source}, "
               f"Li:TM {chem.li_to_tm:g}, W {chem.w_mol_percent_total:g} mol%")
    click.echo(f"program: {TemperatureProgram(cfg.program).describe()}")
    click.echo(f"memory: {bytes_per_voxel()} B/voxel, {_fmt_bytes(lat.n_voxels * bytes_per_voxel())} of state")
    status = "finished" if store.finished else "incomplete (kmc run --resume DIR continues it)"
    n = store.n_frames
    if n:
        t = store.coordinate("time_s")
        T = store.coordinate("temperature_C")
        click.echo(f"frames: {n}, t = {t[0] / 3600:g}..{t[-1] / 3600:.3g} h, T = {T[0]:.0f}..{T[-1]:.0f} °C; {status}")
        obs = store.observables()
        click.echo("last observables:")
        click.echo(_observable_line({k: v[-1] for k, v in obs.items()}))
    else:
        click.echo(f"frames: 0; {status}")


from kmc.commands import analyze_command, export_command, render_command, validate_command  # noqa: E402  (light imports)
from kmc.sweep import sweep_command  # noqa: E402  (the sweep module imports dask lazily)

for _command in (sweep_command, analyze_command, render_command, export_command, validate_command):
    cli.add_command(_command)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``kmc`` console script; returns the exit code."""
    try:
        cli.main(args=argv, prog_name="kmc", standalone_mode=False)
    except UserError as err:
        for line in err.lines():
            click.echo(f"kmc: error: {line}", err=True)
        return 2
    except click.exceptions.Abort:
        click.echo("kmc: aborted", err=True)
        return 130
    except click.ClickException as err:
        err.show()
        return err.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
