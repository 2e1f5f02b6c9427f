// Li transport by single-quantum hops: kmc/events/li_hop.py (_environment, _binomial, _pair_pass),
// bit for bit.
//
// Per step: kmc_li_hop_environment once (EXPOSED / BOUNDARY flags of every voxel into the
// scratch array env), then kmc_li_hop_pairs for the 6 passes, pass id = 2 axis + parity
// (axis 0 z, 1 y, 2 x): pairs (i, i + e_axis) with the lower voxel's coordinate c % 2 == parity
// along the axis; pairs t = 2u and 2u + 1 of a line along the axis (c = parity + 2 t) take
// (x, y) and (z, w) of the draw of pair 2u. Pairs of a pass are disjoint; a pass reads phase, grain, tm, env and writes
// li of its pair only, and phase (-> PORE) of a solid-source voxel of its pair that a SOURCE
// hop empties. Host tables (kmc.events.li_hop.HopTables): kind uint8 (256,), bulk int32 (256,),
// pthr uint64 (7,) per-medium thresholds, cdf uint64 (7, 32640) binomial inverse-CDF rows,
// cap_base / cap_per_tm int32 (256,).
#include "lattice.cuh"
#include "philox.cuh"

#define KMC_KIND_IMMOBILE 0
#define KMC_KIND_TM 1
#define KMC_KIND_MELT 2
#define KMC_KIND_SOURCE 3
#define KMC_ENV_EXPOSED 1
#define KMC_ENV_BOUNDARY 2
#define KMC_MEDIUM_MELT 3
#define KMC_MEDIUM_GRAIN_BOUNDARY 4
#define KMC_MEDIUM_SURFACE 5
#define KMC_MEDIUM_SOURCE 6
#define KMC_CDF_ENTRIES 32640  // 255 * 256 / 2
#define KMC_MAX_LI 255

// env[i] = EXPOSED if a TM voxel has a PORE or LIOH_MELT 6-neighbour, | BOUNDARY if it has a
// TM 6-neighbour of another grain id; 0 for other voxels.
extern "C" __global__ void kmc_li_hop_environment(const uint8_t* __restrict__ phase, const int32_t* __restrict__ grain,
                                                  const uint8_t* __restrict__ kind, uint64_t nz, uint64_t ny,
                                                  uint64_t nx, uint8_t* __restrict__ env) {
    const uint64_t n = nz * ny * nx;
    for (uint64_t i = kmc_thread_index(); i < n; i += kmc_grid_stride()) {
        uint8_t e = 0;
        if (kind[phase[i]] == KMC_KIND_TM) {
            const uint64_t x = i % nx;
            const uint64_t y = (i / nx) % ny;
            const uint64_t z = i / (nx * ny);
            const int32_t g = grain[i];
            for (int d = 0; d < 6; ++d) {
                uint64_t nb;
                if (d == 0) {
                    if (z == 0) continue;
                    nb = i - ny * nx;
                } else if (d == 1) {
                    if (z == nz - 1) continue;
                    nb = i + ny * nx;
                } else if (d == 2) {
                    if (y == 0) continue;
                    nb = i - nx;
                } else if (d == 3) {
                    if (y == ny - 1) continue;
                    nb = i + nx;
                } else if (d == 4) {
                    if (x == 0) continue;
                    nb = i - 1;
                } else {
                    if (x == nx - 1) continue;
                    nb = i + 1;
                }
                const uint8_t pn = phase[nb];
                if (pn == KMC_PORE || pn == KMC_LIOH_MELT) {
                    e |= KMC_ENV_EXPOSED;
                } else if (kind[pn] == KMC_KIND_TM && grain[nb] != g) {
                    e |= KMC_ENV_BOUNDARY;
                }
            }
        }
        env[i] = e;
    }
}

// Inverse-CDF draw of Binomial(n, p_m) from the uint32 u; the scan starts at (n thr) >> 32.
__device__ __forceinline__ int64_t kmc_binomial(int64_t n, uint64_t u, const uint64_t* __restrict__ row_m,
                                                uint64_t thr) {
    const int64_t off = (n * (n - 1)) / 2;
    int64_t k = (int64_t)(((uint64_t)n * thr) >> 32);
    if (k > 0 && u < row_m[off + k - 1]) {
        k -= 1;
        while (k > 0 && u < row_m[off + k - 1]) {
            k -= 1;
        }
        return k;
    }
    while (k < n && u >= row_m[off + k]) {
        k += 1;
    }
    return k;
}

