#pragma once
// A one-line progress bar on stderr for the long loops of the commands (training, evaluation,
// data conversion, benchmarks).

#include <chrono>
#include <cstdint>
#include <string>

namespace experiments {

// "1 iteration", "600 iterations": a count with its noun (regular plural with -s).
std::string count_of(int64_t n, const std::string& noun);

// Redrawn in place at most ~10 times a second when stderr is a terminal; a plain line per 10%
// otherwise (logs, pipes). `status` is extra text such as "loss 1.23 acc 45%".
class ProgressBar {
 public:
  ProgressBar(std::string label, int64_t total);
  void update(int64_t done, const std::string& status = "");
  void finish(const std::string& status = "");
  // A line of its own on stderr, above the bar (which the next update redraws on a terminal).
  void note(const std::string& line);

 private:
  std::string label_;
  int64_t total_;
  bool tty_;
  int last_decile_ = -1;
  std::chrono::steady_clock::time_point start_, last_draw_;
  void draw(int64_t done, const std::string& status, bool final);
};

}  // namespace experiments
