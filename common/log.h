// Leveled, one-line-per-event logging to stderr.
//   FLINT_LOG(INFO) << "pulled " << ref;
//   FLINT_LOG(DEBUG) << "rpc=Version took_ms=" << ms;
#pragma once

#include <cstdint>
#include <sstream>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace flint::log {

enum class Level { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

void SetLevel(Level level);
Level GetLevel();
bool Enabled(Level level);
absl::StatusOr<Level> ParseLevel(std::string_view name);

// When stderr is a regular file, empty it before a line would take it past `bytes` (0: no cap).
// For detached processes that log to a file nobody rotates; appending writers (O_APPEND) in
// other processes go on at its new end.
void CapStderrFile(uint64_t bytes);
std::string_view LevelName(Level level);

// Collects one event and writes it as a single line when destroyed.
class Line {
 public:
  Line(Level level, const char* file, int line);
  ~Line();
  Line(const Line&) = delete;
  Line& operator=(const Line&) = delete;
  template <typename T>
  Line& operator<<(const T& value) {
    stream_ << value;
    return *this;
  }

 private:
  Level level_;
  std::ostringstream stream_;
};

// Turns a streamed Line into void so both branches of FLINT_LOG's `?:` agree.
struct Voidify {
  void operator&(const Line&) const {}
};

}  // namespace flint::log

#define FLINT_LOG_LEVEL_DEBUG ::flint::log::Level::kDebug
#define FLINT_LOG_LEVEL_INFO ::flint::log::Level::kInfo
#define FLINT_LOG_LEVEL_WARN ::flint::log::Level::kWarn
#define FLINT_LOG_LEVEL_ERROR ::flint::log::Level::kError

// An expression, not an if/else, so FLINT_LOG inside an unbraced `if` has no dangling `else`.
// `&` binds looser than `<<`: the whole streamed line is built before Voidify swallows it.
#define FLINT_LOG(severity)                                       \
  !::flint::log::Enabled(FLINT_LOG_LEVEL_##severity)              \
      ? (void)0                                                   \
      : ::flint::log::Voidify() & ::flint::log::Line(FLINT_LOG_LEVEL_##severity, __FILE__, __LINE__)
