// The report files: each row's data and summary from the finished runs, the three CSVs, then report.md and plots.
#include "common/text.h"
#include "experiments/report.h"

#include "experiments/paired.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <sstream>

#include "experiments/csv.h"
#include "experiments/files.h"
#include "experiments/plots.h"
#include "experiments/report_markdown.h"

namespace nos::experiments {

namespace {


// "3 ok, 1 diverged": the usual statuses in a fixed order, then any other in alphabetical order.
std::string status_counts(std::map<std::string, int> statuses) {
  std::string text;
  for (const char* status : {"ok", "diverged", "timeout", "invalid", "missing"}) {
    auto found = statuses.find(status);
    if (found == statuses.end()) continue;
    text += (text.empty() ? "" : ", ") + std::to_string(found->second) + " " + status;
    statuses.erase(found);
  }
  for (const auto& [status, n] : statuses) text += ", " + std::to_string(n) + " " + status;
  return text;
}

// The best finite value of one metric over a run's epochs; NaN when none is (accuracies are >= 0).
template <typename Metric>
double best_epoch(const tasks::EvalRecord& record, Metric metric) {
  double best = -1;
  for (const tasks::EpochMetrics& m : record.epochs) {
    if (std::isfinite(metric(m))) best = std::max(best, metric(m));
  }
  return best >= 0 ? best : kNaN;
}

// results.csv: one line per rule × seed × epoch (a run that stopped before its first epoch: one line, epoch 0).
std::string results_csv(const std::vector<CompareRow>& rows, const std::vector<RowData>& data) {
  std::ostringstream results;
  results << "rule,canonical,kind,lr,seed,epoch,steps,train_loss,val_acc,test_acc,seconds,status\n";
  for (size_t i = 0; i < rows.size(); ++i) {
    const CompareRow& row = rows[i];
    const std::string head = csv_field(row.label) + "," + csv_field(row.canonical) + "," + row.kind + ",";
    for (const auto& [seed, record] : data[i].seeds) {
      if (record == nullptr) continue;
      if (record->epochs.empty()) {
        results << head << csv_number(data[i].lr) << "," << seed << ",0,0,,,,," << record->status << "\n";
      }
      for (const tasks::EpochMetrics& m : record->epochs) {
        results << head << csv_number(data[i].lr) << "," << seed << "," << m.epoch << "," << m.steps << ","
                << csv_number(m.train_loss) << "," << csv_number(m.val_acc) << "," << csv_number(m.test_acc) << ","
                << csv_number(m.seconds) << "," << record->status << "\n";
      }
    }
  }
  return results.str();
}

// tuning.csv: one line per rule × lr of the grid.
std::string tuning_csv(const CompareConfig& config, const std::vector<CompareRow>& rows,
                       const std::vector<RowData>& data) {
  std::ostringstream tuning;
  tuning << "rule,canonical,kind,lr,seed,epochs,val_acc,train_loss,seconds,status,chosen\n";
  for (size_t i = 0; i < rows.size(); ++i) {
    const CompareRow& row = rows[i];
    for (const auto& [lr, record] : data[i].tuning) {
      if (record == nullptr) continue;
      tuning << csv_field(row.label) << "," << csv_field(row.canonical) << "," << row.kind << "," << csv_number(lr)
             << "," << config.tune_seed << "," << config.tune_epochs << "," << csv_number(record->status == tasks::Status::kOk ? record->val_acc : kNaN)
             << "," << csv_number(record->final_loss) << "," << csv_number(record->seconds) << "," << record->status
             << "," << (lr == data[i].lr ? "true" : "false") << "\n";
    }
  }
  return tuning.str();
}

// summary.csv: one line per rule.
std::string summary_csv(const std::vector<RowSummary>& rows) {
  std::ostringstream summary;
  summary << "rule,canonical,kind,lr,seeds,seeds_ok,final_val_mean,final_val_std,best_val_mean,best_val_std,"
             "final_test_mean,final_test_std,best_test_mean,best_test_std,final_train_loss_mean,"
             "final_train_loss_std,seconds_per_epoch,tuning,statuses\n";
  for (const RowSummary& s : rows) {
    summary << csv_field(s.row.label) << "," << csv_field(s.row.canonical) << "," << s.row.kind << ","
            << csv_number(s.lr) << "," << s.seeds_planned << "," << s.seeds_ok << "," << csv_number(s.final_val.mean)
            << "," << csv_number(s.final_val.std) << "," << csv_number(s.best_val.mean) << ","
            << csv_number(s.best_val.std) << "," << csv_number(s.final_test.mean) << ","
            << csv_number(s.final_test.std) << "," << csv_number(s.best_test.mean) << ","
            << csv_number(s.best_test.std) << "," << csv_number(s.final_train_loss.mean) << ","
            << csv_number(s.final_train_loss.std) << "," << csv_number(s.seconds_per_epoch) << ","
            << csv_field(s.tuning) << "," << csv_field(s.statuses) << "\n";
  }
  return summary.str();
}

}  // namespace

Stat stat_of(const std::vector<double>& values) {
  Stat s;
  double sum = 0;
  for (double v : values) {
    if (!std::isfinite(v)) continue;
    if (s.n == 0 || v < s.min) s.min = v;
    if (s.n == 0 || v > s.max) s.max = v;
    sum += v;
    ++s.n;
  }
  if (s.n == 0) return s;
  s.mean = sum / s.n;
  if (s.n >= 2) {
    double sq = 0;
    for (double v : values) {
      if (std::isfinite(v)) sq += (v - s.mean) * (v - s.mean);
    }
    s.std = std::sqrt(sq / (s.n - 1));
  }
  return s;
}

RowData row_data(const CompareConfig& config, const CompareRow& row, const FinishedRuns& finished) {
  RowData d;
  for (double lr : config.lr_grid) {
    auto found = finished.find(key_of(rule_key(row), config.tune_epochs, lr, config.tune_seed));
    d.tuning.push_back({lr, found == finished.end() ? nullptr : &found->second});
  }
  const RowTuning tuning = row_tuning(config, row, finished);
  if (!tuning.complete) {
    d.tuning_state = "tuning incomplete";
    return d;
  }
  d.lr = tuning.lr;
  d.tuning_state = std::isnan(d.lr) ? "every lr diverged" : "chosen";
  if (std::isnan(d.lr)) return d;
  for (uint64_t seed : final_seeds(config)) {
    auto found = finished.find(key_of(rule_key(row), config.epochs, d.lr, seed));
    d.seeds.push_back({seed, found == finished.end() ? nullptr : &found->second});
  }
  return d;
}

RowSummary summarize(const CompareConfig& config, const CompareRow& row, const RowData& d) {
  RowSummary s;
  s.row = row;
  s.lr = d.lr;
  s.tuning = d.tuning_state;
  s.seeds_planned = config.seeds;
  std::vector<double> final_val, best_val, final_test, best_test, loss, seconds;
  std::map<std::string, int> statuses;
  for (const auto& [seed, record] : d.seeds) {
    if (record == nullptr) {
      ++statuses["missing"];
      continue;
    }
    ++s.seeds_done;
    ++statuses[tasks::status_text(record->status)];
    for (const tasks::EpochMetrics& m : record->epochs) seconds.push_back(m.seconds);
    if (record->status != tasks::Status::kOk || record->epochs.empty()) continue;
    ++s.seeds_ok;
    final_val.push_back(record->epochs.back().val_acc);
    final_test.push_back(record->epochs.back().test_acc);
    loss.push_back(record->epochs.back().train_loss);
    best_val.push_back(best_epoch(*record, [](const tasks::EpochMetrics& m) { return m.val_acc; }));
    best_test.push_back(best_epoch(*record, [](const tasks::EpochMetrics& m) { return m.test_acc; }));
  }
  s.final_val = stat_of(final_val);
  s.best_val = stat_of(best_val);
  s.final_test = stat_of(final_test);
  s.best_test = stat_of(best_test);
  s.final_train_loss = stat_of(loss);
  s.seconds_per_epoch = stat_of(seconds).mean;
  if (d.seeds.empty()) {
    s.statuses = d.tuning_state == "chosen" ? "" : d.tuning_state;
  } else {
    s.statuses = status_counts(statuses);
  }
  return s;
}

ReportFiles write_compare_report(const CompareConfig& config, const std::vector<CompareRow>& rows,
                                 const std::vector<CompareRun>& journal, const ReportContext& context,
                                 double session_seconds) {
  make_directories(config.out);
  const FinishedRuns finished = finished_runs(journal);
  std::vector<RowData> data;
  ReportFiles files;
  for (const CompareRow& row : rows) {
    data.push_back(row_data(config, row, finished));
    files.summary.push_back(summarize(config, row, data.back()));
  }
  write_atomically(config.out + "/results.csv", results_csv(rows, data));
  write_atomically(config.out + "/tuning.csv", tuning_csv(config, rows, data));
  write_atomically(config.out + "/summary.csv", summary_csv(files.summary));
  files.notes = write_plots(config, rows, data, context);
  const BaselineComparison paired = compare_with_baseline(config, rows, data);
  files.verdicts = verdict_line(paired, rows);
  write_atomically(config.out + "/differences.csv", differences_csv(paired, rows));
  for (const std::string& note : write_paired_plot(config, paired, rows, context)) files.notes.push_back(note);
  const bool plotted = exists(config.out + "/paired.png") && !context.gnuplot.empty() && !paired.rules.empty();
  const MarkdownInputs inputs{config,  rows,    data,           files.summary,
                              files.notes, journal, context, session_seconds,
                              baseline_markdown(paired, rows, plotted)};
  write_atomically(config.out + "/report.md", report_markdown(inputs));
  return files;
}

}  // namespace nos::experiments
