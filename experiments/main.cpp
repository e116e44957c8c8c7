// acdc-meta: the command-line front door. Dispatches to subcommands; bad usage exits 2 with
// one line naming the problem, other failures exit 1.

#include "experiments/cli.h"
#include "experiments/commands.h"

#include <c10/util/Exception.h>

#include <iostream>

namespace experiments {

const std::vector<Command>& commands() {
  static const std::vector<Command> table = {
      {"info", "versions, CUDA and OpenCV availability of this build", cmd_info},
  };
  return table;
}

}  // namespace experiments

namespace {

void print_help() {
  std::cout << "acdc-meta: few-shot meta-learning with Atom-Coefficient Decomposed Convolutions\n\n"
               "usage: acdc-meta <command> [options]     (acdc-meta <command> --help for its options)\n\n"
               "commands:\n";
  for (const auto& c : experiments::commands()) {
    std::cout << "  " << c.name << std::string(c.name.size() < 10 ? 10 - c.name.size() : 1, ' ') << c.summary << "\n";
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    print_help();
    return 2;
  }
  const std::string name = argv[1];
  if (name == "--help" || name == "-h" || name == "help") {
    print_help();
    return 0;
  }
  if (name == "--version") {
    std::cout << "acdc-meta " << ACDC_META_VERSION << "\n";
    return 0;
  }
  for (const auto& c : experiments::commands()) {
    if (c.name != name) continue;
    try {
      return c.run(std::vector<std::string>(argv + 2, argv + argc));
    } catch (const experiments::UsageError& e) {
      std::cerr << "acdc-meta " << name << ": error: " << e.what() << "\n";
      return 2;
    } catch (const std::invalid_argument& e) {
      std::cerr << "acdc-meta " << name << ": error: " << e.what() << "\n";
      return 2;
    } catch (const c10::Error& e) {
      std::cerr << "acdc-meta " << name << ": error: " << e.what_without_backtrace() << "\n";
      return 1;
    } catch (const std::exception& e) {
      std::cerr << "acdc-meta " << name << ": error: " << e.what() << "\n";
      return 1;
    }
  }
  std::cerr << "acdc-meta: unknown command '" << name << "' (see acdc-meta --help)\n";
  return 2;
}
