"""Row extents: per row (z, y) of the box, the first and last x of the voxels a pass can act on.

Most events act on a small part of the box at a time (sintering on TM voxels, grain growth on
voxels with a grain, Li hops where there is Li, the Li source where a source voxel holds Li,
nucleation on unrecrystallised layered voxels). A pass that knows each row's extent of such
voxels skips the rest of the row, and the rows without any, without reading them.
`row_extents` computes the extents for a membership test given as a numba function; an event
whose passes make new members widens the extent of their row (`widen`), so the extents stay a
superset of the members for the whole step and the result does not change.
"""

from __future__ import annotations

import numba as nb
import numpy as np


@nb.njit(parallel=True, cache=True)
def row_extents(member, a, b, c, nz, ny, nx, ext):
    """ext int64 (nz ny, 2) <- first and last x of the voxels k of row (z, y) with member(a, b, c, k)
    (k the flat C-order index, uint64), (nx, -1) for a row without any.

    member: a numba function (inlined) of two arrays, a scalar and the index, returning a bool;
    a, b, c: what it reads. Branch-free min / max, which LLVM vectorises."""
    for r in nb.prange(nz * ny):
        row = np.uint64(r * nx)
        lo = nx
        hi = -1
        for x in range(nx):
            t = member(a, b, c, row + np.uint64(x))
            lo = min(lo, x if t else nx)
            hi = max(hi, x if t else -1)
        ext[r, 0] = lo
        ext[r, 1] = hi


@nb.njit(inline="always", cache=True)
def widen(ext, rr, x):
    """Row rr's extent (ext int64 (nz ny, 2)) now also holds x."""
    if x < ext[rr, 0]:
        ext[rr, 0] = x
    if x > ext[rr, 1]:
        ext[rr, 1] = x
