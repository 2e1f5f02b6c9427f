// Lattice conventions shared by the kernels: phase codes, flag bits, stream ids, indexing.
//
// Mirrors kmc/state.py (Phase, Flag) and kmc/rng.py (Stream); never renumber (stores depend
// on them). Fields are structure-of-arrays, shape (nz, ny, nx), C order, flat index
// i = (z * ny + y) * nx + x:  phase uint8, grain int32, li uint8, tm uint8, disorder uint8,
// flags uint8.
#pragma once

#include "types.cuh"

// kmc.state.Phase
#define KMC_PORE 0
#define KMC_HYDROXIDE 1
#define KMC_ROCK_SALT 2
#define KMC_LAYERED 3
#define KMC_LIOH_H2O 4
#define KMC_LIOH 5
#define KMC_LIOH_MELT 6
#define KMC_LI2CO3 7

// kmc.state.Flag
#define KMC_FLAG_W_COATED 1

// kmc.rng.Stream
#define KMC_STREAM_DEHYDRATION 1
#define KMC_STREAM_LI_SOURCE 2
#define KMC_STREAM_LI_HOP 3
#define KMC_STREAM_LITHIATION 4
#define KMC_STREAM_ROCK_SALT_LITHIATION 5
#define KMC_STREAM_NUCLEATION 6
#define KMC_STREAM_ORDERING 7
#define KMC_STREAM_GRAIN_GROWTH 8
#define KMC_STREAM_SINTERING 9

// First thread index of a grid-stride loop, and the stride (64-bit: sites up to 2^40).
__device__ __forceinline__ uint64_t kmc_thread_index() {
    return (uint64_t)blockIdx.x * (uint64_t)blockDim.x + (uint64_t)threadIdx.x;
}

__device__ __forceinline__ uint64_t kmc_grid_stride() {
    return (uint64_t)blockDim.x * (uint64_t)gridDim.x;
}

__device__ __forceinline__ uint64_t kmc_site(uint64_t z, uint64_t y, uint64_t x, uint64_t ny, uint64_t nx) {
    return (z * ny + y) * nx + x;
}

__device__ __forceinline__ bool kmc_is_tm(uint8_t ph) {
    return ph == KMC_HYDROXIDE || ph == KMC_ROCK_SALT || ph == KMC_LAYERED;
}

// A site is pinned by the Li-W-O boundary phase if it or an in-box face neighbour carries
// KMC_FLAG_W_COATED (kmc.events.grain_growth._pinned): Potts flips and recrystallisation fronts
// never change its grain.
__device__ __forceinline__ bool kmc_w_pinned(const uint8_t* __restrict__ flags, uint64_t i, uint64_t z, uint64_t y,
                                             uint64_t x, uint64_t nz, uint64_t ny, uint64_t nx) {
    const uint64_t nxy = nx * ny;
    uint8_t f = flags[i];
    if (x > 0) f |= flags[i - 1];
    if (x + 1 < nx) f |= flags[i + 1];
    if (y > 0) f |= flags[i - nx];
    if (y + 1 < ny) f |= flags[i + nx];
    if (z > 0) f |= flags[i - nxy];
    if (z + 1 < nz) f |= flags[i + nxy];
    return (f & KMC_FLAG_W_COATED) != 0;
}

// A Li-source voxel whose Li is used up becomes a pore (kmc.events.li_source.
// used_up_source_becomes_pore): the release of li_source and the solid-source hops of li_hop.
__device__ __forceinline__ void kmc_used_up_source_becomes_pore(uint8_t* __restrict__ phase,
                                                                const uint8_t* __restrict__ li, uint64_t s) {
    if (li[s] == 0) {
        phase[s] = KMC_PORE;
    }
}

// Adds a thread's counter to the global one (skipped when zero: fewer atomics).
__device__ __forceinline__ void kmc_add_counter(kmc_counter_t* counter, kmc_counter_t value) {
    if (value != 0ull) {
        atomicAdd(counter, value);
    }
}
