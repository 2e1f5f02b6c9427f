"""Screening 8 voxels per 64-bit operation ("SIMD within a register") in the CPU passes.

A pass that looks for the few pairs that can act (li_source: a source with Li next to TM or a
pore) keeps one byte per voxel whose bits say what the voxel is. `load8` reads 8 consecutive
bytes as one uint64, so one AND / OR of two such words tests 8 pairs; a zero word skips them all,
and `first_byte` finds the next byte with a bit set. Bytes are little-endian: byte k of the word
is voxel index + k. It pays where the pairs that act are sparse: for sintering, where about a
third of the positions hold a candidate voxel, the loop over the set bytes mispredicted and the
pass ran 8-15 % slower (bench/RESULTS.md, 2026-12-06).
"""

from __future__ import annotations

import numba as nb
import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.cpython.unsafe.numbers import trailing_zeros
from numba.extending import intrinsic

#: bit 0 of each byte of a word
LOW_BITS = np.uint64(0x0101010101010101)


@intrinsic
def load8(typingctx, arr, idx):
    """arr[idx .. idx + 7] of a uint8 array as one uint64 (byte k = arr[idx + k]; one unaligned
    load, no bounds check: the caller keeps it inside the allocation)."""
    if not (isinstance(arr, types.Array) and arr.ndim == 1 and arr.dtype == types.uint8
            and isinstance(idx, types.Integer)):
        return None
    sig = types.uint64(arr, idx)

    def codegen(context, builder, signature, args):
        aryty = signature.args[0]
        ary = context.make_array(aryty)(context, builder, args[0])
        ptr = cgutils.get_item_pointer(context, builder, aryty, ary, [args[1]], wraparound=False)
        word = builder.load(builder.bitcast(ptr, ir.IntType(64).as_pointer()))
        word.align = 1
        return word

    return sig, codegen


@nb.njit(inline="always", cache=True)
def first_byte(word):
    """Index (0..7) of the lowest byte of ``word`` (uint64, nonzero) with a bit set."""
    return np.int64(trailing_zeros(word) >> np.uint64(3))


@nb.njit(inline="always", cache=True)
def bytes_below(n):
    """uint64 with all bits of bytes 0 .. n - 1 set (n in 0..8)."""
    return np.uint64(0xFFFFFFFFFFFFFFFF) if n >= 8 else (np.uint64(1) << np.uint64(8 * n)) - np.uint64(1)
