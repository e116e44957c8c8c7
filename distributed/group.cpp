#include "distributed/group.h"

#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#ifdef ACDC_META_HAVE_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif
#include <torch/torch.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <limits>

namespace distributed {

namespace {

std::string seconds_text(double s) {
  std::string t = std::to_string(s);
  t.erase(t.find_last_not_of('0') + 1);
  if (!t.empty() && t.back() == '.') t.pop_back();
  return t + " s";
}

int64_t env_int(const char* name, int64_t fallback, int64_t min) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return fallback;
  char* end = nullptr;
  errno = 0;
  const long long x = std::strtoll(v, &end, 10);
  if (*end != '\0' || errno != 0 || x < min) {
    throw SetupError(std::string("environment variable ") + name + " must be an integer >= " + std::to_string(min) +
                     ", got '" + v + "'");
  }
  return x;
}

// The text of an exception from c10d or Gloo without LibTorch's backtrace.
std::string cause_of(const std::exception& e) {
  if (const auto* c = dynamic_cast<const c10::Error*>(&e)) return c->what_without_backtrace();
  return e.what();
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

bool is_loopback(const std::string& addr) {
  return addr == "localhost" || addr == "::1" || addr.rfind("127.", 0) == 0;
}

}  // namespace

GroupSettings settings_from_env(GroupSettings s) {
  s.rank = env_int("RANK", s.rank, 0);
  s.world_size = env_int("WORLD_SIZE", s.world_size, 1);
  s.local_rank = env_int("LOCAL_RANK", s.local_rank, 0);
  if (const char* a = std::getenv("MASTER_ADDR"); a != nullptr && *a != '\0') s.master_addr = a;
  s.master_port = env_int("MASTER_PORT", s.master_port, 1);
  if (s.master_port > 65535) {
    throw SetupError("environment variable MASTER_PORT must be a port in [1, 65535], got " +
                     std::to_string(s.master_port));
  }
  return s;
}

void parse_master(const std::string& text, GroupSettings& s, const std::string& what) {
  const auto colon = text.rfind(':');
  std::string addr = colon == std::string::npos ? "" : text.substr(0, colon);
  const std::string port = colon == std::string::npos ? "" : text.substr(colon + 1);
  if (addr.size() >= 2 && addr.front() == '[' && addr.back() == ']') addr = addr.substr(1, addr.size() - 2);
  char* end = nullptr;
  const long p = port.empty() ? 0 : std::strtol(port.c_str(), &end, 10);
  if (addr.empty() || port.empty() || *end != '\0' || p < 1 || p > 65535) {
    throw SetupError(what + " must be ADDR:PORT with a port in [1, 65535], got '" + text + "'");
  }
  s.master_addr = addr;
  s.master_port = p;
}

std::string resolve_backend(const GroupSettings& s, const torch::Device& device) {
  const std::string b = s.backend.empty() ? (device.is_cuda() ? "nccl" : "gloo") : s.backend;
  if (b != "gloo" && b != "nccl") throw SetupError("backend must be gloo or nccl, got '" + b + "'");
  if (b == "nccl" && !device.is_cuda()) {
    throw SetupError("backend nccl needs a CUDA device, got " + device.str() + " (use gloo on the CPU)");
  }
#ifndef ACDC_META_HAVE_NCCL
  if (b == "nccl") {
    throw SetupError("backend nccl: this build's LibTorch has no NCCL process group (a CPU-only LibTorch); use gloo");
  }
#endif
  return b;
}

void validate(const GroupSettings& s) {
  if (s.world_size < 1) throw SetupError("world size must be at least 1, got " + std::to_string(s.world_size));
  if (s.rank < 0 || s.rank >= s.world_size) {
    throw SetupError("rank must be in [0, " + std::to_string(s.world_size - 1) + "] for world size " +
                     std::to_string(s.world_size) + ", got " + std::to_string(s.rank));
  }
  if (s.local_rank < 0) throw SetupError("local rank must be >= 0, got " + std::to_string(s.local_rank));
  if (s.master_port < 1 || s.master_port > 65535) {
    throw SetupError("master port must be in [1, 65535], got " + std::to_string(s.master_port));
  }
  if (s.master_addr.empty()) throw SetupError("master address is empty");
  if (!(std::isfinite(s.timeout_seconds) && s.timeout_seconds > 0 && s.timeout_seconds <= 86400)) {
    throw SetupError("collective timeout must be in (0, 86400] seconds, got " + std::to_string(s.timeout_seconds));
  }
}

std::pair<int64_t, int64_t> share(int64_t n, int64_t rank, int64_t size) {
  return {n * rank / size, n * (rank + 1) / size};
}

// ---- Group ----

struct Group::Impl {
  torch::Device device = torch::kCPU;
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::ProcessGroupGloo> gloo;
#ifdef ACDC_META_HAVE_NCCL
  c10::intrusive_ptr<c10d::ProcessGroupNCCL> nccl;
#endif
  std::chrono::milliseconds timeout{0};

