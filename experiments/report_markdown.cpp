// report.md, section by section: results table, lr tuning, rules, protocol, settings, machine, reproduce, files.
#include "experiments/report_markdown.h"

#include <cctype>
#include <cmath>
#include <sstream>

#include "common/text.h"
#include "experiments/files.h"
#include "experiments/folder.h"
#include "search/store.h"

namespace nos::experiments {

namespace {

std::string mean_std(const Stat& s, int digits) {
  if (s.n == 0) return "–";
  std::string text = fixed(s.mean, digits, "–");
  if (s.n >= 2) text += " ± " + fixed(s.std, digits, "–");
  return text;
}

std::string md_cell(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '|') out += "\\|";
    else if (c == '*' || c == '_' || c == '`') out += std::string("\\") + c;
    else out += c;
  }
  return out;
}

std::string lr_text(double lr) { return std::isfinite(lr) ? nos::format_number(lr) : "–"; }

const char* plural(int64_t n) { return n == 1 ? "" : "s"; }

// "1001 … 1005" (or "1001" for one seed): the final seeds.
std::string seed_range(const CompareConfig& config) {
  const std::vector<uint64_t> seeds = final_seeds(config);
  return std::to_string(seeds.front()) + (seeds.size() > 1 ? " … " + std::to_string(seeds.back()) : "");
}

// Which validation images the runs were scored on, for the report.
std::string split_text(const CompareConfig& config) {
  if (config.split == "confirmation") return "confirmation images (disjoint from every search's selection images)";
  if (config.split == "selection") return "a search's selection images";
  return "legacy split (the head of the permutation: a search's selection images among them)";
}

// Every tuning run and every seed planned so far is finished.
bool is_complete(const std::vector<RowData>& data) {
  for (const RowData& d : data) {
    if (d.tuning_state == "tuning incomplete") return false;
    for (const auto& [seed, record] : d.seeds) {
      if (record == nullptr) return false;
    }
  }
  return true;
}

// The runs planned so far (tuning, and seeds once an lr is chosen) that have finished.
int64_t finished_so_far(const CompareConfig& config, const std::vector<RowData>& data) {
  int64_t finished = 0;
  for (const RowData& d : data) {
    for (const auto& [lr, record] : d.tuning) finished += record != nullptr;
    for (const auto& [seed, record] : d.seeds) {
      if (seed == config.tune_seed && tuning_run_is_final(config)) continue;
      finished += record != nullptr;
    }
  }
  return finished;
}

void results_section(std::ostream& md, const MarkdownInputs& in) {
  const CompareConfig& config = in.config;
  md << "# nos compare: " << config.task << "\n\n";
  if (!is_complete(in.data)) {
    md << "**Incomplete:** " << finished_so_far(config, in.data) << " of the runs planned so far are finished; rerun "
          "the same command to complete it (finished runs are kept).\n\n";
  }
  md << "Each rule's learning rate was tuned on the validation split (seed " << config.tune_seed << ", "
     << config.tune_epochs << " epoch" << plural(config.tune_epochs) << " per lr), then " << config.seeds << " seed"
     << plural(config.seeds) << " (" << seed_range(config) << ") trained for " << config.epochs << " epoch" << plural(config.epochs)
     << " at the chosen lr. Accuracies are fractions, mean ± sample standard deviation over the seeds with status ok "
        "(final: after the last epoch; best: the best epoch of each seed — best test accuracy is optimistic, since "
        "it picks an epoch by the test set: read the final columns).\n\n";
  md << "| rule | kind | lr | final val | best val | final test | best test | final train loss | s/epoch | seeds |\n"
     << "|---|---|---|---|---|---|---|---|---|---|\n";
  for (const RowSummary& s : in.summary) {
    md << "| " << md_cell(s.row.label) << " | " << s.row.kind << " | " << lr_text(s.lr) << " | "
       << mean_std(s.final_val, 4) << " | " << mean_std(s.best_val, 4) << " | " << mean_std(s.final_test, 4) << " | "
       << mean_std(s.best_test, 4) << " | " << mean_std(s.final_train_loss, 4) << " | "
       << fixed(s.seconds_per_epoch, 1, "–") << " | " << md_cell(s.statuses.empty() ? s.tuning : s.statuses) << " |\n";
  }
  md << "\ns/epoch: wall time of one epoch of one run, validation and test passes included; it depends on the "
        "machine's load (the parallel runs share its cores).\n\n";
  if (exists(config.out + "/test_acc.png") && !in.context.gnuplot.empty()) {
    md << "![test accuracy per epoch](test_acc.png)\n\n![training loss per epoch](train_loss.png)\n\n"
       << "Lines: mean over the seeds; bands: lowest to highest seed. A native LibTorch row is dashed, in its twin's "
          "colour.\n\n";
  }
  for (const std::string& note : in.notes) md << "*Note:* " << note << "\n\n";
}

