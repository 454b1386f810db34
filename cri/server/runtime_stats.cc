// CRI stats RPCs. Field choices follow containerd's CRI plugin: every container in the store
// is listed (exited ones too), and whatever cannot be read (a cgroup already removed, a netns
// already gone) is left unset rather than failing the call, so one dying container never hides
// the stats of the others from the kubelet.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <unordered_set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "cri/server/grpc_status.h"
#include "cri/image/registry_client.h"
#include "cri/server/runtime_service.h"
#include "cri/stats/cri_metrics.h"
#include "nlohmann/json.hpp"

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

std::optional<stats::PodStatsSample> RuntimeServiceImpl::FillPodStats(
    const runtime::SandboxRecord& record, const std::vector<runtime::SandboxRecord>& all_sandboxes,
    v1::PodSandboxStats* out, std::vector<MemberSample>* member_samples) {
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
    if (!sample) continue;
    if (member_samples) member_samples->push_back(MemberSample{container, *sample});
    members.push_back(*std::move(sample));
  }
  if (!stats_) return std::nullopt;

  absl::StatusOr<std::string> pod_cgroup = PodCgroup(record, all_sandboxes);
  if (!pod_cgroup.ok()) {
    FLINT_LOG(DEBUG) << "stats of pod " << record.id() << ": " << pod_cgroup.status().message();
    return std::nullopt;
  }
  std::string cgroup = *pod_cgroup;
  if (cgroup.empty()) {
    absl::StatusOr<std::string> own = cgroups_paths_.Get(record.id(), record.bundle_dir());
    if (!own.ok()) {
      FLINT_LOG(DEBUG) << "stats of pod " << record.id() << ": " << own.status().message();
      return std::nullopt;
    }
    cgroup = *own;
  }
  const std::string netns = record.stopped() ? "" : record.netns_path();
  absl::StatusOr<stats::PodStatsSample> pod = stats_->Pod(record.id(), cgroup, netns);
  if (!pod.ok()) {
    FLINT_LOG(DEBUG) << pod.status().message();
    return std::nullopt;
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
  return *std::move(pod);
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
                                                       v1::ListMetricDescriptorsResponse* response) {
  for (const stats::CriMetricDescriptor& d : stats::CriMetricDescriptors()) {
    v1::MetricDescriptor* out = response->add_descriptors();
    out->set_name(d.name);
    out->set_help(d.help);
    for (const std::string& key : d.label_keys) out->add_label_keys(key);
  }
  return grpc::Status::OK;
}

grpc::Status RuntimeServiceImpl::ListPodSandboxMetrics(grpc::ServerContext*, const v1::ListPodSandboxMetricsRequest*,
                                                       v1::ListPodSandboxMetricsResponse* response) {
  ForgetRemoved();
  auto copy = [](const std::vector<stats::CriMetricSample>& samples, google::protobuf::RepeatedPtrField<v1::Metric>* out) {
    for (const stats::CriMetricSample& sample : samples) {
      v1::Metric* metric = out->Add();
      metric->set_name(sample.name);
      metric->set_timestamp(sample.timestamp_ns);
      metric->set_metric_type(sample.counter ? v1::COUNTER : v1::GAUGE);
      for (const std::string& value : sample.label_values) metric->add_label_values(value);
      SetValue(metric->mutable_value(), sample.value);
    }
  };
  std::vector<runtime::SandboxRecord> sandboxes = pods_->records().Sandboxes();
  for (const runtime::SandboxRecord& record : sandboxes) {
    if (record.stopped()) continue;  // as containerd: metrics of ready pods only
    const v1::PodSandboxMetadata& meta = record.config().metadata();
    v1::PodSandboxStats scratch;
    std::vector<MemberSample> members;
    std::optional<stats::PodStatsSample> pod = FillPodStats(record, sandboxes, &scratch, &members);
    v1::PodSandboxMetrics* out = response->add_pod_metrics();
    out->set_pod_sandbox_id(record.id());
    if (pod) copy(stats::PodNetworkCriMetrics(*pod, {"POD", record.id(), "", meta.namespace_(), meta.name()}), out->mutable_metrics());
    for (const MemberSample& member : members) {
      v1::ContainerMetrics* container = out->add_container_metrics();
      container->set_container_id(member.record.id());
      stats::CriMetricLabels labels{member.record.config().metadata().name(), member.record.id(),
                                    member.record.image_name(), meta.namespace_(), meta.name()};
      copy(stats::ContainerCriMetrics(member.sample, labels), container->mutable_metrics());
    }
  }
  return grpc::Status::OK;
}

