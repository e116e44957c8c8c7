#pragma once
// Few-shot on the user's own images (`acdc-meta adapt`): a meta-trained run adapts from its meta
// parameters to a support folder (one subfolder per class, its name the label) with the run's
// inner loop (meta::Maml::adapt), then classifies query images. Every image goes through the
// run's own preprocessing: decoded (OpenCV), resized to the run's image size the way its data
// source was (OpenCV while decoding for image-file sources, the tensor resize for IDX, CIFAR and
// caches of them), brought to the run's channel count, scaled to [0, 1] and normalised with the
// run's dataset constants, exactly as the episode sampler does for training and eval.
//
// With transductive BatchNorm (the default of MAML runs) the query images are classified in one
// batch, as eval classifies an episode's queries: a prediction depends on the whole query set.
//
// show_episode (`acdc-meta eval --show-episode I`) runs the same adapt-and-classify step on one of
// eval's own episodes and says which rows of the split it used.

#include "datasets/dataset.h"
#include "datasets/storage/json.h"

#include <torch/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace experiments {

struct MetaTrainSettings;

// How a run sees an image: its size, channels, normalisation and data-source kind.
struct ImagePreprocessing {
  std::string kind;              // the run's data-source kind (fashion-mnist, folder, ...; h5: the cache's)
  int64_t image_size = 0;        // square side
  int64_t channels = 0;
  datasets::Normalization normalization;
  // Image-file sources resize while decoding (OpenCV); tensor sources resize decoded tensors.
  bool resize_while_decoding() const;
};
// Throws DataError naming the run's h5 cache when its kind cannot be read.
ImagePreprocessing image_preprocessing(const MetaTrainSettings& run);

// Decodes `files` and preprocesses them for the run: float [N, C, H, W]. `what` names the set in
// notes and errors (e.g. "support class 'cat'"); a note is appended to `notes` when images were
// converted to the run's channel count (grayscale to RGB or colour to grayscale). Throws
// DataError naming a file that does not decode.
torch::Tensor preprocess_images(const ImagePreprocessing& p, const std::vector<std::string>& files,
                                const std::string& what, std::vector<std::string>* notes);

struct AdaptRequest {
  std::string checkpoint;           // a `train` checkpoint
  std::string support;              // folder: one subfolder of images per class
  std::vector<std::string> query;   // one folder (flat, or one subfolder per class) or image files
  int64_t steps = -1;               // adaptation steps; -1: the run's inner_steps_test
  int64_t top_k = 3;                // classes listed per query image (at most the support's)
  std::string device = "cpu";
  std::string save_adapted;         // "" or FILE.pt | FILE.h5: the adapted weights in the export format
};

struct AdaptPrediction {
  std::string file;
  int64_t label = -1;               // the true class (query class subfolders), -1 when unknown
  int64_t predicted = 0;
  double probability = 0.0;         // of the predicted class (softmax over the support's classes)
  std::vector<std::pair<int64_t, double>> top;  // best first
};

struct AdaptResult {
  std::string checkpoint, backbone, conv, device;
  int64_t iteration = 0;            // the checkpoint's
  int64_t head_outputs = 0;         // the run's ways
  int64_t steps = 0;
  int64_t support_images = 0;
  std::vector<std::string> classes; // index = label (support subfolders, sorted)
  std::vector<std::string> notes;   // conversions made
  std::vector<AdaptPrediction> predictions;
  bool labelled = false;            // the query had class subfolders
  int64_t correct = 0;
  std::vector<std::vector<int64_t>> confusion;  // [true][predicted], when labelled
  std::string saved;                // --save-adapted file written ("" for none)
  int64_t saved_tensors = 0;

  double accuracy() const;          // percent; 0 when unlabelled
};

// Throws std::invalid_argument (exit 2) naming the folder, file or setting at fault: a missing or
// empty class folder, an image that does not decode, more classes than the head has outputs, a
// query class that is not a support class, a checkpoint of a classify run.
AdaptResult adapt_to_images(const AdaptRequest& request);

// {checkpoint, iteration, backbone, conv, steps, classes, support_images, notes, predictions:
//  [{file, label?, predicted, probability, top: [{class, probability}]}], accuracy?, confusion?}
storage::json to_json(const AdaptResult& result);
// The run line, notes, one line per query image, and accuracy with a confusion matrix when labelled.
std::string to_text(const AdaptResult& result);
// file,label,predicted,probability,top: one row per query image (label empty when unknown).
std::string predictions_csv(const AdaptResult& result);

// ---- one meta-test episode, shown (`acdc-meta eval --show-episode I`) ----

struct ShowEpisodeRequest {
  std::string checkpoint;        // a `train` checkpoint
  int64_t episode = 0;           // index of the episode (eval's episodes are 0..N-1 of (seed, split))
  int64_t shots = 0;             // 0: as trained
  int64_t queries = 15;
  std::string split = "test";
  int64_t steps = -1;            // -1: the run's inner_steps_test
  int64_t seed = 0;              // eval's --seed
  int64_t top_k = 3;
  std::string dataset;           // "": the run's
  std::string device = "cpu";
};

struct EpisodeView {
  std::string checkpoint, dataset, split;
  int64_t iteration = 0, episode = 0, ways = 0, shots = 0, queries = 0, steps = 0, seed = 0;
  std::vector<int64_t> classes;          // the split-local class of each way
  std::vector<std::string> class_names;  // their names
  std::vector<int64_t> support, query;   // rows of the split, grouped by way
  std::vector<AdaptPrediction> predictions;  // one per query row; label and classes are ways
  int64_t correct = 0;
  double accuracy() const;               // percent: this episode's term of eval's mean
};

// Episode `episode` exactly as `eval` samples and adapts it (same data, seed and steps): which
// rows of the split it uses and what the adapted model predicts for each query.
EpisodeView show_episode(const ShowEpisodeRequest& request);
storage::json to_json(const EpisodeView& view);
std::string to_text(const EpisodeView& view);

}  // namespace experiments
