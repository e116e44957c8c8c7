#include "experiments/report/progress.h"

#include <fmt/format.h>

#include <unistd.h>

#include <algorithm>
#include <iostream>

namespace experiments {

std::string count_of(int64_t n, const std::string& noun) { return std::to_string(n) + " " + noun + (n == 1 ? "" : "s"); }

ProgressBar::ProgressBar(std::string label, int64_t total)
    : label_(std::move(label)), total_(std::max<int64_t>(total, 1)), tty_(isatty(STDERR_FILENO) != 0),
      start_(std::chrono::steady_clock::now()), last_draw_(start_) {}

void ProgressBar::update(int64_t done, const std::string& status) {
  const auto now = std::chrono::steady_clock::now();
  if (tty_) {
    if (now - last_draw_ < std::chrono::milliseconds(100) && done < total_) return;
  } else {
    const int decile = static_cast<int>(10 * done / total_);
    if (decile == last_decile_) return;
    last_decile_ = decile;
  }
  last_draw_ = now;
  draw(done, status, false);
}

void ProgressBar::finish(const std::string& status) { draw(total_, status, true); }

void ProgressBar::note(const std::string& line) { std::cerr << (tty_ ? "\r\033[K" : "") << line << "\n" << std::flush; }

void ProgressBar::draw(int64_t done, const std::string& status, bool final) {
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const double rate = elapsed > 0 ? done / elapsed : 0.0;
  const double eta = rate > 0 ? (total_ - done) / rate : 0.0;
  constexpr int kWidth = 24;
  const int filled = static_cast<int>(kWidth * done / total_);
  // "label [#####...........] 12/100 3.45/s ETA 25s  status" while running; the elapsed
  // seconds instead of the ETA on the final line.
  std::string line = fmt::format("{} [{}{}] {}/{} {:.{}f}/s", label_, std::string(static_cast<size_t>(filled), '#'),
                                 std::string(static_cast<size_t>(kWidth - filled), '.'), done, total_, rate,
                                 rate < 10 ? 2 : 1);
  line += final ? fmt::format(" {:.1f}s", elapsed) : fmt::format(" ETA {}s", static_cast<int64_t>(eta));
  if (!status.empty()) line += "  " + status;
  if (tty_) {
    std::cerr << "\r\033[K" << line << (final ? "\n" : "") << std::flush;
  } else {
    std::cerr << line << "\n";
  }
}

}  // namespace experiments
