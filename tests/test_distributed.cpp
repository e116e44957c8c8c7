// Data-parallel meta-training over c10d (distributed/group.h): 2 ranks of the real binary on
// 127.0.0.1 with Gloo against one process with the same global meta-batch, a rank killed or
// hung mid-run, and the settings a group cannot start with (exit 2, named). The fixture data set
// is the tiny IDX one of test_experiments (16x16, 10 classes).

#include "distributed/group.h"
#include "experiments/runs/checkpoint.h"
#include "tests/support/acdc_meta.h"
#include "tests/support/files.h"
#include "tests/support/images.h"
#include "tests/support/temp_dir.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <iterator>
#include <filesystem>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {

namespace fs = std::filesystem;
using support::read_file;
using support::run_acdc_meta;

// A socket bound to a port of 127.0.0.1 the kernel picked (listening when asked): closed, its
// port is free for a moment; open and listening, the port is in use.
class Port {
 public:
  explicit Port(bool listen_on) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) throw std::runtime_error("bind failed");
    socklen_t n = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &n);
    port_ = ntohs(a.sin_port);
    if (listen_on) ::listen(fd_, 1);
  }
  ~Port() { close(); }
  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  int port() const { return port_; }

 private:
  int fd_ = -1, port_ = 0;
};

int free_port() { return Port(/*listen_on=*/false).port(); }

class Distributed : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    tmp_ = std::make_unique<support::TempDir>("acdc_meta_distributed_");
    root_ = tmp_->str();
    for (auto [prefix, seed] : {std::pair<const char*, uint64_t>{"train", 1}, {"t10k", 2}}) {
      const auto labels = torch::arange(10, torch::kLong).repeat({12});
      support::write_idx(root_ + "/data", prefix, support::class_images(labels, 16, 1, seed).squeeze(-1), labels);
    }
  }
  static void TearDownTestSuite() { tmp_.reset(); }

  static std::string dir(const std::string& name) { return root_ + "/" + name; }
  // A tiny second-order run, no atom-drop (its masks come from each rank's own generator).
  static std::string train_args(const std::string& out, int64_t meta_batch, int64_t iterations = 3) {
    return "train --dataset mnist:" + root_ + "/data" +
           " --backbone conv4 --conv acdc-net --width 8 --atoms 4 --ways 3 --shots 1 --queries 2 --meta-batch " +
           std::to_string(meta_batch) + " --inner-steps 1 --inner-steps-test 2 --inner-lr 0.1 --learn-inner-lr" +
           " --iterations " + std::to_string(iterations) + " --val-every 3 --val-episodes 5 --threads 1 --seed 5 --out " +
           out;
  }
  static std::string rank_flags(int rank, int port, double timeout = 60) {
    std::ostringstream s;
    s << " --rank " << rank << " --world-size 2 --master 127.0.0.1:" << port << " --collective-timeout " << timeout;
    return s.str();
  }
  // Both ranks of `args` at once (rank 1 in the background); their exit codes and outputs.
  struct TwoRanks {
    int code[2];
    std::string output[2];
  };
  static TwoRanks run_two(const std::string& args, const std::string& logs) {
    const int port = free_port();
    const auto& bin = support::acdc_meta_path();
    const std::string cmd = "(" + bin + " " + args + rank_flags(1, port) + " > " + logs + ".1 2>&1; echo $? > " + logs +
                            ".1.code) & " + bin + " " + args + rank_flags(0, port) + " > " + logs + ".0 2>&1; echo $? > " +
                            logs + ".0.code; wait";
    support::run_command(cmd);
    TwoRanks r;
    for (int k = 0; k < 2; ++k) {
      const auto suffix = "." + std::to_string(k);
      r.code[k] = std::stoi(read_file(logs + suffix + ".code"));
      r.output[k] = read_file(logs + suffix);
    }
    return r;
  }
  // metrics.csv without the wall-clock column.
  static std::string metrics_without_seconds(const std::string& run) {
    std::stringstream in(read_file(run + "/metrics.csv")), out;
    std::string line;
    while (std::getline(in, line)) {
      std::stringstream l(line);
      std::string c;
      for (int col = 0; std::getline(l, c, ','); ++col) out << (col == 5 ? "" : c) << ",";
      out << "\n";
    }
    return out.str();
  }

  static std::unique_ptr<support::TempDir> tmp_;
  static std::string root_;
};
std::unique_ptr<support::TempDir> Distributed::tmp_;
std::string Distributed::root_;

TEST(Share, ContiguousRangesInRankOrder) {
  using Range = std::pair<int64_t, int64_t>;
  EXPECT_EQ(distributed::share(5, 0, 2), Range(0, 2));
  EXPECT_EQ(distributed::share(5, 1, 2), Range(2, 5));
  EXPECT_EQ(distributed::share(600, 2, 3), Range(400, 600));
  EXPECT_EQ(distributed::share(1, 0, 2), Range(0, 0));
}

