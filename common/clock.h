// Wall-clock intervals as every module measures them: a steady clock, seconds as a double.
#pragma once

#include <chrono>

namespace nos {

using Clock = std::chrono::steady_clock;

// Seconds from `start` to now.
inline double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

}  // namespace nos
