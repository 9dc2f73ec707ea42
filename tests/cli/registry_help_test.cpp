// The help texts list exactly the registries' rows: data sets and models (`nos eval --help`), proposers
// (`nos search --help`); the README names every row.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "cli/cli.h"
#include "search/proposer.h"
#include "tasks/datasets.h"
#include "tasks/models.h"
#include "tests/cli/helpers.h"

namespace nos::cli {
namespace {

using testing::nos;
using testing::Outcome;

// The help text with its line breaks and indentation folded into single spaces.
std::string one_line(const std::string& text) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\n') {
      while (i + 1 < text.size() && text[i + 1] == ' ') ++i;
      out += ' ';
    } else {
      out += text[i];
    }
  }
  return out;
}

// The text between `begin` and the next `end` after it ("" when absent).
std::string between(const std::string& text, const std::string& begin, const std::string& end) {
  const size_t a = text.find(begin);
  if (a == std::string::npos) return "";
  const size_t b = text.find(end, a + begin.size());
  if (b == std::string::npos) return "";
  return text.substr(a + begin.size(), b - a - begin.size());
}

// "a, b (note), c or d" → {a, b, c, d}: each item up to its first " (".
std::vector<std::string> items(std::string list) {
  for (size_t at; (at = list.find(" or ")) != std::string::npos;) list.replace(at, 4, ", ");
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= list.size()) {
    size_t comma = list.find(", ", start);
    if (comma == std::string::npos) comma = list.size();
    const std::string item = list.substr(start, comma - start);
    out.push_back(item.substr(0, item.find(" (")));
    start = comma + 2;
  }
  return out;
}

TEST(RegistryHelp, EvalListsExactlyTheDatasetsAndModels) {
  const Outcome o = nos({"eval", "--help"});
  ASSERT_EQ(o.code, kExitOk);
  const std::string help = one_line(o.out);
  std::vector<std::string> datasets, models, notes;
  for (const tasks::DatasetInfo& d : tasks::datasets()) datasets.emplace_back(d.name);
  for (const tasks::ModelInfo& m : tasks::models()) models.emplace_back(m.name);
  EXPECT_EQ(items(between(help, "<dataset>-<model>: datasets ", ";")), datasets) << help;
  EXPECT_EQ(items(between(help, "; models ", " (e.g.")), models) << help;
  EXPECT_TRUE(help.find("models convnet (the NOS child), 2c2d") != std::string::npos) << help;
}

TEST(RegistryHelp, SearchListsExactlyTheProposers) {
  const Outcome o = nos({"search", "--help"});
  ASSERT_EQ(o.code, kExitOk);
  const std::string help = one_line(o.out);
  std::vector<std::string> titles;
  for (const search::ProposerInfo& p : search::proposers()) titles.emplace_back(p.title);
  EXPECT_EQ(items(between(help, "a proposer (", ") suggests")), titles) << help;
}

TEST(RegistryDocs, ReadmeNamesEveryRow) {
  std::ifstream in(std::string(NOS_SOURCE_DIR) + "/README.md");
  std::stringstream text;
  text << in.rdbuf();
  const std::string readme = text.str();
  ASSERT_FALSE(readme.empty());
  std::vector<std::string> names;
  for (const tasks::DatasetInfo& d : tasks::datasets()) names.emplace_back(d.name);
  for (const tasks::ModelInfo& m : tasks::models()) names.emplace_back(m.name);
  for (const search::ProposerInfo& p : search::proposers()) names.emplace_back(p.name);
  for (const std::string& name : names) {
    EXPECT_NE(readme.find("`" + name + "`"), std::string::npos) << "README.md does not name `" << name << "`";
  }
}

}  // namespace
}  // namespace nos::cli
