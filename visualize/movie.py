"""Movies over the frames of a run: one picture per frame, written with imageio.

Each movie frame is the 3D octant-cut render (`visualize.render3d`) when 3D works here,
else the matplotlib cross-section (`visualize.sections.cross_section_image`). ``.mp4``
needs imageio-ffmpeg; without it (or for ``.gif``) a GIF is written.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def _even(img: np.ndarray, block: int = 16) -> np.ndarray:
    """Pad an RGB image with white to a multiple of ``block`` pixels (what H.264 encoders want)."""
    h, w = img.shape[:2]
    ph, pw = (-h) % block, (-w) % block
    if ph or pw:
        img = np.pad(img, ((0, ph), (0, pw), (0, 0)), constant_values=255)
    return img


def write_movie(store, out: str | Path, *, use_3d: bool, fps: float = 4.0, progress=None) -> Path:
    """Write ``out`` (.mp4 or .gif) over all complete frames of ``store`` (a `kmc.store.RunStore`);
    returns the path written (the suffix becomes .gif when no mp4 writer is available)."""
    import imageio.v2 as imageio

    from visualize.sections import cross_section_image

    out = Path(out)
    voxel_nm = store.attrs["config"]["lattice"]["voxel_nm"]
    images = []
    n = store.n_frames
    for i in range(n):
        fr = store.frame(i)
        title = f"t = {fr.clock.time_s / 3600:.2f} h, T = {fr.clock.temperature_C:.0f} °C"
        if use_3d:
            from visualize.render3d import render_particle

            img = render_particle(fr.lattice, voxel_nm, None, title=title, window_size=(640, 560), compose_image=True)
        else:
            img = cross_section_image(fr.lattice, voxel_nm, title=title)
        images.append(_even(np.asarray(img)[..., :3]))
        if progress is not None:
            progress(i + 1, n)
    if out.suffix.lower() == ".mp4":
        try:
            import imageio_ffmpeg  # noqa: F401

            imageio.mimwrite(out, images, fps=fps, codec="libx264", quality=7, macro_block_size=16)
            return out
        except Exception:                      # no ffmpeg writer here: fall back to a GIF
            out = out.with_suffix(".gif")
    imageio.mimwrite(out, images, duration=1000.0 / fps, loop=0)
    return out
