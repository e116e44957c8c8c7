#pragma once
// Float32 agreement tests between CPU and CUDA compare IEEE float32 arithmetic: on Ampere and
// later GPUs cuDNN convolutions default to TF32 (10-bit mantissa), which is a different
// precision mode, not a discrepancy. This guard turns TF32 off for the test's scope.

#include <ATen/Context.h>

namespace support {

class NoTf32 {
 public:
  NoTf32() : cudnn_(at::globalContext().allowTF32CuDNN()), cublas_(at::globalContext().allowTF32CuBLAS()) {
    at::globalContext().setAllowTF32CuDNN(false);
    at::globalContext().setAllowTF32CuBLAS(false);
  }
  ~NoTf32() {
    at::globalContext().setAllowTF32CuDNN(cudnn_);
    at::globalContext().setAllowTF32CuBLAS(cublas_);
  }
  NoTf32(const NoTf32&) = delete;
  NoTf32& operator=(const NoTf32&) = delete;

 private:
  bool cudnn_, cublas_;
};

}  // namespace support
