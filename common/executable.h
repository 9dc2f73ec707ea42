// Where the running nos executable is: the one place that reads /proc/self/exe.
#pragma once

#include <string>

namespace nos {

// The running executable's path (/proc/self/exe), or "" when unknown.
std::string executable_path();

// The folder that holds it, or "" when unknown.
std::string executable_dir();

}  // namespace nos
