// CNI spec versions this project speaks.
#pragma once

#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace flint::cni {

inline constexpr char kCurrentVersion[] = "1.1.0";

const std::vector<std::string>& SupportedVersions();
bool IsSupportedVersion(absl::string_view version);
// Pre-1.0 results tag every IP with "version": "4"|"6".
bool ResultHasIpVersionField(absl::string_view version);
// CHECK exists from 0.4.0 on.
bool VersionSupportsCheck(absl::string_view version);
// STATUS and GC exist from 1.1.0 on.
bool VersionSupportsStatusAndGc(absl::string_view version);

}  // namespace flint::cni
