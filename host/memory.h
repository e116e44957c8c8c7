#pragma once
// What this machine lets the process use, for checking sizes before allocating (backbones'
// parameter budget, the readers' header claims, the out-of-memory message of the command).
// No LibTorch: a plain library below every other one.

#include <string>

namespace host {

// Physical memory, or less under an address-space limit (ulimit -v), in bytes.
double memory_limit_bytes();

// "3.4 GiB" (one decimal).
std::string format_gib(double bytes);

}  // namespace host
