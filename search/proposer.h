// Proposers: one interface for the strategies that suggest rules (RNN controller, random sampling, evolution).
#pragma once

#include <deque>
#include <limits>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "controller/controller.h"
#include "search/config.h"
#include "search/token_space.h"

namespace nos::search {

// One suggested rule in token form ("g m sign sign mul | u0 g exp id mul") and how it was made, for the store.
struct Proposal {
  std::string tokens;
  std::string origin;  // "sample", "random", "warm start adam", "mutation (token 7)", "mutation (unit 1)"
};

// Proposes batches of rules and learns from their rewards. A proposer receives its random generator's seed in the
// constructor and keeps no other source of randomness, so the same seed and the same rewards give the same
// proposals; save() after feedback() captures everything the next propose() depends on.
class Proposer {
 public:
  virtual ~Proposer() = default;
  virtual std::string kind() const = 0;  // its row's name in proposers()
  virtual std::vector<Proposal> propose(int n) = 0;
  // The rewards of the last propose()'s proposals, in the same order (0 for invalid, rejected, diverged, ...).
  virtual void feedback(const std::vector<Proposal>& proposals, const std::vector<double>& rewards) = 0;
  // The whole state as bytes (what a checkpoint holds), and its restoration into a proposer built from the same
  // config.
  virtual std::string save() const = 0;
  virtual void load(const std::string& state) = 0;
};

// The RNN controller (Bello et al. 2017), trained by REINFORCE or PPO on each batch's rewards.
// Samples of the controller (controller/). A sample whose canonical rule was proposed before in the run is drawn
// again, up to `resample_repeats` times: the budget counts proposals, and a repeat costs one without teaching anything
// new. When all those draws repeat (a collapsed policy), escape "temperature" draws as many times again at a rising
// temperature (ControllerOptions::escape); a rule still repeated then is proposed (a forced repeat, its origin says
// so). The update uses the kept samples, at temperature 1 (a tempered draw is off-policy: its reward still moves
// the policy towards or away from it).
class ControllerProposer : public Proposer {
 public:
  ControllerProposer(controller::ControllerOptions options, dsl::Vocabulary vocabulary);
  std::string kind() const override { return "controller"; }
  std::vector<Proposal> propose(int n) override;
  void feedback(const std::vector<Proposal>& proposals, const std::vector<double>& rewards) override;
  std::string save() const override;
  void load(const std::string& state) override;
  const controller::Controller& controller() const { return controller_; }
  // The policy's log-probability of a token text in its vocabulary (at temperature 1).
  double log_prob(const std::string& tokens) const { return controller_.log_prob(controller_.actions_of(tokens)); }
  const controller::UpdateStats& last_update() const { return last_update_; }
  // Canonical rules proposed so far (what resample_repeats avoids); kept by checkpoints.
  const std::set<std::string>& proposed() const { return proposed_; }

 private:
  mutable controller::Controller controller_;
  int resample_repeats_;
  std::string escape_;
  double temperature_;
  controller::UpdateStats last_update_;
  std::set<std::string> proposed_;
};

// Uniform over the token space: the baseline every learned strategy must beat.
class RandomProposer : public Proposer {
 public:
  RandomProposer(TokenSpace space, uint64_t seed);
  std::string kind() const override { return "random"; }
  std::vector<Proposal> propose(int n) override;
  void feedback(const std::vector<Proposal>&, const std::vector<double>&) override {}
  std::string save() const override;
  void load(const std::string& state) override;

 private:
  TokenSpace space_;
  Rng rng_;
};

// Regularized evolution (Real et al. 2019; Chen et al. 2023 for optimizers): the first `population` proposals are
// the warm-start rules then uniform samples; afterwards each proposal is a mutation of the best of `tournament`
// individuals drawn from the population, and each evaluated proposal joins the population as its oldest member
// leaves. A mutation redraws a unit, scales a number by 2^N(0,1), inserts or deletes a unit, or replaces one token
// (EvolutionSettings' chances). After `restart_after` children without a better reward the population is refilled
// with the best so far (or the first warm-start rule), as Chen et al. restart their search.
class EvolutionProposer : public Proposer {
 public:
  // Warm-start entries are rule_to_units' input (named rules, DSL or token text); throws nos::UserError for a bad one.
  EvolutionProposer(TokenSpace space, EvolutionSettings settings, uint64_t seed);
  std::string kind() const override { return "evolution"; }
  std::vector<Proposal> propose(int n) override;
  void feedback(const std::vector<Proposal>& proposals, const std::vector<double>& rewards) override;
  std::string save() const override;
  void load(const std::string& state) override;

  struct Individual {
    std::string tokens;
    double reward = 0;
  };
  const std::deque<Individual>& population() const { return population_; }
  int64_t restarts() const { return restarts_; }  // restarts so far

 private:
  Proposal mutate(const Individual& parent);
  void restart();

  TokenSpace space_;
  EvolutionSettings settings_;
  std::vector<std::string> warm_start_;  // as token text
  Rng rng_;
  int64_t initial_proposed_ = 0;  // how many of the first population have been proposed
  std::deque<Individual> population_;
  Individual best_{"", -std::numeric_limits<double>::infinity()};  // the best evaluated so far
  double warm_reward_ = 0;        // the first warm-start rule's reward, once evaluated
  int64_t since_improvement_ = 0;  // children evaluated since best_ last improved
  int64_t restarts_ = 0;
};

// One proposer: a row of the proposer registry. Config validation (the `proposer` key), make_proposer, `nos search
// --help` and the docs read these rows; adding a proposer is adding a row (and its test).
struct ProposerInfo {
  std::string_view name;   // the config value, and the proposer's kind()
  std::string_view title;  // in help texts: "RNN controller"
  // Built from the config (seeded with config.seed).
  std::unique_ptr<Proposer> (*make)(const SearchConfig& config);
  std::string_view doc;    // one line
};

// The registry, in documentation order.
const std::vector<ProposerInfo>& proposers();

// The rows' names: what the config's `proposer` key accepts.
std::vector<std::string> proposer_names();

// The proposer `config.proposer` names, seeded with config.seed. Throws nos::UserError for a name that is no row.
std::unique_ptr<Proposer> make_proposer(const SearchConfig& config);

}  // namespace nos::search
