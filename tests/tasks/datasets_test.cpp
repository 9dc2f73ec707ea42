// Tests of the data layer on tiny fixtures: IDX, CIFAR-10 binary and JPEG readers, the decoded cache, splits,
// normalisation, augmentation, and one negative test per data error.
#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <set>
#include <string>
#include <vector>

#include "common/error.h"
#include "common/text.h"
#include "tasks/dataset_io.h"
#include "tasks/datasets.h"
#include "tasks/evaluator.h"
#include "tasks/models.h"
#include "tests/tasks/fixtures.h"

namespace nos::tasks {
namespace {

using fixtures::TempDir;
namespace fs = std::filesystem;

// The message of the UserError that `f` throws (a test failure when it throws none).
template <typename F>
std::string user_error(F&& f) {
  try {
    f();
  } catch (const UserError& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected a nos::UserError";
  return "";
}

::testing::AssertionResult contains(const std::string& text, const std::string& part) {
  if (text.find(part) != std::string::npos) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "'" << text << "' does not contain '" << part << "'";
}

std::vector<uint8_t> iota_bytes(size_t n, int start = 0) {
  std::vector<uint8_t> out(n);
  for (size_t i = 0; i < n; ++i) out[i] = static_cast<uint8_t>((start + static_cast<int>(i)) % 256);
  return out;
}

torch::Tensor as_tensor(const std::vector<uint8_t>& planar) {
  return torch::tensor(std::vector<int64_t>(planar.begin(), planar.end()), torch::kInt64).view({3, 32, 32});
}

int64_t max_abs_diff(const torch::Tensor& a, const torch::Tensor& b) {
  return (a.to(torch::kInt64) - b.to(torch::kInt64)).abs().max().item<int64_t>();
}

// ---- Fashion-MNIST IDX ------------------------------------------------------------------------------------------

// A Fashion-MNIST-shaped folder: `train` and `test` images of h x w with pixel bytes counting up, labels i % 10.
void write_fmnist(const fs::path& dir, int train, int test, uint32_t h = 4, uint32_t w = 3) {
  auto pair = [&](const std::string& prefix, int n) {
    fixtures::write_gz((dir / (prefix + "-images-idx3-ubyte.gz")).string(),
                       fixtures::idx_bytes(0x803, {uint32_t(n), h, w}, iota_bytes(size_t(n) * h * w)));
    std::vector<uint8_t> labels(static_cast<size_t>(n));
    for (int i = 0; i < n; ++i) labels[static_cast<size_t>(i)] = static_cast<uint8_t>(i % 10);
    fixtures::write_gz((dir / (prefix + "-labels-idx1-ubyte.gz")).string(),
                       fixtures::idx_bytes(0x801, {uint32_t(n)}, labels));
  };
  pair("train", train);
  pair("t10k", test);
}

TEST(IdxReader, ReadsImagesAndLabelsFromGzip) {
  TempDir tmp;
  const std::vector<uint8_t> pixels = iota_bytes(5 * 4 * 3, 7);
  const std::vector<uint8_t> labels = {3, 0, 9, 1, 5};
  fixtures::write_gz(tmp / "img.gz", fixtures::idx_bytes(0x803, {5, 4, 3}, pixels));
  fixtures::write_gz(tmp / "lab.gz", fixtures::idx_bytes(0x801, {5}, labels));
  Dataset d = read_idx_gz(tmp / "img.gz", tmp / "lab.gz");
  ASSERT_EQ(d.images.sizes(), (std::vector<int64_t>{5, 1, 4, 3}));
  EXPECT_EQ(d.images.scalar_type(), torch::kUInt8);
  EXPECT_EQ(d.labels.scalar_type(), torch::kInt64);
  EXPECT_EQ(d.size(), 5);
  // Row-major: image i, row y, column x is byte 16 + i·12 + y·3 + x of the file.
  EXPECT_EQ(d.images[2][0][1][2].item<int64_t>(), 7 + 2 * 12 + 1 * 3 + 2);
  EXPECT_TRUE(torch::equal(d.images.flatten(), torch::tensor(std::vector<int64_t>(pixels.begin(), pixels.end()))
                                                   .to(torch::kUInt8)));
  EXPECT_TRUE(torch::equal(d.labels, torch::tensor({3, 0, 9, 1, 5}, torch::kInt64)));
}

TEST(IdxReader, ReadsUncompressedFilesToo) {
  TempDir tmp;
  fixtures::write_bytes(tmp / "img", fixtures::idx_bytes(0x803, {2, 2, 2}, iota_bytes(8)));
  fixtures::write_bytes(tmp / "lab", fixtures::idx_bytes(0x801, {2}, {4, 2}));
  Dataset d = read_idx_gz(tmp / "img", tmp / "lab");
  EXPECT_EQ(d.images.sizes(), (std::vector<int64_t>{2, 1, 2, 2}));
  EXPECT_EQ(d.labels[1].item<int64_t>(), 2);
}

TEST(IdxReader, LoadDatasetSplitsFashionMnist) {
  TempDir tmp;
  write_fmnist(tmp.path(), 30, 8, 6, 5);
  DataOptions o;
  o.data_dir = tmp.path().string();
  o.validation_size = 10;
  DataSplits s = load_dataset("fmnist", o);
  EXPECT_EQ(s.name, "fmnist");
  EXPECT_EQ(s.num_classes, 10);
  EXPECT_EQ(s.train.size(), 20);
  EXPECT_EQ(s.validation.size(), 10);
  EXPECT_EQ(s.test.size(), 8);
  EXPECT_EQ(s.train.images.sizes(), (std::vector<int64_t>{20, 1, 6, 5}));
  EXPECT_TRUE(contains(s.provenance, tmp.path().string()));
  EXPECT_TRUE(contains(s.provenance, "20 train / 10 validation"));
}

// ---- Splits by purpose ------------------------------------------------------------------------------------------

// The images (their numbers: image i is the value i) of a split part, as a set.
std::set<int64_t> image_ids(const Dataset& d) {
  const torch::Tensor flat = d.images.flatten().contiguous();
  return std::set<int64_t>(flat.data_ptr<int64_t>(), flat.data_ptr<int64_t>() + flat.numel());
}

size_t shared(const std::set<int64_t>& a, const std::set<int64_t>& b) {
  size_t n = 0;
  for (int64_t x : a) n += b.count(x);
  return n;
}

// A Fashion-MNIST-sized training set (60,000 numbered images, the default confirmation block of 10,000): a search's
// selection images, the images its children train on, and a confirmation's validation images never meet; the
// selection split of a small proxy is the legacy split, so old searches' selection images are today's.
TEST(DataSplits, SelectionAndConfirmationNeverShareAnImage) {
  const int64_t n = 60000, d = 10000;
  const Dataset full{torch::arange(n, torch::kInt64).view({n, 1, 1, 1}), torch::zeros({n}, torch::kInt64)};
  auto carve = [&](const std::string& split, int64_t validation, int64_t train) {
    DataSplits s;
    s.name = "fmnist";
    DataOptions o;
    o.split = split;
    o.validation_size = validation;
    o.train_size = train;
    dataset_io::split(s, full, o, d);
    return s;
  };
  const DataSplits selection = carve("selection", 2000, -1), confirmation = carve("confirmation", 10000, -1);
  EXPECT_EQ(selection.validation.size(), 2000);
  EXPECT_EQ(selection.train.size(), n - 2000 - d);  // the confirmation block is never a selection child's
  EXPECT_EQ(confirmation.validation.size(), 10000);
  EXPECT_EQ(confirmation.train.size(), n - 10000);
  const std::set<int64_t> confirm = image_ids(confirmation.validation);
  EXPECT_EQ(shared(image_ids(selection.validation), confirm), 0u);
  EXPECT_EQ(shared(image_ids(selection.train), confirm), 0u);
  EXPECT_EQ(shared(image_ids(confirmation.train), confirm), 0u);
  EXPECT_EQ(shared(image_ids(selection.train), image_ids(selection.validation)), 0u);
  // The search-fmnist proxy (2,000 validation, 4,000 training images): legacy and selection are the same split, and
  // a confirmation of its rules (5,000 validation images, as its funnel) shares no image with its selection.
  const DataSplits legacy = carve("legacy", 2000, 4000), proxy = carve("selection", 2000, 4000);
  EXPECT_TRUE(torch::equal(legacy.validation.images, proxy.validation.images));
  EXPECT_TRUE(torch::equal(legacy.train.images, proxy.train.images));
  EXPECT_EQ(shared(image_ids(legacy.validation), image_ids(carve("confirmation", 5000, 20000).validation)), 0u);
  // The legacy funnel validated on the head: the search's selection images among its own.
  EXPECT_EQ(shared(image_ids(legacy.validation), image_ids(carve("legacy", 5000, 20000).validation)), 2000u);
  // Sizes that do not fit name the reserved block; an unknown policy is named.
  EXPECT_TRUE(contains(user_error([&] { carve("selection", 2000, 50000); }), "10,000 confirmation images"));
  EXPECT_TRUE(contains(user_error([&] { carve("purpose", 2000, 100); }), "split 'purpose' is unknown"));
}

TEST(IdxErrors, MissingFileIsNamed) {
  TempDir tmp;
  fixtures::write_gz(tmp / "lab.gz", fixtures::idx_bytes(0x801, {1}, {0}));
  const std::string msg = user_error([&] { read_idx_gz(tmp / "nope.gz", tmp / "lab.gz"); });
  EXPECT_TRUE(contains(msg, tmp / "nope.gz"));
  EXPECT_TRUE(contains(msg, "not found"));
}

TEST(IdxErrors, MissingFolderNamesTheFirstFile) {
  TempDir tmp;
  DataOptions o;
  o.data_dir = tmp / "nowhere";
  const std::string msg = user_error([&] { load_dataset("fmnist", o); });
  EXPECT_TRUE(contains(msg, "train-images-idx3-ubyte.gz"));
  EXPECT_TRUE(contains(msg, "not found"));
}

TEST(IdxErrors, BadMagicIsNamed) {
  TempDir tmp;
  // A label file given where the images belong.
  fixtures::write_gz(tmp / "img.gz", fixtures::idx_bytes(0x801, {2}, {0, 1}));
  fixtures::write_gz(tmp / "lab.gz", fixtures::idx_bytes(0x801, {2}, {0, 1}));
  const std::string msg = user_error([&] { read_idx_gz(tmp / "img.gz", tmp / "lab.gz"); });
  EXPECT_TRUE(contains(msg, tmp / "img.gz"));
  EXPECT_TRUE(contains(msg, "bad magic number"));
  EXPECT_TRUE(contains(msg, "0x00000803"));
}

TEST(IdxErrors, TruncatedBodyIsNamed) {
  TempDir tmp;
  std::vector<uint8_t> bytes = fixtures::idx_bytes(0x803, {5, 4, 3}, iota_bytes(4 * 12));  // one image short
  fixtures::write_gz(tmp / "img.gz", bytes);
  fixtures::write_gz(tmp / "lab.gz", fixtures::idx_bytes(0x801, {5}, {0, 1, 2, 3, 4}));
  const std::string msg = user_error([&] { read_idx_gz(tmp / "img.gz", tmp / "lab.gz"); });
  EXPECT_TRUE(contains(msg, tmp / "img.gz"));
  EXPECT_TRUE(contains(msg, "is truncated"));
  EXPECT_TRUE(contains(msg, "promises 5 images of 4x3 (60 bytes after the header) but it holds only 48"));
}

TEST(IdxErrors, TruncatedHeaderIsNamed) {
  TempDir tmp;
  fixtures::write_gz(tmp / "img.gz", {0, 0, 8, 3, 0, 0});
  fixtures::write_gz(tmp / "lab.gz", fixtures::idx_bytes(0x801, {1}, {0}));
  const std::string msg = user_error([&] { read_idx_gz(tmp / "img.gz", tmp / "lab.gz"); });
  EXPECT_TRUE(contains(msg, tmp / "img.gz"));
  EXPECT_TRUE(contains(msg, "is truncated: 6 bytes, shorter than its 16-byte IDX header"));
}

TEST(IdxErrors, TruncatedGzipStreamIsNamed) {
  TempDir tmp;
  fixtures::write_gz(tmp / "full.gz", fixtures::idx_bytes(0x803, {50, 8, 8}, iota_bytes(50 * 64)));
  std::vector<uint8_t> gz = fixtures::read_bytes(tmp / "full.gz");
  gz.resize(gz.size() / 2);
  fixtures::write_bytes(tmp / "img.gz", gz);
  fixtures::write_gz(tmp / "lab.gz", fixtures::idx_bytes(0x801, {50}, std::vector<uint8_t>(50, 1)));
  const std::string msg = user_error([&] { read_idx_gz(tmp / "img.gz", tmp / "lab.gz"); });
  EXPECT_TRUE(contains(msg, tmp / "img.gz"));
  EXPECT_TRUE(contains(msg, "damaged or truncated gzip file"));
}

TEST(IdxErrors, LabelOutOfRangeIsNamed) {
  TempDir tmp;
  fixtures::write_gz(tmp / "img.gz", fixtures::idx_bytes(0x803, {3, 2, 2}, iota_bytes(12)));
  fixtures::write_gz(tmp / "lab.gz", fixtures::idx_bytes(0x801, {3}, {1, 2, 10}));
  const std::string msg = user_error([&] { read_idx_gz(tmp / "img.gz", tmp / "lab.gz"); });
  EXPECT_TRUE(contains(msg, tmp / "lab.gz"));
  EXPECT_TRUE(contains(msg, "has label 10 at position 2, out of range"));
}

TEST(IdxErrors, ImageAndLabelCountMismatchIsNamed) {
  TempDir tmp;
  fixtures::write_gz(tmp / "img.gz", fixtures::idx_bytes(0x803, {5, 2, 2}, iota_bytes(20)));
  fixtures::write_gz(tmp / "lab.gz", fixtures::idx_bytes(0x801, {4}, {0, 1, 2, 3}));
  const std::string msg = user_error([&] { read_idx_gz(tmp / "img.gz", tmp / "lab.gz"); });
  EXPECT_TRUE(contains(msg, tmp / "lab.gz"));
  EXPECT_TRUE(contains(msg, "holds 4 labels but " + (tmp / "img.gz") + " holds 5 images"));
}

TEST(IdxErrors, TestImagesOfAnotherSizeAreNamed) {
  TempDir tmp;
  write_fmnist(tmp.path(), 12, 3, 4, 4);
  fixtures::write_gz(tmp / "t10k-images-idx3-ubyte.gz", fixtures::idx_bytes(0x803, {3, 5, 5}, iota_bytes(75)));
  DataOptions o;
  o.data_dir = tmp.path().string();
  o.validation_size = 2;
  const std::string msg = user_error([&] { load_dataset("fmnist", o); });
  EXPECT_TRUE(contains(msg, tmp / "t10k-images-idx3-ubyte.gz"));
  EXPECT_TRUE(contains(msg, "has images of 5x5 but"));
}

// ---- CIFAR-10 binary and JPEG -----------------------------------------------------------------------------------

// CIFAR-10 in both layouts from the same pattern images: `per_class` training images and one test image a class.
// The binary records follow the JPEG folder's order (class, then file name), so both loads see the same sequence.
struct CifarFixture {
  std::string binary_dir, jpeg_dir;
  std::vector<std::vector<uint8_t>> train_images, test_images;
  std::vector<uint8_t> train_labels, test_labels;
};

CifarFixture make_cifar(const TempDir& tmp, int per_class = 2) {
  CifarFixture f;
  f.binary_dir = tmp / "bin";
  f.jpeg_dir = tmp / "jpeg";
  const auto& classes = cifar10_classes();
  for (int c = 0; c < 10; ++c) {
    for (int k = 0; k < per_class; ++k) {
      const int id = c * per_class + k;
      f.train_images.push_back(fixtures::pattern_image(id));
      f.train_labels.push_back(static_cast<uint8_t>(c));
      char name[16];
      std::snprintf(name, sizeof name, "%04d.jpg", k);
      fixtures::write_jpeg((fs::path(f.jpeg_dir) / "train" / classes[c] / name).string(), f.train_images.back(), 32,
                           32);
    }
    f.test_images.push_back(fixtures::pattern_image(90 + c));
    f.test_labels.push_back(static_cast<uint8_t>(c));
    fixtures::write_jpeg((fs::path(f.jpeg_dir) / "test" / classes[c] / "0000.jpg").string(), f.test_images.back(), 32,
                         32);
  }
  // Five training batches of (nearly) equal size, as in the official release.
  const size_t n = f.train_images.size();
  for (size_t b = 0; b < 5; ++b) {
    const size_t begin = n * b / 5, end = n * (b + 1) / 5;
    fixtures::write_cifar_binary(
        (fs::path(f.binary_dir) / ("data_batch_" + std::to_string(b + 1) + ".bin")).string(),
        std::vector<uint8_t>(f.train_labels.begin() + begin, f.train_labels.begin() + end),
        std::vector<std::vector<uint8_t>>(f.train_images.begin() + begin, f.train_images.begin() + end));
  }
  fixtures::write_cifar_binary((fs::path(f.binary_dir) / "test_batch.bin").string(), f.test_labels, f.test_images);
  return f;
}

TEST(CifarBinary, ReadsRecordsChannelMajor) {
  TempDir tmp;
  std::vector<std::vector<uint8_t>> images;
  for (int i = 0; i < 5; ++i) images.push_back(iota_bytes(3072, 11 * i));
  fixtures::write_cifar_binary(tmp / "a.bin", {7, 0, 9}, {images[0], images[1], images[2]});
  fixtures::write_cifar_binary(tmp / "b.bin", {3, 5}, {images[3], images[4]});
  Dataset d = read_cifar_binary({tmp / "a.bin", tmp / "b.bin"});
  ASSERT_EQ(d.images.sizes(), (std::vector<int64_t>{5, 3, 32, 32}));
  EXPECT_TRUE(torch::equal(d.labels, torch::tensor({7, 0, 9, 3, 5}, torch::kInt64)));
  for (int i = 0; i < 5; ++i) {
    // Byte 1 + c·1024 + y·32 + x of a record is channel c (R, G, B) at row y, column x.
    EXPECT_EQ(d.images[i][2][5][17].item<int64_t>(), images[static_cast<size_t>(i)][2 * 1024 + 5 * 32 + 17]);
    EXPECT_TRUE(torch::equal(d.images[i].to(torch::kInt64), as_tensor(images[static_cast<size_t>(i)])));
  }
}

TEST(CifarBinary, LoadDatasetFindsTheReleaseFolderAndItsParent) {
  TempDir tmp;
  CifarFixture f = make_cifar(tmp);
  fs::create_directories(tmp.path() / "parent");
  fs::rename(f.binary_dir, tmp.path() / "parent" / "cifar-10-batches-bin");
  DataOptions o;
  o.validation_size = 5;
  for (const std::string& dir : {tmp / "parent", tmp / "parent/cifar-10-batches-bin"}) {
    o.data_dir = dir;
    DataSplits s = load_dataset("cifar10", o);
    EXPECT_EQ(s.train.size(), 15);
    EXPECT_EQ(s.validation.size(), 5);
    EXPECT_EQ(s.test.size(), 10);
    EXPECT_TRUE(contains(s.provenance, "official binary release"));
    for (int c = 0; c < 10; ++c) {
      EXPECT_TRUE(torch::equal(s.test.images[c].to(torch::kInt64), as_tensor(f.test_images[static_cast<size_t>(c)])));
    }
  }
}

TEST(CifarBinaryErrors, MissingBatchIsNamed) {
  TempDir tmp;
  CifarFixture f = make_cifar(tmp);
  fs::remove(fs::path(f.binary_dir) / "data_batch_3.bin");
  DataOptions o;
  o.data_dir = f.binary_dir;
  const std::string msg = user_error([&] { load_dataset("cifar10", o); });
  EXPECT_TRUE(contains(msg, (fs::path(f.binary_dir) / "data_batch_3.bin").string()));
  EXPECT_TRUE(contains(msg, "not found"));
}

TEST(CifarBinaryErrors, WrongRecordSizeIsNamed) {
  TempDir tmp;
  std::vector<uint8_t> bytes(2 * 3073 + 1000, 1);
  fixtures::write_bytes(tmp / "data_batch_1.bin", bytes);
  const std::string msg = user_error([&] { read_cifar_binary({tmp / "data_batch_1.bin"}); });
  EXPECT_TRUE(contains(msg, tmp / "data_batch_1.bin"));
  EXPECT_TRUE(contains(msg, "has 7,146 bytes, not a whole number of 3,073-byte records"));
}

TEST(CifarBinaryErrors, CifarHundredRecordsAreRejected) {
  TempDir tmp;
  fixtures::write_bytes(tmp / "cifar100.bin", std::vector<uint8_t>(3074 * 2, 1));
  const std::string msg = user_error([&] { read_cifar_binary({tmp / "cifar100.bin"}); });
  EXPECT_TRUE(contains(msg, tmp / "cifar100.bin"));
  EXPECT_TRUE(contains(msg, "3,074"));
}

TEST(CifarBinaryErrors, EmptyFileIsNamed) {
  TempDir tmp;
  fixtures::write_bytes(tmp / "data_batch_1.bin", {});
  const std::string msg = user_error([&] { read_cifar_binary({tmp / "data_batch_1.bin"}); });
  EXPECT_TRUE(contains(msg, tmp / "data_batch_1.bin"));
  EXPECT_TRUE(contains(msg, "is empty"));
}

TEST(CifarBinaryErrors, LabelOutOfRangeIsNamed) {
  TempDir tmp;
  fixtures::write_cifar_binary(tmp / "data_batch_1.bin", {1, 10}, {iota_bytes(3072), iota_bytes(3072)});
  const std::string msg = user_error([&] { read_cifar_binary({tmp / "data_batch_1.bin"}); });
  EXPECT_TRUE(contains(msg, tmp / "data_batch_1.bin"));
  EXPECT_TRUE(contains(msg, "record 1 has label byte 10, out of range"));
}

TEST(CifarErrors, FolderWithNeitherLayoutIsNamed) {
  TempDir tmp;
  fs::create_directories(tmp.path() / "empty");
  DataOptions o;
  o.data_dir = tmp / "empty";
  std::string msg = user_error([&] { load_dataset("cifar10", o); });
  EXPECT_TRUE(contains(msg, tmp / "empty"));
  EXPECT_TRUE(contains(msg, "holds neither the CIFAR-10 binary release"));
  o.data_dir = tmp / "missing";
  msg = user_error([&] { load_dataset("cifar10", o); });
  EXPECT_TRUE(contains(msg, tmp / "missing"));
  EXPECT_TRUE(contains(msg, "not found"));
  o.data_dir.clear();
  EXPECT_TRUE(contains(user_error([&] { load_dataset("cifar10", o); }), "--data-dir"));
  EXPECT_TRUE(contains(user_error([&] { load_dataset("mnist", o); }), "unknown data set 'mnist'"));
}

TEST(JpegFolder, ClassNamesAreCifarLabelOrderAndAlphabetical) {
  std::vector<std::string> sorted = cifar10_classes();
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(sorted, cifar10_classes());
  EXPECT_EQ(cifar10_classes().front(), "airplane");
  EXPECT_EQ(cifar10_classes()[3], "cat");
  EXPECT_EQ(cifar10_classes().back(), "truck");
}

TEST(JpegFolder, DecodesSolidColoursWithLabelsFromClassPosition) {
  TempDir tmp;
  // Folders made in reverse order: labels must come from the class list, not from creation or listing order.
  const std::vector<std::string> classes = {"ant", "bee", "cow"};
  const uint8_t colours[3][3] = {{200, 30, 30}, {20, 180, 40}, {10, 20, 240}};
  for (int c = 2; c >= 0; --c) {
    for (int k = 1; k >= 0; --k) {
      fixtures::write_jpeg(tmp / (classes[c] + "/img" + std::to_string(k) + ".JPG"),
                           fixtures::solid_image(colours[c][0], colours[c][1], static_cast<uint8_t>(colours[c][2] - k)),
                           32, 32);
    }
  }
  fixtures::write_bytes(tmp / "cow/notes.txt", {'h', 'i'});  // not a JPEG: ignored
  CacheOutcome outcome = CacheOutcome::kLoaded;
  Dataset d = read_image_folder(tmp.path().string(), classes, "", &outcome);
  EXPECT_EQ(outcome, CacheOutcome::kNotUsed);
  ASSERT_EQ(d.images.sizes(), (std::vector<int64_t>{6, 3, 32, 32}));
  EXPECT_TRUE(torch::equal(d.labels, torch::tensor({0, 0, 1, 1, 2, 2}, torch::kInt64)));
  for (int i = 0; i < 6; ++i) {
    const int c = i / 2, k = i % 2;  // files in name order: img0 then img1
    for (int ch = 0; ch < 3; ++ch) {
      const int want = colours[c][ch] - (ch == 2 ? k : 0);
      const torch::Tensor plane = d.images[i][ch].to(torch::kInt64);
      EXPECT_LE((plane - want).abs().max().item<int64_t>(), 2) << "image " << i << " channel " << ch;
    }
  }
}

TEST(JpegFolder, BinaryAndJpegLayoutsAgreeWithinJpegError) {
  TempDir tmp;
  CifarFixture f = make_cifar(tmp);
  DataOptions o;
  o.validation_size = 4;
  o.split_seed = 3;
  o.data_dir = f.binary_dir;
  DataSplits bin = load_dataset("cifar10", o);
  o.data_dir = f.jpeg_dir;
  DataSplits jpg = load_dataset("cifar10", o);
  EXPECT_TRUE(contains(jpg.provenance, "JPEG copy"));
  EXPECT_TRUE(contains(jpg.provenance, "no decoded cache"));
  const std::vector<std::pair<const Dataset*, const Dataset*>> pairs = {
      {&bin.train, &jpg.train}, {&bin.validation, &jpg.validation}, {&bin.test, &jpg.test}};
  for (const auto& [b, j] : pairs) {
    ASSERT_EQ(b->images.sizes(), j->images.sizes());
    EXPECT_TRUE(torch::equal(b->labels, j->labels));
    // Quality 95 without chroma subsampling keeps these smooth images within a few levels.
    EXPECT_LE(max_abs_diff(b->images, j->images), 6);
  }
}

TEST(JpegCache, IsCreatedReusedAndRebuiltWhenAJpegChanges) {
  TempDir tmp;
  CifarFixture f = make_cifar(tmp);
  const std::string dir = (fs::path(f.jpeg_dir) / "train").string();
  const std::string cache = tmp / "cache/train.nosimg";
  CacheOutcome outcome = CacheOutcome::kNotUsed;
  Dataset first = read_image_folder(dir, cifar10_classes(), cache, &outcome);
  EXPECT_EQ(outcome, CacheOutcome::kRebuilt);
  ASSERT_TRUE(fs::exists(cache));
  // Written through a temporary file that was renamed: nothing else is left beside the cache.
  EXPECT_EQ(std::distance(fs::directory_iterator(tmp.path() / "cache"), fs::directory_iterator()), 1);

  Dataset second = read_image_folder(dir, cifar10_classes(), cache, &outcome);
  EXPECT_EQ(outcome, CacheOutcome::kLoaded);
  EXPECT_TRUE(torch::equal(first.images, second.images));
  EXPECT_TRUE(torch::equal(first.labels, second.labels));

  // Rewrite one image (new bytes, later modification time): the cache is stale and must be rebuilt.
  const fs::path changed = fs::path(dir) / "cat" / "0001.jpg";  // class 3, second image: index 7
  const auto old_time = fs::last_write_time(changed);
  fixtures::write_jpeg(changed.string(), fixtures::solid_image(250, 5, 128), 32, 32);
  fs::last_write_time(changed, old_time + std::chrono::seconds(5));
  Dataset third = read_image_folder(dir, cifar10_classes(), cache, &outcome);
  EXPECT_EQ(outcome, CacheOutcome::kRebuilt);
  EXPECT_LE((third.images[7][0].to(torch::kInt64) - 250).abs().max().item<int64_t>(), 2);
  EXPECT_LE((third.images[7][1].to(torch::kInt64) - 5).abs().max().item<int64_t>(), 2);
  EXPECT_EQ(max_abs_diff(third.images.narrow(0, 0, 7), first.images.narrow(0, 0, 7)), 0);
  Dataset fourth = read_image_folder(dir, cifar10_classes(), cache, &outcome);
  EXPECT_EQ(outcome, CacheOutcome::kLoaded);
  EXPECT_TRUE(torch::equal(third.images, fourth.images));
}

TEST(JpegCache, AddedOrRemovedFilesMakeItStale) {
  TempDir tmp;
  CifarFixture f = make_cifar(tmp);
  const std::string dir = (fs::path(f.jpeg_dir) / "test").string();
  const std::string cache = tmp / "test.nosimg";
  CacheOutcome outcome = CacheOutcome::kNotUsed;
  read_image_folder(dir, cifar10_classes(), cache, &outcome);
  fixtures::write_jpeg((fs::path(dir) / "dog" / "0001.jpg").string(), fixtures::solid_image(1, 2, 3), 32, 32);
  Dataset more = read_image_folder(dir, cifar10_classes(), cache, &outcome);
  EXPECT_EQ(outcome, CacheOutcome::kRebuilt);
  EXPECT_EQ(more.size(), 11);
  fs::remove(fs::path(dir) / "dog" / "0001.jpg");
  Dataset fewer = read_image_folder(dir, cifar10_classes(), cache, &outcome);
  EXPECT_EQ(outcome, CacheOutcome::kRebuilt);
  EXPECT_EQ(fewer.size(), 10);
}

TEST(JpegCache, ADamagedCacheIsRebuiltNotAnError) {
  TempDir tmp;
  CifarFixture f = make_cifar(tmp);
  const std::string dir = (fs::path(f.jpeg_dir) / "test").string();
  const std::string cache = tmp / "test.nosimg";
  CacheOutcome outcome = CacheOutcome::kNotUsed;
  Dataset good = read_image_folder(dir, cifar10_classes(), cache, &outcome);
  std::vector<uint8_t> bytes = fixtures::read_bytes(cache);
  bytes.resize(bytes.size() - 100);  // as if a copy was cut short
  fixtures::write_bytes(cache, bytes);
  Dataset again = read_image_folder(dir, cifar10_classes(), cache, &outcome);
  EXPECT_EQ(outcome, CacheOutcome::kRebuilt);
  EXPECT_TRUE(torch::equal(good.images, again.images));
  fixtures::write_bytes(cache, std::vector<uint8_t>(fs::file_size(cache), 0x5a));  // right size, wrong content
  again = read_image_folder(dir, cifar10_classes(), cache, &outcome);
  EXPECT_EQ(outcome, CacheOutcome::kRebuilt);
  EXPECT_TRUE(torch::equal(good.images, again.images));
}

TEST(JpegCache, UnwritableCacheOnlyCostsTime) {
  TempDir tmp;
  CifarFixture f = make_cifar(tmp);
  fixtures::write_bytes(tmp / "file", {1});
  CacheOutcome outcome = CacheOutcome::kNotUsed;
  // The cache's folder would have to be inside a regular file.
  Dataset d = read_image_folder((fs::path(f.jpeg_dir) / "test").string(), cifar10_classes(), tmp / "file/x.nosimg",
                                &outcome);
  EXPECT_EQ(outcome, CacheOutcome::kWriteFailed);
  EXPECT_EQ(d.size(), 10);
}

TEST(JpegCache, LoadDatasetReportsTheCacheInItsProvenance) {
  TempDir tmp;
  CifarFixture f = make_cifar(tmp);
  DataOptions o;
  o.data_dir = f.jpeg_dir;
  o.cache_dir = tmp / "cache";
  o.validation_size = 4;
  DataSplits first = load_dataset("cifar10", o);
  EXPECT_TRUE(contains(first.provenance, "rebuilt"));
  EXPECT_EQ(std::distance(fs::directory_iterator(o.cache_dir), fs::directory_iterator()), 2);  // train and test
  DataSplits second = load_dataset("cifar10", o);
  EXPECT_TRUE(contains(second.provenance, "train decoded cache"));
  EXPECT_TRUE(contains(second.provenance, "reused"));
  EXPECT_FALSE(contains(second.provenance, "rebuilt"));
  EXPECT_TRUE(torch::equal(first.train.images, second.train.images));
  EXPECT_TRUE(torch::equal(first.validation.labels, second.validation.labels));
}

TEST(JpegErrors, CorruptJpegIsNamed) {
  TempDir tmp;
  CifarFixture f = make_cifar(tmp);
  const std::string bad = (fs::path(f.jpeg_dir) / "train" / "deer" / "0001.jpg").string();
  fixtures::write_bytes(bad, {'n', 'o', 't', ' ', 'a', ' ', 'j', 'p', 'e', 'g'});
  const std::string msg =
      user_error([&] { read_image_folder((fs::path(f.jpeg_dir) / "train").string(), cifar10_classes(), ""); });
  EXPECT_TRUE(contains(msg, bad));
  EXPECT_TRUE(contains(msg, "is a corrupt or truncated JPEG (libjpeg: Not a JPEG file"));
}

TEST(JpegErrors, TruncatedJpegIsNamed) {
  TempDir tmp;
  CifarFixture f = make_cifar(tmp);
  const std::string bad = (fs::path(f.jpeg_dir) / "train" / "ship" / "0000.jpg").string();
  std::vector<uint8_t> bytes = fixtures::read_bytes(bad);
  bytes.resize(bytes.size() * 2 / 3);
  fixtures::write_bytes(bad, bytes);
  const std::string msg =
      user_error([&] { read_image_folder((fs::path(f.jpeg_dir) / "train").string(), cifar10_classes(), ""); });
  EXPECT_TRUE(contains(msg, bad));
  EXPECT_TRUE(contains(msg, "is a corrupt or truncated JPEG"));
}

TEST(JpegErrors, EmptyJpegIsNamed) {
  TempDir tmp;
  CifarFixture f = make_cifar(tmp);
  const std::string bad = (fs::path(f.jpeg_dir) / "test" / "bird" / "0000.jpg").string();
  fixtures::write_bytes(bad, {});
  const std::string msg =
      user_error([&] { read_image_folder((fs::path(f.jpeg_dir) / "test").string(), cifar10_classes(), ""); });
  EXPECT_TRUE(contains(msg, bad));
  EXPECT_TRUE(contains(msg, "is empty"));
}

TEST(JpegErrors, WrongImageSizeIsNamed) {
  TempDir tmp;
  CifarFixture f = make_cifar(tmp);
  const std::string bad = (fs::path(f.jpeg_dir) / "test" / "horse" / "0000.jpg").string();
  fixtures::write_jpeg(bad, fixtures::solid_image(9, 9, 9, 16), 16, 16);
  const std::string msg =
      user_error([&] { read_image_folder((fs::path(f.jpeg_dir) / "test").string(), cifar10_classes(), ""); });
  EXPECT_TRUE(contains(msg, bad));
  EXPECT_TRUE(contains(msg, "is 16x16 pixels; CIFAR-10 images are 32x32"));
}

TEST(JpegErrors, SeveralBadFilesReportTheFirstAndACount) {
  TempDir tmp;
  CifarFixture f = make_cifar(tmp);
  const fs::path test = fs::path(f.jpeg_dir) / "test";
  fixtures::write_bytes((test / "truck" / "0000.jpg").string(), {1, 2, 3});
  fixtures::write_bytes((test / "bird" / "0000.jpg").string(), {1, 2, 3});
  const std::string msg = user_error([&] { read_image_folder(test.string(), cifar10_classes(), ""); });
  EXPECT_TRUE(contains(msg, (test / "bird" / "0000.jpg").string()));
  EXPECT_TRUE(contains(msg, "(and 1 more bad files in"));
}

TEST(JpegErrors, MissingClassFolderIsNamed) {
  TempDir tmp;
  CifarFixture f = make_cifar(tmp);
  nos::testing::remove_tree((fs::path(f.jpeg_dir) / "train" / "frog").string());
  DataOptions o;
  o.data_dir = f.jpeg_dir;
  const std::string msg = user_error([&] { load_dataset("cifar10", o); });
  EXPECT_TRUE(contains(msg, (fs::path(f.jpeg_dir) / "train" / "frog").string()));
  EXPECT_TRUE(contains(msg, "missing: every class needs a folder of JPEGs"));
}

TEST(JpegErrors, EmptyClassFolderIsNamed) {
  TempDir tmp;
  CifarFixture f = make_cifar(tmp);
  fs::remove(fs::path(f.jpeg_dir) / "test" / "dog" / "0000.jpg");
  const std::string msg =
      user_error([&] { read_image_folder((fs::path(f.jpeg_dir) / "test").string(), cifar10_classes(), ""); });
  EXPECT_TRUE(contains(msg, (fs::path(f.jpeg_dir) / "test" / "dog").string()));
  EXPECT_TRUE(contains(msg, "holds no .jpg files"));
}

TEST(JpegErrors, MissingSplitFolderAndClassFolderGivenDirectlyAreNamed) {
  TempDir tmp;
  CifarFixture f = make_cifar(tmp);
  nos::testing::remove_tree((fs::path(f.jpeg_dir) / "test").string());
  DataOptions o;
  o.data_dir = f.jpeg_dir;
  std::string msg = user_error([&] { load_dataset("cifar10", o); });
  EXPECT_TRUE(contains(msg, (fs::path(f.jpeg_dir) / "test").string()));
  EXPECT_TRUE(contains(msg, "not found"));
  o.data_dir = (fs::path(f.jpeg_dir) / "train").string();
  msg = user_error([&] { load_dataset("cifar10", o); });
  EXPECT_TRUE(contains(msg, "give its parent"));
}

// ---- Splits -----------------------------------------------------------------------------------------------------

// The pattern id of every image (red at pixel (0, 0), exact in the binary layout).
std::vector<int64_t> ids(const Dataset& d) {
  torch::Tensor red = d.images.select(1, 0).select(1, 0).select(1, 0).to(torch::kInt64).contiguous();
  return std::vector<int64_t>(red.data_ptr<int64_t>(), red.data_ptr<int64_t>() + red.numel());
}

TEST(Split, IsDeterministicDisjointAndCoversTheTrainingSet) {
  TempDir tmp;
  CifarFixture f = make_cifar(tmp, 3);  // 30 training images, ids 0..29
  DataOptions o;
  o.data_dir = f.binary_dir;
  o.validation_size = 8;
  o.split_seed = 11;
  DataSplits a = load_dataset("cifar10", o);
  DataSplits b = load_dataset("cifar10", o);
  EXPECT_TRUE(torch::equal(a.train.images, b.train.images));
  EXPECT_TRUE(torch::equal(a.validation.images, b.validation.images));
  EXPECT_TRUE(torch::equal(a.validation.labels, b.validation.labels));

  std::vector<int64_t> train = ids(a.train), validation = ids(a.validation);
  EXPECT_EQ(train.size(), 22u);
  EXPECT_EQ(validation.size(), 8u);
  std::set<int64_t> all(train.begin(), train.end());
  for (int64_t id : validation) EXPECT_TRUE(all.insert(id).second) << "image " << id << " is in both splits";
  EXPECT_EQ(all.size(), 30u);
  EXPECT_EQ(*all.begin(), 0);
  EXPECT_EQ(*all.rbegin(), 29);
  // Labels travel with their images: image id belongs to class id / 3.
  for (size_t i = 0; i < validation.size(); ++i) EXPECT_EQ(a.validation.labels[i].item<int64_t>(), validation[i] / 3);

  o.split_seed = 12;
  DataSplits c = load_dataset("cifar10", o);
  EXPECT_NE(ids(c.validation), validation);
}

// The split comes from our own Fisher–Yates on std::mt19937_64, fixed by the C++ standard: these ids are what every
// platform and LibTorch version must produce (recorded from this implementation; a change breaks comparability of
// rewards across versions, so it must be deliberate).
TEST(Split, IsStableAcrossPlatforms) {
  TempDir tmp;
  CifarFixture f = make_cifar(tmp, 3);
  DataOptions o;
  o.data_dir = f.binary_dir;
  o.validation_size = 5;
  o.split_seed = 0;
  const std::vector<int64_t> validation = ids(load_dataset("cifar10", o).validation);
  EXPECT_EQ(validation, (std::vector<int64_t>{13, 10, 25, 26, 19}));
}

TEST(Split, TrainSizeTakesASubsetAndKeepsTheValidationSet) {
  TempDir tmp;
  CifarFixture f = make_cifar(tmp, 3);
  DataOptions o;
  o.data_dir = f.binary_dir;
  o.validation_size = 8;
  DataSplits full = load_dataset("cifar10", o);
  o.train_size = 7;
  DataSplits part = load_dataset("cifar10", o);
  EXPECT_EQ(part.train.size(), 7);
  EXPECT_EQ(part.train.images.sizes(), (std::vector<int64_t>{7, 3, 32, 32}));
  EXPECT_TRUE(torch::equal(part.validation.images, full.validation.images));
  EXPECT_TRUE(torch::equal(part.test.images, full.test.images));
  EXPECT_TRUE(torch::equal(part.train.images, full.train.images.narrow(0, 0, 7)));
  EXPECT_TRUE(torch::equal(part.train.labels, full.train.labels.narrow(0, 0, 7)));
  EXPECT_TRUE(contains(part.provenance, "7 train / 8 validation"));
}

TEST(Split, DefaultsAndZeroValidation) {
  TempDir tmp;
  write_fmnist(tmp.path(), 10012, 2, 2, 2);
  DataOptions o;
  o.data_dir = tmp.path().string();
  DataSplits s = load_dataset("fmnist", o);
  EXPECT_EQ(s.validation.size(), 10000);  // Fashion-MNIST's default
  EXPECT_EQ(s.train.size(), 12);
  o.validation_size = 0;
  s = load_dataset("fmnist", o);
  EXPECT_EQ(s.validation.size(), 0);
  EXPECT_EQ(s.validation.images.sizes(), (std::vector<int64_t>{0, 1, 2, 2}));
  EXPECT_EQ(s.train.size(), 10012);

  CifarFixture f = make_cifar(tmp, 1);  // 10 training images: the default 5,000 is too many
  DataOptions c;
  c.data_dir = f.binary_dir;
  EXPECT_TRUE(contains(user_error([&] { load_dataset("cifar10", c); }),
                       "validation_size 5,000 leaves no training images (the cifar10 training set has 10)"));
}

TEST(SplitErrors, BadSizesAreNamed) {
  TempDir tmp;
  CifarFixture f = make_cifar(tmp, 1);
  DataOptions o;
  o.data_dir = f.binary_dir;
  o.validation_size = 4;
  o.train_size = 7;
  EXPECT_TRUE(contains(user_error([&] { load_dataset("cifar10", o); }),
                       "train_size 7 exceeds the 6 training images left after the 4-image validation split"));
  o.train_size = 0;
  EXPECT_TRUE(contains(user_error([&] { load_dataset("cifar10", o); }), "train_size 0 is invalid"));
  o.train_size = -1;
  o.validation_size = -3;
  EXPECT_TRUE(contains(user_error([&] { load_dataset("cifar10", o); }), "validation_size -3 is invalid"));
  o.validation_size = 10;
  EXPECT_TRUE(contains(user_error([&] { load_dataset("cifar10", o); }), "validation_size 10 leaves no training"));
}

// ---- Normalisation and augmentation -----------------------------------------------------------------------------

TEST(Normalization, ChannelStatsOnAKnownFixture) {
  // Channel 0 holds 0 and 255 equally often: mean 0.5, std 0.5. Channel 1 is constant 51 = 0.2: std 1 by rule.
  // Channel 2 holds 0, 51, 102, 153 (0, 0.2, 0.4, 0.6): mean 0.3, population std sqrt(0.05).
  Dataset d;
  d.images = torch::tensor({0, 255, 51, 51, 0, 51, 255, 0, 51, 51, 102, 153}, torch::kUInt8).view({2, 3, 1, 2});
  d.labels = torch::zeros({2}, torch::kInt64);
  Normalization n = channel_stats(d);
  ASSERT_EQ(n.mean.size(), 3u);
  EXPECT_NEAR(n.mean[0], 0.5, 1e-12);
  EXPECT_NEAR(n.std[0], 0.5, 1e-12);
  EXPECT_NEAR(n.mean[1], 0.2, 1e-12);
  EXPECT_EQ(n.std[1], 1.0);
  EXPECT_NEAR(n.mean[2], 0.3, 1e-12);
  EXPECT_NEAR(n.std[2], std::sqrt(0.05), 1e-12);
}

TEST(Normalization, MatchesTensorArithmeticOnRandomImages) {
  torch::manual_seed(5);
  Dataset d;
  d.images = torch::randint(0, 256, {300, 3, 8, 8}, torch::kInt64).to(torch::kUInt8);
  d.labels = torch::zeros({300}, torch::kInt64);
  Normalization n = channel_stats(d);
  torch::Tensor x = d.images.to(torch::kFloat64) / 255.0;
  for (int c = 0; c < 3; ++c) {
    EXPECT_NEAR(n.mean[c], x.select(1, c).mean().item<double>(), 1e-12);
    EXPECT_NEAR(n.std[c], x.select(1, c).std(/*unbiased=*/false).item<double>(), 1e-12);
  }
}

TEST(Normalization, ToFloatBatchStandardisesEachChannel) {
  torch::manual_seed(6);
  const torch::Tensor images = torch::randint(0, 256, {4, 3, 5, 6}, torch::kInt64).to(torch::kUInt8);
  const Normalization n{{0.49, 0.48, 0.45}, {0.25, 0.24, 0.26}};
  const torch::Tensor want =
      (images.to(torch::kFloat64) / 255.0 - torch::tensor(n.mean, torch::kFloat64).view({1, 3, 1, 1})) /
      torch::tensor(n.std, torch::kFloat64).view({1, 3, 1, 1});
  const torch::Tensor f64 = to_float_batch(images, n, torch::kCPU, torch::kFloat64);
  EXPECT_EQ(f64.scalar_type(), torch::kFloat64);
  EXPECT_TRUE(torch::allclose(f64, want, 1e-12, 1e-12));
  const torch::Tensor f32 = to_float_batch(images, n, torch::kCPU, torch::kFloat32, torch::MemoryFormat::ChannelsLast);
  EXPECT_EQ(f32.scalar_type(), torch::kFloat32);
  EXPECT_TRUE(f32.is_contiguous(torch::MemoryFormat::ChannelsLast));
  EXPECT_TRUE(torch::allclose(f32.to(torch::kFloat64), want, 1e-6, 1e-6));
  // The input is left alone.
  EXPECT_EQ(images.scalar_type(), torch::kUInt8);
}

TEST(Augmentation, IsReproducibleForASeedAndKeepsTheShape) {
  torch::manual_seed(7);
  const torch::Tensor batch = torch::randn({16, 3, 32, 32});
  torch::Generator g1 = at::detail::createCPUGenerator(42);
  torch::Generator g2 = at::detail::createCPUGenerator(42);
  torch::Generator g3 = at::detail::createCPUGenerator(43);
  const torch::Tensor a = augment_batch(batch, g1);
  const torch::Tensor b = augment_batch(batch, g2);
  const torch::Tensor c = augment_batch(batch, g3);
  EXPECT_EQ(a.sizes(), batch.sizes());
  EXPECT_EQ(a.scalar_type(), batch.scalar_type());
  EXPECT_TRUE(torch::equal(a, b));
  EXPECT_FALSE(torch::equal(a, c));
  // The generator moves on: the next batch is augmented differently.
  EXPECT_FALSE(torch::equal(augment_batch(batch, g1), a));
  EXPECT_EQ(augment_batch(batch.narrow(0, 0, 0), g1).size(0), 0);
}

// Every output image is the input padded with zeros by 4, cropped at some offset and possibly mirrored; over 64
// images both mirror states and many offsets occur.
TEST(Augmentation, EachImageIsAPaddedCropOrItsMirror) {
  torch::manual_seed(8);
  const torch::Tensor batch = torch::rand({64, 3, 12, 10}) + 1.0;  // no zeros, so padding is recognisable
  torch::Generator gen = at::detail::createCPUGenerator(1);
  const torch::Tensor out = augment_batch(batch, gen);
  const torch::Tensor padded = torch::constant_pad_nd(batch, {4, 4, 4, 4}, 0.0);
  std::set<std::pair<int, int>> offsets;
  int flips = 0;
  for (int i = 0; i < 64; ++i) {
    bool found = false;
    for (int dy = 0; dy <= 8 && !found; ++dy) {
      for (int dx = 0; dx <= 8 && !found; ++dx) {
        const torch::Tensor crop = padded[i].narrow(1, dy, 12).narrow(2, dx, 10);
        for (int flip = 0; flip < 2 && !found; ++flip) {
          if (torch::equal(out[i], flip ? crop.flip({2}) : crop)) {
            found = true;
            offsets.insert({dy, dx});
            flips += flip;
          }
        }
      }
    }
    EXPECT_TRUE(found) << "image " << i << " is no padded crop of its input";
  }
  EXPECT_GT(flips, 16);
  EXPECT_LT(flips, 48);
  EXPECT_GT(offsets.size(), 20u);
}

TEST(Augmentation, KeepsChannelsLastLayout) {
  const torch::Tensor batch = torch::randn({4, 3, 8, 8}).contiguous(torch::MemoryFormat::ChannelsLast);
  torch::Generator gen = at::detail::createCPUGenerator(3);
  torch::Generator same = at::detail::createCPUGenerator(3);
  const torch::Tensor out = augment_batch(batch, gen);
  EXPECT_TRUE(out.is_contiguous(torch::MemoryFormat::ChannelsLast));
  EXPECT_TRUE(torch::equal(out, augment_batch(batch.contiguous(), same)));
}

// --- the registry -------------------------------------------------------------------------------------------------

TEST(DatasetRegistry, TaskNamesAcceptExactlyTheRows) {
  std::vector<std::string> names;
  for (const DatasetInfo& d : datasets()) {
    names.emplace_back(d.name);
    EXPECT_EQ(find_dataset(d.name), &d);
    for (const std::string& model : model_names()) {
      const TaskSpec spec = parse_task_name(std::string(d.name) + "-" + model);
      EXPECT_EQ(spec.dataset, d.name);
      EXPECT_EQ(spec.model, model);
    }
  }
  EXPECT_EQ(names, (std::vector<std::string>{"fmnist", "cifar10"}));
  EXPECT_EQ(dataset_names(), names);
  EXPECT_EQ(find_dataset("mnist"), nullptr);
  EXPECT_THROW(parse_task_name("mnist-convnet"), UserError);
  try {
    load_dataset("mnist", DataOptions{});
    FAIL() << "no error";
  } catch (const UserError& e) {
    EXPECT_EQ(std::string(e.what()), "unknown data set 'mnist' (known: " + joined(names) + ")");
  }
}

TEST(DatasetRegistry, DefaultValidationSizeComesFromTheRow) {
  TempDir tmp;
  write_fmnist(tmp.path(), 30, 8, 6, 5);
  DataOptions o;
  o.data_dir = tmp.path().string();
  try {
    load_dataset("fmnist", o);
    FAIL() << "no error";
  } catch (const UserError& e) {
    EXPECT_TRUE(contains(e.what(), "validation_size 10,000 leaves no training images")) << e.what();
  }
  EXPECT_EQ(find_dataset("fmnist")->validation_size, 10000);
  EXPECT_EQ(find_dataset("cifar10")->validation_size, 5000);
}

}  // namespace
}  // namespace nos::tasks
