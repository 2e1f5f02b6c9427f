// Philox4x32-10 (Salmon et al., SC'11; Random123) and the key layout of kmc/rng.py.
//
// A draw is a pure function of (seed, step, pass, site, stream):
//   key     = (seed & 0xFFFFFFFF, seed >> 32)
//   counter = (site & 0xFFFFFFFF,
//              (site >> 32) & 0xFF | (pass & 0xFF) << 8 | (stream & 0xFFFF) << 16,
//              step & 0xFFFFFFFF,
//              step >> 32)
// Stream ids: kmc.rng.Stream (mirrored in lattice.cuh). Any change here must change
// kmc/rng.py in the same commit; tests/test_kernels.py checks the Random123 vectors.
#pragma once

#include "types.cuh"

#define KMC_PHILOX_M0 0xD2511F53u
#define KMC_PHILOX_M1 0xCD9E8D57u
#define KMC_PHILOX_W0 0x9E3779B9u
#define KMC_PHILOX_W1 0xBB67AE85u

struct kmc_u32x4 {
    uint32_t x, y, z, w;
};

__device__ __forceinline__ kmc_u32x4 kmc_philox4x32_10(uint32_t c0, uint32_t c1, uint32_t c2, uint32_t c3,
                                                       uint32_t k0, uint32_t k1) {
#pragma unroll
    for (int round = 0; round < 10; ++round) {
        const uint32_t hi0 = __umulhi(KMC_PHILOX_M0, c0);
        const uint32_t lo0 = KMC_PHILOX_M0 * c0;
        const uint32_t hi1 = __umulhi(KMC_PHILOX_M1, c2);
        const uint32_t lo1 = KMC_PHILOX_M1 * c2;
        const uint32_t n0 = hi1 ^ c1 ^ k0;
        const uint32_t n2 = hi0 ^ c3 ^ k1;
        c0 = n0;
        c1 = lo1;
        c2 = n2;
        c3 = lo0;
        k0 += KMC_PHILOX_W0;
        k1 += KMC_PHILOX_W1;
    }
    kmc_u32x4 r;
    r.x = c0;
    r.y = c1;
    r.z = c2;
    r.w = c3;
    return r;
}

// Four uint32 for (seed, step, pass, site, stream): kmc.rng.draw4, bit for bit.
__device__ __forceinline__ kmc_u32x4 draw4(uint64_t seed, uint64_t step, uint32_t pass, uint64_t site,
                                           uint32_t stream) {
    const uint32_t c1 = ((uint32_t)(site >> 32) & 0xFFu) | ((pass & 0xFFu) << 8) | ((stream & 0xFFFFu) << 16);
    return kmc_philox4x32_10((uint32_t)(site & 0xFFFFFFFFull), c1, (uint32_t)(step & 0xFFFFFFFFull),
                             (uint32_t)(step >> 32), (uint32_t)(seed & 0xFFFFFFFFull), (uint32_t)(seed >> 32));
}
