// The parts of an OCI image config (application/vnd.oci.image.config.v1+json)
// that decide how a container process starts.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace flint::oci {

struct ImageConfig {
  std::vector<std::string> entrypoint;
  std::vector<std::string> cmd;
  std::vector<std::string> env;  // "KEY=value"
  std::string working_dir;
  std::string user;         // "", "name", "uid", "name:group", "uid:gid", ...
  std::string stop_signal;  // "SIGTERM", "TERM", "15" or ""
};

// Parses the image config JSON (the whole document; the runtime fields live
// under "config"). A missing "config" object yields an empty ImageConfig.
absl::StatusOr<ImageConfig> ParseImageConfig(std::string_view json_text);

}  // namespace flint::oci
