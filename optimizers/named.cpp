// The table of named optimizers and the resolution of a name or DSL text to a compiled rule.
#include "optimizers/named.h"

#include <torch/optim.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <fstream>

#include "common/overloaded.h"
#include "common/text.h"
#include "dsl/error.h"
#include "dsl/parse.h"

namespace nos::optimizers {

namespace {

RuleOptions with_lr(double lr) { return RuleOptions(lr); }

// The raw moving averages (no 1 − β^t division), as PyTorch's SGD momentum buffer and RMSprop keep them.
RuleOptions raw_averages(double lr) { return RuleOptions(lr).bias_correction(false); }

std::vector<NamedRule> build_table() {
  std::vector<NamedRule> t = {
      {"sgd", "g", with_lr(0.01), "plain gradient descent: w -= lr*g (torch::optim::SGD)"},
      // With m <- 0.9m + 0.1g unnormalised, 10m is exactly PyTorch's buffer b <- 0.9b + g.
      {"momentum", "10*m", raw_averages(0.01),
       "SGD with momentum 0.9: b <- 0.9b + g, w -= lr*b (torch::optim::SGD, momentum 0.9)"},
      {"adam", "adam", with_lr(1e-3),
       "Adam, beta1 0.9, beta2 0.999, eps 1e-8 (Kingma & Ba 2015; torch::optim::Adam)"},
      // Loshchilov & Hutter 2019: Adam's step plus w <- w(1 - lr*lambda), lambda 0.01 as torch.optim.AdamW.
      {"adamw", "adam", with_lr(1e-3).decoupled_weight_decay(0.01),
       "AdamW: Adam with decoupled weight decay 0.01 (Loshchilov & Hutter 2019; torch::optim::AdamW)"},
      // PyTorch's Nesterov SGD: b <- 0.9b + g, w -= lr*(g + 0.9b); with b = 10m that is g + 9m.
      {"nesterov", "g + 9*m", raw_averages(0.01),
       "SGD with Nesterov momentum 0.9: b <- 0.9b + g, w -= lr*(g + 0.9b) (torch::optim::SGD, nesterov)"},
      // Reddi et al. 2018, as torch.optim.Adam(amsgrad=True): the running maximum of v, then the bias correction.
      {"amsgrad", "amsgrad", with_lr(1e-3),
       "AMSGrad: Adam with the running maximum of v, eps 1e-8 (Reddi et al. 2018; torch::optim::Adam, amsgrad)"},
      // Duchi et al. 2011, as torch.optim.Adagrad (lr 0.01, eps 1e-10, no lr decay, accumulator from 0).
      {"adagrad", "adagrad", with_lr(0.01),
       "AdaGrad: s <- s + g^2, w -= lr*g/(sqrt(s) + 1e-10) (Duchi et al. 2011; torch::optim::Adagrad)"},
      // Chen et al. 2023, Algorithm 2: c = b1*m + (1 - b1)*g, w -= lr*(sign(c) + lambda*w), m <- b2*m + (1 - b2)*g;
      // b1 0.9, b2 0.99 (mp's default), lambda 0 (a decoupled_weight_decay option); lr 1e-4 as the paper suggests
      // (3-10x below AdamW's).
      {"lion", "sign(0.9*mp + 0.1*g)", with_lr(1e-4),
       "Lion: sign(0.9*m + 0.1*g) with m <- 0.99m + 0.01g after the step (Chen et al. 2023)"},
      // Dozat 2016, as torch.optim.NAdam in PyTorch 2 (lr 2e-3, momentum_decay 4e-3).
      {"nadam", "nadam", with_lr(2e-3),
       "NAdam: Adam with Nesterov momentum (Dozat 2016; torch.optim.NAdam, PyTorch 2)"},
      // Liu et al. 2020, as torch.optim.RAdam (lr 1e-3).
      {"radam", "radam", with_lr(1e-3),
       "RAdam: Adam with variance rectification, m-hat alone while rho_t <= 5 (Liu et al. 2020; torch.optim.RAdam)"},
      // You et al. 2020: r = m-hat/(sqrt(v-hat) + 1e-6) + 0.01*w, w -= lr*(|w|/|r|)*r per tensor (ratio 1 where a norm
      // is 0).
      {"lamb", "trust(adam(1e-6) + 0.01*w)", with_lr(1e-3),
       "LAMB: Adam's direction (eps 1e-6) plus 0.01w, scaled by the trust ratio |w|/|r| per tensor (You et al. 2020)"},
      // Bernstein et al. 2018: signSGD w -= lr*sign(g); Signum, the sign of the momentum (beta 0.9; the sign of the
      // bias-corrected average is the sign of the raw one).
      {"signsgd", "sign(g)", with_lr(1e-3), "signSGD: w -= lr*sign(g) (Bernstein et al. 2018)"},
      {"signum", "sign(m)", with_lr(1e-3),
       "Signum: w -= lr*sign(m), m <- 0.9m + 0.1g (Bernstein et al. 2018)"},
      // The DSL's "/" is x/(y + 1e-8): PyTorch's g/(sqrt(v) + eps).
      {"rmsprop", "g/sqrt(v(0.99))", raw_averages(0.01),
       "RMSprop, alpha 0.99, eps 1e-8, no bias correction (torch::optim::RMSprop)"},
      // Bello et al. 2017, eq. (PowerSign): e^(f(t)*sign(g)*sign(m)) * g; lr 0.1 as tf.contrib.opt.PowerSignOptimizer.
      {"powersign", "exp(sign(g)*sign(m))*g", with_lr(0.1), "PowerSign e^(sign(g)*sign(m))*g (Bello et al. 2017)"},
      {"powersign-ld", "exp(ld*sign(g)*sign(m))*g", with_lr(0.1),
       "PowerSign with linear sign decay (Bello et al. 2017); needs total_steps"},
      {"powersign-cd", "exp(cd*sign(g)*sign(m))*g", with_lr(0.1),
       "PowerSign with cosine sign decay (Bello et al. 2017); needs total_steps"},
      {"powersign-rd", "exp(rd*sign(g)*sign(m))*g", with_lr(0.1),
       "PowerSign with restart sign decay (Bello et al. 2017); needs total_steps"},
      // Bello et al. 2017, eq. (AddSign): (alpha + f(t)*sign(g)*sign(m)) * g, alpha 1; lr 0.1 as tf.contrib.opt.
      {"addsign", "(1+sign(g)*sign(m))*g", with_lr(0.1), "AddSign (1 + sign(g)*sign(m))*g (Bello et al. 2017)"},
      {"addsign-ld", "(1+ld*sign(g)*sign(m))*g", with_lr(0.1),
       "AddSign with linear sign decay (Bello et al. 2017); needs total_steps"},
      {"addsign-cd", "(1+cd*sign(g)*sign(m))*g", with_lr(0.1),
       "AddSign with cosine sign decay (Bello et al. 2017); needs total_steps"},
      {"addsign-rd", "(1+rd*sign(g)*sign(m))*g", with_lr(0.1),
       "AddSign with restart sign decay (Bello et al. 2017); needs total_steps"},
  };
  for (size_t i = 0; i < t.size(); ++i) {
    for (size_t j = 0; j < i; ++j) NOS_CHECK(t[i].name != t[j].name, "named rule '" << t[i].name << "' twice");
  }
  return t;
}

// LibTorch's defaults written out, so that the rows say exactly what runs (PyTorch: torch/optim/{sgd,adam,rmsprop}).
std::vector<NativeRule> build_native_table() {
  return {
      {"torch-sgd", "sgd", "torch::optim::SGD", 0.01, "LibTorch's own SGD: the reference row for sgd"},
      {"torch-momentum", "momentum", "torch::optim::SGD(momentum=0.9, dampening=0)", 0.01,
       "LibTorch's own SGD with momentum 0.9: the reference row for momentum"},
      {"torch-adam", "adam", "torch::optim::Adam(betas=(0.9, 0.999), eps=1e-08)", 1e-3,
       "LibTorch's own Adam: the reference row for adam"},
      {"torch-adamw", "adamw", "torch::optim::AdamW(betas=(0.9, 0.999), eps=1e-08, weight_decay=0.01)", 1e-3,
       "LibTorch's own AdamW: the reference row for adamw"},
      {"torch-nesterov", "nesterov", "torch::optim::SGD(momentum=0.9, dampening=0, nesterov=true)", 0.01,
       "LibTorch's own SGD with Nesterov momentum 0.9: the reference row for nesterov"},
      {"torch-rmsprop", "rmsprop", "torch::optim::RMSprop(alpha=0.99, eps=1e-08)", 0.01,
       "LibTorch's own RMSprop: the reference row for rmsprop"},
      {"torch-amsgrad", "amsgrad", "torch::optim::Adam(betas=(0.9, 0.999), eps=1e-08, amsgrad=true)", 1e-3,
       "LibTorch's own Adam with amsgrad: the reference row for amsgrad"},
      {"torch-adagrad", "adagrad", "torch::optim::Adagrad(lr_decay=0, eps=1e-10, initial_accumulator_value=0)", 0.01,
       "LibTorch's own Adagrad: the reference row for adagrad"},
  };
}

}  // namespace

const std::vector<NativeRule>& native_rules() {
  static const std::vector<NativeRule> table = build_native_table();
  return table;
}

const NativeRule* find_native_rule(std::string_view name) {
  for (const NativeRule& r : native_rules()) {
    if (r.name == name) return &r;
  }
  return nullptr;
}

const NativeRule* find_native_twin(std::string_view twin) {
  for (const NativeRule& r : native_rules()) {
    if (r.twin == twin) return &r;
  }
  return nullptr;
}

const std::vector<NamedRule>& named_rules() {
  static const std::vector<NamedRule> table = build_table();
  return table;
}

const NamedRule* find_named_rule(std::string_view name) {
  for (const NamedRule& r : named_rules()) {
    if (r.name == name) return &r;
  }
  return nullptr;
}

std::string rule_source_text(std::string_view name_or_text) {
  if (const NamedRule* named = find_named_rule(name_or_text)) return named->text;
  if (const NativeRule* native = find_native_rule(name_or_text)) return find_named_rule(native->twin)->text;
  return std::string(name_or_text);
}

dsl::NodePtr parse_user_rule(std::string_view text) {
  dsl::ParseResult parsed = dsl::try_parse(text);
  if (parsed.rule != nullptr) return parsed.rule;
  const bool name_like = !text.empty() && std::all_of(text.begin(), text.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_';
  });
  std::vector<std::string_view> names;
  for (const NamedRule& r : named_rules()) names.push_back(r.name);
  for (const NativeRule& r : native_rules()) names.push_back(r.name);
  const std::string hint = name_like ? closest_name(text, names) : std::string();
  if (!hint.empty()) {
    dsl::Diagnostic d;
    d.code = "E017";
    d.message = "unknown rule '" + std::string(text) + "' (did you mean the named rule '" + hint +
                "'? 'nos rules' lists them)";
    d.length = static_cast<int>(text.size());
    throw dsl::RuleError({d}, std::string(text), "rule");
  }
  throw dsl::RuleError(std::move(parsed.diagnostics), std::string(text), "rule");
}

