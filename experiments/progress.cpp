// The progress of a comparison: the ETA at this session's pace and the progress line.
#include "experiments/progress.h"

#include <algorithm>
#include <sstream>

#include "common/text.h"

namespace nos::experiments {

double eta_seconds(double elapsed_seconds, int64_t session_epochs, int64_t epochs_left) {
  if (session_epochs <= 0) return 0;
  return elapsed_seconds / static_cast<double>(session_epochs) *
         static_cast<double>(std::max<int64_t>(0, epochs_left));
}

std::string progress_line(const CompareProgress& p) {
  std::ostringstream line;
  line << "[compare] " << p.done << "/" << p.total << " runs";
  if (p.skipped > 0) line << " (" << p.skipped << " from the journal)";
  line << ", " << p.running << " running, " << duration(p.elapsed_seconds);
  if (p.eta_seconds > 0) line << ", ETA " << duration(p.eta_seconds);
  if (!p.last.empty()) line << " | " << p.last;
  return line.str();
}

}  // namespace nos::experiments
