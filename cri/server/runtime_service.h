// runtime.v1.RuntimeService. Handlers are split by RPC group:
//   runtime_info.cc       Version, Status, RuntimeConfig, UpdateRuntimeConfig
//   runtime_sandbox.cc    RunPodSandbox, StopPodSandbox, RemovePodSandbox, PodSandboxStatus, ListPodSandbox
//   runtime_container.cc  CreateContainer, StartContainer, StopContainer, RemoveContainer,
//                         ContainerStatus, ListContainers, UpdateContainerResources, ReopenContainerLog
//   runtime_exec.cc       ExecSync
//   runtime_stats.cc      ContainerStats, ListContainerStats, PodSandboxStats, ListPodSandboxStats,
//                         ListMetricDescriptors, ListPodSandboxMetrics, and the /metrics endpoint
// RPCs without an override answer UNIMPLEMENTED (the interceptor names the RPC).
#pragma once

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "absl/status/status.h"
#include "api.grpc.pb.h"
#include "cri/cni/cni_manager.h"
#include "cri/config/config.h"
#include "cri/runtime/pod_runtime.h"
#include "cri/runtime/stats_source.h"
#include "cri/stats/metrics_http_server.h"
#include "cri/stats/metrics_registry.h"
#include "cri/stats/redis_stats_sinks.h"
#include "cri/stats/stats_collector.h"

namespace flint::streaming {
class StreamingServer;
}  // namespace flint::streaming

namespace flint::server {

namespace v1 = ::runtime::v1;

class RuntimeServiceImpl final : public v1::RuntimeService::Service {
 public:
  RuntimeServiceImpl(const Config& config, runtime::PodRuntime* pods, cni::CniManager* cni);
  ~RuntimeServiceImpl() override;

  // flintd's own Prometheus metrics (the RPC interceptor records into them).
  stats::FlintMetrics& metrics() { return metrics_; }
  // Serves GET /metrics on `address` ("host:port") until this service is destroyed.
  absl::Status ServeMetrics(const std::string& address);
  uint16_t metrics_port() const { return metrics_http_ ? metrics_http_->port() : 0; }

  grpc::Status Version(grpc::ServerContext* context, const v1::VersionRequest* request,
                       v1::VersionResponse* response) override;
  grpc::Status Status(grpc::ServerContext* context, const v1::StatusRequest* request,
                      v1::StatusResponse* response) override;
  grpc::Status RuntimeConfig(grpc::ServerContext* context, const v1::RuntimeConfigRequest* request,
                             v1::RuntimeConfigResponse* response) override;
  grpc::Status UpdateRuntimeConfig(grpc::ServerContext* context, const v1::UpdateRuntimeConfigRequest* request,
                                   v1::UpdateRuntimeConfigResponse* response) override;

  grpc::Status RunPodSandbox(grpc::ServerContext* context, const v1::RunPodSandboxRequest* request,
                             v1::RunPodSandboxResponse* response) override;
  grpc::Status StopPodSandbox(grpc::ServerContext* context, const v1::StopPodSandboxRequest* request,
                              v1::StopPodSandboxResponse* response) override;
  grpc::Status RemovePodSandbox(grpc::ServerContext* context, const v1::RemovePodSandboxRequest* request,
                                v1::RemovePodSandboxResponse* response) override;
  grpc::Status PodSandboxStatus(grpc::ServerContext* context, const v1::PodSandboxStatusRequest* request,
                                v1::PodSandboxStatusResponse* response) override;
  grpc::Status ListPodSandbox(grpc::ServerContext* context, const v1::ListPodSandboxRequest* request,
                              v1::ListPodSandboxResponse* response) override;

  grpc::Status CreateContainer(grpc::ServerContext* context, const v1::CreateContainerRequest* request,
                               v1::CreateContainerResponse* response) override;
  grpc::Status StartContainer(grpc::ServerContext* context, const v1::StartContainerRequest* request,
                              v1::StartContainerResponse* response) override;
  grpc::Status StopContainer(grpc::ServerContext* context, const v1::StopContainerRequest* request,
                             v1::StopContainerResponse* response) override;
  grpc::Status RemoveContainer(grpc::ServerContext* context, const v1::RemoveContainerRequest* request,
                               v1::RemoveContainerResponse* response) override;
  grpc::Status ContainerStatus(grpc::ServerContext* context, const v1::ContainerStatusRequest* request,
                               v1::ContainerStatusResponse* response) override;
  grpc::Status ListContainers(grpc::ServerContext* context, const v1::ListContainersRequest* request,
                              v1::ListContainersResponse* response) override;
  grpc::Status UpdateContainerResources(grpc::ServerContext* context,
                                        const v1::UpdateContainerResourcesRequest* request,
                                        v1::UpdateContainerResourcesResponse* response) override;
  grpc::Status ReopenContainerLog(grpc::ServerContext* context, const v1::ReopenContainerLogRequest* request,
                                  v1::ReopenContainerLogResponse* response) override;
  grpc::Status ExecSync(grpc::ServerContext* context, const v1::ExecSyncRequest* request,
                        v1::ExecSyncResponse* response) override;

