// Cation ordering: kmc/events/ordering.py (_relax), bit for bit.
//
// One pass, reach: the site; all arithmetic uint64 (wraps exactly as numba's uint64).
// Per LAYERED voxel i, with thresholds (w, E0, C, Emax) from the host:
//   E   = min(Emax, E0 + C (tm - li) / tm)  if C != 0 and li < tm, else min(Emax, E0)
//   a   = ((d (2^32 - w)) << 16) + E w
//   r48 = (r.x << 16) | (r.y >> 16),  r = draw4(seed, step, 0, i, ORDERING)
//   d'  = (uint8) ((a + r48) >> 48)
// *changed counts the voxels whose disorder changed.
#include "lattice.cuh"
#include "philox.cuh"

extern "C" __global__ void kmc_ordering(const uint8_t* __restrict__ phase, uint8_t* __restrict__ disorder,
                                        const uint8_t* __restrict__ li, const uint8_t* __restrict__ tm,
                                        uint64_t n, uint64_t w, uint64_t E0, uint64_t C, uint64_t Emax,
                                        uint64_t seed, uint64_t step, kmc_counter_t* __restrict__ changed) {
    const uint64_t keep = 4294967296ull - w;
    kmc_counter_t count = 0;
    for (uint64_t i = kmc_thread_index(); i < n; i += kmc_grid_stride()) {
        if (phase[i] != KMC_LAYERED) {
            continue;
        }
        uint64_t E = E0;
        const uint64_t t = (uint64_t)tm[i];
        const uint64_t l = (uint64_t)li[i];
        if (C != 0ull && l < t) {
            E = E0 + (C * (t - l)) / t;
        }
        E = E < Emax ? E : Emax;
        const kmc_u32x4 r = draw4(seed, step, 0u, i, KMC_STREAM_ORDERING);
        const uint64_t r48 = ((uint64_t)r.x << 16) | ((uint64_t)r.y >> 16);
        const uint8_t d_old = disorder[i];
        const uint64_t a = (((uint64_t)d_old * keep) << 16) + E * w;
        const uint8_t d_new = (uint8_t)((a + r48) >> 48);
        if (d_new != d_old) {
            disorder[i] = d_new;
            ++count;
        }
    }
    kmc_add_counter(changed, count);
}
