// Internal to optimizers/: what the export writers (export*.cpp) share: literals, the rule's program and hash, the
// instruction comments, and the helper source every exported file carries (export_helper_source.cpp).
#pragma once

#include <string>

#include "dsl/program.h"
#include "optimizers/named.h"

namespace nos::optimizers::exporting {

// A double with 17 significant digits (reads back to the same value), always with a '.' or an exponent.
std::string digits(double x);

// A string as a double-quoted literal (Python and C++ read it alike: only '\\' and '"' are escaped; rule text is ASCII
// without control characters).
std::string quoted(const std::string& s);

// The rule's hash as `nos rule` prints it: FNV-1a of the canonical text (the canonical text reparses to itself).
std::string program_hash(const dsl::Program& program);

// The program of a rule every target can start from: a compiled DSL rule. A learned optimizer and a native row are
// UserErrors naming what they are.
const dsl::Program& exportable_program(const ResolvedRule& rule);

// The instruction as written in a comment: "m(0.9)", "sign(r2)", "mul(r3, r4)".
std::string instruction_comment(const dsl::Program::Instr& in);

// The helper source the exported files carry (export_helper_source.cpp says what each holds): the Python module's
// functions, a random rule's generator methods, and the C++ header's functions.
extern const char* const kPythonHelpers;
extern const char* const kPythonGenerators;
extern const char* const kCppHelpers;

}  // namespace nos::optimizers::exporting
