// The three proposers (controller, random, regularized evolution) and their checkpoint states.
#include "search/proposer.h"

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <sstream>

#include "dsl/canonical.h"
#include "common/error.h"
#include "common/text.h"
#include "dsl/tokens.h"

namespace nos::search {

namespace {

// The canonical text of a token text, or "" when it does not read as a rule.
std::string canonical_of(const std::string& tokens) {
  dsl::TokenParseResult r = dsl::try_parse_tokens(tokens);
  if (!r.diagnostics.empty() || r.units.empty()) return "";
  try {
    return dsl::canonical_text(dsl::from_units(r.units));
  } catch (const UserError&) {
    return "";
  }
}

std::string rng_state(const Rng& rng) {
  std::ostringstream out;
  out << rng;
  return out.str();
}

void read_rng(std::istream& in, Rng& rng, const char* who) {
  in >> rng;
  if (!in) throw UserError(std::string(who) + " proposer checkpoint: the random generator's state is damaged");
}

}  // namespace

// ---------------------------------------------------------------------------------------------------------------
// controller

ControllerProposer::ControllerProposer(controller::ControllerOptions options, dsl::Vocabulary vocabulary)
    : controller_(options, std::move(vocabulary)),
      resample_repeats_(options.resample_repeats),
      escape_(options.escape),
      temperature_(options.temperature) {}

std::vector<Proposal> ControllerProposer::propose(int n) {
  std::vector<Proposal> out;
  for (const controller::Sample& first : controller_.sample(n)) {
    std::string tokens = first.tokens;
    std::string canonical = canonical_of(tokens);
    int draws = 0;
    while (draws < resample_repeats_ && proposed_.count(canonical) != 0) {
      tokens = controller_.sample(1).front().tokens;
      canonical = canonical_of(tokens);
      ++draws;
    }
    // Escape a collapsed policy: the same number of draws again, at 2, 4, 8 ... (at most 64) times the temperature.
    int hot = 0;
    double temperature = temperature_;
    while (escape_ == "temperature" && hot < resample_repeats_ && proposed_.count(canonical) != 0) {
      temperature = temperature_ * static_cast<double>(int64_t{1} << std::min(hot + 1, 6));
      tokens = controller_.sample(1, temperature).front().tokens;
      canonical = canonical_of(tokens);
      ++hot;
    }
    const bool repeat = proposed_.count(canonical) != 0;
    proposed_.insert(canonical);
    std::string origin = "sample";
    if (repeat) {
      origin = "sample (a repeat: no new rule in " + std::to_string(draws + hot + 1) + " draws)";
    } else if (hot > 0) {
      origin = "sample (new at temperature " + format_number(temperature) + ", after " +
               std::to_string(draws + hot) + " repeats)";
    } else if (draws > 0) {
      origin = "sample (drawn again " + std::to_string(draws) + "x: new)";
    }
    out.push_back({tokens, origin});
  }
  return out;
}

void ControllerProposer::feedback(const std::vector<Proposal>& proposals, const std::vector<double>& rewards) {
  // The actions are recovered from the token text, so nothing from propose() has to survive a checkpoint.
  std::vector<controller::Sample> samples;
  for (const Proposal& p : proposals) {
    controller::Sample s;
    s.tokens = p.tokens;
    s.actions = controller_.actions_of(p.tokens);
    samples.push_back(std::move(s));
  }
  last_update_ = controller_.update(samples, rewards);
}

namespace {
// Checkpoints since issue 17: this line, the number of proposed rules, one canonical rule per line, then the
// controller's own file. Older checkpoints are the controller's file alone.
constexpr const char* kControllerMagic = "nos-controller-proposer 2\n";
}  // namespace

std::string ControllerProposer::save() const {
  const std::string bytes = controller_.save_bytes();
  std::string out = kControllerMagic + std::to_string(proposed_.size()) + "\n";
  for (const std::string& c : proposed_) out += c + "\n";
  return out + bytes;
}

void ControllerProposer::load(const std::string& state) {
  std::string bytes = state;
  std::set<std::string> proposed;
  if (state.rfind(kControllerMagic, 0) == 0) {
    size_t at = std::string(kControllerMagic).size();
    const size_t line_end = state.find('\n', at);
    char* end = nullptr;
    const unsigned long long count = std::strtoull(state.c_str() + at, &end, 10);
    if (line_end == std::string::npos || end != state.c_str() + line_end) {
      throw UserError("controller proposer checkpoint: damaged header");
    }
    at = line_end + 1;
    for (size_t i = 0; i < count; ++i) {
      const size_t stop = state.find('\n', at);
      if (stop == std::string::npos) throw UserError("controller proposer checkpoint: the proposed rules are damaged");
      // Written under an older canonical form, a rule takes today's text (sign(adam) is sign(m) since issue 36).
      proposed.insert(dsl::recanonicalized(state.substr(at, stop - at)));
      at = stop + 1;
    }
    bytes = state.substr(at);
  }
  controller_.load_bytes(bytes);
  proposed_ = std::move(proposed);
}

// ---------------------------------------------------------------------------------------------------------------
// random

RandomProposer::RandomProposer(TokenSpace space, uint64_t seed) : space_(std::move(space)), rng_(seed) {}

std::vector<Proposal> RandomProposer::propose(int n) {
  std::vector<Proposal> out;
  for (int i = 0; i < n; ++i) out.push_back({join_words(space_.sample(rng_)), "random"});
  return out;
}

std::string RandomProposer::save() const { return "nos-random-proposer 1\n" + rng_state(rng_) + "\n"; }

void RandomProposer::load(const std::string& state) {
  std::istringstream in(state);
  std::string magic;
  int version = 0;
  in >> magic >> version;
  if (magic != "nos-random-proposer" || version != 1) throw UserError("not a random proposer checkpoint");
  read_rng(in, rng_, "random");
}

// ---------------------------------------------------------------------------------------------------------------
// evolution

EvolutionProposer::EvolutionProposer(TokenSpace space, EvolutionSettings settings, uint64_t seed)
    : space_(std::move(space)), settings_(std::move(settings)), rng_(seed) {
  NOS_CHECK(settings_.population >= 1 && settings_.tournament >= 1, "evolution needs a population and a tournament");
  for (const std::string& rule : settings_.warm_start) warm_start_.push_back(rule_to_units(rule, space_.units()));
}

Proposal EvolutionProposer::mutate(const Individual& parent) {
  const std::vector<std::string> words = split_words(parent.tokens);
  const std::string parent_canonical = canonical_of(parent.tokens);
  Proposal child;
  // A mutation of a dead unit or an equivalent token leaves the rule unchanged (a wasted child, a cache hit), so a
  // few more tries look for one that changes the canonical rule.
  constexpr int kTries = 8;
  for (int attempt = 0; attempt < kTries; ++attempt) {
    std::vector<std::string> mutated = words;
    const double r = uniform_real(rng_);
    const double unit = settings_.unit_mutation, number = unit + settings_.constant_mutation;
    int changed = -1;
    if (r < unit) {
      changed = static_cast<int>(uniform_index(rng_, static_cast<size_t>(space_.units())));
      space_.resample_unit(mutated, changed, rng_);
      child.origin = "mutation (unit " + std::to_string(changed) + ")";
    } else if (r < number) {
      changed = space_.mutate_number(mutated, rng_);
      child.origin = "mutation (number at token " + std::to_string(changed) + ")";
    } else if (r < number + settings_.insert_delete) {
      const bool insert = uniform_real(rng_) < 0.5;
      changed = insert ? space_.insert_unit(mutated, rng_) : space_.delete_unit(mutated, rng_);
      child.origin = std::string("mutation (") + (insert ? "insert" : "delete") + " unit " + std::to_string(changed) +
                     ")";
    }
    if (changed < 0) {
      // One token (also when a number, insertion or deletion found nothing to change).
      const int pos = static_cast<int>(uniform_index(rng_, static_cast<size_t>(space_.positions())));
      space_.replace_token(mutated, pos, rng_);
      child.origin = "mutation (token " + std::to_string(pos) + ")";
    }
    child.tokens = join_words(mutated);
    if (canonical_of(child.tokens) != parent_canonical) break;
  }
  return child;
}

void EvolutionProposer::restart() {
  Individual from = best_;
  if (settings_.restart_from == "warm_start" && !warm_start_.empty()) from = {warm_start_.front(), warm_reward_};
  population_.assign(static_cast<size_t>(settings_.population), from);
  since_improvement_ = 0;
  ++restarts_;
}

std::vector<Proposal> EvolutionProposer::propose(int n) {
  std::vector<Proposal> out;
  for (int i = 0; i < n; ++i) {
    if (initial_proposed_ < settings_.population || population_.empty()) {
      const size_t k = static_cast<size_t>(initial_proposed_);
      if (k < warm_start_.size()) {
        out.push_back({warm_start_[k], "warm start " + settings_.warm_start[k]});
      } else {
        out.push_back({join_words(space_.sample(rng_)), "random"});
      }
      ++initial_proposed_;
      continue;
    }
    // Tournament: `tournament` distinct members drawn uniformly, the best (the first drawn among equals) is the parent.
    std::vector<size_t> index(population_.size());
    for (size_t j = 0; j < index.size(); ++j) index[j] = j;
    const size_t draws = std::min(index.size(), static_cast<size_t>(settings_.tournament));
    size_t best = SIZE_MAX;
    for (size_t d = 0; d < draws; ++d) {
      std::swap(index[d], index[d + uniform_index(rng_, index.size() - d)]);
      if (best == SIZE_MAX || population_[index[d]].reward > population_[best].reward) best = index[d];
    }
    out.push_back(mutate(population_[best]));
  }
  return out;
}

void EvolutionProposer::feedback(const std::vector<Proposal>& proposals, const std::vector<double>& rewards) {
  NOS_CHECK(proposals.size() == rewards.size(), "feedback with " << proposals.size() << " proposals and "
                                                                  << rewards.size() << " rewards");
  for (size_t i = 0; i < proposals.size(); ++i) {
    population_.push_back({proposals[i].tokens, rewards[i]});
    // Aging: the oldest leaves, whatever its reward (Real et al. 2019).
    while (static_cast<int>(population_.size()) > settings_.population) population_.pop_front();
    if (!warm_start_.empty() && proposals[i].tokens == warm_start_.front()) warm_reward_ = rewards[i];
    if (rewards[i] > best_.reward) {
      best_ = {proposals[i].tokens, rewards[i]};
      since_improvement_ = 0;
    } else {
      ++since_improvement_;
    }
    if (settings_.restart_after > 0 && since_improvement_ >= settings_.restart_after &&
        initial_proposed_ >= settings_.population) {
      restart();
    }
  }
}

std::string EvolutionProposer::save() const {
  std::ostringstream out;
  out << "nos-evolution-proposer 2\n" << rng_state(rng_) << "\n" << initial_proposed_ << " " << population_.size()
      << "\n";
  for (const Individual& ind : population_) out << nos::format_number(ind.reward) << " " << ind.tokens << "\n";
  // Version 2: the restart bookkeeping (the best's tokens on a line of their own; "-" before any child).
  out << (best_.tokens.empty() ? "0" : nos::format_number(best_.reward)) << " " << nos::format_number(warm_reward_)
      << " " << since_improvement_ << " "
      << restarts_ << "\n"
      << (best_.tokens.empty() ? "-" : best_.tokens) << "\n";
  return out.str();
}

void EvolutionProposer::load(const std::string& state) {
  std::istringstream in(state);
  std::string magic;
  int version = 0;
  in >> magic >> version;
  if (magic != "nos-evolution-proposer" || (version != 1 && version != 2)) {
    throw UserError("not an evolution proposer checkpoint");
  }
  read_rng(in, rng_, "evolution");
  size_t count = 0;
  in >> initial_proposed_ >> count;
  std::deque<Individual> population;
  std::string line;
  std::getline(in, line);
  for (size_t i = 0; i < count && std::getline(in, line); ++i) {
    const size_t space = line.find(' ');
    Individual ind;
    char* end = nullptr;
    ind.reward = std::strtod(line.c_str(), &end);
    if (space == std::string::npos || end != line.c_str() + space) break;
    ind.tokens = line.substr(space + 1);
    population.push_back(std::move(ind));
  }
  if (!in || population.size() != count) throw UserError("evolution proposer checkpoint: the population is damaged");
  population_ = std::move(population);
  if (version == 2) {
    std::string best_tokens;
    std::getline(in, line);
    std::istringstream numbers(line);
    numbers >> best_.reward >> warm_reward_ >> since_improvement_ >> restarts_;
    if (!numbers || !std::getline(in, best_tokens)) {
      throw UserError("evolution proposer checkpoint: the restart state is damaged");
    }
    best_.tokens = best_tokens == "-" ? "" : best_tokens;
    if (best_.tokens.empty()) best_.reward = -std::numeric_limits<double>::infinity();
  }
}

namespace {

std::unique_ptr<Proposer> make_controller(const SearchConfig& config) {
  controller::ControllerOptions options = config.controller;
  options.units = config.space.units;
  options.seed = config.seed;
  return std::make_unique<ControllerProposer>(options, config.space.vocabulary);
}

std::unique_ptr<Proposer> make_random(const SearchConfig& config) {
  return std::make_unique<RandomProposer>(TokenSpace(config.space.vocabulary, config.space.units), config.seed);
}

std::unique_ptr<Proposer> make_evolution(const SearchConfig& config) {
  return std::make_unique<EvolutionProposer>(TokenSpace(config.space.vocabulary, config.space.units),
                                             config.evolution, config.seed);
}

}  // namespace

const std::vector<ProposerInfo>& proposers() {
  static const std::vector<ProposerInfo> table = {
      {"controller", "RNN controller", make_controller,
       "the paper's RNN controller (Bello et al. 2017), trained by REINFORCE or PPO on each batch's rewards"},
      {"random", "random", make_random, "uniform draws from the token space: the baseline to beat"},
      {"evolution", "evolution", make_evolution,
       "regularized evolution (Real et al. 2019): tournament selection, mutation, aging"},
  };
  return table;
}

std::vector<std::string> proposer_names() {
  std::vector<std::string> names;
  for (const ProposerInfo& p : proposers()) names.emplace_back(p.name);
  return names;
}

std::unique_ptr<Proposer> make_proposer(const SearchConfig& config) {
  // The token space is checked for every proposer, the controller's too (a vocabulary kind without tokens).
  const TokenSpace checked(config.space.vocabulary, config.space.units);
  for (const ProposerInfo& p : proposers()) {
    if (p.name == config.proposer) return p.make(config);
  }
  throw UserError("unknown proposer '" + config.proposer + "' (expected " + joined_or(proposer_names()) + ")");
}

}  // namespace nos::search
