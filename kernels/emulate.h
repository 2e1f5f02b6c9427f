// Host emulation of the CUDA subset the kernels use, so g++ compiles kernels/*.cu as C++.
//
// Used only by tests (kmc/backends/emulated.py): g++ -x c++ -std=c++17 -include kernels/emulate.h.
// A launch becomes a serial loop: the caller sets (gridDim, blockDim, blockIdx, threadIdx) with
// kmc_emu_set_thread and calls the kernel once per (block, thread); the kernels' grid-stride
// loops then visit every site exactly as they would on the device. atomicAdd is a plain add
// (the loop is serial). Nothing here is compiled by nvcc or NVRTC.
#pragma once

#if defined(__CUDACC__) || defined(__CUDACC_RTC__)
#error "kernels/emulate.h is for the g++ host emulation only"
#endif

#include <stdint.h>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline __attribute__((always_inline))

struct dim3 {
    unsigned int x, y, z;
};

inline thread_local dim3 gridDim = {1, 1, 1};
inline thread_local dim3 blockDim = {1, 1, 1};
inline thread_local dim3 blockIdx = {0, 0, 0};
inline thread_local dim3 threadIdx = {0, 0, 0};

inline unsigned long long atomicAdd(unsigned long long* address, unsigned long long value) {
    const unsigned long long old = *address;
    *address = old + value;
    return old;
}

inline unsigned int __umulhi(unsigned int a, unsigned int b) {
    return (unsigned int)(((unsigned long long)a * (unsigned long long)b) >> 32);
}
