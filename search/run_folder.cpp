// Run folders: starting a search in one, reading its recorded config, resuming it, and what a resume may change.
#include <sqlite3.h>
#include <sys/stat.h>

#include <torch/version.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>

#include "common/clock.h"
#include "common/files.h"
#include "common/text.h"
#include "dsl/canonical.h"
#include "dispatch/make_pool.h"
#include "search/run_batch.h"

namespace nos::search {

bool path_exists(const std::string& path) {
  struct stat st{};
  return ::stat(path.c_str(), &st) == 0;
}

namespace {

// Makes `dir` and its parents (POSIX: a PyTorch wheel's libtorch may carry its own std::filesystem, see
// tests/temp_dir.h).
void make_dirs(const std::string& dir) {
  for (size_t i = 1; i <= dir.size(); ++i) {
    if (i < dir.size() && dir[i] != '/') continue;
    const std::string prefix = dir.substr(0, i);
    if (::mkdir(prefix.c_str(), 0755) != 0 && errno != EEXIST) {
      throw UserError(prefix + ": cannot create the run folder: " + std::strerror(errno));
    }
  }
  struct stat st{};
  if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) throw UserError(dir + ": not a folder");
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw UserError(path + ": cannot be read");
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}


// A store a start left unfinished (the process killed while it created the run): an empty file, a database without
// tables, or nos's tables holding neither the run's config nor a child. Anything else (a run, another program's
// database) is not one, and is kept.
bool unstarted_store(const std::string& path) {
  struct stat st{};
  if (::stat(path.c_str(), &st) != 0) return false;
  if (st.st_size == 0) return true;
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
    sqlite3_close(db);
    return false;
  }
  auto count = [&](const char* sql) -> int64_t {
    sqlite3_stmt* stmt = nullptr;
    int64_t n = -1;
    if (sqlite3_prepare_v2(db, sql, -1, &stmt, nullptr) == SQLITE_OK && sqlite3_step(stmt) == SQLITE_ROW) {
      n = sqlite3_column_int64(stmt, 0);
    }
    sqlite3_finalize(stmt);
    return n;
  };
  bool unstarted = false;
  const int64_t tables = count("SELECT count(*) FROM sqlite_master WHERE type = 'table'");
  if (tables == 0) {
    unstarted = true;
  } else if (count("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN ('evaluations', 'meta')") ==
             2) {
    unstarted = count("SELECT count(*) FROM evaluations") == 0 &&
                count("SELECT count(*) FROM meta WHERE key = 'config'") == 0;
  }
  sqlite3_close(db);
  return unstarted;
}

// Removes an unstarted run's store (with SQLite's side files) and checkpoint, so that it starts afresh.
void remove_unstarted(const std::string& run_dir) {
  for (const std::string& file : {store_path(run_dir), store_path(run_dir) + "-wal", store_path(run_dir) + "-shm",
                                  store_path(run_dir) + "-journal", checkpoint_path(run_dir)}) {
    std::remove(file.c_str());
  }
}

// The data folder of each data set the fitness tasks read (the first task naming one wins).
std::map<std::string, std::string> data_dirs(const SearchConfig& config) {
  std::map<std::string, std::string> dirs;
  for (size_t t = 0; t < fitness_task_count(config); ++t) {
    const TaskSettings task = fitness_task(config, t);
    const tasks::TaskSpec spec = tasks::parse_task_name(task.task);
    if (!task.data_dir.empty() && !spec.dataset.empty()) dirs.emplace(spec.dataset, task.data_dir);
  }
  return dirs;
}

std::unique_ptr<dispatch::EvaluatorPool> make_pool(const SearchConfig& config, const SearchRuntime& runtime) {
  dispatch::PoolSettings settings;
  settings.workers = config.workers;
  settings.threads = config.task.threads;
  settings.data_dirs = data_dirs(config);
  settings.cache_dir = runtime.cache_dir;
  settings.population = config.task.population;
  settings.executable = runtime.worker_executable;
  settings.log_path = runtime.run_dir + "/workers.log";
  settings.kill_grace = config.task.kill_grace;
  settings.process_pool = runtime.process_pool;
  settings.evaluator = runtime.evaluator;
  return dispatch::make_pool(settings);
}

