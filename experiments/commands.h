#pragma once
// Entry points of the subcommands (one file each: cmd_<name>.cpp). Each receives the
// arguments after its name, returns the exit code, and throws UsageError for bad input.

#include <string>
#include <vector>

namespace experiments {

using Args = std::vector<std::string>;

int cmd_info(const Args& args);

}  // namespace experiments
