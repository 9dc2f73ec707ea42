// nos::controller — the RNN controller (Bello et al. 2017): an LSTM that emits rules in the paper's token form,
// unit by unit, trained by REINFORCE (or PPO) on the rewards of the rules it proposed.
//
// Module line: common → dsl → optimizers → tasks → dispatch → controller → search → experiments → bench → cli; a module
// includes only modules to its left (ctest `layout` checks it).
// Uses dsl alone (the vocabulary and the token form), though it sits right of tasks; search uses it.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <vector>

#include "dsl/dsl.h"

namespace nos::controller {

// Hyperparameters, with the defaults documented in README.md (configs' `controller:` section maps onto this).
struct ControllerOptions {
  int units = 2;                 // units per rule (5 tokens each); the last unit is the rule
  int hidden = 64;               // LSTM hidden size (also the token embedding size)
  double lr = 5e-3;              // Adam learning rate of the controller
  double baseline_decay = 0.9;   // EMA of the batch-mean reward used as the REINFORCE baseline
  double entropy_weight = 0.01;  // bonus on the mean per-token entropy (keeps exploring)
  double temperature = 1.0;      // softmax temperature when sampling (1: the policy itself)
  // The search's controller proposer draws again, up to this many times, a sample whose canonical rule was already
  // proposed in the run (0: repeats are proposed, as before issue 17).
  int resample_repeats = 20;
  // When every one of those draws is still a repeat (a policy that has collapsed onto a few rules), the proposer
  // escapes: "temperature" draws up to resample_repeats more times at a rising sampling temperature (2, 4, 8 ... times
  // `temperature`, up to 64 times), which flattens the policy towards uniform until a new rule comes; "none" keeps
  // the last repeat (nos before issue 36).
  std::string escape = "temperature";
  std::string algorithm = "reinforce";  // or "ppo" (clipped objective, several epochs per batch)
  int ppo_epochs = 4;
  double ppo_clip = 0.2;
  uint64_t seed = 0;
};

// One sampled rule: the token index chosen at each of the 5·units positions (indices into that position's
// choice list, see Controller::choices), the token text, and the log-probability of the whole sequence.
struct Sample {
  std::vector<int64_t> actions;
  std::string tokens;  // "g m sign sign mul | u0 g exp id mul"
  double log_prob = 0;
};

struct UpdateStats {
  double mean_reward = 0;
  double baseline = 0;     // after the update
  double loss = 0;
  double entropy = 0;      // mean per-token entropy of the batch
};

class Controller {
 public:
  // The vocabulary may be restricted (e.g. the paper's operands only); it must have at least one token per kind.
  Controller(ControllerOptions options, dsl::Vocabulary vocabulary);

  // Samples n rules from the current policy. Every sample is a valid token sequence: unit references are masked to
  // earlier units, so `dsl::parse_tokens(sample.tokens)` always succeeds.
  std::vector<Sample> sample(int n);
  // The same at another sampling temperature (> 0) than the options' (log_prob is then of the tempered policy).
  std::vector<Sample> sample(int n, double temperature);

  // One policy-gradient update from a batch of samples and their rewards (same length).
  UpdateStats update(const std::vector<Sample>& samples, const std::vector<double>& rewards);

  // log p(actions) under the current policy (temperature 1).
  double log_prob(const std::vector<int64_t>& actions);
  // The actions that spell a token text (one that only uses this vocabulary), e.g. to seed a search with adam.
  std::vector<int64_t> actions_of(const std::string& tokens) const;

  // The texts the position `pos` (0 .. 5·units−1) may choose from, in action-index order.
  std::vector<std::string> choices(int pos) const;
  int positions() const { return 5 * options_.units; }
  double baseline() const { return baseline_; }
  const ControllerOptions& options() const { return options_; }

  // Checkpointing: network weights, optimizer state, baseline and the sampling generator's state. The bytes are a
  // LibTorch archive; save writes them atomically (a UserError naming the file on a full disk, the previous file
  // kept); a damaged state is a UserError.
  std::string save_bytes() const;
  void load_bytes(const std::string& bytes);
  void save(const std::string& path) const;
  void load(const std::string& path);

 private:
  struct Net;
  // Runs the LSTM over `actions` (B × P, teacher-forced), returning per-position log-softmax (B × P × max choices,
  // masked) — the basis of log-probabilities and entropies.
  torch::Tensor log_policy(const torch::Tensor& actions, double temperature);
  torch::Tensor mask(int pos) const;  // 1 × max choices: which action indices are valid at pos
  int kind(int pos) const { return pos % 5 < 2 ? 0 : pos % 5 < 4 ? 1 : 2; }
  int64_t width(int pos) const;  // number of valid actions at pos
  std::string text_of(int pos, int64_t action) const;

  ControllerOptions options_;
  dsl::Vocabulary vocab_;
  std::shared_ptr<Net> net_;
  std::unique_ptr<torch::optim::Adam> optimizer_;
  torch::Generator generator_;
  double baseline_ = 0;
  bool baseline_set_ = false;
};

}  // namespace nos::controller
