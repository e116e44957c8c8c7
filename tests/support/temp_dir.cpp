#include "tests/support/temp_dir.h"

#include "tests/support/files.h"

#include <unistd.h>

#include <filesystem>
#include <stdexcept>

namespace support {

namespace fs = std::filesystem;

TempDir::TempDir(const std::string& prefix) {
  std::string tmpl = (fs::temp_directory_path() / (prefix + "XXXXXX")).string();
  if (mkdtemp(tmpl.data()) == nullptr) {
    throw std::runtime_error("cannot create a temporary directory from template '" + tmpl + "'");
  }
  path_ = tmpl;
}

TempDir::~TempDir() {
  remove_tree(path_);  // never throws; a leftover folder in /tmp is harmless
}

}  // namespace support
