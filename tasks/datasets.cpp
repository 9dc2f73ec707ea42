// Readers for Fashion-MNIST (IDX, gzip), CIFAR-10 (binary release, JPEG folders with a decoded cache), splits,
// normalisation and augmentation.
#include "tasks/datasets.h"

#include <fcntl.h>
#include <jpeglib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <cinttypes>
#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <random>
#include <system_error>

#include "common/text.h"
#include "common/error.h"

namespace nos::tasks {

namespace fs = std::filesystem;

namespace {

[[noreturn]] void data_error(const std::string& path, const std::string& what) {
  throw UserError("data file " + path + ": " + what);
}

[[noreturn]] void folder_error(const std::string& path, const std::string& what) {
  throw UserError("data folder " + path + ": " + what);
}

std::string errno_text(int code) { return std::generic_category().message(code); }

// A missing path and a path that is not a regular file get different messages: the second is usually a typo.
void require_file(const std::string& path, const std::string& hint) {
  std::error_code ec;
  fs::file_status st = fs::status(path, ec);
  if (!fs::exists(st)) data_error(path, "not found" + (hint.empty() ? std::string() : " (" + hint + ")"));
  if (!fs::is_regular_file(st)) data_error(path, "is not a regular file");
}

std::string with_commas(int64_t n) {
  std::string digits = std::to_string(n < 0 ? -n : n), out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return n < 0 ? "-" + out : out;
}

// FNV-1a, 64 bits: the fingerprint of a JPEG folder and the name of its cache file. Not cryptographic; it only has
// to notice that files were added, removed, renamed, resized or rewritten.
constexpr uint64_t kFnvOffset = 1469598103934665603ULL;

void mix(uint64_t& h, const void* data, size_t n) {
  const auto* p = static_cast<const unsigned char*>(data);
  for (size_t i = 0; i < n; ++i) {
    h ^= p[i];
    h *= 1099511628211ULL;
  }
}

void mix_string(uint64_t& h, const std::string& s) {
  mix(h, s.data(), s.size());
  mix(h, "", 1);  // a terminator, so that ("ab","c") and ("a","bc") differ
}

template <typename T>
void mix_value(uint64_t& h, T value) {
  mix(h, &value, sizeof value);
}

// ---- IDX (gzip) -------------------------------------------------------------------------------------------------

struct GzCloser {
  gzFile file;
  ~GzCloser() {
    if (file != nullptr) gzclose(file);
  }
};

// Reads up to n bytes; returns how many were read, or -1 on a gzip error (then gzerror says which). A gzip stream
// cut short is not a gzread failure (zlib allows reading a file that is still growing) but leaves the error
// Z_BUF_ERROR "unexpected end of file" behind, so any error state left after a read counts.
int64_t gz_read_fully(gzFile f, uint8_t* dst, int64_t n) {
  int64_t done = 0;
  while (done < n) {
    const unsigned chunk = static_cast<unsigned>(std::min<int64_t>(n - done, int64_t(1) << 30));
    const int got = gzread(f, dst + done, chunk);
    if (got < 0) return -1;
    if (got == 0) break;
    done += got;
  }
  int code = Z_OK;
  gzerror(f, &code);
  return code == Z_OK ? done : -1;
}

[[noreturn]] void gz_damaged(const std::string& path, gzFile f) {
  int code = 0;
  const char* msg = gzerror(f, &code);
  data_error(path, std::string("is a damaged or truncated gzip file (zlib: ") + (msg != nullptr ? msg : "?") + ")");
}

uint32_t be32(const uint8_t* p) {
  return (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | uint32_t(p[3]);
}

struct IdxContents {
  std::vector<int64_t> dims;
  torch::Tensor bytes;  // uint8, flat
};

// One IDX file of unsigned bytes with `ndims` dimensions (magic 0x0000080N). zlib reads gzip and plain files alike.
IdxContents read_idx(const std::string& path, int ndims, const std::string& kind) {
  require_file(path, "install Debian's dataset-fashion-mnist, or give the folder that holds the four *-ubyte.gz "
                     "files (--data-dir; the config key task.data_dir in nos search, data_dir in nos compare)");
  GzCloser f{gzopen(path.c_str(), "rb")};
  if (f.file == nullptr) data_error(path, "cannot be opened (" + errno_text(errno) + ")");
  const uint32_t magic = 0x00000800u + static_cast<uint32_t>(ndims);
  const int64_t header_size = 4 + 4 * ndims;
  std::array<uint8_t, 16> header{};
  const int64_t got = gz_read_fully(f.file, header.data(), header_size);
  if (got < 0) gz_damaged(path, f.file);
  if (got < 4 || be32(header.data()) != magic) {
    char want[16];
    std::snprintf(want, sizeof want, "0x%08" PRIx32, magic);
    data_error(path, "is not an IDX " + kind + " file (bad magic number; expected " + want + ")");
  }
  if (got < header_size) {
    data_error(path, "is truncated: " + std::to_string(got) + " bytes, shorter than its " +
                         std::to_string(header_size) + "-byte IDX header");
  }
  IdxContents out;
  int64_t total = 1;
  for (int d = 0; d < ndims; ++d) {
    const int64_t size = be32(header.data() + 4 + 4 * d);
    // Sizes fit 31 bits in every real IDX file; the bound keeps the product from overflowing.
    if (size > (int64_t(1) << 31) || (d > 0 && (size == 0 || size > 65536))) {
      data_error(path, "has an implausible size " + std::to_string(size) + " in its header (dimension " +
                           std::to_string(d) + ")");
    }
    out.dims.push_back(size);
    total *= size;
  }
  out.bytes = torch::empty({total}, torch::kUInt8);
  const int64_t body = gz_read_fully(f.file, out.bytes.data_ptr<uint8_t>(), total);
  if (body < 0) gz_damaged(path, f.file);
  if (body < total) {
    std::string shape;
    for (size_t d = 1; d < out.dims.size(); ++d) shape += (d > 1 ? "x" : " of ") + std::to_string(out.dims[d]);
    data_error(path, "is truncated: its header promises " + with_commas(out.dims[0]) + " " + kind + "s" + shape +
                         " (" + with_commas(total) + " bytes after the header) but it holds only " +
                         with_commas(body));
  }
  // Reading past the end also makes zlib check the gzip trailer (CRC and length).
  uint8_t extra = 0;
  const int64_t more = gz_read_fully(f.file, &extra, 1);
  if (more < 0) gz_damaged(path, f.file);
  if (more > 0) {
    data_error(path, "is longer than its header says (" + with_commas(out.dims[0]) + " " + kind +
                         "s): not an IDX file, or damaged");
  }
  return out;
}

}  // namespace

Dataset read_idx_gz(const std::string& images_path, const std::string& labels_path) {
  IdxContents img = read_idx(images_path, 3, "image");
  IdxContents lab = read_idx(labels_path, 1, "label");
  const int64_t n = img.dims[0], h = img.dims[1], w = img.dims[2];
  if (lab.dims[0] != n) {
    data_error(labels_path, "holds " + with_commas(lab.dims[0]) + " labels but " + images_path + " holds " +
                                with_commas(n) + " images: the counts must match");
  }
  const uint8_t* l = lab.bytes.data_ptr<uint8_t>();
  for (int64_t i = 0; i < n; ++i) {
    if (l[i] > 9) {
      data_error(labels_path, "has label " + std::to_string(l[i]) + " at position " + std::to_string(i) +
                                  ", out of range (labels are 0..9)");
    }
  }
  Dataset d;
  d.images = img.bytes.view({n, 1, h, w});
  d.labels = lab.bytes.to(torch::kInt64);
  return d;
}

// ---- CIFAR-10 binary --------------------------------------------------------------------------------------------

namespace {

constexpr int64_t kCifarSide = 32;
constexpr int64_t kCifarPixels = 3 * kCifarSide * kCifarSide;
constexpr int64_t kCifarRecord = 1 + kCifarPixels;

struct FileCloser {
  std::FILE* file;
  ~FileCloser() {
    if (file != nullptr) std::fclose(file);
  }
};

}  // namespace

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

struct FolderListing {
  std::vector<std::string> files;
  std::vector<int64_t> labels;
  uint64_t fingerprint = kFnvOffset;
};

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

// Cache file: magic, fingerprint, dims [N, 3, 32, 32] (int64), labels (int64 [N]), images (uint8), host-endian;
// a cache is local to one machine.
constexpr char kCacheMagic[8] = {'N', 'O', 'S', 'I', 'M', 'G', '1', '\n'};
constexpr int64_t kCacheHeader = 8 + 8 + 4 * 8;

// Loads the cache when it is complete and matches the listing; any mismatch or damage means "rebuild", never an
// error, because the JPEGs are the data and the cache only saves time.
bool load_cache(const std::string& path, const FolderListing& listing, int64_t num_classes, Dataset& out) {
  const int64_t n = static_cast<int64_t>(listing.files.size());
  const int64_t size = kCacheHeader + n * 8 + n * kCifarPixels;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  struct stat st;
  if (::fstat(fd, &st) != 0 || st.st_size != size) {
    ::close(fd);
    return false;
  }
  // Mapped rather than read: the pages come straight from the page cache, saving a copy of the whole data set
  // (about a second for CIFAR-10's training set). MAP_PRIVATE keeps the tensor writable without touching the file
  // (copy on write; MAP_POPULATE would copy every page up front). nos replaces caches by rename, never in place,
  // so the mapped file cannot shrink under the tensor.
  void* map = ::mmap(nullptr, static_cast<size_t>(size), PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (map == MAP_FAILED) return false;
  auto unmap = [map, size](void*) { ::munmap(map, static_cast<size_t>(size)); };
  const auto* base = static_cast<const uint8_t*>(map);
  uint64_t fingerprint = 0;
  int64_t dims[4];
  std::memcpy(&fingerprint, base + 8, 8);
  std::memcpy(dims, base + 16, sizeof dims);
  bool ok = std::memcmp(base, kCacheMagic, 8) == 0 && fingerprint == listing.fingerprint && dims[0] == n &&
            dims[1] == 3 && dims[2] == kCifarSide && dims[3] == kCifarSide;
  torch::Tensor labels = torch::empty({n}, torch::kInt64);
  if (ok) {
    std::memcpy(labels.data_ptr<int64_t>(), base + kCacheHeader, static_cast<size_t>(n) * 8);
    const int64_t* l = labels.data_ptr<int64_t>();
    for (int64_t i = 0; i < n && ok; ++i) {
      ok = l[i] == listing.labels[static_cast<size_t>(i)] && l[i] >= 0 && l[i] < num_classes;
    }
  }
  if (!ok) {
    unmap(nullptr);
    return false;
  }
  out.images = torch::from_blob(const_cast<uint8_t*>(base) + kCacheHeader + n * 8, {n, 3, kCifarSide, kCifarSide},
                                unmap, torch::kUInt8);
  out.labels = labels;
  return true;
}

// Writes to a temporary file beside the cache and renames it over the cache, so that a reader (another process,
// or this one after a crash) sees the old cache or the whole new one, never half of one.
bool save_cache(const std::string& path, uint64_t fingerprint, const Dataset& d) {
  static std::atomic<uint64_t> counter{0};
  std::error_code ec;
  const fs::path parent = fs::path(path).parent_path();
  if (!parent.empty()) fs::create_directories(parent, ec);
  const std::string tmp = path + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(counter++);
  bool ok = false;
  {
    FileCloser f{std::fopen(tmp.c_str(), "wb")};
    if (f.file == nullptr) return false;
    const int64_t n = d.size();
    const int64_t dims[4] = {n, 3, kCifarSide, kCifarSide};
    ok = std::fwrite(kCacheMagic, 1, 8, f.file) == 8 && std::fwrite(&fingerprint, 8, 1, f.file) == 1 &&
         std::fwrite(dims, 8, 4, f.file) == 4 &&
         std::fwrite(d.labels.data_ptr<int64_t>(), 8, static_cast<size_t>(n), f.file) == static_cast<size_t>(n) &&
         std::fwrite(d.images.data_ptr<uint8_t>(), 1, static_cast<size_t>(n * kCifarPixels), f.file) ==
             static_cast<size_t>(n * kCifarPixels) &&
         std::fflush(f.file) == 0 && ::fsync(::fileno(f.file)) == 0;
    if (std::fclose(f.file) != 0) ok = false;
    f.file = nullptr;
  }
  if (ok) {
    fs::rename(tmp, path, ec);
    ok = !ec;
  }
  if (!ok) fs::remove(tmp, ec);
  return ok;
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

// ---- Splits -----------------------------------------------------------------------------------------------------

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

void split(DataSplits& s, const Dataset& full_train, const DataOptions& o, int64_t default_validation) {
  const int64_t n = full_train.size();
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
  const int64_t rest = n - v;
  if (o.train_size > rest) {
    throw UserError("train_size " + with_commas(o.train_size) + " exceeds the " + with_commas(rest) +
                    " training images left after the " + with_commas(v) + "-image validation split");
  }
  const int64_t t = o.train_size < 0 ? rest : o.train_size;
  // The validation images are the first v of the permutation whatever train_size is, so proxies of different
  // sizes are scored on the same validation set.
  const std::vector<int64_t> perm = seeded_permutation(n, o.split_seed);
  s.validation = take(full_train, perm, 0, static_cast<size_t>(v));
  s.train = take(full_train, perm, static_cast<size_t>(v), static_cast<size_t>(t));
}

std::string sizes_line(const DataSplits& s, uint64_t seed) {
  return "; " + with_commas(s.train.size()) + " train / " + with_commas(s.validation.size()) +
         " validation (split seed " + std::to_string(seed) + ") / " + with_commas(s.test.size()) + " test";
}

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
  s.provenance = "Fashion-MNIST (Xiao et al. 2017), IDX files in " + dir.string() + sizes_line(s, o.split_seed);
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
        "CIFAR-10 (Krizhevsky 2009), official binary release in " + dir.string() + sizes_line(s, o.split_seed);
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
                   sizes_line(s, o.split_seed);
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

// ---- Normalisation and augmentation -----------------------------------------------------------------------------

Normalization channel_stats(const Dataset& train) {
  NOS_CHECK(train.images.defined() && train.images.dim() == 4 && train.images.scalar_type() == torch::kUInt8,
            "channel_stats needs uint8 images [N, C, H, W]");
  NOS_CHECK(train.size() > 0, "channel_stats needs a non-empty training set");
  const torch::Tensor images = train.images.contiguous();
  const int64_t n = images.size(0), channels = images.size(1), plane = images.size(2) * images.size(3);
  // A 256-bin histogram per channel is exact and needs no float copy of the data set.
  std::vector<std::array<int64_t, 256>> hist(static_cast<size_t>(channels));
  for (auto& h : hist) h.fill(0);
  std::mutex merge;
  const uint8_t* base = images.data_ptr<uint8_t>();
  at::parallel_for(0, n, 256, [&](int64_t begin, int64_t end) {
    std::vector<std::array<int64_t, 256>> local(static_cast<size_t>(channels));
    for (auto& h : local) h.fill(0);
    for (int64_t i = begin; i < end; ++i) {
      for (int64_t c = 0; c < channels; ++c) {
        const uint8_t* p = base + (i * channels + c) * plane;
        auto& h = local[static_cast<size_t>(c)];
        for (int64_t k = 0; k < plane; ++k) ++h[p[k]];
      }
    }
    std::lock_guard<std::mutex> lock(merge);
    for (int64_t c = 0; c < channels; ++c) {
      for (int v = 0; v < 256; ++v) hist[static_cast<size_t>(c)][v] += local[static_cast<size_t>(c)][v];
    }
  });
  Normalization out;
  const double count = static_cast<double>(n * plane);
  for (int64_t c = 0; c < channels; ++c) {
    const auto& h = hist[static_cast<size_t>(c)];
    double mean = 0.0;
    for (int v = 0; v < 256; ++v) mean += static_cast<double>(h[v]) * (v / 255.0);
    mean /= count;
    double var = 0.0;
    for (int v = 0; v < 256; ++v) var += static_cast<double>(h[v]) * (v / 255.0 - mean) * (v / 255.0 - mean);
    var /= count;
    out.mean.push_back(mean);
    out.std.push_back(var > 0.0 ? std::sqrt(var) : 1.0);
  }
  return out;
}

torch::Tensor to_float_batch(const torch::Tensor& uint8_images, const Normalization& normalization,
                             torch::Device device, torch::Dtype dtype, torch::MemoryFormat memory_format) {
  NOS_CHECK(uint8_images.dim() == 4 && uint8_images.scalar_type() == torch::kUInt8,
            "to_float_batch needs uint8 images [B, C, H, W], got " << uint8_images.sizes());
  // A floating dtype also guarantees that .to() below copies, so the in-place arithmetic never touches the input.
  NOS_CHECK(c10::isFloatingType(dtype), "to_float_batch needs a floating-point dtype, got " << dtype);
  const int64_t channels = uint8_images.size(1);
  NOS_CHECK(static_cast<int64_t>(normalization.mean.size()) == channels &&
                static_cast<int64_t>(normalization.std.size()) == channels,
            "normalisation has " << normalization.mean.size() << " channels, images have " << channels);
  torch::Tensor x = uint8_images.to(device).to(dtype, /*non_blocking=*/false, /*copy=*/false, memory_format);
  // (x/255 - mean)/std as one multiply and one subtract per channel, with scalars so no small tensor is copied
  // to the device on every batch.
  for (int64_t c = 0; c < channels; ++c) {
    const double scale = 1.0 / (255.0 * normalization.std[static_cast<size_t>(c)]);
    const double shift = normalization.mean[static_cast<size_t>(c)] / normalization.std[static_cast<size_t>(c)];
    x.select(1, c).mul_(scale).sub_(shift);
  }
  return x;
}

torch::Tensor augment_batch(const torch::Tensor& float_batch, torch::Generator& gen) {
  NOS_CHECK(float_batch.dim() == 4 && float_batch.is_floating_point(),
            "augment_batch needs a floating-point batch [B, C, H, W], got " << float_batch.sizes());
  constexpr int64_t kPad = 4;
  const int64_t b = float_batch.size(0), c = float_batch.size(1), h = float_batch.size(2), w = float_batch.size(3);
  if (b == 0) return float_batch.clone();
  const torch::Device device = float_batch.device();
  const auto draw = torch::TensorOptions().dtype(torch::kInt64).device(gen.device());
  // Drawn in a fixed order (rows, columns, flips) on the generator's own device, then moved to the batch.
  const torch::Tensor dy = torch::randint(0, 2 * kPad + 1, {b}, gen, draw).to(device);
  const torch::Tensor dx = torch::randint(0, 2 * kPad + 1, {b}, gen, draw).to(device);
  const torch::Tensor flip = torch::randint(0, 2, {b}, gen, draw).to(device).to(torch::kBool);
  const auto index = torch::TensorOptions().dtype(torch::kInt64).device(device);
  const torch::Tensor ys = torch::arange(h, index);
  const torch::Tensor xs = torch::arange(w, index);
  const torch::Tensor rows = dy.unsqueeze(1) + ys.unsqueeze(0);                                       // [B, H]
  const torch::Tensor cols = dx.unsqueeze(1) + torch::where(flip.unsqueeze(1), (w - 1) - xs, xs);  // [B, W]
  // One gather over the flattened padded image: the source pixel of output (y, x) is rows[y]·(W+2p) + cols[x].
  const torch::Tensor source = (rows.unsqueeze(2) * (w + 2 * kPad) + cols.unsqueeze(1)).view({b, 1, h * w});
  const torch::Tensor padded = torch::constant_pad_nd(float_batch, {kPad, kPad, kPad, kPad}, 0.0).reshape({b, c, -1});
  return padded.gather(2, source.expand({b, c, h * w})).view({b, c, h, w}).contiguous(
      float_batch.suggest_memory_format());
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
