// `acdc-meta launch --nproc N -- COMMAND ...`: N local ranks of one group, as torchrun starts
// them: each a child `acdc-meta COMMAND ...` with RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and
// MASTER_PORT set; their output forwarded line by line with a "[rank k] " prefix; when one fails,
// the others are stopped (SIGTERM, then SIGKILL) and launch exits with the failing rank's code.

#include "experiments/commands/cli.h"
#include "experiments/commands/commands.h"
#include "distributed/group.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <thread>
#include <vector>

namespace experiments {

namespace {

const char* const kUsage =
    "--nproc N [--master ADDR:PORT] [--nnodes M --node-rank K] -- train ...\n"
    "  starts N ranks of COMMAND on this machine (ranks K*N .. K*N+N-1 of M*N); without --master,\n"
    "  rank 0's store listens on a free port of 127.0.0.1 (one node)";

volatile sig_atomic_t g_signal = 0;
void on_signal(int sig) { g_signal = sig; }

// A port of 127.0.0.1 that was free a moment ago.
int pick_free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t n = sizeof a;
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &n) != 0) {
    if (fd >= 0) ::close(fd);
    throw std::runtime_error(std::string("launch: cannot pick a free port: ") + std::strerror(errno));
  }
  ::close(fd);
  return ntohs(a.sin_port);
}

std::string self_path() {
  char buf[4096];
  const ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) throw std::runtime_error("launch: cannot find the acdc-meta binary (/proc/self/exe)");
  return std::string(buf, static_cast<size_t>(n));
}

struct Stream {
  int fd = -1;
  int rank = 0;
  bool err = false;  // forwarded to stderr
  std::string pending;
};

void forward(Stream& s, const char* data, size_t n, bool flush_all) {
  s.pending.append(data, n);
  size_t start = 0;
  for (size_t nl; (nl = s.pending.find('\n', start)) != std::string::npos; start = nl + 1) {
    (s.err ? std::cerr : std::cout) << "[rank " << s.rank << "] " << s.pending.substr(start, nl + 1 - start);
  }
  s.pending.erase(0, start);
  if (flush_all && !s.pending.empty()) {
    (s.err ? std::cerr : std::cout) << "[rank " << s.rank << "] " << s.pending << "\n";
    s.pending.clear();
  }
  (s.err ? std::cerr : std::cout).flush();
}

int exit_code(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 1;
}

}  // namespace

