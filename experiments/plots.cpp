// The report's plots: row-N.dat per row, plots.gp (one line per rule, a min..max band), gnuplot run when found.
#include "experiments/plots.h"

#include <cstdlib>
#include <map>
#include <sstream>

#include "common/text.h"
#include "experiments/csv.h"
#include "experiments/files.h"
#include "optimizers/optimizers.h"

namespace nos::experiments {

const char* const kColors[] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e",
                               "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f"};

std::string plot_color(size_t i) { return kColors[i % (sizeof(kColors) / sizeof(kColors[0]))]; }

std::string gnuplot_string(const std::string& text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

namespace {

// One row's data file: a line per epoch with at least one ok seed. `lines` gets the number of epoch lines.
std::string row_dat(const CompareConfig& config, const CompareRow& row, const RowData& data, int& lines) {
  std::ostringstream dat;
  dat << "# " << row.label << "\n# epoch test_mean test_min test_max loss_mean loss_min loss_max seeds\n";
  lines = 0;
  for (int64_t epoch = 1; epoch <= config.epochs; ++epoch) {
    std::vector<double> test, loss;
    for (const auto& [seed, record] : data.seeds) {
      if (record == nullptr || record->status != tasks::Status::kOk) continue;
      for (const tasks::EpochMetrics& m : record->epochs) {
        if (m.epoch != epoch) continue;
        test.push_back(m.test_acc);
        loss.push_back(m.train_loss);
      }
    }
    const Stat t = stat_of(test), l = stat_of(loss);
    if (t.n == 0 && l.n == 0) continue;
    dat << epoch << " " << csv_number(t.mean) << " " << csv_number(t.min) << " " << csv_number(t.max) << " "
        << csv_number(l.mean) << " " << csv_number(l.min) << " " << csv_number(l.max) << " " << t.n << "\n";
    ++lines;
  }
  return dat.str();
}

// The rule a row's colour follows: a native row takes its twin's colour (dashed).
std::string family_of(const CompareRow& row) {
  const optimizers::NativeRule* native = optimizers::find_native_rule(row.rule);
  return row.kind == "native" && native != nullptr ? native->twin : row.rule;
}

// The script's preamble: terminal, axes, band style.
std::string plot_preamble(const CompareConfig& config) {
  std::ostringstream gp;
  gp << "# Made by nos compare: test accuracy and training loss per epoch, one line per rule (mean over the seeds\n"
     << "# with status ok), the band from the lowest to the highest seed. Run from the report folder: gnuplot "
        "plots/plots.gp\n"
     << "if (strstrt(GPVAL_TERMINALS, \"pngcairo\") > 0) {\n"
     << "  set terminal pngcairo size 1000,640 noenhanced font \",11\"\n"
     << "} else {\n"
     << "  set terminal png size 1000,640 noenhanced\n"
     << "}\n"
     << "set key outside right top\nset grid\nset xlabel \"epoch\"\nset xtics 1\n"
     << "set xrange [" << (config.epochs > 1 ? "1" : "0.5") << ":" << config.epochs + (config.epochs > 1 ? 0 : 0.5)
     << "]\nset style fill transparent solid 0.15 noborder\n";
  return gp.str();
}

// One PNG's commands: a band and a line per plotted row (`mean_col`: the mean's column; min and max follow).
std::string plot_commands(const std::vector<CompareRow>& rows, const std::vector<int>& plotted,
                          const std::map<std::string, int>& color_of, const std::string& file, const std::string& title,
                          const std::string& ylabel, int mean_col) {
  std::ostringstream gp;
  gp << "set output \"" << file << "\"\nset title " << gnuplot_string(title) << "\nset ylabel \"" << ylabel << "\"\n";
  if (plotted.empty()) {
    gp << "set label 1 \"no finished seeds yet\" at graph 0.5, graph 0.5 center\n"
       << "plot [1:2] [0:1] NaN notitle\nunset label 1\n";
    return gp.str();
  }
  gp << "plot \\\n";
  for (size_t k = 0; k < plotted.size(); ++k) {
    const int i = plotted[k];
    const CompareRow& row = rows[static_cast<size_t>(i)];
    const std::string color = plot_color(static_cast<size_t>(color_of.at(family_of(row))));
    const std::string data_file = "\"plots/row-" + std::to_string(i + 1) + ".dat\"";
    const int dash = row.kind == "native" ? 2 : 1;
    gp << "  " << data_file << " using 1:" << mean_col + 1 << ":" << mean_col + 2
       << " with filledcurves lc rgb \"" << color << "\" notitle, \\\n"
       << "  " << data_file << " using 1:" << mean_col << " with linespoints lw 2 pt 7 ps 0.6 dt " << dash
       << " lc rgb \"" << color << "\" title " << gnuplot_string(row.label)
       << (k + 1 < plotted.size() ? ", \\\n" : "\n");
  }
  return gp.str();
}

// Runs gnuplot on plots/plots.gp in the report folder; a note when it fails.
std::vector<std::string> run_gnuplot(const CompareConfig& config, const std::string& gnuplot) {
  const std::string command = "cd " + shell_quote(config.out) + " && " + shell_quote(gnuplot) +
                              " plots/plots.gp > plots/gnuplot.log 2>&1";
  const int status = std::system(command.c_str());
  if (status == 0) return {};
  return {"gnuplot failed (exit status " + std::to_string(status) + "): see " + config.out + "/plots/gnuplot.log"};
}

}  // namespace

std::vector<std::string> write_plots(const CompareConfig& config, const std::vector<CompareRow>& rows,
                                     const std::vector<RowData>& data, const ReportContext& context) {
  const std::string dir = config.out + "/plots";
  make_directories(dir);
  std::vector<int> plotted;
  for (size_t i = 0; i < rows.size(); ++i) {
    int lines = 0;
    write_atomically(dir + "/row-" + std::to_string(i + 1) + ".dat", row_dat(config, rows[i], data[i], lines));
    if (lines > 0) plotted.push_back(static_cast<int>(i));
  }
  std::map<std::string, int> color_of;  // in order of first appearance among the plotted rows
  for (int i : plotted) color_of.emplace(family_of(rows[static_cast<size_t>(i)]), static_cast<int>(color_of.size()));
  const std::string subtitle = config.task + ", " + std::to_string(config.seeds) + " seeds (band: min..max)";
  write_atomically(dir + "/plots.gp",
             plot_preamble(config) +
                 plot_commands(rows, plotted, color_of, "test_acc.png", "test accuracy per epoch: " + subtitle,
                               "test accuracy", 2) +
                 plot_commands(rows, plotted, color_of, "train_loss.png", "training loss per epoch: " + subtitle,
                               "mean training loss", 5));
  if (context.gnuplot.empty()) {
    return {"gnuplot was not found: no PNG plots (the data and script are in plots/; install gnuplot and run "
            "'gnuplot plots/plots.gp' in the report folder)"};
  }
  return run_gnuplot(config, context.gnuplot);
}

}  // namespace nos::experiments
