#pragma once
// How a thin command prints its result: one JSON object (--json) or the text, each through the
// result's own to_json / to_text (found by argument-dependent lookup beside the result type).

#include "datasets/storage/json.h"

#include <iostream>

namespace experiments {

template <class Result>
void print_result(const Result& result, bool json) {
  if (json) {
    std::cout << storage::dump_json(to_json(result)) << "\n";
  } else {
    std::cout << to_text(result);
  }
}

}  // namespace experiments
