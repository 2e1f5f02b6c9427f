"""docs/validation.md: the verdict table, the plots, the cross-sections, seed, machine, time.

`write_report(out, report_path, img_dir, measured, verdicts)` draws the figures into
``img_dir`` and writes the markdown to ``report_path`` (image links relative to it). An
optional sensitivity section compares the criteria's key numbers across validation
directories run with other parameter sets (`sensitivity_rows`).
"""

from __future__ import annotations

import datetime as _dt
import math
import os
from pathlib import Path

from kmc.validation import figures
from kmc.validation.criteria import Verdict
from kmc.validation.measure import end_frame, frame_at

#: Key number of each criterion for the sensitivity table: (verdict key, value key, unit).
KEY_NUMBERS = (
    ("lioh_order", "layered_onset_C", "°C"), ("lioh_order", "rock_salt_onset_C", "°C"),
    ("li2co3_order", "delay_C", "°C"), ("core_shell_300", "shell_minus_core_layered", "TM fraction"),
    ("healed_500", "diff_500C", "TM fraction"), ("two_step", "void_reduction", "fraction"),
    ("two_step", "nanopore_reduction", "fraction"), ("disorder_peak", "peak_C", "°C"),
    ("coated_centre_ald10", "central_void_excess_nm", "nm"), ("coated_centre_ald25", "central_void_excess_nm", "nm"),
    ("coated_centre_ald25", "core_layered", "TM fraction"), ("coated_centre_ald25", "core_porosity_excess", "volume fraction"),
    ("coated_grains_ald25", "grains_coated", "grains"), ("coated_grains_ald25", "d_coated_nm", "nm"),
    ("predehydrated", "pre_dehydrated", "shell - core layered, TM fraction"),
)

#: Pairs of cross-sections: (file stem, title, [(label, preset, T °C or None for the end)]).
SECTION_PAIRS = (
    ("lioh_vs_li2co3_300C", "NCM622 at 300 °C (5 °C/min): LiOH vs Li2CO3",
     [("LiOH, 300 °C", "ncm622_lioh_direct", 300.0), ("Li2CO3, 300 °C", "ncm622_li2co3", 300.0)]),
    ("direct_vs_two_step", "NCM622 + LiOH: direct vs two-step program",
     [("direct, 300 °C", "ncm622_lioh_direct", 300.0), ("direct, end", "ncm622_lioh_direct", None),
      ("two-step, 300 °C", "ncm622_lioh_two_step", 300.0), ("two-step, end", "ncm622_lioh_two_step", None)]),
    ("ncm90_coating", "NCM90 + LiOH·H2O: bare vs WO3-coated (ALD)",
     [("bare, 300 °C", "ncm90_bare", 300.0), ("bare, end", "ncm90_bare", None),
      ("25 ALD cycles, 300 °C", "ncm90_ald25", 300.0), ("25 ALD cycles, end", "ncm90_ald25", None)]),
    ("ncm90_predehydrated", "NCM90 + LiOH·H2O: bare vs pre-dehydrated surface",
     [("bare, 300 °C", "ncm90_bare", 300.0), ("bare, end", "ncm90_bare", None),
      ("pre-dehydrated, 300 °C", "ncm90_predehydrated", 300.0), ("pre-dehydrated, end", "ncm90_predehydrated", None)]),
)


def _section_cases(out: Path, measured: dict, spec) -> list | None:
    from kmc.store import RunStore

    cases = []
    for label, name, T in spec:
        if name not in measured:
            return None
        frames = measured[name]["frames"]
        f = end_frame(frames) if T is None else frame_at(frames, T)
        if f is None:
            return None
        store = RunStore.open(out / name, mode="r")
        voxel_nm = float(store.attrs["config"]["lattice"]["voxel_nm"])
        cases.append((f"{label} ({f['temperature_C']:.0f} °C)" if T is None else label, store.frame(int(f["frame"])).lattice, voxel_nm))
    return cases


