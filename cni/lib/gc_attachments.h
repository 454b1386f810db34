// The attachment list a runtime passes with GC (spec 1.1.0).
#pragma once

#include <set>
#include <string>
#include <utility>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace flint::cni {

// (containerID, ifname) pairs that must survive garbage collection.
using AttachmentSet = std::set<std::pair<std::string, std::string>>;

// Reads "cni.dev/valid-attachments" (or the "cni.dev/attachments" spelling some
// runtimes also send). Its absence is an error rather than "nothing is valid".
absl::StatusOr<AttachmentSet> ParseValidAttachments(const nlohmann::json& config);

}  // namespace flint::cni
