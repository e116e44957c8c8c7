#pragma once
// How a 2x2 max-pool records which element of its window each output took, for its backward: one
// byte per output, 0..3 row-major in the window (top-left, top-right, bottom-left, bottom-right),
// or kNoGradient where the output takes no gradient (a fused ReLU clipped it). max_pool2x2 writes
// 0..3; the fused BatchNorm + pool + ReLU (batch_norm_kernels.h) also kNoGradient; the backward of
// either (max_pool2x2_scatter, the fused kernels' projection) reads both. No LibTorch: the loops
// built per instruction set (batch_norm_loops.h) include it.

#include <cstdint>

namespace backbones {

constexpr uint8_t kNoGradient = 4;

}  // namespace backbones
