// The Winograd loops (winograd_kernels.inc) with the AVX-512 build's 64-byte vectors, built for
// AVX2 + FMA (two AVX2 registers each), so that tests check the AVX-512 build's loops on any AVX2 CPU.
#define ACDC_WINOGRAD_BYTES 64
#define ACDC_WINOGRAD_NS wide_on_avx2
#include "acdc/winograd_kernels.inc"
