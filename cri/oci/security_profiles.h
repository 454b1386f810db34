// seccomp and AppArmor selection from CRI SecurityProfile (and the deprecated
// string fields older kubelets still send).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "api.pb.h"

namespace flint::oci {

struct ProfileChoice {
  enum class Kind { kUnconfined, kRuntimeDefault, kLocalhost };
  Kind kind = Kind::kUnconfined;
  std::string localhost_ref;  // seccomp: absolute file path; AppArmor: profile name
};

// The typed field wins when present; else the deprecated string
// ("", "unconfined", "runtime/default", "docker/default", "localhost/<ref>").
// Nothing at all means Unconfined (containerd's behaviour; kubelet always
// sends a profile).
absl::StatusOr<ProfileChoice> ChooseProfile(const runtime::v1::SecurityProfile* profile,
                                            const std::string& deprecated);

// linux.seccomp for the process, or nullopt for unconfined/privileged.
absl::StatusOr<std::optional<nlohmann::json>> SeccompFor(const ProfileChoice& choice, bool privileged,
                                                         const std::vector<std::string>& capabilities);

// process.apparmorProfile, or "" for none. With AppArmor disabled on the host,
// RuntimeDefault/Unconfined are ignored and Localhost is an error.
absl::StatusOr<std::string> AppArmorProfileFor(const ProfileChoice& choice, bool privileged, bool apparmor_enabled,
                                               const std::string& default_profile);

}  // namespace flint::oci
