// Fixed-width integer types for nvcc, NVRTC (CuPy RawModule) and the g++ emulation.
// NVRTC ships no <stdint.h>; the typedefs below are those of libcu++ under __CUDACC_RTC__.
#pragma once

#if defined(__CUDACC_RTC__)
typedef signed char int8_t;
typedef unsigned char uint8_t;
typedef signed short int16_t;
typedef unsigned short uint16_t;
typedef signed int int32_t;
typedef unsigned int uint32_t;
typedef signed long long int64_t;
typedef unsigned long long uint64_t;
#else
#include <stdint.h>
#endif

// Counters are reduced with atomicAdd, whose 64-bit overload takes unsigned long long.
typedef unsigned long long kmc_counter_t;
