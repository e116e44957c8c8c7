#include "experiments/training/build_info.h"

#include "acdc/winograd.h"
#include "host/cpu.h"

#include <torch/torch.h>

// Weak: absent where LibTorch uses another BLAS.
extern "C" char* openblas_get_corename() __attribute__((weak));

namespace experiments {

storage::json BuildInfo::json() const {
  storage::json j;
  j["version"] = version;
  j["libtorch"] = libtorch;
  j["cuda_available"] = cuda_available;
  j["cuda_devices"] = cuda_devices;
  j["threads"] = threads;
  j["opencv"] = opencv;
  j["cpu"] = cpu;
  j["cpu_isa"] = cpu_isa;
  j["blas_core"] = blas_core;
  j["winograd"] = winograd;
  return j;
}

BuildInfo build_info() {
  BuildInfo info;
  info.version = ACDC_META_VERSION;
  info.libtorch = TORCH_VERSION;
  info.cuda_available = torch::cuda::is_available();
  info.cuda_devices = static_cast<int64_t>(torch::cuda::device_count());
  info.threads = static_cast<int64_t>(torch::get_num_threads());
#ifdef ACDC_META_HAVE_OPENCV
  info.opencv = true;
#endif
  info.cpu = host::cpu_model_name();
  info.cpu_isa = host::cpu_vector_isa();
  info.blas_core = blas_core();
  info.winograd = acdc::winograd_status();
  return info;
}

std::string blas_core() {
  return openblas_get_corename != nullptr ? std::string(openblas_get_corename()) : std::string("unknown");
}

}  // namespace experiments
