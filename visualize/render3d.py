"""3D pictures of a lattice with pyvista/VTK, off-screen.

`probe()` first renders a tiny scene in a child process (with a timeout), so a missing or
broken GL stack gives a reason string instead of a crash of the caller; `render_particle`
then draws the particle with one octant cut away, the phases coloured with
`visualize.sections.PHASE_COLOURS`, a legend and a scale bar in µm.

Off-screen needs no display: recent VTK wheels (9.4+) fall back to EGL (libEGL + Mesa) or
OSMesa when there is no X server. docs/pictures.md lists the system packages.
"""

from __future__ import annotations

import functools
import subprocess
import sys
from pathlib import Path

import numpy as np

from kmc.state import LI_SOURCE_PHASES, Lattice, Phase

_PROBE = (
    "import pyvista as pv\n"
    "p = pv.Plotter(off_screen=True, window_size=(48, 48))\n"
    "p.add_mesh(pv.Cube(), color='red')\n"
    "img = p.screenshot(return_img=True)\n"
    "p.close()\n"
    "assert img.shape[:2] == (48, 48) and img.max() > 0, 'blank image'\n"
    "print('ok', pv.__version__, p.ren_win.GetClassName() if p.ren_win is not None else '')\n"
)


@functools.lru_cache(maxsize=1)
def probe(timeout_s: float = 60.0) -> str | None:
    """None when off-screen 3D rendering works here, else a one-line reason. Cached per process."""
    try:
        import pyvista  # noqa: F401
    except ImportError as err:
        return f"pyvista is not installed ({err.name}); pip install 'kmc[viz]' or pip install pyvista vtk"
    return run_probe(_PROBE, timeout_s)


def run_probe(code: str, timeout_s: float) -> str | None:
    """Run ``code`` in a child Python; None when it exits 0, else a one-line reason."""
    try:
        res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return f"an off-screen test render did not finish in {timeout_s:g} s (GL stack hangs)"
    if res.returncode != 0:
        lines = [ln.strip() for ln in (res.stderr or "").splitlines() if ln.strip() and "WARN" not in ln]
        last = lines[-1] if lines else f"exit code {res.returncode}"
        if res.returncode < 0:
            last = f"the test render crashed (signal {-res.returncode})" + (f"; {lines[-1]}" if lines else "")
        return (f"off-screen rendering failed: {last[:200]} "
                "(needs EGL + Mesa: apt-get install libegl1 libegl-mesa0 libgl1-mesa-dri libgbm1 libgl1; see docs/pictures.md)")
    return None


def _hex_rgb(colour: str) -> tuple[int, int, int]:
    c = colour.lstrip("#")
    return tuple(int(c[i:i + 2], 16) for i in (0, 2, 4))


def _scale_bar_um(width_um: float) -> float:
    bar = float(f"{width_um / 4:.1g}")
    return bar if bar > 0 else width_um / 4


def render_particle(lattice: Lattice, voxel_nm: float, out: str | Path | None = None, *, title: str = "",
                    show_source: bool = False, window_size=(900, 760), cut: bool = True,
                    compose_image: bool = False) -> np.ndarray:
    """Render the solid of ``lattice`` (TM phases; the Li source too with ``show_source``) with the
    octant x, y, z > centre cut away. Writes ``out`` (PNG, with legend, scale bar and title) when
    given; returns the raw RGB render (uint8), or the composed picture with ``compose_image``."""
    import pyvista as pv

    from visualize.sections import PHASE_COLOURS

    nz, ny, nx = lattice.shape
    h_um = voxel_nm / 1000.0
    grid = pv.ImageData(dimensions=(nx + 1, ny + 1, nz + 1), spacing=(h_um, h_um, h_um))
    phase = lattice.phase
    keep = phase != Phase.PORE
    if not show_source:
        keep &= ~np.isin(phase, [int(p) for p in LI_SOURCE_PHASES])
    if cut:
        z, y, x = np.ogrid[:nz, :ny, :nx]
        keep &= ~((z >= nz // 2) & (y >= ny // 2) & (x >= nx // 2))
    grid.cell_data["phase"] = phase.ravel(order="C").astype(np.uint8)
    lut = np.zeros((256, 3), dtype=np.uint8)
    for p, colour in PHASE_COLOURS.items():
        lut[int(p)] = _hex_rgb(colour)
    grid.cell_data["rgb"] = lut[phase.ravel(order="C")]
    ids = np.flatnonzero(keep.ravel(order="C"))

    pl = pv.Plotter(off_screen=True, window_size=list(window_size))
    pl.set_background("white")
    extent_um = np.array([nx, ny, nz]) * h_um
    if ids.size:
        cells = grid.extract_cells(ids)
        try:
            solid = cells.extract_surface(algorithm="dataset_surface")
        except TypeError:                       # pyvista < 0.47 has no algorithm keyword
            solid = cells.extract_surface()
        b = np.asarray(solid.bounds, dtype=float)
        extent_um = b[1::2] - b[0::2]
        pl.add_mesh(solid, scalars="rgb", rgb=True, lighting=True, ambient=0.35, diffuse=0.7, specular=0.0)
    present = [p for p in Phase if p != Phase.PORE and np.any(phase[keep] == p)]
    pl.enable_parallel_projection()
    pl.camera_position = "iso"
    pl.reset_camera()
    pl.camera.parallel_scale = 0.5 * float(np.linalg.norm(extent_um)) * 0.92   # the solid's bounding sphere
    img = pl.screenshot(None, return_img=True)
    px_per_um = img.shape[0] / (2.0 * pl.camera.parallel_scale)
    pl.close()
    if out is not None or compose_image:
        composed = compose(img, px_per_um, present, out, title=title)
        if compose_image:
            return composed
    return img


def compose(img: np.ndarray, px_per_um: float, present, out: str | Path | None, title: str = "") -> np.ndarray:
    """The rendered image with a phase legend and an in-plane scale bar (µm); written to ``out``
    (PNG) when given. Returns the composed RGB image (uint8)."""
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    from visualize.sections import PHASE_COLOURS, PHASE_LABELS

    h, w = img.shape[:2]
    fig = Figure(figsize=(w / 100.0, h / 100.0), dpi=100)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.imshow(img, interpolation="nearest")
    ax.set_axis_off()
    width_um = w / px_per_um
    bar = _scale_bar_um(width_um)
    x0, y0 = 0.06 * w, 0.93 * h
    ax.plot([x0, x0 + bar * px_per_um], [y0, y0], color="black", lw=4, solid_capstyle="butt")
    ax.text(x0 + bar * px_per_um / 2, y0 - 0.015 * h, f"{bar:g} µm", ha="center", va="bottom", fontsize=11)
    if present:
        ax.legend(handles=[Patch(color=PHASE_COLOURS[p], label=PHASE_LABELS[p]) for p in present],
                  loc="upper right", fontsize=10, framealpha=0.9)
    if title:
        ax.text(0.02 * w, 0.04 * h, title, ha="left", va="top", fontsize=11)
    from visualize.sections import figure_to_rgb

    rgb = figure_to_rgb(fig)
    if out is not None:
        fig.savefig(Path(out), dpi=100)
    return rgb
