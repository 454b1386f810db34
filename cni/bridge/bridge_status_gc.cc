#include "absl/strings/str_cat.h"
#include "cni/bridge/bridge_commands.h"
#include "cni/bridge/bridge_config.h"
#include "cni/bridge/ipam_client.h"
#include "cni/lib/cni_error.h"
#include "cni/lib/gc_attachments.h"

namespace flint::cni {
namespace {

absl::StatusOr<std::optional<nlohmann::json>> DelegateToIpam(const PluginRequest& req, absl::string_view command) {
  absl::StatusOr<BridgeConfig> cfg = ParseBridgeConfig(req.config);
  if (!cfg.ok()) return WithContext(cfg.status(), "parse config");
  absl::StatusOr<PendingIpam> ipam = PendingIpam::Start(req, cfg->ipam_type, command);
  if (!ipam.ok()) return ipam.status();
  FLINT_CNI_RETURN_IF_ERROR(ipam->Wait(), absl::StrCat(command));
  return std::optional<nlohmann::json>();
}

}  // namespace

absl::StatusOr<std::optional<nlohmann::json>> BridgeStatus(const PluginRequest& req) {
  return DelegateToIpam(req, "STATUS");
}

absl::StatusOr<std::optional<nlohmann::json>> BridgeGc(const PluginRequest& req) {
  // Validate before handing over so a malformed list is reported as ours.
  absl::StatusOr<AttachmentSet> valid = ParseValidAttachments(req.config);
  if (!valid.ok()) return valid.status();
  return DelegateToIpam(req, "GC");
}

}  // namespace flint::cni
