// Fashion-MNIST's files: IDX (LeCun's MNIST format) of unsigned bytes, gzip-compressed or plain.
#include "tasks/datasets.h"

#include <zlib.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cinttypes>
#include <cstdio>

#include "tasks/dataset_io.h"

namespace nos::tasks {

using dataset_io::data_error;
using dataset_io::errno_text;
using dataset_io::require_file;
using dataset_io::with_commas;

namespace {

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

}  // namespace nos::tasks
