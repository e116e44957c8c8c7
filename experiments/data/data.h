#pragma once
// A data set as `acdc-meta data` shows it: what each split holds (inspect_data), the project's
// HDF5 cache written from it (convert_data), and N-way K-shot episodes sampled from it through
// the prefetcher that training uses, with the throughput (sample_episodes). Plain requests in,
// plain results out; to_text / to_json print them. Flag spellings stay in the command.

#include "datasets/storage/json.h"

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace experiments {

// ---- inspect ----

struct DataInspectRequest {
  std::string dataset = "fashion-mnist";  // a datasets::load_dataset spec
  int64_t image_size = 0;                 // resize to N x N (0: native size)
  bool classification = false;           // the classification split (official train/test)
  bool class_names = false;               // also list the class names of each split
};

struct SplitSummary {
  std::string name;  // train, val, test
  int64_t classes = 0, images = 0;
  std::vector<int64_t> image_shape;      // H, W, C
  std::vector<std::string> class_names;  // when the request asked for them
};

struct DataInspection {
  std::string source, kind;
  std::vector<SplitSummary> splits;
  std::vector<float> mean, std;  // the normalisation of the data set
  bool class_names = false;
  double load_seconds = 0;
};

DataInspection inspect_data(const DataInspectRequest& request);
storage::json to_json(const DataInspection& inspection);
std::string to_text(const DataInspection& inspection);

// ---- convert ----

struct DataConvertRequest {
  std::string dataset;     // a datasets::read_source spec
  std::string out;         // the HDF5 cache, written atomically
  int64_t image_size = 0;  // resize to N x N (0: native size)
};

struct DataConversion {
  std::string out, kind, location;
  int64_t images = 0;
  std::vector<int64_t> image_shape;                    // H, W, C
  std::vector<std::pair<std::string, int64_t>> parts;  // name, images
  double seconds = 0;
};

// Reads the source and writes the cache, with a progress bar per stage on stderr.
DataConversion convert_data(const DataConvertRequest& request);
std::string to_text(const DataConversion& conversion);

// ---- episodes ----

struct EpisodeSampleRequest {
  std::string dataset = "fashion-mnist";
  std::string split = "train";  // train, val or test
  int64_t image_size = 0;
  int64_t ways = 5, shots = 1, queries = 15;
  uint64_t seed = 0;
  bool augment = false;
  int64_t count = 100;  // episodes to sample, rounded up to whole batches of `tasks`
  int64_t tasks = 4;    // episodes per batch
  int threads = 2;      // prefetch worker threads
  int64_t show = 3;     // list the classes of this many first episodes
};

struct EpisodeClass {
  int64_t index = 0;
  std::string name;
};

struct EpisodeSampling {
  EpisodeSampleRequest request;
  std::string source;
  int64_t split_classes = 0, split_images = 0;
  int64_t episodes = 0;              // sampled: whole batches
  std::vector<int64_t> batch_shape;  // of a batch's query images: [tasks, N, C, H, W]
  double load_seconds = 0, sample_seconds = 0;
  double episodes_per_second = 0;
  int64_t images_per_episode = 0;
  std::vector<std::vector<EpisodeClass>> first_classes;  // of the first `show` episodes
};

// Throws std::invalid_argument naming the value for a count, tasks or threads below 1 or an
// unknown split.
EpisodeSampling sample_episodes(const EpisodeSampleRequest& request);
storage::json to_json(const EpisodeSampling& sampling);
std::string to_text(const EpisodeSampling& sampling);

}  // namespace experiments
