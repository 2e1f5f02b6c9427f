// Exported helpers of the g++ emulation library (tests only; see emulate.h).
#include "philox.cuh"

extern "C" void kmc_emu_set_thread(unsigned int grid, unsigned int block, unsigned int block_index,
                                   unsigned int thread_index) {
    gridDim = {grid, 1, 1};
    blockDim = {block, 1, 1};
    blockIdx = {block_index, 0, 0};
    threadIdx = {thread_index, 0, 0};
}

extern "C" void kmc_emu_philox(uint32_t c0, uint32_t c1, uint32_t c2, uint32_t c3, uint32_t k0, uint32_t k1,
                               uint32_t* out) {
    const kmc_u32x4 r = kmc_philox4x32_10(c0, c1, c2, c3, k0, k1);
    out[0] = r.x;
    out[1] = r.y;
    out[2] = r.z;
    out[3] = r.w;
}

extern "C" void kmc_emu_draw4(uint64_t seed, uint64_t step, uint32_t pass, uint64_t site, uint32_t stream,
                              uint32_t* out) {
    const kmc_u32x4 r = draw4(seed, step, pass, site, stream);
    out[0] = r.x;
    out[1] = r.y;
    out[2] = r.z;
    out[3] = r.w;
}
