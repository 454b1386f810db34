// Linux capability sets for container processes (containerd CRI semantics).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace flint::oci {

// Every capability name this build knows, "CAP_CHOWN" .. "CAP_CHECKPOINT_RESTORE",
// in kernel bit order.
const std::vector<std::string>& KnownCapabilities();

// containerd's default set for unprivileged containers.
const std::vector<std::string>& DefaultCapabilities();

// "net_admin", "NET_ADMIN", "CAP_NET_ADMIN" -> "CAP_NET_ADMIN"; "all" -> "ALL".
// Unknown names are InvalidArgument.
absl::StatusOr<std::string> NormalizeCapability(std::string_view name);

// Applies CRI add/drop lists to `base`. "ALL" in add means every capability in
// `all`; "ALL" in drop empties the set first; individual adds then drops apply
// after the ALL keywords, so add=[ALL] drop=[CHOWN] is everything but CHOWN.
absl::StatusOr<std::vector<std::string>> ApplyCapabilityChanges(const std::vector<std::string>& base,
                                                                const std::vector<std::string>& all,
                                                                const std::vector<std::string>& add,
                                                                const std::vector<std::string>& drop);

// The capabilities this process holds (permitted and in the bounding set, from
// /proc/self/status). A container cannot get more than the runtime holds (a VM
// may withhold e.g. CAP_SYS_RESOURCE), so "all capabilities" means these.
absl::StatusOr<std::vector<std::string>> CurrentProcessCapabilities();

// Converts a capability bitmask to names (bits this build does not know are skipped).
std::vector<std::string> CapabilitiesFromMask(uint64_t mask);

}  // namespace flint::oci
