// Writing a file so that a reader never sees half of it: shared by the search's run folder and compare's folder.
#pragma once

#include <string>

namespace nos {

// Writes `text` to `path` through `path`.tmp, synced to disk, and a rename. Throws UserError naming the file when
// it cannot be written or replaced.
void write_atomically(const std::string& path, const std::string& text);

}  // namespace nos
