// Tests of `nos compare` on the command line: flags, errors before anything runs, an in-process run and its rerun.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "cli/cli.h"
#include "tests/cli/helpers.h"
#include "tests/temp_dir.h"

namespace nos::cli {
namespace {

using testing::contains;
using testing::nos;
using testing::Outcome;

bool exists(const std::string& path) { return std::ifstream(path).good(); }

std::string read(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

using nos::testing::TempDir;

TEST(CompareCommand, HelpNamesTheFlagsAndTheProtocol) {
  Outcome o = nos({"compare", "--help"});
  EXPECT_EQ(o.code, kExitOk);
  for (const char* part : {"Usage: nos compare", "--rules", "--seeds", "--lr-grid", "--tune-epochs", "--jobs",
                           "--out", "@RUN_DIR:topN", "smaller lr"}) {
    EXPECT_TRUE(contains(o.out, part)) << part;
  }
  EXPECT_TRUE(contains(nos({"--help"}).out, "  compare")) << "listed by nos help";
}

TEST(CompareCommand, BadRuleTextIsReportedBeforeAnythingRuns) {
  TempDir dir;
  const std::string out = dir.path() + "/report";
  Outcome o = nos({"compare", "--rules", "adam,exp(g)*expp(m)", "--out", out});
  EXPECT_EQ(o.code, kExitUserError);
  EXPECT_TRUE(contains(o.err, "rules[1]: 'exp(g)*expp(m)' is not a named rule")) << o.err;
  EXPECT_TRUE(contains(o.err, "rule:1:8: error[E012]: unknown function 'expp'")) << o.err;
  EXPECT_TRUE(contains(o.err, "^~~~")) << o.err;
  EXPECT_FALSE(exists(out + "/config.yaml")) << "nothing may run or be written";
}

TEST(CompareCommand, UserMistakesExit2WithAMessage) {
  TempDir dir;
  const std::string out = dir.path() + "/report";
  struct Case {
    std::vector<std::string> args;
    std::string message;
  };
  const std::string config = dir.file("bad.yaml", "rules: [adam]\nsedes: 3\n");
  const std::vector<Case> cases = {
      {{"compare", "--rules", "adam"}, "give --out DIR"},
      {{"compare", "--out", out}, "no rules to compare"},
      {{"compare", "--rules", "adam,,sgd", "--out", out}, "--rules: empty item at position 2"},
      {{"compare", "--rules", "adam", "--task", "rosenbrock", "--out", out}, "analytic objective"},
      {{"compare", "--rules", "adam", "--task", "imagenet-convnet", "--out", out}, "unknown task 'imagenet-convnet'"},
      {{"compare", "--rules", "adam", "--seeds", "0", "--out", out}, "--seeds"},
      {{"compare", "--rules", "adam", "--lr-grid", "0.1,x", "--out", out}, "--lr-grid"},
      {{"compare", "--rules", "adam", "--epochs", "1", "--tune-epochs", "2", "--out", out}, "tune_epochs"},
      {{"compare", "--rules", "@nowhere/run:top3", "--out", out}, "no search run in 'nowhere/run'"},
      {{"compare", "--rules", "adam", "--out", out, "--frobnicate"}, "frobnicate"},
      {{"compare", "--config", config, "--out", out}, "bad.yaml:2: key 'sedes': unknown key"},
      {{"compare", "--config", dir.path() + "/missing.yaml"}, "missing.yaml: cannot open"},
      {{"compare", "--rules", "adam", "--schedule", "cosin", "--out", out}, "--schedule"},
      {{"compare", "--rules", "adam", "--weight-decay-mode", "decoupled", "--out", out}, "needs a weight_decay"},
      {{"compare", "--rules", "adam", "--clip-value", "-1", "--out", out}, "--clip-value"},
      // Rows that cannot train with the recipe are refused before the first run (issue 33), naming the row and flag.
      {{"compare", "--rules", "adamw,torch-adamw", "--weight-decay", "0.05", "--out", out},
       "rules[1] ('torch-adamw'), before any run: torch-adamw cannot train convnet with weight_decay: 0.05"},
      {{"compare", "--rules", "adamw,torch-adamw", "--weight-decay", "0.05", "--out", out},
       "use --weight-decay-mode decoupled"},
      {{"compare", "--rules", "adam", "--weight-decay", "0.05", "--weight-decay-mode", "decoupled", "--out", out},
       "reference for adam ('torch-adam'), before any run"},
      {{"compare", "--rules", "adam", "--weight-decay", "0.05", "--weight-decay-mode", "decoupled", "--out", out},
       "--no-native"},
  };
  for (const Case& c : cases) {
    Outcome o = nos(c.args);
    EXPECT_EQ(o.code, kExitUserError) << c.message;
    EXPECT_TRUE(contains(o.err, c.message)) << "expected '" << c.message << "' in: " << o.err;
  }
  if (!torch::cuda::is_available()) {
    Outcome o = nos({"compare", "--rules", "adam", "--device", "cuda", "--out", out});
    EXPECT_EQ(o.code, kExitUserError);
    EXPECT_TRUE(contains(o.err, "CUDA is not available")) << o.err;
  }
  EXPECT_FALSE(exists(out + "/config.yaml"));
}

TEST(CompareCommand, RunsInProcessOnFashionMnistAndResumes) {
  const std::string fmnist = "/usr/share/datasets/fashion-mnist";
  if (!exists(fmnist + "/train-images-idx3-ubyte.gz")) GTEST_SKIP() << "Fashion-MNIST is not installed at " << fmnist;
  TempDir dir;
  const std::string out = dir.path() + "/report";
  const std::vector<std::string> args = {"compare", "--rules", "adam", "--task", "fmnist-logreg", "--epochs", "2",
                                         "--seeds", "2", "--lr-grid", "0.001,0.01", "--train-size", "512",
                                         "--validation-size", "256", "--threads", "1", "--jobs", "2", "--in-process",
                                         "--out", out};
  Outcome first = nos(args);
  ASSERT_EQ(first.code, kExitOk) << first.err;
  EXPECT_TRUE(contains(first.out, "torch-adam")) << first.out;
  EXPECT_TRUE(contains(first.out, "final val")) << first.out;
  EXPECT_TRUE(contains(first.err, "[compare] 8/8 runs")) << first.err;
  EXPECT_TRUE(contains(first.err, "ETA")) << first.err;
  for (const char* file : {"results.csv", "summary.csv", "tuning.csv", "report.md", "runs.jsonl", "config.yaml"}) {
    EXPECT_TRUE(exists(out + "/" + file)) << file;
  }
  Outcome again = nos(args);
  ASSERT_EQ(again.code, kExitOk) << again.err;
  EXPECT_TRUE(contains(again.out, "(0 runs in")) << again.out;
  EXPECT_TRUE(contains(again.out, "8 from the journal")) << again.out;
  std::vector<std::string> other = args;
  other[6] = "3";  // --epochs 3 into the same folder
  Outcome changed = nos(other);
  EXPECT_EQ(changed.code, kExitUserError);
  EXPECT_TRUE(contains(changed.err, "epochs: 2 in the folder, 3 now")) << changed.err;
}

// The committed Fashion-MNIST report (docs/results/compare-fmnist: 8 rules, 64 runs), resumed in a copy: every run
// comes from the journal, nothing trains, and the CSVs, plot data, journal, config and
// session log come out byte for byte as committed.
TEST(CompareCommand, CommittedReportResumesWithoutTrainingAndRewritesItsFilesByteIdentical) {
  const std::string committed = std::string(NOS_SOURCE_DIR) + "/docs/results/compare-fmnist";
  ASSERT_TRUE(exists(committed + "/runs.jsonl")) << committed;
  TempDir dir;
  const std::string out = dir.path() + "/compare-fmnist";
  ASSERT_EQ(std::system(("cp -R '" + committed + "' '" + out + "'").c_str()), 0);
  Outcome o = nos({"compare", "--config", out + "/config.yaml", "--out", out, "--in-process"});
  ASSERT_EQ(o.code, kExitOk) << o.err;
  EXPECT_TRUE(contains(o.out, "(0 runs in")) << o.out;
  EXPECT_TRUE(contains(o.out, "64 from the journal)")) << o.out;
  EXPECT_TRUE(contains(o.out, "against adam (test accuracy paired by seed, Holm over 7 rules, alpha 0.05): better: "
                              "none; worse: none; no difference shown: 7")) << o.out;
  EXPECT_TRUE(contains(o.err, "[compare] 64/64 runs (64 from the journal), 0 running")) << o.err;
  std::vector<std::string> files = {"results.csv", "tuning.csv", "summary.csv", "runs.jsonl", "config.yaml",
                                    "sessions.csv", "plots/plots.gp", "differences.csv", "plots/paired.dat",
                                    "plots/paired.gp"};
  for (int row = 1; row <= 8; ++row) files.push_back("plots/row-" + std::to_string(row) + ".dat");
  for (const std::string& file : files) {
    EXPECT_EQ(read(out + "/" + file), read(committed + "/" + file)) << file << " differs from the committed one";
  }
}

TEST(CompareCommand, NativeNamesWorkInEvalAndRules) {
  Outcome rules = nos({"rules"});
  EXPECT_TRUE(contains(rules.out, "torch-adam")) << rules.out;
  EXPECT_TRUE(contains(rules.out, "torch::optim::SGD(momentum=0.9")) << rules.out;
  Outcome eval = nos({"eval", "--rule", "torch-adam", "--task", "rosenbrock", "--steps", "100", "--json"});
  EXPECT_EQ(eval.code, kExitOk) << eval.err;
  EXPECT_TRUE(contains(eval.out, "\"canonical\":\"torch::optim::Adam(")) << eval.out;
}

}  // namespace
}  // namespace nos::cli
