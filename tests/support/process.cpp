#include "tests/support/process.h"

#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>

namespace support {

RunResult run_command(const std::string& command, bool merge_stderr) {
  const std::string cmd = command + (merge_stderr ? " 2>&1" : " 2>/dev/null");
  FILE* pipe = popen(cmd.c_str(), "r");
  std::string out;
  std::array<char, 4096> buf{};
  while (pipe && fgets(buf.data(), static_cast<int>(buf.size()), pipe)) out += buf.data();
  const int status = pipe ? pclose(pipe) : -1;
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

pid_t spawn_command(const std::string& command) {
  const std::string cmd = "exec " + command + " >/dev/null 2>&1";
  const pid_t pid = fork();
  if (pid == 0) {
    execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  return pid;
}

}  // namespace support
