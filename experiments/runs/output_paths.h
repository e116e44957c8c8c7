#pragma once
// Where the commands write, checked before any work: an output file whose folder is missing, a
// directory given where a file is wanted (or a file where a directory is wanted), an output
// that is one of the command's inputs. Each check throws UsageError naming the flag and the
// path (exit 2). And the run-directory lock that keeps a second process out of a run
// directory that another one is writing.

#include <string>

namespace experiments {

// An output FILE (written later, usually through storage::AtomicFile): `path` must not be a
// directory and its folder must exist, be a directory and be writable.
void check_output_file(const std::string& path, const std::string& flag);

// An output DIRECTORY (created later when missing): `path` must not be an existing
// non-directory, and its nearest existing ancestor must be a writable directory.
void check_output_dir(const std::string& path, const std::string& flag);

// Refuses `out` when it names the same file as `input` (after resolving links).
void check_not_same_file(const std::string& out, const std::string& flag, const std::string& input,
                         const std::string& input_role);

// An exclusive lock on a run directory: creates `dir` when missing and takes flock(LOCK_EX) on
// DIR/.lock, held until destruction or process exit (the kernel releases it when the process
// dies, however it dies). A second process gets UsageError naming the directory and the
// holder's pid. Once locked, temporaries that killed writers left in the directory
// (NAME.tmp-PID-N whose PID is gone) are removed.
class RunDirLock {
 public:
  RunDirLock(const std::string& dir, const std::string& flag);
  RunDirLock(const RunDirLock&) = delete;
  RunDirLock& operator=(const RunDirLock&) = delete;
  ~RunDirLock();

  static constexpr const char* kFileName = ".lock";

 private:
  int fd_ = -1;
};

}  // namespace experiments