namespace {

// FNV-1a (64 bits) of a file's bytes, in hex; the file must exist.
std::string file_hash(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  uint64_t h = 1469598103934665603ull;
  char buffer[65536];
  while (in.read(buffer, sizeof buffer) || in.gcount() > 0) {
    for (std::streamsize i = 0; i < in.gcount(); ++i) {
      h = (h ^ static_cast<unsigned char>(buffer[i])) * 1099511628211ull;
    }
  }
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(h));
  return hex;
}

}  // namespace

ResolvedRule resolve_rule(std::string_view name_or_text) {
  ResolvedRule resolved;
  if (name_or_text.rfind(kLstmRulePrefix, 0) == 0) {
    const std::string path(name_or_text.substr(std::string_view(kLstmRulePrefix).size()));
    if (path.empty()) throw UserError("rule 'lstm:': give the network's file, e.g. lstm:runs/learn/best.pt");
    load_lstm_net(path);  // a missing, corrupt or mismatched file fails here, naming it
    resolved.name = std::string(name_or_text);
    resolved.text = std::string(name_or_text);
    resolved.kind = LearnedRule{path, file_hash(path)};
    resolved.defaults = RuleOptions(1.0);
    return resolved;
  }
  if (const NamedRule* named = find_named_rule(name_or_text)) {
    resolved.name = named->name;
    resolved.text = named->text;
    resolved.defaults = named->defaults;
    // A row's text is ours: failing to parse it is a bug in the table, not a user mistake.
    dsl::ParseResult parsed = dsl::try_parse(named->text);
    NOS_CHECK(parsed.rule != nullptr, "named rule '" << named->name << "' does not parse: "
                                          << dsl::format_diagnostics(parsed.diagnostics, named->text, "rule"));
    resolved.kind = CompiledRule{std::make_shared<const dsl::Program>(dsl::compile(parsed.rule))};
    return resolved;
  }
  if (const NativeRule* native = find_native_rule(name_or_text)) {
    resolved = resolve_rule(native->twin);
    resolved.name = native->name;
    resolved.text = native->text;
    resolved.defaults.lr(native->lr);
    resolved.kind = NativeClass{resolved.program()};
    return resolved;
  }
  resolved.text = std::string(name_or_text);
  resolved.kind = CompiledRule{std::make_shared<const dsl::Program>(dsl::compile(parse_user_rule(name_or_text)))};
  return resolved;
}

