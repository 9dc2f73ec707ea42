// Writing a file so that a reader never sees half of it.
#include "common/files.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "common/error.h"

namespace nos {

void write_atomically(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  // On a failure the temporary goes and `path` keeps its previous contents; the message says why (a full disk).
  auto fail = [&](const std::string& what) {
    const std::string why = errno != 0 ? std::strerror(errno) : "unknown error";
    std::remove(tmp.c_str());
    throw UserError("cannot write " + path + " (" + what + ": " + why + "); its previous version is kept");
  };
  errno = 0;
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) fail("cannot create " + tmp);
  size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int saved = errno;
      ::close(fd);
      errno = saved;
      fail("writing " + tmp);
    }
    done += static_cast<size_t>(n);
  }
  // Synced before the rename, so a crash leaves the old file or the whole new one, never an empty one. A full disk
  // may show itself only here.
  if (::fsync(fd) != 0) {
    const int saved = errno;
    ::close(fd);
    errno = saved;
    fail("syncing " + tmp);
  }
  if (::close(fd) != 0) fail("closing " + tmp);
  if (std::rename(tmp.c_str(), path.c_str()) != 0) fail("replacing it with " + tmp);
}

FolderLock::FolderLock(const std::string& dir, const std::string& what) {
  const std::string path = dir + "/.lock";
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0666);
  if (fd_ < 0) throw UserError("cannot create " + path + ": " + std::strerror(errno));
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    char buffer[32] = {};
    const ssize_t n = ::pread(fd_, buffer, sizeof buffer - 1, 0);
    ::close(fd_);
    fd_ = -1;
    std::string pid = n > 0 ? std::string(buffer, static_cast<size_t>(n)) : "";
    while (!pid.empty() && (pid.back() == '\n' || pid.back() == ' ')) pid.pop_back();
    throw UserError("another nos is running " + what + (pid.empty() ? "" : " (pid " + pid + ")") + ", which holds " +
                    path + "; wait for it to finish, or stop it first");
  }
  const std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd_, 0) == 0) {
    const ssize_t written = ::pwrite(fd_, pid.data(), pid.size(), 0);
    (void)written;  // the pid is for the message of a second process; the lock works without it
  }
}

FolderLock::~FolderLock() {
  if (fd_ >= 0) ::close(fd_);
}

}  // namespace nos