def draw_figures(out: Path, measured: dict, img_dir: Path) -> dict[str, Path]:
    """All figures of the report that the present runs allow; {stem: path}."""
    img_dir.mkdir(parents=True, exist_ok=True)
    pngs: dict[str, Path] = {}
    if any(n in measured for n in ("ncm622_lioh_direct", "ncm622_li2co3", "ncm90_operando")):
        pngs["phases_vs_T"] = figures.phases_vs_T(measured, img_dir / "phases_vs_T.png")
        pngs["disorder_vs_T"] = figures.disorder_vs_T(measured, img_dir / "disorder_vs_T.png")
    if "ncm622_lioh_direct" in measured:
        pngs["core_vs_shell"] = figures.core_vs_shell(measured, img_dir / "core_vs_shell.png")
    for stem, title, spec in SECTION_PAIRS:
        cases = _section_cases(out, measured, spec)
        if cases:
            pngs[stem] = figures.side_by_side(cases, img_dir / f"{stem}.png", title)
    return pngs


def _fmt_num(v) -> str:
    if v is None or (isinstance(v, float) and (math.isnan(v) or math.isinf(v))):
        return "–"
    return f"{v:.3g}"


def sensitivity_rows(base: list[Verdict], variants: dict[str, list[Verdict]]) -> list[str]:
    """Markdown table: one row per variant (and the base), one column per key number of
    `KEY_NUMBERS` that some variant evaluated; a verdict that differs from the base is named."""
    by = lambda vs: {v.key: v for v in vs}  # noqa: E731
    b = by(base)
    cols = [(k, val, unit) for k, val, unit in KEY_NUMBERS
            if k in b and any(by(vs).get(k) is not None and by(vs)[k].holds is not None for vs in variants.values())]
    lines = ["| parameter change | " + " | ".join(f"{k}: {val} ({unit})" for k, val, unit in cols) + " |",
             "|---|" + "---|" * len(cols),
             "| none (base) | " + " | ".join(f"{_fmt_num(b[k].values.get(val))} ({b[k].mark})" for k, val, _ in cols) + " |"]
    for label, vs in variants.items():
        cells = []
        for k, val, _ in cols:
            v = by(vs).get(k)
            if v is None or v.holds is None:
                cells.append("–")
                continue
            flip = "" if v.holds == b[k].holds else f" (**{v.mark}**)"
            cells.append(_fmt_num(v.values.get(val)) + flip)
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return lines


def seed_rows(this: list[Verdict], other: list[Verdict], this_seed: int, other_seed: int) -> list[str]:
    """Markdown table: each criterion's verdict and simulated numbers for two seeds."""
    o = {v.key: v for v in other}
    lines = [f"| criterion | seed {this_seed} | seed {other_seed} | same verdict |", "|---|---|---|---|"]
    for v in this:
        w = o.get(v.key)
        lines.append(f"| {v.key} | {v.mark}: {v.simulation} | {w.mark + ': ' + w.simulation if w else '–'} | "
                     f"{'yes' if w and w.holds == v.holds else '**no**'} |")
    differ = [v.key for v in this if v.key in o and o[v.key].holds != v.holds]
    lines.append("")
    if differ:
        lines.append(f"**The seeds disagree on {', '.join(differ)}**: at this size the number behind it scatters "
                     "between seeds across the criterion's threshold (compare the two columns), so its verdict "
                     "is not decided by the model at this size.")
    else:
        lines.append("Both seeds give the same verdict on every criterion.")
    return lines


def _rel(path: Path, start: Path) -> str:
    return Path(os.path.relpath(path, start)).as_posix()


