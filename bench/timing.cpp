// Step timing: repetitions of `steps` calls, device synchronisation around each, medians.
#include "bench/timing.h"

#include <torch/cuda.h>

#include <algorithm>
#include <chrono>
#include <vector>

namespace nos::bench {

namespace {

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

StepTimer::StepTimer(torch::Device device, int64_t params, int64_t steps, int64_t reps, int64_t warmup)
    : device_(device), params_(params), steps_(steps), reps_(reps), warmup_(warmup) {}

void StepTimer::wait() const {
  // Queued GPU work belongs to the steps that queued it.
  if (device_.is_cuda()) torch::cuda::synchronize(device_.index());
}

double StepTimer::once(const Step& step) const {
  wait();
  const auto start = std::chrono::steady_clock::now();
  for (int64_t i = 0; i < steps_; ++i) step();
  wait();
  const double ns = std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - start).count();
  return ns / static_cast<double>(steps_) / static_cast<double>(params_);
}

double StepTimer::ns_per_param(const Step& step) const {
  for (int64_t i = 0; i < warmup_; ++i) step();
  std::vector<double> per_step;
  for (int64_t r = 0; r < reps_; ++r) per_step.push_back(once(step));
  return median(per_step);
}

Paired StepTimer::paired(const Step& a, const Step& b) const {
  for (int64_t i = 0; i < warmup_; ++i) {
    a();
    b();
  }
  std::vector<double> ta, tb, ratio;
  for (int64_t r = 0; r < reps_; ++r) {
    ta.push_back(once(a));
    tb.push_back(once(b));
    ratio.push_back(ta.back() / tb.back());
  }
  return {median(ta), median(tb), median(ratio)};
}

int64_t default_steps(int64_t params) { return std::max<int64_t>(3, 100000000 / std::max<int64_t>(params, 1)); }

}  // namespace nos::bench
