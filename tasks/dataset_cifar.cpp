// CIFAR-10's files: the binary release's records, and JPEG folders {class}/*.jpg (decoded with libjpeg, or read
// from their decoded cache).
#include "tasks/datasets.h"

#include <jpeglib.h>
#include <sys/stat.h>

#include <ATen/Parallel.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <system_error>

#include "common/error.h"
#include "tasks/dataset_io.h"

namespace nos::tasks {

namespace fs = std::filesystem;
using dataset_io::data_error;
using dataset_io::errno_text;
using dataset_io::FileCloser;
using dataset_io::FolderListing;
using dataset_io::folder_error;
using dataset_io::kCifarPixels;
using dataset_io::kCifarRecord;
using dataset_io::kCifarSide;
using dataset_io::load_cache;
using dataset_io::mix_string;
using dataset_io::mix_value;
using dataset_io::require_file;
using dataset_io::save_cache;
using dataset_io::with_commas;

Dataset read_cifar_binary(const std::vector<std::string>& files) {
  NOS_CHECK(!files.empty(), "read_cifar_binary needs at least one file");
  std::vector<torch::Tensor> images, labels;
  for (const std::string& path : files) {
    require_file(path, "the CIFAR-10 binary version has data_batch_1.bin ... data_batch_5.bin and test_batch.bin");
    std::error_code ec;
    const int64_t bytes = static_cast<int64_t>(fs::file_size(path, ec));
    if (ec) data_error(path, "cannot be read (" + ec.message() + ")");
    if (bytes == 0) data_error(path, "is empty");
    if (bytes % kCifarRecord != 0) {
      data_error(path, "has " + with_commas(bytes) + " bytes, not a whole number of 3,073-byte records (1 label "
                       "byte + 3,072 pixel bytes): truncated, or not the CIFAR-10 binary version (CIFAR-100's "
                       "records have 3,074 bytes)");
    }
    const int64_t n = bytes / kCifarRecord;
    torch::Tensor records = torch::empty({n, kCifarRecord}, torch::kUInt8);
    FileCloser f{std::fopen(path.c_str(), "rb")};
    if (f.file == nullptr) data_error(path, "cannot be opened (" + errno_text(errno) + ")");
    if (std::fread(records.data_ptr<uint8_t>(), 1, static_cast<size_t>(bytes), f.file) !=
        static_cast<size_t>(bytes)) {
      data_error(path, "could not be read to its end (" + errno_text(errno) + ")");
    }
    const uint8_t* r = records.data_ptr<uint8_t>();
    for (int64_t i = 0; i < n; ++i) {
      if (r[i * kCifarRecord] > 9) {
        data_error(path, "record " + std::to_string(i) + " has label byte " + std::to_string(r[i * kCifarRecord]) +
                             ", out of range (CIFAR-10 labels are 0..9; not a CIFAR-10 file, or damaged)");
      }
    }
    labels.push_back(records.select(1, 0).to(torch::kInt64));
    images.push_back(records.narrow(1, 1, kCifarPixels).reshape({n, 3, kCifarSide, kCifarSide}));
  }
  Dataset d;
  d.images = torch::cat(images);
  d.labels = torch::cat(labels);
  return d;
}

// ---- JPEG folders -----------------------------------------------------------------------------------------------

namespace {

struct JpegErrorManager {
  jpeg_error_mgr pub;  // first member: libjpeg hands back a pointer to it
  jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
};

[[noreturn]] void on_jpeg_error(j_common_ptr cinfo) {
  auto* err = reinterpret_cast<JpegErrorManager*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, err->message);
  std::longjmp(err->jump, 1);
}

// libjpeg only warns about damaged data ("Premature end of JPEG file") and fills in grey; a damaged training
// image is better reported than learned from, so warnings (level -1) stop decoding too, as TurboJPEG's
// TJFLAG_STOPONWARNING does. Trace messages (level >= 0) are ignored.
void on_jpeg_message(j_common_ptr cinfo, int level) {
  if (level < 0) on_jpeg_error(cinfo);
}

enum class DecodeStatus { kOk, kLibjpegError, kWrongSize };

// Decodes a JPEG into interleaved RGB `rgb` (height·width·3 bytes, caller-owned). Only trivially destructible
// locals live here, because libjpeg's errors longjmp back into this frame and would skip C++ destructors.
DecodeStatus decode_jpeg_rgb(const uint8_t* data, size_t size, uint8_t* rgb, int64_t height, int64_t width,
                             JpegErrorManager& err, int64_t& got_height, int64_t& got_width) {
  jpeg_decompress_struct cinfo;
  std::memset(&cinfo, 0, sizeof cinfo);  // jpeg_destroy_decompress is then safe even if creation failed
  cinfo.err = jpeg_std_error(&err.pub);
  err.pub.error_exit = on_jpeg_error;
  err.pub.emit_message = on_jpeg_message;
  err.message[0] = '\0';
  if (setjmp(err.jump)) {
    jpeg_destroy_decompress(&cinfo);
    return DecodeStatus::kLibjpegError;
  }
  jpeg_create_decompress(&cinfo);
  jpeg_mem_src(&cinfo, data, static_cast<unsigned long>(size));
  jpeg_read_header(&cinfo, TRUE);
  got_height = cinfo.image_height;
  got_width = cinfo.image_width;
  if (got_height != height || got_width != width) {
    jpeg_destroy_decompress(&cinfo);
    return DecodeStatus::kWrongSize;
  }
  cinfo.out_color_space = JCS_RGB;  // grey JPEGs are expanded to three equal channels
  jpeg_start_decompress(&cinfo);
  while (cinfo.output_scanline < cinfo.output_height) {
    JSAMPROW row = rgb + static_cast<int64_t>(cinfo.output_scanline) * width * 3;
    jpeg_read_scanlines(&cinfo, &row, 1);
  }
  jpeg_finish_decompress(&cinfo);
  jpeg_destroy_decompress(&cinfo);
  return DecodeStatus::kOk;
}

// Reads a whole file; an empty string on success, else what went wrong (used inside the parallel decode).
std::string read_bytes(const std::string& path, std::vector<uint8_t>& out) {
  FileCloser f{std::fopen(path.c_str(), "rb")};
  if (f.file == nullptr) return "cannot be opened";
  out.clear();
  uint8_t buf[16384];
  size_t n = 0;
  while ((n = std::fread(buf, 1, sizeof buf, f.file)) > 0) out.insert(out.end(), buf, buf + n);
  if (std::ferror(f.file)) return "cannot be read";
  return "";
}

// Decodes one 32x32 JPEG file into `out` (3·32·32 bytes, channel-major like the binary release); an empty string
// on success, else the reason.
std::string decode_file(const std::string& path, uint8_t* out, std::vector<uint8_t>& bytes,
                        std::vector<uint8_t>& rgb) {
  std::string why = read_bytes(path, bytes);
  if (!why.empty()) return why;
  if (bytes.empty()) return "is empty (0 bytes), not a JPEG";
  rgb.resize(static_cast<size_t>(kCifarPixels));
  JpegErrorManager err;
  int64_t h = 0, w = 0;
  switch (decode_jpeg_rgb(bytes.data(), bytes.size(), rgb.data(), kCifarSide, kCifarSide, err, h, w)) {
    case DecodeStatus::kOk:
      break;
    case DecodeStatus::kLibjpegError:
      return std::string("is a corrupt or truncated JPEG (libjpeg: ") + err.message + ")";
    case DecodeStatus::kWrongSize:
      return "is " + std::to_string(w) + "x" + std::to_string(h) + " pixels; CIFAR-10 images are 32x32";
  }
  constexpr int64_t kPlane = kCifarSide * kCifarSide;
  for (int64_t p = 0; p < kPlane; ++p) {
    for (int64_t c = 0; c < 3; ++c) out[c * kPlane + p] = rgb[static_cast<size_t>(p * 3 + c)];
  }
  return "";
}

bool is_jpeg_name(const fs::path& p) {
  std::string ext = p.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char ch) { return std::tolower(ch); });
  return ext == ".jpg" || ext == ".jpeg";
}

