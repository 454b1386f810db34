#include "cri/flist_image/startup_toml.h"

#include "absl/strings/str_cat.h"

namespace flint::flist_image {
namespace {

class Cursor {
 public:
  Cursor(const std::string& text, int line) : text_(text), line_(line) {}
  void SkipSpace() {
    while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\t')) ++pos_;
  }
  bool AtEnd() {
    SkipSpace();
    return pos_ >= text_.size() || text_[pos_] == '#';
  }
  bool Consume(char c) {
    SkipSpace();
    if (pos_ < text_.size() && text_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  absl::Status Error(const std::string& what) const {
    return absl::InvalidArgumentError(absl::StrCat(".startup.toml line ", line_, ": ", what));
  }
  absl::StatusOr<std::string> Key() {
    SkipSpace();
    if (pos_ < text_.size() && text_[pos_] == '"') return String();
    size_t start = pos_;
    while (pos_ < text_.size() && (isalnum(static_cast<unsigned char>(text_[pos_])) || text_[pos_] == '_' ||
                                   text_[pos_] == '-' || text_[pos_] == '.'))
      ++pos_;
    if (start == pos_) return Error("expected a key");
    return text_.substr(start, pos_ - start);
  }
  absl::StatusOr<std::string> String() {
    SkipSpace();
    if (pos_ >= text_.size() || (text_[pos_] != '"' && text_[pos_] != '\'')) return Error("expected a string");
    char quote = text_[pos_++];
    std::string out;
    while (pos_ < text_.size() && text_[pos_] != quote) {
      char c = text_[pos_++];
      if (c == '\\' && quote == '"' && pos_ < text_.size()) {
        char e = text_[pos_++];
        switch (e) {
          case 'n': out += '\n'; break;
          case 't': out += '\t'; break;
          case 'r': out += '\r'; break;
          case '"': out += '"'; break;
          case '\\': out += '\\'; break;
          default: out += '\\'; out += e; break;
        }
      } else {
        out += c;
      }
    }
    if (pos_ >= text_.size()) return Error("unterminated string");
    ++pos_;
    return out;
  }
  absl::StatusOr<std::vector<std::string>> Array() {
    std::vector<std::string> out;
    if (!Consume('[')) return Error("expected [");
    if (Consume(']')) return out;
    while (true) {
      absl::StatusOr<std::string> item = String();
      if (!item.ok()) return item.status();
      out.push_back(*item);
      if (Consume(']')) return out;
      if (!Consume(',')) return Error("expected , or ] in array");
      if (Consume(']')) return out;  // trailing comma
    }
  }
  absl::StatusOr<std::map<std::string, std::string>> InlineTable() {
    std::map<std::string, std::string> out;
    if (!Consume('{')) return Error("expected {");
    if (Consume('}')) return out;
    while (true) {
      absl::StatusOr<std::string> key = Key();
      if (!key.ok()) return key.status();
      if (!Consume('=')) return Error("expected = in inline table");
      absl::StatusOr<std::string> value = String();
      if (!value.ok()) return value.status();
      out[*key] = *value;
      if (Consume('}')) return out;
      if (!Consume(',')) return Error("expected , or } in inline table");
    }
  }
  char Peek() {
    SkipSpace();
    return pos_ < text_.size() ? text_[pos_] : '\0';
  }

 private:
  const std::string& text_;
  int line_;
  size_t pos_ = 0;
};

// Calls `visit(i)` for each character of `line` outside quoted strings, until it returns false.
template <typename Visit>
void ForEachOutsideStrings(const std::string& line, Visit visit) {
  char quote = 0;
  for (size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (quote != 0) {
      if (c == '\\' && quote == '"') ++i;
      else if (c == quote) quote = 0;
    } else if (c == '"' || c == '\'') {
      quote = c;
    } else if (!visit(i)) {
      return;
    }
  }
}

// `line` without its comment: from the first '#' outside a string.
std::string WithoutComment(const std::string& line) {
  size_t end = line.size();
  ForEachOutsideStrings(line, [&](size_t i) {
    if (line[i] == '#') end = i;
    return line[i] != '#';
  });
  return line.substr(0, end);
}

// How many '[' and '{' outside strings are still open at the end of `line`.
int OpenBrackets(const std::string& line) {
  int depth = 0;
  ForEachOutsideStrings(line, [&](size_t i) {
    if (line[i] == '[' || line[i] == '{') ++depth;
    if (line[i] == ']' || line[i] == '}') --depth;
    return true;
  });
  return depth;
}

}  // namespace

absl::StatusOr<StartupConfig> ParseStartupToml(const std::string& text) {
  StartupConfig config;
  std::string section;
  std::string name;
  std::vector<std::string> args;
  int line_number = 0;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(start, end - start);
    start = end + 1;
    ++line_number;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    const int first_line = line_number;
    {
      Cursor probe(line, line_number);
      // A value's array or inline table may go on over the next lines (multi-line arrays are TOML).
      if (!probe.AtEnd() && probe.Peek() != '[') {
        line = WithoutComment(line);
        while (OpenBrackets(line) > 0 && start < text.size()) {
          end = text.find('\n', start);
          if (end == std::string::npos) end = text.size();
          std::string more = text.substr(start, end - start);
          start = end + 1;
          ++line_number;
          if (!more.empty() && more.back() == '\r') more.pop_back();
          line += " " + WithoutComment(more);
        }
      }
    }
    Cursor c(line, first_line);
    if (c.AtEnd()) continue;
    if (c.Consume('[')) {
      absl::StatusOr<std::string> key = c.Key();
      if (!key.ok()) return key.status();
      if (!c.Consume(']')) return c.Error("expected ] after section name");
      section = *key;
      continue;
    }
    absl::StatusOr<std::string> key = c.Key();
    if (!key.ok()) return key.status();
    if (!c.Consume('=')) return c.Error("expected = after " + *key);
    if (section == "startup.entry.args") {
      if (*key == "name" || *key == "dir") {
        absl::StatusOr<std::string> value = c.String();
        if (!value.ok()) return value.status();
        (*key == "name" ? name : config.dir) = *value;
      } else if (*key == "args") {
        absl::StatusOr<std::vector<std::string>> value = c.Array();
        if (!value.ok()) return value.status();
        args = *value;
      } else if (*key == "env") {
        absl::StatusOr<std::map<std::string, std::string>> value = c.InlineTable();
        if (!value.ok()) return value.status();
        config.env = *value;
      }
    } else if (section == "startup.entry.args.env") {
      absl::StatusOr<std::string> value = c.String();
      if (!value.ok()) return value.status();
      config.env[*key] = *value;
    }
    // Other keys and sections are not ours, whatever their values; ignore them.
  }
  config.program = name;
  config.args = args;
  return config;
}

}  // namespace flint::flist_image
