// Lithiation into the layered phase: kmc/events/lithiation.py (_lithiate), bit for bit.
//
// One launch per route (pass = route: 0 topotactic from HYDROXIDE, 1 from ROCK_SALT), reach:
// the site. A voxel of phase `parent` with tm > 0 and 256 li >= x256 tm converts to LAYERED
// when draw4(seed, step, pass, i, LITHIATION).x < threshold; its disorder becomes
// min(255, d0 + 255 (tm - li) / tm) if li < tm, else min(255, d0). With releases_water != 0
// its tm quanta of H2O are added to *h2o_q.
#include "lattice.cuh"
#include "philox.cuh"

extern "C" __global__ void kmc_lithiation(uint8_t* __restrict__ phase, const uint8_t* __restrict__ li,
                                          const uint8_t* __restrict__ tm, uint8_t* __restrict__ disorder,
                                          uint64_t n, uint32_t parent, uint64_t threshold, int64_t x256,
                                          int64_t d0, uint32_t releases_water, uint64_t seed, uint64_t step,
                                          uint32_t pass, kmc_counter_t* __restrict__ h2o_q) {
    kmc_counter_t water = 0;
    for (uint64_t i = kmc_thread_index(); i < n; i += kmc_grid_stride()) {
        if ((uint32_t)phase[i] != parent) {
            continue;
        }
        const int64_t t = (int64_t)tm[i];
        const int64_t l = (int64_t)li[i];
        if (t == 0 || 256 * l < x256 * t) {
            continue;
        }
        if ((uint64_t)draw4(seed, step, pass, i, KMC_STREAM_LITHIATION).x >= threshold) {
            continue;
        }
        int64_t d = d0;
        if (l < t) {
            d += 255 * (t - l) / t;  // non-negative operands: C division == floor division
        }
        phase[i] = KMC_LAYERED;
        disorder[i] = (uint8_t)(d < 255 ? d : 255);
        if (releases_water != 0u) {
            water += (kmc_counter_t)t;
        }
    }
    kmc_add_counter(h2o_q, water);
}
