#include "host/cpu.h"

#include <fstream>

namespace host {

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
bool cpu_has_avx2_fma() {
  static const bool has = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  }();
  return has;
}
bool cpu_has_avx512() {
  static const bool has = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f");
  }();
  return has;
}
#else
bool cpu_has_avx2_fma() { return false; }
bool cpu_has_avx512() { return false; }
#endif

std::string cpu_vector_isa() {
  if (cpu_has_avx512()) return "AVX-512";
  return cpu_has_avx2_fma() ? "AVX2 + FMA" : "neither AVX2 + FMA nor AVX-512";
}

std::string cpu_model_name() {
  std::ifstream in("/proc/cpuinfo");
  const std::string key = "model name";
  for (std::string line; std::getline(in, line);) {
    if (line.compare(0, key.size(), key) != 0) continue;
    const auto colon = line.find(':');
    const auto begin = colon == std::string::npos ? std::string::npos : line.find_first_not_of(" \t", colon + 1);
    if (begin != std::string::npos) return line.substr(begin);
  }
  return "unknown";
}

std::string cpu_summary() { return cpu_model_name() + " (" + cpu_vector_isa() + ")"; }

}  // namespace host