extern "C" __global__ void kmc_li_hop_pairs(uint8_t* __restrict__ phase, const int32_t* __restrict__ grain,
                                            uint8_t* __restrict__ li, const uint8_t* __restrict__ tm,
                                            const uint8_t* __restrict__ env, uint64_t nz, uint64_t ny, uint64_t nx,
                                            uint32_t axis, uint32_t parity, uint64_t seed, uint64_t step,
                                            const uint8_t* __restrict__ kind, const int32_t* __restrict__ bulk,
                                            const uint64_t* __restrict__ pthr, const uint64_t* __restrict__ cdf,
                                            const int32_t* __restrict__ cap_base,
                                            const int32_t* __restrict__ cap_per_tm,
                                            kmc_counter_t* __restrict__ moved_q, kmc_counter_t* __restrict__ refused) {
    const uint32_t pass_id = 2u * axis + parity;
    uint64_t z0 = 0, zs = 1, zn = nz, y0 = 0, ys = 1, yn = ny, x0 = 0, xs = 1, xn = nx, stride;
    if (axis == 0u) {
        stride = ny * nx;
        z0 = parity; zs = 2; zn = (nz - parity) / 2;
    } else if (axis == 1u) {
        stride = nx;
        y0 = parity; ys = 2; yn = (ny - parity) / 2;
    } else {
        stride = 1;
        x0 = parity; xs = 2; xn = (nx - parity) / 2;
    }
    const uint64_t n_pairs = zn * yn * xn;
    kmc_counter_t moved = 0, refused_here = 0;
    for (uint64_t m = kmc_thread_index(); m < n_pairs; m += kmc_grid_stride()) {
        const uint64_t tx = m % xn;
        const uint64_t ty = (m / xn) % yn;
        const uint64_t tz = m / (xn * yn);
        const uint64_t x = x0 + xs * tx;
        const uint64_t y = y0 + ys * ty;
        const uint64_t z = z0 + zs * tz;
        const uint64_t i = (z * ny + y) * nx + x;
        const uint64_t j = i + stride;
        const int64_t ni = (int64_t)li[i];
        const int64_t nj = (int64_t)li[j];
        if (ni == 0 && nj == 0) continue;
        const uint8_t pi = phase[i];
        const uint8_t pj = phase[j];
        const uint8_t ki = kind[pi];
        const uint8_t kj = kind[pj];
        if (ki == KMC_KIND_IMMOBILE || kj == KMC_KIND_IMMOBILE) continue;
        int32_t med;
        if (ki == KMC_KIND_SOURCE || kj == KMC_KIND_SOURCE) {
            if (ki != kj) continue;  // solid source - TM: li_source's release; solid source - melt: no hop
            med = KMC_MEDIUM_SOURCE;
        } else if (ki == KMC_KIND_MELT && kj == KMC_KIND_MELT) {
            med = KMC_MEDIUM_MELT;
        } else if (ki == KMC_KIND_MELT || kj == KMC_KIND_MELT) {
            continue;  // melt - TM: li_source's release (one way), no hop back into the melt
        } else {
            med = bulk[pi];
            const int32_t mb = bulk[pj];
            if (pthr[mb] < pthr[med] || (pthr[mb] == pthr[med] && mb < med)) med = mb;
            if ((grain[i] != grain[j] || (env[i] & env[j] & KMC_ENV_BOUNDARY) != 0) &&
                pthr[KMC_MEDIUM_GRAIN_BOUNDARY] > pthr[med]) {
                med = KMC_MEDIUM_GRAIN_BOUNDARY;
            }
            if ((env[i] & env[j] & KMC_ENV_EXPOSED) != 0 && pthr[KMC_MEDIUM_SURFACE] > pthr[med]) {
                med = KMC_MEDIUM_SURFACE;
            }
        }
        const uint64_t thr = pthr[med];
        if (thr == 0ull) continue;
        // pairs t = 2u and 2u + 1 of a line along the axis share the draw of pair 2u
        const uint64_t odd = (axis == 0u ? tz : (axis == 1u ? ty : tx)) & 1ull;
        const kmc_u32x4 r = draw4(seed, step, pass_id, i - 2ull * stride * odd, KMC_STREAM_LI_HOP);
        const uint64_t ra = odd ? (uint64_t)r.z : (uint64_t)r.x;
        const uint64_t rb = odd ? (uint64_t)r.w : (uint64_t)r.y;
        const uint64_t* row_m = cdf + (uint64_t)med * KMC_CDF_ENTRIES;
        const int64_t net = kmc_binomial(ni, ra, row_m, thr) - kmc_binomial(nj, rb, row_m, thr);
        if (net == 0) continue;
        const int64_t ni2 = ni - net;
        const int64_t nj2 = nj + net;
        int64_t ci = (int64_t)cap_base[pi] + (int64_t)cap_per_tm[pi] * (int64_t)tm[i];
        int64_t cj = (int64_t)cap_base[pj] + (int64_t)cap_per_tm[pj] * (int64_t)tm[j];
        ci = ci < KMC_MAX_LI ? ci : KMC_MAX_LI;
        cj = cj < KMC_MAX_LI ? cj : KMC_MAX_LI;
        if ((ni2 <= ci || ni2 <= ni) && (nj2 <= cj || nj2 <= nj)) {
            li[i] = (uint8_t)ni2;
            li[j] = (uint8_t)nj2;
            moved += (kmc_counter_t)(net < 0 ? -net : net);
            if (med == KMC_MEDIUM_SOURCE) {
                kmc_used_up_source_becomes_pore(phase, li, i);
                kmc_used_up_source_becomes_pore(phase, li, j);
            }
        } else {
            refused_here += 1;
        }
    }
    kmc_add_counter(moved_q, moved);
    kmc_add_counter(refused, refused_here);
}
