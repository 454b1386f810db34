// Command line of flint-shim (see shim/README.md).
#pragma once

#include <string>
#include <vector>

namespace flint::shim {

struct ShimOptions {
  std::string id;
  std::string bundle;
  std::string runtime;
  std::vector<std::string> runtime_args;  // global runtime flags, before the subcommand
  // --runtime-fd: an inherited sealed copy of the runtime binary (common/sealed_exec_copy.h).
  int runtime_fd = -1;
  // What is executed for the runtime: the copy's /proc/self/fd path when main() accepted it, else empty
  // (run `runtime` itself).
  std::string runtime_exec;
  std::string state_dir;
  std::string log_path;
  std::string socket_path;
  bool tty = false;
  bool stdin_open = false;
  int create_timeout_s = 60;
  bool foreground = false;  // debugging: do not detach
  // "redis://<ip>:<port>/<stdout-channel>[,<stderr-channel>]": also PUBLISH each log record
  // there (shim/redis_log_publisher.h). Empty: off.
  std::string logs_redis;
};

// Returns false and sets *error on unknown flags or missing required ones.
bool ParseShimOptions(int argc, const char* const* argv, ShimOptions* options, std::string* error);

}  // namespace flint::shim