def write_report(out: Path, report_path: Path, img_dir: Path, measured: dict, verdicts: list[Verdict],
                 command: str, sensitivity: list[str] | None = None, diagnostics: list[str] | None = None,
                 seed_check: list[str] | None = None) -> Path:
    """Write the markdown report (module docstring); returns its path."""
    meta = measured["_meta"]
    pngs = draw_figures(out, measured, img_dir)
    here = report_path.parent
    n_hold = sum(v.holds is True for v in verdicts)
    n_fail = sum(v.holds is False for v in verdicts)
    n_none = sum(v.holds is None for v in verdicts)
    L = ["# Validation: the two calcination studies with one parameter set", "",
         f"Generated by `{command}` on {_dt.datetime.now(_dt.timezone.utc):%Y-%m-%d %H:%M} UTC. "
         f"Size: **{meta['size']}**" + (f" ({meta['box']}³ voxels of {_voxel_nm_of(measured):.0f} nm, `kmc.validation.plan`)"
                                         if meta.get("box") else "")
         + f"; seed {meta['seed']}; parameter set `{_params_name(measured)}`; machine: {meta['machine']}; "
         f"{_parallelism(meta)}; wall time {meta['total_wall_s'] / 60:.1f} min "
         f"for {len(meta['runs'])} runs (simulation and analysis).", "",
         f"**{n_hold} of {len(verdicts)} criteria hold, {n_fail} do not" + (f", {n_none} not evaluated" if n_none else "") + ".**", "",
         "| # | finding | experiment | simulation | verdict |", "|---|---|---|---|---|"]
    for i, v in enumerate(verdicts, 1):
        sim = v.simulation + (f" ({v.note})" if v.note else "")
        L.append(f"| {i} | {v.finding} | {v.experiment} | {sim} | **{v.mark}** |")
    L += ["", "Criteria are pure functions in `kmc/validation/criteria.py` (thresholds are its module "
          "constants); the numbers come from `kmc.analysis` on the stored frames (core = r < R/2, "
          "shell = R/2..R; internal void = largest closed pore; cavity size = radius of the largest empty ball; nanopores = closed pores inside one grain).", ""]
    if diagnostics:
        L += ["## Why the failing criteria fail, and which contrast is missing", ""] + diagnostics + [""]
    L += ["## Runs", "", "| preset | what | wall time |", "|---|---|---|"]
    for name in meta["runs"]:
        cfg = measured[name]["config"]
        L.append(f"| `runs/{name}.toml` | {_describe(cfg)} | {meta['wall_s'][name]:.0f} s ({meta['how'][name]}) |")
    L += ["", _size_paragraph(meta, _voxel_nm_of(measured))]
    L += ["", "The quenched series (`runs/ncm622_lioh_quench_*C.toml`, 200-850 °C) is read from the frames of "
          "`ncm622_lioh_direct` at those temperatures: the same 5 °C/min ramp, before its hold.", ""]
    captions = {
        "phases_vs_T": "Phase fractions (TM basis, what Rietveld refinement of in situ XRD reports) on heating; dotted: the 2 % detection level.",
        "disorder_vs_T": "Li/Ni mixing of the layered phase on heating (frames with layered > 2 % of TM).",
        "core_vs_shell": "Core (r < R/2) versus shell at 300 and 500 °C, NCM622 + LiOH at 5 °C/min.",
        "lioh_vs_li2co3_300C": "Central cross-sections at 300 °C; top: solid fill (SEM-like, pores dark), bottom: phases.",
        "direct_vs_two_step": "Direct vs two-step program, at 300 °C and after the program.",
        "ncm90_coating": "NCM90 bare vs 25 ALD cycles of WO3, at 300 °C and after the program.",
        "ncm90_predehydrated": "NCM90 bare vs pre-dehydrated surface, at 300 °C and after the program.",
    }
    if pngs:
        L += ["## Figures", ""]
        for stem, path in pngs.items():
            L += [f"![{stem}]({_rel(path, here)})", "", f"*{captions.get(stem, stem)}*", ""]
    if seed_check:
        L += ["## Another seed", "", "The same validation with another seed (`--seed-check DIR`): every run rebuilt "
              "(grains, pores, Li source) and every event drawn anew.", ""] + seed_check + [""]
    if sensitivity:
        L += ["## Sensitivity", "",
              "Each row reruns the validation with one change to the parameter set (a factor on an entry, or "
              "a new value), at the same size and seed; a cell gives the criterion's key number and, in "
              "brackets, the verdict where it differs from the base. Only the criteria that the variants "
              "evaluated are shown. To stay within the time budget a variant reruns `ncm622_lioh_direct` only, "
              "unless its label names the presets it reran.", "",
              _capped_note(_voxel_nm_of(measured))] + sensitivity + [""]
    L += ["## Regenerate", "", "```bash", "kmc validate --quick            # reduced sizes on the CPU; rewrites this page",
          "kmc validate --quick --seed 2   # the verdicts must not depend on the seed", "```", ""]
    report_path.parent.mkdir(parents=True, exist_ok=True)
    report_path.write_text("\n".join(L), encoding="utf-8")
    return report_path


