// Paired differences to a baseline, their intervals and Holm verdicts, and the dot-and-whisker plot (paired.h).
#include "experiments/paired.h"

#include <boost/math/distributions/students_t.hpp>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <map>
#include <numeric>
#include <sstream>

#include "common/text.h"
#include "experiments/csv.h"
#include "experiments/files.h"
#include "experiments/plots.h"

namespace nos::experiments {

PairedTest paired_t(const std::vector<double>& differences, double confidence) {
  PairedTest t;
  t.n = static_cast<int>(differences.size());
  if (t.n == 0) return t;
  t.mean = std::accumulate(differences.begin(), differences.end(), 0.0) / t.n;
  if (t.n < 2) return t;
  double ss = 0;
  for (double d : differences) ss += (d - t.mean) * (d - t.mean);
  t.sd = std::sqrt(ss / (t.n - 1));
  if (t.sd == 0) {
    t.low = t.high = t.mean;
    t.p = t.mean == 0 ? 1.0 : 0.0;
    return t;
  }
  const boost::math::students_t dist(t.n - 1);
  const double se = t.sd / std::sqrt(static_cast<double>(t.n));
  const double q = boost::math::quantile(dist, 0.5 + confidence / 2);
  t.low = t.mean - q * se;
  t.high = t.mean + q * se;
  t.p = 2 * boost::math::cdf(boost::math::complement(dist, std::fabs(t.mean / se)));
  return t;
}

std::vector<double> holm_adjusted(const std::vector<double>& p) {
  std::vector<size_t> order;
  for (size_t i = 0; i < p.size(); ++i) {
    if (!std::isnan(p[i])) order.push_back(i);
  }
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return p[a] < p[b]; });
  std::vector<double> out(p.size(), std::nan(""));
  const double m = static_cast<double>(order.size());
  double running = 0;
  for (size_t k = 0; k < order.size(); ++k) {
    running = std::max(running, std::min(1.0, p[order[k]] * (m - static_cast<double>(k))));
    out[order[k]] = running;
  }
  return out;
}

namespace {

// The row the report compares with; npos when there is none.
size_t baseline_row(const std::string& rule, const std::vector<CompareRow>& rows) {
  for (size_t i = 0; i < rows.size(); ++i) {
    if (rows[i].rule == rule || rows[i].label == rule) return i;
  }
  return rows.size();
}

// Final accuracies of the ok seeds of a row, by seed.
std::map<uint64_t, std::pair<double, double>> finals(const RowData& d) {
  std::map<uint64_t, std::pair<double, double>> out;
  for (const auto& [seed, record] : d.seeds) {
    if (record == nullptr || record->status != tasks::Status::kOk || record->epochs.empty()) continue;
    out[seed] = {record->epochs.back().test_acc, record->epochs.back().val_acc};
  }
  return out;
}

std::vector<double> values(const std::vector<std::pair<uint64_t, double>>& by_seed) {
  std::vector<double> out;
  for (const auto& [seed, value] : by_seed) out.push_back(value);
  return out;
}

}  // namespace

BaselineComparison compare_with_baseline(const CompareConfig& config, const std::vector<CompareRow>& rows,
                                         const std::vector<RowData>& data) {
  BaselineComparison c;
  const std::string rule = baseline_rule(config);
  if (rule.empty()) {
    c.missing = config.baseline == "none" ? "baseline: none" : "no baseline: adam is not a row (set baseline:)";
    return c;
  }
  const size_t b = baseline_row(rule, rows);
  if (b == rows.size()) {
    c.missing = "the baseline '" + rule + "' is not a row of the comparison";
    return c;
  }
  c.baseline = rows[b].label;
  const auto base = finals(data[b]);
  std::vector<double> p;
  for (size_t i = 0; i < rows.size(); ++i) {
    if (i == b) continue;
    BaselineDifference d;
    d.row = i;
    for (const auto& [seed, acc] : finals(data[i])) {
      auto found = base.find(seed);
      if (found == base.end()) continue;
      if (std::isfinite(acc.first) && std::isfinite(found->second.first)) {
        d.test_diff.push_back({seed, acc.first - found->second.first});
      }
      if (std::isfinite(acc.second) && std::isfinite(found->second.second)) {
        d.val_diff.push_back({seed, acc.second - found->second.second});
      }
    }
    d.test = paired_t(values(d.test_diff));
    d.val = paired_t(values(d.val_diff));
    p.push_back(d.test.p);
    c.rules.push_back(d);
  }
  const std::vector<double> adjusted = holm_adjusted(p);
  for (size_t k = 0; k < c.rules.size(); ++k) {
    BaselineDifference& d = c.rules[k];
    d.p_holm = adjusted[k];
    d.verdict = std::isnan(d.p_holm) ? "too few paired seeds"
                : d.p_holm >= c.alpha ? "no difference shown"
                : d.test.mean > 0     ? "better"
                                      : "worse";
  }
  return c;
}