TEST(GroupSettings, MasterAndEnvironmentAreChecked) {
  distributed::GroupSettings s;
  distributed::parse_master("10.0.0.1:1234", s);
  EXPECT_EQ(s.master_addr, "10.0.0.1");
  EXPECT_EQ(s.master_port, 1234);
  distributed::parse_master("[::1]:80", s);
  EXPECT_EQ(s.master_addr, "::1");
  EXPECT_THROW(distributed::parse_master("10.0.0.1", s), distributed::SetupError);
  EXPECT_THROW(distributed::parse_master("host:70000", s), distributed::SetupError);
  EXPECT_EQ(distributed::resolve_backend(s, torch::kCPU), "gloo");
  s.backend = "nccl";
  EXPECT_THROW(distributed::resolve_backend(s, torch::kCPU), distributed::SetupError);
  s.backend = "mpi";
  EXPECT_THROW(distributed::resolve_backend(s, torch::kCPU), distributed::SetupError);
}

// Global meta-batch 2 on 2 ranks: each rank's gradient is its one task's, their mean
// (g0 + g1) / 2 is bit for bit the single process's g0/2 + g1/2 (halving is exact in floating
// point and the sum of two commutes), so the runs agree exactly: parameters, optimizer state,
// metrics.csv (losses, the gathered validation accuracies).
TEST_F(Distributed, TwoRanksEqualOneProcessBitForBit) {
  const auto one = dir("one_mb2"), two = dir("two_mb2");
  auto r = run_acdc_meta(train_args(one, 2));
  ASSERT_EQ(r.code, 0) << r.output;
  const auto ranks = run_two(train_args(two, 2), dir("two_mb2_log"));
  ASSERT_EQ(ranks.code[0], 0) << ranks.output[0];
  ASSERT_EQ(ranks.code[1], 0) << ranks.output[1];
  EXPECT_NE(ranks.output[0].find("meta parameters identical on all 2 ranks after iteration 3"), std::string::npos)
      << ranks.output[0];
  EXPECT_NE(ranks.output[0].find("2 ranks x 1 task (gloo)"), std::string::npos) << ranks.output[0];
  // Rank 1 writes nothing and draws no progress bar.
  EXPECT_EQ(ranks.output[1].find("train:"), std::string::npos) << ranks.output[1];
  EXPECT_EQ(ranks.output[1].find("trained"), std::string::npos) << ranks.output[1];

  const auto wa = experiments::read_checkpoint_weights(one + "/last.h5");
  const auto wb = experiments::read_checkpoint_weights(two + "/last.h5");
  ASSERT_EQ(wa.size(), wb.size());
  for (const auto& [name, t] : wa) {
    ASSERT_TRUE(wb.count(name)) << name;
    EXPECT_TRUE(torch::equal(t, wb.at(name))) << name << " differs between 1 process and 2 ranks";
  }
  EXPECT_EQ(metrics_without_seconds(one), metrics_without_seconds(two));
  EXPECT_EQ(read_file(one + "/config.ini"), read_file(two + "/config.ini"));
}

// A group of one (--backend named, world size 1: the way one GPU runs the NCCL path) goes through
// every collective and ends bit for bit where the plain run ends (a mean over one rank is exact).
TEST_F(Distributed, GroupOfOneEqualsPlainRun) {
  const auto plain = dir("plain_one"), group = dir("group_one");
  auto r = run_acdc_meta(train_args(plain, 2));
  ASSERT_EQ(r.code, 0) << r.output;
  r = run_acdc_meta(train_args(group, 2) + " --backend gloo --master 127.0.0.1:" + std::to_string(free_port()));
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("1 rank x 2 tasks (gloo)"), std::string::npos) << r.output;
  const auto wa = experiments::read_checkpoint_weights(plain + "/last.h5");
  const auto wb = experiments::read_checkpoint_weights(group + "/last.h5");
  for (const auto& [name, t] : wa) EXPECT_TRUE(torch::equal(t, wb.at(name))) << name;
  EXPECT_EQ(metrics_without_seconds(plain), metrics_without_seconds(group));
}

