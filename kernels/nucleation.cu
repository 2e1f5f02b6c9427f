// Nucleation and growth of recrystallised layered grains: kmc/events/nucleation.py
// (_colour_pass, _eligible, _ticks, _ceil_sqrt, _commit), bit for bit.
//
// A step is sub-step 0 and up to n_full full sub-steps m = 1..n_full; a sub-step is 8 colour
// launches of kmc_nucleation (colour c = 4 (z % 2) + 2 (y % 2) + (x % 2), Philox pass 8 m + c)
// and one kmc_nucleation_commit. The rule per site is the module docstring of nucleation.py:
// a site i is unrecrystallised when phase[i] == LAYERED and 0 <= grain[i] <= n_prec; it founds
// grain n_prec + 1 + i when r0 < thr_nuc (written as -(n_prec + 1 + i) until the commit), or
// joins the ((r1 k) >> 32)-th of the k ticking member grains of its 26 neighbours that may take
// it (ball rule or dead-end rule), in the order of first appearance among the neighbours.
//
// The numba step ends early after a full sub-step in which no voxel joined a grain. Here that
// decision stays on the device: every sub-step adds its changes to its own counter
// (*changed), a launch with gated != 0 returns at once when the counter of the previous full
// sub-step (*gate) is zero, and a commit returns when its sub-step changed nothing. A skipped
// sub-step leaves its counter at zero, so every later one is skipped too; the host never
// waits for a counter.
#include "lattice.cuh"
#include "philox.cuh"

#define KMC_NUC_PHASE_PASS 255u
#define KMC_NUC_PHI32 2654435769ull
#define KMC_NUC_ALWAYS 4294967296ull

// ceil(sqrt(D)) for int64 D, 0 for D <= 0: integer digit-by-digit square root, exact.
__device__ __forceinline__ int64_t kmc_ceil_sqrt(int64_t D) {
    if (D <= 0) return 0;
    uint64_t v = (uint64_t)D, root = 0, bit = 1ull << 62;
    while (bit > v) bit >>= 2;
    while (bit != 0) {
        if (v >= root + bit) {
            v -= root + bit;
            root = (root >> 1) + bit;
        } else {
            root >>= 1;
        }
        bit >>= 2;
    }
    return (int64_t)root + (root * root < (uint64_t)D ? 1 : 0);
}

// Rule 2: does grain g tick in this step? Ids that decode to no site keep a schedule keyed by the id.
__device__ __forceinline__ bool kmc_nuc_ticks(int32_t g, int64_t n_prec, int64_t n_sites, uint64_t seed,
                                              uint64_t step, uint64_t thr_tick) {
    if (thr_tick >= KMC_NUC_ALWAYS) return true;
    int64_t s = (int64_t)g - n_prec - 1;
    if (s < 0 || s >= n_sites) s = (int64_t)g & 0xFFFFFFFFFFll;
    const uint64_t u = draw4(seed, 0ull, KMC_NUC_PHASE_PASS, (uint64_t)s, KMC_STREAM_NUCLEATION).x;
    const uint64_t w = (u + (step & 0xFFFFFFFFull) * KMC_NUC_PHI32) & 0xFFFFFFFFull;
    return w < thr_tick;
}

__device__ __forceinline__ bool kmc_nuc_in_box(int64_t z, int64_t y, int64_t x, int64_t nz, int64_t ny, int64_t nx) {
    return z >= 0 && z < nz && y >= 0 && y < ny && x >= 0 && x < nx;
}

// Neighbour k (0..25) of kmc.state.NEIGHBOURS_26: {-1,0,1}^3 lexicographic, the centre left out.
__device__ __forceinline__ void kmc_nuc_offset(int k, int64_t* dz, int64_t* dy, int64_t* dx) {
    const int code = k < 13 ? k : k + 1;
    *dz = code / 9 - 1;
    *dy = (code / 3) % 3 - 1;
    *dx = code % 3 - 1;
}

// Rule 3 for the member grain g of neighbour k: g if it ticks and may take site (z, y, x), else 0.
// (The caller has made sure k is g's first appearance among the neighbours.)
__device__ __forceinline__ int32_t kmc_nuc_eligible(const uint8_t* __restrict__ phase,
                                                    const int32_t* __restrict__ grain, int32_t g, int64_t z,
                                                    int64_t y, int64_t x, int64_t nz, int64_t ny, int64_t nx,
                                                    int64_t n_prec, int64_t n_sites, uint64_t seed, uint64_t step,
                                                    uint64_t thr_tick) {
    if (!kmc_nuc_ticks(g, n_prec, n_sites, seed, step, thr_tick)) return 0;
    const int64_t s = (int64_t)g - n_prec - 1;
    const bool decodes = s >= 0 && s < n_sites;
    int64_t cz = z, cy = y, cx = x;
    if (decodes) {
        cz = s / (nx * ny);
        cy = (s / nx) % ny;
        cx = s % nx;
    }
    const int64_t D = (z - cz) * (z - cz) + (y - cy) * (y - cy) + (x - cx) * (x - cx);
    int64_t M = -1;
    bool closer = false;
    for (int q = 0; q < 26; ++q) {
        int64_t dz, dy, dx;
        kmc_nuc_offset(q, &dz, &dy, &dx);
        const int64_t zz = z + dz, yy = y + dy, xx = x + dx;
        if (!kmc_nuc_in_box(zz, yy, xx, nz, ny, nx)) continue;
        const int64_t j = (zz * ny + yy) * nx + xx;
        if (phase[j] != KMC_LAYERED) continue;
        const int32_t gj = grain[j];
        const int64_t dj = (zz - cz) * (zz - cz) + (yy - cy) * (yy - cy) + (xx - cx) * (xx - cx);
        if (gj == g) {
            M = dj > M ? dj : M;
        } else if ((int64_t)gj <= n_prec && dj < D) {
            closer = true;
        }
    }
    if (!decodes || !closer || kmc_ceil_sqrt(D) <= kmc_ceil_sqrt(M) + 1) return g;
    return 0;
}

