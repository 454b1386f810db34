// Error helpers shared by the image service: errno mapping and context added on the way up.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/status.h"

namespace flint::image {

// Every Unavailable error leaving Pull starts with this; the CRI handler maps it to gRPC Unknown
// with the message kubelet shows (ErrRegistryUnavailable).
inline constexpr char kRegistryUnavailablePrefix[] = "RegistryUnavailable: ";

// errno -> status: ENOSPC/EDQUOT -> ResourceExhausted, ENOENT -> NotFound, else Internal.
// The message is "<what>: <strerror>".
absl::Status ErrnoStatus(int err, std::string_view what);

// Prefixes the message with "<context>: ", keeping the code; Unavailable errors get the
// RegistryUnavailable prefix in front of everything.
absl::Status WithContext(const absl::Status& status, const std::string& context);

}  // namespace flint::image
