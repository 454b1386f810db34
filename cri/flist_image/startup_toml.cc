#include "cri/flist_image/startup_toml.h"

#include <cctype>
#include <cstdint>
#include <variant>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace flint::flist_image {
namespace {

// A TOML value as far as this file needs one: strings, and the containers that may hold them;
// numbers, booleans and dates are kept as their text (nothing of ours is one).
struct Value {
  struct Scalar {
    std::string text;
  };
  std::variant<std::string, Scalar, std::vector<Value>, std::map<std::string, Value>> v;
  int line = 0;
};

constexpr int kMaxNesting = 32;

// Reads a whole TOML document, calling `on_pair(path, value)` for every key/value pair with its
// full dotted path (table header + dotted key). Errors name the line.
class Parser {
 public:
  explicit Parser(const std::string& text) : text_(text) {}

  template <typename OnPair>
  absl::Status Parse(OnPair on_pair) {
    std::vector<std::string> table;
    while (true) {
      SkipSpaceNewlinesAndComments();
      if (pos_ >= text_.size()) return absl::OkStatus();
      if (Peek() == '[') {
        const bool array_of_tables = text_.compare(pos_, 2, "[[") == 0;
        pos_ += array_of_tables ? 2 : 1;
        absl::StatusOr<std::vector<std::string>> path = KeyPath();
        if (!path.ok()) return path.status();
        SkipSpace();
        if (text_.compare(pos_, array_of_tables ? 2 : 1, array_of_tables ? "]]" : "]") != 0) {
          return Error("expected ] after the table name");
        }
        pos_ += array_of_tables ? 2 : 1;
        table = *path;
        // Tables in an array are not ours: their keys must not reach our paths.
        if (array_of_tables) table.insert(table.begin(), "[[]]");
      } else {
        absl::StatusOr<std::vector<std::string>> key = KeyPath();
        if (!key.ok()) return key.status();
        SkipSpace();
        if (!Consume('=')) return Error(absl::StrCat("expected = after ", absl::StrJoin(*key, ".")));
        absl::StatusOr<Value> value = ParseValue(0);
        if (!value.ok()) return value.status();
        std::vector<std::string> path = table;
        path.insert(path.end(), key->begin(), key->end());
        if (absl::Status s = on_pair(absl::StrJoin(path, "."), *value); !s.ok()) return s;
      }
      if (absl::Status s = EndOfLine(); !s.ok()) return s;
    }
  }

  absl::Status ErrorAt(int line, const std::string& what) const {
    return absl::InvalidArgumentError(absl::StrCat(".startup.toml line ", line, ": ", what));
  }

 private:
  char Peek() const { return pos_ < text_.size() ? text_[pos_] : '\0'; }
  bool Consume(char c) {
    if (Peek() != c) return false;
    ++pos_;
    return true;
  }
  void Advance() {
    if (text_[pos_] == '\n') ++line_;
    ++pos_;
  }
  absl::Status Error(const std::string& what) const { return ErrorAt(line_, what); }

  void SkipSpace() {
    while (Peek() == ' ' || Peek() == '\t') ++pos_;
  }
  void SkipComment() {
    if (Peek() != '#') return;
    while (pos_ < text_.size() && text_[pos_] != '\n') ++pos_;
  }
  // Between lines, and inside arrays and inline tables (TOML 1.1 allows newlines in these): spaces,
  // newlines, comments.
  void SkipSpaceNewlinesAndComments() {
    while (true) {
      SkipSpace();
      SkipComment();
      if (Peek() == '\r' && text_.compare(pos_, 2, "\r\n") == 0) ++pos_;
      if (Peek() != '\n') return;
      Advance();
    }
  }
  absl::Status EndOfLine() {
    SkipSpace();
    SkipComment();
    if (pos_ >= text_.size()) return absl::OkStatus();
    if (text_.compare(pos_, 2, "\r\n") == 0) ++pos_;
    if (Peek() != '\n') return Error(absl::StrCat("unexpected '", std::string(1, Peek()), "' after a value"));
    Advance();
    return absl::OkStatus();
  }

  static bool IsBareKeyChar(char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_' || c == '-';
  }
  // key ( . key )*, each bare or quoted, spaces allowed around the dots.
  absl::StatusOr<std::vector<std::string>> KeyPath() {
    std::vector<std::string> parts;
    while (true) {
      SkipSpace();
      if (Peek() == '"' || Peek() == '\'') {
        if (text_.compare(pos_, 3, "\"\"\"") == 0 || text_.compare(pos_, 3, "'''") == 0) {
          return Error("a key cannot be a multi-line string");
        }
        absl::StatusOr<std::string> quoted = Peek() == '"' ? BasicString() : LiteralString();
        if (!quoted.ok()) return quoted.status();
        parts.push_back(*quoted);
      } else {
        const size_t start = pos_;
        while (IsBareKeyChar(Peek())) ++pos_;
        if (start == pos_) return Error("expected a key");
        parts.push_back(text_.substr(start, pos_ - start));
      }
      SkipSpace();
      if (!Consume('.')) return parts;
    }
  }

