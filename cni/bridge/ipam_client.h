// Delegation to the IPAM plugin named in ipam.type.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "cni/lib/plugin_exec.h"
#include "cni/lib/plugin_main.h"
#include "cni/lib/result.h"

namespace flint::cni {

// An IPAM command running in the background while the bridge plugin sets up links.
class PendingIpam {
 public:
  static absl::StatusOr<PendingIpam> Start(const PluginRequest& req, const std::string& ipam_type,
                                           absl::string_view command);
  // The parsed result (ADD) or just the status (CHECK/DEL); repeatable.
  absl::StatusOr<Result> WaitResult();
  absl::Status Wait();

 private:
  std::string type_;
  std::string command_;
  std::shared_ptr<RunningPlugin> running_;
};

absl::Status IpamDel(const PluginRequest& req, const std::string& ipam_type);

}  // namespace flint::cni
