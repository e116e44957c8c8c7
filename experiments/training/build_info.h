#pragma once
// What this build of acdc-meta is and can do, and on what machine (`acdc-meta info`, and the
// "machine" record of eval's results): its version, LibTorch's, CUDA, CPU threads, OpenCV, and
// the CPU with the kernels it runs, on which the last bits of every result depend.

#include "datasets/storage/json.h"

#include <cstdint>
#include <string>

namespace experiments {

struct BuildInfo {
  std::string version;     // acdc-meta's
  std::string libtorch;    // the LibTorch it was built against
  bool cuda_available = false;
  int64_t cuda_devices = 0;
  int64_t threads = 0;     // LibTorch's CPU threads now
  bool opencv = false;     // image decoding and analyze cam's PNGs
  std::string cpu;         // host::cpu_model_name()
  std::string cpu_isa;     // host::cpu_vector_isa()
  std::string blas_core;   // OpenBLAS's kernels for this CPU ("unknown" without OpenBLAS)
  std::string winograd;    // acdc::winograd_status(): 3x3 convolutions by Winograd or oneDNN
  // {version, libtorch, cuda_available, cuda_devices, threads, opencv, cpu, cpu_isa, blas_core, winograd}
  storage::json json() const;
};

BuildInfo build_info();

// OpenBLAS's name for the kernels it picked for this CPU ("unknown" with another BLAS). Its CPU
// detection can fail inside VMs and fall back to decades-old kernels ("Prescott", 5x slower on
// the Intel CI machines); OPENBLAS_CORETYPE overrides it.
std::string blas_core();

}  // namespace experiments
