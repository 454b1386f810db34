#include "cni/lib/version.h"

#include "absl/strings/match.h"

#include <algorithm>

namespace flint::cni {

const std::vector<std::string>& SupportedVersions() {
  static const std::vector<std::string> kVersions = {"0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"};
  return kVersions;
}

bool IsSupportedVersion(absl::string_view version) {
  const auto& all = SupportedVersions();
  return std::find(all.begin(), all.end(), version) != all.end();
}

bool ResultHasIpVersionField(absl::string_view version) { return absl::StartsWith(version, "0."); }

bool VersionSupportsCheck(absl::string_view version) {
  return version == "0.4.0" || !absl::StartsWith(version, "0.");
}

bool VersionSupportsStatusAndGc(absl::string_view version) {
  return !absl::StartsWith(version, "0.") && version != "1.0.0";
}

}  // namespace flint::cni
