// acdc-meta: the command-line front door. Dispatches to subcommands; bad usage exits 2 with
// one line naming the problem, other failures exit 1.

#include "acdc/winograd.h"
#include "experiments/commands/cli.h"
#include "experiments/commands/commands.h"

#include "datasets/field_error.h"
#include "host/memory.h"

#include <c10/util/Exception.h>

#include <malloc.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <new>
#include <iostream>

namespace experiments {

const std::vector<Command>& commands() {
  static const std::vector<Command> table = {
      {"info", "versions, CUDA and OpenCV availability of this build", cmd_info},
      {"params", "trainable parameters of a backbone and conv type (--paper-table: the paper's Table 1)", cmd_params},
      {"flops", "MACs per image and per batch, ratio to standard convs (--paper-table: Table 3)", cmd_flops},
      {"data", "inspect a data set, convert it to an HDF5 cache, sample episodes (throughput)", cmd_data},
#ifdef ACDC_META_HAVE_BENCH
      {"bench", "time MAML meta-iterations of the real engine: s/iteration, GFLOP/s, peak memory", cmd_bench},
#endif
#ifdef ACDC_META_HAVE_MAML
      {"train", "meta-train a backbone with MAML on a few-shot split (run directory, checkpoints)", cmd_train},
      {"launch", "start N local ranks of a command as one group (launch --nproc N -- train ...)", cmd_launch},
      {"eval", "meta-test a run: N-way k-shot accuracy and 95% interval (CloserLook protocol)", cmd_eval},
      {"adapt", "adapt a run to your own support images (one folder per class) and classify query images", cmd_adapt},
      {"export", "write a checkpoint's weights as .pt (torch.load) or .h5 (h5py)", cmd_export},
      {"classify", "supervised train/test on a dataset's own split; --sweep compares conv variants (Table 1)", cmd_classify},
      {"analyze", "the paper's analyses of a checkpoint: rank (effective ranks, §2.2), cam (per-layer CAM, Fig. 8)",
       cmd_analyze},
      {"report", "compare runs (train, classify, sweeps): one table, training curves as SVG", cmd_report},
#endif
  };
  return table;
}

}  // namespace experiments

namespace {

// glibc returns freed blocks above 128 KiB to the kernel (munmap) and takes them back with
// fresh page faults on the next allocation of the same size. A MAML iteration allocates and
// frees the same activation-sized buffers hundreds of times, and on these VMs the page
// faults took 60-70% of the time (perf: pvm_irq_enable / clear_page under exc_page_fault).
// Keep such blocks in the heap instead: measured 6.8 s -> 2.1 s per meta-iteration (Conv4,
// 1 thread). Costs only address space that the process already used at its peak.
void keep_freed_memory_in_process() {
  mallopt(M_MMAP_THRESHOLD, 32 << 20);   // the largest threshold glibc accepts on 64-bit
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
  mallopt(M_TOP_PAD, 64 << 20);
}

// A failed allocation, said as one line with its size ("" when `what` is another error).
// LibTorch words it "[enforce fail at alloc_cpu.cpp:..] ... DefaultCPUAllocator: can't allocate
// memory: you tried to allocate N bytes ..." (1.13) or "... not enough memory: ..." (2.x).
std::string out_of_memory(const std::string& what) {
  const bool cpu = what.find("DefaultCPUAllocator") != std::string::npos;
  if (!cpu && what.find("out of memory") == std::string::npos) return "";
  const auto at = what.find("tried to allocate ");
  std::string size = "a tensor";
  if (at != std::string::npos) {
    const double bytes = std::strtod(what.c_str() + at + 18, nullptr);
    char text[96];
    std::snprintf(text, sizeof text, "%.0f bytes (%.1f GiB)", bytes, bytes / (1 << 30));
    size = text;
  }
  if (!cpu) return "out of GPU memory while allocating " + size + "; use smaller sizes (batch, image size, network)";
  const std::string text = host::format_gib(host::memory_limit_bytes());
  return "out of memory while allocating " + size + "; this process may use " + text +
         ": use smaller sizes (batch, image size, network)";
}

void print_help() {
  std::cout << "acdc-meta: few-shot meta-learning with Atom-Coefficient Decomposed Convolutions\n\n"
               "usage: acdc-meta <command> [options]     (acdc-meta <command> --help for its options)\n\n"
               "commands:\n";
  for (const auto& c : experiments::commands()) {
    std::cout << "  " << c.name << std::string(c.name.size() < 10 ? 10 - c.name.size() : 1, ' ') << c.summary << "\n";
  }
  std::cout << "\nenvironment:\n"
               "  ACDC_META_WINOGRAD=auto|on|off  3x3 stride-1 CPU convolutions by Winograd F(2x2,3x3) or oneDNN\n"
               "            (auto, the default: Winograd on AVX2 CPUs; on AVX-512 CPUs its AVX-512 and AVX2\n"
               "            builds where they beat oneDNN in a timing each process takes once, which `info`\n"
               "            shows, and --resume runs as the run it resumes; off: oneDNN everywhere). The two\n"
               "            differ in the last bits of every result: on AVX-512 CPUs pin on or off for results\n"
               "            equal bit for bit across other processes (ranks, eval beside training).\n";
}

}  // namespace

int main(int argc, char** argv) {
  keep_freed_memory_in_process();
  if (argc < 2) {
    print_help();
    return 2;
  }
  const std::string name = argv[1];
  if (name == "--help" || name == "-h" || name == "help") {
    print_help();
    return 0;
  }
  if (name == "--version") {
    std::cout << "acdc-meta " << ACDC_META_VERSION << "\n";
    return 0;
  }
  for (const auto& c : experiments::commands()) {
    if (c.name != name) continue;
    try {
      acdc::winograd_use();  // a bad ACDC_META_WINOGRAD fails here, before any work
      return c.run(std::vector<std::string>(argv + 2, argv + argc));
    } catch (const experiments::UsageError& e) {
      std::cerr << "acdc-meta " << name << ": error: " << e.what() << "\n";
      return 2;
    } catch (const datasets::FieldError& e) {
      // A lower library names the setting by its field ("image_size"); the user typed a flag.
      std::string flag = e.field;
      std::replace(flag.begin(), flag.end(), '_', '-');
      std::cerr << "acdc-meta " << name << ": error: " << e.renamed("--" + flag) << "\n";
      return 2;
    } catch (const std::invalid_argument& e) {
      std::cerr << "acdc-meta " << name << ": error: " << e.what() << "\n";
      return 2;
    } catch (const std::bad_alloc& e) {
      std::cerr << "acdc-meta " << name << ": error: out of memory (" << e.what()
                << "); use smaller sizes (batch, image size, network)\n";
      return 2;
    } catch (const c10::Error& e) {
      const auto oom = out_of_memory(e.what_without_backtrace());
      std::cerr << "acdc-meta " << name << ": error: " << (oom.empty() ? e.what_without_backtrace() : oom) << "\n";
      return oom.empty() ? 1 : 2;
    } catch (const std::exception& e) {
      std::cerr << "acdc-meta " << name << ": error: " << e.what() << "\n";
      return 1;
    }
  }
  std::cerr << "acdc-meta: unknown command '" << name << "' (see acdc-meta --help)\n";
  return 2;
}
