// Proposers: valid rules from the token space, seeded reproducibility, checkpoints, evolution's warm start and mutation.
#include <gtest/gtest.h>

#include <cstdio>
#include <iterator>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "common/error.h"
#include "dsl/dsl.h"
#include "search/search.h"
#include "tests/temp_dir.h"

namespace nos::search {
namespace {

// Every proposal reads as a rule of `units` units whose tokens the space offers at their positions.
void expect_in_space(const std::vector<Proposal>& proposals, const TokenSpace& space) {
  for (const Proposal& p : proposals) {
    dsl::TokenParseResult r = dsl::try_parse_tokens(p.tokens);
    ASSERT_TRUE(r.diagnostics.empty()) << p.tokens << ": " << r.diagnostics[0].message;
    ASSERT_EQ(static_cast<int>(r.units.size()), space.units()) << p.tokens;
    EXPECT_NO_THROW(dsl::compile(dsl::from_units(r.units))) << p.tokens;
    const std::vector<std::string> words = split_words(p.tokens);
    ASSERT_EQ(static_cast<int>(words.size()), space.positions());
    for (int pos = 0; pos < space.positions(); ++pos) {
      const std::vector<std::string>& choices = space.choices(pos);
      EXPECT_NE(std::find(choices.begin(), choices.end(), words[pos]), choices.end())
          << words[pos] << " at position " << pos << " of " << p.tokens;
    }
  }
}

TEST(TokenSpace, OperandsOfLaterUnitsIncludeEarlierResults) {
  TokenSpace space(dsl::default_vocabulary(), 3);
  EXPECT_EQ(space.choices(0), dsl::default_vocabulary().operands);
  EXPECT_EQ(space.choices(5).back(), "u0");
  EXPECT_EQ(space.choices(11).back(), "u1");
  EXPECT_EQ(space.choices(13), dsl::default_vocabulary().unary);
  EXPECT_EQ(space.choices(14), dsl::default_vocabulary().binary);
}

TEST(TokenSpace, RulesBecomeTokensOfExactlyTheGivenUnits) {
  EXPECT_EQ(rule_to_units("sgd", 2), "g g id id add | g g id id keep");  // a dead filler unit, then keep(g, g)
  EXPECT_EQ(split_words(rule_to_units("powersign", 2)).size(), 10u);
  EXPECT_EQ(dsl::canonical_text(dsl::from_units(dsl::parse_tokens(rule_to_units("powersign", 3)))),
            "exp(sign(g)*sign(m))*g");
  EXPECT_EQ(dsl::canonical_text(dsl::from_units(dsl::parse_tokens(rule_to_units("g m sign sign mul", 2)))),
            "sign(g)*sign(m)");
  EXPECT_THROW(rule_to_units("nosuchrule", 2), UserError);
  EXPECT_THROW(rule_to_units("exp(exp(g)+exp(m))*exp(v)+exp(g)/m", 1), UserError);
  // A rule longer than the space names the key to raise and the units it needs (issue 33: lion in 2 units).
  try {
    rule_to_units("lion", 2);
    ADD_FAILURE() << "lion fits in 2 units?";
  } catch (const UserError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("'lion' needs 4 units of 5 tokens, and the search space has 2 (space.units): set "
                           "space.units to 4 or more"),
              std::string::npos)
        << message;
  }
  EXPECT_EQ(split_words(rule_to_units("lion", 4)).size(), 20u);
  try {
    rule_to_units("g g id id add | u0 g id id add | u1 g id id add", 2);
    ADD_FAILURE() << "three units fit in two?";
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("needs 3 units of 5 tokens, and the search space has 2 (space.units)"),
              std::string::npos)
        << e.what();
  }
}

TEST(RandomProposer, ProposesValidRulesFromTheSpace) {
  TokenSpace space(dsl::default_vocabulary(), 2);
  RandomProposer p(space, 5);
  const std::vector<Proposal> batch = p.propose(300);
  expect_in_space(batch, space);
  std::set<std::string> distinct;
  for (const Proposal& q : batch) distinct.insert(q.tokens);
  EXPECT_GT(distinct.size(), 290u);
  // Unit references occur: the space is the controller's, u0 included.
  bool reference = false;
  for (const Proposal& q : batch) reference = reference || q.tokens.find("u0") != std::string::npos;
  EXPECT_TRUE(reference);
}

