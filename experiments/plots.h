// The report's plots: per-row data files, a gnuplot script, and the PNGs when gnuplot is there.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "experiments/compare_config.h"
#include "experiments/report.h"
#include "experiments/rows.h"

namespace nos::experiments {

// A gnuplot string literal (double quotes; backslash and quote escaped), and the i-th colour of the plots' palette
// (shared by nos compare's and nos top's plots).
std::string gnuplot_string(const std::string& text);
std::string plot_color(size_t i);

// Writes plots/row-N.dat (epoch; test accuracy mean, min, max; train loss mean, min, max over the ok seeds) and
// plots/plots.gp into config.out, then runs context.gnuplot (when set) to make test_acc.png and train_loss.png.
// Returns notes for the report (no gnuplot, or gnuplot failed).
std::vector<std::string> write_plots(const CompareConfig& config, const std::vector<CompareRow>& rows,
                                     const std::vector<RowData>& data, const ReportContext& context);

}  // namespace nos::experiments
