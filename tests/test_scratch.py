"""kmc.scratch: buffers reused between steps, per thread, replaced on a new size, released."""

import threading

import numpy as np

from kmc import scratch
from kmc.backends.cpu import CpuBackend


def test_same_name_and_size_gives_the_same_memory_another_size_replaces_it():
    scratch.release()
    a = scratch.buffer("t.a", 1000, np.int64)
    assert a.flags.c_contiguous and a.dtype == np.int64 and a.shape == (1000,)
    assert scratch.buffer("t.a", 1000, np.int64) is a
    b = scratch.buffer("t.a", 2000, np.int64)
    assert b is not a and b.size == 2000
    c = scratch.buffer("t.a", 2000, np.uint8)
    assert c is not b and c.dtype == np.uint8
    assert scratch.held_bytes() == 2000
    CpuBackend().release()
    assert scratch.held_bytes() == 0


def test_each_thread_has_its_own_buffers():
    scratch.release()
    mine = scratch.buffer("t.b", 64, np.uint8)
    seen = []
    worker = threading.Thread(target=lambda: seen.append(scratch.buffer("t.b", 64, np.uint8)))
    worker.start()
    worker.join()
    assert seen[0] is not mine and scratch.buffer("t.b", 64, np.uint8) is mine
    scratch.release()
