#include "experiments/report/numbers.h"

#include <fmt/format.h>

#include <cmath>
#include <cstdlib>

namespace experiments {

std::string fixed(double v, int decimals) { return fmt::format("{:.{}f}", v, decimals); }

std::string fixed_unsigned_zero(double v, int decimals) {
  if (std::abs(v) < 0.5 * std::pow(10.0, -decimals)) v = 0.0;
  return fixed(v, decimals);
}

std::string significant(double v, int digits) { return fmt::format("{:.{}g}", v, digits); }

std::string round_trip(double v) {
  std::string text;
  for (int digits = 6; digits <= 17; ++digits) {
    text = fmt::format("{:.{}g}", v, digits);
    if (std::strtod(text.c_str(), nullptr) == v) break;
  }
  return text;
}

std::string percent_of_fraction(double fraction) { return significant(100.0 * fraction, 15); }

std::string grouped(int64_t v) {
  // Through the unsigned magnitude, so the most negative value has one too.
  const uint64_t magnitude = v < 0 ? 0 - static_cast<uint64_t>(v) : static_cast<uint64_t>(v);
  const std::string digits = fmt::format("{}", magnitude);
  std::string out = v < 0 ? "-" : "";
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

}  // namespace experiments
