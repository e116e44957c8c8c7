#pragma once
// What this build of acdc-meta is and can do (`acdc-meta info`): its version, LibTorch's, CUDA,
// CPU threads and OpenCV.

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
  // {version, libtorch, cuda_available, cuda_devices, threads, opencv}
  storage::json json() const;
};

BuildInfo build_info();

}  // namespace experiments
