// Tiny on-disk data fixtures for the data-set tests: IDX gzip files, CIFAR-10 binary batches and JPEG folders.
#pragma once

#include <jpeglib.h>
#include <unistd.h>
#include <zlib.h>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "tests/temp_dir.h"

namespace nos::tasks::fixtures {

namespace fs = std::filesystem;

// A fresh folder under the system's temporary folder, removed with everything in it when the test ends.
class TempDir {
 public:
  const fs::path& path() const { return path_; }
  std::string operator/(const std::string& name) const { return (path_ / name).string(); }

 private:
  nos::testing::TempDir dir_;
  fs::path path_{dir_.path()};
};

inline void write_bytes(const std::string& path, const std::vector<uint8_t>& bytes) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  if (!out) throw std::runtime_error("fixture: cannot write " + path);
}

inline std::vector<uint8_t> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// An IDX file's bytes: big-endian magic, big-endian sizes, then the body.
inline std::vector<uint8_t> idx_bytes(uint32_t magic, const std::vector<uint32_t>& dims,
                                      const std::vector<uint8_t>& body) {
  std::vector<uint8_t> out;
  auto put = [&](uint32_t v) {
    for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<uint8_t>(v >> shift));
  };
  put(magic);
  for (uint32_t d : dims) put(d);
  out.insert(out.end(), body.begin(), body.end());
  return out;
}

// Written with zlib's gzip writer, as the official Fashion-MNIST files are.
inline void write_gz(const std::string& path, const std::vector<uint8_t>& bytes) {
  fs::create_directories(fs::path(path).parent_path());
  gzFile f = gzopen(path.c_str(), "wb");
  if (f == nullptr) throw std::runtime_error("fixture: cannot write " + path);
  const int size = static_cast<int>(bytes.size());
  if (size > 0 && gzwrite(f, bytes.data(), static_cast<unsigned>(size)) != size) {
    throw std::runtime_error("fixture: gzwrite failed for " + path);
  }
  gzclose(f);
}

// A CIFAR-10 binary batch: per record one label byte and 3,072 channel-major pixel bytes.
inline void write_cifar_binary(const std::string& path, const std::vector<uint8_t>& labels,
                               const std::vector<std::vector<uint8_t>>& images) {
  std::vector<uint8_t> bytes;
  for (size_t i = 0; i < labels.size(); ++i) {
    bytes.push_back(labels[i]);
    bytes.insert(bytes.end(), images[i].begin(), images[i].end());
  }
  write_bytes(path, bytes);
}

// A JPEG of a channel-major RGB image, written by libjpeg's compressor without chroma subsampling so that smooth
// images come back within a few grey levels.
inline void write_jpeg(const std::string& path, const std::vector<uint8_t>& planar, int height, int width,
                       int quality = 95) {
  fs::create_directories(fs::path(path).parent_path());
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) throw std::runtime_error("fixture: cannot write " + path);
  jpeg_compress_struct cinfo;
  jpeg_error_mgr err;
  cinfo.err = jpeg_std_error(&err);
  jpeg_create_compress(&cinfo);
  jpeg_stdio_dest(&cinfo, f);
  cinfo.image_width = static_cast<JDIMENSION>(width);
  cinfo.image_height = static_cast<JDIMENSION>(height);
  cinfo.input_components = 3;
  cinfo.in_color_space = JCS_RGB;
  jpeg_set_defaults(&cinfo);
  jpeg_set_quality(&cinfo, quality, TRUE);
  for (int c = 0; c < 3; ++c) {
    cinfo.comp_info[c].h_samp_factor = 1;
    cinfo.comp_info[c].v_samp_factor = 1;
  }
  jpeg_start_compress(&cinfo, TRUE);
  const size_t plane = static_cast<size_t>(height) * width;
  std::vector<uint8_t> row(static_cast<size_t>(width) * 3);
  while (cinfo.next_scanline < cinfo.image_height) {
    const size_t y = cinfo.next_scanline;
    for (int x = 0; x < width; ++x) {
      for (int c = 0; c < 3; ++c) row[static_cast<size_t>(x) * 3 + c] = planar[c * plane + y * width + x];
    }
    JSAMPROW rows[1] = {row.data()};
    jpeg_write_scanlines(&cinfo, rows, 1);
  }
  jpeg_finish_compress(&cinfo);
  jpeg_destroy_compress(&cinfo);
  std::fclose(f);
}

// One colour everywhere: JPEG keeps it almost exactly.
inline std::vector<uint8_t> solid_image(uint8_t r, uint8_t g, uint8_t b, int side = 32) {
  const size_t plane = static_cast<size_t>(side) * side;
  std::vector<uint8_t> out(3 * plane);
  for (size_t p = 0; p < plane; ++p) {
    out[p] = r;
    out[plane + p] = g;
    out[2 * plane + p] = b;
  }
  return out;
}

// A smooth image that differs per id: red grows along x, green along y, blue is flat, so a transposed or
// channel-swapped reader shows. Red at (0, 0) is the id itself (id < 100), which tests use to tell images apart.
inline std::vector<uint8_t> pattern_image(int id) {
  constexpr size_t kPlane = 32 * 32;
  std::vector<uint8_t> out(3 * kPlane);
  for (int y = 0; y < 32; ++y) {
    for (int x = 0; x < 32; ++x) {
      const size_t p = static_cast<size_t>(y) * 32 + x;
      out[p] = static_cast<uint8_t>(id + 4 * x);
      out[kPlane + p] = static_cast<uint8_t>(60 + 3 * y);
      out[2 * kPlane + p] = static_cast<uint8_t>((37 * id) % 200 + 20);
    }
  }
  return out;
}

// A Fashion-MNIST pair PREFIX-{images,labels}-*-ubyte.gz of n 28×28 images of 10 classes: class k brightens row band k (a pattern a small net learns in a few steps).
inline void write_fmnist_pair(const std::string& dir, const std::string& prefix, int n, int seed) {
  std::vector<uint8_t> pixels, labels;
  uint32_t state = static_cast<uint32_t>(seed) * 2654435761u + 1;
  for (int i = 0; i < n; ++i) {
    const int k = i % 10;
    labels.push_back(static_cast<uint8_t>(k));
    for (int y = 0; y < 28; ++y) {
      for (int x = 0; x < 28; ++x) {
        state = state * 1664525u + 1013904223u;
        const int noise = static_cast<int>(state >> 26);  // 0..63
        pixels.push_back(static_cast<uint8_t>(noise + (y / 3 == k ? 150 : 0)));
      }
    }
  }
  write_gz(dir + "/" + prefix + "-images-idx3-ubyte.gz",
               idx_bytes(0x803, {static_cast<uint32_t>(n), 28, 28}, pixels));
  write_gz(dir + "/" + prefix + "-labels-idx1-ubyte.gz", idx_bytes(0x801, {static_cast<uint32_t>(n)}, labels));
}

}  // namespace nos::tasks::fixtures
