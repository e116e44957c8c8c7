#pragma once
// What an expected failure says, for tests of named errors.

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

namespace support {

// The message of the std::invalid_argument `f` throws, or a text that fails every EXPECT_HAS
// (another exception type, or none).
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const std::invalid_argument& e) {
    return e.what();
  } catch (const std::exception& e) {
    return std::string("WRONG EXCEPTION TYPE (not invalid_argument): ") + e.what();
  }
  return "NO ERROR";
}

}  // namespace support

// `haystack` contains `needle` (both as text); the message shows the haystack.
#define EXPECT_HAS(haystack, needle) EXPECT_NE(std::string(haystack).find(needle), std::string::npos) << (haystack)
