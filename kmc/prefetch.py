"""A cache prefetch hint for numba kernels: `prefetch` (LLVM's llvm.prefetch, x86 prefetcht0).

The sintering attempt reads a 4 x 3 x 3 box of packed words scattered over 4 planes of the
lattice; on lattices larger than the last-level cache those loads miss, and the branches of an
attempt keep the processor from running ahead to the next one. Asking for the next attempts'
cache lines early (`kmc.events.sintering`) hides part of that latency. A hint changes no value:
results are bit for bit the same with or without it.
"""

from __future__ import annotations

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic


@intrinsic
def prefetch(typingctx, arr, idx):
    """Hint that ``arr[idx]`` (a 1-D array, idx an integer, not checked) will be read soon. The
    caller keeps the address arr + idx inside memory it allocated (on x86 a prefetch of any
    address never faults, but the address must be a valid one for LLVM)."""
    if not (isinstance(arr, types.Array) and arr.ndim == 1 and isinstance(idx, types.Integer)):
        return None
    sig = types.void(arr, idx)

    def codegen(context, builder, signature, args):
        aryty, _ = signature.args
        ary = context.make_array(aryty)(context, builder, args[0])
        ptr = cgutils.get_item_pointer(context, builder, aryty, ary, [args[1]], wraparound=False)
        i8p = builder.bitcast(ptr, ir.IntType(8).as_pointer())
        i32 = ir.IntType(32)
        fnty = ir.FunctionType(ir.VoidType(), [i8p.type, i32, i32, i32])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.prefetch.p0i8")
        # read (0), high temporal locality (3: keep in all cache levels), data cache (1)
        builder.call(fn, [i8p, ir.Constant(i32, 0), ir.Constant(i32, 3), ir.Constant(i32, 1)])
        return context.get_dummy_value()

    return sig, codegen
