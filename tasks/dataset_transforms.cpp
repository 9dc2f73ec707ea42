// Batches for training: per-channel normalisation statistics, uint8 images to normalised floats, CIFAR augmentation.
#include "tasks/datasets.h"

#include <ATen/Parallel.h>

#include <array>
#include <cmath>
#include <mutex>

#include "common/error.h"

namespace nos::tasks {

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

}  // namespace nos::tasks
