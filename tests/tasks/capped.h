// Runs a check in a forked child process whose address space is capped a given number of bytes above what it uses
// (RLIMIT_AS): how the population tests make a machine's memory run out on purpose.
#pragma once

#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <fstream>
#include <functional>
#include <string>

namespace nos::tasks::fixtures {

// The process's virtual memory size in bytes (/proc/self/status VmSize), or -1.
inline int64_t virtual_memory_bytes() {
  std::ifstream in("/proc/self/status");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("VmSize:", 0) == 0) return std::stoll(line.substr(7)) * 1024;
  }
  return -1;
}

// Forks; the child caps its address space at its size + `headroom` bytes, runs `check` (which says what failed on
// stderr) and exits 0 when it returns true. Fails the calling test when the child fails or dies.
inline void expect_in_capped_child(int64_t headroom, const std::function<bool()>& check) {
#if defined(__SANITIZE_ADDRESS__)
  // AddressSanitizer reserves terabytes of address space for its shadow memory: under a cap it cannot allocate at
  // all (scripts/sanitize.sh), so the out-of-memory path is checked by the plain build only.
  GTEST_SKIP() << "an address-space cap cannot run under AddressSanitizer";
#endif
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    const rlim_t cap = static_cast<rlim_t>(virtual_memory_bytes() + headroom);
    const rlimit limit = {cap, cap};
    setrlimit(RLIMIT_AS, &limit);
    _exit(check() ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status)) << "the capped child died (signal " << WTERMSIG(status) << ")";
  EXPECT_EQ(WEXITSTATUS(status), 0) << "the capped child's check failed: see its message above";
}

}  // namespace nos::tasks::fixtures
