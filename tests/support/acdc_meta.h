#pragma once
// The acdc-meta binary of this build, run as a user would. Available to tests that link
// acdcmeta::test_support when the build has the acdc-meta command (ACDC_META_BIN is then
// defined for them, and the binary is built before them).

#include "tests/support/process.h"

#include <string>

namespace support {

// The path of the acdc-meta binary under test.
const std::string& acdc_meta_path();

// `acdc-meta ARGS` (ARGS is shell text): exit code and output (stderr merged, or discarded).
RunResult run_acdc_meta(const std::string& args, bool merge_stderr = true);

// `acdc-meta ARGS` in the background, output discarded; its pid (see spawn_command).
pid_t spawn_acdc_meta(const std::string& args);

}  // namespace support
