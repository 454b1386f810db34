// /proc/sys access for the current thread's network namespace.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace flint::cni {

// `key` uses dots or slashes: "net.ipv4.ip_forward" or "net/ipv4/ip_forward".
// Interface names may contain dots, so pass slash form for per-interface keys.
absl::StatusOr<std::string> ReadSysctl(absl::string_view key);
absl::Status WriteSysctl(absl::string_view key, absl::string_view value);

}  // namespace flint::cni
