// CRI stats RPCs. Field choices follow containerd's CRI plugin: every container in the store
// is listed (exited ones too), and whatever cannot be read (a cgroup already removed, a netns
// already gone) is left unset rather than failing the call, so one dying container never hides
// the stats of the others from the kubelet.
#include <algorithm>
#include <unordered_set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "cri/server/grpc_status.h"
#include "cri/server/runtime_service.h"

namespace flint::server {
namespace {

void SetValue(v1::UInt64Value* out, uint64_t value) { out->set_value(value); }

bool MatchesLabels(const google::protobuf::Map<std::string, std::string>& selector,
                   const google::protobuf::Map<std::string, std::string>& labels) {
  for (const auto& [key, value] : selector) {
    auto it = labels.find(key);
    if (it == labels.end() || it->second != value) return false;
  }
  return true;
}

std::string Dirname(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return "";
  return slash == 0 ? "/" : path.substr(0, slash);
}

void FillCpu(const stats::CgroupStats& cgroup, std::optional<uint64_t> nano_cores, v1::CpuUsage* out) {
  out->set_timestamp(cgroup.timestamp_ns);
  if (cgroup.cpu_usage_ns) SetValue(out->mutable_usage_core_nano_seconds(), *cgroup.cpu_usage_ns);
  if (nano_cores) SetValue(out->mutable_usage_nano_cores(), *nano_cores);
}

void FillMemory(const stats::CgroupStats& cgroup, v1::MemoryUsage* out) {
  out->set_timestamp(cgroup.timestamp_ns);
  if (cgroup.memory_working_set_bytes) SetValue(out->mutable_working_set_bytes(), *cgroup.memory_working_set_bytes);
  if (cgroup.memory_available_bytes) SetValue(out->mutable_available_bytes(), *cgroup.memory_available_bytes);
  if (cgroup.memory_usage_bytes) SetValue(out->mutable_usage_bytes(), *cgroup.memory_usage_bytes);
  if (cgroup.memory_rss_bytes) SetValue(out->mutable_rss_bytes(), *cgroup.memory_rss_bytes);
  if (cgroup.page_faults) SetValue(out->mutable_page_faults(), *cgroup.page_faults);
  if (cgroup.major_page_faults) SetValue(out->mutable_major_page_faults(), *cgroup.major_page_faults);
}

void AddTo(std::optional<uint64_t>& sum, const std::optional<uint64_t>& value) {
  if (value) sum = sum.value_or(0) + *value;
}

// Sums the members of a pod whose cgroup parent is shared with other pods. There is no pod
// limit in that case, so available_bytes stays unset.
stats::CgroupStats SumCgroups(const std::vector<const stats::CgroupStats*>& members) {
  stats::CgroupStats total;
  for (const stats::CgroupStats* m : members) {
    total.timestamp_ns = std::max(total.timestamp_ns, m->timestamp_ns);
    AddTo(total.cpu_usage_ns, m->cpu_usage_ns);
    AddTo(total.memory_usage_bytes, m->memory_usage_bytes);
    AddTo(total.memory_working_set_bytes, m->memory_working_set_bytes);
    AddTo(total.memory_rss_bytes, m->memory_rss_bytes);
    AddTo(total.memory_cache_bytes, m->memory_cache_bytes);
    AddTo(total.page_faults, m->page_faults);
    AddTo(total.major_page_faults, m->major_page_faults);
    AddTo(total.swap_usage_bytes, m->swap_usage_bytes);
    AddTo(total.pids_current, m->pids_current);
  }
  return total;
}

void FillNetwork(const stats::PodStatsSample& sample, v1::NetworkUsage* out) {
  out->set_timestamp(sample.network_timestamp_ns);
  for (const stats::InterfaceStats& iface : sample.interfaces) {
    v1::NetworkInterfaceUsage* usage = out->add_interfaces();
    usage->set_name(iface.name);
    SetValue(usage->mutable_rx_bytes(), iface.rx_bytes);
    SetValue(usage->mutable_rx_errors(), iface.rx_errors);
    SetValue(usage->mutable_tx_bytes(), iface.tx_bytes);
    SetValue(usage->mutable_tx_errors(), iface.tx_errors);
    if (iface.name == sample.default_interface) *out->mutable_default_interface() = *usage;
  }
}

}  // namespace

std::optional<stats::ContainerStatsSample> RuntimeServiceImpl::FillContainerStats(
    const runtime::ContainerRecord& record, v1::ContainerStats* out) {
  v1::ContainerAttributes* attributes = out->mutable_attributes();
  attributes->set_id(record.id());
  *attributes->mutable_metadata() = record.config().metadata();
  *attributes->mutable_labels() = record.config().labels();
  *attributes->mutable_annotations() = record.config().annotations();
  if (!stats_) return std::nullopt;

  absl::StatusOr<std::string> cgroups_path = cgroups_paths_.Get(record.id(), record.bundle_dir());
  if (!cgroups_path.ok()) {
    FLINT_LOG(DEBUG) << "stats of container " << record.id() << ": " << cgroups_path.status().message();
    return std::nullopt;
  }
  {
    std::lock_guard lock(writable_dirs_mu_);
    writable_dirs_[record.id()] = record.upper_dir();
  }
  absl::StatusOr<stats::ContainerStatsSample> sample = stats_->Container(record.id(), *cgroups_path, record.upper_dir());
  if (!sample.ok()) {
    // Normal for a container that exited and whose cgroup the OCI runtime removed.
    FLINT_LOG(DEBUG) << sample.status().message();
    return std::nullopt;
  }
  FillCpu(sample->cgroup, sample->usage_nano_cores, out->mutable_cpu());
  FillMemory(sample->cgroup, out->mutable_memory());
  if (sample->cgroup.swap_usage_bytes) {
    out->mutable_swap()->set_timestamp(sample->cgroup.timestamp_ns);
    SetValue(out->mutable_swap()->mutable_swap_usage_bytes(), *sample->cgroup.swap_usage_bytes);
  }
  if (sample->writable_layer) {
    v1::FilesystemUsage* layer = out->mutable_writable_layer();
    layer->set_timestamp(sample->writable_layer->timestamp_ns);
    // <root>/containers, the directory on the filesystem that holds every upper dir; the kubelet
    // only resolves it to a device.
    layer->mutable_fs_id()->set_mountpoint(Dirname(Dirname(record.upper_dir())));
    SetValue(layer->mutable_used_bytes(), sample->writable_layer->bytes);
    SetValue(layer->mutable_inodes_used(), sample->writable_layer->inodes);
  }
  return *std::move(sample);
}

absl::StatusOr<std::string> RuntimeServiceImpl::PodCgroup(const runtime::SandboxRecord& record,
                                                          const std::vector<runtime::SandboxRecord>& all_sandboxes) {
  // The kubelet names pod cgroups after the pod uid: ".../pod<uid>" (cgroupfs) or
  // "kubepods-<qos>-pod<uid with _ for ->.slice" (systemd). Any other parent (crictl's default
  // "/flint", a test's shared parent) may hold other pods or leftovers, so it is not the pod's.
  const std::string& parent = record.config().linux().cgroup_parent();
  const std::string& uid = record.config().metadata().uid();
  std::string systemd_uid = uid;
  std::replace(systemd_uid.begin(), systemd_uid.end(), '-', '_');
  std::string parent_name = parent.substr(parent.rfind('/') == std::string::npos ? 0 : parent.rfind('/') + 1);
  if (uid.empty() || (!absl::StrContains(parent_name, "pod" + uid) && !absl::StrContains(parent_name, "pod" + systemd_uid))) {
    return std::string();
  }
  for (const runtime::SandboxRecord& other : all_sandboxes) {
    if (other.id() != record.id() && other.config().linux().cgroup_parent() == parent) return std::string();
  }
  absl::StatusOr<std::string> cgroups_path = cgroups_paths_.Get(record.id(), record.bundle_dir());
  if (!cgroups_path.ok()) return cgroups_path.status();
  // The sandbox's own cgroup sits directly in the pod cgroup, for both drivers once expanded.
  absl::StatusOr<std::string> expanded = stats::SystemdCgroupPath(*cgroups_path);
  if (!expanded.ok()) return expanded.status();
  std::string pod = Dirname(*expanded);
  if (pod.empty() || pod == "/") return std::string();
  return pod;
}

void RuntimeServiceImpl::FillPodStats(const runtime::SandboxRecord& record,
                                      const std::vector<runtime::SandboxRecord>& all_sandboxes,
                                      v1::PodSandboxStats* out) {
  v1::PodSandboxAttributes* attributes = out->mutable_attributes();
  attributes->set_id(record.id());
  *attributes->mutable_metadata() = record.config().metadata();
  *attributes->mutable_labels() = record.config().labels();
  *attributes->mutable_annotations() = record.config().annotations();
  v1::LinuxPodSandboxStats* linux = out->mutable_linux();

  std::vector<stats::ContainerStatsSample> members;
  for (const runtime::ContainerRecord& container : pods_->records().ContainersOf(record.id())) {
    if (container.removing()) continue;
    std::optional<stats::ContainerStatsSample> sample = FillContainerStats(container, linux->add_containers());
    if (sample) members.push_back(*std::move(sample));
  }
  if (!stats_) return;

  absl::StatusOr<std::string> pod_cgroup = PodCgroup(record, all_sandboxes);
  if (!pod_cgroup.ok()) {
    FLINT_LOG(DEBUG) << "stats of pod " << record.id() << ": " << pod_cgroup.status().message();
    return;
  }
  std::string cgroup = *pod_cgroup;
  if (cgroup.empty()) {
    absl::StatusOr<std::string> own = cgroups_paths_.Get(record.id(), record.bundle_dir());
    if (!own.ok()) {
      FLINT_LOG(DEBUG) << "stats of pod " << record.id() << ": " << own.status().message();
      return;
    }
    cgroup = *own;
  }
  const std::string netns = record.stopped() ? "" : record.netns_path();
  absl::StatusOr<stats::PodStatsSample> pod = stats_->Pod(record.id(), cgroup, netns);
  if (!pod.ok()) {
    FLINT_LOG(DEBUG) << pod.status().message();
    return;
  }
  if (pod_cgroup->empty()) {
    // Shared parent: the pod is its sandbox cgroup plus its containers' cgroups.
    std::vector<const stats::CgroupStats*> parts = {&pod->cgroup};
    std::optional<uint64_t> rate = pod->usage_nano_cores;
    bool rate_complete = rate.has_value();
    for (const stats::ContainerStatsSample& member : members) {
      parts.push_back(&member.cgroup);
      if (member.usage_nano_cores) {
        AddTo(rate, member.usage_nano_cores);
      } else if (member.cgroup.cpu_usage_ns) {
        rate_complete = false;
      }
    }
    pod->cgroup = SumCgroups(parts);
    pod->usage_nano_cores = rate_complete ? rate : std::nullopt;
    pod->process_count = pod->cgroup.pids_current;
  }
  FillCpu(pod->cgroup, pod->usage_nano_cores, linux->mutable_cpu());
  FillMemory(pod->cgroup, linux->mutable_memory());
  if (!pod->interfaces.empty()) FillNetwork(*pod, linux->mutable_network());
  if (pod->process_count) {
    linux->mutable_process()->set_timestamp(pod->cgroup.timestamp_ns);
    SetValue(linux->mutable_process()->mutable_process_count(), *pod->process_count);
  }
}

void RuntimeServiceImpl::ForgetRemoved() {
  std::unordered_set<std::string> live;
  for (const runtime::SandboxRecord& s : pods_->records().Sandboxes()) live.insert(s.id());
  for (const runtime::ContainerRecord& c : pods_->records().Containers()) live.insert(c.id());
  cgroups_paths_.Retain(live);
  if (stats_) stats_->Retain(live);
  std::lock_guard lock(writable_dirs_mu_);
  for (auto it = writable_dirs_.begin(); it != writable_dirs_.end();) {
    if (live.contains(it->first)) {
      ++it;
      continue;
    }
    if (stats_) stats_->ForgetWritableDir(it->second);
    it = writable_dirs_.erase(it);
  }
}

grpc::Status RuntimeServiceImpl::ContainerStats(grpc::ServerContext*, const v1::ContainerStatsRequest* request,
                                                v1::ContainerStatsResponse* response) {
  absl::StatusOr<std::string> id = pods_->records().ResolveContainerId(request->container_id());
  if (!id.ok()) return ToGrpcStatus(id.status());
  std::optional<runtime::ContainerRecord> record = pods_->records().GetContainer(*id);
  if (!record || record->removing()) {
    return ToGrpcStatus(absl::NotFoundError(absl::StrCat("container \"", request->container_id(), "\" not found")));
  }
  FillContainerStats(*record, response->mutable_stats());
  return grpc::Status::OK;
}

grpc::Status RuntimeServiceImpl::ListContainerStats(grpc::ServerContext*, const v1::ListContainerStatsRequest* request,
                                                    v1::ListContainerStatsResponse* response) {
  ForgetRemoved();
  const v1::ContainerStatsFilter& filter = request->filter();
  for (const runtime::ContainerRecord& record : pods_->records().Containers()) {
    if (record.removing()) continue;
    if (!absl::StartsWith(record.id(), filter.id())) continue;
    if (!absl::StartsWith(record.sandbox_id(), filter.pod_sandbox_id())) continue;
    if (!MatchesLabels(filter.label_selector(), record.config().labels())) continue;
    FillContainerStats(record, response->add_stats());
  }
  return grpc::Status::OK;
}

grpc::Status RuntimeServiceImpl::PodSandboxStats(grpc::ServerContext*, const v1::PodSandboxStatsRequest* request,
                                                 v1::PodSandboxStatsResponse* response) {
  absl::StatusOr<std::string> id = pods_->records().ResolveSandboxId(request->pod_sandbox_id());
  if (!id.ok()) return ToGrpcStatus(id.status());
  std::vector<runtime::SandboxRecord> sandboxes = pods_->records().Sandboxes();
  auto it = std::find_if(sandboxes.begin(), sandboxes.end(), [&](const auto& s) { return s.id() == *id; });
  if (it == sandboxes.end()) {
    return ToGrpcStatus(absl::NotFoundError(absl::StrCat("pod sandbox \"", request->pod_sandbox_id(), "\" not found")));
  }
  FillPodStats(*it, sandboxes, response->mutable_stats());
  return grpc::Status::OK;
}

grpc::Status RuntimeServiceImpl::ListPodSandboxStats(grpc::ServerContext*,
                                                     const v1::ListPodSandboxStatsRequest* request,
                                                     v1::ListPodSandboxStatsResponse* response) {
  ForgetRemoved();
  const v1::PodSandboxStatsFilter& filter = request->filter();
  std::vector<runtime::SandboxRecord> sandboxes = pods_->records().Sandboxes();
  for (const runtime::SandboxRecord& record : sandboxes) {
    if (!absl::StartsWith(record.id(), filter.id())) continue;
    if (!MatchesLabels(filter.label_selector(), record.config().labels())) continue;
    FillPodStats(record, sandboxes, response->add_stats());
  }
  return grpc::Status::OK;
}

grpc::Status RuntimeServiceImpl::ListMetricDescriptors(grpc::ServerContext*, const v1::ListMetricDescriptorsRequest*,
                                                       v1::ListMetricDescriptorsResponse*) {
  return grpc::Status(grpc::StatusCode::UNIMPLEMENTED,
                      "flint does not serve CRI metrics yet; use ListContainerStats / ListPodSandboxStats");
}

grpc::Status RuntimeServiceImpl::ListPodSandboxMetrics(grpc::ServerContext*, const v1::ListPodSandboxMetricsRequest*,
                                                       v1::ListPodSandboxMetricsResponse*) {
  return grpc::Status(grpc::StatusCode::UNIMPLEMENTED,
                      "flint does not serve CRI metrics yet; use ListContainerStats / ListPodSandboxStats");
}

absl::Status RuntimeServiceImpl::ServeMetrics(const std::string& address) {
  auto body = [this] {
    const runtime::RecordStore& records = pods_->records();
    // One shim per sandbox and per container.
    metrics_.shims.WithLabels({}).Set(static_cast<double>(records.Sandboxes().size() + records.Containers().size()));
    return metrics_registry_.Render();
  };
  absl::StatusOr<std::unique_ptr<stats::MetricsHttpServer>> server = stats::MetricsHttpServer::Start(address, body);
  if (!server.ok()) {
    return absl::Status(server.status().code(),
                        absl::StrCat("serve metrics on ", address, ": ", server.status().message()));
  }
  metrics_http_ = std::move(*server);
  FLINT_LOG(INFO) << "serving Prometheus metrics on http://" << address << "/metrics (port " << metrics_http_->port()
                  << ")";
  return absl::OkStatus();
}

}  // namespace flint::server
