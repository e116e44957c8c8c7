#pragma once
// Write-then-rename: a temporary path next to `final_path` (FINAL.tmp-PID-N); commit() renames
// it into place; the destructor removes the temporary if commit() was not called, so an
// interrupted or failed write never leaves a file (whole or partial) at the final path. A kill
// leaves the temporary behind: remove_stale_temporaries() cleans those up later.

#include <string>
#include <vector>

namespace storage {

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

// Removes the temporaries in `dir` (not its subfolders) that AtomicFile named FINAL.tmp-PID-N for
// a process PID that no longer exists, i.e. what a killed writer left. Temporaries of live
// processes (this one included) are kept. Returns the paths removed.
std::vector<std::string> remove_stale_temporaries(const std::string& dir);

}  // namespace storage
