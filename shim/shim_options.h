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
  std::string state_dir;
  std::string log_path;
  std::string socket_path;
  bool tty = false;
  bool stdin_open = false;
  int create_timeout_s = 60;
  bool foreground = false;  // debugging: do not detach
};

// Returns false and sets *error on unknown flags or missing required ones.
bool ParseShimOptions(int argc, const char* const* argv, ShimOptions* options, std::string* error);

}  // namespace flint::shim
