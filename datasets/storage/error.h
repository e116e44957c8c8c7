#pragma once
// The one error type of the storage library.

#include <stdexcept>

namespace storage {

// A file that cannot be read, written or understood (missing, damaged, wrong layout): the message
// names the file and what is wrong. An invalid_argument, so the CLI exits 2. The datasets library
// reports its bad input with the same type (datasets::DataError is this type).
struct FileError : std::invalid_argument {
  using std::invalid_argument::invalid_argument;
};

}  // namespace storage
