// `nos export`: a rule written out for use outside nos (a PyTorch optimizer, a CUDA kernel, a C++ header).
#include <memory>
#include <string>
#include <vector>

#include "cli/cli.h"
#include "cli/commands.h"
#include "common/error.h"
#include "common/files.h"
#include "dsl/dsl.h"
#include "experiments/rows.h"
#include "optimizers/export.h"
#include "optimizers/optimizers.h"

namespace nos::cli {

namespace po = boost::program_options;

namespace {

void print_export_help(std::ostream& out, const po::options_description& options) {
  out << "Usage: nos export RULE --to pytorch|cuda|cpp [--class-name N] [-o FILE]\n\n"
      << "Writes RULE (a named rule from 'nos rules', DSL text, a search run's found rule @RUN_DIR or\n"
      << "@RUN_DIR:#K, or with --tokens the token form) for use outside nos (docs/using-found-rules.md):\n"
      << "  pytorch: a Python module with a torch.optim.Optimizer subclass: its moving averages and step in\n"
      << "           self.state (state_dict round-trips), the rule's options and defaults (lr, weight_decay,\n"
      << "           decoupled_weight_decay, total_steps, seed, bias_correction), one statement per instruction;\n"
      << "           it computes what nos computes, to the last bit in float64 on the same LibTorch\n"
      << "  cuda:    the rule's elementwise CUDA kernel, as 'nos rule --cuda-source' prints it\n"
      << "  cpp:     a standalone C++17 header (no LibTorch): step() over plain float or double arrays\n"
      << "Refused, with a message naming the construct: learned optimizers (lstm:) and LibTorch's own rows\n"
      << "(torch-adam: export adam) everywhere; reductions (norm, trust) with cuda and cpp; random primitives\n"
      << "(noise, anoise, drop) with cpp.\n\n"
      << options;
}

}  // namespace

int export_command(const Args& args, std::ostream& out, std::ostream& err) {
  po::options_description options("Options");
  options.add_options()
      ("help,h", "show this help")
      ("to", po::value<std::string>()->value_name("T"), "pytorch, cuda or cpp (required)")
      ("class-name", po::value<std::string>()->value_name("N"),
       "the Python class or C++ struct (default: the named rule in CamelCase, e.g. PowersignCd, else NosRule)")
      ("output,o", po::value<std::string>()->value_name("FILE"), "write to FILE instead of standard output")
      ("tokens", po::bool_switch(), "read RULE in the paper's token form instead of infix")
      ("dtype", po::value<std::string>()->default_value("float32")->value_name("T"),
       "with --to cuda: float32 or float64")
      ("weight-decay", po::bool_switch(), "with --to cuda: the kernel that adds weight decay to g");
  po::options_description hidden;
  hidden.add_options()("text", po::value<std::vector<std::string>>(), "rule text");
  po::options_description all;
  all.add(options).add(hidden);
  po::positional_options_description positional;
  positional.add("text", -1);
  po::variables_map vm = parse_options(args, all, positional);

  if (vm.count("help")) {
    print_export_help(out, options);
    return kExitOk;
  }
  if (!vm.count("text")) {
    throw UserError("missing RULE: give the rule to export, e.g. nos export powersign --to pytorch");
  }
  if (!vm.count("to")) throw UserError("missing --to: pytorch, cuda or cpp");
  std::string text;
  for (const std::string& part : vm["text"].as<std::vector<std::string>>()) text += (text.empty() ? "" : " ") + part;

  optimizers::ExportOptions o;
  o.target = optimizers::export_target(vm["to"].as<std::string>());
  if (vm.count("class-name")) o.class_name = vm["class-name"].as<std::string>();
  const std::string dtype =
      parsed_at("--dtype", [&] { return parse_choice(vm["dtype"].as<std::string>(), {"float32", "float64"}); });
  o.dtype = dtype == "float64" ? torch::kFloat64 : torch::kFloat32;
  o.weight_decay = vm["weight-decay"].as<bool>();
  // The kernel's element type and weight decay are the CUDA kernel's; the other targets take them at run time.
  if (o.target != optimizers::ExportTarget::kCuda) {
    if (!vm["dtype"].defaulted()) {
      throw UserError("--dtype: only --to cuda takes it (the PyTorch module steps parameters of any dtype; the C++ "
                      "header has a step() for float and one for double)");
    }
    if (o.weight_decay) {
      throw UserError("--weight-decay: only --to cuda takes it (the PyTorch module and the C++ header take "
                      "weight_decay as an option)");
    }
  }

  optimizers::ResolvedRule rule;
  if (vm["tokens"].as<bool>()) {
    rule.text = text;
    rule.kind = optimizers::CompiledRule{
        std::make_shared<const dsl::Program>(dsl::compile(dsl::from_units(dsl::parse_tokens(text))))};
  } else {
    rule = optimizers::resolve_rule(experiments::resolve_rule_reference(text, "RULE"));
  }
  const std::string source = optimizers::export_rule(rule, o);
  if (!vm.count("output")) {
    out << source;
    return kExitOk;
  }
  // The whole text is made (and every check passed) before the file is touched; it is then replaced atomically, so
  // a refusal or a full disk leaves the file that was there.
  const std::string path = vm["output"].as<std::string>();
  try {
    write_atomically(path, source);
  } catch (const UserError& e) {
    throw UserError(std::string("--output: ") + e.what());
  }
  out << "wrote " << path << "\n";
  return kExitOk;
}

}  // namespace nos::cli
