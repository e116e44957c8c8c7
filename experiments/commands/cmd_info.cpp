// `acdc-meta info`: versions and what this build can do (LibTorch, CUDA, OpenCV, threads).

#include "datasets/storage/json.h"
#include "experiments/commands/cli.h"
#include "experiments/commands/commands.h"

#include <torch/torch.h>

#include <iostream>

namespace experiments {

int cmd_info(const Args& args) {
  po::options_description desc("info options");
  desc.add_options()("json", po::bool_switch(), "print one JSON object");
  po::variables_map vm;
  if (!parse_args("info", "[--json]", args, desc, vm)) return 0;
  storage::json j;
  j["version"] = ACDC_META_VERSION;
  j["libtorch"] = TORCH_VERSION;
  j["cuda_available"] = torch::cuda::is_available();
  j["cuda_devices"] = static_cast<int64_t>(torch::cuda::device_count());
  j["threads"] = static_cast<int64_t>(torch::get_num_threads());
#ifdef ACDC_META_HAVE_OPENCV
  j["opencv"] = true;
#else
  j["opencv"] = false;
#endif
  if (vm["json"].as<bool>()) {
    std::cout << storage::dump_json(j) << "\n";
  } else {
    std::cout << "acdc-meta " << ACDC_META_VERSION << "\nLibTorch " << TORCH_VERSION << "\nCUDA "
              << (torch::cuda::is_available() ? "available (" + std::to_string(torch::cuda::device_count()) + " devices)"
                                              : std::string("not available"))
              << "\nthreads " << torch::get_num_threads() << "\n";
  }
  return 0;
}

}  // namespace experiments
