// Sintering: pore/solid swaps and consolidation transfers, kmc/events/sintering.py bit for bit.
//
// One launch per colour pass; a step is n_sub sub-steps of 36 passes, pass p = 12 axis + colour
// (axis 0 z, 1 y, 2 x), in the order of sintering.pass_order (ascending when step + sub-step is
// even, descending when odd), Philox pass id key_pass = 36 sub-step + p. A pass takes the face
// pairs (i, j = i + e_axis) whose lower voxel i has coordinate u % 3 == colour / 4 along the axis
// (u <= n_axis - 2) and the two other coordinates (z, y, x order) with parities (colour >> 1) & 1
// and colour & 1: no pair writes into another's 4 x 3 x 3 box, so the launch is race-free.
// Per pair (module docstring of sintering.py):
//   skip unless PORE next to a TM voxel (swap) or two TM voxels of one phase not both at their
//   dense quanta (transfer);  (r0, r1, r2) = draw4(seed, step, key_pass, i, SINTERING);  skip
//   unless r0 < attempt;  propose the move (the transfer's donor is i if bit 0 of r2 is 0, else
//   j);  num = dE x 8 F_FULL^2 in int64;  accept if num <= 0 or
//   r1 < boltz[min(floor(32 num / (8 F_FULL^2)), n_boltz - 1)];  apply it.
// The energy is that of the numba pass: for each of the two voxels s (partner t), over its in-box
// 26-neighbours k != t, n = their number, A = sum F_k, B(g) = sum of F_k over TM neighbours with
// grain > 0 and != g (0 when g <= 0); the numba pass reads F_k and the grain from a packed copy
// (F << 32 | grain of TM voxels), the same integers. F = tm volw[phase] + neutral[phase].
// Host tables, int64 (256,): volw, neutral (F of the neutral phases), dense (quanta n_d);
// boltz uint64 (n_boltz,). Counters: swaps, transfers, emptied (transfers that emptied the donor).
#include "lattice.cuh"
#include "philox.cuh"

// Sums (n, A, B) of the voxel at (z, y, x) without its partner, the voxel of flat index t.
__device__ __forceinline__ void kmc_sinter_sums(const uint8_t* __restrict__ phase, const uint8_t* __restrict__ tm,
                                                const int32_t* __restrict__ grain,
                                                const int64_t* __restrict__ volw,
                                                const int64_t* __restrict__ neutral, uint64_t t,
                                                int64_t g, int64_t z, int64_t y, int64_t x, int64_t nz, int64_t ny,
                                                int64_t nx, int64_t* n_out, int64_t* a_out, int64_t* b_out) {
    int64_t n = 0, A = 0, B = 0;
    for (int64_t dz = -1; dz <= 1; ++dz) {
        for (int64_t dy = -1; dy <= 1; ++dy) {
            for (int64_t dx = -1; dx <= 1; ++dx) {
                const int64_t zz = z + dz, yy = y + dy, xx = x + dx;
                if ((dz == 0 && dy == 0 && dx == 0) || zz < 0 || zz >= nz || yy < 0 || yy >= ny || xx < 0 ||
                    xx >= nx) {
                    continue;
                }
                const uint64_t k = (uint64_t)((zz * ny + yy) * nx + xx);
                if (k == t) continue;
                n += 1;
                const uint8_t p = phase[k];
                const int64_t fk = (int64_t)tm[k] * volw[p] + neutral[p];
                const int32_t gk = grain[k];
                A += fk;
                if (kmc_is_tm(p) && gk > 0 && (int64_t)gk != g) B += fk;
            }
        }
    }
    *n_out = n;
    *a_out = A;
    *b_out = g > 0 ? B : 0;
}

__device__ __forceinline__ int64_t kmc_sinter_bond_c(int64_t ga, int64_t gb, bool both_tm, int64_t gbw) {
    return (gbw != 0 && both_tm && ga > 0 && gb > 0 && ga != gb) ? 16 - gbw : 16;
}