void tuning_section(std::ostream& md, const MarkdownInputs& in) {
  const CompareConfig& config = in.config;
  md << "## Learning-rate tuning\n\nValidation accuracy after " << config.tune_epochs << " epoch"
     << plural(config.tune_epochs) << " with seed " << config.tune_seed
     << " (**bold**: chosen; – : diverged or not run).\n\n| rule |";
  for (double lr : config.lr_grid) md << " " << nos::format_number(lr) << " |";
  md << " chosen |\n|---|";
  for (size_t k = 0; k < config.lr_grid.size(); ++k) md << "---|";
  md << "---|\n";
  for (size_t i = 0; i < in.rows.size(); ++i) {
    const RowData& d = in.data[i];
    md << "| " << md_cell(in.rows[i].label) << " |";
    for (const auto& [lr, record] : d.tuning) {
      std::string cell = record == nullptr ? "not run"
                         : record->status == tasks::Status::kOk ? fixed(record->val_acc, 4, "–")
                                                  : tasks::status_text(record->status);
      if (lr == d.lr) cell = "**" + cell + "**";
      md << " " << cell << " |";
    }
    md << " " << (std::isfinite(d.lr) ? nos::format_number(d.lr) : d.tuning_state) << " |\n";
  }
}

void rules_section(std::ostream& md, const MarkdownInputs& in) {
  md << "\n## Rules\n\n| rule | kind | canonical form | from |\n|---|---|---|---|\n";
  for (const CompareRow& row : in.rows) {
    md << "| " << md_cell(row.label) << " | " << row.kind << " | `" << row.canonical << "` | " << md_cell(row.origin)
       << " |\n";
  }
  md << "\nA *native* row is LibTorch's own optimizer class (`torch::optim`), trained by the same loop as its "
        "compiled twin: their rows should agree within the seed-to-seed spread.\n";
}

// The protocol as run: the tie-break stated here is tasks::choose_lr's.
void protocol_section(std::ostream& md, const MarkdownInputs& in) {
  const CompareConfig& config = in.config;
  md << "\n## Protocol\n\n"
     << "1. **Tuning.** For each rule, one run per learning rate of the grid (" ;
  for (size_t k = 0; k < config.lr_grid.size(); ++k) md << (k ? ", " : "") << nos::format_number(config.lr_grid[k]);
  md << ") with seed " << config.tune_seed << " and a budget of " << config.tune_epochs << " epoch" << plural(config.tune_epochs)
     << ", from the same initialisation. The lr with the best validation accuracy after that budget is chosen; a "
        "run that diverged (non-finite loss, or a loss far above its start) counts as worst; ties go to the smaller "
        "lr. A rule whose every lr diverged gets no seeds.\n"
     << "2. **Seeds.** At the chosen lr, seeds " << seed_range(config) << " each train a fresh model for "
     << config.epochs << " epoch" << plural(config.epochs)
     << " (the seed sets the initialisation, batch order and the rule's noise); validation and test accuracy are "
        "measured after every epoch."
     << (tuning_run_is_final(config) ? " As the tuning budget equals the full budget, seed " +
                                           std::to_string(config.tune_seed) +
                                           " is the tuning run at the chosen lr (the same run, not repeated)."
                                     : config.split == "legacy" ? ""
                                     : " The tuning seed is not among them: no reported seed chose the lr.")
     << "\n3. **Aggregation.** Mean and sample standard deviation (n − 1) over the seeds with status ok; diverged "
        "seeds are counted in the last column. Test accuracy plays no part in any choice.\n"
     << (tasks::recipe_value(config.recipe, "schedule").empty()
             ? "\nThe decays of powersign/addsign variants (ld, cd, rd) use T = the run's total step count, so a "
               "tuning run sees the first part of a decay over its own, shorter budget.\n"
             : "\nThe lr schedule and the decays of powersign/addsign variants (ld, cd, rd) run over T = the full "
               "run's step count in every run: a tuning run follows the full run's schedule, truncated after its "
               "tune_epochs, and the tuned lr is the schedule's peak.\n");
}

