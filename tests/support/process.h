#pragma once
// Runs a shell command line and collects its exit code and output; starts one in the background.
// For tests that drive the real acdc-meta binary (see acdc_meta.h).

#include <sys/types.h>

#include <string>

namespace support {

struct RunResult {
  int code;            // the exit status, -1 when the command did not exit normally
  std::string output;  // stdout, with stderr unless it was discarded
};

// Runs `command` through /bin/sh; stderr is merged into the output, or discarded.
RunResult run_command(const std::string& command, bool merge_stderr = true);

// Starts `command` through /bin/sh with `exec` (so the pid is the command's own and a signal
// reaches it), output discarded; returns its pid for kill / waitpid.
pid_t spawn_command(const std::string& command);

}  // namespace support