TEST(RandomProposer, SeedAndCheckpointFixTheProposals) {
  TokenSpace space(dsl::default_vocabulary(), 2);
  RandomProposer a(space, 9), b(space, 9), other(space, 10);
  EXPECT_EQ(a.propose(5)[4].tokens, b.propose(5)[4].tokens);
  EXPECT_NE(a.propose(1)[0].tokens, other.propose(1)[0].tokens);
  const std::string state = a.save();
  const std::string next = a.propose(1)[0].tokens;
  RandomProposer restored(space, 0);
  restored.load(state);
  EXPECT_EQ(restored.propose(1)[0].tokens, next);
  EXPECT_THROW(restored.load("garbage"), UserError);
}

TEST(EvolutionProposer, StartsFromTheWarmStartThenMutatesTheFittest) {
  TokenSpace space(dsl::default_vocabulary(), 2);
  EvolutionSettings settings;
  settings.population = 6;
  settings.tournament = 6;  // the whole population: the parent is always the best
  settings.constant_mutation = 0;  // token and unit mutations only (the others: tests below)
  settings.insert_delete = 0;
  settings.warm_start = {"adam", "powersign"};
  EvolutionProposer p(space, settings, 3);
  std::vector<Proposal> first = p.propose(6);
  EXPECT_EQ(first[0].tokens, rule_to_units("adam", 2));
  EXPECT_EQ(first[0].origin, "warm start adam");
  EXPECT_EQ(first[1].tokens, rule_to_units("powersign", 2));
  for (size_t i = 2; i < first.size(); ++i) EXPECT_EQ(first[i].origin, "random");
  expect_in_space({first.begin() + 2, first.end()}, space);
  std::vector<double> rewards = {0.1, 0.9, 0.2, 0.3, 0.0, 0.4};  // powersign is the fittest
  p.feedback(first, rewards);
  ASSERT_EQ(p.population().size(), 6u);

  const std::vector<std::string> parent = split_words(first[1].tokens);
  const std::string parent_rule = dsl::canonical_text(dsl::from_units(dsl::parse_tokens(first[1].tokens)));
  const std::vector<Proposal> children = p.propose(50);
  for (const Proposal& child : children) {
    const std::vector<std::string> words = split_words(child.tokens);
    ASSERT_EQ(words.size(), parent.size());
    int changed = 0;
    std::set<int> units;
    for (size_t i = 0; i < words.size(); ++i) {
      if (words[i] != parent[i]) {
        ++changed;
        units.insert(static_cast<int>(i / 5));
      }
    }
    // One token, or tokens of one unit.
    EXPECT_GE(changed, 1) << child.tokens;
    EXPECT_EQ(units.size(), 1u) << child.tokens;
    if (child.origin.rfind("mutation (token", 0) == 0) {
      EXPECT_EQ(changed, 1) << child.tokens;
    }
    // Tokens of the mutated rule are real positions' choices (unit references only backwards).
    dsl::TokenParseResult r = dsl::try_parse_tokens(child.tokens);
    ASSERT_TRUE(r.diagnostics.empty()) << child.tokens;
  }
  int different = 0;
  for (const Proposal& child : children) {
    different += dsl::canonical_text(dsl::from_units(dsl::parse_tokens(child.tokens))) != parent_rule;
  }
  EXPECT_GT(different, 45);
}