std::shared_ptr<const dsl::Program> ResolvedRule::program() const {
  return std::visit(Overloaded{[](const CompiledRule& r) { return r.program; },
                               [](const NativeClass& r) { return r.twin; },
                               [](const LearnedRule&) { return std::shared_ptr<const dsl::Program>(); }},
                    kind);
}

std::string kind_label(const ResolvedRule& rule) {
  return std::visit(Overloaded{[](const CompiledRule&) { return "dsl"; }, [](const NativeClass&) { return "native"; },
                               [](const LearnedRule&) { return "learned"; }},
                    rule.kind);
}

std::unique_ptr<RuleOptimizer> make_optimizer(const ResolvedRule& rule, std::vector<torch::Tensor> params,
                                              const RuleOptions& options) {
  const CompiledRule* compiled = std::get_if<CompiledRule>(&rule.kind);
  NOS_CHECK(compiled != nullptr && compiled->program != nullptr,
            "make_optimizer needs a compiled rule; '" << rule.text << "' is " << kind_label(rule)
                                                      << " (make_training_optimizer builds every kind)");
  return std::make_unique<RuleOptimizer>(std::move(params), compiled->program, options);
}

std::string canonical_text(const ResolvedRule& rule) {
  return std::visit(Overloaded{[&](const CompiledRule& r) {
                                 NOS_CHECK(r.program != nullptr, "canonical_text needs a resolved rule with a program");
                                 return r.program->canonical_text();
                               },
                               [&](const NativeClass&) { return rule.text; },
                               [](const LearnedRule& r) { return kLstmRulePrefix + r.hash; }},
                    rule.kind);
}

