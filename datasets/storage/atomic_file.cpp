#include "datasets/storage/atomic_file.h"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <stdexcept>

namespace storage {

namespace {
std::atomic<int> counter{0};

constexpr const char* kTempMarker = ".tmp-";

// The PID of a name FINAL.tmp-PID-N, or -1 when the name is not one of ours.
long temp_owner(const std::string& name) {
  const auto at = name.rfind(kTempMarker);
  if (at == std::string::npos || at == 0) return -1;
  const std::string tail = name.substr(at + std::strlen(kTempMarker));
  const auto dash = tail.find('-');
  if (dash == std::string::npos || dash == 0 || dash + 1 == tail.size()) return -1;
  auto digits = [](const std::string& s) { return s.find_first_not_of("0123456789") == std::string::npos; };
  const std::string pid = tail.substr(0, dash), n = tail.substr(dash + 1);
  if (!digits(pid) || !digits(n) || pid.size() > 9) return -1;
  return std::stol(pid);
}

bool process_alive(long pid) {
  if (pid <= 0) return true;  // never guess about pid 0 / process groups
  if (pid == static_cast<long>(::getpid())) return true;
  return ::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM;
}

}  // namespace

AtomicFile::AtomicFile(std::string final_path) : final_(std::move(final_path)) {
  if (final_.empty()) throw std::invalid_argument("AtomicFile: empty output path");
  // Same folder as the final file, so the rename is atomic (same filesystem).
  temp_ = final_ + ".tmp-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
}

AtomicFile::~AtomicFile() {
  if (!committed_) std::remove(temp_.c_str());
}

void AtomicFile::commit() {
  if (committed_) return;
  if (std::rename(temp_.c_str(), final_.c_str()) != 0) {
    const std::string why = std::strerror(errno);
    throw std::runtime_error("cannot rename '" + temp_ + "' to '" + final_ + "': " + why);
  }
  committed_ = true;
}

std::vector<std::string> remove_stale_temporaries(const std::string& dir) {
  namespace fs = std::filesystem;
  std::vector<std::string> removed;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    std::error_code type_ec;
    if (!it->is_regular_file(type_ec)) continue;
    const long pid = temp_owner(it->path().filename().string());
    if (pid < 0 || process_alive(pid)) continue;
    std::error_code rm_ec;
    if (fs::remove(it->path(), rm_ec)) removed.push_back(it->path().string());
  }
  return removed;
}

}  // namespace storage
