// `acdc-meta info`: versions and what this build can do (LibTorch, CUDA, OpenCV, threads).

#include "experiments/cli.h"
#include "experiments/commands.h"

#include <torch/torch.h>

#include <iostream>

namespace experiments {

int cmd_info(const Args& args) {
  po::options_description desc("info options");
  desc.add_options()("json", po::bool_switch(), "print one JSON object");
  po::variables_map vm;
  if (!parse_args("info", "[--json]", args, desc, vm)) return 0;
  auto j = Json::object();
  j.set("version", ACDC_META_VERSION)
      .set("libtorch", TORCH_VERSION)
      .set("cuda_available", torch::cuda::is_available())
      .set("cuda_devices", static_cast<int64_t>(torch::cuda::device_count()))
      .set("threads", static_cast<int64_t>(torch::get_num_threads()))
#ifdef ACDC_META_HAVE_OPENCV
      .set("opencv", true);
#else
      .set("opencv", false);
#endif
  if (vm["json"].as<bool>()) {
    std::cout << j.dump() << "\n";
  } else {
    std::cout << "acdc-meta " << ACDC_META_VERSION << "\nLibTorch " << TORCH_VERSION << "\nCUDA "
              << (torch::cuda::is_available() ? "available (" + std::to_string(torch::cuda::device_count()) + " devices)"
                                              : std::string("not available"))
              << "\nthreads " << torch::get_num_threads() << "\n";
  }
  return 0;
}

}  // namespace experiments