TEST(EvolutionProposer, AgingRemovesTheOldestAndCheckpointsRestoreAll) {
  TokenSpace space(dsl::default_vocabulary(), 2);
  EvolutionSettings settings;
  settings.population = 4;
  settings.tournament = 2;
  EvolutionProposer p(space, settings, 11);
  for (int round = 0; round < 3; ++round) {
    std::vector<Proposal> batch = p.propose(3);
    p.feedback(batch, {0.5, 0.25, 1.0 / 3});
  }
  ASSERT_EQ(p.population().size(), 4u);
  const std::string state = p.save();
  const std::vector<Proposal> next = p.propose(4);
  EvolutionProposer restored(space, settings, 0);
  restored.load(state);
  ASSERT_EQ(restored.population().size(), 4u);
  EXPECT_EQ(restored.population().back().reward, 1.0 / 3);
  const std::vector<Proposal> again = restored.propose(4);
  for (size_t i = 0; i < next.size(); ++i) EXPECT_EQ(again[i].tokens, next[i].tokens);
}

// Evolution's number mutation: one live number scaled by 2^z, z ~ N(0, 1) (β through 1 − β), rounded to 3 digits.
TEST(TokenSpace, NumberMutationScalesByAPowerOfTwoOfAStandardNormal) {
  dsl::Vocabulary v{{"g", "2", "m", "mp"}, {"id"}, {"mul", "add"}};
  TokenSpace space(v, 1);
  Rng rng(5);
  std::vector<double> log_ratio;
  for (int i = 0; i < 2000; ++i) {
    std::vector<std::string> words = {"g", "2", "id", "id", "mul"};
    ASSERT_EQ(space.mutate_number(words, rng), 1);
    const double x = std::stod(words[1]);
    ASSERT_GT(x, 0);
    EXPECT_EQ(nos::format_number(x), words[1]);
    log_ratio.push_back(std::log2(x / 2));
  }
  double mean = 0, var = 0;
  for (double r : log_ratio) mean += r / log_ratio.size();
  for (double r : log_ratio) var += (r - mean) * (r - mean) / log_ratio.size();
  EXPECT_NEAR(mean, 0, 0.1);
  EXPECT_NEAR(std::sqrt(var), 1, 0.1);
  // A bare mp takes its default β 0.99; β stays in [0, 0.9999] and moves through 1 − β.
  std::set<std::string> seen;
  for (int i = 0; i < 200; ++i) {
    std::vector<std::string> words = {"mp", "g", "id", "id", "add"};
    ASSERT_EQ(space.mutate_number(words, rng), 0);
    ASSERT_EQ(words[0].rfind("mp(", 0), 0u) << words[0];
    const double beta = std::stod(words[0].substr(3));
    EXPECT_GE(beta, 0);
    EXPECT_LE(beta, 0.9999);
    // 1 − β has 3 significant digits and is >= 1e-4, so β prints with at most 6 decimals ("0.582", never
    // "0.5820000000000001": the difference's binary rounding, issue 33).
    const std::string text = words[0].substr(3, words[0].size() - 4);
    EXPECT_LE(text.size(), 8u) << words[0];
    EXPECT_EQ(words[0].back(), ')') << words[0];
    seen.insert(words[0]);
    EXPECT_NO_THROW(dsl::parse_tokens(join_words(words)));
  }
  EXPECT_GT(seen.size(), 50u);
  // No number in a live unit: nothing to mutate (g alone; the dead unit's 2 does not count).
  TokenSpace two(v, 2);
  std::vector<std::string> words = {"2", "2", "id", "id", "mul", "g", "g", "id", "id", "mul"};
  EXPECT_EQ(two.mutate_number(words, rng), -1);
}

