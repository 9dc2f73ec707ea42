// The data set registry (Fashion-MNIST, CIFAR-10): each set's loader, which finds its files and carves the splits,
// and synthetic data of a set's shape.
#include "tasks/datasets.h"

#include <ATen/CPUGeneratorImpl.h>

#include <cinttypes>
#include <cstdio>
#include <filesystem>
#include <system_error>

#include "common/error.h"
#include "common/text.h"
#include "tasks/dataset_io.h"

namespace nos::tasks {

namespace fs = std::filesystem;
using dataset_io::data_error;
using dataset_io::folder_error;
using dataset_io::kFnvOffset;
using dataset_io::mix_string;
using dataset_io::sizes_line;
using dataset_io::split;

namespace {

// The IDX file itself when present, else its uncompressed twin (zlib reads both), else the .gz name for the
// "not found" message.
std::string idx_path(const fs::path& dir, const std::string& gz_name) {
  const fs::path gz = dir / gz_name;
  const fs::path plain = dir / gz_name.substr(0, gz_name.size() - 3);
  if (!fs::exists(gz) && fs::exists(plain)) return plain.string();
  return gz.string();
}

std::string hex64(uint64_t h) {
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016" PRIx64, h);
  return hex;
}

std::string cache_note(CacheOutcome outcome, const std::string& file) {
  switch (outcome) {
    case CacheOutcome::kNotUsed:
      return "no decoded cache";
    case CacheOutcome::kLoaded:
      return "decoded cache " + file + " reused";
    case CacheOutcome::kRebuilt:
      return "decoded cache " + file + " rebuilt";
    case CacheOutcome::kWriteFailed:
      return "decoded cache " + file + " could not be written";
  }
  return "";
}

DataSplits load_fmnist(const DataOptions& o) {
  DataSplits s;
  s.name = "fmnist";
  const fs::path dir = o.data_dir.empty() ? "/usr/share/datasets/fashion-mnist" : o.data_dir;
  const std::string train_images = idx_path(dir, "train-images-idx3-ubyte.gz");
  const std::string test_images = idx_path(dir, "t10k-images-idx3-ubyte.gz");
  Dataset train = read_idx_gz(train_images, idx_path(dir, "train-labels-idx1-ubyte.gz"));
  s.test = read_idx_gz(test_images, idx_path(dir, "t10k-labels-idx1-ubyte.gz"));
  if (s.test.images.sizes().slice(1) != train.images.sizes().slice(1)) {
    data_error(test_images, "has images of " + std::to_string(s.test.images.size(2)) + "x" +
                                std::to_string(s.test.images.size(3)) + " but " + train_images + " has " +
                                std::to_string(train.images.size(2)) + "x" + std::to_string(train.images.size(3)));
  }
  split(s, train, o, find_dataset("fmnist")->validation_size);
  s.provenance = "Fashion-MNIST (Xiao et al. 2017), IDX files in " + dir.string() + sizes_line(s, o);
  return s;
}

DataSplits load_cifar10(const DataOptions& o) {
  DataSplits s;
  s.name = "cifar10";
  if (o.data_dir.empty()) {
    throw UserError("CIFAR-10: no data folder; give the binary release's folder with data_batch_1.bin ... "
                    "test_batch.bin, or a JPEG folder with train/ and test/ (--data-dir; the config key task.data_dir "
                    "in nos search, data_dir in nos compare)");
  }
  fs::path dir = o.data_dir;
  if (!fs::exists(dir)) folder_error(dir.string(), "not found (CIFAR-10's data folder)");
  if (!fs::is_directory(dir)) folder_error(dir.string(), "is not a folder (CIFAR-10's data folder)");
  if (fs::is_directory(dir / "cifar-10-batches-bin")) dir /= "cifar-10-batches-bin";
  bool binary = fs::exists(dir / "test_batch.bin");
  for (int i = 1; i <= 5; ++i) binary = binary || fs::exists(dir / ("data_batch_" + std::to_string(i) + ".bin"));
  Dataset train;
  if (binary) {
    std::vector<std::string> files;
    for (int i = 1; i <= 5; ++i) files.push_back((dir / ("data_batch_" + std::to_string(i) + ".bin")).string());
    train = read_cifar_binary(files);
    s.test = read_cifar_binary({(dir / "test_batch.bin").string()});
    split(s, train, o, find_dataset("cifar10")->validation_size);
    s.provenance =
        "CIFAR-10 (Krizhevsky 2009), official binary release in " + dir.string() + sizes_line(s, o);
    return s;
  }
  if (fs::exists(dir / "train") || fs::exists(dir / "test")) {
    // One cache per folder, named by the folder's absolute path, so two copies of the data never share a cache.
    auto cache = [&](const std::string& part) {
      if (o.cache_dir.empty()) return std::string();
      std::error_code ec;
      fs::path absolute = fs::weakly_canonical(dir / part, ec);
      if (ec) absolute = fs::absolute(dir / part);
      uint64_t h = kFnvOffset;
      mix_string(h, absolute.string());
      return (fs::path(o.cache_dir) / ("cifar10-" + part + "-" + hex64(h) + ".nosimg")).string();
    };
    const std::string train_cache = cache("train"), test_cache = cache("test");
    CacheOutcome train_outcome = CacheOutcome::kNotUsed, test_outcome = CacheOutcome::kNotUsed;
    train = read_image_folder((dir / "train").string(), cifar10_classes(), train_cache, &train_outcome);
    s.test = read_image_folder((dir / "test").string(), cifar10_classes(), test_cache, &test_outcome);
    split(s, train, o, find_dataset("cifar10")->validation_size);
    s.provenance = "CIFAR-10 (Krizhevsky 2009), JPEG copy in " + dir.string() +
                   " (re-encoded as JPEG: pixels differ slightly from the official binary release); train " +
                   cache_note(train_outcome, train_cache) + ", test " + cache_note(test_outcome, test_cache) +
                   sizes_line(s, o);
    return s;
  }
  if (fs::is_directory(dir / cifar10_classes()[0])) {
    folder_error(dir.string(), "holds class folders; give its parent, the folder that holds train/ and test/");
  }
  folder_error(dir.string(), "holds neither the CIFAR-10 binary release (data_batch_1.bin ... test_batch.bin, "
                             "or cifar-10-batches-bin/) nor JPEG folders train/<class>/*.jpg and test/<class>/*.jpg");
}

}  // namespace

const std::vector<DatasetInfo>& datasets() {
  static const std::vector<DatasetInfo> table = {
      {"fmnist", "Fashion-MNIST", 1, 28, 10, 10000, false, load_fmnist,
       "Fashion-MNIST (Xiao et al. 2017): 60,000 + 10,000 grey 28x28 images, IDX files (default "
       "/usr/share/datasets/fashion-mnist)"},
      {"cifar10", "CIFAR-10", 3, 32, 10, 5000, true, load_cifar10,
       "CIFAR-10 (Krizhevsky 2009): 50,000 + 10,000 colour 32x32 images, the binary release or JPEG folders"},
  };
  return table;
}

const DatasetInfo* find_dataset(std::string_view name) {
  for (const DatasetInfo& d : datasets()) {
    if (d.name == name) return &d;
  }
  return nullptr;
}

void check_augmentable(std::string_view dataset, const std::string& setting) {
  const DatasetInfo* d = find_dataset(dataset);
  if (d == nullptr || d->augmentable) return;
  std::vector<std::string> which;
  for (const DatasetInfo& info : datasets()) {
    if (info.augmentable) which.emplace_back(info.name);
  }
  throw UserError(setting + ": " + std::string(d->title) + " has no augmentation (random crops and flips, " +
                  joined(which) + "'s, lower its accuracy); train " + std::string(d->name) + " tasks without it");
}

DataSplits load_dataset(const std::string& name, const DataOptions& o) {
  if (const DatasetInfo* d = find_dataset(name)) return d->load(o);
  std::string known;
  for (const DatasetInfo& d : datasets()) known += (known.empty() ? "" : ", ") + std::string(d.name);
  throw UserError("unknown data set '" + name + "' (known: " + known + ")");
}

DataSplits synthetic_data(const std::string& dataset, int64_t n) {
  const DatasetInfo* info = find_dataset(dataset);
  NOS_CHECK(info != nullptr, "synthetic data of an unknown data set '" << dataset << "'");
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(0);
  DataSplits data;
  data.name = dataset;
  data.provenance = "synthetic " + dataset + "-shaped data";
  data.num_classes = info->classes;
  data.train.images = torch::randint(0, 256, {n, info->channels, info->side, info->side}, gen, torch::kUInt8);
  data.train.labels = torch::randint(0, info->classes, {n}, gen, torch::kInt64);
  data.validation.images = data.train.images.narrow(0, 0, 1);
  data.validation.labels = data.train.labels.narrow(0, 0, 1);
  data.test = data.validation;
  return data;
}

}  // namespace nos::tasks
