"""Figures of the validation report (matplotlib, Agg): phase fractions and disorder vs T,
core versus shell, and side-by-side cross-sections drawn like the micrographs.

Every function writes one PNG and returns its path; inputs are the measurements of
`kmc.validation.measure` (and, for cross-sections, lattices from the run stores).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.colors import ListedColormap  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

from kmc.state import Phase, fill_fraction  # noqa: E402
from kmc.validation.measure import frame_at, heating_series  # noqa: E402

_PHASES = (("tm_frac_hydroxide", "TM(OH)$_2$", "#4daf4a"), ("tm_frac_rock_salt", "rock salt", "#e41a1c"),
           ("tm_frac_layered", "layered", "#377eb8"))


def _heating_rows(rows: dict) -> tuple[np.ndarray, dict]:
    T = np.asarray(rows["temperature_C"])
    top = int(np.argmax(T)) if T.size else 0
    return T[: top + 1], {k: np.asarray(v)[: top + 1] for k, v in rows.items()}


def phases_vs_T(measured: dict, out: Path) -> Path:
    """TM phase fractions vs temperature on the heating ramp, one panel per run present of
    NCM622 + LiOH, NCM622 + Li2CO3 and the NCM90 operando program."""
    cases = [(n, t) for n, t in (("ncm622_lioh_direct", "NCM622 + LiOH, 5 °C/min"),
                                 ("ncm622_li2co3", "NCM622 + Li$_2$CO$_3$, 5 °C/min"),
                                 ("ncm90_operando", "NCM90 + LiOH·H$_2$O, 2 °C/min (operando)")) if n in measured]
    fig, axes = plt.subplots(1, max(len(cases), 1), figsize=(4.6 * max(len(cases), 1), 3.6), sharey=True,
                             constrained_layout=True, squeeze=False)
    for ax, (name, title) in zip(axes[0], cases):
        T, rows = _heating_rows(measured[name]["rows"])
        for col, label, colour in _PHASES:
            ax.plot(T, rows[col], color=colour, label=label)
        ax.axhline(0.02, color="grey", lw=0.6, ls=":")
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("temperature (°C)")
        ax.set_xlim(150, max(float(T.max()) if T.size else 850.0, 300.0))
    axes[0][0].set_ylabel("fraction of TM")
    axes[0][0].legend(fontsize=8)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def disorder_vs_T(measured: dict, out: Path) -> Path:
    """Li/Ni mixing of the layered phase vs temperature over the heating frames (layered > 2 % of TM)."""
    fig, ax = plt.subplots(figsize=(5.0, 3.6), constrained_layout=True)
    for name, label in (("ncm622_lioh_direct", "NCM622 + LiOH"), ("ncm622_li2co3", "NCM622 + Li$_2$CO$_3$"),
                        ("ncm90_bare", "NCM90 + LiOH·H$_2$O")):
        if name not in measured:
            continue
        frames = measured[name]["frames"]
        T, d = heating_series(frames, "li_ni_disorder")
        _, f = heating_series(frames, "tm_frac_layered")
        sel = [(t, x) for t, x, y in zip(T, d, f) if y > 0.02 and np.isfinite(x)]
        if sel:
            ax.plot(*zip(*sel), "o-", label=label, ms=4)
    ax.axvspan(250, 350, color="grey", alpha=0.15, label="expected peak")
    ax.set_xlabel("temperature (°C)")
    ax.set_ylabel("Ni on Li sites (fraction)")
    ax.legend(fontsize=8)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def core_vs_shell(measured: dict, out: Path, name: str = "ncm622_lioh_direct") -> Path:
    """Core (r < R/2) versus shell phase fractions and porosity at 300 and 500 °C."""
    frames = measured[name]["frames"]
    cols = [c for c, _, _ in _PHASES] + ["porosity"]
    labels = [l for _, l, _ in _PHASES] + ["porosity"]
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4), sharey=True, constrained_layout=True)
    for ax, T in zip(axes, (300.0, 500.0)):
        f = frame_at(frames, T)
        if f is None:
            ax.set_title(f"{T:.0f} °C: no frame")
            continue
        x = np.arange(len(cols))
        ax.bar(x - 0.2, [f[f"core_{c}"] for c in cols], 0.4, label="core (r < R/2)", color="#984ea3")
        ax.bar(x + 0.2, [f[f"shell_{c}"] for c in cols], 0.4, label="shell (R/2 ≤ r ≤ R)", color="#ff7f00")
        ax.set_xticks(x, labels, fontsize=8)
        ax.set_title(f"NCM622 + LiOH at {T:.0f} °C (5 °C/min)", fontsize=9)
    axes[0].set_ylabel("fraction (TM basis; porosity by volume)")
    axes[0].legend(fontsize=8)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def side_by_side(cases: list[tuple[str, object, float]], out: Path, title: str = "") -> Path:
    """Central z-sections of several lattices side by side: an SEM-like panel (solid fill,
    pores dark) above a phase map for each case. cases: (label, Lattice, voxel_nm)."""
    n = len(cases)
    fig, axes = plt.subplots(2, n, figsize=(3.2 * n, 6.4), constrained_layout=True, squeeze=False)
    from visualize.sections import PHASE_COLOURS, PHASE_LABELS

    cmap = ListedColormap([PHASE_COLOURS[p] for p in Phase])
    present = set()
    for j, (label, lattice, voxel_nm) in enumerate(cases):
        z = lattice.shape[0] // 2
        axes[0][j].imshow(np.clip(fill_fraction(lattice)[z], 0, 1), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        axes[1][j].imshow(lattice.phase[z], cmap=cmap, vmin=-0.5, vmax=len(Phase) - 0.5, interpolation="nearest")
        present |= {int(p) for p in np.unique(lattice.phase[z])}
        axes[0][j].set_title(label, fontsize=9)
        width_um = lattice.shape[2] * voxel_nm / 1000.0
        for ax in axes[:, j]:
            ax.set_xticks([])
            ax.set_yticks([])
        axes[1][j].set_xlabel(f"box {width_um:.1f} µm wide", fontsize=8)
    handles = [Patch(color=PHASE_COLOURS[p], label=PHASE_LABELS[p]) for p in Phase if int(p) in present]
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), fontsize=8, bbox_to_anchor=(0.5, -0.04))
    if title:
        fig.suptitle(title, fontsize=10)
    fig.savefig(out, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return out
