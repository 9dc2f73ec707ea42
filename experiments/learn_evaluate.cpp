// nos learn's evaluation (learn.h): the learned network and the tuned baselines on held-out instances, the report,
// the curves' CSVs and the plots' script.
#include "experiments/learn.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/optim/adam.h>
#include <torch/serialize.h>

#include <algorithm>
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

using namespace learn_detail;

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
      << "(held out from meta-training, which used the training split"
      << (c.validation_data == "train" ? ", and from validation — the choice of best.pt and the baselines' lr — which "
                                         "used 10,000 images held out of the training split), "
                                       : "; validation used the test split too: a run made before validation_data), ")
      << c.minibatch
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

double median_of(std::vector<double> v) {
  if (v.empty()) return std::nan("");
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

// Heavy tails: a few instances can carry the mean (quadratics whose loss stays large), so the report also gives the
// median final loss and, instance by instance (the same instance for every optimizer), each baseline's loss minus
// the LSTM's: its median and how often the LSTM is lower.
void per_instance_section(std::ostream& md, const LearnConfig& config, const std::vector<Entry>& entries) {
  const std::vector<double>& lstm = entries.front().at_horizon.values.back();
  md << "\n## Per instance\n\nThe same " << lstm.size() << " test instances for every optimizer, at step "
     << config.horizon << ": the median final loss (robust to the heavy tail that can carry a mean) and, instance "
     << "by instance, the optimizer's final loss minus the LSTM's (positive: the LSTM is lower).\n\n"
     << "| optimizer | median loss at step " << config.horizon << " | median of (optimizer − lstm) | "
     << "instances where lstm is lower |\n|---|---|---|---|\n";
  for (const Entry& e : entries) {
    const std::vector<double>& mine = e.at_horizon.values.back();
    std::vector<double> diff;
    int lower = 0;
    for (size_t i = 0; i < mine.size() && i < lstm.size(); ++i) {
      diff.push_back(mine[i] - lstm[i]);
      lower += lstm[i] < mine[i];
    }
    const bool self = &e == &entries.front();
    md << "| " << e.name << " | " << fixed(median_of(mine), 4) << " | " << (self ? "—" : fixed(median_of(diff), 4))
       << " | " << (self ? std::string("—") : std::to_string(lower) + " of " + std::to_string(diff.size())) << " |\n";
  }
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
  per_instance_section(md, config, entries);
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
