// The documentation's key tables of the training settings are the field table's own (tasks/settings.h): a setting
// added to the table shows up here with no other edit. NOS_UPDATE_DOCS=1 rewrites them in docs/commands.md.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "experiments/compare_config.h"
#include "search/config.h"
#include "tasks/settings.h"

namespace nos::experiments {
namespace {

const std::string kDocs = std::string(NOS_SOURCE_DIR) + "/docs/commands.md";

std::string read_docs() {
  std::ifstream in(kDocs);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// The text between <!-- generated:NAME --> and <!-- /generated:NAME --> (their lines excluded), replaced by
// `with` when given.
std::string generated_block(std::string& text, const std::string& name, const std::string* with = nullptr) {
  const std::string open = "<!-- generated:" + name + " -->\n";
  const std::string close = "<!-- /generated:" + name + " -->";
  const size_t begin = text.find(open);
  const size_t end = begin == std::string::npos ? begin : text.find(close, begin);
  if (begin == std::string::npos || end == std::string::npos) return "(no " + open + " … " + close + " in docs)";
  const size_t from = begin + open.size();
  const std::string block = text.substr(from, end - from);
  if (with != nullptr) text.replace(from, end - from, *with);
  return block;
}

TEST(DocsKeyTables, AreGeneratedFromTheFieldTable) {
  std::string text = read_docs();
  ASSERT_FALSE(text.empty()) << kDocs;
  const std::vector<std::pair<std::string, std::string>> tables = {
      {"task", tasks::settings_key_table(search::task_setting_keys(), search::TaskSettings(), false)},
      {"compare", tasks::settings_key_table(tasks::setting_keys_of(compare_config_keys()), CompareConfig())},
      {"funnel", tasks::settings_key_table(tasks::setting_keys_of(search::config_keys("funnel")), search::FunnelStage(),
                                           false)},
  };
  const bool update = std::getenv("NOS_UPDATE_DOCS") != nullptr;
  for (const auto& [name, table] : tables) {
    if (update) {
      generated_block(text, name, &table);
    } else {
      EXPECT_EQ(generated_block(text, name), table)
          << "docs/commands.md's " << name << " table is not the field table's: NOS_UPDATE_DOCS=1 "
          << "build/tests/test_experiments --gtest_filter='DocsKeyTables.*' rewrites it";
    }
  }
  if (update) std::ofstream(kDocs) << text;
}

// Every training setting a command offers is a row of the generated tables, and only those.
TEST(DocsKeyTables, NameEverySettingOfTheSearchAndTheComparison) {
  const std::string table = tasks::settings_key_table(search::task_setting_keys(), search::TaskSettings(), false);
  for (const std::string& key : search::config_keys("task")) {
    EXPECT_NE(table.find("| `" + key + "` |"), std::string::npos) << key;
  }
  EXPECT_NE(table.find("| `name` | `fmnist-logreg` |"), std::string::npos) << table;
  EXPECT_NE(table.find("| `lr_search` | `halving` |"), std::string::npos) << table;
  EXPECT_EQ(table.find("`--"), std::string::npos) << "the search's task section has no flags of its own";
  const std::string compare = tasks::settings_key_table(tasks::setting_keys_of(compare_config_keys()), CompareConfig());
  EXPECT_NE(compare.find("| `epochs` | `--epochs` | `3` |"), std::string::npos) << compare;
  EXPECT_EQ(compare.find("`seeds`"), std::string::npos) << "seeds is the comparison's own key";
}

}  // namespace
}  // namespace nos::experiments
