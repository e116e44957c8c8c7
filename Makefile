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
                libgtest-dev libgmock-dev cmake dataset-fashion-mnist libopenblas0-openmp
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
CMAKE_PREFIX := $(if $(TORCH_PREFIX),-DCMAKE_PREFIX_PATH=$(TORCH_PREFIX),)

.PHONY: all build deps test run clean configure

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

clean:
	rm -rf $(BUILD_DIR)
