// nos learn (learn.h): the quadratic family, truncated-BPTT meta-training with checkpoints, and the evaluation.
#include "experiments/learn.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/optim/adam.h>
#include <torch/serialize.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <limits>
#include <map>
#include <sstream>

#include "common/error.h"
#include "common/files.h"
#include "common/text.h"
#include "common/yaml_reader.h"
#include "experiments/files.h"
#include "experiments/learn_instances.h"
#include "experiments/plots.h"
#include "optimizers/named.h"

namespace nos::experiments {

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using namespace learn_detail;

const std::map<std::string, std::vector<std::string>>& learn_sections() {
  static const std::map<std::string, std::vector<std::string>> table = {
      {"", {"family", "dims", "horizon", "unroll", "batch", "episodes", "meta_lr", "validate_every",
            "validation_instances", "test_instances", "lr_grid", "baselines", "seed", "hidden", "layers",
            "preprocess_p", "output_scale", "architecture", "minibatch", "data_dir", "generalization", "validation_data",
            "out"}},
  };
  return table;
}

}  // namespace

const std::vector<std::string>& learn_config_keys() { return learn_sections().at(""); }

LearnConfig parse_learn_config(const std::string& yaml_text, const std::string& source) {
  const YAML::Node root = load_yaml(yaml_text, source);
  LearnConfig c;
  if (root.IsNull()) return c;
  const YamlReader r(source, learn_sections());
  constexpr int64_t kBig = int64_t{1} << 30;
  std::vector<std::string> mlp_keys;
  r.each_key(root, "", [&](const std::string& k, const YAML::Node& v, const std::string& p) {
    if (k == "family") c.family = r.choice(v, p, {"quadratic", "mlp"});
    if (k == "architecture") {
      r.at_node(v, p, [&] { c.architecture = architecture_text(parse_architecture(r.scalar(v, p))); });
    }
    if (k == "minibatch") c.minibatch = r.integer<int64_t>(v, p, 1, kBig);
    if (k == "data_dir") c.data_dir = v.IsNull() ? std::string() : r.scalar(v, p);
    if (k == "generalization") {
      c.generalization = r.strings(v, p);
      for (std::string& g : c.generalization) r.at_node(v, p, [&] { g = architecture_text(parse_architecture(g)); });
    }
    if (k == "validation_data") c.validation_data = r.choice(v, p, {"train", "test"});
    if (k == "architecture" || k == "minibatch" || k == "data_dir" || k == "generalization" ||
        k == "validation_data") {
      mlp_keys.push_back(k);
    }
    if (k == "dims") c.dims = r.integer<int64_t>(v, p, 1, 10000);
    if (k == "horizon") c.horizon = r.integer<int64_t>(v, p, 1, kBig);
    if (k == "unroll") c.unroll = r.integer<int64_t>(v, p, 1, kBig);
    if (k == "batch") c.batch = r.integer<int64_t>(v, p, 1, kBig);
    if (k == "episodes") c.episodes = r.integer<int64_t>(v, p, 1, kBig);
    if (k == "meta_lr") c.meta_lr = r.number(v, p, 0, false);
    if (k == "validate_every") c.validate_every = r.integer<int64_t>(v, p, 1, kBig);
    if (k == "validation_instances") c.validation_instances = r.integer<int64_t>(v, p, 1, kBig);
    if (k == "test_instances") c.test_instances = r.integer<int64_t>(v, p, 2, kBig);
    if (k == "lr_grid") c.lr_grid = r.positive_numbers(v, p);
    if (k == "baselines") c.baselines = r.strings(v, p);
    if (k == "seed") c.seed = r.integer<uint64_t>(v, p, 0, UINT64_MAX);
    if (k == "hidden") c.net.hidden = r.integer<int64_t>(v, p, 1, 4096);
    if (k == "layers") c.net.layers = r.integer<int64_t>(v, p, 1, 64);
    if (k == "preprocess_p") c.net.preprocess_p = r.number(v, p, 0, false);
    if (k == "output_scale") c.net.output_scale = r.number(v, p, 0, false);
    if (k == "out") c.out = v.IsNull() ? std::string() : r.scalar(v, p);
  });
  if (c.family != "mlp" && !mlp_keys.empty()) {
    throw UserError(source + ": key '" + mlp_keys.front() + "' applies to family mlp only (family is " + c.family +
                    ")");
  }
  if (c.horizon % c.unroll != 0) {
    throw UserError(source + ": key 'unroll': " + std::to_string(c.unroll) + " does not divide horizon " +
                    std::to_string(c.horizon));
  }
  for (const std::string& b : c.baselines) {
    try {
      optimizers::resolve_rule(b);
    } catch (const UserError& e) {
      throw UserError(source + ": key 'baselines': '" + b + "': " + e.what());
    }
  }
  return c;
}

