// Thermal dehydration TM(OH)2 -> TMO + H2O: kmc/events/dehydration.py (_dehydrate), bit for bit.
//
// One pass, reach: the site. A HYDROXIDE voxel i converts to ROCK_SALT when
// draw4(seed, step, 0, i, DEHYDRATION).x < threshold (uint64 in [0, 2^32], from the host);
// its tm quanta of H2O are added to *h2o_q.
#include "lattice.cuh"
#include "philox.cuh"

extern "C" __global__ void kmc_dehydration(uint8_t* __restrict__ phase, const uint8_t* __restrict__ tm,
                                           uint64_t n, uint64_t threshold, uint64_t seed, uint64_t step,
                                           kmc_counter_t* __restrict__ h2o_q) {
    kmc_counter_t released = 0;
    for (uint64_t i = kmc_thread_index(); i < n; i += kmc_grid_stride()) {
        if (phase[i] != KMC_HYDROXIDE) {
            continue;
        }
        const uint32_t r = draw4(seed, step, 0u, i, KMC_STREAM_DEHYDRATION).x;
        if ((uint64_t)r < threshold) {
            phase[i] = KMC_ROCK_SALT;
            released += (kmc_counter_t)tm[i];
        }
    }
    kmc_add_counter(h2o_q, released);
}
