"""Philox4x32-10 counter-based random numbers (Salmon et al., SC'11; Random123).

A random draw is a pure function of (seed, step, pass, site, stream): thread count,
scheduling, backend and restarts cannot change a result. The layout of the 128-bit counter
and 64-bit key is fixed here and mirrored by kernels/philox.cuh:

    key     = (seed & 0xFFFFFFFF, seed >> 32)
    counter = (site & 0xFFFFFFFF,
               (site >> 32) & 0xFF | (pass & 0xFF) << 8 | (stream & 0xFFFF) << 16,
               step & 0xFFFFFFFF,
               step >> 32)

so sites up to 2^40, 256 passes per step and 65536 streams. Each call yields four uint32.
Stream ids live in `Stream`, the one table of them.
"""

from __future__ import annotations

from enum import IntEnum

import numba as nb
import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

PHILOX_M0 = np.uint32(0xD2511F53)
PHILOX_M1 = np.uint32(0xCD9E8D57)
PHILOX_W0 = np.uint32(0x9E3779B9)
PHILOX_W1 = np.uint32(0xBB67AE85)


class Stream(IntEnum):
    """Random stream ids, one per event kind (never renumber: stores depend on them)."""

    DEHYDRATION = 1
    LI_SOURCE = 2
    LI_HOP = 3
    LITHIATION = 4
    ROCK_SALT_LITHIATION = 5
    NUCLEATION = 6
    ORDERING = 7
    GRAIN_GROWTH = 8
    SINTERING = 9
    BUILD = 100


@nb.njit(inline="always", cache=True)
def _mulhilo(a, b):
    p = np.uint64(a) * np.uint64(b)
    return np.uint32(p >> np.uint64(32)), np.uint32(p & np.uint64(0xFFFFFFFF))


@nb.njit(cache=True)
def philox4x32_10(c0, c1, c2, c3, k0, k1):
    """Philox4x32 with 10 rounds: counter (c0..c3), key (k0, k1), all uint32 -> 4 x uint32."""
    c0 = np.uint32(c0)
    c1 = np.uint32(c1)
    c2 = np.uint32(c2)
    c3 = np.uint32(c3)
    k0 = np.uint32(k0)
    k1 = np.uint32(k1)
    for _ in range(10):
        hi0, lo0 = _mulhilo(PHILOX_M0, c0)
        hi1, lo1 = _mulhilo(PHILOX_M1, c2)
        c0, c1, c2, c3 = hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0
        k0 = np.uint32(k0 + PHILOX_W0)
        k1 = np.uint32(k1 + PHILOX_W1)
    return c0, c1, c2, c3


@nb.njit(inline="always", cache=True)
def draw4(seed, step, pass_, site, stream):
    """Four uint32 random numbers for (seed, step, pass, site, stream); layout in module doc."""
    seed = np.uint64(seed)
    step = np.uint64(step)
    site = np.uint64(site)
    c1 = (np.uint32((site >> np.uint64(32)) & np.uint64(0xFF))
          | (np.uint32(pass_ & 0xFF) << np.uint32(8))
          | (np.uint32(stream & 0xFFFF) << np.uint32(16)))
    return philox4x32_10(np.uint32(site & np.uint64(0xFFFFFFFF)), c1,
                         np.uint32(step & np.uint64(0xFFFFFFFF)), np.uint32(step >> np.uint64(32)),
                         np.uint32(seed & np.uint64(0xFFFFFFFF)), np.uint32(seed >> np.uint64(32)))


_M0 = np.uint64(PHILOX_M0)
_M1 = np.uint64(PHILOX_M1)
_W0 = np.uint64(PHILOX_W0)
_W1 = np.uint64(PHILOX_W1)
_LO32 = np.uint64(0xFFFFFFFF)


#: Lanes of one `_philox_block` (one LLVM vector of 8 x i64 per counter word).
BLOCK_LANES = 8


