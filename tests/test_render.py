"""`kmc render` (3D with pyvista off-screen, cross-section always) and `kmc export --vti`.

The 3D parts skip with the reason when pyvista or an off-screen GL stack is missing; the
cross-section, the .vti writer and the error paths are always tested.
"""

from __future__ import annotations

import base64
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from test_plots import kmc, tiny_run  # noqa: F401  (shared fixture and CLI helper)


def _rgb(colour: str) -> np.ndarray:
    return np.array([int(colour.lstrip("#")[i:i + 2], 16) for i in (0, 2, 4)])


def _read_png(path) -> np.ndarray:
    import matplotlib.image as mpimg

    img = mpimg.imread(path)
    return (img[..., :3] * 255).round().astype(int) if img.dtype != np.uint8 else img[..., :3].astype(int)


def _colour_pixels(img: np.ndarray, colour: str, tol: int) -> int:
    return int((np.abs(img - _rgb(colour)).max(axis=2) <= tol).sum())


def _need_3d():
    from visualize.render3d import probe

    reason = probe()
    if reason is not None:
        pytest.skip(f"3D rendering unavailable: {reason}")


def test_render_section_always(tiny_run, tmp_path):  # noqa: F811
    out = tmp_path / "pic.png"
    res = kmc("render", tiny_run, "--no-3d", "--out", out)
    assert res.returncode == 0, res.stderr
    assert "3D skipped: --no-3d" in res.stdout
    section = tmp_path / "pic_section.png"
    assert section.is_file() and not out.exists()
    assert _read_png(section).std() > 5


def test_render_3d_has_phase_colours(tiny_run, tmp_path):  # noqa: F811
    _need_3d()
    from kmc.store import RunStore
    from visualize.sections import PHASE_COLOURS

    out = tmp_path / "p3d.png"
    res = kmc("render", tiny_run, "--at-C", "320", "--out", out)
    assert res.returncode == 0, res.stderr
    assert "(3D, octant cut away)" in res.stdout
    img = _read_png(out)
    assert img.std() > 5, "blank render"
    store = RunStore.open(tiny_run, mode="r")
    T = store.coordinate("temperature_C")
    lat = store.frame(int(np.argmin(np.abs(T - 320)))).lattice
    counts = {p: int(np.sum(lat.phase == p)) for p in (1, 2, 3)}
    main_phase = max(counts, key=counts.get)
    # shading darkens faces; the legend patch carries the exact colour, the solid the shaded one
    assert _colour_pixels(img, PHASE_COLOURS[main_phase], tol=10) > 50
    assert _colour_pixels(img, PHASE_COLOURS[main_phase], tol=70) > 2000


def test_render_movie(tiny_run, tmp_path):  # noqa: F811
    pytest.importorskip("imageio", reason="imageio not installed (pip install 'kmc[viz]')")
    out = tmp_path / "m.png"
    res = kmc("render", tiny_run, "--no-3d", "--movie", "--quiet", "--out", out)
    assert res.returncode == 0, res.stderr
    movies = list(tmp_path.glob("m.mp4")) + list(tmp_path.glob("m.gif"))
    assert movies and movies[0].stat().st_size > 1000
    import imageio.v2 as imageio

    frames = imageio.mimread(movies[0]) if movies[0].suffix == ".gif" else None
    if frames is not None:
        assert len(frames) > 1


@pytest.mark.parametrize("args, key", [
    (["--frame", "999"], "--frame"),
    (["--frame", "first"], "--frame"),
    (["--at-C", "2000"], "--at-C"),
    (["--frame", "1", "--at-C", "100"], "--frame"),
    (["--out", "x.jpg"], "--out"),
])
def test_render_bad_input_exits_2(tiny_run, args, key):  # noqa: F811
    res = kmc("render", tiny_run, "--no-3d", *args)
    assert res.returncode == 2, res.stdout + res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and key in lines[0]


def test_render_not_a_run_dir(tmp_path):
    res = kmc("render", tmp_path / "nope")
    assert res.returncode == 2 and "DIR" in res.stderr