  // The device the collectives' tensors live on: Gloo reduces host tensors.
  torch::Device comm_device() const { return gloo ? torch::Device(torch::kCPU) : device; }

  template <class F>
  void run(F&& f) {
#ifdef ACDC_META_HAVE_NCCL
    if (nccl) {
      f(*nccl)->wait(timeout);
      return;
    }
#endif
    f(*gloo)->wait(timeout);
  }
};

Group::Group(const GroupSettings& s, const torch::Device& device) : impl_(std::make_unique<Impl>()) {
  validate(s);
  backend_ = resolve_backend(s, device);
  rank_ = s.rank;
  size_ = s.world_size;
  timeout_seconds_ = s.timeout_seconds;
  impl_->device = device;
  impl_->timeout = std::chrono::milliseconds(static_cast<int64_t>(std::ceil(s.timeout_seconds * 1000.0)));
  const std::string master = s.master_addr + ":" + std::to_string(s.master_port);
  const std::string within = " within the timeout of " + seconds_text(s.timeout_seconds);

  c10d::TCPStoreOptions options;
  options.port = static_cast<std::uint16_t>(s.master_port);
  options.isServer = s.rank == 0;
  options.numWorkers = static_cast<std::size_t>(s.world_size);
  options.waitWorkers = false;  // the process group's rendezvous waits for them, with our message
  options.timeout = impl_->timeout;
  try {
    impl_->store = c10::make_intrusive<c10d::TCPStore>(s.master_addr, options);
  } catch (const std::exception& e) {
    const auto cause = cause_of(e);
    if (s.rank == 0 && (contains(cause, "in use") || contains(cause, "bind") || contains(cause, "listen"))) {
      throw SetupError(name() + ": cannot open the group's store on port " + std::to_string(s.master_port) +
                       " (port in use? pick another MASTER_PORT / --master ADDR:PORT): " + cause);
    }
    throw SetupError(name() + ": no master answered at " + master + within +
                     " (unreachable master: is rank 0 running, and the address reachable from here?): " + cause);
  }

  try {
    if (backend_ == "gloo") {
      auto o = c10d::ProcessGroupGloo::Options::create(impl_->timeout);
      if (const char* ifname = std::getenv("GLOO_SOCKET_IFNAME"); ifname != nullptr && *ifname != '\0') {
        o->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(ifname));
      } else if (is_loopback(s.master_addr)) {
        o->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
      } else {
        o->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
      }
      o->threads = 2;
      impl_->gloo = c10::make_intrusive<c10d::ProcessGroupGloo>(impl_->store, static_cast<int>(s.rank),
                                                                static_cast<int>(s.world_size), o);
    } else {
#ifdef ACDC_META_HAVE_NCCL
      auto o = c10d::ProcessGroupNCCL::Options::create();
      o->timeout = impl_->timeout;
      impl_->nccl = c10::make_intrusive<c10d::ProcessGroupNCCL>(impl_->store, static_cast<int>(s.rank),
                                                                static_cast<int>(s.world_size), o);
#endif
    }
  } catch (const std::exception& e) {
    throw SetupError(name() + ": not every one of the " + std::to_string(s.world_size) + " ranks joined at " + master +
                     within + ": " + cause_of(e));
  }
  // NCCL connects lazily: the first collective is the real rendezvous.
  try {
    barrier("joining the group");
  } catch (const std::runtime_error& e) {
    throw SetupError(e.what());
  }
}

Group::~Group() = default;

std::string Group::name() const { return "rank " + std::to_string(rank_) + " of " + std::to_string(size_); }

void Group::fail(const std::string& what, const std::string& cause) const {
  std::string peers;
  if (size_ == 2) {
    peers = "rank " + std::to_string(1 - rank_);
  } else {
    peers = "one of ranks";
    for (int64_t r = 0; r < size_; ++r) {
      if (r != rank_) peers += (peers.back() == 's' ? " " : ", ") + std::to_string(r);
    }
  }
  throw std::runtime_error(name() + ": " + what + " failed: " + peers +
                           " stopped or did not answer within the collective timeout of " +
                           seconds_text(timeout_seconds_) + " (" + cause + ")");
}

