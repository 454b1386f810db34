// Direct calls to the OCI runtime binary for what flintd does itself rather than through a
// shim: `update` of resources, `delete --force` when a shim is gone, `state`.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "cri/config/config.h"

namespace flint::runtime {

// Runs `<handler.path> <handler.args...> <args...>`, feeding stdin_data, bounded by timeout.
// Returns stdout; a non-zero exit is an error carrying stderr. `exec_path`, when set, is the
// file executed instead of handler.path (a sealed copy's /proc/self/fd path); argv[0] and
// error messages keep handler.path.
absl::StatusOr<std::string> RunOciRuntime(const RuntimeHandler& handler, const std::vector<std::string>& args,
                                          const std::string& stdin_data = "",
                                          absl::Duration timeout = absl::Seconds(30),
                                          const std::string& exec_path = "");

}  // namespace flint::runtime
