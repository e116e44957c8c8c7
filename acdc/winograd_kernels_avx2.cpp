// The Winograd loops (winograd_kernels.inc) for AVX2 + FMA (8 floats per register).
#define ACDC_WINOGRAD_BYTES 32
#define ACDC_WINOGRAD_NS avx2
#include "acdc/winograd_kernels.inc"
