// The data set readers' shared helpers: errors naming a file or folder, counts with commas, FNV-1a mixing.
#include "tasks/dataset_io.h"

#include <filesystem>
#include <system_error>

#include "common/error.h"

namespace nos::tasks::dataset_io {

namespace fs = std::filesystem;

[[noreturn]] void data_error(const std::string& path, const std::string& what) {
  throw UserError("data file " + path + ": " + what);
}

[[noreturn]] void folder_error(const std::string& path, const std::string& what) {
  throw UserError("data folder " + path + ": " + what);
}

std::string errno_text(int code) { return std::generic_category().message(code); }

void require_file(const std::string& path, const std::string& hint) {
  std::error_code ec;
  fs::file_status st = fs::status(path, ec);
  if (!fs::exists(st)) data_error(path, "not found" + (hint.empty() ? std::string() : " (" + hint + ")"));
  if (!fs::is_regular_file(st)) data_error(path, "is not a regular file");
}

std::string with_commas(int64_t n) {
  std::string digits = std::to_string(n < 0 ? -n : n), out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return n < 0 ? "-" + out : out;
}

void mix(uint64_t& h, const void* data, size_t n) {
  const auto* p = static_cast<const unsigned char*>(data);
  for (size_t i = 0; i < n; ++i) {
    h ^= p[i];
    h *= 1099511628211ULL;
  }
}

void mix_string(uint64_t& h, const std::string& s) {
  mix(h, s.data(), s.size());
  mix(h, "", 1);  // a terminator, so that ("ab","c") and ("a","bc") differ
}

}  // namespace nos::tasks::dataset_io
