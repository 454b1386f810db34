#include "cri/oci/security_profiles.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "cri/oci/seccomp_profile.h"

namespace flint::oci {

absl::StatusOr<ProfileChoice> ChooseProfile(const runtime::v1::SecurityProfile* profile,
                                            const std::string& deprecated) {
  ProfileChoice out;
  if (profile != nullptr) {
    switch (profile->profile_type()) {
      case runtime::v1::SecurityProfile::RuntimeDefault: out.kind = ProfileChoice::Kind::kRuntimeDefault; break;
      case runtime::v1::SecurityProfile::Unconfined: out.kind = ProfileChoice::Kind::kUnconfined; break;
      case runtime::v1::SecurityProfile::Localhost:
        if (profile->localhost_ref().empty()) return absl::InvalidArgumentError("Localhost profile without localhost_ref");
        out.kind = ProfileChoice::Kind::kLocalhost;
        out.localhost_ref = profile->localhost_ref();
        break;
      default:
        return absl::InvalidArgumentError(absl::StrCat("unknown security profile type ", profile->profile_type()));
    }
    return out;
  }
  if (deprecated.empty() || deprecated == "unconfined") return out;
  if (deprecated == "runtime/default" || deprecated == "docker/default") {
    out.kind = ProfileChoice::Kind::kRuntimeDefault;
    return out;
  }
  if (absl::StartsWith(deprecated, "localhost/")) {
    out.kind = ProfileChoice::Kind::kLocalhost;
    out.localhost_ref = deprecated.substr(std::string("localhost/").size());
    return out;
  }
  return absl::InvalidArgumentError(absl::StrCat("unknown security profile \"", deprecated, "\""));
}

absl::StatusOr<std::optional<nlohmann::json>> SeccompFor(const ProfileChoice& choice, bool privileged,
                                                         const std::vector<std::string>& capabilities) {
  if (privileged) return std::nullopt;
  switch (choice.kind) {
    case ProfileChoice::Kind::kUnconfined: return std::nullopt;
    case ProfileChoice::Kind::kRuntimeDefault: return RuntimeDefaultSeccompProfile(capabilities);
    case ProfileChoice::Kind::kLocalhost: {
      auto profile = LoadLocalhostSeccompProfile(choice.localhost_ref, capabilities);
      if (!profile.ok()) return profile.status();
      return *std::move(profile);
    }
  }
  return std::nullopt;
}

absl::StatusOr<std::string> AppArmorProfileFor(const ProfileChoice& choice, bool privileged, bool apparmor_enabled,
                                               const std::string& default_profile) {
  if (privileged) return std::string();
  if (!apparmor_enabled) {
    if (choice.kind == ProfileChoice::Kind::kLocalhost) {
      return absl::InvalidArgumentError(absl::StrCat("apparmor profile \"", choice.localhost_ref,
                                                     "\" requested but AppArmor is not enabled on this host"));
    }
    return std::string();
  }
  switch (choice.kind) {
    case ProfileChoice::Kind::kUnconfined: return std::string();
    case ProfileChoice::Kind::kRuntimeDefault: return default_profile;
    case ProfileChoice::Kind::kLocalhost: return choice.localhost_ref;
  }
  return std::string();
}

}  // namespace flint::oci
