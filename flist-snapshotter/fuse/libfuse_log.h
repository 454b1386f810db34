// libfuse's own messages (a /dev/fuse descriptor it could not clone, a request it could not
// parse) go to stderr without a level; flintd would forward them as info. Routed through
// common/log they carry libfuse's level, and the one that changes what a takeover can promise
// says so.
#pragma once

#include <fuse3/fuse_log.h>

#include <string>
#include <string_view>

#include "common/log.h"

namespace flint::flist {

// Installs the router (fuse_set_log_func); idempotent.
void RouteLibfuseLogToFlintLog();

log::Level LibfuseLogLevel(fuse_log_level level);

// `text` without its trailing newline, with what it means for this mount where that is not
// obvious from libfuse's words.
std::string ExplainLibfuseMessage(std::string_view text);

}  // namespace flint::flist
