// Timing of repeated work on a device: ns per parameter per step, the median over repetitions, two steps in turns.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <functional>

namespace nos::bench {

// Two steps timed in turns: the medians of each in ns per parameter per step, and the median over repetitions of
// a's time over b's.
struct Paired {
  double a = 0, b = 0, a_over_b = 0;
};

// Times steps over `params` parameters on `device`: each repetition is `steps` calls, after `warmup` untimed ones,
// and ends when the device has finished the work it queued (a CUDA synchronisation; nothing on the CPU). The
// device comes in the constructor, so timers of different devices can live side by side.
class StepTimer {
 public:
  using Step = std::function<void()>;

  StepTimer(torch::Device device, int64_t params, int64_t steps, int64_t reps, int64_t warmup);

  int64_t steps() const { return steps_; }

  // The median over the repetitions, in ns per parameter per step.
  double ns_per_param(const Step& step) const;

  // Per repetition, `steps` calls of a then `steps` calls of b, so that a load on the machine falls on both.
  Paired paired(const Step& a, const Step& b) const;

 private:
  double once(const Step& step) const;  // one repetition
  void wait() const;

  torch::Device device_;
  int64_t params_, steps_, reps_, warmup_;
};

// Steps per repetition when none are given: about 0.2 s of work at 2 ns per parameter, at least 3.
int64_t default_steps(int64_t params);

}  // namespace nos::bench
