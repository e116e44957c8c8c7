# acdc-meta front door.  make deps | make | make test | make run | make clean
# TORCH_PREFIX=DIR builds against another LibTorch (e.g. a CUDA one from Python's torch package).
# OPENCV=OFF builds without OpenCV (image decoding left out; IDX, CIFAR and HDF5 sources still work).

BUILD_DIR ?= build
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
TORCH_PREFIX ?=
OPENCV ?= ON
BUILD_TYPE ?= Release
CMAKE_FLAGS ?=

DEB_PACKAGES := libtorch-dev libopencv-dev libboost-program-options-dev libhdf5-dev \
                nlohmann-json3-dev libfmt-dev libgloo-dev \
                libgtest-dev libgmock-dev cmake dataset-fashion-mnist libopenblas0-openmp
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
CMAKE_PREFIX := $(if $(TORCH_PREFIX),-DCMAKE_PREFIX_PATH=$(TORCH_PREFIX),)

.PHONY: all build deps test run clean configure sanitize fuzz

all: build

# Installs the Debian packages the project needs; quick no-op when all are present.
deps:
	@missing=""; for p in $(DEB_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; \
	fi

$(BUILD_DIR)/CMakeCache.txt:
	cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) -DACDC_META_WITH_OPENCV=$(OPENCV) $(CMAKE_PREFIX) $(CMAKE_FLAGS)

configure: $(BUILD_DIR)/CMakeCache.txt

build: $(BUILD_DIR)/CMakeCache.txt
	cmake --build $(BUILD_DIR) -j $(JOBS)

test: deps build
	cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS)

# The main job: meta-train ACDC-net Conv4 on the embedded Fashion-MNIST split, then evaluate.
run: deps build
	bash experiments/main_job.sh $(BUILD_DIR)/acdc-meta

# ---- Sanitizers -------------------------------------------------------------------------------
# make sanitize: builds with AddressSanitizer + UndefinedBehaviorSanitizer into its own folder and
# runs the suites that exercise our own code rather than LibTorch's kernels (the readers, caches,
# ACDC maths, episode sampler and the fuzz driver); the LibTorch-heavy training suites would take
# far longer instrumented and test LibTorch more than us. CI runs it after `make test`.
# LibTorch, OpenBLAS and HDF5 are not built with ASan, so the run sets:
#   detect_leaks=0           LibTorch keeps process-lifetime allocations (operator registry,
#                            thread pools, allocator caches) that LeakSanitizer reports at exit
#                            as leaks; they are not ours and not fixable here.
#   alloc_dealloc_mismatch=0 uninstrumented LibTorch/OpenCV code may free with a different
#                            allocator family than it allocated with in inline code compiled on
#                            both sides; ASan would stop at LibTorch's, not ours.
#   allocator_may_return_null=1  a corrupt size field makes LibTorch try a huge allocation; it
#                            must fail as c10's out-of-memory error (which our readers avoid by
#                            checking sizes first), not abort inside ASan.
#   suppressions=tests/asan.supp  memory errors that ASan catches inside libhdf5's own code (via its
#                            memcpy interceptor) on corrupted files: HDF5's bugs, not ours (see the file).
#   halt_on_error=1 (UBSan)  undefined behaviour fails the test instead of printing and going on.
# CTest names each test BINARY.Suite.Test (gtest_discover_tests), so -R selects the binaries' tests by
# that prefix; the binaries not built here show up as BINARY_NOT_BUILT and are left out by it.
SANITIZE_DIR ?= build-sanitize
SANITIZE_TESTS ?= test_acdc test_storage test_datasets test_episodes test_fuzz test_report
SANITIZE_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer
SANITIZE_ENV := ASAN_OPTIONS=detect_leaks=0:alloc_dealloc_mismatch=0:allocator_may_return_null=1:abort_on_error=1:suppressions=$(CURDIR)/tests/asan.supp \
                UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
space := $(subst ,, )
sanitize:
	cmake -S . -B $(SANITIZE_DIR) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DACDC_META_WITH_OPENCV=$(OPENCV) $(CMAKE_PREFIX) \
	  "-DCMAKE_CXX_FLAGS=$(SANITIZE_FLAGS)" "-DCMAKE_C_FLAGS=$(SANITIZE_FLAGS)" \
	  "-DCMAKE_EXE_LINKER_FLAGS=$(SANITIZE_FLAGS)" $(CMAKE_FLAGS)
	cmake --build $(SANITIZE_DIR) -j $(JOBS) --target $(SANITIZE_TESTS)
	cd $(SANITIZE_DIR) && $(SANITIZE_ENV) ctest --output-on-failure -j $(JOBS) -R '^($(subst $(space),|,$(SANITIZE_TESTS)))\.'

# ---- Fuzzing (clang + libFuzzer; not run in CI) ---------------------------------------------------
# make fuzz [FUZZ_TARGET=idx] [FUZZ_SECONDS=600]: builds the libFuzzer harnesses (tests/fuzz/) with
# clang, -fsanitize=fuzzer,address,undefined, into build-fuzz, writes the driver's valid seed
# inputs as the starting corpus and runs one coverage-guided campaign. Targets: idx, cifar, csv,
# folder, h5cache, checkpoint. Crashes are left in build-fuzz/crash-*; replay one with
# `build-fuzz/fuzz_idx build-fuzz/crash-...`. Needs `apt-get install clang libclang-rt-14-dev`.
FUZZ_DIR ?= build-fuzz
FUZZ_TARGET ?= idx
FUZZ_SECONDS ?= 600
fuzz:
	CC=clang CXX=clang++ cmake -S . -B $(FUZZ_DIR) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DACDC_META_FUZZ=ON \
	  -DACDC_META_WITH_OPENCV=$(OPENCV) $(CMAKE_PREFIX) "-DCMAKE_CXX_FLAGS=$(SANITIZE_FLAGS) -fsanitize=fuzzer-no-link" \
	  "-DCMAKE_C_FLAGS=$(SANITIZE_FLAGS) -fsanitize=fuzzer-no-link" "-DCMAKE_EXE_LINKER_FLAGS=$(SANITIZE_FLAGS)" $(CMAKE_FLAGS)
	cmake --build $(FUZZ_DIR) -j $(JOBS) --target fuzz_$(FUZZ_TARGET) test_fuzz
	mkdir -p $(FUZZ_DIR)/corpus-$(FUZZ_TARGET)
	$(FUZZ_DIR)/tests/test_fuzz --write-seeds $(FUZZ_TARGET) $(FUZZ_DIR)/corpus-$(FUZZ_TARGET)
	cd $(FUZZ_DIR) && ASAN_OPTIONS=detect_leaks=0:alloc_dealloc_mismatch=0:allocator_may_return_null=1:suppressions=$(CURDIR)/tests/asan.supp \
	  ./tests/fuzz_$(FUZZ_TARGET) -max_total_time=$(FUZZ_SECONDS) -timeout=10 -rss_limit_mb=4096 corpus-$(FUZZ_TARGET)

clean:
	rm -rf $(BUILD_DIR)