TEST(TokenSpace, InsertAndDeleteUnitsChangeTheRulesLength) {
  TokenSpace space(dsl::default_vocabulary(), 2);
  Rng rng(9);
  // Unit 0 is dead filler: an insertion puts a unit there and makes unit 1 read it.
  const std::vector<std::string> short_rule = split_words(rule_to_units("g*m", 2));
  for (int i = 0; i < 20; ++i) {
    std::vector<std::string> words = short_rule;
    ASSERT_EQ(space.insert_unit(words, rng), 0) << join_words(words);
    EXPECT_TRUE(words[5] == "u0" || words[6] == "u0") << join_words(words);
    EXPECT_TRUE(words[0] == "g" || words[0] == "m") << join_words(words);
    EXPECT_EQ(space.live_units(words), (std::vector<bool>{true, true}));
    EXPECT_NO_THROW(dsl::compile(dsl::from_units(dsl::parse_tokens(join_words(words)))));
  }
  // Every unit live: no room to insert. Deleting unit 0 of PowerSign makes unit 1 read sign(g)'s operand g.
  std::vector<std::string> powersign = split_words("g m sign sign mul | u0 g exp id mul");
  EXPECT_EQ(space.insert_unit(powersign, rng), -1);
  ASSERT_EQ(space.delete_unit(powersign, rng), 0);
  EXPECT_EQ(join_words(powersign), "g m sign sign mul | g g exp id mul");
  EXPECT_EQ(space.live_units(powersign), (std::vector<bool>{false, true}));
  // One live unit: nothing to delete.
  EXPECT_EQ(space.delete_unit(powersign, rng), -1);
}

// After `restart_after` children without a better reward, the population is the best so far (or the warm start);
// checkpoints keep the restart state, and version-1 checkpoints still load.
TEST(EvolutionProposer, RestartsFromTheBestAfterAPlateau) {
  TokenSpace space(dsl::default_vocabulary(), 2);
  EvolutionSettings settings;
  settings.population = 4;
  settings.tournament = 2;
  settings.restart_after = 3;
  settings.warm_start = {"adam"};
  EvolutionProposer p(space, settings, 21);
  std::vector<Proposal> first = p.propose(4);
  p.feedback(first, {0.5, 0.2, 0.1, 0.9});
  EXPECT_EQ(p.restarts(), 0);
  std::vector<Proposal> children = p.propose(3);
  p.feedback(children, {0.3, 0.4, 0.8});  // none beats 0.9: the third is the plateau's end
  EXPECT_EQ(p.restarts(), 1);
  ASSERT_EQ(p.population().size(), 4u);
  for (const auto& ind : p.population()) {
    EXPECT_EQ(ind.tokens, first[3].tokens);
    EXPECT_EQ(ind.reward, 0.9);
  }
  const std::string state = p.save();
  EvolutionProposer restored(space, settings, 0);
  restored.load(state);
  EXPECT_EQ(restored.restarts(), 1);
  const std::vector<Proposal> a = p.propose(2), b = restored.propose(2);
  for (size_t i = 0; i < a.size(); ++i) EXPECT_EQ(a[i].tokens, b[i].tokens);
  // Two children without improvement (a plateau of 3 is not over), then a checkpoint mid-plateau: the count since
  // the last improvement survives it, so the original and a proposer restored from it restart at the same child.
  p.feedback(a, {0.1, 0.1});
  restored.feedback(b, {0.1, 0.1});
  EXPECT_EQ(p.restarts(), 1);
  EXPECT_EQ(restored.restarts(), 1);
  EvolutionProposer again(space, settings, 0);
  again.load(restored.save());
  p.feedback(p.propose(1), {0.1});
  again.feedback(again.propose(1), {0.1});
  EXPECT_EQ(p.restarts(), 2);
  EXPECT_EQ(again.restarts(), 2);
  // Version 1 (before issue 16): the population alone.
  std::string v1 = state;
  v1.replace(v1.find(" 2\n"), 3, " 1\n");
  v1.erase(v1.rfind('\n', v1.size() - 2) + 1);
  v1.erase(v1.rfind('\n', v1.size() - 2) + 1);
  EvolutionProposer old(space, settings, 0);
  EXPECT_NO_THROW(old.load(v1));
  EXPECT_EQ(old.population().size(), 4u);
  // From the warm start instead.
  settings.restart_from = "warm_start";
  EvolutionProposer w(space, settings, 21);
  std::vector<Proposal> f = w.propose(4);
  w.feedback(f, {0.5, 0.2, 0.1, 0.9});
  w.feedback(w.propose(3), {0.3, 0.4, 0.8});
  ASSERT_EQ(w.restarts(), 1);
  EXPECT_EQ(w.population().front().tokens, rule_to_units("adam", 2));
  EXPECT_EQ(w.population().front().reward, 0.5);
}

