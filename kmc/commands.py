"""Command line for pictures and analysis: ``kmc analyze | render | export`` (docs/pictures.md).

The commands are registered in `kmc.cli` with ``cli.add_command``; heavy modules
(analysis, matplotlib, pyvista, imageio) are imported inside the command functions. User
mistakes raise `UserError` (one line, exit 2).
"""

from __future__ import annotations

from pathlib import Path

import click

from kmc.errors import Problem, UserError

AT_C_TOLERANCE_C = 10.0


# -- helpers -----------------------------------------------------------------------------------
def _is_sweep_dir(path: Path) -> bool:
    return (path / "summary.parquet").is_file() or (path / "summary.csv").is_file()


def _open_run(path: Path):
    from kmc.store import RunStore

    if not path.is_dir():
        raise UserError(Problem("DIR", str(path), "a run directory written by 'kmc run' (or a sweep directory for 'kmc analyze')"))
    store = RunStore.open(path, mode="r")
    if store.n_frames == 0:
        raise UserError(Problem("DIR", str(path), "a run directory with at least one complete frame"))
    return store


def _check_at_c(temperatures, at_c, key: str = "--at-C") -> None:
    import numpy as np

    lo, hi = float(np.min(temperatures)), float(np.max(temperatures))
    for t in at_c:
        if not (lo - AT_C_TOLERANCE_C <= t <= hi + AT_C_TOLERANCE_C):
            raise UserError(Problem(key, t, f"a temperature the run's frames reach: {lo:.0f}..{hi:.0f} °C"))


def _pick_frame(store, frame: str | None, at_c: float | None) -> int:
    """Frame index from ``--frame last|N`` or ``--at-C T`` (nearest frame in temperature)."""
    import numpy as np

    n = store.n_frames
    if frame is not None and at_c is not None:
        raise UserError(Problem("--frame", frame, "give either --frame or --at-C, not both"))
    if at_c is not None:
        T = store.coordinate("temperature_C")
        _check_at_c(T, [at_c])
        return int(np.argmin(np.abs(T - at_c)))
    if frame is None or str(frame).lower() == "last":
        return n - 1
    try:
        i = int(frame)
    except ValueError:
        raise UserError(Problem("--frame", frame, f"'last' or a frame index 0..{n - 1} (negative counts from the last)")) from None
    if not -n <= i < n:
        raise UserError(Problem("--frame", frame, f"'last' or a frame index 0..{n - 1} (negative counts from the last)"))
    return i % n


def _out_file(out, default: Path, suffix: str) -> Path:
    """The --out path (``default`` if not given): a ``suffix`` file in an existing directory."""
    out = Path(out) if out is not None else default
    if out.suffix.lower() != suffix:
        raise UserError(Problem("--out", str(out), f"a {suffix} file name"))
    if not out.parent.is_dir():
        raise UserError(Problem("--out", str(out), "a file in an existing directory"))
    return out


def _voxel_nm(store) -> float:
    return float(store.attrs["config"]["lattice"]["voxel_nm"])


# -- kmc analyze -------------------------------------------------------------------------------
@click.command("analyze")
@click.argument("directory", metavar="DIR", type=click.Path(path_type=Path))
@click.option("--at-C", "at_c", type=float, multiple=True, metavar="T",
              help="Temperature (°C) of a radial-profile / size panel; repeat for more (default: 300 °C and the last frame).")
@click.option("--every", type=click.IntRange(1, 10_000), default=1, show_default=True,
              help="Analyse every N-th frame (the last frame is always analysed).")