// One colour pass (rules 1-3) of sub-step m: pass = 8 m + colour. thr_nuc, thr_tick: uint64
// thresholds of the sub-step (0 and 2^32 in full sub-steps). gated != 0: return at once when
// *gate (the previous full sub-step's change count) is 0. Adds to *nuclei, *grown and
// *changed (nuclei + grown of this sub-step).
extern "C" __global__ void kmc_nucleation(const uint8_t* __restrict__ phase, int32_t* __restrict__ grain,
                                          const uint8_t* __restrict__ flags, uint64_t nz,
                                          uint64_t ny, uint64_t nx, uint32_t colour, uint32_t pass, uint64_t seed,
                                          uint64_t step, uint64_t thr_nuc, uint64_t thr_tick, int64_t n_prec,
                                          uint32_t gated, const kmc_counter_t* __restrict__ gate,
                                          kmc_counter_t* __restrict__ nuclei, kmc_counter_t* __restrict__ grown,
                                          kmc_counter_t* __restrict__ changed) {
    if (gated != 0u && *gate == 0ull) return;
    const uint64_t cz = colour >> 2, cy = (colour >> 1) & 1u, cx = colour & 1u;
    const uint64_t nzc = (nz - cz + 1) / 2, nyc = (ny - cy + 1) / 2, nxc = (nx - cx + 1) / 2;
    const uint64_t n_work = nzc * nyc * nxc;
    const int64_t n_sites = (int64_t)(nz * ny * nx);
    const int64_t Z = (int64_t)nz, Y = (int64_t)ny, X = (int64_t)nx;
    kmc_counter_t n_nuc = 0, n_grown = 0;
    for (uint64_t w = kmc_thread_index(); w < n_work; w += kmc_grid_stride()) {
        const int64_t x = (int64_t)(cx + 2 * (w % nxc));
        const int64_t y = (int64_t)(cy + 2 * ((w / nxc) % nyc));
        const int64_t z = (int64_t)(cz + 2 * (w / (nxc * nyc)));
        const int64_t i = (z * Y + y) * X + x;
        const int32_t gi = grain[i];
        if (phase[i] != KMC_LAYERED || gi < 0 || (int64_t)gi > n_prec) continue;
        if (kmc_w_pinned(flags, (uint64_t)i, (uint64_t)z, (uint64_t)y, (uint64_t)x, nz, ny, nx)) continue;
        bool drawn = false;
        uint32_t r1 = 0;
        if (thr_nuc != 0ull) {
            const kmc_u32x4 r = draw4(seed, step, pass, (uint64_t)i, KMC_STREAM_NUCLEATION);
            r1 = r.y;
            drawn = true;
            if ((uint64_t)r.x < thr_nuc) {
                grain[i] = (int32_t)(-(n_prec + 1 + i));
                ++n_nuc;
                continue;
            }
        }
        if (thr_tick == 0ull) continue;
        // the distinct ticking member grains that may take i, in order of first appearance
        int32_t elig[26];
        int n_elig = 0;
        for (int k = 0; k < 26; ++k) {
            int64_t dz, dy, dx;
            kmc_nuc_offset(k, &dz, &dy, &dx);
            const int64_t zz = z + dz, yy = y + dy, xx = x + dx;
            if (!kmc_nuc_in_box(zz, yy, xx, Z, Y, X)) continue;
            const int64_t j = (zz * Y + yy) * X + xx;
            const int32_t g = grain[j];
            if (phase[j] != KMC_LAYERED || (int64_t)g <= n_prec) continue;
            bool first = true;
            for (int q = 0; q < k && first; ++q) {
                int64_t qz, qy, qx;
                kmc_nuc_offset(q, &qz, &qy, &qx);
                const int64_t z2 = z + qz, y2 = y + qy, x2 = x + qx;
                if (!kmc_nuc_in_box(z2, y2, x2, Z, Y, X)) continue;
                const int64_t j2 = (z2 * Y + y2) * X + x2;
                first = !(grain[j2] == g && phase[j2] == KMC_LAYERED);
            }
            if (!first) continue;
            if (kmc_nuc_eligible(phase, grain, g, z, y, x, Z, Y, X, n_prec, n_sites, seed, step, thr_tick) != 0) {
                elig[n_elig++] = g;
            }
        }
        if (n_elig == 0) continue;
        if (!drawn) r1 = draw4(seed, step, pass, (uint64_t)i, KMC_STREAM_NUCLEATION).y;
        const uint64_t pick = ((uint64_t)r1 * (uint64_t)n_elig) >> 32;
        grain[i] = -elig[pick];
        ++n_grown;
    }
    kmc_add_counter(nuclei, n_nuc);
    kmc_add_counter(grown, n_grown);
    kmc_add_counter(changed, n_nuc + n_grown);
}

// End of a sub-step: members written as -g become g (skipped when the sub-step changed nothing).
extern "C" __global__ void kmc_nucleation_commit(int32_t* __restrict__ grain, uint64_t n,
                                                 const kmc_counter_t* __restrict__ changed) {
    if (*changed == 0ull) return;
    for (uint64_t i = kmc_thread_index(); i < n; i += kmc_grid_stride()) {
        if (grain[i] < 0) grain[i] = -grain[i];
    }
}