std::string weight_decay_cell(const tasks::Recipe& r) {
  if (std::isnan(r.weight_decay)) return "each rule's own (adamw: 0.01 decoupled on every parameter; others none)";
  return nos::format_number(r.weight_decay) + " " + r.weight_decay_mode + ", on " +
         (r.weight_decay_mask == "all" ? "every parameter" : "weights only (not biases or batch norm)") +
         ", replacing each rule's own";
}

std::string clipping_cell(const tasks::Recipe& r) {
  std::string out;
  if (r.clip_norm > 0) out = "global norm " + nos::format_number(r.clip_norm);
  if (r.clip_value > 0) out += (out.empty() ? "" : ", then ") + std::string("value ±") + nos::format_number(r.clip_value);
  return out.empty() ? "none" : out;
}

void settings_section(std::ostream& md, const MarkdownInputs& in, const std::string& provenance) {
  const CompareConfig& config = in.config;
  md << "\n## Settings\n\n| setting | value |\n|---|---|\n"
     << "| task | " << config.task << " |\n"
     << "| data | " << md_cell(provenance.empty() ? "(no run finished yet)" : provenance) << " |\n"
     << "| epochs per seed | " << config.epochs << " |\n"
     << "| seeds | " << config.seeds << " (" << seed_range(config) << ") |\n"
     << "| tuning | seed " << config.tune_seed << ", " << config.tune_epochs << " epoch(s) per lr |\n"
     << "| validation | " << split_text(config) << " |\n"
     << "| batch size | " << config.batch_size << " |\n"
     << "| training images | " << (config.train_size < 0 ? std::string("all not held out") : std::to_string(config.train_size)) << " |\n"
     << "| validation images | " << (config.validation_size < 0 ? std::string("the data set's default") : std::to_string(config.validation_size)) << " |\n"
     << "| augmentation | " << (config.augment ? "random crop (pad 4) and horizontal flip" : "none") << " |\n"
     << "| lr schedule | " << md_cell(tasks::recipe_value(config.recipe, "schedule").empty()
                                         ? std::string("constant")
                                         : tasks::schedule_text(config.recipe.schedule))
     << (tasks::recipe_value(config.recipe, "schedule").empty() ? "" : " (the tuned lr is its peak)") << " |\n"
     << "| weight decay | " << md_cell(weight_decay_cell(config.recipe)) << " |\n"
     << "| gradient clipping | " << md_cell(clipping_cell(config.recipe)) << " |\n"
     << "| device, dtype | " << config.device << ", " << (config.dtype.empty() ? "float32" : config.dtype) << " |\n"
     << "| threads per run × parallel runs | " << config.threads << " × " << config.jobs << " |\n";
  if (provenance.find("JPEG") != std::string::npos) {
    md << "\nCIFAR-10 came from the JPEG copy: its pixels differ slightly from the official binary release, so "
          "accuracies are close to, not identical with, those on the official data.\n";
  }
}

