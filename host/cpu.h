#pragma once
// What the CPU can run, asked once: the hand-written loops built for AVX2 + FMA
// (backbones/batch_norm_loops_avx2.cpp, acdc/winograd_kernels_avx2.cpp) run only where it says so.

#include <string>

namespace host {

bool cpu_has_avx2_fma();  // AVX2 and FMA3 (x86-64; false elsewhere)
bool cpu_has_avx512();    // AVX-512 F (where oneDNN has its widest convolution kernels)

// For reports: the widest of the above ("AVX-512", "AVX2 + FMA", else "neither AVX2 + FMA nor
// AVX-512"), and the CPU's name as /proc/cpuinfo gives it ("unknown" where it does not).
std::string cpu_vector_isa();
std::string cpu_model_name();
// Both in one line for reports: "<model name> (<vector isa>)".
std::string cpu_summary();

}  // namespace host