namespace {

// LibTorch's class for a native row, with one options object per group.
std::unique_ptr<torch::optim::Optimizer> make_native(const ResolvedRule& rule, const std::vector<ParamGroup>& groups,
                                                     double lr) {
  namespace optim = torch::optim;
  std::vector<optim::OptimizerParamGroup> torch_groups;
  auto add = [&](const ParamGroup& g, std::unique_ptr<optim::OptimizerOptions> options) {
    torch_groups.emplace_back(g.params, std::move(options));
  };
  const std::string& name = rule.name;
  for (const ParamGroup& g : groups) {
    const bool decoupled = !std::isnan(g.decoupled_weight_decay);
    if (decoupled && name != "torch-adamw" && g.decoupled_weight_decay > 0) {
      throw UserError(name + " has no decoupled weight decay in LibTorch (only torch-adamw has): use the DSL rule '" +
                      name.substr(6) + "' or coupled weight decay");
    }
    if (name == "torch-sgd") {
      add(g, std::make_unique<optim::SGDOptions>(optim::SGDOptions(lr).weight_decay(g.weight_decay)));
    } else if (name == "torch-momentum") {
      add(g, std::make_unique<optim::SGDOptions>(
                 optim::SGDOptions(lr).momentum(0.9).dampening(0).weight_decay(g.weight_decay)));
    } else if (name == "torch-adam") {
      add(g, std::make_unique<optim::AdamOptions>(
                 optim::AdamOptions(lr).betas({0.9, 0.999}).eps(1e-8).weight_decay(g.weight_decay)));
    } else if (name == "torch-adamw") {
      // AdamW has no coupled L2: a group with one (a model's penalty, e.g. 3c3d's) cannot be this class.
      if (g.weight_decay > 0) {
        throw UserError("torch-adamw cannot add a coupled L2 penalty of " + nos::format_number(g.weight_decay) +
                        " (LibTorch's AdamW has none; the penalty is a coupled weight decay, weight_decay_mode "
                        "coupled, or the model's own L2): use --weight-decay-mode decoupled, or compare adamw, which "
                        "adds both");
      }
      add(g, std::make_unique<optim::AdamWOptions>(
                 optim::AdamWOptions(lr).betas({0.9, 0.999}).eps(1e-8).weight_decay(
                     decoupled ? g.decoupled_weight_decay : 0.01)));
    } else if (name == "torch-nesterov") {
      add(g, std::make_unique<optim::SGDOptions>(
                 optim::SGDOptions(lr).momentum(0.9).dampening(0).nesterov(true).weight_decay(g.weight_decay)));
    } else if (name == "torch-amsgrad") {
      add(g, std::make_unique<optim::AdamOptions>(
                 optim::AdamOptions(lr).betas({0.9, 0.999}).eps(1e-8).amsgrad(true).weight_decay(g.weight_decay)));
    } else if (name == "torch-adagrad") {
      add(g, std::make_unique<optim::AdagradOptions>(
                 optim::AdagradOptions(lr).lr_decay(0).eps(1e-10).initial_accumulator_value(0).weight_decay(
                     g.weight_decay)));
    } else if (name == "torch-rmsprop") {
      add(g, std::make_unique<optim::RMSpropOptions>(
                 optim::RMSpropOptions(lr).alpha(0.99).eps(1e-8).weight_decay(g.weight_decay)));
    } else {
      NOS_CHECK(false, "native row '" << name << "' has no LibTorch class in make_native");
    }
  }
  // The first group's options are the defaults of groups added later (none are).
  if (name == "torch-sgd" || name == "torch-momentum" || name == "torch-nesterov") {
    return std::make_unique<optim::SGD>(std::move(torch_groups), optim::SGDOptions(lr));
  }
  if (name == "torch-adam" || name == "torch-amsgrad") {
    return std::make_unique<optim::Adam>(std::move(torch_groups), optim::AdamOptions(lr));
  }
  if (name == "torch-adagrad") {
    return std::make_unique<optim::Adagrad>(std::move(torch_groups), optim::AdagradOptions(lr));
  }
  if (name == "torch-adamw") return std::make_unique<optim::AdamW>(std::move(torch_groups), optim::AdamWOptions(lr));
  return std::make_unique<optim::RMSprop>(std::move(torch_groups), optim::RMSpropOptions(lr));
}

std::unique_ptr<torch::optim::Optimizer> make_learned(const ResolvedRule& rule, const LearnedRule& learned,
                                                      const std::vector<ParamGroup>& groups,
                                                      const RuleOptions& options) {
  std::vector<torch::optim::OptimizerParamGroup> lstm_groups;
  for (const ParamGroup& g : groups) {
    if (g.weight_decay > 0 || g.decoupled_weight_decay > 0) {
      throw UserError(rule.name + ": a learned optimizer takes no weight decay (this run asks for " +
                      nos::format_number(std::max(g.weight_decay, g.decoupled_weight_decay)) + ")");
    }
    lstm_groups.emplace_back(g.params);
  }
  // Each optimizer reads its own copy of the network: children on threads of one process never share one.
  return std::make_unique<LstmOptimizer>(std::move(lstm_groups), load_lstm_net(learned.path),
                                         LstmOptions(options.lr()));
}

std::unique_ptr<torch::optim::Optimizer> make_compiled(const CompiledRule& compiled,
                                                       const std::vector<ParamGroup>& groups,
                                                       const RuleOptions& options) {
  NOS_CHECK(compiled.program != nullptr, "make_training_optimizer needs a resolved rule with a program");
  std::vector<torch::optim::OptimizerParamGroup> torch_groups;
  for (const ParamGroup& g : groups) {
    RuleOptions group_options = options;
    group_options.weight_decay(g.weight_decay);
    if (!std::isnan(g.decoupled_weight_decay)) group_options.decoupled_weight_decay(g.decoupled_weight_decay);
    torch_groups.emplace_back(g.params, std::make_unique<RuleOptions>(group_options));
  }
  RuleOptions defaults = options;
  defaults.weight_decay(groups.front().weight_decay);
  if (!std::isnan(groups.front().decoupled_weight_decay)) {
    defaults.decoupled_weight_decay(groups.front().decoupled_weight_decay);
  }
  return std::make_unique<RuleOptimizer>(std::move(torch_groups), compiled.program, defaults);
}

}  // namespace

std::unique_ptr<torch::optim::Optimizer> make_training_optimizer(const ResolvedRule& rule,
                                                                 const std::vector<ParamGroup>& groups,
                                                                 const RuleOptions& options) {
  NOS_CHECK(!groups.empty(), "make_training_optimizer needs at least one parameter group");
  return std::visit(
      Overloaded{[&](const NativeClass&) { return make_native(rule, groups, options.lr()); },
                 [&](const LearnedRule& learned) { return make_learned(rule, learned, groups, options); },
                 [&](const CompiledRule& compiled) { return make_compiled(compiled, groups, options); }},
      rule.kind);
}

}  // namespace nos::optimizers
