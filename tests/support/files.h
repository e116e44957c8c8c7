#pragma once
// Small file helpers for fixtures and for checking what a command wrote.

#include <cstdint>
#include <string>
#include <vector>

namespace support {

// The whole file as bytes; empty when it cannot be read (the caller's assertion names the file).
std::string read_file(const std::string& path);

// Writes `bytes` to `path`, creating missing parent folders; throws std::runtime_error naming
// the path when it cannot.
void write_file(const std::string& path, const std::string& bytes);

// The non-empty lines of `text`.
std::vector<std::string> lines_of(const std::string& text);

// `v` as 4 big-endian bytes (IDX headers).
std::string be32(uint32_t v);

}  // namespace support
