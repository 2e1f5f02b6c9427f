"""Export a lattice for ParaView: a VTK XML ImageData file (.vti), written without VTK.

Cell data (one value per voxel): ``phase``, ``grain``, ``li``, ``tm``, ``disorder``,
``flags`` (the `kmc.state.Lattice` fields, their own dtypes) and ``fill`` (float32,
`kmc.state.fill_fraction`); point data ``phase_pt`` and ``fill_pt`` (nearest / mean of the
adjacent voxels) for contour filters. Origin 0, spacing = voxel edge in µm, x fastest,
so the image axes are (x, y, z) = the lattice's last, middle and first index.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path

import numpy as np

from kmc.state import Lattice, fill_fraction

_VTK_TYPES = {np.dtype(np.uint8): "UInt8", np.dtype(np.int32): "Int32", np.dtype(np.float32): "Float32",
              np.dtype(np.float64): "Float64", np.dtype(np.uint16): "UInt16"}


def _data_array(name: str, arr: np.ndarray) -> str:
    arr = np.ascontiguousarray(arr).ravel(order="C")
    raw = arr.astype(arr.dtype.newbyteorder("<"), copy=False).tobytes()
    header = np.array([len(raw)], dtype="<u8").tobytes()
    payload = base64.b64encode(header).decode() + base64.b64encode(raw).decode()
    return (f'        <DataArray type="{_VTK_TYPES[arr.dtype]}" Name="{name}" format="binary" '
            f'RangeMin="{arr.min() if arr.size else 0}" RangeMax="{arr.max() if arr.size else 0}">\n'
            f"          {payload}\n        </DataArray>\n")


def _point_average(values: np.ndarray) -> np.ndarray:
    """(nz, ny, nx) cell values -> (nz+1, ny+1, nx+1) point values, mean of the adjacent cells."""
    p = np.pad(values.astype(np.float32), 1, mode="edge")
    out = np.zeros(tuple(s + 1 for s in values.shape), dtype=np.float32)
    for dz in (0, 1):
        for dy in (0, 1):
            for dx in (0, 1):
                out += p[dz:dz + out.shape[0], dy:dy + out.shape[1], dx:dx + out.shape[2]]
    return out / 8.0


def write_vti(lattice: Lattice, voxel_nm: float, out: str | Path, *, field_data: dict | None = None) -> Path:
    """Write ``lattice`` as ``out`` (.vti, inline base64 binary, UInt64 headers); returns the path."""
    nz, ny, nx = lattice.shape
    h = voxel_nm / 1000.0
    cells = dict(lattice.arrays())
    cells["fill"] = fill_fraction(lattice)
    points = {"phase_pt": np.pad(lattice.phase, ((0, 1), (0, 1), (0, 1)), mode="edge"),
              "fill_pt": _point_average(cells["fill"])}
    extent = f"0 {nx} 0 {ny} 0 {nz}"
    parts = ['<?xml version="1.0"?>\n',
             '<VTKFile type="ImageData" version="1.0" byte_order="LittleEndian" header_type="UInt64">\n',
             f'  <ImageData WholeExtent="{extent}" Origin="0 0 0" Spacing="{h!r} {h!r} {h!r}">\n']
    if field_data:
        parts.append("    <FieldData>\n")
        for k, v in field_data.items():
            parts.append(_data_array(k, np.atleast_1d(np.asarray(v, dtype=np.float64))).replace("        ", "      ", 1))
        parts.append("    </FieldData>\n")
    parts.append(f'    <Piece Extent="{extent}">\n')
    parts.append('      <PointData Scalars="phase_pt">\n')
    parts += [_data_array(k, v) for k, v in points.items()]
    parts.append("      </PointData>\n")
    parts.append('      <CellData Scalars="phase">\n')
    parts += [_data_array(k, v) for k, v in cells.items()]
    parts.append("      </CellData>\n    </Piece>\n  </ImageData>\n</VTKFile>\n")
    out = Path(out)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text("".join(parts))
    os.replace(tmp, out)
    return out
