"""kmc.prefetch: a hint that compiles into the kernels and changes no value."""

import platform

import numba as nb
import numpy as np

from kmc.prefetch import prefetch


@nb.njit
def _sum_with_hints(a, ahead):
    s = 0
    for k in range(a.size):
        prefetch(a, k + ahead)      # past the end: inside the padded allocation of the caller
        s += a[k]
    return s


def test_prefetch_changes_no_value_and_becomes_a_prefetch_instruction():
    padded = np.arange(1000 + 64, dtype=np.int64)
    a = padded[32:32 + 1000]
    assert _sum_with_hints(a, 16) == a.sum()
    assert _sum_with_hints(a, -16) == a.sum()
    if platform.machine() in ("x86_64", "AMD64"):
        assert "prefetcht0" in "".join(_sum_with_hints.inspect_asm().values())
