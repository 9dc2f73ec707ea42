// A fresh temporary directory for the files one test writes, removed (with its contents) afterwards.
#pragma once

#include <ftw.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>

namespace nos::testing {

// Removes a file or folder with everything in it (POSIX nftw; see TempDir for why not std::filesystem).
inline void remove_tree(const std::string& path) {
  nftw(path.c_str(), [](const char* p, const struct stat*, int, struct FTW*) { return ::remove(p); }, 16,
       FTW_DEPTH | FTW_PHYS);
}

// Removal uses POSIX nftw, not std::filesystem::remove_all: a PyTorch wheel's libtorch.so exports its own copy of
// std::filesystem, and its remove_all crashes when called from code built by another GCC (seen with PyTorch 2.11).
class TempDir {
 public:
  TempDir() {
    const char* base = std::getenv("TMPDIR");
    std::string pattern = std::string(base != nullptr && *base != '\0' ? base : "/tmp") + "/nos-test-XXXXXX";
    if (mkdtemp(pattern.data()) == nullptr) std::perror("mkdtemp");
    path_ = pattern;
  }
  ~TempDir() { remove_tree(path_); }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  // The path of `name` inside the directory; writes `contents` there when given.
  std::string file(const std::string& name, const std::string& contents = {}) const {
    std::string p = path_ + "/" + name;
    if (!contents.empty()) std::ofstream(p) << contents;
    return p;
  }

 private:
  std::string path_;
};

}  // namespace nos::testing
