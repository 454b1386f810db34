#include <signal.h>
#include <unistd.h>

#include <thread>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/fs.h"
#include "common/log.h"
#include "cri/oci/image_config.h"
#include "cri/oci/resources.h"
#include "cri/oci/spec_builder.h"
#include "cri/oci/stop_signal.h"
#include "cri/runtime/oci_runtime_cli.h"
#include "cri/runtime/entrypoint_warmup.h"
#include "cri/runtime/overlay_mount.h"
#include "cri/runtime/pod_runtime.h"
#include "cri/stats/redis_sink.h"

namespace flint::runtime {
namespace {

v1::ContainerState CriState(shim::ContainerState state) {
  switch (state) {
    case shim::ContainerState::kCreated: return v1::CONTAINER_CREATED;
    case shim::ContainerState::kRunning: return v1::CONTAINER_RUNNING;
    case shim::ContainerState::kStopped: return v1::CONTAINER_EXITED;
  }
  return v1::CONTAINER_UNKNOWN;
}

// The CRI Signal enum value naming a kernel signal number (the enum is alphabetical).
v1::Signal CriSignal(int kernel_signal) {
  const google::protobuf::EnumDescriptor* signals = v1::Signal_descriptor();
  for (int i = 0; i < signals->value_count(); ++i) {
    auto value = static_cast<v1::Signal>(signals->value(i)->number());
    if (value != 0 && oci::SignalFromCri(value) == kernel_signal) return value;
  }
  return static_cast<v1::Signal>(0);
}

absl::Status WithContext(const absl::Status& s, const std::string& what) {
  return s.ok() ? s : absl::Status(s.code(), absl::StrCat(what, ": ", s.message()));
}

}  // namespace

absl::StatusOr<std::string> PodRuntime::CreateContainer(const std::string& sandbox_id_or_prefix,
                                                        const v1::ContainerConfig& config,
                                                        const v1::PodSandboxConfig& request_sandbox_config) {
  if (config.metadata().name().empty()) return absl::InvalidArgumentError("CreateContainer: metadata.name is required");
  if (config.image().image().empty()) return absl::InvalidArgumentError("CreateContainer: image is required");
  absl::StatusOr<std::string> sandbox_id = store_->ResolveSandboxId(sandbox_id_or_prefix);
  if (!sandbox_id.ok()) return sandbox_id.status();
  std::optional<SandboxRecord> sandbox = store_->GetSandbox(*sandbox_id);
  if (!sandbox) return absl::NotFoundError(absl::StrCat("pod sandbox \"", *sandbox_id, "\" not found"));
  if (sandbox->stopped()) {
    return absl::FailedPreconditionError(absl::StrCat("pod sandbox ", *sandbox_id, " is stopped"));
  }
  // The sandbox's own config is authoritative; the request's copy may be partial (crictl).
  const v1::PodSandboxConfig& sandbox_config =
      sandbox->config().has_metadata() ? sandbox->config() : request_sandbox_config;

  absl::StatusOr<ContainerImage> image = ResolveContainerImage(config);
  if (!image.ok()) return image.status();
  // The flist mount is pinned until the record naming it is stored (then removing the record
  // releases it); failing before that releases it here.
  bool flist_mount_recorded = false;
  absl::Cleanup unpin_flist_mount = [&] {
    if (image->flist_mount.empty()) return;
    UnpinFlistMount(image->flist_mount);
    if (!flist_mount_recorded) ReleaseFlistMount(image->flist_mount, "");
  };
  absl::StatusOr<oci::ImageConfig> image_config = oci::ParseImageConfig(image->config_json);
  if (!image_config.ok()) return WithContext(image_config.status(), "image config of " + image->id);

  ContainerRecord record;
  {
    std::lock_guard names(names_mu_);
    for (const ContainerRecord& other : store_->ContainersOf(*sandbox_id)) {
      if (other.config().metadata().name() == config.metadata().name() &&
          other.config().metadata().attempt() == config.metadata().attempt()) {
        return absl::AlreadyExistsError(absl::StrCat("container ", config.metadata().name(), " attempt ",
                                                     config.metadata().attempt(), " already exists in pod sandbox ",
                                                     *sandbox_id, " as ", other.id()));
      }
    }
    record.set_id(NewId());
    record.set_sandbox_id(*sandbox_id);
    *record.mutable_config() = config;
    record.set_image_id(image->id);
    std::string user_image = config.image().user_specified_image();
    if (user_image.empty() && config.image().image() != image->id) user_image = config.image().image();
    if (user_image.empty()) user_image = image->name;
    record.set_image_name(user_image);
    record.set_image_ref(image->ref);
    record.set_flist_mount(image->flist_mount);
    record.set_created_at_ns(NowNs());
    std::string dir = store_->ContainerDir(record.id());
    record.set_bundle_dir(dir + "/bundle");
    record.set_rootfs(dir + "/bundle/rootfs");
    record.set_upper_dir(dir + "/upper");
    record.set_state_dir(absl::StrCat(config_.state_dir, "/containers/", record.id()));
    record.set_shim_socket(ShimSocketPath(record.id()));
    record.set_runtime_handler(sandbox->runtime_handler());
    if (!sandbox_config.log_directory().empty() && !config.log_path().empty()) {
      record.set_log_path(absl::StrCat(sandbox_config.log_directory(), "/", config.log_path()));
    }
    record.set_stop_signal(oci::ResolveStopSignal(config.stop_signal(), image_config->stop_signal));
    if (config.has_linux() && config.linux().has_resources()) *record.mutable_resources() = config.linux().resources();
    if (absl::Status s = store_->PutContainer(record); !s.ok()) return s;
    flist_mount_recorded = true;
  }
  std::move(unpin_flist_mount).Invoke();
  const std::string id = record.id();
  auto lock = LockFor(id);
  std::lock_guard guard(*lock);

  bool success = false;
  absl::Cleanup rollback = [&] {
    if (!success) (void)RemoveContainerLocked(record);
  };
  absl::StatusOr<const RuntimeHandler*> handler = Handler(record.runtime_handler());
  if (!handler.ok()) return handler.status();

  if (!image->is_flist) {
    if (absl::Status s = images_->LeaseLayers(id, image->id); !s.ok()) return WithContext(s, "lease image layers");
  }
  std::string dir = store_->ContainerDir(id);
  if (absl::Status s = MountOverlay(image->lower_dirs, record.upper_dir(), dir + "/work", record.rootfs()); !s.ok())
    return s;
  if (!record.log_path().empty()) {
    std::string log_dir = record.log_path().substr(0, record.log_path().rfind('/'));
    if (absl::Status s = fs::MakeDirs(log_dir, 0755); !s.ok()) return WithContext(s, "log directory");
  }

  oci::ContainerSpecOptions spec_options;
  spec_options.container_id = id;
  spec_options.sandbox_id = *sandbox_id;
  spec_options.rootfs = record.rootfs();
  spec_options.sandbox_namespaces = oci::NamespacePathsOfPid(sandbox->pid());
  std::string files = store_->SandboxDir(*sandbox_id) + "/files";
  spec_options.resolv_conf_path = files + "/resolv.conf";
  spec_options.hostname_path = files + "/hostname";
  spec_options.hosts_path = files + "/hosts";
  spec_options.shm_path = sandbox->shm_path();
  spec_options.cgroup_driver =
      config_.cgroup_driver == CgroupDriver::kSystemd ? oci::CgroupDriver::kSystemd : oci::CgroupDriver::kCgroupfs;
  spec_options.host = host_;
  bool privileged = config.has_linux() && config.linux().has_security_context() &&
                    config.linux().security_context().privileged();
  if (privileged) spec_options.host_devices = oci::ScanHostDevices("/dev");
  absl::StatusOr<nlohmann::json> spec = oci::BuildContainerSpec(config, sandbox_config, *image_config, spec_options);
  if (!spec.ok()) return spec.status();
  if (image->is_flist) {
    // Best effort: the runtime and the process find the entrypoint themselves.
    if (absl::StatusOr<std::string> warmed = WarmEntrypoint(record.rootfs(), *spec); !warmed.ok()) {
      FLINT_LOG(DEBUG) << "container " << id << ": entrypoint not prefetched: " << warmed.status().message();
    }
  }
  if (absl::Status s = fs::WriteFileAtomic(record.bundle_dir() + "/config.json", spec->dump(), 0600); !s.ok()) return s;
  if (absl::Status s = fs::MakeDirs(record.state_dir(), 0711); !s.ok()) return s;

  shim::ShimSpawnOptions shim_options;
  shim_options.shim_binary = options_.shim_binary;
  shim_options.id = id;
  shim_options.bundle = record.bundle_dir();
  shim_options.runtime = (*handler)->path;
  shim_options.runtime_args = (*handler)->args;
  std::shared_ptr<const SealedRuntimeCopy> runtime_copy = runtime_copies_.For(**handler);  // open until the shim has it
  shim_options.runtime_fd = runtime_copy ? runtime_copy->fd() : -1;
  shim_options.state_dir = record.state_dir();
  shim_options.log_path = record.log_path().empty() ? record.state_dir() + "/console.log" : record.log_path();
  shim_options.socket_path = record.shim_socket();
  shim_options.tty = config.tty();
  shim_options.stdin_open = config.stdin();
  // Zero-OS log sink: the shim publishes each log record (cri/stats/redis_sink.h).
  if (auto sink = sandbox_config.annotations().find(stats::kLogsRedisAnnotation);
      sink != sandbox_config.annotations().end()) {
    absl::StatusOr<std::string> target = stats::ResolveLogsRedisForShim(sink->second);
    if (target.ok()) {
      shim_options.logs_redis = *target;
    } else if (target.status().code() == absl::StatusCode::kInvalidArgument) {
      return WithContext(target.status(), "create container");
    } else {
      FLINT_LOG(WARN) << "container " << id << ": no log sink: " << target.status().message();
    }
  }
  absl::StatusOr<shim::ShimClient> client = shim::ShimClient::Spawn(shim_options);
  if (!client.ok()) return WithContext(client.status(), "create container");
  success = true;
  FLINT_LOG(INFO) << "rpc=CreateContainer container=" << id << " name=" << config.metadata().name()
                  << " sandbox=" << *sandbox_id << " image=" << image->id;
  return id;
}

absl::Status PodRuntime::StartContainer(const std::string& id_or_prefix) {
  absl::StatusOr<std::string> id = store_->ResolveContainerId(id_or_prefix);
  if (!id.ok()) return id.status();
  auto lock = LockFor(*id);
  std::lock_guard guard(*lock);
  std::optional<ContainerRecord> record = store_->GetContainer(*id);
  if (!record) return absl::NotFoundError(absl::StrCat("container \"", *id, "\" not found"));
  absl::StatusOr<shim::ShimStatus> state = ShimState(*record);
  if (!state.ok()) return state.status();
  if (state->state != shim::ContainerState::kCreated) {
    return absl::FailedPreconditionError(absl::StrCat("container ", *id, " is ",
                                                      std::string(shim::ContainerStateName(state->state)), ", not created"));
  }
  shim::ShimClient client(record->shim_socket());
  absl::StatusOr<shim::ShimStatus> started = client.Start();
  if (!started.ok()) return WithContext(started.status(), "start container " + *id);
  FLINT_LOG(INFO) << "rpc=StartContainer container=" << *id << " pid=" << started->pid;
  return absl::OkStatus();
}

absl::Status PodRuntime::KillAndWait(const ContainerRecord& record, int signal, absl::Duration wait) {
  shim::ShimClient client(record.shim_socket());
  client.set_call_timeout(absl::Seconds(10));
  if (absl::Status s = client.Kill(signal, /*all=*/signal == SIGKILL); !s.ok()) {
    absl::StatusOr<shim::ShimStatus> state = ShimState(record);
    if (state.ok() && state->state != shim::ContainerState::kRunning) return absl::OkStatus();
    return WithContext(s, absl::StrCat("signal ", signal, " to container ", record.id()));
  }
  absl::Time deadline = absl::Now() + wait;
  while (true) {
    absl::StatusOr<shim::ShimStatus> state = ShimState(record);
    if (state.ok() && state->state != shim::ContainerState::kRunning) return absl::OkStatus();
    if (absl::Now() >= deadline) return absl::DeadlineExceededError("container still running");
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

absl::Status PodRuntime::StopContainer(const std::string& id_or_prefix, int64_t timeout_seconds) {
  absl::StatusOr<std::string> id = store_->ResolveContainerId(id_or_prefix);
  if (!id.ok()) return id.status().code() == absl::StatusCode::kNotFound ? absl::OkStatus() : id.status();
  auto lock = LockFor(*id);
  std::lock_guard guard(*lock);
  std::optional<ContainerRecord> record = store_->GetContainer(*id);
  if (!record) return absl::OkStatus();
  absl::StatusOr<shim::ShimStatus> state = ShimState(*record);
  if (!state.ok() || state->state != shim::ContainerState::kRunning) return absl::OkStatus();
  if (timeout_seconds > 0) {
    int stop_signal = record->stop_signal() > 0 ? record->stop_signal() : SIGTERM;
    if (KillAndWait(*record, stop_signal, absl::Seconds(timeout_seconds)).ok()) {
      FLINT_LOG(INFO) << "rpc=StopContainer container=" << *id << " stopped by signal " << stop_signal;
      return absl::OkStatus();
    }
  }
  if (absl::Status s = KillAndWait(*record, SIGKILL, absl::Seconds(30)); !s.ok()) {
    return WithContext(s, "kill container " + *id);
  }
  FLINT_LOG(INFO) << "rpc=StopContainer container=" << *id << " killed";
  return absl::OkStatus();
}

absl::Status PodRuntime::RemoveContainerLocked(const ContainerRecord& record) {
  ContainerRecord marked = record;
  marked.set_removing(true);
  (void)store_->PutContainer(marked);
  absl::StatusOr<shim::ShimStatus> state = ShimState(record);
  if (state.ok() && state->state == shim::ContainerState::kRunning) {
    if (absl::Status s = KillAndWait(record, SIGKILL, absl::Seconds(30)); !s.ok()) return s;
  }
  DeleteOciContainer(record.id(), record.shim_socket(), record.runtime_handler());
  unlink(record.shim_socket().c_str());
  if (absl::Status s = Unmount(record.rootfs()); !s.ok()) return s;
  if (absl::Status s = images_->ReleaseLayers(record.id()); !s.ok()) {
    FLINT_LOG(WARN) << "release layers of " << record.id() << ": " << s.message();
  }
  ReleaseFlistMount(record.flist_mount(), record.id());
  if (absl::Status s = fs::RemoveAll(record.state_dir()); !s.ok()) return s;
  return store_->DeleteContainer(record.id());
}

absl::Status PodRuntime::RemoveContainer(const std::string& id_or_prefix) {
  absl::StatusOr<std::string> id = store_->ResolveContainerId(id_or_prefix);
  if (!id.ok()) return id.status().code() == absl::StatusCode::kNotFound ? absl::OkStatus() : id.status();
  auto lock = LockFor(*id);
  std::lock_guard guard(*lock);
  std::optional<ContainerRecord> record = store_->GetContainer(*id);
  if (!record) return absl::OkStatus();
  if (absl::Status s = RemoveContainerLocked(*record); !s.ok()) return WithContext(s, "remove container " + *id);
  FLINT_LOG(INFO) << "rpc=RemoveContainer container=" << *id << " removed";
  return absl::OkStatus();
}

void PodRuntime::FillContainer(const ContainerRecord& record, const shim::ShimStatus* state,
                               v1::Container* out) const {
  out->set_id(record.id());
  out->set_pod_sandbox_id(record.sandbox_id());
  *out->mutable_metadata() = record.config().metadata();
  out->mutable_image()->set_image(record.image_name());
  out->mutable_image()->set_user_specified_image(record.config().image().user_specified_image());
  out->set_image_ref(record.image_ref());
  out->set_image_id(record.image_id());
  out->set_state(state ? CriState(state->state) : v1::CONTAINER_UNKNOWN);
  out->set_created_at(record.created_at_ns());
  *out->mutable_labels() = record.config().labels();
  *out->mutable_annotations() = record.config().annotations();
}

absl::StatusOr<v1::ContainerStatus> PodRuntime::ContainerStatus(const std::string& id_or_prefix,
                                                                std::map<std::string, std::string>* info) {
  absl::StatusOr<std::string> id = store_->ResolveContainerId(id_or_prefix);
  if (!id.ok()) return id.status();
  std::optional<ContainerRecord> record = store_->GetContainer(*id);
  if (!record) return absl::NotFoundError(absl::StrCat("container \"", id_or_prefix, "\" not found"));
  absl::StatusOr<shim::ShimStatus> state = ShimState(*record);
  v1::ContainerStatus status;
  status.set_id(record->id());
  *status.mutable_metadata() = record->config().metadata();
  status.set_created_at(record->created_at_ns());
  status.mutable_image()->set_image(record->image_name());
  status.mutable_image()->set_user_specified_image(record->config().image().user_specified_image());
  status.set_image_ref(record->image_ref());
  status.set_image_id(record->image_id());
  *status.mutable_labels() = record->config().labels();
  *status.mutable_annotations() = record->config().annotations();
  *status.mutable_mounts() = record->config().mounts();
  status.set_log_path(record->log_path());
  if (record->has_resources()) *status.mutable_resources()->mutable_linux() = record->resources();
  status.set_stop_signal(CriSignal(record->stop_signal()));
  if (!state.ok()) {
    status.set_state(v1::CONTAINER_UNKNOWN);
    status.set_reason("Unknown");
    status.set_message(std::string(state.status().message()));
  } else {
    status.set_state(CriState(state->state));
    status.set_started_at(state->started_at_ns);
    if (state->state == shim::ContainerState::kStopped) {
      status.set_finished_at(state->finished_at_ns);
      status.set_exit_code(state->exit_code);
      if (state->oom_killed) {
        status.set_reason("OOMKilled");
      } else {
        status.set_reason(state->exit_code == 0 ? "Completed" : "Error");
      }
      status.set_message(state->message);
    }
  }
  if (info != nullptr) {
    nlohmann::json j = {{"sandboxID", record->sandbox_id()},
                        {"pid", state.ok() ? state->pid : 0},
                        {"bundle", record->bundle_dir()},
                        {"rootfs", record->rootfs()},
                        {"runtimeHandler", record->runtime_handler()}};
    (*info)["info"] = j.dump();
  }
  return status;
}

std::vector<v1::Container> PodRuntime::ListContainers(const v1::ContainerFilter* filter) {
  std::vector<v1::Container> out;
  for (const ContainerRecord& record : store_->Containers()) {
    if (filter != nullptr) {
      if (!filter->id().empty() && !absl::StartsWith(record.id(), filter->id())) continue;
      if (!filter->pod_sandbox_id().empty() && !absl::StartsWith(record.sandbox_id(), filter->pod_sandbox_id()))
        continue;
      if (!LabelsMatch(record.config().labels(), filter->label_selector())) continue;
    }
    absl::StatusOr<shim::ShimStatus> state = ShimState(record);
    v1::Container container;
    FillContainer(record, state.ok() ? &*state : nullptr, &container);
    if (filter != nullptr && filter->has_state() && filter->state().state() != container.state()) continue;
    out.push_back(std::move(container));
  }
  return out;
}

absl::StatusOr<ContainerRecord> PodRuntime::RunningContainer(const std::string& id_or_prefix, const char* to_do) {
  absl::StatusOr<std::string> id = store_->ResolveContainerId(id_or_prefix);
  if (!id.ok()) return id.status();
  std::optional<ContainerRecord> record = store_->GetContainer(*id);
  if (!record) return absl::NotFoundError(absl::StrCat("container \"", *id, "\" not found"));
  absl::StatusOr<shim::ShimStatus> state = ShimState(*record);
  if (!state.ok()) return state.status();
  if (state->state != shim::ContainerState::kRunning) {
    return absl::FailedPreconditionError(absl::StrCat("container ", *id, " is not running; cannot ", to_do));
  }
  return *record;
}

absl::StatusOr<v1::ExecSyncResponse> PodRuntime::ExecSync(const std::string& id_or_prefix,
                                                          const std::vector<std::string>& cmd,
                                                          int64_t timeout_seconds) {
  if (cmd.empty()) return absl::InvalidArgumentError("ExecSync: cmd is empty");
  absl::StatusOr<ContainerRecord> record = RunningContainer(id_or_prefix, "exec in it");
  if (!record.ok()) return record.status();
  const std::string* id = &record->id();
  shim::ShimClient client(record->shim_socket());
  shim::ExecRequest request;
  request.args = cmd;
  request.timeout = timeout_seconds > 0 ? absl::Seconds(timeout_seconds) : absl::ZeroDuration();
  client.set_call_timeout(timeout_seconds > 0 ? absl::Seconds(timeout_seconds + 30) : absl::Hours(24));
  absl::StatusOr<shim::ExecResult> result = client.Exec(request);
  if (!result.ok()) return WithContext(result.status(), "exec in container " + *id);
  if (result->timed_out) {
    return absl::DeadlineExceededError(
        absl::StrCat("command timed out after ", timeout_seconds, "s in container ", *id));
  }
  v1::ExecSyncResponse response;
  response.set_stdout(result->stdout_data);
  response.set_stderr(result->stderr_data);
  response.set_exit_code(result->exit_code);
  return response;
}

absl::Status PodRuntime::ReopenContainerLog(const std::string& id_or_prefix) {
  absl::StatusOr<ContainerRecord> record = RunningContainer(id_or_prefix, "reopen its log");
  if (!record.ok()) return record.status();
  shim::ShimClient client(record->shim_socket());
  return WithContext(client.Reopen(), "reopen log of container " + record->id());
}

absl::Status PodRuntime::UpdateContainerResources(const std::string& id_or_prefix,
                                                  const v1::LinuxContainerResources& update) {
  absl::StatusOr<std::string> id = store_->ResolveContainerId(id_or_prefix);
  if (!id.ok()) return id.status();
  auto lock = LockFor(*id);
  std::lock_guard guard(*lock);
  std::optional<ContainerRecord> record = store_->GetContainer(*id);
  if (!record) return absl::NotFoundError(absl::StrCat("container \"", *id, "\" not found"));
  std::string spec_path = record->bundle_dir() + "/config.json";
  absl::StatusOr<std::string> spec_text = fs::ReadFile(spec_path);
  if (!spec_text.ok()) return spec_text.status();
  nlohmann::json spec = nlohmann::json::parse(*spec_text, nullptr, false);
  if (spec.is_discarded()) return absl::DataLossError(absl::StrCat("corrupt OCI spec ", spec_path));
  if (absl::Status s = oci::UpdateResources(spec, update, host_); !s.ok()) return s;
  absl::StatusOr<shim::ShimStatus> state = ShimState(*record);
  if (state.ok() && state->state != shim::ContainerState::kStopped) {
    absl::StatusOr<const RuntimeHandler*> handler = Handler(record->runtime_handler());
    if (!handler.ok()) return handler.status();
    absl::StatusOr<std::string> out =
        RunRuntime(**handler, {"update", "--resources", "-", *id}, spec["linux"]["resources"].dump());
    if (!out.ok()) return WithContext(out.status(), "update resources of container " + *id);
  }
  if (absl::Status s = fs::WriteFileAtomic(spec_path, spec.dump(), 0600); !s.ok()) return s;
  *record->mutable_resources() = oci::MergeResources(record->resources(), update);
  return store_->PutContainer(*record);
}

}  // namespace flint::runtime
