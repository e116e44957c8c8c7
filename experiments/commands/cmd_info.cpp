// `acdc-meta info`: flags -> build_info (experiments/training/build_info.h) -> print: versions,
// what this build can do (LibTorch, CUDA, OpenCV, threads) and the CPU's kernels.

#include "experiments/commands/cli.h"
#include "experiments/commands/commands.h"
#include "experiments/training/build_info.h"
#include "host/cpu.h"

#include <iostream>

namespace experiments {

int cmd_info(const Args& args) {
  po::options_description desc("info options");
  desc.add_options()("json", po::bool_switch(), "print one JSON object");
  po::variables_map vm;
  if (!parse_args("info", "[--json]", args, desc, vm)) return 0;
  const auto info = build_info();
  if (vm["json"].as<bool>()) {
    std::cout << storage::dump_json(info.json()) << "\n";
  } else {
    std::cout << "acdc-meta " << info.version << "\nLibTorch " << info.libtorch << "\nCUDA "
              << (info.cuda_available ? "available (" + std::to_string(info.cuda_devices) + " devices)"
                                      : std::string("not available"))
              << "\nOpenCV " << (info.opencv ? "yes (JPEG/PNG readers, analyze cam's PNGs)" : "no (built without it)")
              << "\nthreads " << info.threads << " (LibTorch's default here; commands take --threads, 0 = every core)"
              << "\nCPU " << host::cpu_summary()
              << "\nOpenBLAS kernels " << info.blas_core << "\nWinograd 3x3 convolutions: " << info.winograd
              << "\n";
  }
  return 0;
}

}  // namespace experiments