@click.option("--no-xrd", is_flag=True, help="Skip the simulated XRD (faster; no xrd_map.png).")
@click.option("--shells", type=click.IntRange(2, 100), default=10, show_default=True, help="Shells of the radial profiles.")
@click.option("--replot", is_flag=True, help="Only redraw the PNGs from an existing DIR/analysis/.")
@click.option("--x", "x", metavar="KEY", help="Sweep directory: varied parameter on the x axis.")
@click.option("--y", "y", metavar="KEY", help="Sweep directory: varied parameter on the y axis.")
@click.option("--value", metavar="COLUMN", help="Sweep directory: final observable to colour the cells by.")
@click.option("--out", type=click.Path(path_type=Path), help="Sweep directory: PNG of the finding map (default DIR/map_<value>.png).")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def analyze_command(directory, at_c, every, no_xrd, shells, replot, x, y, value, out, quiet):
    """Analyse the run in DIR (DIR/analysis/*.csv) and draw its figures, or draw the finding
    map of a sweep directory (--x KEY --y KEY --value COLUMN)."""
    if directory.is_dir() and _is_sweep_dir(directory):
        _analyze_sweep(directory, x, y, value, out)
        return
    for opt, v in (("--x", x), ("--y", y), ("--value", value)):
        if v is not None:
            raise UserError(Problem(opt, v, "only for a sweep directory (with summary.parquet); DIR is not one"))
    store = _open_run(directory)
    analysis = directory / "analysis"
    if at_c:
        _check_at_c(store.coordinate("temperature_C"), at_c)
    if replot:
        if not (analysis / "observables.csv").is_file():
            raise UserError(Problem("--replot", str(analysis), "needs an existing analysis; run 'kmc analyze DIR' without --replot first"))
    else:
        from kmc.analysis import analyze_run

        n = store.n_frames
        frames = sorted(set(range(0, n, every)) | {n - 1})
        bar = None
        if not quiet:
            from tqdm import tqdm

            bar = tqdm(total=len(frames), unit="frame", desc="analyze", leave=True)

        def progress(done, total):
            if bar is not None:
                bar.n = done
                bar.refresh()

        try:
            analyze_run(directory, frames=frames, xrd=not no_xrd, n_shells=shells, progress=progress)
        finally:
            if bar is not None:
                bar.close()
        if no_xrd:                               # do not leave a stale XRD map from an earlier analysis
            for stale in ("xrd.csv", "xrd_peaks.csv", "xrd_map.png"):
                (analysis / stale).unlink(missing_ok=True)
    from visualize.plots import draw_all

    pngs = draw_all(analysis, at_C=list(at_c) or None, title=directory.resolve().name)
    click.echo(f"analysis: {analysis} ({', '.join(p.name for p in sorted(analysis.glob('*.csv')))})")
    for p in pngs:
        click.echo(f"picture: {p}")


def _analyze_sweep(directory: Path, x, y, value, out) -> None:
    from kmc.sweep import draw_finding_map

    missing = [opt for opt, v in (("--x", x), ("--y", y), ("--value", value)) if v is None]
    if missing:
        allowed = _sweep_columns(directory)
        problems = []
        for opt in missing:
            what = allowed["value"] if opt == "--value" else allowed["params"]
            kind = "a final observable column" if opt == "--value" else "a varied parameter"
            problems.append(Problem(opt, None, f"{kind} of the sweep: {', '.join(what) or '(none)'}"))
        raise UserError(problems)
    out = out or directory / f"map_{value.replace('.', '_')}.png"
    png = draw_finding_map(directory, x, y, value, out)
    click.echo(f"picture: {png}")


def _sweep_columns(directory: Path) -> dict[str, list[str]]:
    import csv

    cols: list[str] = []
    if (directory / "summary.csv").is_file():
        with open(directory / "summary.csv", newline="") as fh:
            cols = next(csv.reader(fh), [])
    elif (directory / "summary.parquet").is_file():
        try:
            import pyarrow.parquet as pq

            cols = list(pq.read_schema(directory / "summary.parquet").names)
        except Exception:                       # no pyarrow or unreadable: list nothing
            cols = []
    if "status" in cols and "error" in cols:
        return {"params": cols[1:cols.index("status")], "value": cols[cols.index("error") + 1:]}
    return {"params": [], "value": []}


