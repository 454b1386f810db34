// /.startup.toml as the hub's docker converter (and `rfs docker`) write it into a flist:
//   [startup.entry]
//   name = "core.system"
//   [startup.entry.args]
//   name = "/bin/sh"            # argv0
//   args = ["-c", "echo hi"]
//   dir = "/work"
//   [startup.entry.args.env]    # or env = {K = "V"} inline
//   PATH = "/bin"
// The whole of TOML is read (values of other keys are skipped whatever they are); ours must be
// strings, an array of strings and a table of strings.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace flint::flist_image {

// `program` plays the part of an OCI image's Entrypoint and `args` of its Cmd: a container whose
// CRI config gives only args runs `program` with those args instead of these.
struct StartupConfig {
  std::string program;  // [startup.entry.args] name
  std::vector<std::string> args;
  std::map<std::string, std::string> env;
  std::string dir;
};

absl::StatusOr<StartupConfig> ParseStartupToml(const std::string& text);

}  // namespace flint::flist_image
