// report.md: the comparison's tables, protocol, settings and provenance as Markdown.
#pragma once

#include <string>
#include <vector>

#include "experiments/compare_config.h"
#include "experiments/journal.h"
#include "experiments/report.h"
#include "experiments/rows.h"

namespace nos::experiments {

// What report.md is written from (references into write_compare_report's data).
struct MarkdownInputs {
  const CompareConfig& config;
  const std::vector<CompareRow>& rows;
  const std::vector<RowData>& data;
  const std::vector<RowSummary>& summary;
  const std::vector<std::string>& notes;
  const std::vector<CompareRun>& journal;
  const ReportContext& context;
  double session_seconds;
  std::string baseline_section;  // the paired comparison with the baseline (paired.h's baseline_markdown)
};

// The text of report.md (it reads config.out's sessions.csv and PNGs for the wall time and the plots).
std::string report_markdown(const MarkdownInputs& in);

}  // namespace nos::experiments