void RuntimeServiceImpl::StartRedisStatsSinks() {
  absl::StatusOr<std::unique_ptr<stats::CgroupStatsReader>> made = stats::MakeCgroupStatsReader();
  if (!made.ok()) {
    FLINT_LOG(WARN) << stats::kStatsRedisAnnotation << " disabled: " << made.status().message();
    return;
  }
  std::shared_ptr<const stats::CgroupStatsReader> reader = std::move(*made);
  auto list_pods = [this] {
    std::vector<stats::StatsSinkPod> pods;
    for (const runtime::SandboxRecord& sandbox : pods_->records().Sandboxes()) {
      if (sandbox.stopped()) continue;
      auto annotation = sandbox.config().annotations().find(stats::kStatsRedisAnnotation);
      if (annotation == sandbox.config().annotations().end()) continue;
      stats::StatsSinkPod pod{sandbox.id(), sandbox.config().metadata().name(),
                              sandbox.config().metadata().namespace_(), annotation->second, {}};
      for (const runtime::ContainerRecord& container : pods_->records().ContainersOf(sandbox.id())) {
        if (container.removing()) continue;
        absl::StatusOr<std::string> cgroup = cgroups_paths_.Get(container.id(), container.bundle_dir());
        if (!cgroup.ok()) continue;
        pod.containers.push_back({container.id(), container.config().metadata().name(), *cgroup});
      }
      pods.push_back(std::move(pod));
    }
    return pods;
  };
  auto read = [reader](const std::string& cgroups_path) -> absl::StatusOr<stats::CgroupStats> {
    absl::StatusOr<std::string> path = stats::SystemdCgroupPath(cgroups_path);
    if (!path.ok()) return path.status();
    return reader->Read(*path);
  };
  redis_stats_sinks_ = std::make_unique<stats::RedisStatsSinks>(list_pods, read);
}

void RuntimeServiceImpl::ExportSinkCounters() {
  std::lock_guard lock(sink_counters_mu_);
  std::unordered_map<std::string, uint64_t> seen;
  // Sources come and go (a shim's file disappears with its container): add what each one
  // gained since the last scrape, so the exported counters never go backwards.
  auto add = [&](const std::string& sink, const std::string& source, const char* counter, uint64_t total) {
    const std::string key = absl::StrCat(sink, "/", source, "/", counter);
    auto it = sink_counters_seen_.find(key);
    uint64_t previous = it == sink_counters_seen_.end() || it->second > total ? 0 : it->second;
    seen[key] = total;
    auto& family = std::string_view(counter) == "published" ? metrics_.redis_sink_published_total
                                                            : metrics_.redis_sink_dropped_total;
    family.WithLabels({sink}).Increment(static_cast<double>(total - previous));
  };
  for (const char* sink : {"logs", "stats"}) {  // present (at 0) before the first sink exists
    metrics_.redis_sink_published_total.WithLabels({sink});
    metrics_.redis_sink_dropped_total.WithLabels({sink});
  }
  if (redis_stats_sinks_) {
    add("stats", "flintd", "published", redis_stats_sinks_->published());
    add("stats", "flintd", "dropped", redis_stats_sinks_->dropped());
  }
  for (const runtime::ContainerRecord& container : pods_->records().Containers()) {
    std::ifstream in(container.state_dir() + "/logs-redis.json");
    if (!in) continue;
    nlohmann::json counters = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
    if (!counters.is_object()) continue;
    add("logs", container.id(), "published", counters.value("published", uint64_t{0}));
    add("logs", container.id(), "dropped", counters.value("dropped", uint64_t{0}));
  }
  sink_counters_seen_ = std::move(seen);
}

void RuntimeServiceImpl::ExportPulledBytes() {
  std::lock_guard lock(sink_counters_mu_);
  // The image service counts in a process-wide total; the counter follows it.
  const uint64_t total = image::PulledBlobBytesTotal();
  stats::Counter& counter = metrics_.image_pull_bytes_total.WithLabels({});
  if (total > pulled_bytes_exported_) counter.Increment(static_cast<double>(total - pulled_bytes_exported_));
  pulled_bytes_exported_ = std::max(pulled_bytes_exported_, total);
}

