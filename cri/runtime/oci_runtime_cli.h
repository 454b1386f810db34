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
// Returns stdout; a non-zero exit is an error carrying stderr.
absl::StatusOr<std::string> RunOciRuntime(const RuntimeHandler& handler, const std::vector<std::string>& args,
                                          const std::string& stdin_data = "",
                                          absl::Duration timeout = absl::Seconds(30));

}  // namespace flint::runtime