// configs/space-modern.yaml reaches adamw (adam + 0.01*w), amsgrad, adagrad and lion: each rule's token form is in
// its space, and evolution mutates them into rules of the space.
TEST(EvolutionProposer, SpaceModernReachesAdamwAmsgradAdagradAndLion) {
  const SearchConfig c = load_config(std::string(NOS_SOURCE_DIR) + "/configs/space-modern.yaml");
  TokenSpace space(c.space.vocabulary, c.space.units);
  std::vector<Proposal> rules;
  for (const char* rule : {"adam + 0.01*w", "amsgrad", "adagrad", "lion", "adam"}) {
    rules.push_back({rule_to_units(rule, c.space.units), rule});
  }
  expect_in_space(rules, space);
  // adamw as a warm start carries its decoupled decay into the rule.
  EXPECT_EQ(rule_to_units("adamw", c.space.units), rules[0].tokens);
  EXPECT_EQ(rule_to_units("torch-adamw", c.space.units), rules[0].tokens);
  EXPECT_EQ(dsl::canonical_text(dsl::from_units(dsl::parse_tokens(rules[3].tokens))),
            dsl::canonical_text(dsl::parse("sign(0.9*mp + 0.1*g)")));
  EvolutionProposer p(space, c.evolution, 1);
  std::vector<Proposal> first = p.propose(c.evolution.population);
  EXPECT_EQ(first[1].tokens, rules[3].tokens);
  p.feedback(first, std::vector<double>(first.size(), 0.5));
  for (const Proposal& child : p.propose(100)) {
    EXPECT_NO_THROW(dsl::compile(dsl::from_units(dsl::parse_tokens(child.tokens)))) << child.tokens;
  }
}

// resample_repeats: a sample whose canonical rule was proposed before is drawn again. In a small space (one unit of
// g, m, id, neg, add, sub, mul, keep) plain sampling repeats often; with resampling the first proposals are all
// different, and a checkpoint keeps the rules proposed so far.
TEST(ControllerProposer, ResamplesRepeats) {
  testing::TempDir dir;
  dsl::Vocabulary v{{"g", "m"}, {"id", "neg"}, {"add", "sub", "mul", "keep"}};
  TokenSpace space(v, 1);
  std::set<std::string> distinct;
  for (const std::string& a : v.operands)
    for (const std::string& b : v.operands)
      for (const std::string& u1 : v.unary)
        for (const std::string& u2 : v.unary)
          for (const std::string& f : v.binary) {
            distinct.insert(dsl::canonical_text(dsl::from_units(dsl::parse_tokens(join_words({a, b, u1, u2, f})))));
          }
  ASSERT_GE(distinct.size(), 12u);
  auto repeats = [&](int resample, int n, int* first_repeat) {
    controller::ControllerOptions o;
    o.units = 1;
    o.hidden = 8;
    o.seed = 3;
    o.resample_repeats = resample;
    ControllerProposer p(o, v);
    std::set<std::string> seen;
    int count = 0;
    *first_repeat = -1;
    for (int i = 0; i < n; ++i) {
      const std::string c = dsl::canonical_text(dsl::from_units(dsl::parse_tokens(p.propose(1)[0].tokens)));
      if (!seen.insert(c).second) {
        ++count;
        if (*first_repeat < 0) *first_repeat = i;
      }
    }
    return count;
  };
  int first_plain = 0, first_resampled = 0;
  const int plain = repeats(0, 30, &first_plain);
  const int resampled = repeats(20, 30, &first_resampled);
  EXPECT_GE(plain, 10);
  EXPECT_LT(resampled, plain);
  EXPECT_TRUE(first_resampled < 0 || first_resampled >= static_cast<int>(distinct.size()) / 2) << first_resampled;
  // The checkpoint carries the proposed rules: a restored proposer does not propose them again.
  controller::ControllerOptions o;
  o.units = 1;
  o.hidden = 8;
  o.resample_repeats = 50;
  ControllerProposer p(o, v);
  std::vector<Proposal> before = p.propose(4);
  ControllerProposer restored(o, v);
  restored.load(p.save());
  EXPECT_EQ(restored.proposed(), p.proposed());
  // A checkpoint from before issue 36 lists sign(adam): restored, it is today's sign(m).
  const std::string state = p.save();
  const size_t list = state.find('\n') + 1;
  const size_t bytes = [&] {
    size_t at = state.find('\n', list) + 1;
    for (size_t k = 0; k < p.proposed().size(); ++k) at = state.find('\n', at) + 1;
    return at;
  }();
  ControllerProposer old(o, v);
  old.load(state.substr(0, list) + "1\nsign(adam)\n" + state.substr(bytes));
  EXPECT_EQ(old.proposed(), std::set<std::string>{"sign(m)"});
  // A damaged header or list is a clear error, not a crash.
  EXPECT_THROW(restored.load("nos-controller-proposer 2\nmany\n"), UserError);
  EXPECT_THROW(restored.load("nos-controller-proposer 2\n3\ng\n"), UserError);
  for (const Proposal& q : restored.propose(4)) {
    EXPECT_EQ(p.proposed().count(dsl::canonical_text(dsl::from_units(dsl::parse_tokens(q.tokens)))), 0u) << q.tokens;
  }
}

