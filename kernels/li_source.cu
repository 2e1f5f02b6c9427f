// The Li source: kmc/events/li_source.py (_site_rules, _pair_pass, _pair), bit for bit.
//
// Thresholds th: uint64 (9,) from LiSource.thresholds: [hydrate, melt state (1 solid, 2 molten), wetting,
// then (whole, frac) of the release per source phase LIOH, LIOH_MELT, LI2CO3].
// Capacity tables cap_base, cap_per_tm: int32 (256,) (kmc.events.li_hop.capacity_tables).
#include "lattice.cuh"
#include "philox.cuh"

#define KMC_LS_T_HYDRATE 0
#define KMC_LS_T_MELTED 1
#define KMC_LS_T_WET 2
#define KMC_LS_T_RELEASE 3

// Rules 1-2 (pass 0), reach: the site. Hydrate LIOH_H2O -> LIOH with probability th[0]
// (its li quanta of H2O go to *h2o_q); then LIOH -> melt when th[1] == 2, melt -> LIOH when 1.
extern "C" __global__ void kmc_li_source_sites(uint8_t* __restrict__ phase, const uint8_t* __restrict__ li,
                                               uint64_t n, const uint64_t* __restrict__ th, uint64_t seed,
                                               uint64_t step, kmc_counter_t* __restrict__ h2o_q) {
    const uint64_t hydrate = th[KMC_LS_T_HYDRATE];
    const bool melted = th[KMC_LS_T_MELTED] == 2ull;
    const bool frozen = th[KMC_LS_T_MELTED] == 1ull;
    kmc_counter_t h2o = 0;
    for (uint64_t i = kmc_thread_index(); i < n; i += kmc_grid_stride()) {
        uint8_t ph = phase[i];
        if (ph == KMC_LIOH_H2O) {
            if ((uint64_t)draw4(seed, step, 0u, i, KMC_STREAM_LI_SOURCE).x < hydrate) {
                phase[i] = KMC_LIOH;
                h2o += (kmc_counter_t)li[i];
                ph = KMC_LIOH;
            }
        }
        if (ph == KMC_LIOH && melted) {
            phase[i] = KMC_LIOH_MELT;
        } else if (ph == KMC_LIOH_MELT && frozen) {
            phase[i] = KMC_LIOH;
        }
    }
    kmc_add_counter(h2o_q, h2o);
}

__device__ __forceinline__ int kmc_release_index(uint8_t ph) {
    if (ph == KMC_LIOH) return 0;
    if (ph == KMC_LIOH_MELT) return 1;
    if (ph == KMC_LI2CO3) return 2;
    return -1;
}

// Whether voxel t has a TM solid among its 6 face-neighbours in the box (nz, ny, nx).
__device__ __forceinline__ bool kmc_touches_tm(const uint8_t* __restrict__ phase, uint64_t t, uint64_t nz,
                                               uint64_t ny, uint64_t nx) {
    const uint64_t x = t % nx;
    const uint64_t y = (t / nx) % ny;
    const uint64_t z = t / (nx * ny);
    return (x > 0ull && kmc_is_tm(phase[t - 1ull])) || (x + 1ull < nx && kmc_is_tm(phase[t + 1ull])) ||
           (y > 0ull && kmc_is_tm(phase[t - nx])) || (y + 1ull < ny && kmc_is_tm(phase[t + nx])) ||
           (z > 0ull && kmc_is_tm(phase[t - nx * ny])) || (z + 1ull < nz && kmc_is_tm(phase[t + nx * ny]));
}

