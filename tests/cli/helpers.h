// Shared by the CLI tests: run `nos` in-process and look at what it printed.
#pragma once

#include <sstream>
#include <string>
#include <vector>

#include "cli/cli.h"

namespace nos::cli::testing {

// What one in-process run of `nos` returned and printed.
struct Outcome {
  int code = -1;
  std::string out;
  std::string err;
};

// Runs `nos ARGS...` through nos::cli::run, capturing stdout and stderr.
inline Outcome nos(const std::vector<std::string>& args) {
  std::vector<const char*> argv = {"nos"};
  for (const std::string& a : args) argv.push_back(a.c_str());
  std::ostringstream out, err;
  Outcome o;
  o.code = run(static_cast<int>(argv.size()), argv.data(), out, err);
  o.out = out.str();
  o.err = err.str();
  return o;
}

// The lines of a text, without their newlines.
inline std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> result;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) result.push_back(line);
  return result;
}

inline bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

}  // namespace nos::cli::testing
