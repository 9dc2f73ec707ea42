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
            "preprocess_p", "output_scale", "architecture", "minibatch", "data_dir", "generalization", "out"}},
  };
  return table;
}

// Streams of instances (stream_seed): training episodes, validation and test never share a seed.
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
    if (k == "architecture" || k == "minibatch" || k == "data_dir" || k == "generalization") mlp_keys.push_back(k);
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
      << "\ndata_dir: " << yaml_quoted(c.data_dir) << "\ngeneralization: " << yaml_list(c.generalization) << "\n";
  }
  y << "out: " << yaml_quoted(c.out) << "\n";
  return y.str();
}

void LossCurve::add(const torch::Tensor& losses) {
  mean.push_back(losses.mean().item<double>());
  sd.push_back(losses.numel() > 1 ? losses.std().item<double>() : 0.0);
}

LossCurve LossCurve::first(int64_t steps) const {
  LossCurve c;
  c.mean.assign(mean.begin(), mean.begin() + steps + 1);
  c.sd.assign(sd.begin(), sd.begin() + steps + 1);
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

// The configured family's instances: training episodes on the training data, validation and test instances (other
// seeds) on held-out data (the MLP family: Fashion-MNIST's test split).
class Instances {
 public:
  explicit Instances(const LearnConfig& config) : config_(config) {
    if (config.family == "mlp") data_ = load_mlp_data(config.data_dir);
  }
  // n instances of `stream` number `index`; `architecture` empty: the trained one.
  std::unique_ptr<ProblemBatch> draw(uint64_t stream, uint64_t index, int64_t n,
                                     const std::string& architecture = "") const {
    const uint64_t seed = stream_seed(config_.seed, stream, index);
    if (config_.family == "quadratic") return std::make_unique<QuadraticBatch>(quadratic_batch(n, config_.dims, seed));
    return std::make_unique<MlpBatch>(stream == kTrainStream ? data_.train : data_.test,
                                      parse_architecture(architecture.empty() ? config_.architecture : architecture),
                                      n, config_.minibatch, seed);
  }

 private:
  const LearnConfig& config_;
  MlpSplits data_;
};

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

namespace {

struct Entry {
  std::string name;
  double lr = 0;  // NaN for the LSTM (its own scale)
  LossCurve at_horizon, at_double;  // at_double: only for the trained architecture
};

// The baseline's lr with the lowest mean final loss on the validation instances (non-finite losses lose).
double best_lr(const LearnConfig& config, const std::string& rule, const ProblemBatch& validation) {
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

// The LSTM and each baseline (at its best lr on the validation instances) on the test instances of one
// architecture (empty: the trained one, also run to twice the horizon).
std::vector<Entry> evaluate_on(const LearnConfig& config, optimizers::LstmNet& net, const Instances& instances,
                               const std::string& architecture) {
  const auto validation = instances.draw(kValidationStream, 0, config.validation_instances, architecture);
  const auto test = instances.draw(kTestStream, 0, config.test_instances, architecture);
  const bool doubled = architecture.empty();
  std::vector<Entry> entries;
  const LossCurve lstm = lstm_curve(net, *test, (doubled ? 2 : 1) * config.horizon);
  entries.push_back({"lstm", std::nan(""), lstm.first(config.horizon), doubled ? lstm : LossCurve{}});
  for (const std::string& rule : config.baselines) {
    const double lr = best_lr(config, rule, *validation);
    entries.push_back({rule, lr, rule_curve(rule, lr, *test, config.horizon),
                       doubled ? rule_curve(rule, lr, *test, 2 * config.horizon) : LossCurve{}});
  }
  return entries;
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

std::string curves_file(const std::string& architecture) {
  std::string name = architecture;
  for (char& ch : name) ch = ch == ':' ? '-' : ch;
  return "loss_per_step_" + name + ".csv";
}

std::string plot_lines(const std::string& csv, const std::vector<Entry>& entries) {
  std::ostringstream gp;
  gp << "plot ";
  for (size_t i = 0; i < entries.size(); ++i) {
    gp << (i ? ", " : "") << gnuplot_string(csv) << " using 1:" << i + 2 << " with lines lw 2 lc rgb "
       << gnuplot_string(plot_color(i)) << " title " << gnuplot_string(entries[i].name);
  }
  return gp.str() + "\n";
}

std::string instances_text(const LearnConfig& c) {
  return c.family == "quadratic" ? "held-out quadratics" : "held-out MLPs";
}

std::string plot_script(const LearnConfig& config, const std::vector<Entry>& entries,
                        const std::vector<std::vector<Entry>>& others) {
  std::ostringstream gp;
  gp << "set terminal pngcairo size 900,560\nset output " << gnuplot_string(config.out + "/loss.png")
     << "\nset datafile separator ','\nset logscale y\nset xlabel 'optimizee step'\nset ylabel 'mean loss over "
     << config.test_instances << " " << instances_text(config) << "'\nset key top right\nset grid\nset arrow from "
     << config.horizon << ", graph 0 to " << config.horizon << ", graph 1 nohead dt 2\n"
     << plot_lines(config.out + "/loss_per_step_2x.csv", entries);
  if (others.empty()) return gp.str();
  gp << "unset arrow\nset terminal pngcairo size " << 420 * others.size() << ",420\nset output "
     << gnuplot_string(config.out + "/generalization.png") << "\nset multiplot layout 1," << others.size() << "\n";
  for (size_t i = 0; i < others.size(); ++i) {
    gp << "set title " << gnuplot_string(config.generalization[i]) << "\n"
       << plot_lines(config.out + "/" + curves_file(config.generalization[i]), others[i]);
  }
  return gp.str() + "unset multiplot\n";
}

std::string family_text(const LearnConfig& c, const Instances& instances) {
  std::ostringstream t;
  t << c.test_instances << " " << instances_text(c);
  if (c.family == "quadratic") {
    t << ", f(θ) = ‖Wθ − y‖² (" << c.dims << "-D, W, y, θ₀ ~ N(0, 1))";
  } else {
    const auto one = instances.draw(kTestStream, 0, 1);
    t << " (" << c.architecture << ", " << static_cast<const MlpBatch&>(*one).dims()
      << " parameters, weights ~ N(0, 0.1²) truncated at 2σ, biases 0) training on Fashion-MNIST's test split "
      << "(held out from meta-training, which used the training split), " << c.minibatch
      << " examples per step drawn with replacement; the loss is the step's minibatch cross-entropy";
  }
  return t.str();
}

void table_row(std::ostream& md, const Entry& e, bool doubled) {
  md << "| " << e.name << " | " << (std::isnan(e.lr) ? std::string("(learned)") : format_number(e.lr)) << " | "
     << fixed(e.at_horizon.mean.back(), 4) << " ± " << fixed(e.at_horizon.final_sd(), 4) << " | "
     << fixed(mean_over_steps(e.at_horizon), 3);
  if (doubled) md << " | " << fixed(e.at_double.mean.back(), 4) << " ± " << fixed(e.at_double.final_sd(), 4);
  md << " |\n";
}

std::string grid_text(const LearnConfig& config) {
  std::string g;
  for (double lr : config.lr_grid) g += (g.empty() ? "" : ", ") + format_number(lr);
  return g;
}

void generalization_section(std::ostream& md, const LearnConfig& config,
                            const std::vector<std::vector<Entry>>& others) {
  if (others.empty()) return;
  md << "\n## Other architectures\n\nThe network trained on " << config.architecture
     << ", run on MLPs it never saw (the paper's Figure 5 asks the same); baselines tuned again on each. At the "
     << "trained horizon, " << config.horizon << " steps.\n\n| architecture | optimizer | lr | loss at step "
     << config.horizon << " | mean loss over steps 1–" << config.horizon << " |\n|---|---|---|---|---|\n";
  for (size_t i = 0; i < others.size(); ++i) {
    for (const Entry& e : others[i]) {
      md << "| " << config.generalization[i] << " ";
      table_row(md, e, false);
    }
  }
  md << "\n![other architectures](generalization.png)\n";
}

}  // namespace

std::string evaluate_learned(const LearnConfig& config) {
  optimizers::LstmNet net = optimizers::load_lstm_net(config.out + "/best.pt");
  const Instances instances(config);
  const std::vector<Entry> entries = evaluate_on(config, net, instances, "");
  write_curves(config.out + "/loss_per_step.csv", entries, false);
  write_curves(config.out + "/loss_per_step_2x.csv", entries, true);
  std::vector<std::vector<Entry>> others;
  for (const std::string& a : config.generalization) {
    others.push_back(evaluate_on(config, net, instances, a));
    write_curves(config.out + "/" + curves_file(a), others.back(), false);
  }
  std::ostringstream csv, md;
  csv << "architecture,optimizer,lr,final_mean,final_sd,mean_over_steps,final_mean_2x,final_sd_2x\n";
  md << "# The learned LSTM optimizer on " << instances_text(config) << "\n\n" << family_text(config, instances)
     << "; each baseline at the lr of {" << grid_text(config) << "} with the lowest mean final loss on "
     << config.validation_instances << " validation instances. Loss after " << config.horizon
     << " steps (the trained horizon) and after " << 2 * config.horizon
     << " (twice it), mean ± sd over the instances.\n\n| optimizer | lr | loss at step " << config.horizon
     << " | mean loss over steps 1–" << config.horizon << " | loss at step " << 2 * config.horizon
     << " |\n|---|---|---|---|---|\n";
  auto csv_row = [&csv](const std::string& architecture, const Entry& e) {
    const bool doubled = !e.at_double.mean.empty();
    csv << architecture << "," << e.name << "," << (std::isnan(e.lr) ? std::string() : format_number(e.lr)) << ","
        << e.at_horizon.mean.back() << "," << e.at_horizon.final_sd() << "," << mean_over_steps(e.at_horizon) << ","
        << (doubled ? format_number(e.at_double.mean.back()) : "") << ","
        << (doubled ? format_number(e.at_double.final_sd()) : "") << "\n";
  };
  const std::string trained = config.family == "mlp" ? config.architecture : "";
  for (const Entry& e : entries) {
    csv_row(trained, e);
    table_row(md, e, true);
  }
  for (size_t i = 0; i < others.size(); ++i) {
    for (const Entry& e : others[i]) csv_row(config.generalization[i], e);
  }
  md << "\n![loss per step](loss.png)\n";
  generalization_section(md, config, others);
  md << "\nData: evaluation.csv, loss_per_step.csv (steps 0–" << config.horizon
     << "), loss_per_step_2x.csv (steps 0–" << 2 * config.horizon << ")"
     << (others.empty() ? "" : ", loss_per_step_<architecture>.csv") << "; meta-training: progress.csv.\n";
  write_atomically(config.out + "/evaluation.csv", csv.str());
  write_atomically(config.out + "/plots.gp", plot_script(config, entries, others));
  const bool plotted = std::system(("gnuplot " + shell_quote(config.out + "/plots.gp") + " 2>/dev/null").c_str()) == 0;
  if (!plotted) md << "\ngnuplot was not found or failed: run `gnuplot plots.gp` for the plots.\n";
  write_atomically(config.out + "/report.md", md.str());
  return config.out + "/report.md";
}

}  // namespace nos::experiments
