"""Analysis of a whole run store: one row of observables per frame, profiles, XRD, TGA.

`frame_observables` turns one lattice into the flat row of docs/observables.md (column name ->
float). `analyze_run(DIR)` applies it to the frames of a run store and writes DIR/analysis/:

| file | rows | columns |
|---|---|---|
| observables.csv | one per analysed frame | frame, step, time_s, time_h, temperature_C, then `frame_observables` |
| radial.csv | frame x shell | frame, temperature_C, shell, r_over_R_lo/hi/mid, r_mid_nm, `kmc.analysis.radial.REGION_COLUMNS` |
| tga.csv | one per observation row of the run | time_s, temperature_C, h2o_mol, co2_mol, o2_uptake_mol, mass_g, mass_pct, dtg_pct_per_C |
| xrd.csv | one per 2θ step | two_theta_deg, then intensity_f<frame> per analysed frame |
| xrd_peaks.csv | frame x line | frame, phase, hkl, h, k, l, d_A, two_theta_deg, multiplicity, intensity, fwhm_deg |
| distributions.csv | frame x object | frame, kind (grain, closed_pore, intragranular_pore), d_nm |

The particle is placed as `kmc.build` placed it (box centre, configured radius); the
composition and Li source come from the stored config; m0 of the TGA is the mass of frame 0
(`kmc.analysis.tga.lattice_mass_g`).
"""

from __future__ import annotations

import csv
import math
import os
from pathlib import Path

import numpy as np

from kmc.analysis import grains as _grains
from kmc.analysis import phases as _phases
from kmc.analysis import pores as _pores
from kmc.analysis import radial as _radial
from kmc.analysis import tga as _tga
from kmc.analysis import xrd as _xrd
from kmc.analysis.geometry import particle, particle_from_config
from kmc.state import Lattice


def frame_observables(lattice: Lattice, voxel_nm: float, *, centre=None, radius: float | None = None,
                      composition="NCM622", counters: dict | None = None, initial_mass_g: float | None = None,
                      xrd: bool = True) -> dict[str, float]:
    """All scalar observables of one lattice, named as in docs/observables.md (floats; NaN when undefined).

    centre, radius: particle geometry in voxels (`kmc.analysis.geometry.particle` defaults).
    counters: the frame's gas counters in quanta ({'h2o_q': ...}); with ``initial_mass_g``
    (the mixture's mass at t = 0, g) they give the TGA columns. xrd: add the simulated-XRD
    columns (the pattern itself is `kmc.analysis.xrd.xrd_from_lattice`).
    """
    return _frame_analysis(lattice, voxel_nm, centre=centre, radius=radius, composition=composition,
                           counters=counters, initial_mass_g=initial_mass_g, xrd=xrd)[0]


def _frame_analysis(lattice, voxel_nm, *, centre, radius, composition, counters, initial_mass_g, xrd):
    """(row, details): details holds 'pores', 'grain_d_nm' and, with xrd, 'xrd' (the simulation)."""
    part = particle(lattice, voxel_nm, centre, radius)
    row: dict[str, float] = {}
    pf = _phases.phase_fractions(lattice)
    row.update({k: v for k, v in pf.items() if k != "solid_volume_vox"})
    row.update(_radial.core_shell(lattice, voxel_nm, part.centre, part.radius))
    pores = _pores.pore_analysis(lattice, voxel_nm, part.centre, part.radius)
    row.update({k: float(v) for k, v in pores.items() if np.ndim(v) == 0})
    gs = _grains.grain_stats(lattice, voxel_nm)
    row.update({k: float(v) for k, v in gs.items() if np.ndim(v) == 0})
    details = {"pores": pores, "grain_d_nm": gs["d_nm"]}
    if counters is not None:
        gas = _tga.counters_to_mol(counters, voxel_nm, lattice)
        row["h2o_released_mol"] = float(gas["h2o_mol"])
        row["co2_released_mol"] = float(gas["co2_mol"])
        row["o2_uptake_mol"] = float(gas["o2_uptake_mol"])
        if initial_mass_g:
            curve = _tga.tga_curve(0.0, gas["h2o_mol"], gas["co2_mol"], gas["o2_uptake_mol"], initial_mass_g=initial_mass_g)
            row["mass_pct"] = float(curve["mass_pct"][0])
            row["mass_state_pct"] = 100.0 * _tga.lattice_mass_g(lattice, voxel_nm, composition) / initial_mass_g
    if xrd:
        sim = _xrd.xrd_from_lattice(lattice, voxel_nm, composition)
        row.update(_xrd_columns(sim))
        details["xrd"] = sim
    return row, details