# -- kmc render --------------------------------------------------------------------------------
@click.command("render")
@click.argument("directory", metavar="DIR", type=click.Path(path_type=Path))
@click.option("--frame", metavar="last|N", help="Frame to draw (default: last).")
@click.option("--at-C", "at_c", type=float, metavar="T", help="Draw the frame nearest this temperature (°C) instead.")
@click.option("--out", type=click.Path(path_type=Path), metavar="FILE.png",
              help="3D picture (default DIR/render_f<N>.png); the cross-section goes to FILE_section.png.")
@click.option("--movie", is_flag=True, help="Also write FILE.mp4 over all frames (a GIF when no mp4 writer is installed).")
@click.option("--no-3d", "no_3d", is_flag=True, help="Only the matplotlib cross-section (no pyvista).")
@click.option("--show-source", is_flag=True, help="Keep the Li source in the 3D picture (it hides the particle surface).")
@click.option("--quiet", is_flag=True, help="No progress bar for --movie.")
def render_command(directory, frame, at_c, out, movie, no_3d, show_source, quiet):
    """Draw a frame of the run in DIR: the particle in 3D with an octant cut away (pyvista,
    off-screen) and the central cross-section (fill / phases / grains)."""
    store = _open_run(directory)
    i = _pick_frame(store, frame, at_c)
    out = _out_file(out, directory / f"render_f{i}.png", ".png")
    fr = store.frame(i)
    voxel_nm = _voxel_nm(store)
    title = f"{directory.resolve().name}, frame {i}: t = {fr.clock.time_s / 3600:.2f} h, T = {fr.clock.temperature_C:.0f} °C"

    from visualize.sections import plot_cross_section

    section = plot_cross_section(fr.lattice, voxel_nm, out.with_name(out.stem + "_section.png"), title=title)
    click.echo(f"picture: {section} (cross-section)")

    reason = "--no-3d" if no_3d else None
    if reason is None:
        from visualize.render3d import probe

        reason = probe()
    if reason is None:
        from visualize.render3d import render_particle

        render_particle(fr.lattice, voxel_nm, out, title=title, show_source=show_source)
        click.echo(f"picture: {out} (3D, octant cut away)")
    else:
        click.echo(f"3D skipped: {reason}")

    if movie:
        import importlib.util

        if importlib.util.find_spec("imageio") is None:
            raise UserError(Problem("--movie", True, "needs imageio: pip install 'kmc[viz]' imageio-ffmpeg"))
        from visualize.movie import write_movie

        bar = None
        if not quiet:
            from tqdm import tqdm

            bar = tqdm(total=store.n_frames, unit="frame", desc="movie")

        def progress(done, total):
            if bar is not None:
                bar.n = done
                bar.refresh()

        try:
            path = write_movie(store, out.with_suffix(".mp4"), use_3d=reason is None, progress=progress)
        finally:
            if bar is not None:
                bar.close()
        click.echo(f"movie: {path} ({store.n_frames} frames, {'3D' if reason is None else 'cross-sections'})")


# -- kmc export --------------------------------------------------------------------------------
@click.command("export")
@click.argument("directory", metavar="DIR", type=click.Path(path_type=Path))
@click.option("--vti", is_flag=True, help="VTK ImageData (.vti) for ParaView (the only format so far).")
@click.option("--frame", metavar="last|N", help="Frame to export (default: last).")
@click.option("--at-C", "at_c", type=float, metavar="T", help="Export the frame nearest this temperature (°C) instead.")
@click.option("--out", type=click.Path(path_type=Path), metavar="FILE.vti", help="Output file (default DIR/frame_<N>.vti).")
def export_command(directory, vti, frame, at_c, out):
    """Export a frame of the run in DIR for other tools (--vti: ParaView; spacing in µm)."""
    if not vti:
        raise UserError(Problem("format", None, "choose one: --vti"))
    store = _open_run(directory)
    i = _pick_frame(store, frame, at_c)
    out = _out_file(out, directory / f"frame_{i}.vti", ".vti")
    from visualize.export import write_vti

    fr = store.frame(i)
    path = write_vti(fr.lattice, _voxel_nm(store), out,
                     field_data={"frame": i, "time_s": fr.clock.time_s, "temperature_C": fr.clock.temperature_C})
    nz, ny, nx = fr.lattice.shape
    click.echo(f"exported frame {i} (T = {fr.clock.temperature_C:.0f} °C, {nx}x{ny}x{nz} voxels of "
               f"{_voxel_nm(store):g} nm) -> {path}")


