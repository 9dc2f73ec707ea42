// The controller: valid samples only, seeded reproducibility, REINFORCE/PPO learning a synthetic reward, checkpoints.
#include <gtest/gtest.h>

#include "controller/controller.h"
#include "tests/temp_dir.h"

namespace nos::controller {
namespace {

ControllerOptions small(int units = 2, uint64_t seed = 1) {
  ControllerOptions o;
  o.units = units;
  o.hidden = 32;
  o.seed = seed;
  return o;
}

TEST(Controller, SamplesAreAlwaysValidTokenSequences) {
  Controller c(small(3), dsl::default_vocabulary());
  for (const Sample& s : c.sample(500)) {
    dsl::TokenParseResult r = dsl::try_parse_tokens(s.tokens);
    ASSERT_TRUE(r.diagnostics.empty()) << s.tokens << ": " << r.diagnostics[0].message;
    ASSERT_EQ(r.units.size(), 3u);
    EXPECT_NO_THROW(dsl::canonical_text(dsl::from_units(r.units)));
    EXPECT_LT(s.log_prob, 0.0);
    EXPECT_EQ(c.actions_of(s.tokens), s.actions);
  }
}

TEST(Controller, UnitReferencesOnlyPointBackwards) {
  Controller c(small(4), dsl::default_vocabulary());
  EXPECT_EQ(c.choices(0).size(), dsl::default_vocabulary().operands.size());
  EXPECT_EQ(c.choices(5).back(), "u0");
  EXPECT_EQ(c.choices(16).back(), "u2");
  EXPECT_EQ(c.choices(2), dsl::default_vocabulary().unary);
  EXPECT_EQ(c.choices(4), dsl::default_vocabulary().binary);
}

TEST(Controller, ASeedFixesTheSamples) {
  Controller a(small(2, 7), dsl::default_vocabulary());
  Controller b(small(2, 7), dsl::default_vocabulary());
  Controller other(small(2, 8), dsl::default_vocabulary());
  std::vector<Sample> sa = a.sample(20), sb = b.sample(20), so = other.sample(20);
  for (size_t i = 0; i < sa.size(); ++i) EXPECT_EQ(sa[i].tokens, sb[i].tokens);
  int same = 0;
  for (size_t i = 0; i < sa.size(); ++i) same += sa[i].tokens == so[i].tokens;
  EXPECT_LT(same, 5);
}

// A dense synthetic reward: the fraction of positions that agree with a target sequence. No child is trained.
double reward_for(const std::vector<int64_t>& actions, const std::vector<int64_t>& target) {
  double hits = 0;
  for (size_t i = 0; i < actions.size(); ++i) hits += actions[i] == target[i];
  return hits / static_cast<double>(actions.size());
}

// Expected gains in log p(target) after 100 batches of 32: measured about +8 to +15 nats for REINFORCE (one step
// per batch; it then plateaus near 60% of positions right) and about +26 for PPO (four clipped epochs per batch,
// reaching the target almost surely).
void expect_learns(const std::string& algorithm, double min_gain) {
  ControllerOptions o = small(2, 3);
  o.algorithm = algorithm;
  o.lr = 0.005;
  Controller c(o, dsl::default_vocabulary());
  const std::vector<int64_t> target = c.actions_of("g m sign sign mul | u0 g exp id mul");  // PowerSign
  const double before = c.log_prob(target);
  double first = 0, last = 0;
  const int rounds = 100;
  for (int round = 0; round < rounds; ++round) {
    std::vector<Sample> batch = c.sample(32);
    std::vector<double> rewards;
    for (const Sample& s : batch) rewards.push_back(reward_for(s.actions, target));
    UpdateStats st = c.update(batch, rewards);
    if (round < 5) first += st.mean_reward / 5;
    if (round >= rounds - 5) last += st.mean_reward / 5;
  }
  const double after = c.log_prob(target);
  EXPECT_GT(after, before + min_gain) << algorithm << ": log p(target) " << before << " -> " << after;
  EXPECT_GT(last, first + 0.3) << algorithm << ": mean reward " << first << " -> " << last;
}

TEST(Controller, ReinforceRaisesTheProbabilityOfARewardedSequence) { expect_learns("reinforce", 5.0); }
TEST(Controller, PpoRaisesTheProbabilityOfARewardedSequence) { expect_learns("ppo", 20.0); }

TEST(Controller, CheckpointRestoresPolicyBaselineAndSampler) {
  nos::testing::TempDir dir;
  Controller a(small(2, 5), dsl::default_vocabulary());
  std::vector<Sample> batch = a.sample(16);
  a.update(batch, std::vector<double>(16, 0.5));
  a.save(dir.file("controller.pt"));
  Controller b(small(2, 99), dsl::default_vocabulary());
  b.load(dir.file("controller.pt"));
  EXPECT_DOUBLE_EQ(a.baseline(), b.baseline());
  std::vector<Sample> sa = a.sample(10), sb = b.sample(10);
  for (size_t i = 0; i < sa.size(); ++i) {
    EXPECT_EQ(sa[i].tokens, sb[i].tokens);
    EXPECT_NEAR(sa[i].log_prob, sb[i].log_prob, 1e-6);
  }
  EXPECT_THROW(b.load(dir.file("absent.pt")), UserError);
}

// `rounds` REINFORCE batches of 32 rewarded by reward_for(target); the last update's statistics.
UpdateStats train_towards(Controller& c, const std::vector<int64_t>& target, int rounds) {
  UpdateStats last;
  for (int round = 0; round < rounds; ++round) {
    std::vector<Sample> batch = c.sample(32);
    std::vector<double> rewards;
    for (const Sample& s : batch) rewards.push_back(reward_for(s.actions, target));
    last = c.update(batch, rewards);
  }
  return last;
}

// The sampling temperature divides the logits: below 1 the policy's favourites are drawn more often, above 1 less
// (towards uniform), from the very same weights; log_prob stays the policy's own (temperature 1).
TEST(Controller, TemperatureSharpensOrFlattensTheSampling) {
  nos::testing::TempDir dir;
  ControllerOptions o = small(2, 3);
  Controller trained(o, dsl::default_vocabulary());
  const std::vector<int64_t> target = trained.actions_of("g m sign sign mul | u0 g exp id mul");
  train_towards(trained, target, 40);
  trained.save(dir.file("trained.pt"));
  auto agreement = [&](double temperature, double* log_p) {
    ControllerOptions t = o;
    t.temperature = temperature;
    Controller c(t, dsl::default_vocabulary());
    c.load(dir.file("trained.pt"));
    *log_p = c.log_prob(target);
    double hits = 0;
    const std::vector<Sample> samples = c.sample(400);
    for (const Sample& s : samples) hits += reward_for(s.actions, target);
    return hits / static_cast<double>(samples.size());
  };
  double log_cold = 0, log_plain = 0, log_hot = 0;
  const double cold = agreement(0.25, &log_cold), plain = agreement(1.0, &log_plain), hot = agreement(4.0, &log_hot);
  EXPECT_GT(cold, plain + 0.05) << "temperature 0.25: " << cold << ", 1: " << plain;
  EXPECT_GT(plain, hot + 0.05) << "temperature 1: " << plain << ", 4: " << hot;
  EXPECT_DOUBLE_EQ(log_cold, log_plain);
  EXPECT_DOUBLE_EQ(log_hot, log_plain);
}

// The entropy bonus keeps the policy spread while it learns: with a large weight the batch entropy after the same
// training stays well above that of the policy trained without it.
TEST(Controller, EntropyBonusKeepsThePolicySpread) {
  auto entropy_after = [](double weight) {
    ControllerOptions o = small(2, 3);
    o.entropy_weight = weight;
    Controller c(o, dsl::default_vocabulary());
    const std::vector<int64_t> target = c.actions_of("g m sign sign mul | u0 g exp id mul");
    return train_towards(c, target, 60).entropy;
  };
  const double without = entropy_after(0.0), with = entropy_after(0.5);
  EXPECT_GT(with, without + 0.2) << "entropy with the bonus " << with << ", without " << without;
}

TEST(Controller, RestrictedVocabularyAndBadOptions) {
  dsl::Vocabulary v{{"g", "m", "sign(g)", "sign(m)", "1", "2"}, {"id", "exp", "neg"}, {"add", "mul"}};
  Controller c(small(2), v);
  for (const Sample& s : c.sample(50)) {
    EXPECT_TRUE(dsl::try_parse_tokens(s.tokens).diagnostics.empty()) << s.tokens;
    EXPECT_EQ(s.tokens.find("adam"), std::string::npos);
  }
  ControllerOptions bad = small();
  bad.units = 0;
  EXPECT_THROW(Controller(bad, v), UserError);
  bad = small();
  bad.algorithm = "sgd";
  EXPECT_THROW(Controller(bad, v), UserError);
  dsl::Vocabulary typo{{"g", "gg"}, {"id"}, {"add"}};
  try {
    Controller t(small(), typo);
    FAIL();
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("'gg'"), std::string::npos) << e.what();
  }
  EXPECT_THROW(c.actions_of("g g id id sub | u0 g id id add"), UserError);  // sub not in this vocabulary
}

}  // namespace
}  // namespace nos::controller
