#pragma once
// Write-then-rename: a temporary path next to `final_path`; commit() renames it into place; the
// destructor removes the temporary if commit() was not called, so an interrupted or failed
// write never leaves a file (whole or partial) at the final path.

#include <string>

namespace datasets {

class AtomicFile {
 public:
  explicit AtomicFile(std::string final_path);
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;
  ~AtomicFile();

  const std::string& temp_path() const { return temp_; }
  const std::string& final_path() const { return final_; }
  // Renames the temporary onto the final path; throws std::runtime_error naming both paths.
  void commit();

 private:
  std::string final_, temp_;
  bool committed_ = false;
};

}  // namespace datasets
