// run_compare: the folder set up, the plan's runs submitted as they become known, results journaled, the report.
#include "experiments/run_compare.h"

#include <algorithm>
#include <chrono>
#include <map>
#include <set>

#include "common/error.h"
#include "common/text.h"
#include "experiments/files.h"
#include "experiments/folder.h"
#include "experiments/journal.h"
#include "experiments/plan.h"

namespace nos::experiments {

namespace {

using Clock = std::chrono::steady_clock;

// One session of a comparison: what is finished (the journal), in flight and failed, and what it sends to the pool.
class Session {
 public:
  Session(const CompareConfig& config, const std::vector<CompareRow>& rows, const CompareRuntime& runtime,
          Clock::time_point started, std::vector<CompareRun> journal)
      : config_(config), rows_(rows), runtime_(runtime), started_(started), journal_(std::move(journal)),
        finished_(finished_runs(journal_)), writer_(config.out + "/" + kCompareJournal) {
    result_.total = planned_total(config, rows).runs;
    result_.skipped = finished_count(config, rows, finished_).runs;
  }

  // Submits every run of the plan that is known, not finished, not in flight and not failed in this session.
  void schedule() {
    for (const PlannedRun& run : runs_to_do(config_, rows_, finished_)) {
      const RunKey key = key_of(rows_, run);
      if (queued_.count(key) || failed_.count(key)) continue;
      dispatch::Job job;
      job.id = next_id_++;
      job.request = request_for(run);
      queued_.insert(key);
      in_flight_[job.id] = run;
      runtime_.pool->submit(job);
    }
  }

  // Waits a little for results and takes each one in; false once nothing is in flight.
  bool step() {
    if (in_flight_.empty()) return false;
    if (runtime_.stop != nullptr && runtime_.stop->load()) {
      runtime_.pool->shutdown();
      result_.interrupted = true;
      return false;
    }
    for (dispatch::JobResult& r : runtime_.pool->wait(0.25)) take(r);
    schedule();
    return true;
  }

  void report(const std::string& last) const {
    if (!runtime_.on_progress) return;
    const RunCount done = finished_count(config_, rows_, finished_);
    const RunCount dropped = dropped_count(config_, rows_, finished_);
    CompareProgress p;
    p.done = done.runs + dropped.runs;
    p.total = result_.total;
    p.skipped = result_.skipped;
    p.running = std::min<int64_t>(static_cast<int64_t>(in_flight_.size()), runtime_.pool->size());
    p.elapsed_seconds = std::chrono::duration<double>(Clock::now() - started_).count();
    const int64_t epochs_left = planned_total(config_, rows_).epochs - done.epochs - dropped.epochs;
    p.eta_seconds = eta_seconds(p.elapsed_seconds, session_epochs_, epochs_left);
    p.last = last;
    runtime_.on_progress(p);
  }

  // The session's counts and the report of every finished run.
  CompareResult finish() {
    result_.seconds = std::chrono::duration<double>(Clock::now() - started_).count();
    // One line per session that trained something: the report sums them into the comparison's wall time.
    if (result_.executed > 0 || result_.interrupted) {
      log_session(config_, result_.seconds, result_.executed, result_.interrupted);
    }
    ReportFiles files = write_compare_report(config_, rows_, journal_, runtime_.context, result_.seconds);
    result_.summary = std::move(files.summary);
    result_.notes = std::move(files.notes);
    result_.verdicts = std::move(files.verdicts);
    return result_;
  }

 private:
  tasks::EvalRequest request_for(const PlannedRun& run) const {
    tasks::EvalRequest r;
    // The comparison's training settings as a whole (task, batch, recipe, data sizes, split, device, dtype …), as
    // search::make_request does; then what this run sets.
    static_cast<tasks::TrainingSettings&>(r) = config_;
    r.rule = rows_[run.row].rule;
    r.epochs = run.epochs;
    r.steps = 0;
    r.lr = run.lr;
    // With a schedule a tuning run is the first tune_epochs of the full run: its schedule and decay operands run
    // over the full run's T, truncated. (Without one, as before schedules existed: T is the tuning run's own.)
    const bool scheduled = !tasks::recipe_value(config_.recipe, "schedule").empty();
    if (scheduled && run.phase == "tune" && run.epochs < config_.epochs) r.horizon_epochs = config_.epochs;
    r.seed = run.seed;
    r.test_every_epoch = true;
    return r;
  }

  // One result from the pool: journaled (or, for a crash, remembered as failed), then the progress sent.
  void take(dispatch::JobResult& r) {
    auto found = in_flight_.find(r.id);
    NOS_CHECK(found != in_flight_.end(), "the pool returned job " << r.id << ", which compare did not submit");
    const PlannedRun run = found->second;
    const RunKey key = key_of(rows_, run);
    in_flight_.erase(found);
    queued_.erase(key);
    const std::string what = rows_[run.row].label + " " +
                             (run.phase == "tune" ? "lr " + nos::format_number(run.lr)
                                                  : "seed " + std::to_string(run.seed));
    if (r.record.status == tasks::Status::kError) {
      runtime_.pool->shutdown();
      throw UserError("run " + what + ": " + r.record.message);
    }
    // A worker that died (or was killed past a time limit) leaves no result: not journaled, so a rerun retries it.
    if (r.record.status == tasks::Status::kCrashed || r.record.status == tasks::Status::kTimeout) {
      failed_.insert(key);
      ++result_.failed;
      result_.failed_runs.push_back(what + ": " + tasks::status_text(r.record.status) + " (" + r.record.message + ")");
      report(result_.failed_runs.back());
      return;
    }
    CompareRun done{run.phase, run.epochs, r.record};
    // The journal's key is the planned run's, whatever the record holds (an invalid run reports no lr).
    done.record.rule = rows_[run.row].rule;
    done.record.lr = run.lr;
    done.record.seed = run.seed;
    writer_.append(done);
    journal_.push_back(done);
    finished_[key] = done.record;
    ++result_.executed;
    session_epochs_ += run.epochs;
    report(what + ": " + tasks::status_text(r.record.status) + ", val " + fixed(r.record.val_acc, 4, "–"));
  }

  const CompareConfig& config_;
  const std::vector<CompareRow>& rows_;
  const CompareRuntime& runtime_;
  const Clock::time_point started_;
  std::vector<CompareRun> journal_;
  FinishedRuns finished_;
  JournalWriter writer_;
  std::map<int64_t, PlannedRun> in_flight_;  // by job id
  std::set<RunKey> queued_, failed_;
  int64_t next_id_ = 1;
  int64_t session_epochs_ = 0;
  CompareResult result_;
};

}  // namespace

CompareResult run_compare(const CompareConfig& config, const std::vector<CompareRow>& rows,
                          const CompareRuntime& runtime) {
  NOS_CHECK(runtime.pool != nullptr, "run_compare needs an evaluator pool");
  NOS_CHECK(!rows.empty(), "run_compare needs rows (resolve_rows refuses an empty list)");
  if (config.out.empty()) throw UserError("no report folder: give --out DIR (or the config key out)");
  validate(config, "compare config");
  check_row_recipes(config, rows, "compare config");
  const Clock::time_point started = Clock::now();
  make_directories(config.out);
  const FolderLock lock(config.out, "a comparison in the report folder '" + config.out + "' (use another --out)");
  check_or_record_config(config, rows);
  Session session(config, rows, runtime, started, read_journal(config.out + "/" + kCompareJournal));
  session.schedule();
  session.report("");
  while (session.step()) {
  }
  return session.finish();
}

}  // namespace nos::experiments
