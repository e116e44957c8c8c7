// The fuzz harnesses (tests/fuzz/) under plain GCC, without libFuzzer: each harness gets its
// valid seed inputs, then a seeded, bounded stream of mutations of them (bit flips, truncations,
// byte insertions, overwritten bytes, corrupted size fields), and every input must load or fail
// with a named error (std::invalid_argument / std::runtime_error). A crash fails the test by
// itself (under `make sanitize` also any memory error or undefined behaviour); a hang is caught
// by a per-input alarm. FUZZ_MUTATIONS overrides the count per harness (default 250).
//
//   test_fuzz --write-seeds TARGET DIR   writes TARGET's seeds into DIR (the corpus of `make fuzz`)
//   test_fuzz --replay TARGET FILE       runs one input (e.g. a libFuzzer crash file) through TARGET

#include "tests/fuzz/harnesses.h"

#include <gtest/gtest.h>

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <fstream>
#include <iostream>
#include <iterator>
#include <random>
#include <stdexcept>
#include <string>
#include <typeinfo>

namespace {

constexpr unsigned kSecondsPerInput = 20;  // far above any input's time; only a hang reaches it

// What is being tried now, for the alarm handler (async-signal-safe: a fixed buffer).
char g_current[256] = "";

void on_alarm(int) {
  const char msg[] = "test_fuzz: input hung (no answer within the per-input alarm): ";
  (void)!write(2, msg, sizeof msg - 1);
  (void)!write(2, g_current, strnlen(g_current, sizeof g_current));
  (void)!write(2, "\n", 1);
  _exit(3);
}

// One mutation, described in `what`.
void mutate(std::vector<uint8_t>& b, const fuzz::Seed& seed, std::mt19937_64& rng, std::string& what) {
  auto pick = [&](size_t n) { return static_cast<size_t>(rng() % (n == 0 ? 1 : n)); };
  switch (rng() % 6) {
    case 0: {  // bit flips
      const int flips = 1 + static_cast<int>(rng() % 4);
      for (int i = 0; i < flips && !b.empty(); ++i) {
        const size_t at = pick(b.size());
        b[at] ^= static_cast<uint8_t>(1u << (rng() % 8));
        what += " flip@" + std::to_string(at);
      }
      break;
    }
    case 1: {  // truncation
      const size_t keep = pick(b.size() + 1);
      b.resize(keep);
      what += " truncate@" + std::to_string(keep);
      break;
    }
    case 2: {  // insertion of 1-16 random bytes
      const size_t at = pick(b.size() + 1), n = 1 + pick(16);
      std::vector<uint8_t> ins(n);
      for (auto& x : ins) x = static_cast<uint8_t>(rng());
      b.insert(b.begin() + static_cast<std::ptrdiff_t>(at), ins.begin(), ins.end());
      what += " insert" + std::to_string(n) + "@" + std::to_string(at);
      break;
    }
    case 3: {  // random bytes overwritten
      const size_t at = pick(b.size()), n = 1 + pick(8);
      for (size_t i = at; i < at + n && i < b.size(); ++i) b[i] = static_cast<uint8_t>(rng());
      what += " overwrite" + std::to_string(n) + "@" + std::to_string(at);
      break;
    }
    default: {  // a size field: the seed's own, else any 4-byte-aligned word
      if (b.size() < 4) break;
      size_t at = seed.size_fields.empty() || rng() % 4 == 0 ? pick(b.size() / 4) * 4 : seed.size_fields[pick(seed.size_fields.size())];
      if (at + 4 > b.size()) at = b.size() - 4;
      static const uint32_t values[] = {0u, 1u, 0x7fffffffu, 0x80000000u, 0xffffffffu, 0x10000u, 4097u};
      const uint32_t v = rng() % 4 == 0 ? static_cast<uint32_t>(rng()) : values[pick(std::size(values))];
      const bool big_endian = rng() % 2 == 0;
      for (int i = 0; i < 4; ++i) b[at + static_cast<size_t>(i)] = static_cast<uint8_t>(v >> (big_endian ? 24 - 8 * i : 8 * i));
      what += " size@" + std::to_string(at) + "=" + std::to_string(v) + (big_endian ? "be" : "le");
      break;
    }
  }
}

enum class Outcome { loaded, refused };

// Runs one input; a wrong exception type fails the test, naming the input.
Outcome try_input(const fuzz::Target& t, const std::vector<uint8_t>& b, const std::string& what) {
  snprintf(g_current, sizeof g_current, "%s:%s", t.name.c_str(), what.c_str());
  alarm(kSecondsPerInput);
  Outcome out = Outcome::loaded;
  try {
    t.run(b.data(), b.size());
  } catch (const std::invalid_argument&) {
    out = Outcome::refused;
  } catch (const std::runtime_error&) {
    out = Outcome::refused;
  } catch (const std::exception& e) {
    ADD_FAILURE() << t.name << " input [" << what << "] threw " << typeid(e).name() << ", not a named error: " << e.what();
    out = Outcome::refused;
  } catch (...) {
    ADD_FAILURE() << t.name << " input [" << what << "] threw a non-standard exception";
    out = Outcome::refused;
  }
  alarm(0);
  return out;
}

int mutations_per_target() {
  const char* env = std::getenv("FUZZ_MUTATIONS");
  return env ? std::max(0, std::atoi(env)) : 250;
}

class Fuzz : public ::testing::TestWithParam<std::string> {};

TEST_P(Fuzz, MutatedInputsLoadOrFailWithANamedError) {
  signal(SIGALRM, on_alarm);
  const auto& t = fuzz::target(GetParam());
  const auto seeds = t.seeds();
  ASSERT_FALSE(seeds.empty());
  for (const auto& s : seeds) {
    EXPECT_EQ(try_input(t, s.bytes, "seed " + s.name), Outcome::loaded) << t.name << " seed " << s.name << " must load";
  }
  // The stream depends only on the target's name: a failure reproduces with the same build.
  std::mt19937_64 rng(std::hash<std::string>{}(t.name) ^ 0x5eedULL);
  int loaded = 0, refused = 0;
  const auto start = std::chrono::steady_clock::now();
  const int n = mutations_per_target();
  for (int i = 0; i < n; ++i) {
    const auto& seed = seeds[rng() % seeds.size()];
    auto bytes = seed.bytes;
    std::string what = "#" + std::to_string(i) + " of " + seed.name + ":";
    const int steps = 1 + static_cast<int>(rng() % 3);
    for (int k = 0; k < steps; ++k) mutate(bytes, seed, rng, what);
    (try_input(t, bytes, what) == Outcome::loaded ? loaded : refused)++;
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::cout << t.name << ": " << n << " mutated inputs, " << loaded << " loaded, " << refused << " refused with a named error, "
            << secs << " s\n";
  EXPECT_GT(refused, 0) << "the mutations never reached a check";
}

// The miniImageNet CSV and image-folder readers decode PNGs, which needs OpenCV: a build
// without it (the CUDA build, README "CUDA") refuses every such input, seeds included.
#ifdef ACDC_META_HAVE_OPENCV
INSTANTIATE_TEST_SUITE_P(Harnesses, Fuzz, ::testing::Values("idx", "cifar", "csv", "folder", "h5cache", "checkpoint"),
                         [](const auto& info) { return info.param; });
#else
INSTANTIATE_TEST_SUITE_P(Harnesses, Fuzz, ::testing::Values("idx", "cifar", "h5cache", "checkpoint"),
                         [](const auto& info) { return info.param; });
#endif

}  // namespace

int main(int argc, char** argv) {
  if (argc == 4 && std::string(argv[1]) == "--write-seeds") {
    try {
      for (const auto& s : fuzz::target(argv[2]).seeds()) {
        std::ofstream(std::string(argv[3]) + "/" + s.name, std::ios::binary)
            .write(reinterpret_cast<const char*>(s.bytes.data()), static_cast<std::streamsize>(s.bytes.size()));
      }
      return 0;
    } catch (const std::exception& e) {
      std::cerr << "test_fuzz: " << e.what() << "\n";
      return 2;
    }
  }
  if (argc == 4 && std::string(argv[1]) == "--replay") {
    std::ifstream in(argv[3], std::ios::binary);
    const std::vector<uint8_t> bytes{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    try {
      fuzz::target(argv[2]).run(bytes.data(), bytes.size());
      std::cout << "loaded\n";
    } catch (const std::invalid_argument& e) {
      std::cout << "refused (invalid_argument): " << e.what() << "\n";
    } catch (const std::runtime_error& e) {
      std::cout << "refused (runtime_error): " << e.what() << "\n";
    }
    return 0;
  }
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
