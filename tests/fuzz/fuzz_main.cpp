// libFuzzer entry for one harness (FUZZ_TARGET, set by tests/CMakeLists.txt; `make fuzz`). A
// named error (std::invalid_argument / std::runtime_error) is a correct answer to a bad input;
// any other exception escapes and libFuzzer reports it as a crash, like a sanitizer finding.

#include "tests/fuzz/harnesses.h"

#include <stdexcept>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const fuzz::Target& t = fuzz::target(FUZZ_TARGET);
  try {
    t.run(data, size);
  } catch (const std::invalid_argument&) {
  } catch (const std::runtime_error&) {
  }
  return 0;
}
