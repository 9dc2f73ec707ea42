// Writing a file so that a reader never sees half of it.
#include "common/files.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>

#include "common/error.h"

namespace nos {

void write_atomically(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << text;
    out.close();
    if (!out) throw UserError("cannot write " + tmp);
  }
  // Synced before the rename, so a crash leaves the old file or the whole new one, never an empty one.
  const int fd = ::open(tmp.c_str(), O_RDONLY);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) throw UserError("cannot replace " + path);
}

}  // namespace nos
