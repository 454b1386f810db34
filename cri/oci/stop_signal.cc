#include "cri/oci/stop_signal.h"

#include <csignal>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/log.h"

namespace flint::oci {
namespace {

struct NamedSignal {
  const char* name;
  int number;
};

constexpr NamedSignal kSignals[] = {
    {"ABRT", SIGABRT}, {"ALRM", SIGALRM}, {"BUS", SIGBUS},     {"CHLD", SIGCHLD},   {"CLD", SIGCHLD},
    {"CONT", SIGCONT}, {"FPE", SIGFPE},   {"HUP", SIGHUP},     {"ILL", SIGILL},     {"INT", SIGINT},
    {"IO", SIGIO},     {"IOT", SIGIOT},   {"KILL", SIGKILL},   {"PIPE", SIGPIPE},   {"POLL", SIGPOLL},
    {"PROF", SIGPROF}, {"PWR", SIGPWR},   {"QUIT", SIGQUIT},   {"SEGV", SIGSEGV},   {"STKFLT", SIGSTKFLT},
    {"STOP", SIGSTOP}, {"SYS", SIGSYS},   {"TERM", SIGTERM},   {"TRAP", SIGTRAP},   {"TSTP", SIGTSTP},
    {"TTIN", SIGTTIN}, {"TTOU", SIGTTOU}, {"URG", SIGURG},     {"USR1", SIGUSR1},   {"USR2", SIGUSR2},
    {"VTALRM", SIGVTALRM}, {"WINCH", SIGWINCH}, {"XCPU", SIGXCPU}, {"XFSZ", SIGXFSZ},
};

// glibc reserves the first real-time signals, so SIGRTMIN is a runtime value;
// the kernel numbering (what runc/crun and Go use) starts at 34 and ends at 64.
constexpr int kKernelRtMin = 34;
constexpr int kKernelRtMax = 64;

}  // namespace

absl::StatusOr<int> ParseSignal(std::string_view name_in) {
  const absl::string_view name(name_in.data(), name_in.size());
  std::string upper = absl::AsciiStrToUpper(absl::StripAsciiWhitespace(name));
  int number = 0;
  if (absl::SimpleAtoi(upper, &number)) {
    if (number <= 0 || number > kKernelRtMax) return absl::InvalidArgumentError(absl::StrCat("invalid signal ", name));
    return number;
  }
  absl::string_view n = upper;
  absl::ConsumePrefix(&n, "SIG");
  for (const auto& s : kSignals) {
    if (n == s.name) return s.number;
  }
  auto rt = [&](absl::string_view base, int origin, int sign) -> absl::StatusOr<int> {
    absl::string_view rest = n.substr(base.size());
    int offset = 0;
    if (!rest.empty()) {
      char op = rest[0];
      if ((sign > 0 && op != '+') || (sign < 0 && op != '-') || !absl::SimpleAtoi(rest.substr(1), &offset) || offset < 0) {
        return absl::InvalidArgumentError(absl::StrCat("invalid signal ", name));
      }
    }
    int v = origin + sign * offset;
    if (v < kKernelRtMin || v > kKernelRtMax) return absl::InvalidArgumentError(absl::StrCat("invalid signal ", name));
    return v;
  };
  if (absl::StartsWith(n, "RTMIN")) return rt("RTMIN", kKernelRtMin, +1);
  if (absl::StartsWith(n, "RTMAX")) return rt("RTMAX", kKernelRtMax, -1);
  return absl::InvalidArgumentError(absl::StrCat("unknown signal \"", name, "\""));
}

int SignalFromCri(runtime::v1::Signal signal) {
  if (signal == runtime::v1::SIGNAL_RUNTIME_DEFAULT) return 0;
  std::string name = runtime::v1::Signal_Name(signal);  // e.g. "SIGNAL_SIGRTMINPLUS3"
  absl::string_view n = name;
  absl::ConsumePrefix(&n, "SIGNAL_");
  std::string spec(n);
  if (size_t p = spec.find("PLUS"); p != std::string::npos) spec.replace(p, 4, "+");
  if (size_t p = spec.find("MINUS"); p != std::string::npos) spec.replace(p, 5, "-");
  auto parsed = ParseSignal(spec);
  return parsed.ok() ? *parsed : 0;
}

int ResolveStopSignal(runtime::v1::Signal container_stop_signal, std::string_view image_stop_signal) {
  if (int s = SignalFromCri(container_stop_signal); s != 0) return s;
  if (!image_stop_signal.empty()) {
    auto parsed = ParseSignal(image_stop_signal);
    if (parsed.ok()) return *parsed;
    FLINT_LOG(WARN) << "image STOPSIGNAL \"" << std::string(image_stop_signal) << "\" ignored: " << parsed.status().message();
  }
  return SIGTERM;
}

}  // namespace flint::oci