int cmd_launch(const Args& all) {
  // Everything after "--" is the command each rank runs.
  Args own, command;
  bool after = false;
  for (const auto& a : all) {
    if (!after && a == "--") {
      after = true;
    } else {
      (after ? command : own).push_back(a);
    }
  }
  po::options_description desc("launch options");
  desc.add_options()
      ("nproc", po::value<int64_t>()->default_value(1), "ranks to start on this machine")
      ("nnodes", po::value<int64_t>()->default_value(1), "machines in the group (each runs launch)")
      ("node-rank", po::value<int64_t>()->default_value(0), "this machine's index in [0, nnodes)")
      ("master", po::value<std::string>(), "ADDR:PORT of rank 0's store (default: 127.0.0.1 and a free port)");
  po::variables_map vm;
  if (!parse_args("launch", kUsage, own, desc, vm)) return 0;
  const int64_t nproc = vm["nproc"].as<int64_t>(), nnodes = vm["nnodes"].as<int64_t>();
  const int64_t node_rank = vm["node-rank"].as<int64_t>();
  if (nproc < 1) throw UsageError("--nproc must be at least 1, got " + std::to_string(nproc));
  if (nnodes < 1) throw UsageError("--nnodes must be at least 1, got " + std::to_string(nnodes));
  if (node_rank < 0 || node_rank >= nnodes) {
    throw UsageError("--node-rank must be in [0, " + std::to_string(nnodes - 1) + "], got " + std::to_string(node_rank));
  }
  if (command.empty()) throw UsageError("no command after --: e.g. launch --nproc 2 -- train --dataset ... --out RUN");
  if (command[0] == "launch") throw UsageError("launch cannot launch itself");
  distributed::GroupSettings where;
  if (vm.count("master")) {
    try {
      distributed::parse_master(vm["master"].as<std::string>(), where, "--master");
    } catch (const distributed::SetupError& e) {
      throw UsageError(e.what());
    }
  } else {
    if (nnodes > 1) throw UsageError("--nnodes " + std::to_string(nnodes) + " needs --master ADDR:PORT (rank 0's machine)");
    where.master_port = pick_free_port();
  }

  const std::string self = self_path();
  const int64_t world = nproc * nnodes;
  std::vector<pid_t> pids(static_cast<size_t>(nproc), -1);
  std::vector<Stream> streams;
  for (int64_t local = 0; local < nproc; ++local) {
    const int64_t rank = node_rank * nproc + local;
    int out[2], err[2];
    if (::pipe(out) != 0 || ::pipe(err) != 0) throw std::runtime_error(std::string("launch: pipe: ") + std::strerror(errno));
    const pid_t pid = ::fork();
    if (pid < 0) throw std::runtime_error(std::string("launch: fork: ") + std::strerror(errno));
    if (pid == 0) {
      ::dup2(out[1], STDOUT_FILENO);
      ::dup2(err[1], STDERR_FILENO);
      ::close(out[0]);
      ::close(out[1]);
      ::close(err[0]);
      ::close(err[1]);
      ::setenv("RANK", std::to_string(rank).c_str(), 1);
      ::setenv("WORLD_SIZE", std::to_string(world).c_str(), 1);
      ::setenv("LOCAL_RANK", std::to_string(local).c_str(), 1);
      ::setenv("LOCAL_WORLD_SIZE", std::to_string(nproc).c_str(), 1);
      ::setenv("MASTER_ADDR", where.master_addr.c_str(), 1);
      ::setenv("MASTER_PORT", std::to_string(where.master_port).c_str(), 1);
      std::vector<char*> argv;
      argv.push_back(const_cast<char*>("acdc-meta"));
      for (auto& a : command) argv.push_back(const_cast<char*>(a.c_str()));
      argv.push_back(nullptr);
      ::execv(self.c_str(), argv.data());
      std::fprintf(stderr, "launch: cannot run %s: %s\n", self.c_str(), std::strerror(errno));
      ::_exit(127);
    }
    ::close(out[1]);
    ::close(err[1]);
    pids[static_cast<size_t>(local)] = pid;
    streams.push_back({out[0], static_cast<int>(rank), false, {}});
    streams.push_back({err[0], static_cast<int>(rank), true, {}});
  }
  std::cerr << "launch: " << nproc << " ranks (" << node_rank * nproc << ".." << node_rank * nproc + nproc - 1 << " of "
            << world << "), master " << where.master_addr << ":" << where.master_port << "\n";

  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  ::sigaction(SIGINT, &sa, nullptr);
  ::sigaction(SIGTERM, &sa, nullptr);

  int result = 0;
  int64_t running = nproc;
  bool stopping = false;
  auto stop_all = [&](int sig) {
    for (auto p : pids) {
      if (p > 0) ::kill(p, sig);
    }
  };
  std::chrono::steady_clock::time_point stop_deadline;
  char buf[65536];
  while (running > 0 || std::any_of(streams.begin(), streams.end(), [](const Stream& s) { return s.fd >= 0; })) {
    std::vector<pollfd> fds;
    std::vector<Stream*> owners;
    for (auto& s : streams) {
      if (s.fd < 0) continue;
      fds.push_back({s.fd, POLLIN, 0});
      owners.push_back(&s);
    }
    if (!fds.empty()) ::poll(fds.data(), fds.size(), 100);
    else std::this_thread::sleep_for(std::chrono::milliseconds(50));
    for (size_t i = 0; i < fds.size(); ++i) {
      if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      const ssize_t n = ::read(fds[i].fd, buf, sizeof buf);
      if (n > 0) {
        forward(*owners[i], buf, static_cast<size_t>(n), false);
      } else if (n == 0 || errno != EINTR) {
        forward(*owners[i], buf, 0, true);
        ::close(owners[i]->fd);
        owners[i]->fd = -1;
      }
    }
    for (size_t k = 0; k < pids.size(); ++k) {
      if (pids[k] <= 0) continue;
      int status = 0;
      if (::waitpid(pids[k], &status, WNOHANG) != pids[k]) continue;
      pids[k] = -1;
      --running;
      const int code = exit_code(status);
      if (code != 0 && !stopping) {
        const int64_t rank = node_rank * nproc + static_cast<int64_t>(k);
        std::cerr << "launch: rank " << rank << " exited with code " << code
                  << (running > 0 ? "; stopping the other ranks" : "") << "\n";
        result = code;
        stopping = true;
        stop_all(SIGTERM);
        stop_deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
      }
    }
    if (g_signal != 0 && !stopping) {
      std::cerr << "launch: signal " << g_signal << "; stopping the ranks\n";
      result = 128 + g_signal;
      stopping = true;
      stop_all(g_signal);
      stop_deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    }
    if (stopping && running > 0 && std::chrono::steady_clock::now() > stop_deadline) stop_all(SIGKILL);
  }
  return result;
}

}  // namespace experiments
