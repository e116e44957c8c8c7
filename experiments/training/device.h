#pragma once
// Where a run computes: the device and the CPU thread count (--device, --threads).

#include <torch/types.h>

#include <cstdint>
#include <string>

namespace experiments {

constexpr int64_t kMaxThreads = 1024;  // CPU threads of a run

// "cpu", "cuda" or "cuda:N"; throws UsageError naming --device when the value is unknown or
// no CUDA device is present.
torch::Device parse_device(const std::string& name);

// --threads: 0 = every core. Throws UsageError for a negative count or one above kMaxThreads.
// Returns the count used.
int64_t set_threads(int64_t threads);

}  // namespace experiments
