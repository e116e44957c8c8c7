#include "datasets/atomic_file.h"

#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <stdexcept>

namespace datasets {

namespace {
std::atomic<int> counter{0};
}

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

}  // namespace datasets