# -- kmc validate ------------------------------------------------------------------------------
@click.command("validate")
@click.option("--quick", is_flag=True, help="Reduced size for a CPU: a 64^3 box around the presets' 2.5 µm particle, voxels of 89 nm (kmc.validation.plan; docs/validation.md).")
@click.option("--seed", type=click.IntRange(0, 2**63 - 1), default=1, show_default=True, help="Seed of every run.")
@click.option("--out", type=click.Path(path_type=Path), help="Run directory (default out/validate_<size>_seed<N>).")
@click.option("--report", type=click.Path(path_type=Path), default=Path("docs/validation.md"), show_default=True,
              help="Markdown report to write; its figures go to docs/img/validation/ beside it (--img-dir).")
@click.option("--img-dir", type=click.Path(path_type=Path), help="Figure directory (default <report dir>/img/validation).")
@click.option("--runs", "runs", metavar="NAME,...", help="Only these presets (comma-separated names from runs/).")
@click.option("--box", type=click.IntRange(16, 4096), help="Reduced box edge in voxels instead of --quick's 64 (tests use 16).")
@click.option("--params", "params", metavar="NAME|PATH", help="Run every preset with this parameter set (sensitivity studies).")
@click.option("--jobs", type=click.IntRange(1, 1024), help="Runs side by side, one process each (default: one per core).")
@click.option("--threads", type=click.IntRange(1, 1024), help="numba threads per run (default: the cores shared out among the --jobs).")
@click.option("--report-only", is_flag=True, help="Redraw the report from the measurements already in --out.")
@click.option("--sensitivity", "sensitivity", multiple=True, metavar="LABEL=DIR",
              help="Add a column to the sensitivity table from another validation directory; repeat.")
@click.option("--seed-check", "seed_check", type=click.Path(path_type=Path), metavar="DIR",
              help="Compare the verdicts with another validation directory (another seed) in the report.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def validate_command(quick, seed, out, report, img_dir, runs, box, params, jobs, threads, report_only, sensitivity, seed_check, quiet):
    """Run the presets of the two calcination studies, check the published findings and write
    the validation report (docs/validation.md with plots and cross-sections)."""
    import sys
    import time

    from kmc.validation import validate

    started = time.perf_counter()
    result = validate(quick=quick, seed=seed, out=out, report=report, img_dir=img_dir, runs=runs, box=box,
                      params=params, threads=threads, jobs=jobs, report_only=report_only, sensitivity=sensitivity,
                      seed_check=seed_check, progress=not quiet, command=_validate_command_line(sys.argv))
    for v in result["verdicts"]:
        click.echo(f"{v.mark:>13}  {v.key}: {v.simulation}")
    click.echo(f"report: {result['report']} ({time.perf_counter() - started:.0f} s)")


def _validate_command_line(argv: list[str]) -> str:
    """The command as typed, for the report; the --sensitivity columns are counted, not listed
    (the sensitivity table names them)."""
    args = argv[2:] if argv[1:2] == ["validate"] else []
    kept, n_sens, skip = [], 0, False
    for a in args:
        if skip:
            skip = False
            continue
        if a == "--sensitivity":
            n_sens, skip = n_sens + 1, True
            continue
        if a.startswith("--sensitivity="):
            n_sens += 1
            continue
        kept.append(a)
    return " ".join(["kmc validate", *kept] + ([f"--sensitivity ... ({n_sens} variants)"] if n_sens else []))