void RuntimeServiceImpl::ExportFlistCacheCounters() {
  std::lock_guard lock(sink_counters_mu_);
  std::unordered_map<std::string, std::vector<uint64_t>> seen;
  std::unordered_map<std::string, uint64_t> takeovers_seen;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(config_.state_dir + "/flists", ec)) {
    std::ifstream in(entry.path() / "stats.json");
    if (!in) continue;
    nlohmann::json stats = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
    if (!stats.is_object() || !stats.contains("fetch_latency_buckets") || !stats["fetch_latency_buckets"].is_array())
      continue;
    // The counters in this order, then fetch_latency_buckets 0, 1, ...
    constexpr const char* kCounters[] = {"hits", "misses", "fetch_micros_total", "read_errors", "fetch_errors",
                                         "write_errors"};
    constexpr size_t kFirstBucket = std::size(kCounters);
    std::vector<uint64_t> now;
    for (const char* name : kCounters) now.push_back(stats.value(name, uint64_t{0}));
    for (const auto& count : stats["fetch_latency_buckets"]) now.push_back(count.is_number_unsigned() ? count.get<uint64_t>() : 0);
    std::vector<uint64_t> gained = now;
    auto it = flist_counters_seen_.find(entry.path().filename());
    if (it != flist_counters_seen_.end() && it->second.size() == now.size()) {
      bool restarted = false;  // a new flist-mount process starts from zero
      for (size_t i = 0; i < now.size(); ++i) restarted |= now[i] < it->second[i];
      if (!restarted) {
        for (size_t i = 0; i < now.size(); ++i) gained[i] = now[i] - it->second[i];
      }
    }
    const std::string mount = entry.path().filename();
    seen[mount] = now;
    // The keeper's count for this mount: it only grows while the mount lives.
    const uint64_t takeovers = stats.value("takeovers", uint64_t{0});
    const auto before = flist_takeovers_seen_.find(mount);
    const uint64_t takeovers_before = before == flist_takeovers_seen_.end() ? 0 : before->second;
    if (takeovers > takeovers_before) {
      metrics_.flist_mount_takeovers_total.WithLabels({}).Increment(static_cast<double>(takeovers - takeovers_before));
    }
    takeovers_seen[mount] = std::max(takeovers, takeovers_before);
    metrics_.flist_cache_hits_total.WithLabels({}).Increment(static_cast<double>(gained[0]));
    metrics_.flist_cache_misses_total.WithLabels({}).Increment(static_cast<double>(gained[1]));
    metrics_.flist_read_errors_total.WithLabels({}).Increment(static_cast<double>(gained[3]));
    metrics_.flist_fetch_errors_total.WithLabels({}).Increment(static_cast<double>(gained[4]));
    metrics_.flist_cache_write_errors_total.WithLabels({}).Increment(static_cast<double>(gained[5]));
    metrics_.flist_fetch_duration_seconds.WithLabels({}).AddObservations(
        std::vector<uint64_t>(gained.begin() + kFirstBucket, gained.end()), static_cast<double>(gained[2]) / 1e6);
  }
  flist_counters_seen_ = std::move(seen);
  flist_takeovers_seen_ = std::move(takeovers_seen);
}

absl::Status RuntimeServiceImpl::ServeMetrics(const std::string& address) {
  auto body = [this] {
    ExportSinkCounters();
    ExportPulledBytes();
    ExportFlistCacheCounters();
    const runtime::RecordStore& records = pods_->records();
    // One shim per sandbox and per container.
    const std::vector<runtime::ContainerRecord> containers = records.Containers();
    metrics_.shims.WithLabels({}).Set(static_cast<double>(records.Sandboxes().size() + containers.size()));
    const runtime::PodRuntime::FlistMountCounts flist_mounts = pods_->CountFlistMounts(containers);
    metrics_.flist_mounts.WithLabels({"in_use"}).Set(static_cast<double>(flist_mounts.in_use));
    metrics_.flist_mounts.WithLabels({"idle"}).Set(static_cast<double>(flist_mounts.idle));
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
