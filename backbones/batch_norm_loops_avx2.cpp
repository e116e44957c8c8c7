// batch_norm_loops.inc compiled with -mavx2 -mfma (backbones/CMakeLists.txt), without the
// precompiled LibTorch header.
#include "backbones/batch_norm_loops.h"

#define BN_LOOPS_ISA avx2
#include "backbones/batch_norm_loops.inc"

namespace backbones::bn_kernels::avx2 {

Loops<float> float_loops() { return make_loops<float>(); }
Loops<double> double_loops() { return make_loops<double>(); }

}  // namespace backbones::bn_kernels::avx2
