// Ctrl-C and SIGTERM as a clean-stop request for the long-running commands (nos search, nos compare).
#pragma once

#include <signal.h>

#include <atomic>

namespace nos::cli {

// The shell's convention for a program stopped by SIGINT (128 + 2).
inline constexpr int kExitInterrupted = 130;

// Set by the handler below; the library loops poll it (SearchRuntime::stop, CompareRuntime::stop).
inline std::atomic<bool> g_stop_requested{false};

extern "C" inline void nos_request_stop(int) { g_stop_requested.store(true); }

// Routes SIGINT and SIGTERM to a stop request while it lives. SA_RESETHAND restores the default action, so a second
// Ctrl-C ends the process at once if the clean stop is not fast enough.
class StopOnSignals {
 public:
  StopOnSignals() {
    g_stop_requested.store(false);
    struct sigaction action {};
    action.sa_handler = nos_request_stop;
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_RESETHAND;
    sigaction(SIGINT, &action, &old_int_);
    sigaction(SIGTERM, &action, &old_term_);
  }
  ~StopOnSignals() {
    sigaction(SIGINT, &old_int_, nullptr);
    sigaction(SIGTERM, &old_term_, nullptr);
  }
  StopOnSignals(const StopOnSignals&) = delete;
  StopOnSignals& operator=(const StopOnSignals&) = delete;

 private:
  struct sigaction old_int_ {};
  struct sigaction old_term_ {};
};

}  // namespace nos::cli
