// Per-phase totals of the lattice for the observables and the step control
// (kmc.backends.resident.PhaseSums), so that only 3 x 256 integers leave the device.
//
// count[p], tm_sum[p], li_sum[p] (uint64 (256,), zeroed by the host) receive the number of
// voxels, TM quanta and Li quanta of phase code p. Each thread sums the codes 0..7 (every
// kmc.state.Phase) in registers over its grid-stride loop and adds them once with atomicAdd;
// other codes go straight to atomics. Integer sums: the order of the atomics cannot change them.
#include "lattice.cuh"

#define KMC_REDUCE_CODES 8

extern "C" __global__ void kmc_phase_sums(const uint8_t* __restrict__ phase, const uint8_t* __restrict__ tm,
                                          const uint8_t* __restrict__ li, uint64_t n,
                                          kmc_counter_t* __restrict__ count, kmc_counter_t* __restrict__ tm_sum,
                                          kmc_counter_t* __restrict__ li_sum) {
    kmc_counter_t c[KMC_REDUCE_CODES], t[KMC_REDUCE_CODES], l[KMC_REDUCE_CODES];
#pragma unroll
    for (int q = 0; q < KMC_REDUCE_CODES; ++q) {
        c[q] = 0;
        t[q] = 0;
        l[q] = 0;
    }
    for (uint64_t i = kmc_thread_index(); i < n; i += kmc_grid_stride()) {
        const uint8_t p = phase[i];
        const kmc_counter_t ti = (kmc_counter_t)tm[i];
        const kmc_counter_t li_i = (kmc_counter_t)li[i];
        if (p >= KMC_REDUCE_CODES) {
            atomicAdd(count + p, 1ull);
            atomicAdd(tm_sum + p, ti);
            atomicAdd(li_sum + p, li_i);
            continue;
        }
#pragma unroll
        for (int q = 0; q < KMC_REDUCE_CODES; ++q) {  // register-resident: no indexed local array
            const kmc_counter_t hit = (p == q) ? 1ull : 0ull;
            c[q] += hit;
            t[q] += hit * ti;
            l[q] += hit * li_i;
        }
    }
#pragma unroll
    for (int q = 0; q < KMC_REDUCE_CODES; ++q) {
        kmc_add_counter(count + q, c[q]);
        kmc_add_counter(tm_sum + q, t[q]);
        kmc_add_counter(li_sum + q, l[q]);
    }
}

// TM quanta of layered voxels per Li/Ni disorder level, for the observables
// (kmc.observe.ObservationTables.layered_tm_by_disorder): out[d] (uint64 (256,), zeroed by the
// host) receives the sum of tm over voxels with phase == layered and disorder == d. One atomic
// per layered voxel: observations are rare (every few furnace minutes), so contention on the
// few populated levels costs little next to a step; integer sums, order-independent.
extern "C" __global__ void kmc_layered_disorder_tm(const uint8_t* __restrict__ phase, const uint8_t* __restrict__ tm,
                                                   const uint8_t* __restrict__ disorder, uint64_t n,
                                                   kmc_counter_t* __restrict__ out) {
    for (uint64_t i = kmc_thread_index(); i < n; i += kmc_grid_stride()) {
        if (phase[i] == KMC_LAYERED && tm[i] != 0) {
            atomicAdd(out + disorder[i], (kmc_counter_t)tm[i]);
        }
    }
}
