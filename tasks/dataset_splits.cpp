// The seeded splits: a validation set and a training subset carved from a data set's training images.
#include "tasks/dataset_io.h"

#include <algorithm>
#include <cstdint>
#include <random>

#include "common/error.h"

namespace nos::tasks {
namespace dataset_io {
namespace {

Dataset take(const Dataset& d, const std::vector<int64_t>& index, size_t begin, size_t count) {
  torch::Tensor idx = torch::tensor(std::vector<int64_t>(index.begin() + static_cast<std::ptrdiff_t>(begin),
                                                         index.begin() + static_cast<std::ptrdiff_t>(begin + count)),
                                    torch::kInt64);
  return Dataset{d.images.index_select(0, idx), d.labels.index_select(0, idx)};
}

// Fisher–Yates with std::mt19937_64, whose output the C++ standard fixes, and our own unbiased bounded draw
// (std::uniform_int_distribution differs between standard libraries): the split is the same on every platform and
// LibTorch version, so a reward measured on it can be compared across machines.
std::vector<int64_t> seeded_permutation(int64_t n, uint64_t seed) {
  std::vector<int64_t> perm(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) perm[static_cast<size_t>(i)] = i;
  std::mt19937_64 rng(seed);
  for (int64_t i = n - 1; i > 0; --i) {
    const uint64_t bound = static_cast<uint64_t>(i) + 1;
    const uint64_t limit = UINT64_MAX - UINT64_MAX % bound;
    uint64_t x = rng();
    while (x >= limit) x = rng();
    std::swap(perm[static_cast<size_t>(i)], perm[static_cast<size_t>(x % bound)]);
  }
  return perm;
}

}  // namespace
}  // namespace dataset_io

const std::vector<std::string>& split_names() {
  static const std::vector<std::string> names = {"selection", "confirmation", "legacy"};
  return names;
}

namespace dataset_io {

void split(DataSplits& s, const Dataset& full_train, const DataOptions& o, int64_t default_validation) {
  const int64_t n = full_train.size();
  const std::vector<std::string>& names = split_names();
  if (std::find(names.begin(), names.end(), o.split) == names.end()) {
    throw UserError("split '" + o.split + "' is unknown (expected selection, confirmation or legacy)");
  }
  if (o.validation_size < -1) {
    throw UserError("validation_size " + std::to_string(o.validation_size) +
                    " is invalid: give a count >= 0, or -1 for the default (" + with_commas(default_validation) +
                    ")");
  }
  if (o.train_size == 0 || o.train_size < -1) {
    throw UserError("train_size " + std::to_string(o.train_size) +
                    " is invalid: give a count >= 1, or -1 for all training images left after the validation split");
  }
  const int64_t v = o.validation_size < 0 ? default_validation : o.validation_size;
  if (v >= n) {
    throw UserError("validation_size " + with_commas(v) + " leaves no training images (the " + s.name +
                    " training set has " + with_commas(n) + ")");
  }
  // Selection children never train on the default confirmation block (the permutation's last D images) where the
  // data set holds both blocks and more (every real one; a small test fixture may not).
  const int64_t reserved = o.split == "selection" && v + default_validation < n ? default_validation : 0;
  const int64_t rest = n - v - reserved;
  if (o.train_size > rest) {
    throw UserError("train_size " + with_commas(o.train_size) + " exceeds the " + with_commas(rest) +
                    " training images left after the " + with_commas(v) + "-image validation split" +
                    (reserved > 0 ? " and the " + with_commas(reserved) + " confirmation images" : std::string()));
  }
  const int64_t t = o.train_size < 0 ? rest : o.train_size;
  // Legacy and selection validate on the first v images whatever train_size is, so proxies of different sizes are
  // scored on the same validation set; confirmation on the last v.
  const std::vector<int64_t> perm = seeded_permutation(n, o.split_seed);
  const bool tail = o.split == "confirmation";
  s.validation = take(full_train, perm, static_cast<size_t>(tail ? n - v : 0), static_cast<size_t>(v));
  s.train = take(full_train, perm, static_cast<size_t>(tail ? 0 : v), static_cast<size_t>(t));
}

std::string sizes_line(const DataSplits& s, const DataOptions& o) {
  const std::string purpose = o.split == "legacy" ? "" : ", " + o.split + " images";
  return "; " + with_commas(s.train.size()) + " train / " + with_commas(s.validation.size()) +
         " validation (split seed " + std::to_string(o.split_seed) + purpose + ") / " + with_commas(s.test.size()) +
         " test";
}

}  // namespace dataset_io
}  // namespace nos::tasks
