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
#include "common/text.h"
#include "common/yaml_reader.h"
#include "experiments/files.h"
#include "experiments/plots.h"
#include "optimizers/named.h"

namespace nos::experiments {

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

const std::map<std::string, std::vector<std::string>>& learn_sections() {
  static const std::map<std::string, std::vector<std::string>> table = {
      {"", {"family", "dims", "horizon", "unroll", "batch", "episodes", "meta_lr", "validate_every",
            "validation_instances", "test_instances", "lr_grid", "baselines", "seed", "hidden", "layers",
            "preprocess_p", "output_scale", "out"}},
  };
  return table;
}

// Streams of instances: training episodes, validation and test never share a seed.
uint64_t stream_seed(uint64_t seed, uint64_t stream, uint64_t index) {
  uint64_t x = seed * 0x9E3779B97F4A7C15ull + stream * 0xBF58476D1CE4E5B9ull + index * 0x94D049BB133111EBull;
  x ^= x >> 31;
  return x;
}
constexpr uint64_t kTrainStream = 1, kValidationStream = 2, kTestStream = 3;

double mean_over_steps(const LossCurve& c) {
  double sum = 0;
  for (size_t t = 1; t < c.mean.size(); ++t) sum += c.mean[t];
  return sum / static_cast<double>(c.mean.size() - 1);
}

}  // namespace

const std::vector<std::string>& learn_config_keys() { return learn_sections().at(""); }