namespace {

std::string signed_fixed(double x, int digits) {
  if (!std::isfinite(x)) return "–";
  return (x >= 0 ? "+" : "") + fixed(x, digits);
}

std::string interval(const PairedTest& t) {
  if (t.n == 0) return "–";
  if (std::isnan(t.low)) return signed_fixed(t.mean, 4) + " (n = 1)";
  return signed_fixed(t.mean, 4) + " [" + signed_fixed(t.low, 4) + ", " + signed_fixed(t.high, 4) + "]";
}

std::string p_text(double p) {
  if (std::isnan(p)) return "–";
  if (p < 0.0001) return "< 0.0001";
  return fixed(p, 4);
}

std::string cell(const std::string& text) {
  std::string out;
  for (char ch : text) out += ch == '|' ? std::string("\\|") : std::string(1, ch);
  return out;
}

}  // namespace

std::string baseline_markdown(const BaselineComparison& c, const std::vector<CompareRow>& rows, bool with_plot) {
  std::ostringstream md;
  md << "\n## Against the baseline\n\n";
  if (!c.missing.empty()) {
    md << "No paired comparison: " << c.missing << ".\n";
    return md.str();
  }
  md << "Each rule minus **" << cell(c.baseline) << "**, seed by seed (the same seed gives both the same "
     << "initialisation and batches): the mean difference of final accuracy with its 95 % interval (paired t, "
     << "n − 1 degrees of freedom), over the seeds where both finished ok. The verdict tests the test-accuracy "
     << "difference against 0 with Holm's correction for the " << c.rules.size() << " rule"
     << (c.rules.size() == 1 ? "" : "s") << " compared (α = " << fixed(c.alpha, 2)
     << "): *better* or *worse* only where the adjusted p is below α. Validation differences are shown beside.\n\n"
     << "| rule | paired seeds | test difference [95 % CI] | validation difference [95 % CI] | p | Holm p | "
        "verdict |\n|---|---|---|---|---|---|---|\n";
  for (const BaselineDifference& d : c.rules) {
    md << "| " << cell(rows[d.row].label) << " | " << d.test.n << " | " << interval(d.test) << " | "
       << interval(d.val) << " | " << p_text(d.test.p) << " | " << p_text(d.p_holm) << " | " << d.verdict << " |\n";
  }
  if (with_plot) {
    md << "\n![paired test-accuracy differences to " << cell(c.baseline) << "](paired.png)\n\nDots: mean "
       << "difference of final test accuracy to " << cell(c.baseline) << "; whiskers: its 95 % interval; the "
       << "vertical line is no difference.\n";
  }
  return md.str();
}

std::string verdict_line(const BaselineComparison& c, const std::vector<CompareRow>& rows) {
  if (!c.missing.empty() || c.rules.empty()) return "";
  std::string better, worse;
  int level = 0, unpaired = 0;
  for (const BaselineDifference& d : c.rules) {
    const std::string& label = rows[d.row].label;
    if (d.verdict == "better") better += (better.empty() ? "" : ", ") + label;
    if (d.verdict == "worse") worse += (worse.empty() ? "" : ", ") + label;
    level += d.verdict == "no difference shown";
    unpaired += d.verdict == "too few paired seeds";
  }
  std::string line = "against " + c.baseline + " (test accuracy paired by seed, Holm over " +
                     std::to_string(c.rules.size()) + " rules, alpha " + fixed(c.alpha, 2) + "): better: " +
                     (better.empty() ? "none" : better) + "; worse: " + (worse.empty() ? "none" : worse) +
                     "; no difference shown: " + std::to_string(level);
  if (unpaired > 0) line += "; too few paired seeds: " + std::to_string(unpaired);
  return line;
}

