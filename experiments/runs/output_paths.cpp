#include "experiments/runs/output_paths.h"

#include "datasets/storage/atomic_file.h"
#include "experiments/commands/cli.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <system_error>

namespace experiments {

namespace fs = std::filesystem;

namespace {

// The folder a relative file name lives in ("" for "w.pt" means the current directory).
fs::path folder_of(const fs::path& path) {
  const auto parent = path.parent_path();
  return parent.empty() ? fs::path(".") : parent;
}

bool writable(const fs::path& dir) { return ::access(dir.c_str(), W_OK) == 0; }

}  // namespace

void check_output_file(const std::string& path, const std::string& flag) {
  if (path.empty()) throw UsageError(flag + ": empty file name");
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    throw UsageError(flag + " " + path + " is a directory; give a file name (e.g. " + (fs::path(path) / "out").string() + ")");
  }
  const auto folder = folder_of(path);
  if (!fs::exists(folder, ec)) throw UsageError(flag + " " + path + ": folder '" + folder.string() + "' does not exist");
  if (!fs::is_directory(folder, ec)) throw UsageError(flag + " " + path + ": '" + folder.string() + "' is not a directory");
  if (!writable(folder)) throw UsageError(flag + " " + path + ": folder '" + folder.string() + "' is not writable");
}

void check_output_dir(const std::string& path, const std::string& flag) {
  if (path.empty()) throw UsageError(flag + ": empty directory name");
  std::error_code ec;
  if (fs::exists(path, ec) && !fs::is_directory(path, ec)) {
    throw UsageError(flag + " " + path + " exists and is not a directory");
  }
  // The nearest existing ancestor is where create_directories starts.
  fs::path p = fs::absolute(path, ec);
  while (!p.empty() && !fs::exists(p, ec) && p != p.parent_path()) p = p.parent_path();
  if (!fs::is_directory(p, ec)) throw UsageError(flag + " " + path + ": '" + p.string() + "' is not a directory");
  if (!writable(p)) throw UsageError(flag + " " + path + ": '" + p.string() + "' is not writable");
}

void check_not_same_file(const std::string& out, const std::string& flag, const std::string& input,
                         const std::string& input_role) {
  std::error_code ec;
  if (fs::exists(out, ec) && fs::exists(input, ec) && fs::equivalent(out, input, ec)) {
    throw UsageError(flag + " " + out + " is the " + input_role + " (" + input + "); choose another output");
  }
}

RunDirLock::RunDirLock(const std::string& dir, const std::string& flag) {
  check_output_dir(dir, flag);
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw UsageError(flag + " " + dir + ": cannot create the directory: " + ec.message());
  const std::string path = (fs::path(dir) / kFileName).string();
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0) throw UsageError(flag + " " + dir + ": cannot open the lock file '" + path + "': " + std::strerror(errno));
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    const int why = errno;
    ::close(fd_);
    fd_ = -1;
    std::string holder;
    std::ifstream in(path);
    std::getline(in, holder);
    if (why == EWOULDBLOCK) {
      throw UsageError(flag + " " + dir + ": the run directory is in use by another acdc-meta process" +
                       (holder.empty() ? std::string() : " (pid " + holder + ")") + " holding " + path +
                       "; wait for it to finish or choose another " + flag);
    }
    throw UsageError(flag + " " + dir + ": cannot lock '" + path + "': " + std::strerror(why));
  }
  // Record the holder for the message above; the lock, not this text, is what excludes.
  const std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd_, 0) == 0) {
    [[maybe_unused]] const auto written = ::pwrite(fd_, pid.data(), pid.size(), 0);
  }
  for (const auto& removed : storage::remove_stale_temporaries(dir)) {
    std::cerr << "removed " << removed << " (a temporary left by a process that no longer runs)\n";
  }
}

RunDirLock::~RunDirLock() {
  if (fd_ >= 0) ::close(fd_);  // closing the last descriptor releases the flock
}

}  // namespace experiments
