// Runs another CNI plugin (delegated IPAM) the way a runtime would.
#pragma once

#include <sys/types.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace flint::cni {

// Returns the first "<dir>/<type>" that is an executable file.
absl::StatusOr<std::string> FindPlugin(absl::string_view type, const std::vector<std::string>& dirs);

// A delegated plugin started in the background, so that the caller can do its
// own work (netlink) while the plugin runs.
class RunningPlugin {
 public:
  // Starts `plugin_path` with this process's environment, CNI_COMMAND replaced by
  // `command`, `stdin_bytes` on stdin.
  static absl::StatusOr<std::unique_ptr<RunningPlugin>> Start(const std::string& plugin_path,
                                                              absl::string_view command,
                                                              const std::string& stdin_bytes);
  ~RunningPlugin();
  RunningPlugin(const RunningPlugin&) = delete;
  RunningPlugin& operator=(const RunningPlugin&) = delete;

  // Waits for exit. Returns stdout on exit 0; otherwise the plugin's CNI error
  // (code, msg, details preserved). Later calls return the same outcome.
  absl::StatusOr<std::string> Wait();

 private:
  RunningPlugin() = default;
  std::string path_;
  pid_t pid_ = -1;
  int to_child_ = -1;
  int from_child_ = -1;
  std::string pending_input_;  // stdin not yet accepted by the pipe
  std::optional<absl::StatusOr<std::string>> outcome_;
};

// Start + Wait.
absl::StatusOr<std::string> ExecPlugin(const std::string& plugin_path, absl::string_view command,
                                       const std::string& stdin_bytes);

}  // namespace flint::cni
