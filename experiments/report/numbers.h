#pragma once
// Numbers as text for tables, logs and CSV files, all through fmt; one place so every command
// prints the same figure the same way.

#include <cstdint>
#include <string>

namespace experiments {

// `v` with exactly `decimals` digits after the point: fixed(3.14159, 2) == "3.14" (printf "%.*f").
std::string fixed(double v, int decimals);

// As fixed(), but a value that rounds to zero prints without a sign: "0.000", never "-0.000".
std::string fixed_unsigned_zero(double v, int decimals);

// `v` with at most `digits` significant digits, trailing zeros dropped (printf "%.*g", the
// ostream default): significant(0.012345, 3) == "0.0123", significant(1e-5, 3) == "1e-05".
std::string significant(double v, int digits);

// The shortest "%.*g" text (6 to 17 significant digits) that reads back as exactly `v`:
// 0.1 -> "0.1", 1.0 -> "1", 1e6 -> "1e+06", 1.0/3 -> "0.3333333333333333". For CSV files
// and messages that must round-trip; the same text as experiments::format_double.
std::string round_trip(double v);

// 100 * fraction as the shortest text at 15 significant digits, so that the rounding of the
// multiplication does not show: 0.57 -> "57" (not "56.99999999999999"), 1.0 / 3 -> "33.3333333333333".
std::string percent_of_fraction(double fraction);

// Thousands grouped with commas: 1234567 -> "1,234,567", -1000 -> "-1,000".
std::string grouped(int64_t v);

}  // namespace experiments
