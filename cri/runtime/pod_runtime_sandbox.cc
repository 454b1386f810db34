#include <signal.h>
#include <unistd.h>

#include <thread>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/fs.h"
#include "common/log.h"
#include "cri/cni/netns.h"
#include "cri/oci/pause_rootfs.h"
#include "cri/oci/spec_builder.h"
#include "cri/runtime/overlay_mount.h"
#include "cri/runtime/pod_runtime.h"
#include "cri/runtime/sandbox_files.h"

namespace flint::runtime {
namespace {

v1::NamespaceOption NamespaceOptions(const v1::PodSandboxConfig& config) {
  if (config.has_linux() && config.linux().has_security_context() &&
      config.linux().security_context().has_namespace_options())
    return config.linux().security_context().namespace_options();
  return v1::NamespaceOption();
}

}  // namespace

cni::PodNetworkRequest PodRuntime::NetworkRequest(const SandboxRecord& record) const {
  cni::PodNetworkRequest request;
  const v1::PodSandboxConfig& config = record.config();
  request.sandbox_id = record.id();
  request.netns_path = record.netns_path();
  request.pod_name = config.metadata().name();
  request.pod_namespace = config.metadata().namespace_();
  request.pod_uid = config.metadata().uid();
  for (const auto& pm : config.port_mappings()) {
    request.port_mappings.push_back({pm.host_port(), pm.container_port(), v1::Protocol_Name(pm.protocol()), pm.host_ip()});
  }
  for (const auto& [k, v] : config.annotations()) request.annotations[k] = v;
  if (config.has_linux()) request.cgroup_parent = config.linux().cgroup_parent();
  const v1::DNSConfig& dns = config.dns_config();
  request.dns.servers.assign(dns.servers().begin(), dns.servers().end());
  request.dns.searches.assign(dns.searches().begin(), dns.searches().end());
  request.dns.options.assign(dns.options().begin(), dns.options().end());
  return request;
}

absl::StatusOr<std::string> PodRuntime::RunPodSandbox(const v1::PodSandboxConfig& config,
                                                      const std::string& runtime_handler) {
  const v1::PodSandboxMetadata& meta = config.metadata();
  if (meta.name().empty() || meta.namespace_().empty()) {
    return absl::InvalidArgumentError("RunPodSandbox: metadata.name and metadata.namespace are required");
  }
  absl::StatusOr<const RuntimeHandler*> handler = Handler(runtime_handler);
  if (!handler.ok()) return handler.status();
  v1::NamespaceOption ns = NamespaceOptions(config);
  bool host_network = ns.network() == v1::NODE;

  SandboxRecord record;
  {
    // A pod attempt is one sandbox: the kubelet retries with attempt+1.
    std::lock_guard names(names_mu_);
    for (const SandboxRecord& other : store_->Sandboxes()) {
      const v1::PodSandboxMetadata& m = other.config().metadata();
      if (m.name() == meta.name() && m.namespace_() == meta.namespace_() && m.uid() == meta.uid() &&
          m.attempt() == meta.attempt()) {
        return absl::AlreadyExistsError(absl::StrCat("pod sandbox ", meta.namespace_(), "/", meta.name(), " attempt ",
                                                     meta.attempt(), " already exists as ", other.id()));
      }
    }
    record.set_id(NewId());
    *record.mutable_config() = config;
    record.set_runtime_handler(runtime_handler);
    record.set_created_at_ns(NowNs());
    record.set_bundle_dir(store_->SandboxDir(record.id()) + "/bundle");
    record.set_state_dir(absl::StrCat(config_.state_dir, "/sandboxes/", record.id()));
    record.set_shim_socket(ShimSocketPath(record.id()));
    if (absl::Status s = store_->PutSandbox(record); !s.ok()) return s;
  }
  const std::string id = record.id();
  auto lock = LockFor(id);
  std::lock_guard guard(*lock);
  FLINT_LOG(INFO) << "rpc=RunPodSandbox pod=" << meta.namespace_() << "/" << meta.name() << " sandbox=" << id
                  << " handler=" << (runtime_handler.empty() ? config_.default_runtime : runtime_handler);

  bool success = false;
  absl::Cleanup rollback = [&] {
    if (success) return;
    (void)TearDownSandbox(record);
    DeleteOciContainer(id, record.shim_socket(), record.runtime_handler());
    (void)fs::RemoveAll(record.state_dir());
    (void)store_->DeleteSandbox(id);
  };

  if (absl::Status s = fs::MakeDirs(record.state_dir(), 0711); !s.ok()) return s;
  absl::StatusOr<SandboxFiles> files = WriteSandboxFiles(store_->SandboxDir(id) + "/files", config);
  if (!files.ok()) return files.status();

  if (ns.ipc() != v1::NODE) {
    std::string shm = record.state_dir() + "/shm";
    if (absl::Status s = MountTmpfs(shm, "mode=1777,size=65536k"); !s.ok()) return s;
    record.set_shm_path(shm);
  }
  if (!host_network) {
    if (cni_ == nullptr) return absl::FailedPreconditionError("pod networking is not configured");
    absl::StatusOr<std::string> netns = cni::CreateNetns(config_.state_dir + "/netns", id);
    if (!netns.ok()) return absl::Status(netns.status().code(), absl::StrCat("create netns: ", netns.status().message()));
    record.set_netns_path(*netns);
    // Persist before ADD so a crash in between still lets Stop/Remove run DEL.
    record.set_network_ready(true);
    if (absl::Status s = store_->PutSandbox(record); !s.ok()) return s;
    absl::StatusOr<cni::PodNetworkStatus> network = cni_->SetUpPod(NetworkRequest(record));
    if (!network.ok()) {
      record.set_network_ready(false);  // SetUpPod rolled back its own ADD
      return absl::Status(network.status().code(),
                          absl::StrCat("set up pod network: ", network.status().message()));
    }
    record.set_ip(network->primary_ip);
    for (const auto& ip : network->additional_ips) record.add_additional_ips(ip);
    (void)fs::WriteFileAtomic(files->hosts, HostsText(config.hostname(), network->primary_ip));
  }

  std::string pause_rootfs = config_.root_dir + "/pause";
  {
    // Shared by every sandbox; concurrent RunPodSandbox calls must not race on its copy.
    std::lock_guard pause_lock(pause_mu_);
    if (absl::Status s = oci::PreparePauseRootfs(pause_rootfs, options_.pause_binary); !s.ok()) return s;
  }
  oci::SandboxSpecOptions spec_options;
  spec_options.sandbox_id = id;
  spec_options.rootfs = pause_rootfs;
  spec_options.netns_path = record.netns_path();
  spec_options.shm_path = record.shm_path();
  spec_options.cgroup_driver =
      config_.cgroup_driver == CgroupDriver::kSystemd ? oci::CgroupDriver::kSystemd : oci::CgroupDriver::kCgroupfs;
  spec_options.host = host_;
  absl::StatusOr<nlohmann::json> spec = oci::BuildSandboxSpec(config, spec_options);
  if (!spec.ok()) return spec.status();
  if (absl::Status s = fs::MakeDirs(record.bundle_dir(), 0711); !s.ok()) return s;
  if (absl::Status s = fs::WriteFileAtomic(record.bundle_dir() + "/config.json", spec->dump(), 0600); !s.ok()) return s;

  shim::ShimSpawnOptions shim_options;
  shim_options.shim_binary = options_.shim_binary;
  shim_options.id = id;
  shim_options.bundle = record.bundle_dir();
  shim_options.runtime = (*handler)->path;
  shim_options.runtime_args = (*handler)->args;
  std::shared_ptr<const SealedRuntimeCopy> runtime_copy = runtime_copies_.For(**handler);  // open until the shim has it
  shim_options.runtime_fd = runtime_copy ? runtime_copy->fd() : -1;
  shim_options.state_dir = record.state_dir();
  shim_options.log_path = record.state_dir() + "/pause.log";
  shim_options.socket_path = record.shim_socket();
  absl::StatusOr<shim::ShimClient> client = shim::ShimClient::Spawn(shim_options);
  if (!client.ok()) {
    return absl::Status(client.status().code(), absl::StrCat("create sandbox container: ", client.status().message()));
  }
  absl::StatusOr<shim::ShimStatus> started = client->Start();
  if (!started.ok()) {
    return absl::Status(started.status().code(), absl::StrCat("start sandbox container: ", started.status().message()));
  }
  record.set_pid(started->pid);
  if (absl::Status s = store_->PutSandbox(record); !s.ok()) return s;
  success = true;
  return id;
}

bool PodRuntime::SandboxAlive(const SandboxRecord& record) const {
  if (record.stopped() || record.pid() <= 0) return false;
  absl::StatusOr<shim::ShimStatus> state = ShimState(record.id(), record.shim_socket(), record.state_dir());
  return state.ok() && state->state == shim::ContainerState::kRunning;
}

absl::Status PodRuntime::TearDownSandbox(SandboxRecord& record) {
  absl::Status result;
  shim::ShimClient client(record.shim_socket());
  client.set_call_timeout(absl::Seconds(10));
  if (client.Kill(SIGKILL, /*all=*/true).ok()) {
    for (int i = 0; i < 100; ++i) {
      absl::StatusOr<shim::ShimStatus> state = client.Status();
      if (!state.ok() || state->state == shim::ContainerState::kStopped) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  if (record.network_ready() && cni_ != nullptr) {
    absl::Status s = cni_->TearDownPod(NetworkRequest(record));
    if (s.ok()) {
      record.set_network_ready(false);
    } else {
      result = absl::Status(s.code(), absl::StrCat("tear down pod network: ", s.message()));
    }
  }
  if (!record.network_ready() && !record.netns_path().empty()) {
    if (absl::Status s = cni::RemoveNetns(record.netns_path()); !s.ok() && result.ok()) result = s;
  }
  if (!record.shm_path().empty()) {
    if (absl::Status s = Unmount(record.shm_path()); !s.ok() && result.ok()) result = s;
  }
  record.set_stopped(true);
  return result;
}

absl::Status PodRuntime::StopPodSandbox(const std::string& id_or_prefix) {
  absl::StatusOr<std::string> id = store_->ResolveSandboxId(id_or_prefix);
  if (!id.ok()) return id.status().code() == absl::StatusCode::kNotFound ? absl::OkStatus() : id.status();
  for (const ContainerRecord& container : store_->ContainersOf(*id)) {
    if (absl::Status s = StopContainer(container.id(), 0); !s.ok()) {
      return absl::Status(s.code(), absl::StrCat("stop container ", container.id(), ": ", s.message()));
    }
  }
  auto lock = LockFor(*id);
  std::lock_guard guard(*lock);
  std::optional<SandboxRecord> record = store_->GetSandbox(*id);
  if (!record) return absl::OkStatus();
  absl::Status torn = TearDownSandbox(*record);
  if (absl::Status s = store_->PutSandbox(*record); !s.ok()) return s;
  if (torn.ok()) FLINT_LOG(INFO) << "rpc=StopPodSandbox sandbox=" << *id << " stopped";
  return torn;
}

absl::Status PodRuntime::RemovePodSandbox(const std::string& id_or_prefix) {
  absl::StatusOr<std::string> id = store_->ResolveSandboxId(id_or_prefix);
  if (!id.ok()) return id.status().code() == absl::StatusCode::kNotFound ? absl::OkStatus() : id.status();
  for (const ContainerRecord& container : store_->ContainersOf(*id)) {
    if (absl::Status s = RemoveContainer(container.id()); !s.ok()) {
      return absl::Status(s.code(), absl::StrCat("remove container ", container.id(), ": ", s.message()));
    }
  }
  auto lock = LockFor(*id);
  std::lock_guard guard(*lock);
  std::optional<SandboxRecord> record = store_->GetSandbox(*id);
  if (!record) return absl::OkStatus();
  if (absl::Status s = TearDownSandbox(*record); !s.ok()) {
    (void)store_->PutSandbox(*record);
    return s;
  }
  DeleteOciContainer(*id, record->shim_socket(), record->runtime_handler());
  unlink(record->shim_socket().c_str());
  if (absl::Status s = fs::RemoveAll(record->state_dir()); !s.ok()) return s;
  if (absl::Status s = store_->DeleteSandbox(*id); !s.ok()) return s;
  FLINT_LOG(INFO) << "rpc=RemovePodSandbox sandbox=" << *id << " removed";
  return absl::OkStatus();
}

absl::StatusOr<v1::PodSandboxStatus> PodRuntime::PodSandboxStatus(const std::string& id_or_prefix,
                                                                  std::map<std::string, std::string>* info) {
  absl::StatusOr<std::string> id = store_->ResolveSandboxId(id_or_prefix);
  if (!id.ok()) return id.status();
  std::optional<SandboxRecord> record = store_->GetSandbox(*id);
  if (!record) return absl::NotFoundError(absl::StrCat("pod sandbox \"", id_or_prefix, "\" not found"));
  const v1::PodSandboxConfig& config = record->config();
  v1::PodSandboxStatus status;
  status.set_id(record->id());
  *status.mutable_metadata() = config.metadata();
  status.set_state(SandboxAlive(*record) ? v1::SANDBOX_READY : v1::SANDBOX_NOTREADY);
  status.set_created_at(record->created_at_ns());
  status.mutable_network()->set_ip(record->ip());
  for (const auto& ip : record->additional_ips()) status.mutable_network()->add_additional_ips()->set_ip(ip);
  *status.mutable_linux()->mutable_namespaces()->mutable_options() = NamespaceOptions(config);
  *status.mutable_labels() = config.labels();
  *status.mutable_annotations() = config.annotations();
  status.set_runtime_handler(record->runtime_handler());
  if (info != nullptr) {
    nlohmann::json j = {{"pid", record->pid()},
                        {"netns", record->netns_path()},
                        {"shm", record->shm_path()},
                        {"bundle", record->bundle_dir()},
                        {"runtimeHandler", record->runtime_handler()},
                        {"networkReady", record->network_ready()}};
    (*info)["info"] = j.dump();
  }
  return status;
}

void PodRuntime::FillSandbox(const SandboxRecord& record, v1::PodSandbox* out) const {
  out->set_id(record.id());
  *out->mutable_metadata() = record.config().metadata();
  out->set_state(SandboxAlive(record) ? v1::SANDBOX_READY : v1::SANDBOX_NOTREADY);
  out->set_created_at(record.created_at_ns());
  *out->mutable_labels() = record.config().labels();
  *out->mutable_annotations() = record.config().annotations();
  out->set_runtime_handler(record.runtime_handler());
}

std::vector<v1::PodSandbox> PodRuntime::ListPodSandbox(const v1::PodSandboxFilter* filter) {
  std::vector<v1::PodSandbox> out;
  for (const SandboxRecord& record : store_->Sandboxes()) {
    if (filter != nullptr) {
      if (!filter->id().empty() && !absl::StartsWith(record.id(), filter->id())) continue;
      if (!LabelsMatch(record.config().labels(), filter->label_selector())) continue;
    }
    v1::PodSandbox sandbox;
    FillSandbox(record, &sandbox);
    if (filter != nullptr && filter->has_state() && filter->state().state() != sandbox.state()) continue;
    out.push_back(std::move(sandbox));
  }
  return out;
}

}  // namespace flint::runtime
