#include "experiments/commands/group_options.h"

namespace experiments {

void add_group_options(po::options_description& desc) {
  desc.add_options()
      ("rank", po::value<int64_t>(), "this process's rank in the group (default: $RANK, else 0)")
      ("world-size", po::value<int64_t>(), "processes in the group (default: $WORLD_SIZE, else 1 = alone)")
      ("master", po::value<std::string>(),
       "ADDR:PORT of rank 0's store (default: $MASTER_ADDR:$MASTER_PORT, else 127.0.0.1:29500)")
      ("backend", po::value<std::string>()->default_value(""), "gloo or nccl (default: nccl on CUDA, gloo on the CPU); named with world size 1, a group of one that runs every collective")
      ("collective-timeout", po::value<double>()->default_value(300.0),
       "seconds a rank waits for the others (joining, every collective) before it stops with an error");
}

distributed::GroupSettings group_settings(const po::variables_map& vm) {
  distributed::GroupSettings s;
  try {
    s = distributed::settings_from_env();
    if (vm.count("master")) distributed::parse_master(vm["master"].as<std::string>(), s, "--master");
  } catch (const distributed::SetupError& e) {
    throw UsageError(e.what());
  }
  if (vm.count("rank")) s.rank = vm["rank"].as<int64_t>();
  if (vm.count("world-size")) s.world_size = vm["world-size"].as<int64_t>();
  s.backend = vm["backend"].as<std::string>();
  s.timeout_seconds = vm["collective-timeout"].as<double>();
  if (s.world_size < 1) throw UsageError("--world-size must be at least 1, got " + std::to_string(s.world_size));
  if (s.rank < 0 || s.rank >= s.world_size) {
    throw UsageError("--rank must be in [0, " + std::to_string(s.world_size - 1) + "] for --world-size " +
                     std::to_string(s.world_size) + ", got " + std::to_string(s.rank));
  }
  if (!s.backend.empty() && s.backend != "gloo" && s.backend != "nccl") {
    throw UsageError("--backend must be gloo or nccl, got '" + s.backend + "'");
  }
  try {
    distributed::validate(s);
  } catch (const distributed::SetupError& e) {
    throw UsageError(std::string("--collective-timeout / group settings: ") + e.what());
  }
  return s;
}

}  // namespace experiments