// Rules 3-4 on the pair (i, j). Adds released Li to *from_lioh / *from_li2co3. The draw,
// draw4(seed, step, pass, i, LI_SOURCE).x of the lower voxel i, is made only when a threshold
// can fire (an idle pair, such as two melt voxels, costs no draw).
__device__ __forceinline__ void kmc_li_source_pair(uint64_t i, uint64_t j, uint8_t* __restrict__ phase,
                                                   uint8_t* __restrict__ li, const uint8_t* __restrict__ tm,
                                                   int32_t* __restrict__ grain, uint8_t* __restrict__ disorder,
                                                   const uint64_t* __restrict__ th,
                                                   const int32_t* __restrict__ cap_base,
                                                   const int32_t* __restrict__ cap_per_tm, uint64_t seed,
                                                   uint64_t step, uint32_t pass, uint64_t nz, uint64_t ny,
                                                   uint64_t nx, kmc_counter_t* from_lioh, kmc_counter_t* from_li2co3) {
    uint64_t s, t;
    if (kmc_release_index(phase[i]) >= 0 && li[i] > 0) {
        s = i;
        t = j;
    } else if (kmc_release_index(phase[j]) >= 0 && li[j] > 0) {
        s = j;
        t = i;
    } else {
        return;
    }
    const uint8_t ps = phase[s];
    const uint8_t pt = phase[t];
    const int k = kmc_release_index(ps);
    if (kmc_is_tm(pt)) {
        int64_t n = (int64_t)th[KMC_LS_T_RELEASE + 2 * k];
        const uint64_t frac = th[KMC_LS_T_RELEASE + 2 * k + 1];
        if (frac != 0ull && (uint64_t)draw4(seed, step, pass, i, KMC_STREAM_LI_SOURCE).x < frac) {
            n += 1;
        }
        const int64_t lt = (int64_t)li[t];
        int64_t room = (int64_t)cap_base[pt] + (int64_t)cap_per_tm[pt] * (int64_t)tm[t] - lt;
        if (room > 255 - lt) {
            room = 255 - lt;
        }
        const int64_t ls = (int64_t)li[s];
        if (ls < n) n = ls;
        if (room < n) n = room;
        if (n <= 0) {
            return;
        }
        li[s] = (uint8_t)(li[s] - (uint8_t)n);
        li[t] = (uint8_t)(li[t] + (uint8_t)n);
        kmc_used_up_source_becomes_pore(phase, li, s);
        if (ps == KMC_LI2CO3) {
            *from_li2co3 += (kmc_counter_t)n;
        } else {
            *from_lioh += (kmc_counter_t)n;
        }
        return;
    }
    if (ps == KMC_LIOH_MELT && pt == KMC_PORE && li[s] >= 2 && th[KMC_LS_T_WET] != 0ull &&
        kmc_touches_tm(phase, t, nz, ny, nx) &&
        (uint64_t)draw4(seed, step, pass, i, KMC_STREAM_LI_SOURCE).x < th[KMC_LS_T_WET]) {
        const uint8_t half = (uint8_t)(li[s] / 2);
        li[s] = (uint8_t)(li[s] - half);
        li[t] = half;
        phase[t] = KMC_LIOH_MELT;
        grain[t] = 0;
        disorder[t] = 0;
    }
}

// One pair pass (pass = 2 + 2 axis + parity), reach: the pair (i, i + e_axis) whose lower
// voxel has coordinate c = parity, parity + 2, ... with c + 1 < n_axis along axis (0 z, 1 y,
// 2 x). Pairs of a pass are disjoint, so threads never touch the same voxel. The draw is
// draw4(seed, step, pass, i, LI_SOURCE).x of the lower voxel i, made only when needed.
extern "C" __global__ void kmc_li_source_pairs(uint8_t* __restrict__ phase, uint8_t* __restrict__ li,
                                               const uint8_t* __restrict__ tm, int32_t* __restrict__ grain,
                                               uint8_t* __restrict__ disorder, uint64_t nz, uint64_t ny,
                                               uint64_t nx, const uint64_t* __restrict__ th,
                                               const int32_t* __restrict__ cap_base,
                                               const int32_t* __restrict__ cap_per_tm, uint64_t seed,
                                               uint64_t step, uint32_t pass, uint32_t axis, uint32_t parity,
                                               kmc_counter_t* __restrict__ from_lioh_q,
                                               kmc_counter_t* __restrict__ from_li2co3_q) {
    const uint64_t n_axis = axis == 0u ? nz : (axis == 1u ? ny : nx);
    const uint64_t stride = axis == 0u ? ny * nx : (axis == 1u ? nx : 1ull);
    const uint64_t n_lower = n_axis >= 2ull + parity ? (n_axis - 2ull - parity) / 2ull + 1ull : 0ull;
    const uint64_t other = nz * ny * nx / n_axis;
    const uint64_t n_pairs = n_lower * other;
    kmc_counter_t a = 0, b = 0;
    for (uint64_t m = kmc_thread_index(); m < n_pairs; m += kmc_grid_stride()) {
        const uint64_t c = 2ull * (m / other) + parity;
        const uint64_t rest = m % other;
        uint64_t i;
        if (axis == 0u) {
            i = c * ny * nx + rest;
        } else if (axis == 1u) {
            i = (rest / nx) * ny * nx + c * nx + rest % nx;
        } else {
            i = rest * nx + c;
        }
        const uint64_t j = i + stride;
        if (kmc_release_index(phase[i]) < 0 && kmc_release_index(phase[j]) < 0) {
            continue;  // no source in the pair: nothing to release or wet
        }
        kmc_li_source_pair(i, j, phase, li, tm, grain, disorder, th, cap_base, cap_per_tm, seed, step, pass, nz, ny, nx,
                           &a, &b);
    }
    kmc_add_counter(from_lioh_q, a);
    kmc_add_counter(from_li2co3_q, b);
}
