#include "tests/support/temp_dir.h"

#include <unistd.h>

#include <filesystem>
#include <stdexcept>
#include <system_error>

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
  std::error_code ec;  // never throw from a destructor; a leftover folder in /tmp is harmless
  fs::remove_all(path_, ec);
}

}  // namespace support
