#include "cni/lib/gc_attachments.h"

#include "cni/lib/cni_error.h"

namespace flint::cni {

absl::StatusOr<AttachmentSet> ParseValidAttachments(const nlohmann::json& config) {
  const nlohmann::json* list = nullptr;
  for (const char* key : {"cni.dev/valid-attachments", "cni.dev/attachments"}) {
    if (config.contains(key)) {
      list = &config[key];
      break;
    }
  }
  if (list == nullptr || !list->is_array()) {
    return CniStatus(ErrorCode::kInvalidNetworkConfig, "GC needs a \"cni.dev/valid-attachments\" list");
  }
  AttachmentSet out;
  for (const nlohmann::json& a : *list) {
    if (!a.is_object() || !a.contains("containerID") || !a["containerID"].is_string()) {
      return CniStatus(ErrorCode::kInvalidNetworkConfig, "valid attachment without \"containerID\"");
    }
    std::string ifname = a.contains("ifname") && a["ifname"].is_string() ? a["ifname"].get<std::string>() : "";
    out.insert({a["containerID"].get<std::string>(), ifname});
  }
  return out;
}

}  // namespace flint::cni
