// Many comparisons, one verdict: each rule's paired difference to a baseline rule (by seed: the same
// initialisation and batches), its 95 % interval (paired t), and a verdict corrected for the number of rules (Holm).
#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "experiments/compare_config.h"
#include "experiments/report.h"
#include "experiments/rows.h"

namespace nos::experiments {

// A paired t test of differences d_1 … d_n against 0: mean, sample sd, the 95 % interval mean ± t(0.975, n − 1) ·
// sd/√n and the two-sided p value (Student's t from Boost.Math). Interval and p are NaN for n < 2; for sd = 0 the
// interval is the point and p is 0 (mean ≠ 0) or 1 (mean = 0).
struct PairedTest {
  int n = 0;
  double mean = std::numeric_limits<double>::quiet_NaN();
  double sd = std::numeric_limits<double>::quiet_NaN();
  double low = std::numeric_limits<double>::quiet_NaN();
  double high = std::numeric_limits<double>::quiet_NaN();
  double p = std::numeric_limits<double>::quiet_NaN();
};
PairedTest paired_t(const std::vector<double>& differences, double confidence = 0.95);

// Holm's step-down adjustment of p values (Holm 1979): sorted ascending, p_(i) · (m − i + 1), made monotone and
// capped at 1; a NaN p stays NaN and is not counted in m. Reject where the adjusted p < α.
std::vector<double> holm_adjusted(const std::vector<double>& p);

// One rule against the baseline.
struct BaselineDifference {
  size_t row = 0;                                      // index into the comparison's rows
  std::vector<std::pair<uint64_t, double>> test_diff;  // per seed both have ok: rule − baseline, final test acc
  std::vector<std::pair<uint64_t, double>> val_diff;   // the same for final validation accuracy
  PairedTest test, val;
  double p_holm = std::numeric_limits<double>::quiet_NaN();  // test's p, Holm-adjusted over the rules
  std::string verdict;  // "better", "worse", "no difference shown", "too few paired seeds"
};

struct BaselineComparison {
  std::string baseline;         // the baseline row's label; empty: none
  std::string missing;          // why there is no comparison (no baseline row …); empty when there is one
  double alpha = 0.05;
  std::vector<BaselineDifference> rules;  // every other row, in the comparison's order
};

// The rows' paired differences to the row of baseline_rule(config) (matched by rule text or label), the intervals
// and the Holm verdicts on final test accuracy (the images no choice saw) at α = 0.05.
BaselineComparison compare_with_baseline(const CompareConfig& config, const std::vector<CompareRow>& rows,
                                         const std::vector<RowData>& data);

// The report's section: a table (rule, n, mean difference and 95 % interval for test and validation, p, Holm p,
// verdict) and the dot-and-whisker plot when it was drawn.
std::string baseline_markdown(const BaselineComparison& comparison, const std::vector<CompareRow>& rows,
                              bool with_plot);

// The verdicts in one line, for the terminal: "against adam (paired by seed, Holm over 10 rules, α 0.05): better:
// none; worse: lion, drop(sign(m), 0.5); no difference shown: 8 rules"; "" without a baseline or rules.
std::string verdict_line(const BaselineComparison& comparison, const std::vector<CompareRow>& rows);

// differences.csv: one line per rule (rule, paired_seeds, test_diff, test_low, test_high, val_diff, val_low,
// val_high, p, p_holm, verdict); only the header without a baseline.
std::string differences_csv(const BaselineComparison& comparison, const std::vector<CompareRow>& rows);

// plots/paired.dat and plots/paired.gp (one row per rule: the mean test-accuracy difference and its 95 % interval,
// a line at 0), then paired.png when gnuplot is there; returns notes for the report.
std::vector<std::string> write_paired_plot(const CompareConfig& config, const BaselineComparison& comparison,
                                           const std::vector<CompareRow>& rows, const ReportContext& context);

}  // namespace nos::experiments
