// Every config.yaml the repository records (docs/results run folders and report folders) parses with today's schema
// and re-serialises byte for byte: the writers and readers agree, and no recorded setting is lost or reworded.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "experiments/compare_config.h"
#include "experiments/learn.h"
#include "search/config.h"

namespace nos::experiments {
namespace {

namespace fs = std::filesystem;

std::string read_all(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// The text after the leading comment lines a report folder's file opens with (how to resume it).
std::string without_header(const std::string& text, std::string& header) {
  size_t at = 0;
  while (at < text.size() && text[at] == '#') at = text.find('\n', at) + 1;
  header = text.substr(0, at);
  return text.substr(at);
}

// What kind of config a file holds, by a key only that kind has.
enum class Kind { kSearch, kCompare, kLearn };
Kind kind_of(const std::string& body) {
  const std::string text = "\n" + body;
  if (text.find("\nrules:") != std::string::npos) return Kind::kCompare;
  if (text.find("\nfamily:") != std::string::npos) return Kind::kLearn;
  return Kind::kSearch;
}

std::string reserialised(const std::string& body, const std::string& source) {
  switch (kind_of(body)) {
    case Kind::kCompare:
      return to_yaml(parse_compare_config(body, source), false);
    case Kind::kLearn:
      return to_yaml(parse_learn_config(body, source));
    case Kind::kSearch:
      return search::to_yaml(search::parse_recorded_config(body, source));
  }
  return "";
}

TEST(ConfigFiles, EveryRecordedConfigRoundTripsByteForByte) {
  const fs::path root = fs::path(NOS_SOURCE_DIR) / "docs" / "results";
  std::vector<fs::path> files;
  for (const auto& entry : fs::recursive_directory_iterator(root)) {
    if (entry.is_regular_file() && entry.path().filename() == "config.yaml") files.push_back(entry.path());
  }
  ASSERT_GE(files.size(), 50u) << "docs/results should hold the recorded run and report folders";
  int kinds[3] = {0, 0, 0};
  for (const fs::path& path : files) {
    std::string header;
    const std::string body = without_header(read_all(path), header);
    ++kinds[static_cast<int>(kind_of(body))];
    std::string again;
    try {
      again = reserialised(body, path.string());
    } catch (const std::exception& e) {
      ADD_FAILURE() << path << " does not parse: " << e.what();
      continue;
    }
    EXPECT_EQ(again, body) << path << " re-serialises differently";
  }
  EXPECT_GT(kinds[0], 0);
  EXPECT_GT(kinds[1], 0);
  EXPECT_GT(kinds[2], 0);
}

}  // namespace
}  // namespace nos::experiments