  // Streaming (runtime_streaming.cc): validate and return a URL of the streaming server.
  grpc::Status Exec(grpc::ServerContext* context, const v1::ExecRequest* request, v1::ExecResponse* response) override;
  grpc::Status Attach(grpc::ServerContext* context, const v1::AttachRequest* request,
                      v1::AttachResponse* response) override;
  grpc::Status PortForward(grpc::ServerContext* context, const v1::PortForwardRequest* request,
                           v1::PortForwardResponse* response) override;
  // Set once at startup, before serving; null means Exec/Attach/PortForward answer UNAVAILABLE.
  void set_streaming(streaming::StreamingServer* server) { streaming_ = server; }

  grpc::Status ContainerStats(grpc::ServerContext* context, const v1::ContainerStatsRequest* request,
                              v1::ContainerStatsResponse* response) override;
  grpc::Status ListContainerStats(grpc::ServerContext* context, const v1::ListContainerStatsRequest* request,
                                  v1::ListContainerStatsResponse* response) override;
  grpc::Status PodSandboxStats(grpc::ServerContext* context, const v1::PodSandboxStatsRequest* request,
                               v1::PodSandboxStatsResponse* response) override;
  grpc::Status ListPodSandboxStats(grpc::ServerContext* context, const v1::ListPodSandboxStatsRequest* request,
                                   v1::ListPodSandboxStatsResponse* response) override;
  grpc::Status ListMetricDescriptors(grpc::ServerContext* context, const v1::ListMetricDescriptorsRequest* request,
                                     v1::ListMetricDescriptorsResponse* response) override;
  grpc::Status ListPodSandboxMetrics(grpc::ServerContext* context, const v1::ListPodSandboxMetricsRequest* request,
                                     v1::ListPodSandboxMetricsResponse* response) override;

 private:
  // Stats helpers (runtime_stats.cc).
  // Returns the sample behind the numbers (nullopt when the cgroup could not be read).
  std::optional<stats::ContainerStatsSample> FillContainerStats(const runtime::ContainerRecord& record,
                                                                v1::ContainerStats* out);
  // Returns the pod-level sample (nullopt when unreadable); `members`, if given, receives the
  // containers whose cgroups could be read, with their samples.
  struct MemberSample {
    runtime::ContainerRecord record;
    stats::ContainerStatsSample sample;
  };
  std::optional<stats::PodStatsSample> FillPodStats(const runtime::SandboxRecord& record,
                                                    const std::vector<runtime::SandboxRecord>& all_sandboxes,
                                                    v1::PodSandboxStats* out, std::vector<MemberSample>* members = nullptr);
  // The pod-level cgroup when the pod has one of its own (the kubelet's pod<uid> cgroup), "" when
  // the sandbox's cgroup parent is shared (crictl's default) and the pod's numbers must be summed.
  absl::StatusOr<std::string> PodCgroup(const runtime::SandboxRecord& record,
                                        const std::vector<runtime::SandboxRecord>& all_sandboxes);
  void ForgetRemoved();
  // Zero-OS sinks (runtime_stats.cc): the flint.io/stats-redis loop, and the sink counters
  // (flintd's stats publishers, each shim's logs-redis.json) folded into /metrics.
  void StartRedisStatsSinks();
  void ExportSinkCounters();
  void ExportPulledBytes();
  // flist-mount's block cache counters (<state_dir>/flists/*/stats.json) into the flist families.
  void ExportFlistCacheCounters();  // image::PulledBlobBytesTotal() into flint_image_pull_bytes_total

  const Config& config_;
  runtime::PodRuntime* pods_;
  cni::CniManager* cni_;
  streaming::StreamingServer* streaming_ = nullptr;

  // Null when the host's cgroups cannot be read: stats then carry attributes only.
  std::unique_ptr<stats::StatsCollector> stats_;
  runtime::CgroupsPathCache cgroups_paths_;
  stats::MetricsRegistry metrics_registry_;
  stats::FlintMetrics metrics_{metrics_registry_};
  std::mutex sink_counters_mu_;
  std::unordered_map<std::string, uint64_t> sink_counters_seen_;  // "<sink>/<source>/<counter>" -> last total
  uint64_t pulled_bytes_exported_ = 0;  // guarded by sink_counters_mu_
  // Per mount: the last counters seen, so each scrape adds only what was gained since.
  std::unordered_map<std::string, std::vector<uint64_t>> flist_counters_seen_;  // guarded by sink_counters_mu_
  std::unordered_map<std::string, uint64_t> flist_takeovers_seen_;             // guarded by sink_counters_mu_
  // After what its loop reads (pods_, cgroups_paths_), before metrics_http_ whose scrapes read it.
  std::unique_ptr<stats::RedisStatsSinks> redis_stats_sinks_;
  std::unique_ptr<stats::MetricsHttpServer> metrics_http_;
  std::mutex writable_dirs_mu_;
  std::unordered_map<std::string, std::string> writable_dirs_;  // container id -> upper dir seen by stats
};

}  // namespace flint::server
