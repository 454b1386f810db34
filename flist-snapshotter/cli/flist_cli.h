// The `flist` subcommands, as a library so flintctl can mount them under
// `flintctl flist` and tests can drive them directly.
//
//   inspect FILE                        format, counts, size, routes, tags
//   ls FILE [PATH]                      like ls -l (PATH defaults to /)
//   cat FILE PATH [--store URL]         file content to `out`
//   verify FILE [--store URL]           every block present and intact
//   pack SRC_DIR|TARBALL OUT.fl --store URL [--tag KEY=VALUE]...
//
// Blocks come from --store when given, else from the flist's routes / backend
// metadata, else from config.default_store.
#pragma once

#include <ostream>
#include <string>
#include <vector>

namespace flint::flist {

struct FlistCliConfig {
  // Where v1 hub flists without backend metadata keep their blocks.
  std::string default_store = "zdb://hub.grid.tf:9900";
};

// `args` starts with the subcommand name (no "flist" in front). Returns the
// process exit code: 0 success, 1 failure, 2 usage error.
int RunFlistCommand(const std::vector<std::string>& args, std::ostream& out, std::ostream& err,
                    const FlistCliConfig& config = {});

// "drwxr-xr-x"-style rendering of an st_mode, including s/S/t/T.
std::string ModeString(unsigned int st_mode);

}  // namespace flint::flist
