// `acdc-meta info`: flags -> build_info (experiments/training/build_info.h) -> print: versions
// and what this build can do (LibTorch, CUDA, OpenCV, threads).

#include "experiments/commands/cli.h"
#include "experiments/commands/commands.h"
#include "experiments/training/build_info.h"

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
              << "\nthreads " << info.threads << "\n";
  }
  return 0;
}

}  // namespace experiments