def _xrd_columns(sim: dict) -> dict[str, float]:
    tt, y = sim["two_theta_deg"], sim["intensity"]
    out = {"xrd_li_ni_mixing": float(sim["mixing"]), "xrd_i003_i104": float(sim["i003_i104"])}
    layered = "layered" in sim["amounts"]
    for name, hkl in (("003", (0, 0, 3)), ("104", (1, 0, 4))):
        if layered:
            t = sim["peaks"]
            sel = (t["phase"] == "layered") & (t["h"] == hkl[0]) & (t["k"] == hkl[1]) & (t["l"] == hkl[2])
            width = float(t["fwhm_deg"][sel][0])     # read the peak over ± 3 FWHM (at least ± 0.5°)
            p = _xrd.peak_position_fwhm(tt, y, near=float(t["two_theta_deg"][sel][0]), window=max(0.5, 3 * width))
        else:
            p = {"two_theta_deg": math.nan, "fwhm_deg": math.nan}
        out[f"xrd_{name}_two_theta_deg"] = p["two_theta_deg"]
        out[f"xrd_{name}_fwhm_deg"] = p["fwhm_deg"]
    out["xrd_scherrer_size_nm"] = float(_xrd.fwhm_to_size(out["xrd_003_fwhm_deg"], out["xrd_003_two_theta_deg"])) if layered else math.nan
    return out


