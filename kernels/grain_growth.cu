// Potts grain growth with Li-W-O pinning: kmc/events/grain_growth.py (_site_general, the rule
// of _colour_pass), bit for bit.
//
// One launch per colour c = 4 (z % 2) + 2 (y % 2) + (x % 2), c = 0..7 in order; the launch
// walks the sites of colour c (no two are 26-neighbours, so the pass is race-free) and c is
// the Philox pass. Per site i with g = grain[i] (module docstring of grain_growth.py):
//   skip unless g > 0, phase[i] is a TM phase and neither i nor an in-box face neighbour has
//   W_COATED;  (r0, r1, r2) = draw4(seed, step, c, i, GRAIN_GROWTH);  skip unless
//   r1 < attempt;  k = (r0 26) >> 32 (neighbour order kmc.state.NEIGHBOURS_26);  skip if
//   neighbour k is outside the box, g' = its grain == g, g' <= 0, or exactly one of g, g'
//   exceeds n_pre;  dE = n(g) - n(g') over the in-box neighbours;  accept if dE <= 0 or
//   r2 < boltz[dE]; then grain[i] = g'.
// The numba pass skips sites whose neighbourhood is uniform before drawing; that changes no
// result (every candidate g' would equal g), so this kernel does not need the test.
// boltz: uint64 (27,) acceptance thresholds T_B[dE]. *flips counts the sites that changed.
#include "lattice.cuh"
#include "philox.cuh"

extern "C" __global__ void kmc_grain_growth(int32_t* __restrict__ grain, const uint8_t* __restrict__ phase,
                                            const uint8_t* __restrict__ flags, uint64_t nz, uint64_t ny,
                                            uint64_t nx, uint32_t colour, uint64_t seed, uint64_t step,
                                            uint64_t attempt, const uint64_t* __restrict__ boltz, int64_t n_pre,
                                            kmc_counter_t* __restrict__ flips) {
    const uint64_t cz = colour >> 2, cy = (colour >> 1) & 1u, cx = colour & 1u;
    const uint64_t nzc = (nz - cz + 1) / 2, nyc = (ny - cy + 1) / 2, nxc = (nx - cx + 1) / 2;
    const uint64_t n_work = nzc * nyc * nxc;
    kmc_counter_t count = 0;
    for (uint64_t m = kmc_thread_index(); m < n_work; m += kmc_grid_stride()) {
        const uint64_t x = cx + 2 * (m % nxc);
        const uint64_t y = cy + 2 * ((m / nxc) % nyc);
        const uint64_t z = cz + 2 * (m / (nxc * nyc));
        const uint64_t i = kmc_site(z, y, x, ny, nx);
        const int32_t g = grain[i];
        if (g <= 0 || !kmc_is_tm(phase[i])) continue;
        if (kmc_w_pinned(flags, i, z, y, x, nz, ny, nx)) continue;
        const kmc_u32x4 r = draw4(seed, step, colour, i, KMC_STREAM_GRAIN_GROWTH);
        if ((uint64_t)r.y >= attempt) continue;
        const uint32_t k = (uint32_t)(((uint64_t)r.x * 26ull) >> 32);
        // neighbour k of NEIGHBOURS_26: index k of {-1,0,1}^3 in lexicographic order, centre (13) left out
        const uint32_t code = k < 13u ? k : k + 1u;
        const int64_t dz = (int64_t)(code / 9u) - 1, dy = (int64_t)((code / 3u) % 3u) - 1, dx = (int64_t)(code % 3u) - 1;
        const int64_t zz = (int64_t)z + dz, yy = (int64_t)y + dy, xx = (int64_t)x + dx;
        if (zz < 0 || zz >= (int64_t)nz || yy < 0 || yy >= (int64_t)ny || xx < 0 || xx >= (int64_t)nx) continue;
        const int32_t gp = grain[kmc_site((uint64_t)zz, (uint64_t)yy, (uint64_t)xx, ny, nx)];
        if (gp == g || gp <= 0 || (g > n_pre) != (gp > n_pre)) continue;
        int32_t dE = 0;
        for (int64_t az = (z > 0 ? -1 : 0); az <= (z + 1 < nz ? 1 : 0); ++az) {
            for (int64_t ay = (y > 0 ? -1 : 0); ay <= (y + 1 < ny ? 1 : 0); ++ay) {
                for (int64_t ax = (x > 0 ? -1 : 0); ax <= (x + 1 < nx ? 1 : 0); ++ax) {
                    const int32_t h = grain[(uint64_t)((int64_t)i + (az * (int64_t)ny + ay) * (int64_t)nx + ax)];
                    dE += (int32_t)(h == g) - (int32_t)(h == gp);
                }
            }
        }
        dE -= 1;  // the site itself (grain g) was counted in n(g)
        if (dE > 0 && (uint64_t)r.z >= boltz[dE]) continue;
        grain[i] = gp;
        ++count;
    }
    kmc_add_counter(flips, count);
}
