"""Central cross-sections of a lattice, drawn like the micrographs they are compared with.

`plot_cross_section` draws three panels of the z-midplane: an SEM-like image (solid fill as
brightness, pores dark), the phase map with a legend, and the grain map; each with a
scale bar in µm. `cross_section_image` returns the same picture as pixels (movie frames);
`figure_to_rgb` turns any matplotlib figure into pixels.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.colors import ListedColormap  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

from kmc.state import Lattice, Phase, fill_fraction  # noqa: E402

#: RGB colour of each phase in every picture kmc draws.
PHASE_COLOURS = {
    Phase.PORE: "#000000",
    Phase.HYDROXIDE: "#4daf4a",
    Phase.ROCK_SALT: "#e41a1c",
    Phase.LAYERED: "#377eb8",
    Phase.LIOH_H2O: "#fdbf6f",
    Phase.LIOH: "#ff7f00",
    Phase.LIOH_MELT: "#ffff33",
    Phase.LI2CO3: "#a65628",
}
PHASE_LABELS = {
    Phase.PORE: "pore", Phase.HYDROXIDE: "TM(OH)$_2$", Phase.ROCK_SALT: "rock salt",
    Phase.LAYERED: "layered", Phase.LIOH_H2O: "LiOH·H$_2$O", Phase.LIOH: "LiOH",
    Phase.LIOH_MELT: "LiOH melt", Phase.LI2CO3: "Li$_2$CO$_3$",
}


def _scale_bar(ax, n_pixels: int, voxel_nm: float) -> None:
    width_um = n_pixels * voxel_nm / 1000.0
    bar_um = max(float(f"{width_um / 4:.1g}"), voxel_nm / 1000.0)
    bar_px = bar_um * 1000.0 / voxel_nm
    y = n_pixels * 0.93
    from matplotlib import patheffects

    outline = [patheffects.withStroke(linewidth=2.5, foreground="black")]
    ax.plot([n_pixels * 0.05, n_pixels * 0.05 + bar_px], [y, y], color="white", lw=3,
            path_effects=[patheffects.withStroke(linewidth=5, foreground="black")])
    ax.text(n_pixels * 0.05 + bar_px / 2, y - n_pixels * 0.03, f"{bar_um:g} µm", color="white",
            ha="center", va="bottom", fontsize=8, path_effects=outline)


def figure_to_rgb(fig) -> np.ndarray:
    """RGB uint8 (h, w, 3) pixels of a matplotlib figure (rendered with the Agg canvas)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = fig.canvas if isinstance(fig.canvas, FigureCanvasAgg) else FigureCanvasAgg(fig)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()


def cross_section_image(lattice: Lattice, voxel_nm: float, title: str = "", dpi: int = 80) -> np.ndarray:
    """The three panels of `plot_cross_section` as an RGB uint8 image (for movies)."""
    fig = _cross_section_figure(lattice, voxel_nm, title)
    fig.set_dpi(dpi)
    img = figure_to_rgb(fig)
    plt.close(fig)
    return img


def plot_cross_section(lattice: Lattice, voxel_nm: float, out: str | Path, title: str = "") -> Path:
    """Write a PNG of the central z-section; returns its path."""
    fig = _cross_section_figure(lattice, voxel_nm, title)
    out = Path(out)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def _cross_section_figure(lattice: Lattice, voxel_nm: float, title: str = ""):
    z = lattice.shape[0] // 2
    phase = lattice.phase[z]
    fill = fill_fraction(lattice)[z]
    grain = lattice.grain[z]
    n = max(phase.shape)

    fig, axes = plt.subplots(1, 3, figsize=(12, 4.3), constrained_layout=True)
    axes[0].imshow(np.clip(fill, 0, 1), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    axes[0].set_title("cross-section (solid fill; pores dark)")

    cmap = ListedColormap([PHASE_COLOURS[p] for p in Phase])
    axes[1].imshow(phase, cmap=cmap, vmin=-0.5, vmax=len(Phase) - 0.5, interpolation="nearest")
    present = [p for p in Phase if np.any(lattice.phase == p)]
    axes[1].legend(handles=[Patch(color=PHASE_COLOURS[p], label=PHASE_LABELS[p]) for p in present],
                   loc="upper right", fontsize=7, framealpha=0.8)
    axes[1].set_title("phase map")

    rng = np.random.default_rng(0)
    colours = rng.random((int(lattice.grain.max()) + 1, 3)) * 0.8 + 0.2
    colours[0] = 0.0
    axes[2].imshow(colours[grain], interpolation="nearest")
    axes[2].set_title("primary grains")
    for ax in axes:
        _scale_bar(ax, n, voxel_nm)
        ax.set_xticks([])
        ax.set_yticks([])
    if title:
        fig.suptitle(title)
    return fig