  absl::StatusOr<Value> ParseValue(int depth) {
    if (depth > kMaxNesting) return Error("values nested too deeply");
    SkipSpace();
    Value value;
    value.line = line_;
    const char c = Peek();
    if (c == '"' || c == '\'') {
      absl::StatusOr<std::string> s;
      if (text_.compare(pos_, 3, std::string(3, c)) == 0) s = MultiLineString(c);
      else s = c == '"' ? BasicString() : LiteralString();
      if (!s.ok()) return s.status();
      value.v = *std::move(s);
    } else if (c == '[') {
      ++pos_;
      std::vector<Value> items;
      while (true) {
        SkipSpaceNewlinesAndComments();
        if (Consume(']')) break;
        if (pos_ >= text_.size()) return ErrorAt(value.line, "array never closed");
        absl::StatusOr<Value> item = ParseValue(depth + 1);
        if (!item.ok()) return item.status();
        items.push_back(*std::move(item));
        SkipSpaceNewlinesAndComments();
        if (Consume(']')) break;
        if (pos_ >= text_.size()) return ErrorAt(value.line, "array never closed");
        if (!Consume(',')) return Error("expected , or ] in an array");
      }
      value.v = std::move(items);
    } else if (c == '{') {
      ++pos_;
      std::map<std::string, Value> table;
      while (true) {
        SkipSpaceNewlinesAndComments();
        if (Consume('}')) break;
        if (pos_ >= text_.size()) return ErrorAt(value.line, "inline table never closed");
        absl::StatusOr<std::vector<std::string>> key = KeyPath();
        if (!key.ok()) return key.status();
        SkipSpace();
        if (!Consume('=')) return Error("expected = in an inline table");
        absl::StatusOr<Value> item = ParseValue(depth + 1);
        if (!item.ok()) return item.status();
        table[absl::StrJoin(*key, ".")] = *std::move(item);
        SkipSpaceNewlinesAndComments();
        if (Consume('}')) break;
        if (pos_ >= text_.size()) return ErrorAt(value.line, "inline table never closed");
        if (!Consume(',')) return Error("expected , or } in an inline table");
      }
      value.v = std::move(table);
    } else {
      // Numbers, booleans, dates and times: their text up to the end of the value. A date and a
      // time may be separated by one space.
      const size_t start = pos_;
      auto scalar_char = [](char ch) {
        return std::isalnum(static_cast<unsigned char>(ch)) != 0 || ch == '_' || ch == '+' || ch == '-' ||
               ch == '.' || ch == ':';
      };
      while (scalar_char(Peek())) ++pos_;
      if (pos_ - start == 10 && text_[start + 4] == '-' && text_[start + 7] == '-' && Peek() == ' ' &&
          pos_ + 1 < text_.size() && std::isdigit(static_cast<unsigned char>(text_[pos_ + 1])) != 0) {
        ++pos_;
        while (scalar_char(Peek())) ++pos_;
      }
      if (start == pos_) return Error("expected a value");
      value.v = Value::Scalar{text_.substr(start, pos_ - start)};
    }
    return value;
  }

