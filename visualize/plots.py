"""Matplotlib figures of a run's analysis (DIR/analysis/*.csv), drawn like the figures they
are compared with: Rietveld phase fractions, in situ XRD maps, TGA, radial profiles, size
histograms.

Every function reads the CSV files that `kmc.analysis.analyze_run` wrote (columns in
docs/observables.md) and writes one PNG; `draw_all` draws them all and returns the paths.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from kmc.errors import Problem, UserError  # noqa: E402
from kmc.state import Phase  # noqa: E402
from visualize.sections import PHASE_COLOURS  # noqa: E402

#: (column, label, colour, line style) of the phase-fraction curves; TM basis except the Li source.
PHASE_CURVES = (
    ("tm_frac_hydroxide", "TM(OH)$_2$ (P-3m1)", PHASE_COLOURS[Phase.HYDROXIDE], "-"),
    ("tm_frac_rock_salt", "rock salt (Fm-3m)", PHASE_COLOURS[Phase.ROCK_SALT], "-"),
    ("tm_frac_layered_disordered", "layered, Li/Ni-disordered", "#8fb9e0", "-"),
    ("tm_frac_layered_ordered", "layered, ordered (R-3m)", PHASE_COLOURS[Phase.LAYERED], "-"),
)
LI_SOURCE_COLUMNS = ("li_frac_lioh_h2o", "li_frac_lioh", "li_frac_lioh_melt", "li_frac_li2co3")

#: Default temperatures of the radial-profile panels (°C); the last frame is always added.
DEFAULT_AT_C = (300.0,)


def read_csv(path: str | Path) -> dict[str, np.ndarray]:
    """CSV -> {column: array}; numeric columns as float64, the others as str arrays."""
    with open(path, newline="") as fh:
        rows = list(csv.reader(fh))
    if not rows:
        return {}
    names, body = rows[0], rows[1:]
    out = {}
    for j, name in enumerate(names):
        col = [r[j] for r in body]
        try:
            out[name] = np.array([float(v) for v in col], dtype=np.float64)
        except ValueError:
            out[name] = np.array(col, dtype=str)
    return out


def _save(fig: Figure, out: Path) -> Path:
    out = Path(out)
    fig.savefig(out, dpi=120)
    return out


def heating_end(T: np.ndarray) -> int:
    """Number of leading frames before the temperature first falls (more than 1 °C below its running max)."""
    T = np.asarray(T, dtype=float)
    if T.size == 0:
        return 0
    drop = np.flatnonzero(T < np.maximum.accumulate(T) - 1.0)
    return int(drop[0]) if drop.size else int(T.size)


# -- phase fractions -------------------------------------------------------------------------
def plot_phase_fractions(obs: dict, out: str | Path, title: str = "") -> Path:
    """Phase fractions per frame vs temperature (left) and vs time with T on a twin axis (right)."""
    T, th = obs["temperature_C"], obs["time_h"]
    fig = Figure(figsize=(11, 4.2), layout="constrained")
    axT, axt = fig.subplots(1, 2)
    li_src = sum((obs[c] for c in LI_SOURCE_COLUMNS if c in obs), np.zeros_like(T))
    n_heat = heating_end(T)
    for ax, x, sel in ((axT, T, slice(0, n_heat)), (axt, th, slice(None))):
        for col, label, colour, ls in PHASE_CURVES:
            if col in obs:
                ax.plot(x[sel], obs[col][sel], ls, color=colour, marker="o", ms=3, label=label)
        ax.plot(x[sel], li_src[sel], "--", color=PHASE_COLOURS[Phase.LIOH], marker="s", ms=3, label="Li source (Li basis)")
        ax.set_ylim(-0.02, 1.02)
        ax.set_ylabel("fraction (TM basis)")
        ax.grid(alpha=0.3)
    axT.set_xlabel("temperature (°C)")
    axT.set_title("heating: phase fractions vs T (like Rietveld of in situ XRD)"
                  + (f"; {len(T) - n_heat} cooling frames on the right" if n_heat < len(T) else ""), fontsize=9)
    axt.set_xlabel("time (h)")
    twin = axt.twinx()
    twin.plot(th, T, ":", color="0.4", lw=1)
    twin.set_ylabel("temperature (°C, dotted)", color="0.4")
    axt.set_title("phase fractions vs time", fontsize=9)
    axT.legend(fontsize=7, loc="center left")
    if title:
        fig.suptitle(title)
    return _save(fig, out)


# -- XRD map ---------------------------------------------------------------------------------
#: 2θ windows (°, Cu Kα1) of the map: hydroxide (001) / layered (003); rock salt (111), (200) and
#: layered (101), (006)/(012), (104); layered (018)/(110) and rock salt (220).
XRD_WINDOWS = ((17.0, 21.0), (35.5, 45.5), (62.0, 66.0))


def plot_xrd_map(xrd: dict, obs: dict, out: str | Path, title: str = "", windows=XRD_WINDOWS) -> Path:
    """In situ XRD-like map: 2θ windows (x) vs frame (y, time upward, labelled with the frame's
    temperature), log intensity; below, the first and last patterns over 15-70°."""
    from matplotlib.colors import LogNorm

    tt = xrd["two_theta_deg"]
    frame_cols = sorted((c for c in xrd if c.startswith("intensity_f")), key=lambda c: int(c[len("intensity_f"):]))
    frames = [int(c[len("intensity_f"):]) for c in frame_cols]
    T_of = dict(zip(obs["frame"].astype(int).tolist(), obs["temperature_C"].tolist()))
    z_all = np.clip(np.array([xrd[c] for c in frame_cols]), 0, None)
    vmax = float(z_all.max()) if z_all.size and z_all.max() > 0 else 1.0
    norm = LogNorm(vmin=vmax * 1e-3, vmax=vmax)
    fig = Figure(figsize=(10, 6.5), layout="constrained")
    top, bottom = fig.subfigures(2, 1, height_ratios=(2.6, 1))
    axes = top.subplots(1, len(windows), sharey=True, width_ratios=[w[1] - w[0] for w in windows])
    axes = np.atleast_1d(axes)
    yy = np.arange(len(frames))
    mesh = None
    for ax, (lo, hi) in zip(axes, windows):
        sel = (tt >= lo) & (tt <= hi)
        mesh = ax.pcolormesh(tt[sel], yy, np.maximum(z_all[:, sel], vmax * 1e-3), shading="nearest", cmap="inferno",
                             norm=norm, rasterized=True)
        ax.set_xlabel("2θ (°)")
    step = max(1, int(math.ceil(len(frames) / 20)))
    ticks = list(range(0, len(frames), step))
    axes[0].set_yticks(ticks, [f"{T_of.get(frames[i], math.nan):.0f}" for i in ticks], fontsize=7)
    axes[0].set_ylabel("frame temperature (°C); time runs upward")
    top.colorbar(mesh, ax=list(axes), label="intensity (a.u., log)")
    top.suptitle("simulated in situ XRD, Cu Kα$_1$" + (f" — {title}" if title else ""), fontsize=10)
    ax_p = bottom.subplots()
    sel = (tt >= 15.0) & (tt <= 70.0)
    for i, colour in ((0, "0.55"), (len(frames) - 1, "k")):
        ax_p.plot(tt[sel], xrd[frame_cols[i]][sel], color=colour, lw=0.8,
                  label=f"frame {frames[i]}, {T_of.get(frames[i], math.nan):.0f} °C")
    ax_p.set_xlabel("2θ (°)")
    ax_p.set_ylabel("I (a.u.)")
    ax_p.legend(fontsize=7)
    return _save(fig, out)


# -- TGA -------------------------------------------------------------------------------------
def plot_tga(tga: dict, out: str | Path, title: str = "") -> Path:
    """TGA mass % vs temperature with the DTG (% per °C) on a twin axis."""
    fig = Figure(figsize=(6.5, 4.2), layout="constrained")
    ax = fig.add_subplot()
    T = tga["temperature_C"]
    n = heating_end(T)
    ax.plot(T[:n], tga["mass_pct"][:n], "k-", lw=1.5, label="heating")
    if n < len(T):
        ax.plot(T[n - 1:], tga["mass_pct"][n - 1:], ":", color="0.5", lw=1, label="cooling")
        ax.legend(fontsize=7, loc="lower left")
    ax.set_xlabel("temperature (°C)")
    ax.set_ylabel("mass (% of initial mixture)")
    ax.grid(alpha=0.3)
    if "dtg_pct_per_C" in tga and np.any(np.isfinite(tga["dtg_pct_per_C"])):
        twin = ax.twinx()
        twin.plot(T[:n], tga["dtg_pct_per_C"][:n], "-", color="tab:blue", lw=0.8)
        twin.set_ylabel("DTG (% / °C)", color="tab:blue")
    ax.set_title("simulated TGA (H$_2$O, CO$_2$ released; O$_2$ taken up)", fontsize=9)
    if title:
        fig.suptitle(title)
    return _save(fig, out)


# -- radial profiles ---------------------------------------------------------------------------
def frames_at(obs: dict, at_C, *, key: str = "--at-C") -> list[int]:
    """Frames nearest each temperature of ``at_C``; a temperature outside the frames' range
    (more than 10 °C beyond) is a `UserError`. Without ``at_C``: nearest 300 °C when the frames
    reach it, and the last frame."""
    T, frames = obs["temperature_C"], obs["frame"].astype(int)
    lo, hi = float(np.nanmin(T)), float(np.nanmax(T))
    chosen = []
    if not at_C:
        at_C = [t for t in DEFAULT_AT_C if lo - 10 <= t <= hi + 10]
        extra = [int(frames[-1])]
    else:
        extra = []
    for t in at_C:
        if not (lo - 10.0 <= t <= hi + 10.0):
            raise UserError(Problem(key, t, f"a temperature the analysed frames reach: {lo:.0f}..{hi:.0f} °C"))
        i = int(frames[int(np.nanargmin(np.abs(T - t)))])
        if i not in chosen:
            chosen.append(i)
    for i in extra:
        if i not in chosen:
            chosen.append(i)
    return chosen


def plot_radial(radial: dict, frames: list[int], out: str | Path, title: str = "") -> Path:
    """One panel per frame: TM phase fractions, porosity and Li:TM vs r/R (like per-region phase maps)."""
    fig = Figure(figsize=(max(3.6 * len(frames) + 0.6, 7.5), 4.2), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(frames), sharey=True, squeeze=False)[0])
    fr = radial["frame"].astype(int)
    for ax, f in zip(axes, frames):
        sel = fr == f
        x = radial["r_over_R_mid"][sel]
        for col, label, colour, ls in PHASE_CURVES:
            if col in radial:
                ax.plot(x, radial[col][sel], ls, color=colour, marker="o", ms=3, label=label)
        ax.plot(x, radial["porosity"][sel], "k--", lw=1, label="porosity")
        if "li_to_tm" in radial:
            ax.plot(x, np.clip(radial["li_to_tm"][sel], 0, 1.2), ":", color=PHASE_COLOURS[Phase.LIOH], label="Li:TM")
        T = radial["temperature_C"][sel]
        ax.set_title(f"frame {f}, {T[0]:.0f} °C" if len(T) else f"frame {f}", fontsize=9)
        ax.set_xlabel("r / R (0 = centre)")
        ax.set_xlim(0, 1)
        ax.set_ylim(-0.02, 1.22)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("fraction (TM basis) / porosity / Li:TM")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=6, fontsize=7)
    if title:
        fig.suptitle(title)
    return _save(fig, out)


# -- size distributions ------------------------------------------------------------------------
def plot_distributions(dist: dict, obs: dict, frames: list[int], out: str | Path, title: str = "") -> Path:
    """Histograms of grain and closed-pore equivalent diameters for ``frames`` (and the first frame)."""
    T_of = dict(zip(obs["frame"].astype(int).tolist(), obs["temperature_C"].tolist()))
    first = int(obs["frame"][0])
    show = [first] + [f for f in frames if f != first]
    fig = Figure(figsize=(10, 3.8), layout="constrained")
    axg, axp = fig.subplots(1, 2)
    kind = dist.get("kind", np.array([], dtype=str))
    d = dist.get("d_nm", np.array([]))
    fr = dist.get("frame", np.array([])).astype(int)
    for ax, k, label in ((axg, "grain", "primary grain"), (axp, "closed_pore", "closed pore")):
        sel_k = kind == k
        values = d[sel_k]
        if values.size:
            bins = np.linspace(0, max(float(np.nanmax(values)), 1.0) * 1.05, 30)
            for f in show:
                v = d[sel_k & (fr == f)]
                if v.size:
                    ax.hist(v, bins=bins, histtype="step", lw=1.5, label=f"{T_of.get(f, math.nan):.0f} °C (n={v.size})")
            ax.legend(fontsize=7)
        else:
            ax.text(0.5, 0.5, f"no {label}s", transform=ax.transAxes, ha="center")
        ax.set_xlabel(f"{label} equivalent diameter (nm)")
        ax.set_ylabel("count")
        ax.set_title(f"{label} size distribution", fontsize=9)
    if title:
        fig.suptitle(title)
    return _save(fig, out)


# -- all of them -------------------------------------------------------------------------------
def draw_all(analysis_dir: str | Path, at_C=None, title: str = "") -> list[Path]:
    """Draw every figure from the CSV files in ``analysis_dir``; returns the PNG paths.

    at_C: temperatures (°C) for the radial and size panels (`frames_at`)."""
    d = Path(analysis_dir)
    obs = read_csv(d / "observables.csv")
    if not obs or "temperature_C" not in obs:
        raise UserError(Problem("analysis directory", str(d), "run 'kmc analyze DIR' first (no observables.csv)"))
    frames = frames_at(obs, at_C)
    pngs = [plot_phase_fractions(obs, d / "phase_fractions.png", title)]
    if (d / "xrd.csv").is_file():
        xrd = read_csv(d / "xrd.csv")
        if any(c.startswith("intensity_f") for c in xrd):
            pngs.append(plot_xrd_map(xrd, obs, d / "xrd_map.png", title))
    if (d / "radial.csv").is_file():
        pngs.append(plot_radial(read_csv(d / "radial.csv"), frames, d / "radial_profiles.png", title))
    if (d / "tga.csv").is_file():
        pngs.append(plot_tga(read_csv(d / "tga.csv"), d / "tga.png", title))
    if (d / "distributions.csv").is_file():
        pngs.append(plot_distributions(read_csv(d / "distributions.csv"), obs, frames, d / "size_distributions.png", title))
    return pngs
