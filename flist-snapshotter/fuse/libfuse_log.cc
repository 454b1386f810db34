#include "flist-snapshotter/fuse/libfuse_log.h"

#include <cstdarg>
#include <cstdio>
#include <mutex>

#include "absl/strings/str_cat.h"

namespace flint::flist {
namespace {

void LogLibfuseMessage(fuse_log_level level, const char* format, va_list args) {
  const log::Level ours = LibfuseLogLevel(level);
  if (!log::Enabled(ours)) return;
  char text[1024];
  std::vsnprintf(text, sizeof(text), format, args);
  log::Line(ours, "libfuse", 0) << ExplainLibfuseMessage(text);
}

}  // namespace

log::Level LibfuseLogLevel(fuse_log_level level) {
  switch (level) {
    case FUSE_LOG_EMERG:
    case FUSE_LOG_ALERT:
    case FUSE_LOG_CRIT:
    case FUSE_LOG_ERR:
      return log::Level::kError;
    case FUSE_LOG_WARNING:
      return log::Level::kWarn;
    case FUSE_LOG_NOTICE:
    case FUSE_LOG_INFO:
      return log::Level::kInfo;
    case FUSE_LOG_DEBUG:
      break;
  }
  return log::Level::kDebug;
}

std::string ExplainLibfuseMessage(std::string_view text) {
  std::string_view line = text;
  while (!line.empty() && (line.back() == '\n' || line.back() == ' ')) line.remove_suffix(1);
  // fuse_loop_mt falls back to the session's one descriptor when it cannot clone one per thread
  // (FlistMountOptions::resend_on_takeover): on kernels that cannot resend, a killed server's
  // unanswered requests then stay taken by the keeper's copy of that descriptor.
  if (line.find("without -o clone_fd") != std::string_view::npos) {
    return absl::StrCat(std::string(line),
                        " (on kernels without FUSE_NOTIFY_RESEND, before Linux 6.9, a read this server has taken "
                        "when it dies now waits until the mount ends instead of being failed and retried)");
  }
  return std::string(line);
}

void RouteLibfuseLogToFlintLog() {
  static std::once_flag once;
  std::call_once(once, [] { fuse_set_log_func(&LogLibfuseMessage); });
}

}  // namespace flint::flist