// Global meta-batch 4 as 2 ranks x 2 tasks: the same tasks, summed in another order
// ((g0+g1)/2 + (g2+g3)/2)/2 against ((g0+g1)+g2)+g3 over 4), so float32 rounding differs in the
// last bits of the meta-gradient; after 3 Adam steps of lr 1e-3 the parameters agree to 1e-5
// (a step moves a parameter by at most about lr; the largest difference seen here is 6e-8).
TEST_F(Distributed, TwoRanksOfTwoTasksEqualOneProcessOfFour) {
  const auto one = dir("one_mb4"), two = dir("two_mb4");
  auto r = run_acdc_meta(train_args(one, 4));
  ASSERT_EQ(r.code, 0) << r.output;
  const auto ranks = run_two(train_args(two, 4), dir("two_mb4_log"));
  ASSERT_EQ(ranks.code[0], 0) << ranks.output[0];
  ASSERT_EQ(ranks.code[1], 0) << ranks.output[1];
  EXPECT_NE(ranks.output[0].find("meta parameters identical on all 2 ranks"), std::string::npos) << ranks.output[0];
  const auto wa = experiments::read_checkpoint_weights(one + "/last.h5");
  const auto wb = experiments::read_checkpoint_weights(two + "/last.h5");
  ASSERT_EQ(wa.size(), wb.size());
  double worst = 0;
  for (const auto& [name, t] : wa) {
    ASSERT_TRUE(wb.count(name)) << name;
    const double d = (t.to(torch::kDouble) - wb.at(name).to(torch::kDouble)).abs().max().item<double>();
    worst = std::max(worst, d);
    EXPECT_LE(d, 1e-5) << name;
  }
  std::cout << "largest parameter difference, 1 x 4 tasks vs 2 x 2 tasks: " << worst << "\n";
}

// Resume with another world size: 2 ranks stopped after 3 of 9 iterations, resumed as one
// process for 3 more, then on 2 ranks to the end, end where one uninterrupted process ends
// (meta-batch 2: bit for bit, as above).
TEST_F(Distributed, ResumeAcrossWorldSizes) {
  const auto one = dir("one_resume"), two = dir("two_resume");
  auto r = run_acdc_meta(train_args(one, 2, 9));
  ASSERT_EQ(r.code, 0) << r.output;
  auto ranks = run_two(train_args(two, 2, 9) + " --stop-after 3", dir("two_resume_log_a"));
  ASSERT_EQ(ranks.code[0], 0) << ranks.output[0];
  ASSERT_EQ(ranks.code[1], 0) << ranks.output[1];
  EXPECT_EQ(experiments::read_checkpoint_info(two + "/last.h5").iteration, 3);
  r = run_acdc_meta("train --resume --threads 1 --stop-after 3 --out " + two);
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_EQ(experiments::read_checkpoint_info(two + "/last.h5").iteration, 6);
  ranks = run_two("train --resume --threads 1 --out " + two, dir("two_resume_log_b"));
  ASSERT_EQ(ranks.code[0], 0) << ranks.output[0];
  ASSERT_EQ(ranks.code[1], 0) << ranks.output[1];
  const auto wa = experiments::read_checkpoint_weights(one + "/last.h5");
  const auto wb = experiments::read_checkpoint_weights(two + "/last.h5");
  for (const auto& [name, t] : wa) EXPECT_TRUE(torch::equal(t, wb.at(name))) << name;
  EXPECT_EQ(metrics_without_seconds(one), metrics_without_seconds(two));
}