LearnConfig load_learn_config(const std::string& path) {
  if (!fs::is_regular_file(path)) throw UserError(path + ": cannot open the config file (does it exist?)");
  return parse_learn_config(read_text(path), path);
}

LearnConfig parse_recorded_learn_config(const std::string& yaml_text, const std::string& source) {
  LearnConfig c = parse_learn_config(yaml_text, source);
  const YAML::Node root = load_yaml(yaml_text, source);
  if (c.family == "mlp" && !(root.IsMap() && root["validation_data"])) c.validation_data = "test";
  return c;
}

std::string to_yaml(const LearnConfig& c) {
  std::ostringstream y;
  y << "family: " << c.family << "\ndims: " << c.dims << "\nhorizon: " << c.horizon << "\nunroll: " << c.unroll
    << "\nbatch: " << c.batch << "\nepisodes: " << c.episodes << "\nmeta_lr: " << format_number(c.meta_lr)
    << "\nvalidate_every: " << c.validate_every << "\nvalidation_instances: " << c.validation_instances
    << "\ntest_instances: " << c.test_instances << "\nlr_grid: " << yaml_list(c.lr_grid)
    << "\nbaselines: " << yaml_list(c.baselines) << "\nseed: " << c.seed << "\nhidden: " << c.net.hidden
    << "\nlayers: " << c.net.layers << "\npreprocess_p: " << format_number(c.net.preprocess_p)
    << "\noutput_scale: " << format_number(c.net.output_scale) << "\n";
  if (c.family == "mlp") {
    y << "architecture: " << c.architecture << "\nminibatch: " << c.minibatch
      << "\ndata_dir: " << yaml_quoted(c.data_dir) << "\ngeneralization: " << yaml_list(c.generalization)
      << "\nvalidation_data: " << c.validation_data << "\n";
  }
  y << "out: " << yaml_quoted(c.out) << "\n";
  return y.str();
}

void LossCurve::add(const torch::Tensor& losses) {
  mean.push_back(losses.mean().item<double>());
  sd.push_back(losses.numel() > 1 ? losses.std().item<double>() : 0.0);
  const torch::Tensor flat = losses.detach().to(torch::kFloat64).contiguous().view({-1});
  values.emplace_back(flat.data_ptr<double>(), flat.data_ptr<double>() + flat.numel());
}

LossCurve LossCurve::first(int64_t steps) const {
  LossCurve c;
  c.mean.assign(mean.begin(), mean.begin() + steps + 1);
  c.sd.assign(sd.begin(), sd.begin() + steps + 1);
  c.values.assign(values.begin(), values.begin() + std::min<int64_t>(steps + 1, static_cast<int64_t>(values.size())));
  return c;
}

torch::Tensor unrolled_loss(optimizers::LstmNet& net, const ProblemBatch& batch, torch::Tensor& theta,
                            optimizers::LstmCoordinateState& state, int64_t first_step, int64_t steps,
                            std::vector<torch::Tensor>* gradients, const std::vector<torch::Tensor>& given) {
  torch::Tensor total = torch::zeros({}, theta.options());
  for (int64_t t = 0; t < steps; ++t) {
    const int64_t step = first_step + t;
    const torch::Tensor g = given.empty() ? batch.gradient(theta, step) : given.at(static_cast<size_t>(t));
    if (gradients != nullptr) gradients->push_back(g);
    theta = theta + net->forward(g, state);
    total = total + batch.loss(theta, step + 1).mean();
  }
  return total / static_cast<double>(steps);
}

LossCurve lstm_curve(optimizers::LstmNet& net, const ProblemBatch& batch, int64_t horizon) {
  torch::NoGradGuard no_grad;
  LossCurve c;
  torch::Tensor theta = batch.theta0.clone();
  // The network runs on groups of whole instances of at most kCoordinatesPerCall coordinates (one instance if it has
  // more): the LSTM's temporaries, 80 floats per coordinate and gate layer, then stay below the allocator's 32 MiB
  // heap threshold (cli/main.cpp) instead of being mapped afresh on every call (measured: 16 MLP instances of 15,910
  // coordinates, 100 steps, 118 s in one call).
  constexpr int64_t kCoordinatesPerCall = 16384;
  const int64_t n = theta.size(0);
  const int64_t rows = std::max<int64_t>(1, kCoordinatesPerCall / std::max<int64_t>(1, theta.size(1)));
  std::vector<optimizers::LstmCoordinateState> states(static_cast<size_t>((n + rows - 1) / rows));
  for (int64_t t = 0; t < horizon; ++t) {
    const auto [losses, g] = batch.loss_and_gradient(theta, t);  // one evaluation: step t's loss and gradient
    c.add(losses);
    std::vector<torch::Tensor> updates;
    for (size_t i = 0; i < states.size(); ++i) {
      const int64_t first = static_cast<int64_t>(i) * rows;
      updates.push_back(net->forward(g.narrow(0, first, std::min(rows, n - first)), states[i]));
    }
    theta = theta + torch::cat(updates, 0);
  }
  c.add(batch.loss(theta, horizon));
  return c;
}

