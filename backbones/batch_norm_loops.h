#pragma once
// The inner loops of batch_norm_kernels.cpp, on raw pointers, built twice: for the baseline
// x86-64 instruction set and with AVX2 + FMA (batch_norm_loops_avx2.cpp), picked at run time.
// Small activations (a few MB) stay in cache, where the loops are bound by arithmetic, and
// 8-wide vectors do them twice as fast as the baseline's 4-wide ones.
//
// A tensor [N, C, ...] is `outer` x `c` x `inner` values (layout in batch_norm_kernels.cpp);
// each loop runs over outer indices [begin, end). 

#include "backbones/pool_choice.h"

#include <cstdint>

namespace backbones::bn_kernels {

// A channels-last tensor [N, C, h, w] pooled by 2x2 windows into [N, C, oh, ow]: output row r
// (one (n, i, j) position, C values) reads the input rows at offsets(r) + {0, right, below,
// below + right}.
struct PoolGeometry {
  int64_t h, w, oh, ow, c;
  int64_t offset(int64_t r) const {
    const int64_t n = r / (oh * ow), i = (r / ow) % oh, j = r % ow;
    return ((n * h + 2 * i) * w + 2 * j) * c;
  }
  int64_t right() const { return c; }
  int64_t below() const { return w * c; }
};

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

  // Over the output rows [begin, end) of a 2x2 max-pool (channels-last), K = 2: Σ (x - shift),
  // Σ (x - shift)² over the windows' elements; and each window's element by the key sign x
  // (sign per channel: +1, -1 or 0; the first of equal keys, NaN winning): its value in xc
  // [rows x c], its index (0..3 row-major) in choice.
  void (*pool_moments)(const T* x, const T* shift, const T* sign, const PoolGeometry& g, int64_t begin, int64_t end,
                       double* acc, T* scratch, T* xc, uint8_t* choice);
  // Pooled rows [begin, end) of c values: out = relu(b + xc a); choice = kNoGradient where the
  // ReLU clipped (out <= 0).
  void (*pooled_output)(const T* xc, const T* a, const T* b, int64_t begin, int64_t end, int64_t c, T* out,
                        uint8_t* choice);
  // K = 2 over pooled rows: Σ v, Σ v (xc - mean), v = gp (0 where kNoGradient)
  void (*pooled_sums)(const T* gp, const uint8_t* choice, const T* xc, const T* mean, int64_t begin, int64_t end,
                      int64_t c, double* acc, T* scratch);
  // The four input rows of output rows [begin, end): out = a v + b (x - m) + g0, v the output
  // gradient where the window chose that element and 0 elsewhere.
  void (*pooled_affine)(const T* gp, const uint8_t* choice, const T* x, const T* a, const T* b, const T* m,
                        const T* g0, const PoolGeometry& g, int64_t begin, int64_t end, T* out);
};

// The loops for this CPU: AVX2 + FMA where the CPU has them and the build made them.
template <typename T>
const Loops<T>& loops();

}  // namespace backbones::bn_kernels
