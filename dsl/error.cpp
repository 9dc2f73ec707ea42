// Formatting of diagnostics.
#include "dsl/error.h"

#include <algorithm>

#include "dsl/diagnostic_at.h"

namespace nos::dsl {

namespace {
// The text of 1-based line `line` of `source`, with tabs kept so the caret lines up.
std::string_view line_of(std::string_view source, int line) {
  size_t start = 0;
  for (int i = 1; i < line; ++i) {
    size_t nl = source.find('\n', start);
    if (nl == std::string_view::npos) return {};
    start = nl + 1;
  }
  size_t end = source.find('\n', start);
  return source.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
}

// Non-printable bytes are shown as '?', so a diagnostic never writes control characters to a terminal.
std::string printable(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    unsigned char u = static_cast<unsigned char>(c);
    if (u < 0x20 && c != '\t') c = '?';
    if (u == 0x7f) c = '?';
  }
  return out;
}
}  // namespace

std::string format_diagnostics(const std::vector<Diagnostic>& diagnostics, std::string_view source,
                               std::string_view source_name) {
  std::ostringstream out;
  for (const Diagnostic& d : diagnostics) {
    out << source_name << ":" << d.line << ":" << d.column << ": error[" << d.code << "]: " << d.message << "\n";
    std::string text = printable(line_of(source, d.line));
    out << "  " << text << "\n  ";
    int col = std::max(1, std::min<int>(d.column, static_cast<int>(text.size()) + 1));
    for (int i = 1; i < col; ++i) out << (text[i - 1] == '\t' ? '\t' : ' ');
    out << '^';
    int len = std::max(1, std::min<int>(d.length, static_cast<int>(text.size()) - col + 1));
    for (int i = 1; i < len; ++i) out << '~';
    out << "\n";
  }
  return out.str();
}

namespace {
std::string summary(const std::vector<Diagnostic>& diagnostics, const std::string& source,
                    const std::string& source_name) {
  std::string text = format_diagnostics(diagnostics, source, source_name);
  if (!text.empty() && text.back() == '\n') text.pop_back();
  return text;
}
}  // namespace

RuleError::RuleError(std::vector<Diagnostic> diagnostics, std::string source, std::string source_name)
    : UserError(summary(diagnostics, source, source_name)),
      diagnostics_(std::move(diagnostics)),
      source_(std::move(source)) {}

Diagnostic diagnostic_at(std::string_view text, int begin, int end, const char* code, std::string message) {
  Diagnostic d;
  d.code = code;
  d.message = std::move(message);
  d.line = 1;
  int line_start = 0;
  for (int i = 0; i < begin && i < static_cast<int>(text.size()); ++i) {
    if (text[i] == '\n') {
      ++d.line;
      line_start = i + 1;
    }
  }
  d.column = begin - line_start + 1;
  d.length = std::max(1, end - begin);
  return d;
}

}  // namespace nos::dsl
