// The LSTM controller: masked sampling of token sequences, REINFORCE/PPO updates, checkpoints.
#include "controller/controller.h"

#include <ATen/CPUGeneratorImpl.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "common/error.h"
#include "common/files.h"

namespace nos::controller {

struct Controller::Net : torch::nn::Module {
  Net(int64_t tokens, int64_t positions, int64_t hidden, int64_t operands, int64_t unary, int64_t binary)
      : token(register_module("token", torch::nn::Embedding(tokens + 1, hidden))),  // + a start token
        position(register_module("position", torch::nn::Embedding(positions, hidden))),
        cell(register_module("cell", torch::nn::LSTMCell(hidden, hidden))),
        head_operand(register_module("head_operand", torch::nn::Linear(hidden, operands))),
        head_unary(register_module("head_unary", torch::nn::Linear(hidden, unary))),
        head_binary(register_module("head_binary", torch::nn::Linear(hidden, binary))) {}
  torch::nn::Embedding token, position;
  torch::nn::LSTMCell cell;
  torch::nn::Linear head_operand, head_unary, head_binary;
};

namespace {
void check_options(const ControllerOptions& o, const dsl::Vocabulary& v) {
  auto fail = [](const std::string& what) { throw UserError("controller: " + what); };
  if (o.units < 1 || o.units > 16) fail("units must be between 1 and 16, got " + std::to_string(o.units));
  if (o.hidden < 1 || o.hidden > 4096) fail("hidden must be between 1 and 4096, got " + std::to_string(o.hidden));
  if (!(o.lr > 0) || !std::isfinite(o.lr)) fail("lr must be > 0");
  if (!(o.baseline_decay >= 0 && o.baseline_decay < 1)) fail("baseline_decay must be in [0, 1)");
  if (!(o.entropy_weight >= 0) || !std::isfinite(o.entropy_weight)) fail("entropy_weight must be >= 0");
  if (!(o.temperature > 0) || !std::isfinite(o.temperature)) fail("temperature must be > 0");
  if (o.algorithm != "reinforce" && o.algorithm != "ppo") {
    fail("algorithm must be 'reinforce' or 'ppo', got '" + o.algorithm + "'");
  }
  if (o.escape != "temperature" && o.escape != "none") {
    fail("escape must be 'temperature' or 'none', got '" + o.escape + "'");
  }
  if (o.ppo_epochs < 1) fail("ppo_epochs must be >= 1");
  if (!(o.ppo_clip > 0 && o.ppo_clip < 1)) fail("ppo_clip must be in (0, 1)");
  if (v.operands.empty() || v.unary.empty() || v.binary.empty()) {
    fail("the vocabulary needs at least one operand, one unary and one binary function");
  }
  // Every entry must be a token of its kind (a typo in a config's vocabulary is a user error, not a bad sample).
  for (const std::string& op : v.operands) {
    auto r = dsl::try_parse_tokens(op + " " + op + " " + v.unary[0] + " " + v.unary[0] + " " + v.binary[0]);
    if (!r.diagnostics.empty()) fail("vocabulary operand '" + op + "': " + r.diagnostics[0].message);
  }
  for (const std::string& un : v.unary) {
    auto r = dsl::try_parse_tokens(v.operands[0] + " " + v.operands[0] + " " + un + " " + un + " " + v.binary[0]);
    if (!r.diagnostics.empty()) fail("vocabulary unary function '" + un + "': " + r.diagnostics[0].message);
  }
  for (const std::string& b : v.binary) {
    auto r = dsl::try_parse_tokens(v.operands[0] + " " + v.operands[0] + " " + v.unary[0] + " " + v.unary[0] + " " + b);
    if (!r.diagnostics.empty()) fail("vocabulary binary function '" + b + "': " + r.diagnostics[0].message);
  }
}
}  // namespace

Controller::Controller(ControllerOptions options, dsl::Vocabulary vocabulary)
    : options_(std::move(options)), vocab_(std::move(vocabulary)) {
  check_options(options_, vocab_);
  generator_ = at::detail::createCPUGenerator(options_.seed);
  const int64_t O = static_cast<int64_t>(vocab_.operands.size()) + options_.units;  // operands + unit refs
  const int64_t Un = static_cast<int64_t>(vocab_.unary.size());
  const int64_t B = static_cast<int64_t>(vocab_.binary.size());
  net_ = std::make_shared<Net>(O + Un + B, positions(), options_.hidden, O, Un, B);
  // Initialised from the controller's own generator (uniform in ±0.08, as Zoph & Le's controller), so a seed fixes
  // the whole search without touching LibTorch's global generator.
  torch::NoGradGuard no_grad;
  for (torch::Tensor& p : net_->parameters()) p.uniform_(-0.08, 0.08, generator_);
  optimizer_ = std::make_unique<torch::optim::Adam>(net_->parameters(), torch::optim::AdamOptions(options_.lr));
}

int64_t Controller::width(int pos) const {
  switch (kind(pos)) {
    case 0: return static_cast<int64_t>(vocab_.operands.size()) + pos / 5;  // operands + u0..u(k-1)
    case 1: return static_cast<int64_t>(vocab_.unary.size());
    default: return static_cast<int64_t>(vocab_.binary.size());
  }
}

std::string Controller::text_of(int pos, int64_t action) const {
  NOS_CHECK(action >= 0 && action < width(pos), "action " << action << " invalid at position " << pos);
  switch (kind(pos)) {
    case 0: {
      const int64_t n = static_cast<int64_t>(vocab_.operands.size());
      return action < n ? vocab_.operands[action] : "u" + std::to_string(action - n);
    }
    case 1: return vocab_.unary[action];
    default: return vocab_.binary[action];
  }
}

std::vector<std::string> Controller::choices(int pos) const {
  std::vector<std::string> out;
  for (int64_t a = 0; a < width(pos); ++a) out.push_back(text_of(pos, a));
  return out;
}

torch::Tensor Controller::log_policy(const torch::Tensor& actions, double temperature) {
  const int64_t batch = actions.size(0);
  const int64_t O = static_cast<int64_t>(vocab_.operands.size()) + options_.units;
  const int64_t Un = static_cast<int64_t>(vocab_.unary.size());
  const int64_t B = static_cast<int64_t>(vocab_.binary.size());
  const int64_t widest = std::max({O, Un, B});
  const int64_t offsets[3] = {0, O, O + Un};
  const int64_t start = O + Un + B;
  torch::Tensor h = torch::zeros({batch, options_.hidden});
  torch::Tensor c = torch::zeros({batch, options_.hidden});
  torch::Tensor prev = torch::full({batch}, start, torch::kInt64);
  std::vector<torch::Tensor> out;
  for (int pos = 0; pos < positions(); ++pos) {
    torch::Tensor x = net_->token->forward(prev) + net_->position->forward(torch::full({batch}, pos, torch::kInt64));
    std::tie(h, c) = net_->cell->forward(x, std::make_tuple(h, c));
    const int k = kind(pos);
    torch::Tensor logits = k == 0 ? net_->head_operand->forward(h)
                                  : k == 1 ? net_->head_unary->forward(h) : net_->head_binary->forward(h);
    logits = logits / temperature;
    const int64_t valid = width(pos);
    torch::Tensor full = torch::full({batch, widest}, -std::numeric_limits<float>::infinity());
    full.narrow(1, 0, valid).copy_(logits.narrow(1, 0, valid));
    // masked positions stay −inf: probability 0
    out.push_back(torch::log_softmax(full, 1));
    prev = actions.select(1, pos) + offsets[k];
  }
  return torch::stack(out, 1);  // B × P × widest
}

std::vector<Sample> Controller::sample(int n) { return sample(n, options_.temperature); }

std::vector<Sample> Controller::sample(int n, double temperature) {
  NOS_CHECK(n > 0, "sample(" << n << ")");
  NOS_CHECK(temperature > 0 && std::isfinite(temperature), "sample at temperature " << temperature);
  torch::NoGradGuard no_grad;
  const int P = positions();
  torch::Tensor actions = torch::zeros({n, P}, torch::kInt64);
  // Sampling needs each token before the next input: run the LSTM position by position, feeding back choices.
  const int64_t O = static_cast<int64_t>(vocab_.operands.size()) + options_.units;
  const int64_t Un = static_cast<int64_t>(vocab_.unary.size());
  const int64_t B = static_cast<int64_t>(vocab_.binary.size());
  const int64_t offsets[3] = {0, O, O + Un};
  torch::Tensor h = torch::zeros({n, options_.hidden});
  torch::Tensor c = torch::zeros({n, options_.hidden});
  torch::Tensor prev = torch::full({n}, O + Un + B, torch::kInt64);
  torch::Tensor total = torch::zeros({n}, torch::kFloat64);
  for (int pos = 0; pos < P; ++pos) {
    torch::Tensor x = net_->token->forward(prev) + net_->position->forward(torch::full({n}, pos, torch::kInt64));
    std::tie(h, c) = net_->cell->forward(x, std::make_tuple(h, c));
    const int k = kind(pos);
    torch::Tensor logits = k == 0 ? net_->head_operand->forward(h)
                                  : k == 1 ? net_->head_unary->forward(h) : net_->head_binary->forward(h);
    torch::Tensor logp = torch::log_softmax(logits.narrow(1, 0, width(pos)) / temperature, 1);
    torch::Tensor chosen = torch::multinomial(logp.exp(), 1, false, generator_).squeeze(1);
    actions.select(1, pos).copy_(chosen);
    total += logp.gather(1, chosen.unsqueeze(1)).squeeze(1).to(torch::kFloat64);
    prev = chosen + offsets[k];
  }
  std::vector<Sample> samples(static_cast<size_t>(n));
  auto acc = actions.accessor<int64_t, 2>();
  for (int i = 0; i < n; ++i) {
    Sample& s = samples[i];
    for (int pos = 0; pos < P; ++pos) {
      s.actions.push_back(acc[i][pos]);
      if (pos > 0) s.tokens += pos % 5 == 0 ? " | " : " ";
      s.tokens += text_of(pos, acc[i][pos]);
    }
    s.log_prob = total[i].item<double>();
  }
  return samples;
}

double Controller::log_prob(const std::vector<int64_t>& actions) {
  NOS_CHECK(static_cast<int>(actions.size()) == positions(), "log_prob of " << actions.size() << " actions");
  torch::NoGradGuard no_grad;
  torch::Tensor a = torch::tensor(actions, torch::kInt64).unsqueeze(0);
  torch::Tensor logp = log_policy(a, 1.0);
  return logp.gather(2, a.unsqueeze(2)).sum().item<double>();
}

std::vector<int64_t> Controller::actions_of(const std::string& tokens) const {
  std::vector<std::string> words;
  std::string word;
  std::istringstream in(tokens);
  while (in >> word) {
    if (word != "|") words.push_back(word);
  }
  if (static_cast<int>(words.size()) != positions()) {
    throw UserError("controller: '" + tokens + "' has " + std::to_string(words.size()) + " tokens; the controller "
                    "emits " + std::to_string(positions()) + " (" + std::to_string(options_.units) + " units)");
  }
  std::vector<int64_t> actions;
  for (int pos = 0; pos < positions(); ++pos) {
    int64_t found = -1;
    for (int64_t a = 0; a < width(pos) && found < 0; ++a) {
      if (text_of(pos, a) == words[pos]) found = a;
    }
    if (found < 0) {
      throw UserError("controller: token '" + words[pos] + "' (position " + std::to_string(pos) +
                      ") is not in the vocabulary at that position");
    }
    actions.push_back(found);
  }
  return actions;
}

UpdateStats Controller::update(const std::vector<Sample>& samples, const std::vector<double>& rewards) {
  NOS_CHECK(!samples.empty() && samples.size() == rewards.size(), "update with " << samples.size() << " samples and "
                                                                                  << rewards.size() << " rewards");
  const int64_t n = static_cast<int64_t>(samples.size());
  std::vector<int64_t> flat;
  for (const Sample& s : samples) {
    NOS_CHECK(static_cast<int>(s.actions.size()) == positions(), "sample of the wrong length");
    flat.insert(flat.end(), s.actions.begin(), s.actions.end());
  }
  torch::Tensor actions = torch::tensor(flat, torch::kInt64).view({n, positions()});
  torch::Tensor reward = torch::tensor(rewards, torch::kFloat32);
  double mean_reward = reward.mean().item<double>();
  if (!baseline_set_) {
    baseline_ = mean_reward;
    baseline_set_ = true;
  }
  torch::Tensor advantage = reward - static_cast<float>(baseline_);

  auto evaluate = [&](torch::Tensor& seq_logp, torch::Tensor& entropy) {
    torch::Tensor logp = log_policy(actions, 1.0);  // B × P × W
    seq_logp = logp.gather(2, actions.unsqueeze(2)).squeeze(2).sum(1);
    torch::Tensor finite = torch::isfinite(logp);
    torch::Tensor safe = torch::where(finite, logp, torch::zeros_like(logp));
    entropy = -(safe.exp() * safe).sum(2).mean();
  };

  UpdateStats stats;
  stats.mean_reward = mean_reward;
  if (options_.algorithm == "reinforce") {
    torch::Tensor seq_logp, entropy;
    evaluate(seq_logp, entropy);
    torch::Tensor loss = -(advantage * seq_logp).mean() - options_.entropy_weight * entropy;
    optimizer_->zero_grad();
    loss.backward();
    optimizer_->step();
    stats.loss = loss.item<double>();
    stats.entropy = entropy.item<double>();
  } else {
    torch::Tensor old;
    {
      torch::NoGradGuard no_grad;
      torch::Tensor entropy;
      evaluate(old, entropy);
    }
    for (int epoch = 0; epoch < options_.ppo_epochs; ++epoch) {
      torch::Tensor seq_logp, entropy;
      evaluate(seq_logp, entropy);
      torch::Tensor ratio = torch::exp(seq_logp - old);
      torch::Tensor clipped = torch::clamp(ratio, 1 - options_.ppo_clip, 1 + options_.ppo_clip);
      torch::Tensor loss =
          -torch::min(ratio * advantage, clipped * advantage).mean() - options_.entropy_weight * entropy;
      optimizer_->zero_grad();
      loss.backward();
      optimizer_->step();
      stats.loss = loss.item<double>();
      stats.entropy = entropy.item<double>();
    }
  }
  baseline_ = options_.baseline_decay * baseline_ + (1 - options_.baseline_decay) * mean_reward;
  stats.baseline = baseline_;
  return stats;
}

std::string Controller::save_bytes() const {
  torch::serialize::OutputArchive archive;
  torch::serialize::OutputArchive net_archive, optimizer_archive;
  net_->save(net_archive);
  optimizer_->save(optimizer_archive);
  archive.write("net", net_archive);
  archive.write("optimizer", optimizer_archive);
  archive.write("baseline", torch::tensor({baseline_, baseline_set_ ? 1.0 : 0.0}, torch::kFloat64));
  archive.write("generator", generator_.get_state());
  // Into memory, then written with checks: LibTorch's file writer throws from a destructor on a full disk.
  std::ostringstream out;
  archive.save_to(out);
  return out.str();
}

void Controller::save(const std::string& path) const { write_atomically(path, save_bytes()); }

void Controller::load(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw UserError("controller checkpoint " + path + " cannot be read (missing or corrupt)");
  std::stringstream bytes;
  bytes << in.rdbuf();
  try {
    load_bytes(bytes.str());
  } catch (const UserError&) {
    throw UserError("controller checkpoint " + path + " cannot be read (missing or corrupt)");
  }
}

void Controller::load_bytes(const std::string& bytes) {
  torch::serialize::InputArchive archive;
  torch::Tensor b, g;
  try {
    std::istringstream in(bytes);
    archive.load_from(in);
    torch::serialize::InputArchive net_archive, optimizer_archive;
    archive.read("net", net_archive);
    archive.read("optimizer", optimizer_archive);
    net_->load(net_archive);
    optimizer_->load(optimizer_archive);
    archive.read("baseline", b);
    archive.read("generator", g);
  } catch (const c10::Error& e) {
    throw UserError(std::string("the controller's state cannot be read (damaged?): ") + e.what_without_backtrace());
  }
  baseline_ = b[0].item<double>();
  baseline_set_ = b[1].item<double>() != 0;
  generator_.set_state(g);
}

}  // namespace nos::controller
