#include "tests/support/acdc_meta.h"

namespace support {

const std::string& acdc_meta_path() {
  static const std::string path = ACDC_META_BIN;
  return path;
}

RunResult run_acdc_meta(const std::string& args, bool merge_stderr) {
  return run_command(acdc_meta_path() + " " + args, merge_stderr);
}

pid_t spawn_acdc_meta(const std::string& args) { return spawn_command(acdc_meta_path() + " " + args); }

}  // namespace support
