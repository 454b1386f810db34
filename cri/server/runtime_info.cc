#include <unistd.h>

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "cri/server/runtime_service.h"

namespace flint::server {
namespace {

constexpr char kKubeletApiVersion[] = "0.1.0";  // kubelet compares this literally
constexpr char kRuntimeName[] = "flint";
constexpr char kRuntimeApiVersion[] = "v1";

void SetCondition(v1::RuntimeCondition* c, const std::string& type, bool ok, const std::string& reason,
                  const std::string& message) {
  c->set_type(type);
  c->set_status(ok);
  if (!ok) {
    c->set_reason(reason);
    c->set_message(message);
  }
}

}  // namespace

RuntimeServiceImpl::RuntimeServiceImpl(const Config& config, runtime::PodRuntime* pods, cni::CniManager* cni)
    : config_(config), pods_(pods), cni_(cni) {
  absl::StatusOr<std::unique_ptr<stats::CgroupStatsReader>> reader = stats::MakeCgroupStatsReader();
  if (reader.ok()) {
    stats_ = std::make_unique<stats::StatsCollector>(std::move(*reader));
  } else {
    FLINT_LOG(WARN) << "container stats without cgroup numbers: " << reader.status().message();
  }
  StartRedisStatsSinks();
}

RuntimeServiceImpl::~RuntimeServiceImpl() = default;

grpc::Status RuntimeServiceImpl::Version(grpc::ServerContext*, const v1::VersionRequest*,
                                         v1::VersionResponse* response) {
  response->set_version(kKubeletApiVersion);
  response->set_runtime_name(kRuntimeName);
  response->set_runtime_version(FLINT_VERSION);
  response->set_runtime_api_version(kRuntimeApiVersion);
  return grpc::Status::OK;
}

grpc::Status RuntimeServiceImpl::Status(grpc::ServerContext*, const v1::StatusRequest* request,
                                        v1::StatusResponse* response) {
  const RuntimeHandler& handler = config_.runtimes.at(config_.default_runtime);
  bool runtime_ok = access(handler.path.c_str(), X_OK) == 0;
  std::string runtime_message;
  if (!runtime_ok) {
    runtime_message = absl::StrCat("OCI runtime \"", config_.default_runtime, "\" at ", handler.path,
                                   " is not executable: ", strerror(errno));
  } else if (access(config_.state_dir.c_str(), W_OK) != 0) {
    runtime_ok = false;
    runtime_message = absl::StrCat("state dir ", config_.state_dir, " is not writable: ", strerror(errno));
  }
  SetCondition(response->mutable_status()->add_conditions(), "RuntimeReady", runtime_ok, "RuntimeNotReady",
               runtime_message);

  absl::StatusOr<cni::NetworkConfig> network = cni_->CurrentConfig();
  absl::Status network_ready = network.ok() ? cni_->Ready() : network.status();
  SetCondition(response->mutable_status()->add_conditions(), "NetworkReady", network_ready.ok(),
               "NetworkPluginNotReady",
               network_ready.ok() ? "" : absl::StrCat("cni config uninitialized: ", network_ready.message()));

  // The default handler is reported under the empty name, as the kubelet expects.
  v1::RuntimeHandler* default_handler = response->add_runtime_handlers();
  default_handler->set_name("");
  for (const auto& [name, _] : config_.runtimes) response->add_runtime_handlers()->set_name(name);

  if (request->verbose()) {
    auto& info = *response->mutable_info();
    info["config"] = ConfigToJson(config_);
    info["cgroupDriver"] = nlohmann::json(CgroupDriverName(config_.cgroup_driver)).dump();
    info["network"] = network.ok() ? nlohmann::json{{"name", network->name},
                                                    {"path", network->path},
                                                    {"plugins", network->plugin_types}}
                                         .dump()
                                   : nlohmann::json{{"error", network.status().message()}}.dump();
  }
  return grpc::Status::OK;
}

grpc::Status RuntimeServiceImpl::RuntimeConfig(grpc::ServerContext*, const v1::RuntimeConfigRequest*,
                                               v1::RuntimeConfigResponse* response) {
  response->mutable_linux()->set_cgroup_driver(config_.cgroup_driver == CgroupDriver::kSystemd
                                                   ? v1::CgroupDriver::SYSTEMD
                                                   : v1::CgroupDriver::CGROUPFS);
  return grpc::Status::OK;
}

grpc::Status RuntimeServiceImpl::UpdateRuntimeConfig(grpc::ServerContext*,
                                                     const v1::UpdateRuntimeConfigRequest* request,
                                                     v1::UpdateRuntimeConfigResponse*) {
  if (request->has_runtime_config() && request->runtime_config().has_network_config()) {
    FLINT_LOG(INFO) << "kubelet pod CIDR: " << request->runtime_config().network_config().pod_cidr();
  }
  return grpc::Status::OK;
}

}  // namespace flint::server