// A rank killed (SIGKILL) or hung (SIGSTOP) mid-run: the survivor stops with an error naming it
// within the collective timeout, exits non-zero, and the last checkpoint stays loadable.
void expect_survivor_names_the_lost_rank(const std::string& run, const std::string& args, int signal_number,
                                         double timeout) {
  const int port = free_port();
  support::remove_tree(run);
  const pid_t rank1 = support::spawn_acdc_meta(args + " --rank 1 --world-size 2 --master 127.0.0.1:" +
                                               std::to_string(port) + " --collective-timeout " + std::to_string(timeout));
  std::thread stopper([&] {
    // After the first checkpoint past the start (metrics.csv has the header and 2 rows).
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
    while (std::chrono::steady_clock::now() < deadline) {
      std::ifstream in(run + "/metrics.csv");
      std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      if (std::count(all.begin(), all.end(), '\n') >= 3) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    ::kill(rank1, signal_number);
  });
  const auto t0 = std::chrono::steady_clock::now();
  const auto r = run_acdc_meta(args + " --rank 0 --world-size 2 --master 127.0.0.1:" + std::to_string(port) +
                               " --collective-timeout " + std::to_string(timeout));
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  stopper.join();
  if (signal_number != SIGKILL) ::kill(rank1, SIGKILL);
  int status = 0;
  waitpid(rank1, &status, 0);

  EXPECT_NE(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("rank 0 of 2:"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("rank 1 stopped or did not answer within the collective timeout"), std::string::npos)
      << r.output;
  EXPECT_LT(seconds, 60 + timeout) << "the survivor took " << seconds << " s";
  const auto info = experiments::read_checkpoint_info(run + "/last.h5");
  EXPECT_GE(info.iteration, 1);
  EXPECT_FALSE(experiments::read_checkpoint_weights(run + "/last.h5").empty());
}

TEST_F(Distributed, KilledRankIsNamedBySurvivor) {
  const auto run = dir("killed");
  auto args = train_args(run, 2, 100000);
  args.replace(args.find("--val-every 3"), 13, "--val-every 1");
  expect_survivor_names_the_lost_rank(run, args, SIGKILL, 20);
}

TEST_F(Distributed, HungRankTimesOut) {
  const auto run = dir("hung");
  auto args = train_args(run, 2, 100000);
  args.replace(args.find("--val-every 3"), 13, "--val-every 1");
  expect_survivor_names_the_lost_rank(run, args, SIGSTOP, 3);
}

// `launch --nproc 2 -- eval`: each rank meta-tests its share of the episodes; the gathered
// summary is exactly one process's (the same episodes, the same model), printed once by rank 0
// with the "[rank 0] " prefix.
TEST_F(Distributed, LaunchedEvalEqualsOneProcess) {
  const auto run = dir("eval_run");
  auto r = run_acdc_meta(train_args(run, 2, 1));
  ASSERT_EQ(r.code, 0) << r.output;
  const std::string eval = "eval --run " + run + " --checkpoint last --episodes 7 --shots 1,2 --queries 4 --threads 1 --json";
  const auto one = run_acdc_meta(eval, /*merge_stderr=*/false);
  ASSERT_EQ(one.code, 0) << run_acdc_meta(eval).output;
  const auto two = run_acdc_meta("launch --nproc 2 -- " + eval, /*merge_stderr=*/false);
  ASSERT_EQ(two.code, 0) << run_acdc_meta("launch --nproc 2 -- " + eval).output;
  std::string expected;
  for (const auto& line : support::lines_of(one.output)) expected += "[rank 0] " + line + "\n";
  EXPECT_EQ(two.output, expected);
}

// launch stops every rank when one fails and exits with its code (2: a global meta-batch the
// world size does not divide, refused by each rank).
TEST_F(Distributed, LaunchExitsWithTheFailingRanksCode) {
  const auto r = run_acdc_meta("launch --nproc 2 -- " + train_args(dir("launch_bad"), 3));
  EXPECT_EQ(r.code, 2) << r.output;
  // The first rank to fail is named; launch may stop the other before it says why.
  EXPECT_NE(r.output.find("] acdc-meta train: error: --meta-batch 3 (the global meta-batch) is not divisible"),
            std::string::npos) << r.output;
  EXPECT_NE(r.output.find("exited with code 2"), std::string::npos) << r.output;
  EXPECT_EQ(run_acdc_meta("launch --nproc 0 -- train").code, 2);
  EXPECT_EQ(run_acdc_meta("launch --nproc 2").code, 2);
}

TEST_F(Distributed, BadGroupSettingsExit2Named) {
  // A global meta-batch the world size does not divide.
  auto r = run_acdc_meta(train_args(dir("bad_mb"), 3) + rank_flags(0, free_port()));
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.output.find("--meta-batch 3 (the global meta-batch) is not divisible by the world size 2"),
            std::string::npos) << r.output;
  // NCCL on the CPU.
  r = run_acdc_meta(train_args(dir("bad_nccl"), 2) + rank_flags(0, free_port()) + " --backend nccl");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.output.find("nccl needs a CUDA device"), std::string::npos) << r.output;
  // A port another program listens on.
  {
    Port taken(/*listen_on=*/true);
    r = run_acdc_meta(train_args(dir("bad_port"), 2) + rank_flags(0, taken.port(), 5));
    EXPECT_EQ(r.code, 2);
    EXPECT_NE(r.output.find("port in use"), std::string::npos) << r.output;
  }
  // A master nobody answers at (rank 1 alone): the timeout bounds the wait.
  const auto t0 = std::chrono::steady_clock::now();
  r = run_acdc_meta(train_args(dir("bad_master"), 2) + rank_flags(1, free_port(), 2));
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.output.find("no master answered at 127.0.0.1:"), std::string::npos) << r.output;
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 60);
  // Flags and variables.
  r = run_acdc_meta(train_args(dir("bad_rank"), 2) + " --rank 2 --world-size 2");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.output.find("--rank must be in [0, 1]"), std::string::npos) << r.output;
  r = run_acdc_meta(train_args(dir("bad_master_flag"), 2) + " --master nowhere");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.output.find("--master must be ADDR:PORT"), std::string::npos) << r.output;
  const auto e = support::run_command("WORLD_SIZE=two " + support::acdc_meta_path() + " " + train_args(dir("bad_env"), 2));
  EXPECT_EQ(e.code, 2);
  EXPECT_NE(e.output.find("WORLD_SIZE must be an integer"), std::string::npos) << e.output;
}

}  // namespace
