// The file helpers of a report folder: existence, folders, whole-file reads and atomic writes, the folder lock.
#pragma once

#include <string>

#include "common/files.h"  // write_atomically

namespace nos::experiments {

bool exists(const std::string& path);
bool is_directory(const std::string& path);

// Creates `path` and its missing parents; a UserError names the folder that could not be made.
void make_directories(const std::string& path);

// The whole file; a UserError when it cannot be opened.
std::string read_text(const std::string& path);

// An exclusive lock on DIR/.lock for the lifetime of one comparison: two processes appending to one journal would
// train the same runs twice. A folder locked by another process is a UserError.
class FolderLock {
 public:
  explicit FolderLock(const std::string& dir);
  ~FolderLock();
  FolderLock(const FolderLock&) = delete;
  FolderLock& operator=(const FolderLock&) = delete;

 private:
  int fd_ = -1;
};

}  // namespace nos::experiments