void machine_section(std::ostream& md, const MarkdownInputs& in) {
  const ReportContext& context = in.context;
  double run_seconds = 0;
  for (const CompareRun& run : in.journal) run_seconds += run.record.seconds;
  md << "\n## Machine and versions\n\n| | |\n|---|---|\n"
     << "| command | `" << context.command << "` |\n"
     << "| machine | " << md_cell(context.machine.empty() ? "unknown" : context.machine) << ", " << context.cores
     << " cores |\n"
     << "| nos | " << md_cell(context.nos_version)
     << (context.git_commit.empty() ? std::string() : " (git " + context.git_commit + ")") << " |\n"
     << "| LibTorch | " << md_cell(context.libtorch_version) << " |\n"
     << "| report written | " << search::utc_now() << " |\n"
     << "| wall time | " << wall_time_text(in.config.out, in.session_seconds) << " |\n"
     << "| runs finished | " << in.journal.size() << " (training time summed over runs: "
     << fixed(run_seconds / 60, 1, "–") << " min) |\n";
}

// A path as a shell word: plain when it needs no quoting.
std::string shell_word(const std::string& text) {
  for (char c : text) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && std::string("_./+-=@%").find(c) == std::string::npos) {
      return shell_quote(text);
    }
  }
  return text;
}

// How to get these numbers again: from scratch in a fresh folder, or this folder resumed (trains only what is
// missing; a complete folder's report is rendered again).
void reproduce_section(std::ostream& md, const MarkdownInputs& in) {
  std::string out = in.config.out;
  while (out.size() > 1 && out.back() == '/') out.pop_back();
  const size_t slash = out.find_last_of('/');
  const std::string name = slash == std::string::npos ? out : out.substr(slash + 1);
  const std::string config = out + "/" + kCompareConfig;
  md << "\n## Reproduce\n\nFrom scratch (every run trained again, into a fresh folder):\n\n```\nnos compare --config "
     << shell_word(config) << " --out " << shell_word("runs/" + name) << "\n```\n\n"
     << "This folder, resumed (trains only what is missing; with every run finished it renders this report again):\n\n"
     << "```\nnos compare --config " << shell_word(config) << " --out " << shell_word(out) << "\n```\n";
}

void files_section(std::ostream& md) {
  md << "\n## Files\n\n"
     << "- `results.csv`: one line per rule × seed × epoch (rule, canonical, kind, lr, seed, epoch, steps, "
        "train_loss, val_acc, test_acc, seconds, status)\n"
     << "- `tuning.csv`: one line per rule × lr of the grid (val_acc is empty for a run that diverged)\n"
     << "- `summary.csv`: one line per rule (means, sample standard deviations, statuses)\n"
     << "- `differences.csv`: one line per rule against the baseline (paired seeds, test and validation "
        "difference with its 95 % interval, p, Holm p, verdict)\n"
     << "- `runs.jsonl`: every finished run, as it finished (the journal a rerun resumes from)\n"
     << "- `config.yaml`: the comparison's settings; `sessions.csv`: wall time of each session that trained runs\n"
     << "- `plots/`: the plots' data (`row-N.dat`, the rules in table order; `paired.dat`) and gnuplot scripts "
        "(`plots.gp`, `paired.gp`)\n";
}

}  // namespace

std::string report_markdown(const MarkdownInputs& in) {
  // The data set's provenance, as the first finished run that names it recorded it.
  std::string provenance;
  for (const CompareRun& run : in.journal) {
    if (provenance.empty()) provenance = run.record.data;
  }
  std::ostringstream md;
  results_section(md, in);
  md << in.baseline_section << "\n";
  tuning_section(md, in);
  rules_section(md, in);
  protocol_section(md, in);
  settings_section(md, in, provenance);
  machine_section(md, in);
  reproduce_section(md, in);
  files_section(md);
  return md.str();
}

}  // namespace nos::experiments