namespace {

// Calls fn(flat) on buckets of the defined tensors (one dtype each, at most `cap` bytes unless a
// single tensor is larger), flattened on `comm`, and copies each bucket back in place.
template <class F>
void for_buckets(std::vector<torch::Tensor>& tensors, const torch::Device& comm, int64_t cap, F&& fn) {
  torch::NoGradGuard no_grad;
  std::vector<size_t> bucket;
  int64_t bytes = 0;
  auto flush = [&] {
    if (bucket.empty()) return;
    std::vector<torch::Tensor> flat_parts;
    flat_parts.reserve(bucket.size());
    for (auto i : bucket) flat_parts.push_back(tensors[i].detach().reshape(-1).to(comm));
    auto flat = flat_parts.size() == 1 ? flat_parts[0].clone() : torch::cat(flat_parts);
    fn(flat);
    int64_t offset = 0;
    for (auto i : bucket) {
      auto& t = tensors[i];
      const int64_t n = t.numel();
      t.copy_(flat.narrow(0, offset, n).view(t.sizes()));
      offset += n;
    }
    bucket.clear();
    bytes = 0;
  };
  for (size_t i = 0; i < tensors.size(); ++i) {
    const auto& t = tensors[i];
    if (!t.defined()) continue;
    const int64_t b = t.numel() * static_cast<int64_t>(t.element_size());
    if (!bucket.empty() && (tensors[bucket[0]].scalar_type() != t.scalar_type() || bytes + b > cap)) flush();
    bucket.push_back(i);
    bytes += b;
  }
  flush();
}

}  // namespace

void Group::all_reduce_mean(std::vector<torch::Tensor>& tensors, const std::string& what) {
  for_buckets(tensors, impl_->comm_device(), kBucketBytes, [&](torch::Tensor& flat) {
    std::vector<torch::Tensor> io = {flat};
    try {
      impl_->run([&](auto& pg) { return pg.allreduce(io); });
    } catch (const std::exception& e) {
      fail("all-reduce of the " + what, cause_of(e));
    }
    flat.div_(static_cast<double>(size_));
  });
}

std::vector<double> Group::all_reduce_sum(const std::vector<double>& values, const std::string& what) {
  if (values.empty()) return values;
  auto t = torch::tensor(values, torch::kDouble).to(impl_->comm_device());
  std::vector<torch::Tensor> io = {t};
  try {
    impl_->run([&](auto& pg) { return pg.allreduce(io); });
  } catch (const std::exception& e) {
    fail("all-reduce of the " + what, cause_of(e));
  }
  t = t.cpu();
  return std::vector<double>(t.data_ptr<double>(), t.data_ptr<double>() + t.numel());
}

void Group::broadcast(std::vector<torch::Tensor>& tensors, const std::string& what) {
  for_buckets(tensors, impl_->comm_device(), kBucketBytes, [&](torch::Tensor& flat) {
    std::vector<torch::Tensor> io = {flat};
    try {
      impl_->run([&](auto& pg) { return pg.broadcast(io); });
    } catch (const std::exception& e) {
      fail("broadcast of the " + what, cause_of(e));
    }
  });
}

std::vector<double> Group::all_gather(const std::vector<double>& values, const std::string& what) {
  const auto comm = impl_->comm_device();
  auto gather = [&](const torch::Tensor& local) {
    std::vector<torch::Tensor> in = {local};
    std::vector<std::vector<torch::Tensor>> out(1);
    for (int64_t r = 0; r < size_; ++r) out[0].push_back(torch::empty_like(local));
    try {
      impl_->run([&](auto& pg) { return pg.allgather(out, in); });
    } catch (const std::exception& e) {
      fail("gather of the " + what, cause_of(e));
    }
    for (auto& t : out[0]) t = t.cpu();
    return out[0];
  };
  const auto counts = gather(torch::full({1}, static_cast<int64_t>(values.size()), torch::kLong).to(comm));
  int64_t longest = 0;
  for (const auto& c : counts) longest = std::max(longest, c.item<int64_t>());
  auto local = torch::zeros({std::max<int64_t>(longest, 1)}, torch::kDouble);
  std::copy(values.begin(), values.end(), local.data_ptr<double>());
  const auto parts = gather(local.to(comm));
  std::vector<double> out;
  for (int64_t r = 0; r < size_; ++r) {
    const auto* p = parts[static_cast<size_t>(r)].data_ptr<double>();
    out.insert(out.end(), p, p + counts[static_cast<size_t>(r)].item<int64_t>());
  }
  return out;
}

std::string Group::broadcast_text(const std::string& text, const std::string& key) {
  const std::string k = "acdc-meta/" + key;
  try {
    if (is_root()) {
      impl_->store->set(k, std::vector<uint8_t>(text.begin(), text.end()));
      return text;
    }
    const auto bytes = impl_->store->get(k);
    return std::string(bytes.begin(), bytes.end());
  } catch (const std::exception& e) {
    fail("passing the " + key + " from rank 0", cause_of(e));
  }
}

void Group::barrier(const std::string& what) {
  try {
    impl_->run([&](auto& pg) { return pg.barrier(); });
  } catch (const std::exception& e) {
    fail(what, cause_of(e));
  }
}

}  // namespace distributed
