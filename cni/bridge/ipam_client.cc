#include "cni/bridge/ipam_client.h"

#include "absl/strings/str_cat.h"
#include "cni/lib/cni_error.h"

namespace flint::cni {

absl::StatusOr<PendingIpam> PendingIpam::Start(const PluginRequest& req, const std::string& ipam_type,
                                               absl::string_view command) {
  const std::string context = absl::StrCat("ipam ", ipam_type, " ", command);
  absl::StatusOr<std::string> path = FindPlugin(ipam_type, req.env.path);
  if (!path.ok()) return WithContext(path.status(), context);
  absl::StatusOr<std::unique_ptr<RunningPlugin>> running = RunningPlugin::Start(*path, command, req.config_bytes);
  if (!running.ok()) return WithContext(running.status(), context);
  PendingIpam pending;
  pending.type_ = ipam_type;
  pending.command_ = std::string(command);
  pending.running_ = std::move(*running);
  return pending;
}

absl::Status PendingIpam::Wait() {
  absl::StatusOr<std::string> out = running_->Wait();
  if (!out.ok()) return WithContext(out.status(), absl::StrCat("ipam ", type_, " ", command_));
  return absl::OkStatus();
}

absl::StatusOr<Result> PendingIpam::WaitResult() {
  const std::string context = absl::StrCat("ipam ", type_, " ", command_);
  absl::StatusOr<std::string> out = running_->Wait();
  if (!out.ok()) return WithContext(out.status(), context);
  absl::StatusOr<Result> result = ParseResult(nlohmann::json::parse(*out, nullptr, false));
  if (!result.ok()) return WithContext(result.status(), context);
  if (result->ips.empty()) return CniStatus(ErrorCode::kInternal, absl::StrCat(context, ": no IP addresses returned"));
  return result;
}

absl::Status IpamDel(const PluginRequest& req, const std::string& ipam_type) {
  absl::StatusOr<PendingIpam> pending = PendingIpam::Start(req, ipam_type, "DEL");
  if (!pending.ok()) return pending.status();
  return pending->Wait();
}

}  // namespace flint::cni