// What a run needs beside its store and pool. Made before a new run creates anything: a proposer that cannot be made
// (a warm start too long for the space) or a file that is not an equivalence cache stops the start with nothing
// written, so the corrected command starts cleanly.
struct RunParts {
  std::unique_ptr<Proposer> proposer;
  std::unique_ptr<Prefilter> prefilter;
  std::unique_ptr<SharedEquivalenceCache> shared;
};

RunParts make_parts(const SearchConfig& config, const SearchRuntime& runtime) {
  RunParts parts;
  parts.proposer = make_proposer(config);
  if (config.prefilter.enabled) parts.prefilter = std::make_unique<Prefilter>(config.prefilter);
  if (config.fec_cache != "run" && config.fec_cache != "none") {
    // A reward over several fitness seeds is another reward than one seed's: its own key.
    std::string key = fec_task_key(config.task);
    if (config.fitness.seeds > 1 || fitness_task_count(config) > 1 || !config.fitness.baseline.empty()) {
      key += " fitness " + std::to_string(config.fitness.seeds) + " " + config.fitness.aggregate;
      for (size_t t = 1; t < fitness_task_count(config); ++t) key += " + " + fec_task_key(fitness_task(config, t));
      if (!config.fitness.baseline.empty()) key += " - " + config.fitness.baseline;
    }
    parts.shared = std::make_unique<SharedEquivalenceCache>(config.fec_cache, key);
  }
  return parts;
}

SearchResult run_in(const SearchConfig& config, const SearchRuntime& runtime, Store& store, RunParts& parts) {
  std::unique_ptr<dispatch::EvaluatorPool> pool = make_pool(config, runtime);
  Search search(config, store, *parts.proposer, *pool, parts.prefilter.get(), runtime,
                checkpoint_path(runtime.run_dir), runtime.run_dir);
  if (parts.shared) search.share_equivalences(parts.shared.get());
  return search.run();
}

// The config with the keys a resume may change set to fixed values, to compare the rest.
std::string comparable(SearchConfig c) {
  c.workers = 1;
  c.budget = 1;
  c.max_trained = 0;
  // The equivalence cache changes no reward (a reused one is what training would give), so it may change too.
  c.fec_cache = "run";
  // Populations change no result either (each child is its solo run).
  c.task.population = 1;
  return to_yaml(c);
}

const char* kResumeChangeMessage =
    " was started with another config; a resume may change only the number of workers, the budget, task.population "
    "and the equivalence cache (fec_cache)";

// A resume's config against the recorded one: a UserError unless they differ only in what a resume may change.
void check_same_run(const SearchConfig& recorded, const SearchConfig& config, const std::string& run_dir) {
  if (comparable(recorded) != comparable(config)) throw UserError(run_dir + kResumeChangeMessage);
}

}  // namespace

void check_resume_flags(const std::vector<std::string>& flags) {
  for (const std::string& flag : flags) {
    if (flag == "--workers" || flag == "--budget" || flag == "--population" || flag == "--fec-cache") continue;
    if (flag == "--config") {
      throw UserError("--config and --resume do not go together: a run keeps its recorded config");
    }
    if (flag == "--run-dir") {
      throw UserError("--run-dir and --resume do not go together: --resume names the run folder");
    }
    if (flag == "--seed") {
      throw UserError("--seed cannot change on --resume: the stored rules were proposed with the recorded seed");
    }
    throw UserError(flag + " cannot change on --resume: the stored children were trained with the recorded task "
                    "settings");
  }
}

