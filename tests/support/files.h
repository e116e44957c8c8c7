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

// Removes `path` and everything below it (symbolic links are removed, never followed); a
// missing path is fine. Returns false when something could not be removed. Not
// std::filesystem::remove_all: the libtorch.so inside Python's torch 2.x package exports its
// own copy of that function, which the dynamic linker binds instead of libstdc++'s and which
// jumps to a null address (seen on the GPU machine with torch 2.11).
bool remove_tree(const std::string& path);

// The non-empty lines of `text`.
std::vector<std::string> lines_of(const std::string& text);

// `v` as 4 big-endian bytes (IDX headers).
std::string be32(uint32_t v);

}  // namespace support
