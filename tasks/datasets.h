// Image-classification data sets: Fashion-MNIST (IDX, gzip) and CIFAR-10 (binary release or JPEG folders).
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace nos::tasks {

// Images as uint8 [N, C, H, W] and labels as int64 [N], on the CPU.
struct Dataset {
  torch::Tensor images;
  torch::Tensor labels;
  int64_t size() const { return labels.defined() ? labels.size(0) : 0; }
};

// The three splits and where they came from, for reports ("CIFAR-10, JPEG copy at ..., decoded cache ...").
struct DataSplits {
  std::string name;        // "fmnist" or "cifar10"
  std::string provenance;  // one line for reports
  int64_t num_classes = 10;
  Dataset train, validation, test;
};

struct DataOptions {
  std::string data_dir;          // empty: the data set's default location (Fashion-MNIST only; CIFAR-10 needs one)
  std::string cache_dir;         // where decoded JPEG caches live (the CLI passes ~/.cache/nos); empty: no cache
  int64_t validation_size = -1;  // -1: 10,000 for Fashion-MNIST, 5,000 for CIFAR-10; 0: no validation split
  int64_t train_size = -1;       // -1: all the rest; else a seeded subset of the rest (cheap proxies)
  uint64_t split_seed = 0;       // the validation split and the subset depend only on this seed
  // Which held-out images validate (docs/search-design.md, "Selection and confirmation"): "selection" (a search's
  // rewards: the head of the permutation, training images from the middle), "confirmation" (re-evaluations: the
  // tail, never a selection image while selection + confirmation fit in the training set) or "legacy" (the head,
  // training from the images after it: how every run before the purpose split was made).
  std::string split = "legacy";
};

// The split policies, in documentation order: selection, confirmation, legacy.
const std::vector<std::string>& split_names();

// What read_image_folder did with its cache file.
enum class CacheOutcome {
  kNotUsed,      // no cache file was given
  kLoaded,       // the cache matched the folder and was used: no JPEG was decoded
  kRebuilt,      // missing, stale or damaged: every JPEG was decoded and the cache rewritten
  kWriteFailed,  // decoded, but the cache could not be written (the next run decodes again)
};

// Readers (each throws nos::UserError naming the file and what is wrong).
// IDX files as in LeCun's MNIST and Fashion-MNIST (magic 0x803 images, 0x801 labels); gzip or plain.
Dataset read_idx_gz(const std::string& images_path, const std::string& labels_path);
// The CIFAR-10 binary release: records of 1 label byte + 3,072 pixel bytes (R, G, B planes of 32x32).
Dataset read_cifar_binary(const std::vector<std::string>& files);
// A folder {class}/*.jpg of 32x32 images, label = position of the class in `classes`, files in name order.
// `cache_file` (may be empty) keeps the decoded images and is rebuilt when its fingerprint of the folder (file
// names, sizes, modification times) no longer matches; it is written atomically (temporary file + rename).
Dataset read_image_folder(const std::string& dir, const std::vector<std::string>& classes,
                          const std::string& cache_file, CacheOutcome* outcome = nullptr);

// The CIFAR-10 class names in label order (also their alphabetical order).
const std::vector<std::string>& cifar10_classes();

// One data set: a row of the data set registry. Help texts, task-name validation and the benchmarks' synthetic
// data read these rows; adding a data set is adding a row (and its test).
struct DatasetInfo {
  std::string_view name;         // as written in a task name: "fmnist"
  std::string_view title;        // for people: "Fashion-MNIST"
  int64_t channels, side, classes;  // images [N, channels, side, side], labels in [0, classes)
  int64_t validation_size;       // the default held-out count
  // Whether augment_batch (random crop with 4-pixel padding, horizontal flip) is this data set's augmentation:
  // CIFAR-10's standard one (DeepOBS, He et al. 2016). Fashion-MNIST has none: its centred 28x28 garments lose
  // accuracy under it (issue 14 measured sgd's validation accuracy falling from 0.695 to 0.419), so it is refused.
  bool augmentable;
  DataSplits (*load)(const DataOptions& options);
  std::string_view doc;          // one line: what it is and where it is read from
};

// The registry, in documentation order.
const std::vector<DatasetInfo>& datasets();

// The row named `name`, or nullptr.
const DatasetInfo* find_dataset(std::string_view name);

// Throws nos::UserError naming `setting` ("--augment") when `dataset` has no augmentation (DatasetInfo::augmentable).
void check_augmentable(std::string_view dataset, const std::string& setting);

// Loads a registered data set with the fixed seeded validation split carved from the training set; throws
// nos::UserError for an unknown name (listing the known ones). CIFAR-10's data_dir may hold the binary release, a
// cifar-10-batches-bin/ folder, or train/ and test/ JPEG folders.
DataSplits load_dataset(const std::string& name, const DataOptions& options);

// Random uint8 images and labels of a registered data set's shape, `n` training images (validation and test: the
// first image): for speed measurements (nos bench, population auto), which do not depend on the pixels.
DataSplits synthetic_data(const std::string& dataset, int64_t n);

// Per-channel mean and standard deviation of pixel values in [0, 1] units.
struct Normalization {
  std::vector<double> mean, std;
};

// Statistics of the training split (population std over all pixels; a constant channel gets std 1 so that
// normalised values stay finite).
Normalization channel_stats(const Dataset& train);

// uint8 [B, C, H, W] -> (x/255 - mean[c]) / std[c] as `dtype` on `device`. The bytes cross to the device before
// the conversion, so a GPU copy moves a quarter of the data.
torch::Tensor to_float_batch(const torch::Tensor& uint8_images, const Normalization& normalization,
                             torch::Device device, torch::Dtype dtype,
                             torch::MemoryFormat memory_format = torch::MemoryFormat::Contiguous);

// CIFAR augmentation of a normalised batch: each image is zero-padded by 4 pixels (0 is the mean colour after
// normalisation), cropped back at a random offset and flipped left-right with probability 1/2. The offsets and
// flips are drawn from `gen` (on its device), so a seed reproduces the batch; shape and device are kept.
torch::Tensor augment_batch(const torch::Tensor& float_batch, torch::Generator& gen);

}  // namespace nos::tasks