def _write_csv(path: Path, columns: dict[str, np.ndarray | list]) -> Path:
    names = list(columns)
    n = len(next(iter(columns.values()))) if columns else 0
    tmp = path.with_suffix(path.suffix + ".tmp")
    with open(tmp, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(names)
        for i in range(n):
            w.writerow([_cell(columns[c][i]) for c in names])
    os.replace(tmp, path)
    return path


def _cell(v):
    if isinstance(v, (str, np.str_)):
        return str(v)
    if isinstance(v, (int, np.integer)):
        return int(v)
    return repr(float(v))


def _rows_to_columns(rows: list[dict]) -> dict[str, list]:
    names: list[str] = []
    for r in rows:
        names += [k for k in r if k not in names]
    return {k: [r.get(k, math.nan) for r in rows] for k in names}


def tga_from_observables(table: dict[str, np.ndarray], initial_mass_g: float, voxel_nm: float | None = None) -> dict[str, np.ndarray]:
    """TGA curve from a run's observation rows (`kmc.store.RunStore.observables`).

    Reads the columns `kmc.observe.Observer` writes per counter, ``<counter>_released_mol``
    (counter name less '_q'), and ``temperature_C``; the gases follow `kmc.analysis.tga.counters_to_mol`:
    H2O = h2o + 0.5 li_from_lioh, CO2 = co2 + 0.5 li_from_li2co3, O2 uptake from
    ``o2_uptake_released_mol`` (or ``o2_released_mol``) when recorded, else 0.25 per layered TM
    (``tm_frac_layered`` x ``tm_total_q`` x quantum_mol(voxel_nm), the Li:TM = 1 value; needs
    voxel_nm). A missing column counts 0. Returns float64 (n,) arrays ``time_s``,
    ``temperature_C``, ``h2o_mol``, ``co2_mol``, ``o2_uptake_mol``, ``mass_g``, ``mass_pct``,
    ``dtg_pct_per_C``.
    """
    n = len(table["temperature_C"])

    def col(name):
        return np.asarray(table[name], dtype=np.float64) if name in table else np.zeros(n)

    h2o = col("h2o_released_mol") + 0.5 * col("li_from_lioh_released_mol")
    co2 = col("co2_released_mol") + 0.5 * col("li_from_li2co3_released_mol")
    if "o2_uptake_released_mol" in table or "o2_released_mol" in table:
        o2 = col("o2_uptake_released_mol") if "o2_uptake_released_mol" in table else col("o2_released_mol")
    elif voxel_nm is not None:
        from kmc.state import quantum_mol

        o2 = 0.25 * col("tm_frac_layered") * col("tm_total_q") * quantum_mol(voxel_nm)
    else:
        o2 = np.zeros(n)
    curve = _tga.tga_curve(table["temperature_C"], h2o, co2, o2, initial_mass_g=initial_mass_g)
    out = {"time_s": col("time_s") if "time_s" in table else np.full(n, np.nan), "temperature_C": curve.pop("temperature_C"),
           "h2o_mol": h2o, "co2_mol": co2, "o2_uptake_mol": o2}
    out.update(curve)
    return out


def analyze_run(run_dir: str | Path, out_dir: str | Path | None = None, frames=None, *, xrd: bool = True,
                n_shells: int = 10, progress=None) -> dict:
    """Analyse the complete frames of the run store at ``run_dir`` and write the CSV files of the
    module docstring to ``out_dir`` (default run_dir/analysis).

    frames: indices to analyse (default all; negative counts from the last). progress: an
    optional callable(frame_index, n_total). Returns {'observables', 'radial', 'tga',
    'out_dir'}: column dicts as written.
    """
    from kmc.store import RunStore

    store = RunStore.open(run_dir, mode="r")
    cfg = store.attrs.get("config", {})
    part = particle_from_config(cfg)
    chem = cfg.get("chemistry", {})
    composition = chem.get("composition", "NCM622")
    out = Path(out_dir) if out_dir is not None else Path(run_dir) / "analysis"
    out.mkdir(parents=True, exist_ok=True)

    n = store.n_frames
    indices = list(range(n)) if frames is None else sorted({i % n if i < 0 else i for i in frames})
    m0 = _tga.lattice_mass_g(store.frame(0).lattice, part.voxel_nm, composition)

    rows, radial_cols, xrd_cols, peak_rows, dist_rows = [], {}, {}, [], []
    for count, i in enumerate(indices):
        fr = store.frame(i)
        lat = fr.lattice
        row = {"frame": float(i), "step": float(fr.clock.step), "time_s": fr.clock.time_s,
               "time_h": fr.clock.time_s / 3600.0, "temperature_C": fr.clock.temperature_C}
        values, details = _frame_analysis(lat, part.voxel_nm, centre=part.centre, radius=part.radius,
                                          composition=composition, counters=fr.counters, initial_mass_g=m0, xrd=xrd)
        row.update(values)
        if xrd:
            sim = details["xrd"]
            xrd_cols.setdefault("two_theta_deg", sim["two_theta_deg"])
            xrd_cols[f"intensity_f{i}"] = sim["intensity"]
            t = sim["peaks"]
            for j in range(len(t["d_A"])):
                peak_rows.append({"frame": i, **{c: t[c][j] for c in ("phase", "hkl", "h", "k", "l", "d_A", "two_theta_deg",
                                                                       "multiplicity", "intensity", "fwhm_deg")}})
        rows.append(row)
        prof = _radial.radial_profiles(lat, part.voxel_nm, part.centre, part.radius, n_shells=n_shells)
        radial_cols.setdefault("frame", []).extend([i] * n_shells)
        radial_cols.setdefault("temperature_C", []).extend([fr.clock.temperature_C] * n_shells)
        radial_cols.setdefault("shell", []).extend(range(n_shells))
        for k, v in prof.items():
            radial_cols.setdefault(k, []).extend(np.asarray(v).tolist())
        for kind, d in (("grain", details["grain_d_nm"]), ("closed_pore", details["pores"]["closed_pore_d_nm"]),
                        ("intragranular_pore", details["pores"]["intragranular_pore_d_nm"])):
            dist_rows += [{"frame": i, "kind": kind, "d_nm": float(x)} for x in d]
        if progress is not None:
            progress(count + 1, len(indices))

    observables = _rows_to_columns(rows)
    _write_csv(out / "observables.csv", observables)
    _write_csv(out / "radial.csv", radial_cols)
    tga = {}
    obs_table = store.observables()
    if "temperature_C" in obs_table and len(obs_table["temperature_C"]):
        tga = tga_from_observables(obs_table, m0, part.voxel_nm)
        _write_csv(out / "tga.csv", tga)
    if xrd:
        _write_csv(out / "xrd.csv", xrd_cols)
        _write_csv(out / "xrd_peaks.csv", _rows_to_columns(peak_rows) if peak_rows else {"frame": []})
    _write_csv(out / "distributions.csv", _rows_to_columns(dist_rows) if dist_rows else {"frame": [], "kind": [], "d_nm": []})
    return {"observables": observables, "radial": radial_cols, "tga": tga, "out_dir": out}