@intrinsic
def _philox_block(typingctx, c0, c1, c2, c3, base, k0, k1):
    """Philox4x32-10 on the BLOCK_LANES lanes base .. base + 7 of c0..c3 (uint64 C-contiguous 1-D
    arrays of 32-bit words, in place; the caller keeps base + 8 <= their size); k0, k1 the key
    words (uint64 < 2^32).

    The same arithmetic as `philox_lanes`' loop, written as LLVM vector operations on <8 x i64>
    so that the four words stay in registers for all ten rounds: the loop form stores them back
    to memory after every round, which bounds it by the store port (~2.3x slower here, AMD EPYC).
    LLVM lowers the vectors to whatever the target has (AVX-512, AVX2, SSE, NEON)."""
    arrays = (c0, c1, c2, c3)
    if not all(isinstance(a, types.Array) and a.ndim == 1 and a.layout == "C" and a.dtype == types.uint64
               for a in arrays) or not isinstance(base, types.Integer):
        return None
    sig = types.void(c0, c1, c2, c3, base, k0, k1)

    def codegen(context, builder, signature, args):
        i64 = ir.IntType(64)
        vec = ir.VectorType(i64, BLOCK_LANES)

        def splat(x):
            return ir.Constant(vec, [ir.Constant(i64, x)] * BLOCK_LANES)

        def broadcast(value, ty):
            value = context.cast(builder, value, ty, types.uint64)
            out = ir.Constant(vec, ir.Undefined)
            for lane in range(BLOCK_LANES):
                out = builder.insert_element(out, value, ir.Constant(ir.IntType(32), lane))
            return out

        ptrs = []
        for value, aty in zip(args[:4], signature.args[:4]):
            ary = context.make_array(aty)(context, builder, value)
            first = cgutils.get_item_pointer(context, builder, aty, ary, [args[4]], wraparound=False)
            ptrs.append(builder.bitcast(first, vec.as_pointer()))
        words = []
        for ptr in ptrs:
            load = builder.load(ptr)
            load.align = 8
            words.append(load)
        x0, x1, x2, x3 = words
        key0 = broadcast(args[5], signature.args[5])
        key1 = broadcast(args[6], signature.args[6])
        m0, m1, w0, w1 = (splat(int(v)) for v in (PHILOX_M0, PHILOX_M1, PHILOX_W0, PHILOX_W1))
        lo, s32 = splat(0xFFFFFFFF), splat(32)
        for _ in range(10):
            p0 = builder.mul(m0, x0)
            p1 = builder.mul(m1, x2)
            n0 = builder.and_(builder.xor(builder.xor(builder.lshr(p1, s32), x1), key0), lo)
            n2 = builder.and_(builder.xor(builder.xor(builder.lshr(p0, s32), x3), key1), lo)
            x0, x1, x2, x3 = n0, builder.and_(p1, lo), n2, builder.and_(p0, lo)
            key0 = builder.and_(builder.add(key0, w0), lo)
            key1 = builder.and_(builder.add(key1, w1), lo)
        for ptr, value in zip(ptrs, (x0, x1, x2, x3)):
            store = builder.store(value, ptr)
            store.align = 8
        return context.get_dummy_value()

    return sig, codegen


@nb.njit(inline="always", cache=True)
def philox_lanes(c0, c1, c2, c3, k0, k1, m):
    """Philox4x32-10 on m independent lanes, in place: c0..c3 uint64 (>= m,) C-contiguous, hold
    32-bit counter words and receive the 4 output words; k0, k1 the key words (uint64 < 2^32).

    Bit for bit `philox4x32_10` per lane. Blocks of BLOCK_LANES lanes go through
    `_philox_block` (vector registers for all rounds), as far as the arrays have room (a block
    may run past m into lanes nobody reads); the lanes left run in the loop below, which LLVM
    vectorises too but which keeps the words in memory between rounds."""
    size = min(c0.size, c1.size, c2.size, c3.size)
    done = 0
    while done < m and done + BLOCK_LANES <= size:
        _philox_block(c0, c1, c2, c3, done, k0, k1)
        done += BLOCK_LANES
    for _ in range(10):
        for j in range(done, m):
            p0 = _M0 * c0[j]
            p1 = _M1 * c2[j]
            n0 = ((p1 >> np.uint64(32)) ^ c1[j] ^ k0) & _LO32
            n2 = ((p0 >> np.uint64(32)) ^ c3[j] ^ k1) & _LO32
            c1[j] = p1 & _LO32
            c3[j] = p0 & _LO32
            c0[j] = n0
            c2[j] = n2
        k0 = (k0 + _W0) & _LO32
        k1 = (k1 + _W1) & _LO32


@nb.njit(inline="always", cache=True)
def draw4_lanes(sites, base, m, c0, c1, c2, c3, seed, step, pass_, stream):
    """``draw4(seed, step, pass_, base + sites[j], stream)`` for j < m, into the lanes c0..c3
    (uint64 (>= m,): the four words of each draw). seed, step uint64; sites int64."""
    hi = (np.uint64(pass_ & 0xFF) << np.uint64(8)) | (np.uint64(stream & 0xFFFF) << np.uint64(16))
    s_lo = step & _LO32
    s_hi = step >> np.uint64(32)
    for j in range(m):
        site = np.uint64(base + sites[j])
        c0[j] = site & _LO32
        c1[j] = ((site >> np.uint64(32)) & np.uint64(0xFF)) | hi
        c2[j] = s_lo
        c3[j] = s_hi
    philox_lanes(c0, c1, c2, c3, seed & _LO32, seed >> np.uint64(32), m)


def probability_threshold(p: float) -> np.uint64:
    """Integer threshold for an event of probability p: it fires when a uint32 draw < threshold.

    Computed once on the host so both backends compare integers, never floats.
    Returns uint64 in [0, 2^32].
    """
    p = min(max(float(p), 0.0), 1.0)
    return np.uint64(round(p * 4294967296.0))