LearnConfig parse_learn_config(const std::string& yaml_text, const std::string& source) {
  const YAML::Node root = load_yaml(yaml_text, source);
  LearnConfig c;
  if (root.IsNull()) return c;
  const YamlReader r(source, learn_sections());
  constexpr int64_t kBig = int64_t{1} << 30;
  r.each_key(root, "", [&](const std::string& k, const YAML::Node& v, const std::string& p) {
    if (k == "family") c.family = r.choice(v, p, {"quadratic"});
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

std::string to_yaml(const LearnConfig& c) {
  std::ostringstream y;
  y << "family: " << c.family << "\ndims: " << c.dims << "\nhorizon: " << c.horizon << "\nunroll: " << c.unroll
    << "\nbatch: " << c.batch << "\nepisodes: " << c.episodes << "\nmeta_lr: " << format_number(c.meta_lr)
    << "\nvalidate_every: " << c.validate_every << "\nvalidation_instances: " << c.validation_instances
    << "\ntest_instances: " << c.test_instances << "\nlr_grid: " << yaml_list(c.lr_grid)
    << "\nbaselines: " << yaml_list(c.baselines) << "\nseed: " << c.seed << "\nhidden: " << c.net.hidden
    << "\nlayers: " << c.net.layers << "\npreprocess_p: " << format_number(c.net.preprocess_p)
    << "\noutput_scale: " << format_number(c.net.output_scale) << "\nout: " << yaml_quoted(c.out) << "\n";
  return y.str();
}

torch::Tensor QuadraticBatch::loss(const torch::Tensor& theta) const {
  const torch::Tensor r = torch::bmm(w, theta.unsqueeze(2)).squeeze(2) - y;
  return (r * r).sum(1);
}

torch::Tensor QuadraticBatch::gradient(const torch::Tensor& theta) const {
  const torch::Tensor r = torch::bmm(w, theta.unsqueeze(2)).squeeze(2) - y;
  return 2 * torch::bmm(w.transpose(1, 2), r.unsqueeze(2)).squeeze(2);
}

QuadraticBatch quadratic_batch(int64_t n, int64_t dims, uint64_t seed, torch::Dtype dtype) {
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  const auto options = torch::TensorOptions().dtype(torch::kFloat64);
  QuadraticBatch b;
  b.w = torch::randn({n, dims, dims}, gen, options).to(dtype);
  b.y = torch::randn({n, dims}, gen, options).to(dtype);
  b.theta0 = torch::randn({n, dims}, gen, options).to(dtype);
  return b;
}

torch::Tensor unrolled_loss(optimizers::LstmNet& net, const QuadraticBatch& batch, torch::Tensor& theta,
                            optimizers::LstmCoordinateState& state, int64_t steps,
                            std::vector<torch::Tensor>* gradients, const std::vector<torch::Tensor>& given) {
  torch::Tensor total = torch::zeros({}, theta.options());
  for (int64_t t = 0; t < steps; ++t) {
    const torch::Tensor g = given.empty() ? batch.gradient(theta.detach()) : given.at(static_cast<size_t>(t));
    if (gradients != nullptr) gradients->push_back(g);
    theta = theta + net->forward(g, state);
    total = total + batch.loss(theta).mean();
  }
  return total / static_cast<double>(steps);
}

LossCurve lstm_curve(optimizers::LstmNet& net, const QuadraticBatch& batch, int64_t horizon) {
  torch::NoGradGuard no_grad;
  LossCurve c;
  torch::Tensor theta = batch.theta0.clone();
  optimizers::LstmCoordinateState state;
  c.mean.push_back(batch.loss(theta).mean().item<double>());
  torch::Tensor last;
  for (int64_t t = 0; t < horizon; ++t) {
    theta = theta + net->forward(batch.gradient(theta), state);
    last = batch.loss(theta);
    c.mean.push_back(last.mean().item<double>());
  }
  c.final_sd = last.std().item<double>();
  return c;
}

LossCurve rule_curve(const std::string& rule, double lr, const QuadraticBatch& batch, int64_t horizon) {
  const optimizers::ResolvedRule resolved = optimizers::resolve_rule(rule);
  torch::Tensor theta = batch.theta0.clone().requires_grad_(true);
  optimizers::RuleOptions options = resolved.defaults;
  options.lr(lr);
  options.total_steps(horizon);
  auto optimizer = optimizers::make_training_optimizer(resolved, {{{theta}, 0.0}}, options);
  LossCurve c;
  torch::Tensor last = batch.loss(theta.detach());
  c.mean.push_back(last.mean().item<double>());
  for (int64_t t = 0; t < horizon; ++t) {
    optimizer->zero_grad();
    batch.loss(theta).sum().backward();  // each instance's loss depends on its own row only
    optimizer->step();
    last = batch.loss(theta.detach());
    c.mean.push_back(last.mean().item<double>());
  }
  c.final_sd = last.std().item<double>();
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
  archive.save_to(path + ".tmp");
  fs::rename(path + ".tmp", path);
}

Checkpoint load_checkpoint(const std::string& path, optimizers::LstmNet& net, torch::optim::Adam& meta) {
  torch::serialize::InputArchive archive;
  try {
    archive.load_from(path);
  } catch (const c10::Error&) {
    throw UserError(path + ": a damaged checkpoint (delete it to start the run again)");
  }
  Checkpoint c;
  c10::IValue v;
  archive.read("episode", v);
  c.episode = v.toInt();
  archive.read("best_val", v);
  c.best_val = v.toDouble();
  torch::NoGradGuard no_grad;
  for (auto& item : net->named_parameters()) {
    torch::Tensor t;
    archive.read("net/" + item.key(), t);
    item.value().copy_(t);
  }
  torch::serialize::InputArchive optimizer;
  archive.read("meta_optimizer", optimizer);
  meta.load(optimizer);
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
    LearnConfig before = parse_learn_config(read_text(path), path);
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
  const QuadraticBatch validation =
      quadratic_batch(config.validation_instances, config.dims, stream_seed(config.seed, kValidationStream, 0));
  LearnResult result;
  const Clock::time_point start = Clock::now();
  const int64_t first = state.episode;
  double val = -1, meta_loss = 0;
  for (int64_t e = state.episode; e < config.episodes; ++e) {
    if (runtime.stop != nullptr && runtime.stop->load()) {
      result.interrupted = true;
      break;
    }
    const QuadraticBatch batch = quadratic_batch(config.batch, config.dims, stream_seed(config.seed, kTrainStream, e));
    torch::Tensor theta = batch.theta0.clone();
    optimizers::LstmCoordinateState hc;
    meta_loss = 0;
    for (int64_t s = 0; s < config.horizon / config.unroll; ++s) {
      torch::Tensor loss = unrolled_loss(net, batch, theta, hc, config.unroll);
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
      val = mean_over_steps(lstm_curve(net, validation, config.horizon));
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

namespace {

struct Entry {
  std::string name;
  double lr = 0;  // NaN for the LSTM (its own scale)
  LossCurve at_horizon, at_double;
};

// The baseline's lr with the lowest mean final loss on the validation instances (non-finite losses lose).
double best_lr(const LearnConfig& config, const std::string& rule, const QuadraticBatch& validation) {
  double best = config.lr_grid.front(), best_loss = std::numeric_limits<double>::infinity();
  for (double lr : config.lr_grid) {
    const double loss = rule_curve(rule, lr, validation, config.horizon).mean.back();
    if (std::isfinite(loss) && loss < best_loss) {
      best_loss = loss;
      best = lr;
    }
  }
  return best;
}

void write_curves(const std::string& path, const std::vector<Entry>& entries, bool doubled) {
  std::ostringstream csv;
  csv << "step";
  for (const Entry& e : entries) csv << "," << e.name;
  csv << "\n";
  const size_t steps = (doubled ? entries[0].at_double : entries[0].at_horizon).mean.size();
  for (size_t t = 0; t < steps; ++t) {
    csv << t;
    for (const Entry& e : entries) csv << "," << (doubled ? e.at_double : e.at_horizon).mean[t];
    csv << "\n";
  }
  write_atomically(path, csv.str());
}

std::string plot_script(const LearnConfig& config, const std::vector<Entry>& entries) {
  std::ostringstream gp;
  gp << "set terminal pngcairo size 900,560\nset output " << gnuplot_string(config.out + "/loss.png")
     << "\nset datafile separator ','\nset logscale y\nset xlabel 'optimizee step'\nset ylabel 'mean loss over "
     << config.test_instances << " held-out quadratics'\nset key top right\nset grid\nset arrow from "
     << config.horizon << ", graph 0 to " << config.horizon << ", graph 1 nohead dt 2\nplot ";
  for (size_t i = 0; i < entries.size(); ++i) {
    gp << (i ? ", " : "") << gnuplot_string(config.out + "/loss_per_step_2x.csv") << " using 1:" << i + 2
       << " with lines lw 2 lc rgb " << gnuplot_string(plot_color(i)) << " title "
       << gnuplot_string(entries[i].name);
  }
  return gp.str() + "\n";
}

}  // namespace

std::string evaluate_learned(const LearnConfig& config) {
  optimizers::LstmNet net = optimizers::load_lstm_net(config.out + "/best.pt");
  const QuadraticBatch validation =
      quadratic_batch(config.validation_instances, config.dims, stream_seed(config.seed, kValidationStream, 0));
  const QuadraticBatch test =
      quadratic_batch(config.test_instances, config.dims, stream_seed(config.seed, kTestStream, 0));
  std::vector<Entry> entries;
  entries.push_back({"lstm", std::nan(""), lstm_curve(net, test, config.horizon),
                     lstm_curve(net, test, 2 * config.horizon)});
  for (const std::string& rule : config.baselines) {
    const double lr = best_lr(config, rule, validation);
    entries.push_back({rule, lr, rule_curve(rule, lr, test, config.horizon),
                       rule_curve(rule, lr, test, 2 * config.horizon)});
  }
  write_curves(config.out + "/loss_per_step.csv", entries, false);
  write_curves(config.out + "/loss_per_step_2x.csv", entries, true);
  std::ostringstream csv, md;
  csv << "optimizer,lr,final_mean,final_sd,mean_over_steps,final_mean_2x,final_sd_2x\n";
  md << "# The learned LSTM optimizer on held-out quadratics\n\n"
     << config.test_instances << " held-out instances of f(θ) = ‖Wθ − y‖² (" << config.dims << "-D, W, y, θ₀ ~ "
     << "N(0, 1)); each baseline at the lr of {" << [&] {
          std::string g;
          for (double lr : config.lr_grid) g += (g.empty() ? "" : ", ") + format_number(lr);
          return g;
        }() << "} with the lowest mean final loss on " << config.validation_instances
     << " validation instances. Loss after " << config.horizon << " steps (the trained horizon) and after "
     << 2 * config.horizon << " (twice it), mean ± sd over the instances.\n\n"
     << "| optimizer | lr | loss at step " << config.horizon << " | mean loss over steps 1–" << config.horizon
     << " | loss at step " << 2 * config.horizon << " |\n|---|---|---|---|---|\n";
  for (const Entry& e : entries) {
    const double over = mean_over_steps(e.at_horizon);
    csv << e.name << "," << (std::isnan(e.lr) ? std::string() : format_number(e.lr)) << ","
        << e.at_horizon.mean.back() << "," << e.at_horizon.final_sd << "," << over << ","
        << e.at_double.mean.back() << "," << e.at_double.final_sd << "\n";
    md << "| " << e.name << " | " << (std::isnan(e.lr) ? std::string("(learned)") : format_number(e.lr)) << " | "
       << fixed(e.at_horizon.mean.back(), 4) << " ± " << fixed(e.at_horizon.final_sd, 4) << " | " << fixed(over, 3)
       << " | " << fixed(e.at_double.mean.back(), 4) << " ± " << fixed(e.at_double.final_sd, 4) << " |\n";
  }
  write_atomically(config.out + "/evaluation.csv", csv.str());
  write_atomically(config.out + "/plots.gp", plot_script(config, entries));
  md << "\n![loss per step](loss.png)\n\nData: evaluation.csv, loss_per_step.csv (steps 0–" << config.horizon
     << "), loss_per_step_2x.csv (steps 0–" << 2 * config.horizon << "); meta-training: progress.csv.\n";
  const bool plotted = std::system(("gnuplot " + shell_quote(config.out + "/plots.gp") + " 2>/dev/null").c_str()) == 0;
  if (!plotted) md << "\ngnuplot was not found or failed: run `gnuplot plots.gp` for loss.png.\n";
  write_atomically(config.out + "/report.md", md.str());
  return config.out + "/report.md";
}

}  // namespace nos::experiments