SearchResult start_search(const SearchConfig& config, const SearchRuntime& runtime) {
  NOS_CHECK(!runtime.run_dir.empty(), "a search needs a run folder");
  validate(config, "config");
  const bool unstarted = unstarted_store(store_path(runtime.run_dir));
  if (path_exists(store_path(runtime.run_dir)) && !unstarted) {
    throw UserError(runtime.run_dir + " already holds a search; continue it with --resume " + runtime.run_dir +
                    ", or choose another --run-dir");
  }
  RunParts parts = make_parts(config, runtime);
  make_dirs(runtime.run_dir);
  // One nos at a time in a run folder: a second would store the same slots again. Checked again under the lock.
  const FolderLock lock(runtime.run_dir, "this search");
  if (path_exists(store_path(runtime.run_dir)) && !unstarted_store(store_path(runtime.run_dir))) {
    throw UserError(runtime.run_dir + " already holds a search; continue it with --resume " + runtime.run_dir +
                    ", or choose another --run-dir");
  }
  if (unstarted) remove_unstarted(runtime.run_dir);
  const std::string yaml = to_yaml(config);
  write_atomically(config_path(runtime.run_dir), yaml);
  // A checkpoint left from an earlier run in this folder would be taken for this run's.
  std::remove(checkpoint_path(runtime.run_dir).c_str());
  Store store(store_path(runtime.run_dir), Store::Mode::kCreate);
  store.set_meta("config", yaml);
  store.set_meta("seed", std::to_string(config.seed));
  store.set_meta("task_seed", std::to_string(config.task.seed));
  store.set_meta("proposer", config.proposer);
  store.set_meta("nos_version", runtime.nos_version.empty() ? "unknown" : runtime.nos_version);
  store.set_meta("libtorch_version", TORCH_VERSION);
  store.set_meta("created", utc_now());
  store.set_meta(kCanonicalVersionKey, std::to_string(dsl::kCanonicalVersion));
  SearchResult result = run_in(config, runtime, store, parts);
  if (unstarted) {
    result.notes.insert(result.notes.begin(), store_path(runtime.run_dir) +
                                                  " was left empty by a start that was stopped while creating it "
                                                  "(no child stored): the search started afresh");
  }
  return result;
}

SearchConfig run_config(const std::string& run_dir) {
  // A run stopped while its store was being created: its config.yaml (written first) says how it was started.
  if (unstarted_store(store_path(run_dir)) && path_exists(config_path(run_dir))) {
    return parse_recorded_config(read_file(config_path(run_dir)), config_path(run_dir));
  }
  Store store(store_path(run_dir), Store::Mode::kReadOnly);
  std::optional<std::string> yaml = store.meta("config");
  if (!yaml) throw UserError(store_path(run_dir) + ": holds no config (not a nos search run?)");
  return parse_recorded_config(*yaml, store_path(run_dir) + " (recorded config)");
}

SearchResult resume_search(const SearchConfig& config, const SearchRuntime& runtime) {
  if (unstarted_store(store_path(runtime.run_dir))) {
    if (!path_exists(config_path(runtime.run_dir))) {
      throw UserError(store_path(runtime.run_dir) + " is empty: the search was stopped while it was being created, "
                      "before it stored its config; start it again with nos search --config ... --run-dir " +
                      runtime.run_dir);
    }
    check_same_run(run_config(runtime.run_dir), config, runtime.run_dir);
    return start_search(config, runtime);  // says that it starts afresh
  }
  if (!path_exists(store_path(runtime.run_dir))) {
    throw UserError(runtime.run_dir + ": no search here (" + store_path(runtime.run_dir) + " is missing); start one "
                    "with nos search --run-dir " + runtime.run_dir);
  }
  const FolderLock lock(runtime.run_dir, "this search");
  Store store(store_path(runtime.run_dir), Store::Mode::kOpen);
  std::optional<std::string> recorded = store.meta("config");
  if (!recorded) throw UserError(store_path(runtime.run_dir) + ": holds no config (not a nos search run?)");
  const SearchConfig before = parse_recorded_config(*recorded, store_path(runtime.run_dir) + " (recorded config)");
  check_same_run(before, config, runtime.run_dir);
  validate(config, "config");
  const int64_t stored = store.counts().total;
  if (config.budget < stored) {
    throw UserError("budget " + std::to_string(config.budget) + " (--budget) is below the " + std::to_string(stored) +
                    " children " + runtime.run_dir + " already holds: a resume can keep or raise the budget, not "
                    "lower it (give --budget " + std::to_string(stored) + " or more)");
  }
  RunParts parts = make_parts(config, runtime);
  const std::string yaml = to_yaml(config);
  if (yaml != *recorded) {
    store.set_meta("config", yaml);
    write_atomically(config_path(runtime.run_dir), yaml);
  }
  store.set_meta("resumed", utc_now());
  // Rows written under an older canonical form (sign(adam) before issue 36) take today's text and hash, so a rule
  // proposed again meets its earlier evaluation.
  store.upgrade_canonical_form();
  return run_in(config, runtime, store, parts);
}

}  // namespace nos::search
