#pragma once
// The one seed-mixing function of the project: splitmix64 (Steele, Lea, Flood 2014; the
// reference code of Vigna's xorshift page). Deterministic on every platform, so a stream
// derived from (seed, split, index) or (seed, epoch) is the same everywhere.

#include <cstdint>

namespace episodes {

// Advances x by the golden-ratio increment and returns its splitmix64 finaliser: a bijection
// of 64-bit values whose outputs for consecutive inputs look independent.
constexpr uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

}  // namespace episodes
