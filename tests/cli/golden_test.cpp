// The golden corpus: what users see, pinned byte for byte in tests/golden/ so that refactoring cannot change it.
//
// Pinned: `nos rule` on the 1,000 fuzz-generated rules of tests/golden/rules.txt (canonical text, tokens, hash,
// state, or the diagnostics), `nos rules`, every subcommand's help, and `nos eval --json` on analytic tasks and a
// tiny image task. Times (`"seconds"`) are removed and numbers in eval output are rounded (6 significant digits on
// the analytic tasks, 4 on the image tasks, whose float32 convolutions may round differently on another CPU), so
// the corpus holds on any x86-64 CPU (ctest runs it with ATEN_CPU_CAPABILITY=default and, for OpenBLAS's matrix
// products, OPENBLAS_CORETYPE=Prescott; regenerate under the same settings).
//
// A change of output on purpose: rerun with NOS_UPDATE_GOLDEN=1 (rewrites the .expected files), review the diff,
// and commit it with the change, saying so in the commit message.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "tests/cli/helpers.h"
#include "tests/tasks/fixtures.h"
#include "tests/temp_dir.h"

namespace nos::cli {
namespace {

using testing::nos;
using testing::Outcome;

std::string golden_path(const std::string& name) { return std::string(NOS_SOURCE_DIR) + "/tests/golden/" + name; }

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// One command's record: its arguments, exit code, stdout and stderr.
std::string record(const std::vector<std::string>& args, const Outcome& o) {
  std::string text = "## nos";
  for (const std::string& a : args) text += " " + a;
  text += "\nexit " + std::to_string(o.code) + "\n" + o.out;
  if (!o.err.empty()) text += "--- stderr\n" + o.err;
  return text;
}

// Compares `actual` with tests/golden/NAME, or rewrites it under NOS_UPDATE_GOLDEN=1. On a mismatch, reports the
// first differing line.
void expect_golden(const std::string& name, const std::string& actual) {
  const std::string path = golden_path(name);
  const char* update = std::getenv("NOS_UPDATE_GOLDEN");
  if (update != nullptr && std::string(update) == "1") {
    std::ofstream(path) << actual;
    return;
  }
  const std::string expected = read_text(path);
  ASSERT_FALSE(expected.empty()) << path << " is missing or empty (NOS_UPDATE_GOLDEN=1 writes it)";
  if (expected == actual) return;
  std::istringstream e(expected), a(actual);
  std::string el, al;
  for (int line = 1;; ++line) {
    const bool more_e = static_cast<bool>(std::getline(e, el));
    const bool more_a = static_cast<bool>(std::getline(a, al));
    if (!more_e && !more_a) break;
    if (!more_e || !more_a || el != al) {
      FAIL() << name << ":" << line << " differs\n  expected: " << (more_e ? el : "<end>")
             << "\n  actual:   " << (more_a ? al : "<end>");
    }
  }
  FAIL() << name << " differs (line endings?)";
}

// eval output without the machine-dependent parts: times removed, the data folder named <DATA>, and every number
// with a fraction or an exponent rounded to `digits` significant digits.
std::string normalized(std::string text, const std::string& data_dir, int digits) {
  text = std::regex_replace(text, std::regex("\"seconds\":[-+0-9.eE]+,?"), "");
  text = std::regex_replace(text, std::regex(",\\}"), "}");
  if (!data_dir.empty()) {
    for (size_t at; (at = text.find(data_dir)) != std::string::npos;) text.replace(at, data_dir.size(), "<DATA>");
  }
  const std::regex number("-?[0-9]+\\.[0-9]+([eE][-+]?[0-9]+)?|-?[0-9]+[eE][-+]?[0-9]+");
  std::string result;
  auto begin = std::sregex_iterator(text.begin(), text.end(), number);
  size_t last = 0;
  for (auto it = begin; it != std::sregex_iterator(); ++it) {
    result += text.substr(last, it->position() - last);
    char buffer[32];
    std::snprintf(buffer, sizeof buffer, "%.*g", digits, std::strtod(it->str().c_str(), nullptr));
    result += buffer;
    last = it->position() + it->length();
  }
  return result + text.substr(last);
}

TEST(Golden, RuleCorpus) {
  std::ifstream in(golden_path("rules.txt"));
  ASSERT_TRUE(in) << golden_path("rules.txt");
  std::string all;
  int count = 0;
  for (std::string line; std::getline(in, line); ++count) {
    const size_t space = line.find(' ');
    ASSERT_NE(space, std::string::npos) << line;
    const std::string form = line.substr(0, space), text = line.substr(space + 1);
    std::vector<std::string> args = {"rule"};
    if (form == "tokens") args.push_back("--tokens");
    args.push_back("--");
    args.push_back(text);
    all += record(args, nos(args));
  }
  EXPECT_EQ(count, 1000);
  expect_golden("rules.expected", all);
}

// What nos export writes, pinned (issue 37: the CUDA export was compared only with the call that makes it): a named
// rule to each target, the CUDA kernel in float64 with weight decay, and a DSL rule with a select and a decay.
TEST(Golden, Exports) {
  const std::vector<std::vector<std::string>> commands = {
      {"export", "adam", "--to", "cuda"},
      {"export", "powersign-cd", "--to", "cuda", "--dtype", "float64", "--weight-decay"},
      {"export", "powersign-cd", "--to", "pytorch"},
      {"export", "powersign-cd", "--to", "cpp"},
      {"export", "max(g, m)*ld + sign(g)", "--to", "cuda"},
      {"export", "max(g, m)*ld + sign(g)", "--to", "pytorch"},
      {"export", "max(g, m)*ld + sign(g)", "--to", "cpp"},
  };
  std::string all;
  for (const std::vector<std::string>& args : commands) all += record(args, nos(args));
  expect_golden("export.expected", all);
}

TEST(Golden, NamedRulesAndHelp) {
  const std::vector<std::vector<std::string>> commands = {
      {"rules"},
      {"help"},
      {},
      {"rule", "--help"},
      {"rules", "--help"},
      {"export", "--help"},
      {"eval", "--help"},
      {"bench", "--help"},
      {"bench", "train", "--help"},
      {"bench", "step", "--help"},
      {"search", "--help"},
      {"top", "--help"},
      {"compare", "--help"},
      {"version", "--help"},
      {"worker", "--help"},
      {"help", "rule"},
      {"help", "eval"},
      {"help", "bench"},
      {"help", "search"},
      {"help", "compare"},
      {"help", "worker"},
      {"help", "bench", "step"},
      {"bench", "no-such", "--help"},
      {"rule", "powersign-cd"},
      {"rule", "torch-adam"},
      {"rule", "powersgn"},
  };
  std::string all;
  for (const std::vector<std::string>& args : commands) all += record(args, nos(args));
  expect_golden("cli.expected", all);
}

TEST(Golden, EvalJson) {
  nos::testing::TempDir data;
  tasks::fixtures::write_fmnist_pair(data.path(), "train", 200, 1);
  tasks::fixtures::write_fmnist_pair(data.path(), "t10k", 60, 2);
  const std::vector<std::vector<std::string>> commands = {
      {"eval", "--json"},
      {"eval", "--json", "--rule", "adam", "--task", "rosenbrock", "--steps", "50", "--lr", "0.01"},
      {"eval", "--json", "--rule", "exp(sign(g)*sign(m))*g", "--task", "quadratic", "--steps", "40", "--lr", "0.1"},
      {"eval", "--json", "--rule", "addsign-ld", "--task", "rosenbrock", "--steps", "30"},
      {"eval", "--json", "--rule", "drop(g, 0.3)", "--task", "quadratic", "--steps", "20", "--seed", "3"},
      {"eval", "--json", "--rule", "g/0", "--task", "quadratic", "--steps", "5", "--lr", "10"},
      {"eval", "--json", "--rule", "momentum", "--task", "fmnist-logreg", "--data-dir", data.path(),
       "--validation-size", "40", "--batch-size", "32", "--threads", "1", "--steps", "6", "--lr-grid", "0.01,0.1"},
      {"eval", "--json", "--rule", "adam", "--task", "fmnist-convnet", "--data-dir", data.path(),
       "--validation-size", "40", "--batch-size", "32", "--threads", "1", "--epochs", "1", "--lr", "0.01"},
  };
  std::string all;
  for (const std::vector<std::string>& args : commands) {
    std::vector<std::string> shown = args;
    bool image_task = false;
    for (std::string& a : shown) {
      image_task = image_task || a == data.path();
      if (a == data.path()) a = "<DATA>";
    }
    all += normalized(record(shown, nos(args)), data.path(), image_task ? 4 : 6);
  }
  expect_golden("eval.expected", all);
}

}  // namespace
}  // namespace nos::cli
