// The in-memory image fixture of the trainer, evaluator, population and compare tests: n images
// channels×side×side of 4 classes, pixels uniform in [0, noise), and quadrant k of an image of class k raised by
// `raise`. A linear model separates them; labels, then pixels, are drawn from a generator seeded with `seed`.
#pragma once

#include <torch/torch.h>

#include <ATen/CPUGeneratorImpl.h>

#include <cstdint>

#include "tasks/datasets.h"

namespace nos::tasks::fixtures {

inline Dataset quadrants(int64_t n, int64_t channels, int64_t side, uint64_t seed, int64_t noise = 60,
                         int64_t raise = 150) {
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  Dataset d;
  d.labels = torch::randint(0, 4, {n}, gen, torch::kInt64);
  torch::Tensor x = torch::randint(0, noise, {n, channels, side, side}, gen, torch::kInt64);
  const int64_t half = side / 2;
  for (int64_t i = 0; i < n; ++i) {
    const int64_t k = d.labels[i].item<int64_t>();
    x[i].narrow(1, (k / 2) * half, half).narrow(2, (k % 2) * half, half).add_(raise);
  }
  d.images = x.to(torch::kUInt8);
  return d;
}

}  // namespace nos::tasks::fixtures
