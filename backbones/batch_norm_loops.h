#pragma once
// The inner loops of batch_norm_kernels.cpp, on raw pointers, built twice: for the baseline
// x86-64 instruction set and with AVX2 + FMA (batch_norm_loops_avx2.cpp), picked at run time.
// Small activations (a few MB) stay in cache, where the loops are bound by arithmetic, and
// 8-wide vectors do them twice as fast as the baseline's 4-wide ones.
//
// A tensor [N, C, ...] is `outer` x `c` x `inner` values (layout in batch_norm_kernels.cpp);
// each loop runs over outer indices [begin, end). 

#include <cstdint>

namespace backbones::bn_kernels {

template <typename T>
struct Loops {
  // Sums into double accumulators acc [K * c] (k-th sum of channel j at acc[k * c + j]), with
  // `scratch` room for K * c values of T.
  // K = 2: Σ (x - shift), Σ (x - shift)²
  void (*moments)(const T* x, const T* shift, int64_t begin, int64_t end, int64_t c, int64_t inner, double* acc,
                  T* scratch);
  // K = 2: Σ v, Σ v (x - mean)
  void (*project_sums)(const T* v, const T* x, const T* mean, int64_t begin, int64_t end, int64_t c, int64_t inner,
                       double* acc, T* scratch);
  // K = 1: Σ a b
  void (*dot)(const T* a, const T* b, int64_t begin, int64_t end, int64_t c, int64_t inner, double* acc, T* scratch);
  // out = a v + b (x - m) + g
  void (*affine)(const T* v, const T* x, const T* a, const T* b, const T* m, const T* g, int64_t begin, int64_t end,
                 int64_t c, int64_t inner, T* out);
  // out = bias + Σ_k t[k] coef[k], k < terms
  void (*combine)(const T* const* t, const T* const* coef, int terms, const T* bias, int64_t begin, int64_t end,
                  int64_t c, int64_t inner, T* out);
};

// The loops for this CPU: AVX2 + FMA where the CPU has them and the build made them.
template <typename T>
const Loops<T>& loops();

}  // namespace backbones::bn_kernels
