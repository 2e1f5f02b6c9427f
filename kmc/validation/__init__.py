"""`kmc validate`: the presets of the two calcination studies, run with one parameter set,
checked against the published findings, written up in docs/validation.md.

| module | what |
|---|---|
| `plan` | which presets run, and their reduced (quick) form |
| `runner` | runs them (side by side, one process per core), measures them, keeps measurements.json |
| `measure` | one run store -> onsets and one row of analysed numbers per frame |
| `criteria` | the findings as pure pass/fail functions of those numbers |
| `evaluate` | measurements of all runs -> verdicts, and the numbers behind a failure |
| `figures`, `report` | the plots, the side-by-side cross-sections and the markdown |
"""

from __future__ import annotations

from pathlib import Path

from kmc.errors import Problem, UserError


def _parse_sensitivity(items) -> dict[str, Path]:
    out = {}
    for item in items:
        label, sep, path = item.rpartition("=")
        if not sep or not label or not path:
            raise UserError(Problem("--sensitivity", item, "LABEL=DIR, DIR an earlier 'kmc validate --out'"))
        if not (Path(path) / "measurements.json").is_file():
            raise UserError(Problem("--sensitivity", item, f"{path} holds no measurements.json from 'kmc validate'"))
        out[label] = Path(path)
    return out


def _parse_runs(runs: str | None) -> tuple[str, ...]:
    from kmc.validation.plan import VALIDATION_RUNS, preset_path

    if runs is None:
        return VALIDATION_RUNS
    names = tuple(n.strip().removesuffix(".toml") for n in runs.split(",") if n.strip())
    bad = [n for n in names if not preset_path(n).is_file()]
    if not names or bad:
        raise UserError(Problem("--runs", runs, f"comma-separated preset names from runs/, e.g. {','.join(VALIDATION_RUNS[:2])}"))
    return names


def validate(*, quick: bool = False, seed: int = 1, out=None, report="docs/validation.md", img_dir=None, runs=None,
             box: int | None = None, params: str | None = None, threads: int | None = None, jobs: int | None = None,
             report_only: bool = False,
             sensitivity=(), seed_check=None, progress: bool = True, command: str = "kmc validate") -> dict:
    """Run (or reuse) the validation runs, evaluate the criteria, write the report.

    Returns {'verdicts', 'measured', 'report', 'out'}. Options as `kmc validate --help`.
    """
    from kmc.validation.evaluate import diagnose, evaluate
    from kmc.validation.plan import Size
    from kmc.validation.report import seed_rows, sensitivity_rows, write_report
    from kmc.validation.runner import load_measurements, run_all

    names = _parse_runs(runs)
    if seed_check is not None and not (Path(seed_check) / "measurements.json").is_file():
        raise UserError(Problem("--seed-check", str(seed_check), "a directory with measurements.json from 'kmc validate --seed N'"))
    size = Size.parse(quick, box)
    sens = _parse_sensitivity(sensitivity)
    report = Path(report)
    if report.suffix.lower() != ".md":
        raise UserError(Problem("--report", str(report), "a .md file name"))
    if params is not None:
        from kmc import params as param_sets

        param_sets.load(params)                      # a bad name or file is a UserError before anything runs
    if out is None:
        suffix = "" if params is None else f"_{Path(params).stem}"
        out = Path("out") / f"validate_{size.name}_seed{seed}{suffix}"
    out = Path(out)
    img_dir = Path(img_dir) if img_dir is not None else report.parent / "img" / "validation"
    if report_only:
        measured = load_measurements(out)
    else:
        measured = run_all(out, size, seed, names, threads=threads, progress=progress, params=params, jobs=jobs)
    verdicts = evaluate(measured)
    sens_lines = None
    if sens:
        sens_lines = sensitivity_rows(verdicts, {label: evaluate(load_measurements(d)) for label, d in sens.items()})
    seed_lines = None
    if seed_check is not None:
        other = load_measurements(seed_check)
        seed_lines = seed_rows(verdicts, evaluate(other), measured["_meta"]["seed"], other["_meta"]["seed"])
    path = write_report(out, report, img_dir, measured, verdicts, command, sensitivity=sens_lines,
                        diagnostics=diagnose(measured, verdicts), seed_check=seed_lines)
    return {"verdicts": verdicts, "measured": measured, "report": path, "out": out}
