// The Winograd loops (winograd_kernels.inc) for AVX-512 F (16 floats per register).
#define ACDC_WINOGRAD_BYTES 64
#define ACDC_WINOGRAD_NS avx512
#include "acdc/winograd_kernels.inc"
