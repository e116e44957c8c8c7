// batch_norm_loops.inc for the baseline instruction set, and the choice between it and the
// AVX2 build (batch_norm_loops_avx2.cpp, where CMake made one).
#include "backbones/batch_norm_loops.h"
#include "host/cpu.h"

#define BN_LOOPS_ISA base
#include "backbones/batch_norm_loops.inc"

namespace backbones::bn_kernels {

#ifdef ACDC_META_AVX2_LOOPS
namespace avx2 {
Loops<float> float_loops();
Loops<double> double_loops();
}  // namespace avx2

template <>
const Loops<float>& loops<float>() {
  static const Loops<float> l = host::cpu_has_avx2_fma() ? avx2::float_loops() : base::make_loops<float>();
  return l;
}
template <>
const Loops<double>& loops<double>() {
  static const Loops<double> l = host::cpu_has_avx2_fma() ? avx2::double_loops() : base::make_loops<double>();
  return l;
}
#else
template <>
const Loops<float>& loops<float>() {
  static const Loops<float> l = base::make_loops<float>();
  return l;
}
template <>
const Loops<double>& loops<double>() {
  static const Loops<double> l = base::make_loops<double>();
  return l;
}
#endif

}  // namespace backbones::bn_kernels