LossCurve rule_curve(const std::string& rule, double lr, const ProblemBatch& batch, int64_t horizon) {
  const optimizers::ResolvedRule resolved = optimizers::resolve_rule(rule);
  torch::Tensor theta = batch.theta0.clone().requires_grad_(true);
  optimizers::RuleOptions options = resolved.defaults;
  options.lr(lr);
  options.total_steps(horizon);
  auto optimizer = optimizers::make_training_optimizer(resolved, {{{theta}, 0.0}}, options);
  LossCurve c;
  for (int64_t t = 0; t < horizon; ++t) {
    // One evaluation: step t's loss and gradient (each instance's loss depends on its own row only).
    auto [losses, g] = batch.loss_and_gradient(theta, t);
    c.add(losses);
    theta.mutable_grad() = g;
    optimizer->step();
  }
  torch::NoGradGuard no_grad;
  c.add(batch.loss(theta, horizon));
  return c;
}

namespace {

struct Checkpoint {
  int64_t episode = 0;
  double best_val = std::numeric_limits<double>::infinity();
};

void save_checkpoint(const std::string& path, optimizers::LstmNet& net, torch::optim::Adam& meta,
                     const Checkpoint& c) {
  torch::serialize::OutputArchive archive;
  archive.write("episode", c10::IValue(c.episode));
  archive.write("best_val", c10::IValue(c.best_val));
  for (const auto& item : net->named_parameters()) archive.write("net/" + item.key(), item.value().detach());
  torch::serialize::OutputArchive optimizer;
  meta.save(optimizer);
  archive.write("meta_optimizer", optimizer);
  // Into memory, then written with checks: LibTorch's file writer throws from a destructor on a full disk.
  std::ostringstream bytes;
  archive.save_to(bytes);
  try {
    write_atomically(path, bytes.str());
  } catch (const UserError& e) {
    throw UserError(std::string(e.what()) + ". The episodes up to the previous checkpoint are kept; free space, then "
                    "run the same command to continue");
  }
}

Checkpoint load_checkpoint(const std::string& path, optimizers::LstmNet& net, torch::optim::Adam& meta) {
  torch::serialize::InputArchive archive;
  try {
    archive.load_from(path);
  } catch (const c10::Error&) {
    throw UserError(path + ": a damaged checkpoint (delete it to start the run again)");
  }
  // A LibTorch archive of another kind (an LSTM optimizer's best.pt, a search's proposer.pt) lacks the fields.
  auto has = [&](const std::string& key) {
    c10::IValue v;
    return archive.try_read(key, v);
  };
  auto has_tensor = [&](const std::string& key) {
    torch::Tensor t;
    return archive.try_read(key, t);
  };
  if (!has("episode") || !has("best_val")) {
    const std::string what =
        has("nos_lstm_format")                           ? "an LSTM optimizer (a best.pt or final.pt: use it as lstm:PATH)"
        : has_tensor("kind") && has_tensor("batches_done") ? "a search's proposer checkpoint (proposer.pt)"
                                                           : "a LibTorch archive of another kind";
    throw UserError(path + ": not a nos learn checkpoint, it is " + what +
                    "; a run folder's checkpoint.pt is written by nos learn itself (use another --out, or delete "
                    "the file to start the run again)");
  }
  Checkpoint c;
  try {
    c10::IValue v;
    archive.read("episode", v);
    c.episode = v.toInt();
    archive.read("best_val", v);
    c.best_val = v.toDouble();
    torch::NoGradGuard no_grad;
    for (auto& item : net->named_parameters()) {
      torch::Tensor t;
      archive.read("net/" + item.key(), t);
      if (t.sizes() != item.value().sizes()) throw UserError("'net/" + item.key() + "' has another shape");
      item.value().copy_(t);
    }
    torch::serialize::InputArchive optimizer;
    archive.read("meta_optimizer", optimizer);
    meta.load(optimizer);
  } catch (const c10::Error& e) {
    throw UserError(path + ": a damaged or mismatched nos learn checkpoint (" + e.what_without_backtrace() +
                    "); delete it to start the run again");
  } catch (const UserError& e) {
    throw UserError(path + ": a checkpoint of another network (" + e.what() +
                    "): it does not match this config's lstm settings; use another --out");
  }
  return c;
}

// progress.csv keeps the rows up to `episode` (a resumed run writes the later ones again).
void trim_progress(const std::string& path, int64_t episode) {
  std::ifstream in(path);
  std::string line, kept;
  std::getline(in, line);
  kept = line.empty() ? "episode,meta_loss,val_loss,best_val,seconds\n" : line + "\n";
  while (std::getline(in, line)) {
    if (std::atoll(line.c_str()) <= episode) kept += line + "\n";
  }
  write_atomically(path, kept);
}

void prepare_folder(const LearnConfig& config) {
  if (config.out.empty()) throw UserError("no run folder: give --out DIR (or the config key out)");
  fs::create_directories(config.out);
  const std::string path = config.out + "/config.yaml";
  LearnConfig mine = config;
  mine.out.clear();
  if (fs::exists(path)) {
    // Only `episodes` may change between sessions (--episodes extends a run).
    LearnConfig before = parse_recorded_learn_config(read_text(path), path);
    before.out.clear();
    before.episodes = mine.episodes;
    if (to_yaml(before) != to_yaml(mine)) {
      throw UserError(config.out + " holds a meta-training run with another config (" + path +
                      "): use another --out, or the same config (episodes may change) to resume it");
    }
  }
  write_atomically(path, to_yaml(mine));
}

}  // namespace

