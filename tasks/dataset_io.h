// Internal to tasks/: what the data set readers share: errors naming a file or folder, FNV-1a fingerprints, the
// CIFAR-10 image geometry, the decoded-image cache (dataset_cache.cpp) and the seeded splits (dataset_splits.cpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "tasks/datasets.h"

namespace nos::tasks::dataset_io {

// nos::UserErrors naming what was read: "data file PATH: WHAT" and "data folder PATH: WHAT".
[[noreturn]] void data_error(const std::string& path, const std::string& what);
[[noreturn]] void folder_error(const std::string& path, const std::string& what);

// The text of an errno value.
std::string errno_text(int code);

// A missing path and a path that is not a regular file get different messages: the second is usually a typo.
void require_file(const std::string& path, const std::string& hint);

// A count with thousands separators: 60,000.
std::string with_commas(int64_t n);

// FNV-1a, 64 bits: the fingerprint of a JPEG folder and the name of its cache file. Not cryptographic; it only has
// to notice that files were added, removed, renamed, resized or rewritten.
inline constexpr uint64_t kFnvOffset = 1469598103934665603ULL;

void mix(uint64_t& h, const void* data, size_t n);

// The string and a terminator, so that ("ab","c") and ("a","bc") differ.
void mix_string(uint64_t& h, const std::string& s);

template <typename T>
void mix_value(uint64_t& h, T value) {
  mix(h, &value, sizeof value);
}

// A C file, closed when this goes out of scope.
struct FileCloser {
  std::FILE* file;
  ~FileCloser() {
    if (file != nullptr) std::fclose(file);
  }
};

// CIFAR-10's geometry: 32x32 images of three planes; a record of the binary release is a label byte and the pixels.
inline constexpr int64_t kCifarSide = 32;
inline constexpr int64_t kCifarPixels = 3 * kCifarSide * kCifarSide;
inline constexpr int64_t kCifarRecord = 1 + kCifarPixels;

// The JPEGs of a folder {class}/*.jpg in label order and name order, and the fingerprint of their names, sizes and
// modification times that a decoded cache must match.
struct FolderListing {
  std::vector<std::string> files;
  std::vector<int64_t> labels;
  uint64_t fingerprint = kFnvOffset;
};

// Loads the cache when it is complete and matches the listing; any mismatch or damage means "rebuild", never an
// error, because the JPEGs are the data and the cache only saves time.
bool load_cache(const std::string& path, const FolderListing& listing, int64_t num_classes, Dataset& out);

// Writes to a temporary file beside the cache and renames it over the cache, so that a reader (another process,
// or this one after a crash) sees the old cache or the whole new one, never half of one.
bool save_cache(const std::string& path, uint64_t fingerprint, const Dataset& d);

// Carves s.validation and s.train from full_train by o.split over a seeded permutation of n images, with v the
// validation size (default_validation D for -1) and t the training size: legacy and selection validate on the first
// v, confirmation on the last v. Legacy trains on the next t (all the rest for -1); selection on the next t too but
// never on the last D (the default confirmation block: a selection child never trains on a confirmation image);
// confirmation on the first t (all before its validation for -1). UserErrors name a size that does not fit.
void split(DataSplits& s, const Dataset& full_train, const DataOptions& o, int64_t default_validation);

// "; N train / N validation (split seed S[, confirmation images]) / N test": the end of a provenance line.
std::string sizes_line(const DataSplits& s, const DataOptions& o);

}  // namespace nos::tasks::dataset_io