std::string differences_csv(const BaselineComparison& c, const std::vector<CompareRow>& rows) {
  std::ostringstream csv;
  csv << "rule,baseline,paired_seeds,test_diff,test_low,test_high,val_diff,val_low,val_high,p,p_holm,verdict\n";
  for (const BaselineDifference& d : c.rules) {
    csv << csv_field(rows[d.row].label) << "," << csv_field(c.baseline) << "," << d.test.n << ","
        << csv_number(d.test.mean) << "," << csv_number(d.test.low) << "," << csv_number(d.test.high) << ","
        << csv_number(d.val.mean) << "," << csv_number(d.val.low) << "," << csv_number(d.val.high) << ","
        << csv_number(d.test.p) << "," << csv_number(d.p_holm) << "," << d.verdict << "\n";
  }
  return csv.str();
}

std::vector<std::string> write_paired_plot(const CompareConfig& config, const BaselineComparison& c,
                                           const std::vector<CompareRow>& rows, const ReportContext& context) {
  if (!c.missing.empty() || c.rules.empty()) return {};
  // Before any seed pairs (a comparison interrupted early) there is no dot to draw: no plot, rather than one that
  // gnuplot refuses ("all points undefined").
  const auto drawable = [](const BaselineDifference& d) { return std::isfinite(d.test.mean); };
  if (std::none_of(c.rules.begin(), c.rules.end(), drawable)) return {};
  const std::string dir = config.out + "/plots";
  make_directories(dir);
  std::ostringstream dat, gp;
  dat << "# row mean low high label (test accuracy, rule - " << c.baseline << ")\n";
  const size_t n = c.rules.size();
  size_t widest = 10;
  for (size_t k = 0; k < n; ++k) {
    const PairedTest& t = c.rules[k].test;
    const double low = std::isnan(t.low) ? t.mean : t.low, high = std::isnan(t.high) ? t.mean : t.high;
    std::string label = rows[c.rules[k].row].label;
    if (label.size() > 48) label = label.substr(0, 45) + "...";  // the report's table has it whole
    widest = std::max(widest, label.size());
    dat << n - k << " " << format_number(t.mean) << " " << format_number(low) << " " << format_number(high) << " "
        << gnuplot_string(label) << "\n";
  }
  gp << "# Made by nos compare: each rule's paired difference of final test accuracy to the baseline (dot: mean over\n"
     << "# the paired seeds; whiskers: 95 % interval). Run from the report folder: gnuplot plots/paired.gp\n"
     << "if (strstrt(GPVAL_TERMINALS, \"pngcairo\") > 0) {\n"
     << "  set terminal pngcairo size " << 560 + 8 * widest << "," << 160 + 36 * n << " noenhanced font \",11\"\n"
     << "} else {\n  set terminal png size " << 560 + 8 * widest << "," << 160 + 36 * n << " noenhanced\n}\n"
     << "set output \"paired.png\"\nset title " << gnuplot_string("minus " + c.baseline + ", paired by seed")
     << "\nset xlabel " << gnuplot_string("difference of final test accuracy, " + config.task + " (95 % interval)")
     << "\nset grid xtics\nunset key\n"
     << "set yrange [0.5:" << n + 0.5 << "]\nset lmargin " << widest + 2
     << "\nset arrow from 0, graph 0 to 0, graph 1 nohead dt 2\n"
     << "plot \"plots/paired.dat\" using 2:1:3:4:ytic(5) with xerrorbars pt 7 ps 1.2 lw 2 lc rgb \"" << plot_color(0)
     << "\"\n";
  write_atomically(dir + "/paired.dat", dat.str());
  write_atomically(dir + "/paired.gp", gp.str());
  if (context.gnuplot.empty()) return {};
  const std::string command = "cd " + shell_quote(config.out) + " && " + shell_quote(context.gnuplot) +
                              " plots/paired.gp > plots/paired.log 2>&1";
  if (std::system(command.c_str()) == 0) return {};
  return {"gnuplot failed on plots/paired.gp: see " + config.out + "/plots/paired.log"};
}

}  // namespace nos::experiments