extern "C" __global__ void kmc_sintering_pairs(uint8_t* __restrict__ phase, int32_t* __restrict__ grain,
                                               uint8_t* __restrict__ li, uint8_t* __restrict__ tm,
                                               uint8_t* __restrict__ disorder, uint8_t* __restrict__ flags,
                                               uint64_t nz, uint64_t ny, uint64_t nx, uint32_t axis, uint32_t colour,
                                               uint32_t key_pass, uint64_t seed, uint64_t step, uint64_t attempt,
                                               const uint64_t* __restrict__ boltz, uint64_t n_boltz,
                                               const int64_t* __restrict__ volw, const int64_t* __restrict__ neutral,
                                               const int64_t* __restrict__ dense, int64_t f_full, int64_t gbw,
                                               kmc_counter_t* __restrict__ swaps, kmc_counter_t* __restrict__ transfers,
                                               kmc_counter_t* __restrict__ emptied) {
    const uint64_t o = colour / 4u, p1 = (colour >> 1) & 1u, p2 = colour & 1u;
    uint64_t oz, sz, ez, oy, sy, ey, ox, sx, ex, stride;
    int64_t dz = 0, dy = 0, dx = 0;
    if (axis == 0u) {
        oz = o; sz = 3; ez = nz - 1; oy = p1; sy = 2; ey = ny; ox = p2; sx = 2; ex = nx;
        stride = ny * nx; dz = 1;
    } else if (axis == 1u) {
        oz = p1; sz = 2; ez = nz; oy = o; sy = 3; ey = ny - 1; ox = p2; sx = 2; ex = nx;
        stride = nx; dy = 1;
    } else {
        oz = p1; sz = 2; ez = nz; oy = p2; sy = 2; ey = ny; ox = o; sx = 3; ex = nx - 1;
        stride = 1; dx = 1;
    }
    const uint64_t cz = ez > oz ? (ez - oz + sz - 1) / sz : 0;
    const uint64_t cy = ey > oy ? (ey - oy + sy - 1) / sy : 0;
    const uint64_t cx = ex > ox ? (ex - ox + sx - 1) / sx : 0;
    const uint64_t n_pairs = cz * cy * cx;
    const int64_t den = 8 * f_full * f_full;
    const int64_t inz = (int64_t)nz, iny = (int64_t)ny, inx = (int64_t)nx;
    kmc_counter_t n_swaps = 0, n_transfers = 0, n_emptied = 0;
    for (uint64_t m = kmc_thread_index(); m < n_pairs; m += kmc_grid_stride()) {
        const int64_t x = (int64_t)(ox + sx * (m % cx));
        const int64_t y = (int64_t)(oy + sy * ((m / cx) % cy));
        const int64_t z = (int64_t)(oz + sz * (m / (cx * cy)));
        const uint64_t i = (uint64_t)((z * iny + y) * inx + x);
        const uint64_t j = i + stride;
        const uint8_t pi = phase[i];
        const uint8_t pj = phase[j];
        const bool ti = kmc_is_tm(pi), tj = kmc_is_tm(pj);
        const bool swap = (pi == KMC_PORE && tj) || (pj == KMC_PORE && ti);
        const bool same = pi == pj && ti && ((int64_t)tm[i] < dense[pi] || (int64_t)tm[j] < dense[pi]);
        if (!swap && !same) continue;
        const kmc_u32x4 r = draw4(seed, step, key_pass, i, KMC_STREAM_SINTERING);
        if ((uint64_t)r.x >= attempt) continue;
        // donor / solid voxel d and receiver / pore r; j_first: d is j
        const bool j_first = swap ? (pi == KMC_PORE) : ((r.z & 1u) != 0u);
        const uint64_t d = j_first ? j : i, rv = j_first ? i : j;
        int64_t q = 0, li_q = 0, num = 0, fd, fr, fd2, fr2, g_d, g_r;
        bool bd_old, bd_new, br_old, br_new;
        if (swap) {
            fd = (int64_t)tm[d] * volw[phase[d]] + neutral[phase[d]];
            g_d = grain[d];
            g_r = g_d;
            fr = 0; fd2 = 0; fr2 = fd;
            bd_old = g_d > 0; bd_new = false; br_old = false; br_new = g_d > 0;
        } else {
            const int64_t n_d = dense[pi];
            const int64_t tm_d = tm[d], tm_r = tm[rv];
            q = tm_d < n_d - tm_r ? tm_d : n_d - tm_r;
            if (q <= 0) continue;
            const int64_t li_d = li[d];
            li_q = q == tm_d ? li_d : (li_d * q) / tm_d;
            if ((int64_t)li[rv] + li_q > 255) continue;
            const int64_t w = volw[pi];
            g_d = grain[d];
            g_r = grain[rv];
            fd = tm_d * w; fr = tm_r * w; fd2 = (tm_d - q) * w; fr2 = (tm_r + q) * w;
            bd_old = bd_new = g_d > 0;
            br_old = br_new = g_r > 0;
            num = kmc_sinter_bond_c(g_d, g_r, true, gbw) * fd * fr -
                  kmc_sinter_bond_c(q < tm_d ? g_d : 0, g_r, q < tm_d, gbw) * fd2 * fr2;
        }
        bool floats = false;  // a swap that would leave the solid with no neighbour holding matter
        for (int side = 0; side < 2; ++side) {
            const uint64_t t = side == 0 ? rv : d;
            const bool at_i = side == 0 ? !j_first : j_first;
            const int64_t g = side == 0 ? g_d : g_r;
            const int64_t f_old = side == 0 ? fd : fr, f_new = side == 0 ? fd2 : fr2;
            const bool b_old = side == 0 ? bd_old : br_old, b_new = side == 0 ? bd_new : br_new;
            int64_t n, A, B;
            kmc_sinter_sums(phase, tm, grain, volw, neutral, t, g, at_i ? z : z + dz, at_i ? y : y + dy,
                            at_i ? x : x + dx, inz, iny, inx, &n, &A, &B);
            if (swap && side == 1 && A == 0) {
                floats = true;
                break;
            }
            const int64_t e_new = b_new ? 16 * A - gbw * B : 16 * A;
            const int64_t e_old = b_old ? 16 * A - gbw * B : 16 * A;
            num += 8 * f_full * n * (f_new - f_old) - f_new * e_new + f_old * e_old;
        }
        if (floats) continue;
        if (num > 0) {
            int64_t level = (num * 32) / den;
            if (level > (int64_t)n_boltz - 1) level = (int64_t)n_boltz - 1;
            if ((uint64_t)r.y >= boltz[level]) continue;
        }
        if (swap) {
            uint8_t t8 = phase[d]; phase[d] = phase[rv]; phase[rv] = t8;
            const int32_t t32 = grain[d]; grain[d] = grain[rv]; grain[rv] = t32;
            t8 = li[d]; li[d] = li[rv]; li[rv] = t8;
            t8 = tm[d]; tm[d] = tm[rv]; tm[rv] = t8;
            t8 = disorder[d]; disorder[d] = disorder[rv]; disorder[rv] = t8;
            t8 = flags[d]; flags[d] = flags[rv]; flags[rv] = t8;
            n_swaps += 1;
            continue;
        }
        const int64_t tm_d = tm[d], tm_r = tm[rv];
        const int64_t tot = tm_r + q;
        disorder[rv] = (uint8_t)(((int64_t)disorder[rv] * tm_r + (int64_t)disorder[d] * q + tot / 2) / tot);
        tm[rv] = (uint8_t)tot;
        li[rv] = (uint8_t)((int64_t)li[rv] + li_q);
        tm[d] = (uint8_t)(tm_d - q);
        li[d] = (uint8_t)((int64_t)li[d] - li_q);
        n_transfers += 1;
        if (q == tm_d) {
            phase[d] = KMC_PORE;
            grain[d] = 0;
            disorder[d] = 0;
            flags[rv] = (uint8_t)(flags[rv] | flags[d]);
            flags[d] = 0;
            n_emptied += 1;
        }
    }
    kmc_add_counter(swaps, n_swaps);
    kmc_add_counter(transfers, n_transfers);
    kmc_add_counter(emptied, n_emptied);
}