FolderListing list_folder(const std::string& dir, const std::vector<std::string>& classes) {
  if (!fs::exists(dir)) folder_error(dir, "not found (expected <class>/*.jpg inside)");
  if (!fs::is_directory(dir)) folder_error(dir, "is not a folder (expected <class>/*.jpg inside)");
  FolderListing listing;
  // The cache format and image geometry are part of the fingerprint, so a change to either invalidates old caches.
  mix_string(listing.fingerprint, "nos image folder v1, 3x32x32 uint8 channel-major");
  for (size_t c = 0; c < classes.size(); ++c) {
    const fs::path folder = fs::path(dir) / classes[c];
    if (!fs::is_directory(folder)) {
      std::string all;
      for (const std::string& name : classes) all += (all.empty() ? "" : ", ") + name;
      folder_error(folder.string(),
                   "missing: every class needs a folder of JPEGs (classes in label order: " + all + ")");
    }
    std::vector<fs::path> names;
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(folder, ec)) {
      if (entry.is_regular_file() && is_jpeg_name(entry.path())) names.push_back(entry.path());
    }
    if (ec) folder_error(folder.string(), "cannot be listed (" + ec.message() + ")");
    std::sort(names.begin(), names.end());
    if (names.empty()) folder_error(folder.string(), "holds no .jpg files");
    mix_string(listing.fingerprint, classes[c]);
    for (const fs::path& name : names) {
      // One stat per file for both size and time: listing 60,000 files is most of a cached load.
      struct stat st;
      if (::stat(name.c_str(), &st) != 0) data_error(name.string(), "cannot be read (" + errno_text(errno) + ")");
      const int64_t size = st.st_size;
      const int64_t mtime = int64_t(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
      mix_string(listing.fingerprint, name.filename().string());
      mix_value(listing.fingerprint, size);
      mix_value(listing.fingerprint, mtime);
      listing.files.push_back(name.string());
      listing.labels.push_back(static_cast<int64_t>(c));
    }
  }
  return listing;
}

}  // namespace

