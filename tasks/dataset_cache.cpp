// The decoded-image cache of a JPEG folder: one file of labels and pixels, keyed by the folder's fingerprint.
#include "tasks/dataset_io.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <filesystem>
#include <system_error>

namespace nos::tasks::dataset_io {

namespace fs = std::filesystem;

namespace {

// Cache file: magic, fingerprint, dims [N, 3, 32, 32] (int64), labels (int64 [N]), images (uint8), host-endian;
// a cache is local to one machine.
constexpr char kCacheMagic[8] = {'N', 'O', 'S', 'I', 'M', 'G', '1', '\n'};
constexpr int64_t kCacheHeader = 8 + 8 + 4 * 8;

}  // namespace

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

}  // namespace nos::tasks::dataset_io
