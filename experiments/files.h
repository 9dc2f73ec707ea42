// The file helpers of a report folder: existence, folders, whole-file reads and atomic writes, the folder lock.
#pragma once

#include <string>

#include "common/files.h"  // write_atomically, FolderLock

namespace nos::experiments {

bool exists(const std::string& path);
bool is_directory(const std::string& path);

// Creates `path` and its missing parents; a UserError names the folder that could not be made.
void make_directories(const std::string& path);

// The whole file; a UserError when it cannot be opened.
std::string read_text(const std::string& path);


}  // namespace nos::experiments