def _read_vti_cells(path) -> tuple[dict, list[int], list[float]]:
    """Minimal reader of what `visualize.export.write_vti` writes (inline base64, UInt64 headers)."""
    dtypes = {"UInt8": "<u1", "Int32": "<i4", "Float32": "<f4", "Float64": "<f8", "UInt16": "<u2"}
    root = ET.parse(path).getroot()
    img = root.find("ImageData")
    extent = [int(v) for v in img.get("WholeExtent").split()]
    spacing = [float(v) for v in img.get("Spacing").split()]
    cells = {}
    for da in img.find("Piece").find("CellData"):
        text = da.text.strip()
        header = np.frombuffer(base64.b64decode(text[:12]), "<u8")[0]
        raw = base64.b64decode(text[12:])
        assert len(raw) == header
        cells[da.get("Name")] = np.frombuffer(raw, dtypes[da.get("type")])
    return cells, extent, spacing


def test_export_vti(tiny_run, tmp_path):  # noqa: F811
    from kmc.store import RunStore

    out = tmp_path / "f.vti"
    res = kmc("export", tiny_run, "--vti", "--frame", "1", "--out", out)
    assert res.returncode == 0, res.stderr
    lat = RunStore.open(tiny_run, mode="r").frame(1).lattice
    cells, extent, spacing = _read_vti_cells(out)
    nz, ny, nx = lat.shape
    assert extent == [0, nx, 0, ny, 0, nz] and spacing == [0.05, 0.05, 0.05]
    for name in ("phase", "grain", "li", "tm", "disorder", "fill"):
        assert name in cells
    assert np.array_equal(cells["phase"].reshape(lat.shape), lat.phase)
    assert np.array_equal(cells["grain"].reshape(lat.shape), lat.grain)
    pv = pytest.importorskip("pyvista", reason="pyvista not installed: read-back with VTK skipped")
    grid = pv.read(out)
    assert tuple(grid.dimensions) == (nx + 1, ny + 1, nz + 1)
    assert np.array_equal(np.asarray(grid.cell_data["tm"]).reshape(lat.shape), lat.tm)
    assert np.allclose(np.asarray(grid.cell_data["fill"]).reshape(lat.shape), cells["fill"].reshape(lat.shape))
    assert "phase_pt" in grid.point_data


def test_export_needs_format_and_good_out(tiny_run, tmp_path):  # noqa: F811
    res = kmc("export", tiny_run, "--out", tmp_path / "a.vti")
    assert res.returncode == 2 and "--vti" in res.stderr
    res = kmc("export", tiny_run, "--vti", "--out", tmp_path / "a.vtk")
    assert res.returncode == 2 and "--out" in res.stderr


def test_probe_reports_crash_and_hang_in_one_line():
    from visualize.render3d import run_probe

    assert run_probe("print('ok')", 30) is None
    crash = run_probe("import os; os.abort()", 30)
    assert crash is not None and "crashed" in crash and "\n" not in crash
    hang = run_probe("import time; time.sleep(30)", 1)
    assert hang is not None and "did not finish" in hang
    err = run_probe("raise RuntimeError('no EGL display')", 30)
    assert err is not None and "no EGL display" in err


def test_render_without_gl_still_writes_section(tiny_run, tmp_path):  # noqa: F811
    """A GL stack that cannot render (EGL vendor library missing) -> '3D skipped', exit 0."""
    import os
    import subprocess
    import sys

    from conftest import REPO
    from test_plots import _SHIM

    env = dict(os.environ, PYTHONPATH=str(REPO), __EGL_VENDOR_LIBRARY_FILENAMES="/nonexistent.json",
               LIBGL_DRIVERS_PATH="/nonexistent", DISPLAY="")
    out = tmp_path / "x.png"
    res = subprocess.run([sys.executable, "-c", _SHIM, "render", str(tiny_run), "--out", str(out)], env=env,
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "x_section.png").is_file()
    if "3D skipped" in res.stdout:
        assert not out.exists()
    else:                                   # this VTK found another way to render
        assert out.is_file()
