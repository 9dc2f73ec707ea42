// The search's files beside its store: the proposer checkpoint (proposer.pt) and the CSVs (progress.csv, best.csv).
#include <torch/serialize.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <limits>
#include <map>
#include <set>
#include <sstream>

#include "common/files.h"
#include "common/text.h"
#include "search/run_batch.h"
#include "search/summary.h"

namespace nos::search {

namespace {

constexpr int64_t kCheckpointFormat = 1;

torch::Tensor bytes_tensor(const std::string& bytes) {
  torch::Tensor t = torch::empty({static_cast<int64_t>(bytes.size())}, torch::kUInt8);
  if (!bytes.empty()) std::memcpy(t.data_ptr<uint8_t>(), bytes.data(), bytes.size());
  return t;
}

std::string tensor_bytes(const torch::Tensor& t) {
  torch::Tensor c = t.contiguous().to(torch::kUInt8);
  return std::string(reinterpret_cast<const char*>(c.data_ptr<uint8_t>()), static_cast<size_t>(c.numel()));
}

std::string csv_number(double x) { return std::isfinite(x) ? nos::format_number(x) : ""; }

std::string csv_text(const std::string& text) {
  std::string out = "\"";
  for (char c : text) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

const char* kProgressHeader = "batch,children,mean_reward,best_so_far,cache_hits,repeats,seconds\n";
const char* kBestHeader = "child,batch,slot,reward,best_so_far,best_rule\n";

// repeats: the batch's proposals whose canonical rule came earlier in the run (search/summary.h, note_repeat).
std::string progress_line(const BatchSummary& b, int64_t repeats) {
  return std::to_string(b.batch) + "," + std::to_string(b.children) + "," + csv_number(b.mean_reward) + "," +
         csv_number(b.best_so_far) + "," + std::to_string(b.cache_hits) + "," + std::to_string(repeats) + "," +
         csv_number(b.seconds) + "\n";
}

}  // namespace

int64_t Search::load_checkpoint() {
  if (checkpoint_.empty() || !path_exists(checkpoint_)) return 0;
  if (runtime_.rebuild_proposer) {
    const std::string aside = checkpoint_ + ".damaged";
    if (std::rename(checkpoint_.c_str(), aside.c_str()) != 0) {
      throw UserError("cannot move " + checkpoint_ + " aside to " + aside + ": " + std::strerror(errno));
    }
    return 0;
  }
  const std::string run = runtime_.run_dir.empty() ? std::string("RUN_DIR") : shell_quote(runtime_.run_dir);
  const std::string way_forward = "; 'nos search --resume " + run +
                                  " --rebuild-proposer' rebuilds the proposer from the stored children (none is "
                                  "trained again)";
  torch::serialize::InputArchive archive;
  torch::Tensor format, batches, kind, state;
  try {
    archive.load_from(checkpoint_);
    archive.read("format", format);
    archive.read("batches_done", batches);
    archive.read("kind", kind);
    archive.read("state", state);
  } catch (const c10::Error&) {
    throw UserError(checkpoint_ + ": the proposer checkpoint cannot be read (damaged?)" + way_forward);
  }
  if (format.item<int64_t>() != kCheckpointFormat) {
    throw UserError(checkpoint_ + ": checkpoint format " + std::to_string(format.item<int64_t>()) +
                    " is not the one this nos writes (" + std::to_string(kCheckpointFormat) + ")" + way_forward);
  }
  if (tensor_bytes(kind) != proposer_.kind()) {
    throw UserError(checkpoint_ + ": a checkpoint of a " + tensor_bytes(kind) + " proposer, but the run's proposer is " +
                    proposer_.kind() + way_forward);
  }
  try {
    proposer_.load(tensor_bytes(state));
  } catch (const c10::Error&) {
    throw UserError(checkpoint_ + ": the proposer's state in the checkpoint cannot be read (damaged?)" + way_forward);
  }
  return batches.item<int64_t>();
}

void Search::save_checkpoint(int64_t batches_done) {
  if (checkpoint_.empty()) return;
  torch::serialize::OutputArchive archive;
  archive.write("format", torch::tensor({kCheckpointFormat}));
  archive.write("batches_done", torch::tensor({batches_done}));
  archive.write("kind", bytes_tensor(proposer_.kind()));
  archive.write("state", bytes_tensor(proposer_.save()));
  // Into memory first, then written with checks: LibTorch's own file writer throws from a destructor on a full
  // disk, which ends the process.
  std::ostringstream bytes;
  archive.save_to(bytes);
  try {
    write_atomically(checkpoint_, bytes.str());
  } catch (const UserError& e) {
    throw UserError(std::string(e.what()) + ". Every child stored so far is kept; free space, then continue with: "
                    "nos search --resume " +
                    (runtime_.run_dir.empty() ? std::string("RUN_DIR") : shell_quote(runtime_.run_dir)));
  }
}

void Search::rewrite_csvs() {
  if (csv_dir_.empty()) return;
  // Both files hold finished batches only: the rows of a batch interrupted midway are added, with the rest of their
  // batch, when it finishes (append_csvs), so no child is listed twice after a resume. The interrupted batch is the
  // last, so leaving its rows out of csv_seen_ changes no earlier batch's repeats.
  const std::vector<BatchSummary> batches = store_.batches();
  std::set<int64_t> finished;
  for (const BatchSummary& b : batches) finished.insert(b.batch);
  std::map<int64_t, int64_t> repeats;
  std::string best = kBestHeader;
  csv_children_ = 0;
  csv_best_ = -std::numeric_limits<double>::infinity();
  csv_best_rule_.clear();
  csv_seen_.clear();
  for (const Evaluation& e : store_.all()) {
    if (finished.count(e.batch) == 0) continue;
    repeats[e.batch] += note_repeat(csv_seen_, e);
    if (e.reward > csv_best_) {
      csv_best_ = e.reward;
      csv_best_rule_ = e.canonical;
    }
    best += std::to_string(++csv_children_) + "," + std::to_string(e.batch) + "," + std::to_string(e.slot) + "," +
            csv_number(e.reward) + "," + csv_number(csv_best_) + "," + csv_text(csv_best_rule_) + "\n";
  }
  std::string progress = kProgressHeader;
  for (const BatchSummary& b : batches) progress += progress_line(b, repeats[b.batch]);
  write_atomically(csv_dir_ + "/progress.csv", progress);
  write_atomically(csv_dir_ + "/best.csv", best);
}

void Search::append_csvs(const BatchSummary& summary) {
  if (csv_dir_.empty()) return;
  // Rewritten whole at every start, so appending here can never leave a duplicate behind an interruption.
  int64_t repeats = 0;
  std::ofstream best(csv_dir_ + "/best.csv", std::ios::app);
  for (const auto& [slot, e] : store_.batch(summary.batch)) {
    repeats += note_repeat(csv_seen_, e);
    if (e.reward > csv_best_) {
      csv_best_ = e.reward;
      csv_best_rule_ = e.canonical;
    }
    best << ++csv_children_ << "," << e.batch << "," << e.slot << "," << csv_number(e.reward) << ","
         << csv_number(csv_best_) << "," << csv_text(csv_best_rule_) << "\n";
  }
  std::ofstream(csv_dir_ + "/progress.csv", std::ios::app) << progress_line(summary, repeats);
}

}  // namespace nos::search
