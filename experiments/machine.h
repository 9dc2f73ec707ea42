// The facts a report records about the machine and the build (CPU, cores, git commit, LibTorch, gnuplot), and the
// nos executable that worker processes run.
#pragma once

#include <string>

#include "common/executable.h"  // executable_path
#include "experiments/report.h"

namespace nos::experiments {

// The CPU's model name (/proc/cpuinfo), or "".
std::string cpu_model();

// The first executable `name` on $PATH, or "".
std::string find_on_path(const std::string& name);

// The git commit of the source tree holding `dir` ("abc1234", "+dirty" when tracked files differ), or "".
std::string git_commit_of(const std::string& dir);

// The report's context for this process: the given command line and nos version, then the CPU, its cores, the
// commit of the tree the executable was built in (its build folder lies inside it), LibTorch's version and gnuplot.
// The CLI calls it once; run_compare itself reads none of these.
ReportContext machine_context(const std::string& command, const std::string& nos_version);

// A warning when the context's tree has uncommitted changes (its commit ends "+dirty"): the report cannot name the
// code that made it. "" for a clean or unknown tree.
std::string dirty_tree_warning(const ReportContext& context);

}  // namespace nos::experiments