  static void AppendUtf8(uint32_t cp, std::string* out) {
    if (cp < 0x80) {
      *out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      *out += static_cast<char>(0xC0 | (cp >> 6));
      *out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      *out += static_cast<char>(0xE0 | (cp >> 12));
      *out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      *out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      *out += static_cast<char>(0xF0 | (cp >> 18));
      *out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      *out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      *out += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }

  // After a backslash in a basic string.
  absl::Status Escape(std::string* out) {
    if (pos_ >= text_.size()) return Error("unterminated string");
    const char e = text_[pos_++];
    switch (e) {
      case 'b': *out += '\b'; return absl::OkStatus();
      case 't': *out += '\t'; return absl::OkStatus();
      case 'n': *out += '\n'; return absl::OkStatus();
      case 'f': *out += '\f'; return absl::OkStatus();
      case 'r': *out += '\r'; return absl::OkStatus();
      case 'e': *out += '\x1b'; return absl::OkStatus();
      case '"': *out += '"'; return absl::OkStatus();
      case '\\': *out += '\\'; return absl::OkStatus();
      case 'u':
      case 'U': {
        const size_t digits = e == 'u' ? 4 : 8;
        if (pos_ + digits > text_.size()) return Error("short \\u escape");
        uint32_t cp = 0;
        for (size_t i = 0; i < digits; ++i) {
          const char h = text_[pos_ + i];
          if (std::isxdigit(static_cast<unsigned char>(h)) == 0) return Error("bad \\u escape");
          cp = cp * 16 + static_cast<uint32_t>(std::isdigit(static_cast<unsigned char>(h)) != 0
                                                   ? h - '0'
                                                   : std::tolower(static_cast<unsigned char>(h)) - 'a' + 10);
        }
        pos_ += digits;
        if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return Error("\\u escape is not a Unicode scalar value");
        AppendUtf8(cp, out);
        return absl::OkStatus();
      }
      default:
        // Not TOML, but kept as written rather than failing a whole container over a key that is
        // probably not even ours.
        *out += '\\';
        *out += e;
        return absl::OkStatus();
    }
  }

  absl::StatusOr<std::string> BasicString() {
    const int start_line = line_;
    ++pos_;  // "
    std::string out;
    while (true) {
      if (pos_ >= text_.size() || Peek() == '\n') return ErrorAt(start_line, "unterminated string");
      const char c = text_[pos_++];
      if (c == '"') return out;
      if (c == '\\') {
        if (absl::Status s = Escape(&out); !s.ok()) return s;
      } else {
        out += c;
      }
    }
  }

  absl::StatusOr<std::string> LiteralString() {
    const int start_line = line_;
    ++pos_;  // '
    const size_t end = text_.find_first_of("'\n", pos_);
    if (end == std::string::npos || text_[end] != '\'') return ErrorAt(start_line, "unterminated string");
    std::string out = text_.substr(pos_, end - pos_);
    pos_ = end + 1;
    return out;
  }

  // A newline right after the opening quotes is not part of the string.
  void SkipFirstNewline() {
    if (text_.compare(pos_, 2, "\r\n") == 0) ++pos_;
    if (Peek() == '\n') Advance();
  }

  // At the opening quotes of a multi-line string (`quote` is " or '), up to its end.
  absl::StatusOr<std::string> MultiLineString(char quote) {
    const int start_line = line_;
    const std::string delimiter(3, quote);
    pos_ += 3;
    SkipFirstNewline();
    std::string out;
    while (true) {
      if (pos_ >= text_.size()) return ErrorAt(start_line, "unterminated multi-line string");
      if (text_.compare(pos_, 3, delimiter) == 0) {
        // Up to two quotes may end the content: """a"""" is a" (TOML).
        size_t quotes = 3;
        while (quotes < 5 && pos_ + quotes < text_.size() && text_[pos_ + quotes] == quote) ++quotes;
        out.append(quotes - 3, quote);
        pos_ += quotes;
        return out;
      }
      if (quote == '"' && text_[pos_] == '\\') {
        ++pos_;
        // A backslash at the end of a line trims the newline and the whitespace after it.
        size_t look = pos_;
        while (look < text_.size() && (text_[look] == ' ' || text_[look] == '\t')) ++look;
        if (look < text_.size() && (text_[look] == '\n' || text_.compare(look, 2, "\r\n") == 0)) {
          pos_ = look;
          while (pos_ < text_.size() && std::isspace(static_cast<unsigned char>(text_[pos_])) != 0) Advance();
          continue;
        }
        if (absl::Status s = Escape(&out); !s.ok()) return s;
        continue;
      }
      out += text_[pos_];
      Advance();
    }
  }

  const std::string& text_;
  size_t pos_ = 0;
  int line_ = 1;
};

absl::StatusOr<std::string> AsString(const Parser& parser, const std::string& path, const Value& value) {
  if (const std::string* s = std::get_if<std::string>(&value.v)) return *s;
  return parser.ErrorAt(value.line, absl::StrCat(path, " must be a string"));
}

}  // namespace

absl::StatusOr<StartupConfig> ParseStartupToml(const std::string& text) {
  static const std::string kArgs = "startup.entry.args";
  static const std::string kEnvPrefix = "startup.entry.args.env.";
  StartupConfig config;
  Parser parser(text);
  absl::Status parsed = parser.Parse([&](const std::string& path, const Value& value) -> absl::Status {
    if (path == kArgs + ".name" || path == kArgs + ".dir") {
      absl::StatusOr<std::string> s = AsString(parser, path, value);
      if (!s.ok()) return s.status();
      (path == kArgs + ".name" ? config.program : config.dir) = *s;
    } else if (path == kArgs + ".args") {
      const auto* items = std::get_if<std::vector<Value>>(&value.v);
      if (items == nullptr) return parser.ErrorAt(value.line, path + " must be an array of strings");
      config.args.clear();
      for (const Value& item : *items) {
        absl::StatusOr<std::string> s = AsString(parser, path + "[]", item);
        if (!s.ok()) return s.status();
        config.args.push_back(*s);
      }
    } else if (path == kArgs + ".env") {
      const auto* table = std::get_if<std::map<std::string, Value>>(&value.v);
      if (table == nullptr) return parser.ErrorAt(value.line, path + " must be a table of strings");
      for (const auto& [name, item] : *table) {
        absl::StatusOr<std::string> s = AsString(parser, path + "." + name, item);
        if (!s.ok()) return s.status();
        config.env[name] = *s;
      }
    } else if (path.compare(0, kEnvPrefix.size(), kEnvPrefix) == 0) {
      // [startup.entry.args.env] NAME = "value" (a dotted NAME is one variable: A.B = "x").
      absl::StatusOr<std::string> s = AsString(parser, path, value);
      if (!s.ok()) return s.status();
      config.env[path.substr(kEnvPrefix.size())] = *s;
    }
    // Other keys and tables are not ours, whatever their values.
    return absl::OkStatus();
  });
  if (!parsed.ok()) return parsed;
  return config;
}

}  // namespace flint::flist_image
