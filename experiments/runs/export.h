#pragma once
// A checkpoint's weights for use outside the tool (`acdc-meta export`):
//   pt  a pickled dict that Python's torch.load(..., weights_only=True) reads directly: name ->
//       tensor, plus one string entry kExportMetadataKey holding the metadata JSON;
//   h5  one dataset per tensor (the name is the dataset's path); the run configuration as string
//       attributes of the root group (its option names, as before), the metadata JSON as the
//       string attribute kExportMetadataKey and every field of it as a typed attribute
//       "acdc_meta.<field>" (export_metadata_attributes), readable by h5py.
// The tensors are either the parameter-dictionary entries (atoms, coefficients, BatchNorm,
// head, running statistics, learned inner lrs), or, materialized, the dense kernels of every
// conv under the names the `standard` conv variant of the same backbone uses, with the same
// BatchNorm, head and running-statistics tensors (materialize_weights).
// Both are written to a temporary name and renamed. The checkpoint is validated first (the
// loader eval and --resume use).

#include <torch/types.h>

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace backbones {
class Backbone;
}

namespace experiments {

struct CheckpointInfo;

// The .pt entry and the .h5 root attribute that hold the metadata JSON.
inline constexpr const char* kExportMetadataKey = "acdc_meta.config";
// The metadata's own format (its "export_format" field).
inline constexpr const char* kExportFormat = "acdc-meta export 1";

struct ExportRequest {
  std::string checkpoint;    // an acdc-meta checkpoint file
  std::string format;        // pt or h5
  std::string out;           // the file to write (the caller has checked it may be written)
  bool materialize = false;  // dense standard-conv kernels instead of atoms and coefficients
};

struct ExportResult {
  std::string checkpoint, out;
  int64_t iteration = 0;   // the checkpoint's
  int64_t tensors = 0;     // tensors written
  int64_t numbers = 0;     // their elements, all together
  bool materialized = false;
};

// Throws std::invalid_argument for a format other than pt or h5, std::runtime_error naming the
// file that cannot be read or written.
ExportResult export_weights(const ExportRequest& request);

// The writer behind export_weights, for weights already in memory (`adapt --save-adapted`):
// `weights` as collected by read_checkpoint_weights/model_weights (or materialize_weights when
// `materialized`), `info` the configuration they belong to, `checkpoint` the file they came from
// (recorded in the metadata). Same formats, checks and errors as export_weights.
ExportResult write_export(const std::map<std::string, torch::Tensor>& weights, const CheckpointInfo& info,
                          const std::string& checkpoint, const std::string& format, const std::string& out,
                          bool materialized);

// The weights of `model` as a network of plain convolutions (the `standard` conv variant of the
// same backbone, options otherwise equal) holds them: every conv's effective kernel W = alpha·D
// (acdc::Conv::kernel, evaluation mode: no atom-drop) as "<layer>.weight" [C_out, C_in, k, k],
// a grouped layer's block-diagonal kernel written out dense with its channel shuffle folded into
// the order of its output rows (and of its bias); 1x1 shortcuts, BatchNorm, head and running
// statistics as they are. Detached CPU copies.
std::map<std::string, torch::Tensor> materialize_weights(const backbones::Backbone& model);

// What an export says about the network it holds, as JSON text (one line, fields in a fixed
// order): backbone, conv type, atoms, group size, width, channels, classes, image size, the
// data set's normalisation mean/std, BatchNorm mode/eps/momentum and whether its running
// statistics mean anything (not after transductive BatchNorm), the inner loop of a meta-training
// run, and which conv variant loads the tensors. `materialized` says which tensors the export
// holds. The data set named in the configuration is not read (an h5: cache is, for its kind,
// when it is still there; otherwise the normalisation is null).
std::string export_metadata(const CheckpointInfo& info, const std::string& checkpoint, bool materialized);

// The metadata flattened to typed HDF5 attributes: "acdc_meta." + the field's path joined with
// dots -> string, int64 (booleans as 0/1), double, or a list of doubles; null fields left out.
using ExportAttribute = std::variant<std::string, int64_t, double, std::vector<double>>;
std::vector<std::pair<std::string, ExportAttribute>> export_metadata_attributes(const std::string& metadata_json);

}  // namespace experiments
