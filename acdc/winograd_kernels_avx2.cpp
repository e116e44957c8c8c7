// acdc/winograd_kernels.h, built with -mavx2 -mfma (acdc/CMakeLists.txt) and without the
// precompiled LibTorch header. The transforms are vectorised over channels (contiguous in a
// channels-last map); the 16 products per block of tiles run on a 6 x 2-register micro-kernel
// (12 accumulators, 8 loads per 12 multiply-adds), each block's operands staying in L2.
#include "acdc/winograd_kernels.h"

#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <memory>

namespace acdc::winograd {
namespace {

template <class T>
struct Simd;
template <>
struct Simd<float> {
  using R = __m256;
  static R zero() { return _mm256_setzero_ps(); }
  static R load(const float* p) { return _mm256_loadu_ps(p); }
  static void store(float* p, R v) { _mm256_storeu_ps(p, v); }
  static R broadcast(const float* p) { return _mm256_broadcast_ss(p); }
  static R fma(R a, R b, R c) { return _mm256_fmadd_ps(a, b, c); }
};
template <>
struct Simd<double> {
  using R = __m256d;
  static R zero() { return _mm256_setzero_pd(); }
  static R load(const double* p) { return _mm256_loadu_pd(p); }
  static void store(double* p, R v) { _mm256_storeu_pd(p, v); }
  static R broadcast(const double* p) { return _mm256_broadcast_sd(p); }
  static R fma(R a, R b, R c) { return _mm256_fmadd_pd(a, b, c); }
};

// The element-wise transforms use GCC vector arithmetic on whole registers.
template <class T>
struct VecOf {
  typedef T type __attribute__((vector_size(32)));
};
template <class T>
using Vec = typename VecOf<T>::type;
template <class T>
constexpr int64_t kLanes = 32 / sizeof(T);
template <class T>
Vec<T> load(const T* p) {
  Vec<T> v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
template <class T>
void store(T* p, Vec<T> v) {
  std::memcpy(p, &v, sizeof v);
}

constexpr int64_t kForwardBlock = 36;      // tiles per block: V and M blocks of 16 x 36 x 64 floats
constexpr int64_t kWeightGradBlock = 72;   // longer blocks amortise loading the dU accumulators

struct TileAt {
  int64_t n, row, col;  // image, tile row, tile column
};
TileAt tile_at(const MapShape& s, int64_t t) {
  const int64_t per_image = s.tile_rows() * s.tile_cols();
  return {t / per_image, (t % per_image) / s.tile_cols(), t % s.tile_cols()};
}

// v [16, tb, C]: B^T d B of the input tiles t0 .. t0 + tb (zero outside the map: the padding).
template <class T>
void transform_input(const T* x, const MapShape& s, int64_t t0, int64_t tb, T* v) {
  const int64_t C = s.c;
  for (int64_t q = 0; q < tb; ++q) {
    const TileAt at = tile_at(s, t0 + q);
    const T* rows[4];
    bool col_in[4];
    for (int i = 0; i < 4; ++i) {
      const int64_t r = 2 * at.row - 1 + i;
      rows[i] = r >= 0 && r < s.h ? x + (at.n * s.h + r) * s.w * C : nullptr;
    }
    for (int j = 0; j < 4; ++j) col_in[j] = 2 * at.col - 1 + j >= 0 && 2 * at.col - 1 + j < s.w;
    for (int64_t c = 0; c < C; c += kLanes<T>) {
      Vec<T> d[4][4];
      for (int i = 0; i < 4; ++i)
        for (int j = 0; j < 4; ++j) d[i][j] = rows[i] && col_in[j] ? load(rows[i] + (2 * at.col - 1 + j) * C + c) : Vec<T>{};
      Vec<T> t[4][4];
      for (int j = 0; j < 4; ++j) {
        t[0][j] = d[0][j] - d[2][j];
        t[1][j] = d[1][j] + d[2][j];
        t[2][j] = d[2][j] - d[1][j];
        t[3][j] = d[1][j] - d[3][j];
      }
      for (int i = 0; i < 4; ++i) {
        T* out = v + (i * 4 * tb + q) * C + c;
        store(out, t[i][0] - t[i][2]);
        store(out + tb * C, t[i][1] + t[i][2]);
        store(out + 2 * tb * C, t[i][2] - t[i][1]);
        store(out + 3 * tb * C, t[i][1] - t[i][3]);
      }
    }
  }
}

// y of the tiles t0 .. t0 + tb from m [16, tb, K]: A^T m A, the outputs inside the map only.
template <class T>
void transform_output(const T* m, const MapShape& s, int64_t t0, int64_t tb, T* y) {
  const int64_t K = s.k;
  for (int64_t q = 0; q < tb; ++q) {
    const TileAt at = tile_at(s, t0 + q);
    const bool row1 = 2 * at.row + 1 < s.h, col1 = 2 * at.col + 1 < s.w;
    T* y0 = y + ((at.n * s.h + 2 * at.row) * s.w + 2 * at.col) * K;
    T* y1 = row1 ? y0 + s.w * K : nullptr;  // the tile's second row, where the map has one
    for (int64_t k = 0; k < K; k += kLanes<T>) {
      Vec<T> mm[4][4];
      for (int xi = 0; xi < 16; ++xi) mm[xi / 4][xi % 4] = load(m + (xi * tb + q) * K + k);
      Vec<T> r0[4], r1[4];
      for (int j = 0; j < 4; ++j) {
        r0[j] = mm[0][j] + mm[1][j] + mm[2][j];
        r1[j] = mm[1][j] - mm[2][j] - mm[3][j];
      }
      store(y0 + k, r0[0] + r0[1] + r0[2]);
      if (col1) store(y0 + K + k, r0[1] - r0[2] - r0[3]);
      if (row1) {
        store(y1 + k, r1[0] + r1[1] + r1[2]);
        if (col1) store(y1 + K + k, r1[1] - r1[2] - r1[3]);
      }
    }
  }
}

// z [16, tb, K]: A g A^T of the output-gradient tiles (zero outside the map).
template <class T>
void transform_output_grad(const T* gy, const MapShape& s, int64_t t0, int64_t tb, T* z) {
  const int64_t K = s.k;
  for (int64_t q = 0; q < tb; ++q) {
    const TileAt at = tile_at(s, t0 + q);
    const bool row1 = 2 * at.row + 1 < s.h, col1 = 2 * at.col + 1 < s.w;
    const T* g0 = gy + ((at.n * s.h + 2 * at.row) * s.w + 2 * at.col) * K;
    const T* g1 = row1 ? g0 + s.w * K : nullptr;
    for (int64_t k = 0; k < K; k += kLanes<T>) {
      const Vec<T> zero{};
      const Vec<T> g00 = load(g0 + k), g01 = col1 ? load(g0 + K + k) : zero;
      const Vec<T> g10 = row1 ? load(g1 + k) : zero, g11 = row1 && col1 ? load(g1 + K + k) : zero;
      const Vec<T> rows[4][2] = {{g00, g01}, {g00 + g10, g01 + g11}, {g00 - g10, g01 - g11}, {-g10, -g11}};
      for (int i = 0; i < 4; ++i) {
        T* out = z + (i * 4 * tb + q) * K + k;
        store(out, rows[i][0]);
        store(out + tb * K, rows[i][0] + rows[i][1]);
        store(out + 2 * tb * K, rows[i][0] - rows[i][1]);
        store(out + 3 * tb * K, -rows[i][1]);
      }
    }
  }
}

// The micro-kernel's 12 accumulators: 6 rows (each a broadcast operand) by 2 registers of
// columns. Constant trip counts, unrolled, so that they live in registers.
template <class T>
struct Block {
  using S = Simd<T>;
  using R = typename S::R;
  static constexpr int64_t l = kLanes<T>;
  R acc[6][2];

  void zero() {
#pragma GCC unroll 6
    for (int r = 0; r < 6; ++r) acc[r][0] = S::zero(), acc[r][1] = S::zero();
  }
  void load(const T* o, int64_t ld) {
#pragma GCC unroll 6
    for (int r = 0; r < 6; ++r) acc[r][0] = S::load(o + r * ld), acc[r][1] = S::load(o + r * ld + l);
  }
  void store(T* o, int64_t ld) const {
#pragma GCC unroll 6
    for (int r = 0; r < 6; ++r) S::store(o + r * ld, acc[r][0]), S::store(o + r * ld + l, acc[r][1]);
  }
  // acc[r] += a[r * step] * (b[0 .. l), b[l .. 2l))
  void multiply_add(const T* a, int64_t step, const T* b) {
    const R b0 = S::load(b), b1 = S::load(b + l);
#pragma GCC unroll 6
    for (int r = 0; r < 6; ++r) {
      const R e = S::broadcast(a + r * step);
      acc[r][0] = S::fma(e, b0, acc[r][0]), acc[r][1] = S::fma(e, b1, acc[r][1]);
    }
  }
};

// Two registers of columns of a product: for r < rows,
//   out[r * out_ld ..] = (accumulate ? out[r * out_ld ..] : 0) + sum_i a[r * row_step + i * inner_step] * b[i * ld ..]
// in blocks of 6 rows, then row by row.
template <class T>
void product_columns(const T* a, int64_t rows, int64_t row_step, int64_t inner, int64_t inner_step, const T* b,
                     int64_t ld, T* out, int64_t out_ld, bool accumulate) {
  using S = Simd<T>;
  constexpr int64_t l = kLanes<T>;
  int64_t r = 0;
  for (; r + 6 <= rows; r += 6) {
    Block<T> block;
    if (accumulate) {
      block.load(out + r * out_ld, out_ld);
    } else {
      block.zero();
    }
    const T* ar = a + r * row_step;
    for (int64_t i = 0; i < inner; ++i) block.multiply_add(ar + i * inner_step, row_step, b + i * ld);
    block.store(out + r * out_ld, out_ld);
  }
  for (; r < rows; ++r) {
    T* o = out + r * out_ld;
    auto a0 = accumulate ? S::load(o) : S::zero(), a1 = accumulate ? S::load(o + l) : S::zero();
    for (int64_t i = 0; i < inner; ++i) {
      const auto e = S::broadcast(a + r * row_step + i * inner_step);
      a0 = S::fma(e, S::load(b + i * ld), a0), a1 = S::fma(e, S::load(b + i * ld + l), a1);
    }
    S::store(o, a0), S::store(o + l, a1);
  }
}

// m[xi] = v[xi] (tb x C) * u[xi] (C x K) for the 16 positions.
template <class T>
void multiply(const T* v, const T* u, int64_t tb, int64_t C, int64_t K, T* m) {
  for (int xi = 0; xi < 16; ++xi) {
    for (int64_t j = 0; j < K; j += 2 * kLanes<T>) {
      product_columns(v + xi * tb * C, tb, C, C, 1, u + xi * C * K + j, K, m + xi * tb * K + j, K, /*accumulate=*/false);
    }
  }
}

// du[xi] (C x K) += v[xi]^T (C x tb) * z[xi] (tb x K) for the 16 positions.
template <class T>
void multiply_transposed_accumulate(const T* v, const T* z, int64_t tb, int64_t C, int64_t K, T* du) {
  for (int xi = 0; xi < 16; ++xi) {
    for (int64_t j = 0; j < K; j += 2 * kLanes<T>) {
      product_columns(v + xi * tb * C, C, 1, tb, C, z + xi * tb * K + j, K, du + xi * C * K + j, K, /*accumulate=*/true);
    }
  }
}

}  // namespace

namespace {

// G g G^T of one kernel, or of kLanes kernels at once (V = Vec<T>); g(r, s) = at(3 * r + s).
template <class V, class At, class Put>
void transform_kernel(At at, Put put) {
  V t[4][3];  // G g
  for (int s = 0; s < 3; ++s) {
    const V g0 = at(s), g1 = at(3 + s), g2 = at(6 + s);
    t[0][s] = g0, t[1][s] = (g0 + g1 + g2) / 2, t[2][s] = (g0 - g1 + g2) / 2, t[3][s] = g2;
  }
  for (int r = 0; r < 4; ++r) {  // (G g) G^T
    put(r * 4, t[r][0]);
    put(r * 4 + 1, (t[r][0] + t[r][1] + t[r][2]) / 2);
    put(r * 4 + 2, (t[r][0] - t[r][1] + t[r][2]) / 2);
    put(r * 4 + 3, t[r][2]);
  }
}

}  // namespace

// Run once per call (the inner loop changes the weights every step), so vectorised along
// whichever channel axis of the kernel is contiguous: the output channels when the input
// gradient reads a channels-last weight, the input channels when the forward does.
template <class T>
void transform_weight(const KernelView<T>& g, int64_t in_channels, int64_t out_channels, T* u) {
  constexpr int64_t l = kLanes<T>;
  const int64_t plane = in_channels * out_channels;  // one position xi of u
  auto tap = [&](int64_t i, int64_t o, int e) { return g.w + i * g.stride_i + o * g.stride_o + (e / 3) * g.stride_r + (e % 3) * g.stride_s; };
  if (g.stride_o == 1 && out_channels % l == 0) {
    for (int64_t i = 0; i < in_channels; ++i) {
      for (int64_t o = 0; o < out_channels; o += l) {
        transform_kernel<Vec<T>>([&](int e) { return load(tap(i, o, e)); },
                                 [&](int xi, Vec<T> v) { store(u + xi * plane + i * out_channels + o, v); });
      }
    }
  } else if (g.stride_i == 1 && in_channels % l == 0) {
    for (int64_t o = 0; o < out_channels; ++o) {
      for (int64_t i = 0; i < in_channels; i += l) {
        transform_kernel<Vec<T>>([&](int e) { return load(tap(i, o, e)); },
                                 [&](int xi, Vec<T> v) {
                                   T* out = u + xi * plane + i * out_channels + o;
                                   for (int64_t lane = 0; lane < l; ++lane) out[lane * out_channels] = v[lane];
                                 });
      }
    }
  } else {
    for (int64_t i = 0; i < in_channels; ++i) {
      for (int64_t o = 0; o < out_channels; ++o) {
        transform_kernel<T>([&](int e) { return *tap(i, o, e); },
                            [&](int xi, T v) { u[xi * plane + i * out_channels + o] = v; });
      }
    }
  }
}

template <class T>
void forward_tiles(const T* x, const T* u, const MapShape& shape, int64_t tile_begin, int64_t tile_end, T* y) {
  const int64_t block = std::min(kForwardBlock, tile_end - tile_begin);
  if (block <= 0) return;
  std::unique_ptr<T[]> v(new T[16 * block * shape.c]), m(new T[16 * block * shape.k]);  // no zero fill
  for (int64_t t0 = tile_begin; t0 < tile_end; t0 += block) {
    const int64_t tb = std::min(block, tile_end - t0);
    transform_input(x, shape, t0, tb, v.get());
    multiply(v.get(), u, tb, shape.c, shape.k, m.get());
    transform_output(m.get(), shape, t0, tb, y);
  }
}

template <class T>
void weight_grad_tiles(const T* x, const T* gy, const MapShape& shape, int64_t tile_begin, int64_t tile_end, T* du) {
  const int64_t block = std::min(kWeightGradBlock, tile_end - tile_begin);
  if (block <= 0) return;
  std::unique_ptr<T[]> v(new T[16 * block * shape.c]), z(new T[16 * block * shape.k]);
  for (int64_t t0 = tile_begin; t0 < tile_end; t0 += block) {
    const int64_t tb = std::min(block, tile_end - t0);
    transform_input(x, shape, t0, tb, v.get());
    transform_output_grad(gy, shape, t0, tb, z.get());
    multiply_transposed_accumulate(v.get(), z.get(), tb, shape.c, shape.k, du);
  }
}

template <class T>
void weight_grad_from_transformed(const T* du, int64_t in_channels, int64_t out_channels, T* gw, int64_t stride_k,
                                  int64_t stride_c, int64_t stride_r, int64_t stride_s) {
  const int64_t plane = in_channels * out_channels;
  for (int64_t c = 0; c < in_channels; ++c) {
    for (int64_t k = 0; k < out_channels; ++k) {
      T m[4][4];
      for (int xi = 0; xi < 16; ++xi) m[xi / 4][xi % 4] = du[xi * plane + c * out_channels + k];
      T r[3][4];  // G^T m
      for (int j = 0; j < 4; ++j) {
        r[0][j] = m[0][j] + (m[1][j] + m[2][j]) / 2;
        r[1][j] = (m[1][j] - m[2][j]) / 2;
        r[2][j] = (m[1][j] + m[2][j]) / 2 + m[3][j];
      }
      T* o = gw + k * stride_k + c * stride_c;
      for (int i = 0; i < 3; ++i) {  // (G^T m) G
        o[i * stride_r] = r[i][0] + (r[i][1] + r[i][2]) / 2;
        o[i * stride_r + stride_s] = (r[i][1] - r[i][2]) / 2;
        o[i * stride_r + 2 * stride_s] = (r[i][1] + r[i][2]) / 2 + r[i][3];
      }
    }
  }
}

#define ACDC_WINOGRAD_INSTANTIATE(T)                                                                               \
  template void transform_weight<T>(const KernelView<T>&, int64_t, int64_t, T*);                                   \
  template void forward_tiles<T>(const T*, const T*, const MapShape&, int64_t, int64_t, T*);                      \
  template void weight_grad_tiles<T>(const T*, const T*, const MapShape&, int64_t, int64_t, T*);                  \
  template void weight_grad_from_transformed<T>(const T*, int64_t, int64_t, T*, int64_t, int64_t, int64_t, int64_t);
ACDC_WINOGRAD_INSTANTIATE(float)
ACDC_WINOGRAD_INSTANTIATE(double)
#undef ACDC_WINOGRAD_INSTANTIATE

}  // namespace acdc::winograd