// Issue 36: at controller lr 0.01 and entropy_weight 0.02, a policy rewarded for a few rules collapses onto them once
// it has proposed them all, and 20 resampled draws cannot leave it. The tiny task: the default 2-unit space, reward
// 0.8 for a rule whose canonical text is shorter than 10 characters (g, sign(m), m*g, ...: a small set), 0
// otherwise; 60 batches of 8 at seed 1. Returns the share of the second half's proposals that repeat an earlier
// rule, and each batch's repeats.
double second_half_repeats(const std::string& escape, std::vector<int>* per_batch) {
  controller::ControllerOptions o;
  o.lr = 0.01;
  o.entropy_weight = 0.02;
  o.seed = 1;
  o.escape = escape;
  ControllerProposer p(o, dsl::default_vocabulary());
  std::set<std::string> seen;
  int repeats = 0, second_half = 0;
  const int batches = 60;
  for (int batch = 0; batch < batches; ++batch) {
    const std::vector<Proposal> proposals = p.propose(8);
    std::vector<double> rewards;
    int in_batch = 0;
    for (const Proposal& q : proposals) {
      const std::string c = dsl::canonical_text(dsl::from_units(dsl::parse_tokens(q.tokens)));
      const bool repeat = !seen.insert(c).second;
      in_batch += repeat;
      if (batch >= batches / 2) {
        repeats += repeat;
        ++second_half;
      }
      EXPECT_EQ(repeat, q.origin.find("a repeat") != std::string::npos) << q.origin;
      rewards.push_back(c.size() < 10 ? 0.8 : 0.0);
    }
    per_batch->push_back(in_batch);
    p.feedback(proposals, rewards);
  }
  return static_cast<double>(repeats) / second_half;
}

TEST(ControllerProposer, EscapesACollapsedPolicy) {
  std::vector<int> before, after;
  const double plain = second_half_repeats("none", &before);
  const double escaped = second_half_repeats("temperature", &after);
  std::ostringstream batches;
  for (size_t i = 0; i < before.size(); ++i) batches << " " << before[i] << "/" << after[i];
  EXPECT_GE(plain, 0.3) << "the tiny task no longer collapses the plain controller; repeats per batch (none/escape):"
                        << batches.str();
  EXPECT_LT(escaped, 0.3) << "repeats per batch (none/escape):" << batches.str();
  std::printf("second-half repeats: escape none %.1f%%, escape temperature %.1f%%\n", 100 * plain, 100 * escaped);
}

