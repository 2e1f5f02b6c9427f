"""kernels/sintering.cu without a GPU: its g++ emulation equals the numba sintering pass bit for bit.

The emulation (kmc.backends.emulated) builds kernels/*.cu as host C++ and runs the launch plan of
`kmc.backends.cuda.plan` (n_sub x 36 colour launches) on host buffers, so the comparison checks the
kernel and the plan together. nvcc compiles the kernel in tests/test_kernels.py (every kernels/*.cu
for sm_80 and sm_90 with -Werror all-warnings).
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from kmc.backends import cuda as cuda_backend
from kmc.events.sintering import Sintering, boltzmann_thresholds
from kmc.rng import probability_threshold
from kmc.state import Lattice, Phase

TWO32 = 1 << 32
SHAPES = [(12, 10, 9), (7, 8, 9), (3, 5, 4), (1, 3, 2)]
EVENTS = [Sintering(3.4e10, 250.0, 2.0, 0.5), Sintering(3.4e10, 250.0, 1.0, 0.0), Sintering(1e12, 250.0, 0.5, 1.25)]

needs_gxx = pytest.mark.skipif(shutil.which("g++") is None, reason="g++ is not installed")


def sintering_lattice(shape, seed: int) -> Lattice:
    """Pores, all three TM phases with fills from a few quanta to dense, Li sources, grains 1..5
    and some grain 0; seed % 3 == 0 gives a wild lattice (every phase code, tm and li up to 255,
    negative and huge grain ids) for the edge paths (q <= 0, Li refusal)."""
    rng = np.random.default_rng(seed)
    lat = Lattice.empty(shape)
    if seed % 3 == 0:
        lat.phase[...] = rng.integers(0, 8, shape)
        lat.tm[...] = rng.choice([0, 1, 30, 63, 64, 68, 72, 73, 135, 136, 200, 255], shape)
        lat.li[...] = rng.choice([0, 5, 100, 200, 250, 255], shape)
        lat.grain[...] = rng.choice([-3, 0, 1, 2, 3, 2**31 - 1], shape)
    else:
        lat.phase[...] = rng.choice([0, 0, 0, 1, 2, 2, 3, 3, 3, 5, 6], shape)
        dense = {1: 64, 2: 136, 3: 73}
        for p, d in dense.items():
            m = lat.phase == p
            lat.tm[m] = np.where(rng.random(int(m.sum())) < 0.4, d, rng.integers(1, d + 1, int(m.sum())))
        tm_voxel = np.isin(lat.phase, list(dense))
        lat.li[...] = np.where(tm_voxel, rng.integers(0, 120, shape), 0)
        lat.li[lat.phase >= 4] = 91
        lat.grain[...] = np.where(tm_voxel & (rng.random(shape) < 0.9), rng.integers(1, 6, shape), 0)
    lat.disorder[...] = rng.integers(0, 256, shape)
    lat.flags[...] = (rng.random(shape) < 0.1).astype(np.uint8)
    if seed >= 4:   # mostly gas: lone solid voxels, whose swaps the no-floating rule refuses
        gas = rng.random(shape) < 0.85
        lat.phase[gas], lat.tm[gas], lat.li[gas], lat.grain[gas], lat.disorder[gas] = 0, 0, 0, 0, 0
    return lat


def thresholds_for(ev: Sintering, step: int) -> np.ndarray:
    """[T_attempt, n_sub, T_B...]: the event's own at 850 °C (7 sub-steps) and at 700 °C (1), every
    pair attempting, kT = 0 (only downhill moves) and a near-infinite kT, cycled by step."""
    table = boltzmann_thresholds(ev.lattice_kT)
    cases = (ev.thresholds(850.0, 60.0), np.r_[TWO32, 2, table], ev.thresholds(700.0, 600.0),
             np.r_[probability_threshold(0.5), 3, boltzmann_thresholds(0.0)],
             np.r_[probability_threshold(0.8), 2, boltzmann_thresholds(1e6)], np.r_[TWO32, 1, table])
    return np.asarray(cases[step % len(cases)], dtype=np.uint64)


@pytest.fixture(scope="module")
def emulated():
    if shutil.which("g++") is None:
        pytest.skip("g++ is not installed: the kernel emulation cannot be built")
    from kmc.backends.emulated import EmulatedBackend

    return EmulatedBackend()


@needs_gxx
@pytest.mark.parametrize("event", EVENTS, ids=lambda ev: f"kT{ev.lattice_kT:g}-gb{ev.grain_boundary_energy:g}")
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_emulated_sintering_equals_numba_bit_for_bit(emulated, event, shape):
    moved = 0
    for lattice_seed in (1, 2, 3, 4):
        ref = sintering_lattice(shape, lattice_seed)
        emu = ref.copy()
        seed = 0x0FED_CBA9_8765_4321 + lattice_seed
        for step in range(6):
            thr = thresholds_for(event, step)
            step_id = step + (2**32 + 11 if step == 5 else 0)  # a step above 2^32 uses the high counter word
            want = event.cpu_pass(ref, seed, step_id, thr)
            got = emulated.apply(event, emu, seed, step_id, thr)
            assert got == want, f"seed {lattice_seed} step {step}: counters {got} != {want}"
            for name, a in ref.arrays().items():
                b = emu.arrays()[name]
                assert np.array_equal(a, b), f"step {step}: field {name} differs at {np.argwhere(a != b)[:5].tolist()}"
            moved += sum(want.values())
    if shape != (1, 3, 2):
        assert moved > 50, "the thresholds should make sintering move voxels"


@needs_gxx
def test_result_does_not_depend_on_the_emulated_launch_shape():
    from kmc.backends.emulated import EmulatedBackend

    ev = EVENTS[0]
    base = sintering_lattice((9, 8, 7), 2)
    results = []
    for grid, block in ((1, 1), (2, 3), (5, 7)):
        lat = base.copy()
        out = EmulatedBackend(grid, block).apply(ev, lat, 5, 3, thresholds_for(ev, 1))
        results.append((out, b"".join(a.tobytes() for a in lat.arrays().values())))
    assert results[0] == results[1] == results[2]
    assert results[0][0]["sinter_swaps"] > 0


def test_plan_launches_and_refusals():
    ev = EVENTS[0]
    thr = ev.thresholds(850.0, 60.0)
    launches = cuda_backend.plan(ev, (6, 7, 8), 1, 3, thr)
    assert len(launches) == 36 * int(thr[1]) == 252
    assert [int(L.args[11]) for L in launches[:36]] == list(range(35, -1, -1))  # step 3, sub-step 0: descending
    assert all(L.kernel == "kmc_sintering_pairs" and L.source == "sintering.cu" for L in launches)
    assert cuda_backend.plan(ev, (6, 7, 8), 1, 3, ev.thresholds(300.0, 60.0)) == []   # cold: nothing
    with pytest.raises(TypeError, match="uint64"):
        cuda_backend.plan(ev, (6, 7, 8), 1, 3, thr.astype(np.int64))
    bad = thr.copy()
    bad[1] = 8
    with pytest.raises(ValueError, match="sub-steps"):
        cuda_backend.plan(ev, (6, 7, 8), 1, 3, bad)
    assert int(Phase.PORE) == 0   # the kernel's KMC_PORE
