// flintd's side of flint-shim: spawns a shim and talks to it over its socket
// (line-delimited JSON, one connection per call).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "shim/status_file.h"

namespace flint::shim {

struct ShimSpawnOptions {
  std::string shim_binary;  // path to flint-shim
  std::string id;
  std::string bundle;
  std::string runtime;  // e.g. /usr/bin/crun
  std::vector<std::string> runtime_args;
  int runtime_fd = -1;  // a sealed copy of the runtime (common/sealed_exec_copy.h) the shim runs instead
  std::string state_dir;
  std::string log_path;
  std::string socket_path;
  bool tty = false;
  bool stdin_open = false;
  std::string logs_redis;  // --logs-redis (IP form, see shim/redis_log_publisher.h); empty: off
  absl::Duration timeout = absl::Seconds(60);  // create + first answer
};

struct ExecUser {
  uint32_t uid = 0;
  uint32_t gid = 0;
  std::vector<uint32_t> additional_gids;
};

struct ExecRequest {
  std::vector<std::string> args;
  std::vector<std::string> env;  // NAME=VALUE, merged over the container's env
  std::string cwd;               // empty: the container's
  std::optional<ExecUser> user;  // unset: the container's
  absl::Duration timeout = absl::ZeroDuration();  // zero: none
  std::string stdin_data;
  bool tty = false;  // output (merged, with \r\n) arrives as stdout
};

struct ExecResult {
  int exit_code = 0;
  bool timed_out = false;
  std::string stdout_data;  // each capped at 16 MiB
  std::string stderr_data;
  bool stdout_truncated = false;
  bool stderr_truncated = false;
};

class ShimClient {
 public:
  explicit ShimClient(std::string socket_path) : socket_path_(std::move(socket_path)) {}

  // Runs flint-shim, which returns once the container is created (or with the
  // runtime's error), then waits until the socket answers.
  static absl::StatusOr<ShimClient> Spawn(const ShimSpawnOptions& options);
  // For when the shim is gone (exited, crashed, host rebooted).
  static absl::StatusOr<ShimStatus> ReadStatusFile(const std::string& state_dir);

  absl::StatusOr<ShimStatus> Status();
  absl::StatusOr<ShimStatus> Start();
  absl::Status Kill(int signal_number, bool all = false);
  // A non-zero exit code is a result, not an error. A timeout sets timed_out.
  absl::StatusOr<ExecResult> Exec(const ExecRequest& request);
  absl::Status Reopen();
  // Deletes the container in the runtime; the shim exits afterwards.
  absl::StatusOr<ShimStatus> Delete();

  const std::string& socket_path() const { return socket_path_; }
  void set_call_timeout(absl::Duration timeout) { call_timeout_ = timeout; }

 private:
  // Sends one JSON request, returns the parsed reply (already checked for ok).
  absl::StatusOr<std::string> Call(const std::string& request_json, absl::Duration timeout);

  std::string socket_path_;
  absl::Duration call_timeout_ = absl::Seconds(60);
};

}  // namespace flint::shim