LearnResult learn(const LearnConfig& config, const LearnRuntime& runtime) {
  prepare_folder(config);
  torch::manual_seed(config.seed);
  optimizers::LstmNet net(config.net);
  torch::optim::Adam meta(net->parameters(), torch::optim::AdamOptions(config.meta_lr));
  const std::string checkpoint = config.out + "/checkpoint.pt", best = config.out + "/best.pt";
  const std::string progress = config.out + "/progress.csv";
  Checkpoint state;
  if (fs::exists(checkpoint)) state = load_checkpoint(checkpoint, net, meta);
  trim_progress(progress, state.episode);
  const Instances instances(config);
  const auto validation = instances.draw(kValidationStream, 0, config.validation_instances);
  LearnResult result;
  const Clock::time_point start = Clock::now();
  const int64_t first = state.episode;
  double val = -1, meta_loss = 0;
  for (int64_t e = state.episode; e < config.episodes; ++e) {
    if (runtime.stop != nullptr && runtime.stop->load()) {
      result.interrupted = true;
      break;
    }
    const auto batch = instances.draw(kTrainStream, static_cast<uint64_t>(e), config.batch);
    torch::Tensor theta = batch->theta0.clone();
    optimizers::LstmCoordinateState hc;
    meta_loss = 0;
    for (int64_t s = 0; s < config.horizon / config.unroll; ++s) {
      torch::Tensor loss = unrolled_loss(net, *batch, theta, hc, s * config.unroll, config.unroll);
      meta.zero_grad();
      loss.backward();
      meta.step();
      meta_loss += loss.item<double>() / static_cast<double>(config.horizon / config.unroll);
      theta = theta.detach();
      hc.h = hc.h.detach();
      hc.c = hc.c.detach();
    }
    state.episode = e + 1;
    const bool validate = state.episode % config.validate_every == 0 || state.episode == config.episodes;
    if (validate) {
      val = mean_over_steps(lstm_curve(net, *validation, config.horizon));
      if (std::isfinite(val) && val < state.best_val) {
        state.best_val = val;
        optimizers::save_lstm_net(net, best);
      }
      save_checkpoint(checkpoint, net, meta, state);
    }
    const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    std::ofstream(progress, std::ios::app) << state.episode << "," << meta_loss << ","
                                           << (validate ? format_number(val) : std::string()) << ","
                                           << (std::isfinite(state.best_val) ? format_number(state.best_val) : "")
                                           << "," << seconds << "\n";
    if (runtime.on_progress) {
      const double per = seconds / static_cast<double>(state.episode - first);
      runtime.on_progress({state.episode, config.episodes, meta_loss, val, state.best_val, seconds,
                           per * static_cast<double>(config.episodes - state.episode)});
    }
  }
  result.episodes_done = state.episode;
  result.best_val = state.best_val;
  result.best_path = best;
  return result;
}

}  // namespace nos::experiments