Dataset read_image_folder(const std::string& dir, const std::vector<std::string>& classes,
                          const std::string& cache_file, CacheOutcome* outcome) {
  const FolderListing listing = list_folder(dir, classes);
  const int64_t num_classes = static_cast<int64_t>(classes.size());
  Dataset d;
  if (!cache_file.empty() && load_cache(cache_file, listing, num_classes, d)) {
    if (outcome != nullptr) *outcome = CacheOutcome::kLoaded;
    return d;
  }
  const int64_t n = static_cast<int64_t>(listing.files.size());
  d.images = torch::empty({n, 3, kCifarSide, kCifarSide}, torch::kUInt8);
  d.labels = torch::tensor(listing.labels, torch::kInt64);
  uint8_t* base = d.images.data_ptr<uint8_t>();
  std::vector<std::string> errors(static_cast<size_t>(n));
  // Decoding is independent per file; errors are collected rather than thrown, since an exception may not leave
  // a parallel region, and the first failing file (in listing order) is reported whatever the thread count.
  at::parallel_for(0, n, 64, [&](int64_t begin, int64_t end) {
    std::vector<uint8_t> bytes, rgb;
    for (int64_t i = begin; i < end; ++i) {
      errors[static_cast<size_t>(i)] = decode_file(listing.files[static_cast<size_t>(i)], base + i * kCifarPixels,
                                                   bytes, rgb);
    }
  });
  int64_t failed = 0;
  int64_t first = -1;
  for (int64_t i = 0; i < n; ++i) {
    if (!errors[static_cast<size_t>(i)].empty()) {
      ++failed;
      if (first < 0) first = i;
    }
  }
  if (first >= 0) {
    data_error(listing.files[static_cast<size_t>(first)],
               errors[static_cast<size_t>(first)] +
                   (failed > 1 ? " (and " + with_commas(failed - 1) + " more bad files in " + dir + ")" : ""));
  }
  CacheOutcome result = CacheOutcome::kNotUsed;
  if (!cache_file.empty()) {
    result = save_cache(cache_file, listing.fingerprint, d) ? CacheOutcome::kRebuilt : CacheOutcome::kWriteFailed;
  }
  if (outcome != nullptr) *outcome = result;
  return d;
}

const std::vector<std::string>& cifar10_classes() {
  static const std::vector<std::string> names = {"airplane", "automobile", "bird",  "cat",  "deer",
                                                 "dog",      "frog",       "horse", "ship", "truck"};
  return names;
}

}  // namespace nos::tasks
