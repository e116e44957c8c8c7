#pragma once
// A fresh folder under the system's temporary directory for one test (or one test suite),
// removed with everything in it when the object goes.

#include <string>

namespace support {

class TempDir {
 public:
  // `prefix` starts the folder's name (mkdtemp adds six random characters); throws
  // std::runtime_error naming the template when the folder cannot be made.
  explicit TempDir(const std::string& prefix = "acdc-meta-test-");
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& str() const { return path_; }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

}  // namespace support
