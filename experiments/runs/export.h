#pragma once
// A checkpoint's weights for use outside the tool (`acdc-meta export`), under the
// parameter-dictionary names (parameters, BatchNorm buffers, learned inner lrs):
//   pt  a pickled dict name -> tensor that Python's torch.load reads directly;
//   h5  one dataset per tensor (the name is the dataset's path) and the run configuration as
//       attributes of the root group, readable by h5py.
// Both are written to a temporary name and renamed. The checkpoint is validated first (the
// loader eval and --resume use).

#include <cstdint>
#include <string>

namespace experiments {

struct ExportRequest {
  std::string checkpoint;  // an acdc-meta checkpoint file
  std::string format;      // pt or h5
  std::string out;         // the file to write (the caller has checked it may be written)
};

struct ExportResult {
  std::string checkpoint, out;
  int64_t iteration = 0;   // the checkpoint's
  int64_t tensors = 0;     // tensors written
  int64_t numbers = 0;     // their elements, all together
};

// Throws std::invalid_argument for a format other than pt or h5, std::runtime_error naming the
// file that cannot be read or written.
ExportResult export_weights(const ExportRequest& request);

}  // namespace experiments
