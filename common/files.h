// Writing a file so that a reader never sees half of it, and locking a folder: shared by the search's run folder and
// compare's report folder.
#pragma once

#include <string>

namespace nos {

// Writes `text` to `path` through `path`.tmp, synced to disk, and a rename. Throws UserError naming the file and the
// system's reason ("No space left on device") when it cannot be written or replaced; `path` then keeps its previous
// contents and the temporary is removed.
void write_atomically(const std::string& path, const std::string& text);

// An exclusive lock on DIR/.lock (flock) for the lifetime of one job in a folder, with the holder's process id
// written in the file: two processes appending to one journal or store would train the same runs twice. A folder
// locked by another process is a UserError: "another nos is running WHAT (pid N); wait for it to finish, or stop it
// first". The lock goes when the object does or the process ends, however it ends (kill -9 included).
class FolderLock {
 public:
  FolderLock(const std::string& dir, const std::string& what);
  ~FolderLock();
  FolderLock(const FolderLock&) = delete;
  FolderLock& operator=(const FolderLock&) = delete;

 private:
  int fd_ = -1;
};

}  // namespace nos
