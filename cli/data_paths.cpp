// Default data and cache locations for the CLI: the current directory, the executable's repository, XDG variables.
#include "cli/data_paths.h"

#include <sys/stat.h>
#include <unistd.h>

#include <climits>
#include <cstdlib>

#include "common/error.h"

namespace nos::cli {

namespace {

bool is_directory(const std::string& path) {
  struct stat info {};
  return ::stat(path.c_str(), &info) == 0 && S_ISDIR(info.st_mode);
}

std::string env(const char* name) {
  const char* value = std::getenv(name);
  return value != nullptr ? value : "";
}

}  // namespace

std::vector<std::string> cifar10_candidates() {
  const std::string relative = "shared/data/cifar10-jpeg";
  std::vector<std::string> candidates = {"../" + relative};
  const std::string exe = executable_dir();
  if (!exe.empty()) {
    // <repo>/build/nos and <repo>/build/tests/test_cli: the repository's sibling shared/ folder.
    candidates.push_back(exe + "/../../" + relative);
    candidates.push_back(exe + "/../../../" + relative);
  }
  return candidates;
}

std::string resolve_data_dir(const std::string& dataset, const std::string& given, const std::string& setting,
                             const std::vector<std::string>& candidates) {
  if (!given.empty() || dataset != "cifar10") return given;
  std::string tried;
  for (const std::string& candidate : candidates) {
    if (is_directory(candidate)) {
      // Reports name the folder plainly, not as <exe dir>/../../shared/...
      char resolved[PATH_MAX];
      return ::realpath(candidate.c_str(), resolved) != nullptr ? std::string(resolved) : candidate;
    }
    tried += (tried.empty() ? "" : ", ") + candidate;
  }
  throw UserError("CIFAR-10: no data folder given and no copy found (tried " + tried + "); set " + setting +
                  " to a folder with the binary release (data_batch_1.bin ... test_batch.bin) or train/ and test/ "
                  "JPEG folders");
}

std::string resolve_cache_dir(const std::string& given) {
  if (!given.empty()) return given;
  const std::string xdg = env("XDG_CACHE_HOME");
  if (!xdg.empty()) return xdg + "/nos";
  const std::string home = env("HOME");
  if (!home.empty()) return home + "/.cache/nos";
  return "";
}

}  // namespace nos::cli
