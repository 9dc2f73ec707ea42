// nos::cli — the `nos` command: search, top, eval, bench, rule, rules, export, version, help (and the hidden worker).
//
// Module line: common → dsl → optimizers → tasks → dispatch → controller → search → experiments → bench → cli; a module
// includes only modules to its left (ctest `layout` checks it).
// Uses every module; only main.cpp uses it. It holds argument parsing and printing, nothing else.
#pragma once

#include <exception>
#include <ostream>
#include <string>
#include <vector>

namespace nos::cli {

// Exit codes of `nos`.
inline constexpr int kExitOk = 0;
inline constexpr int kExitUserError = 2;      // bad flags, config, rule text, files: the message says what to fix
inline constexpr int kExitInternalError = 3;  // a bug in nos

// Runs the command line argv[0..argc) (argv[0] is the program name). Normal output goes to `out`, messages to
// `err`. User errors (nos::UserError, bad or unknown options) print their message and return kExitUserError;
// anything else that escapes prints "internal error" and returns kExitInternalError. Never throws.
int run(int argc, const char* const* argv, std::ostream& out, std::ostream& err);

// Every help topic, as the words after `nos help`: each command (the unlisted worker too) and each benchmark
// ({"bench", "step"}). Each is reached both as `nos WORDS --help` and as `nos help WORDS`.
std::vector<std::vector<std::string>> help_topics();

// The running executable, which worker processes are started from (the library never looks at argv or /proc);
// throws UserError when it cannot be found.
std::string own_executable();

// The command as a shell would take it back ("nos compare --rules 'clip(g,0.001),adam'"), for reports.
std::string command_line(const std::string& command, const std::vector<std::string>& args);

// What run() does with an exception a command let escape: prints its message to `err` and returns the exit code
// (kExitUserError for user mistakes, kExitInternalError for anything else).
int report_error(const std::exception_ptr& error, const std::string& command, std::ostream& err);

}  // namespace nos::cli