def _capped_note(voxel_nm: float, T_C: float = 500.0, dt_s: float = 12.0) -> str:
    """Which Li-hop media run at the hop cap (docs/li_transport.md) at T_C and a step of dt_s
    (12 s: 1 °C per step, the default max_dT_C, on a 5 °C/min ramp) on voxels of voxel_nm."""
    from kmc import params as param_sets
    from kmc.events import EventContext, build_events
    from kmc.simulation import RACE_MIN_TM_FRACTION

    events = build_events(param_sets.load("default"), EventContext(voxel_nm=voxel_nm, n_precursor_grains=1))
    hop = next(e for e in events if e.NAME == "li_hop")
    capped = hop.capped_media(T_C, dt_s)
    if not capped:
        return ""
    media = ", ".join(f"{m} (D {d:.1e} -> {eff:.1e} m²/s)" for m, (d, eff) in capped.items())
    return (f"While TM(OH)2 holds at least {RACE_MIN_TM_FRACTION:.0%} of the TM, the step control keeps Li transport "
            "resolved against dehydration (docs/li_transport.md, section 6). After that the steps grow, and at "
            f"{T_C:.0f} °C and {dt_s:.0f} s steps (1 °C per step at 5 °C/min) on {voxel_nm:.0f} nm voxels these Li-hop media "
            f"run at the hop cap (D_eff ~ h²/dt): {media}. A factor on their diffusivity then changes little there.\n")


def _first_config(measured: dict) -> dict | None:
    """Config of the first run in ``measured`` (None if it holds no run)."""
    return next((m["config"] for k, m in measured.items() if not k.startswith("_")), None)


def _voxel_nm_of(measured: dict) -> float:
    """Voxel edge (nm) of the runs in ``measured`` (the first run's; the presets share the particle)."""
    return float(_first_config(measured)["lattice"]["voxel_nm"])


def _size_paragraph(meta: dict, voxel_nm: float) -> str:
    from kmc.validation import plan

    if not meta.get("box"):
        return "Full size: the presets as written (112³ voxels of 50 nm, a 5 µm particle)."
    return (f"Reduced size (`kmc.validation.plan.reduce`): a {meta['box']}³ box around the presets' 2.5 µm particle, whose "
            f"radius spans {plan.PARTICLE_FILL} × half the box, so the voxel edge is {voxel_nm:.0f} nm instead "
            "of 50 nm; grain size (raised to 2.5 voxels where smaller), aspect ratio, porosity, the pre-dehydrated shell, "
            "chemistry, program and numerics are the presets'. The particle keeps its size because the race of Li "
            "transport with dehydration goes with the square of its radius (docs/li_transport.md, section 6); what the "
            "coarser lattice loses is resolution: grains of 250-300 nm span ~3 voxels, and pores below a voxel are fill "
            "deficits of their voxel.")


def _parallelism(meta: dict) -> str:
    """How the runs shared the cores: '2 runs at a time, 1 numba thread each' (older measurements
    without ``jobs`` ran one at a time)."""
    jobs, threads = meta.get("jobs") or 1, meta.get("threads")
    each = f"{threads} numba thread{'s' if threads != 1 else ''}" if threads else "all cores"
    return f"{jobs} run{'s' if jobs != 1 else ''} at a time, {each} each"


def _params_name(measured: dict) -> str:
    cfg = _first_config(measured)
    return "default" if cfg is None else cfg.get("params", "default")


def _describe(cfg: dict) -> str:
    from kmc.config import parse_config
    from kmc.program import TemperatureProgram

    c = parse_config(cfg, source="stored config")
    chem, part, lat = c.chemistry, c.particle, c.lattice
    comp = chem.composition if isinstance(chem.composition, str) else "custom"
    extra = []
    if chem.w_mol_percent_total:
        extra.append(f"W {chem.w_mol_percent_total:.2f} mol%")
    if part.pre_dehydrated_shell_nm:
        extra.append(f"pre-dehydrated shell {part.pre_dehydrated_shell_nm:.0f} nm")
    return (f"{comp} + {chem.li_source}, Li:TM {chem.li_to_tm:g}" + (", " + ", ".join(extra) if extra else "")
            + f"; {2 * part.radius_um:.2f} µm particle in {lat.shape[0]}³ × {lat.voxel_nm:g} nm; "
            + TemperatureProgram(c.program).describe())
