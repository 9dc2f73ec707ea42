// `nos rule` (inspect one rule: canonical form, tokens, hash, state) and `nos rules` (the named rules).
#include <algorithm>
#include <string>
#include <vector>

#include "cli/cli.h"
#include "cli/commands.h"
#include "dsl/dsl.h"
#include "dsl/cuda_codegen.h"
#include "experiments/rows.h"
#include "optimizers/optimizers.h"

namespace nos::cli {

namespace po = boost::program_options;

namespace {

void print_rule_help(std::ostream& out, const po::options_description& options) {
  out << "Usage: nos rule [--tokens] [--units N] TEXT\n"
      << "       nos rule --cuda-source [--dtype float32|float64] [--weight-decay] TEXT\n\n"
      << "Parses TEXT (e.g. 'exp(sign(g)*sign(m))*g', or a named rule from 'nos rules' such as powersign-cd,\n"
      << "then first a line 'named: NAME = TEXT') and prints four lines:\n"
      << "  canonical: the canonical infix form (what the search caches on)\n"
      << "  tokens:    the rule in the paper's token form\n"
      << "  hash:      64-bit hash of the canonical form\n"
      << "  state:     the moving averages the rule keeps per parameter, or 'none'\n"
      << "Several TEXT arguments are joined with spaces; put -- before a TEXT that starts with '-'.\n"
      << "--cuda-source prints instead the rule's whole update (moving averages, rule, w -= lr*d) as the one\n"
      << "elementwise CUDA kernel the fused CUDA path compiles with NVRTC; its comments say what to pass.\n"
      << "A learned optimizer, lstm:PATH (nos learn's best.pt), prints its file's hash, its network and state.\n"
      << "A search run's found rule: @RUN_DIR (its best), @RUN_DIR:#K (its K-th best, as 'nos top' ranks them).\n\n"
      << options;
}

// `nos rule lstm:PATH`: a learned optimizer's file hash, network and state (it has no tokens and no CUDA source).
void print_learned_rule(const std::string& text, std::ostream& out) {
  const optimizers::ResolvedRule resolved = optimizers::resolve_rule(text);
  const optimizers::LearnedRule& r = *resolved.learned();
  const optimizers::LstmNet net = optimizers::load_lstm_net(r.path);
  const optimizers::LstmNetOptions& o = net->options();
  int64_t weights = 0;
  for (const torch::Tensor& p : net->parameters()) weights += p.numel();
  out << "learned: the coordinatewise LSTM optimizer of Andrychowicz et al. 2016, read from " << r.path << "\n"
      << "canonical: " << optimizers::kLstmRulePrefix << r.hash << "\n"
      << "hash: " << r.hash << " (FNV-1a of the file's bytes)\n"
      << "network: " << o.layers << " LSTM layers of " << o.hidden << " units and a linear read-out, " << weights
      << " weights; gradient preprocessing p = " << nos::format_number(o.preprocess_p) << ", output scale "
      << nos::format_number(o.output_scale) << "\n"
      << "state: h c (" << o.layers << " x " << o.hidden << " each, per coordinate)\n";
}

}  // namespace

int rule_command(const Args& args, std::ostream& out, std::ostream& err) {
  po::options_description options("Options");
  options.add_options()
      ("help,h", "show this help")
      ("tokens", po::bool_switch(), "read TEXT in the paper's token form (units of op1 op2 u1 u2 b, '|' between "
                                    "units optional) instead of infix")
      ("units", po::value<int>()->default_value(0)->value_name("N"),
       "at most N units in the printed token form (0: no limit); a rule that needs more is an error")
      ("cuda-source", po::bool_switch(), "print the rule's update as the CUDA kernel nos compiles for it instead")
      ("dtype", po::value<std::string>()->default_value("float32")->value_name("T"),
       "with --cuda-source: float32 or float64")
      ("weight-decay", po::bool_switch(), "with --cuda-source: the kernel that adds weight decay to g");
  po::options_description hidden;
  hidden.add_options()("text", po::value<std::vector<std::string>>(), "rule text");
  po::options_description all;
  all.add(options).add(hidden);
  po::positional_options_description positional;
  positional.add("text", -1);
  po::variables_map vm = parse_options(args, all, positional);

  if (vm.count("help")) {
    print_rule_help(out, options);
    return kExitOk;
  }
  if (!vm.count("text")) throw UserError("missing TEXT: give the rule to inspect, e.g. nos rule 'sign(m)*g'");
  std::string text;
  for (const std::string& part : vm["text"].as<std::vector<std::string>>()) text += (text.empty() ? "" : " ") + part;
  if (!vm["tokens"].as<bool>()) text = experiments::resolve_rule_reference(text, "TEXT");
  const int units = vm["units"].as<int>();
  if (units < 0) throw UserError("--units: expected a number of units >= 0, got " + std::to_string(units));

  if (text.rfind(optimizers::kLstmRulePrefix, 0) == 0) {
    if (vm["tokens"].as<bool>() || vm["cuda-source"].as<bool>()) {
      throw UserError("'" + text +
                      "' is a learned optimizer (an LSTM network): it has no token form and no CUDA source");
    }
    print_learned_rule(text, out);
    return kExitOk;
  }
  // A named rule ("powersign-cd", or a native row such as "torch-adam") is inspected through its DSL text.
  std::string named;
  if (!vm["tokens"].as<bool>()) {
    if (const optimizers::NamedRule* r = optimizers::find_named_rule(text)) {
      named = r->name + " = " + r->text;
    } else if (const optimizers::NativeRule* r = optimizers::find_native_rule(text)) {
      named = r->name + " = " + r->text + " (LibTorch's own class; below: its compiled twin " + r->twin + ")";
    }
  }
  const dsl::NodePtr rule = vm["tokens"].as<bool>() ? dsl::from_units(dsl::parse_tokens(text))
                                                    : optimizers::parse_user_rule(optimizers::rule_source_text(text));
  const std::string dtype = vm["dtype"].as<std::string>();
  if (dtype != "float32" && dtype != "float64") throw UserError("--dtype: expected float32 or float64, got '" + dtype + "'");
  if (vm["cuda-source"].as<bool>()) {
    const dsl::ElementwiseKernel kernel = dsl::elementwise_kernel(
        dsl::compile(rule), dtype == "float64" ? at::kDouble : at::kFloat, vm["weight-decay"].as<bool>());
    out << kernel.source();
    return kExitOk;
  }
  const dsl::NodePtr canonical = dsl::canonicalize(rule);
  const std::string tokens = dsl::units_to_text(dsl::to_units_fewest(rule, units));
  std::string state;
  for (const dsl::Average& average : dsl::required_averages(*canonical)) {
    state += (state.empty() ? "" : " ") + dsl::average_name(average);
  }
  if (!named.empty()) out << "named: " << named << "\n";
  out << "canonical: " << dsl::canonical_text(rule) << "\n"
      << "tokens: " << tokens << "\n"
      << "hash: " << dsl::hash_hex(dsl::rule_hash(rule)) << "\n"
      << "state: " << (state.empty() ? "none" : state) << "\n";
  return kExitOk;
}

int rules_command(const Args& args, std::ostream& out, std::ostream& err) {
  po::options_description options("Options");
  options.add_options()("help,h", "show this help");
  po::variables_map vm = parse_options(args, options);
  if (vm.count("help")) {
    out << "Usage: nos rules\n\nLists the named rules: name, default learning rate, rule text and description.\n"
        << "Then LibTorch's own optimizers (torch-adam, ...), runnable by name as reference rows beside their\n"
        << "compiled twins. Any name can be given to 'nos eval --rule' and 'nos compare --rules'.\n\n"
        << options;
    return kExitOk;
  }
  const std::vector<optimizers::NamedRule>& rules = optimizers::named_rules();
  size_t name_width = 4;
  size_t text_width = 4;
  for (const optimizers::NamedRule& r : rules) {
    name_width = std::max(name_width, r.name.size());
    text_width = std::max(text_width, r.text.size());
  }
  for (const optimizers::NativeRule& r : optimizers::native_rules()) name_width = std::max(name_width, r.name.size());
  auto pad = [](std::string s, size_t width) {
    s.resize(std::max(width, s.size()), ' ');
    return s;
  };
  for (const optimizers::NamedRule& r : rules) {
    out << pad(r.name, name_width) << "  " << pad("lr " + nos::format_number(r.defaults.lr()), 10) << "  "
        << pad(r.text, text_width);
    if (!r.description.empty()) out << "  " << r.description;
    out << "\n";
  }
  for (const optimizers::NativeRule& r : optimizers::native_rules()) {
    out << pad(r.name, name_width) << "  " << pad("lr " + nos::format_number(r.lr), 10) << "  " << r.text << "  "
        << r.description << "\n";
  }
  return kExitOk;
}

}  // namespace nos::cli