// Feedback trains the controller: after batches rewarded by their agreement with PowerSign's tokens, the policy
// gives PowerSign a clearly higher probability, and a proposer given the same batches without rewards does not.
TEST(ControllerProposer, LearnsFromFeedback) {
  testing::TempDir dir;
  controller::ControllerOptions o;
  o.units = 2;
  o.hidden = 16;
  o.seed = 4;
  const std::string target = "g m sign sign mul | u0 g exp id mul";
  std::istringstream target_in(target);
  const std::vector<std::string> target_tokens{std::istream_iterator<std::string>(target_in), {}};
  auto agreement = [&](const std::string& tokens) {
    std::istringstream in(tokens);
    const std::vector<std::string> got{std::istream_iterator<std::string>(in), {}};
    double hits = 0;
    for (size_t i = 0; i < got.size() && i < target_tokens.size(); ++i) hits += got[i] == target_tokens[i];
    return hits / static_cast<double>(target_tokens.size());
  };
  ControllerProposer taught(o, dsl::default_vocabulary());
  ControllerProposer untaught(o, dsl::default_vocabulary());
  const double before = taught.log_prob(target);
  EXPECT_DOUBLE_EQ(untaught.log_prob(target), before);
  for (int round = 0; round < 40; ++round) {
    const std::vector<Proposal> batch = taught.propose(16);
    std::vector<double> rewards;
    for (const Proposal& p : batch) rewards.push_back(agreement(p.tokens));
    taught.feedback(batch, rewards);
    const std::vector<Proposal> other = untaught.propose(16);
    untaught.feedback(other, std::vector<double>(16, 0.0));
  }
  EXPECT_GT(taught.log_prob(target), before + 2.0);
  EXPECT_LT(untaught.log_prob(target), before + 1.0);
}

TEST(ControllerProposer, CheckpointsThroughItsScratchFile) {
  testing::TempDir dir;
  controller::ControllerOptions o;
  o.units = 2;
  o.hidden = 16;
  o.seed = 4;
  ControllerProposer p(o, dsl::default_vocabulary());
  std::vector<Proposal> batch = p.propose(8);
  expect_in_space(batch, TokenSpace(dsl::default_vocabulary(), 2));
  p.feedback(batch, std::vector<double>(8, 0.5));
  const std::string state = p.save();
  const std::vector<Proposal> next = p.propose(8);
  ControllerProposer restored(o, dsl::default_vocabulary());
  restored.load(state);
  const std::vector<Proposal> again = restored.propose(8);
  for (size_t i = 0; i < next.size(); ++i) EXPECT_EQ(again[i].tokens, next[i].tokens);
}

TEST(Proposers, MadeFromTheConfig) {
  SearchConfig c;
  for (const char* kind : {"controller", "random", "evolution"}) {
    c.proposer = kind;
    testing::TempDir dir;
    EXPECT_EQ(make_proposer(c)->kind(), kind);
  }
}

TEST(ProposerRegistry, ConfigAcceptsExactlyTheRowsAndEachRowMakesItsKind) {
  std::vector<std::string> names;
  for (const ProposerInfo& row : proposers()) {
    names.emplace_back(row.name);
    const SearchConfig c = parse_config("proposer: " + std::string(row.name) + "\n", "test.yaml");
    EXPECT_EQ(c.proposer, row.name);
    testing::TempDir dir;
    EXPECT_EQ(make_proposer(c)->kind(), row.name);
    EXPECT_FALSE(row.title.empty());
    EXPECT_FALSE(row.doc.empty());
  }
  EXPECT_EQ(names, (std::vector<std::string>{"controller", "random", "evolution"}));
  EXPECT_EQ(proposer_names(), names);
  try {
    parse_config("proposer: annealing\n", "test.yaml");
    FAIL() << "no error";
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("expected one of controller, random, evolution, got 'annealing'"),
              std::string::npos)
        << e.what();
  }
  SearchConfig c;
  c.proposer = "annealing";
  testing::TempDir dir;
  try {
    make_proposer(c);
    FAIL() << "no error";
  } catch (const UserError& e) {
    EXPECT_EQ(std::string(e.what()), "unknown proposer 'annealing' (expected controller, random or evolution)");
  }
}

}  // namespace
}  // namespace nos::search
