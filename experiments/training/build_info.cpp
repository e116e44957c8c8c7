#include "experiments/training/build_info.h"

#include <torch/torch.h>

namespace experiments {

storage::json BuildInfo::json() const {
  storage::json j;
  j["version"] = version;
  j["libtorch"] = libtorch;
  j["cuda_available"] = cuda_available;
  j["cuda_devices"] = cuda_devices;
  j["threads"] = threads;
  j["opencv"] = opencv;
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
  return info;
}

}  // namespace experiments
