#pragma once
// Winograd F(2x2, 3x3) loops for a 3x3 convolution with stride 1 and padding 1 on channels-last
// maps (acdc/winograd.h decides where they run). No LibTorch here: one source
// (winograd_kernels.inc) built for AVX2 + FMA and for AVX-512, each build called only on CPUs
// that have its instructions.
//
// Each 2x2 output tile comes from a 4x4 input tile d: y = A^T [(G g G^T) o (B^T d B)] A, with
//   B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1],  G = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1],
//   A^T = [1 1 1 0; 0 1 -1 -1]
// (Lavin & Gray 2016), so that the 16 positions xi of the transformed tiles are 16 matrix products
// over the channels: M[xi] = V[xi] (tiles x C) * U[xi] (C x K), 16 multiply-adds per output pair
// of channels and tile instead of the direct 36. The weight gradient is the same map's adjoint:
// dU[xi] = V[xi]^T Z[xi] with Z = A gy A^T per tile, and gw = G^T dU G. The input gradient is the
// forward with the kernel flipped and its channel axes swapped.
//
// Shapes: x [N, H, W, C] and y [N, H, W, K] contiguous (channels-last [N, C, H, W] tensors);
// C and K multiples of two registers of the build (acdc/winograd.cpp's build_for checks). Tiles
// are numbered n-major, then tile row, then tile column; a map of odd size has a last row or
// column of half-empty tiles.

#include <cstdint>
#include <type_traits>

namespace acdc::winograd {

struct MapShape {
  int64_t n = 0, h = 0, w = 0;  // images and the map's height and width (input = output)
  int64_t c = 0, k = 0;         // input and output channels
  int64_t tile_rows() const { return (h + 1) / 2; }
  int64_t tile_cols() const { return (w + 1) / 2; }
  int64_t tiles() const { return n * tile_rows() * tile_cols(); }
};

// Where one 3x3 kernel lives: kernel (i, o) at w + i * stride_i + o, its element (r, s) at
// + r * stride_r + s * stride_s (negative strides flip it): the output channels contiguous, so
// that the transform runs along them.
template <class T>
struct KernelView {
  const T* w = nullptr;
  int64_t stride_i = 0, stride_r = 0, stride_s = 0;
};

// The loops of one build (winograd_kernels.inc), for T = float or double.
template <class T>
struct Kernels {
  // u [16, I, O] = G g G^T of every kernel (i, o) of a convolution from I to O channels.
  void (*transform_weight)(const KernelView<T>& g, int64_t in_channels, int64_t out_channels, T* u) = nullptr;

  // y for the tiles [tile_begin, tile_end) of y = conv(x, g) given u = transform_weight(g).
  void (*forward_tiles)(const T* x, const T* u, const MapShape& shape, int64_t tile_begin, int64_t tile_end,
                        T* y) = nullptr;

  // du [16, C, K] += the transformed weight gradient of the tiles [tile_begin, tile_end).
  void (*weight_grad_tiles)(const T* x, const T* gy, const MapShape& shape, int64_t tile_begin, int64_t tile_end,
                            T* du) = nullptr;

  // gw(k, c, r, s) = (G^T du[., c, k] G)(r, s), written at
  // gw + k * stride_k + c * stride_c + r * stride_r + s * stride_s.
  void (*weight_grad_from_transformed)(const T* du, int64_t in_channels, int64_t out_channels, T* gw,
                                       int64_t stride_k, int64_t stride_c, int64_t stride_r,
                                       int64_t stride_s) = nullptr;
};

struct KernelSet {
  Kernels<float> f;
  Kernels<double> d;
  template <class T>
  const Kernels<T>& of() const {
    if constexpr (std::is_same_v<T, float>) {
      return f;
    } else {
      return d;
    }
  }
};

// The builds, each callable only on a CPU with its instructions (acdc/winograd.cpp checks).
namespace avx2 {
KernelSet kernel_set();  // AVX2 + FMA registers: 8 floats
}
namespace avx512 {
KernelSet kernel_set();  // AVX-512 F registers: 16 floats
}
namespace wide_on_avx2 {
KernelSet kernel_set();  // the AVX-512 loops (16 floats per register) built for AVX2 + FMA, for tests
}

}  // namespace acdc::winograd
