// BuildContainerSpec: a workload container joining its sandbox's namespaces.
#include <unistd.h>

#include <algorithm>
#include <climits>

#include "absl/strings/str_cat.h"
#include "cri/oci/capabilities.h"
#include "cri/oci/mounts.h"
#include "cri/oci/resources.h"
#include "cri/oci/security_profiles.h"
#include "cri/oci/spec_builder.h"
#include "cri/oci/spec_common.h"
#include "cri/oci/user_resolver.h"

namespace flint::oci {
namespace {

using internal::Namespace;

std::string EnvName(const std::string& kv) { return kv.substr(0, kv.find('=')); }

void SetEnv(std::vector<std::string>& env, const std::string& kv) {
  const std::string name = EnvName(kv);
  for (auto& e : env) {
    if (EnvName(e) == name) {
      e = kv;
      return;
    }
  }
  env.push_back(kv);
}

std::string HostHostname() {
  char buf[HOST_NAME_MAX + 1] = {};
  if (gethostname(buf, sizeof(buf) - 1) != 0) return "";
  return buf;
}

bool HasMountAt(const runtime::v1::ContainerConfig& config, const std::string& path) {
  return std::any_of(config.mounts().begin(), config.mounts().end(),
                     [&](const runtime::v1::Mount& m) { return m.container_path() == path; });
}

absl::Status AddNamespaces(nlohmann::json& namespaces, const runtime::v1::NamespaceOption& ns,
                           const ContainerSpecOptions& options) {
  namespaces.push_back(Namespace("mount"));
  if (ns.network() != runtime::v1::NODE) {
    namespaces.push_back(Namespace("network", options.sandbox_namespaces.network));
    namespaces.push_back(Namespace("uts", options.sandbox_namespaces.uts));
  }
  if (ns.ipc() != runtime::v1::NODE) namespaces.push_back(Namespace("ipc", options.sandbox_namespaces.ipc));
  switch (ns.pid()) {
    case runtime::v1::NODE: break;
    case runtime::v1::POD: namespaces.push_back(Namespace("pid", options.sandbox_namespaces.pid)); break;
    case runtime::v1::CONTAINER: namespaces.push_back(Namespace("pid")); break;
    case runtime::v1::TARGET:
      if (options.target_pid_namespace.empty()) {
        return absl::InvalidArgumentError(
            absl::StrCat("pid namespace mode TARGET (target ", ns.target_id(), ") without a target namespace path"));
      }
      namespaces.push_back(Namespace("pid", options.target_pid_namespace));
      break;
    default: return absl::InvalidArgumentError(absl::StrCat("unknown pid namespace mode ", ns.pid()));
  }
  if (options.host.cgroup_v2) namespaces.push_back(Namespace("cgroup"));
  return absl::OkStatus();
}

// linux.devices and device cgroup rules for CRI devices (and all host
// devices when privileged).
absl::Status AddDevices(nlohmann::json& spec, const runtime::v1::ContainerConfig& config, bool privileged,
                        const ContainerSpecOptions& options) {
  nlohmann::json devices = nlohmann::json::array();
  nlohmann::json& rules = spec["linux"]["resources"]["devices"];
  auto has_device_at = [&](const std::string& path) {
    return std::any_of(devices.begin(), devices.end(), [&](const nlohmann::json& d) { return d["path"] == path; });
  };
  if (privileged) {
    rules = {{{"allow", true}, {"access", "rwm"}}};
    for (const auto& node : options.host_devices) devices.push_back(OciDevice(node, node.path));
  }
  StatDeviceLookup stat_lookup;
  const DeviceLookup& lookup = options.device_lookup != nullptr ? *options.device_lookup : stat_lookup;
  for (const auto& d : config.devices()) {
    const std::string container_path = d.container_path().empty() ? d.host_path() : d.container_path();
    auto node = lookup.Lookup(d.host_path());
    if (!node.ok()) return absl::Status(node.status().code(), absl::StrCat("device ", d.host_path(), ": ", node.status().message()));
    auto access = NormalizeDevicePermissions(d.permissions());
    if (!access.ok()) return access.status();
    if (has_device_at(container_path)) {
      for (auto& existing : devices) {
        if (existing["path"] == container_path) existing = OciDevice(*node, container_path);
      }
    } else {
      devices.push_back(OciDevice(*node, container_path));
    }
    if (!privileged) rules.push_back(DeviceCgroupAllowRule(*node, *access));
  }
  if (!devices.empty()) spec["linux"]["devices"] = std::move(devices);
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::vector<std::string>> ContainerArgs(const runtime::v1::ContainerConfig& config,
                                                       const ImageConfig& image) {
  std::vector<std::string> args;
  if (config.command_size() > 0) {
    args.assign(config.command().begin(), config.command().end());
    args.insert(args.end(), config.args().begin(), config.args().end());
  } else {
    args = image.entrypoint;
    if (config.args_size() > 0) args.insert(args.end(), config.args().begin(), config.args().end());
    else args.insert(args.end(), image.cmd.begin(), image.cmd.end());
  }
  if (args.empty()) return absl::InvalidArgumentError("no command specified");
  return args;
}

std::vector<std::string> ContainerEnv(const runtime::v1::ContainerConfig& config, const ImageConfig& image,
                                      const std::string& hostname) {
  std::vector<std::string> env = {internal::kDefaultPathEnv};
  if (!hostname.empty()) SetEnv(env, "HOSTNAME=" + hostname);
  for (const auto& kv : image.env) SetEnv(env, kv);
  for (const auto& kv : config.envs()) SetEnv(env, absl::StrCat(kv.key(), "=", kv.value()));
  return env;
}

absl::StatusOr<nlohmann::json> BuildContainerSpec(const runtime::v1::ContainerConfig& config,
                                                  const runtime::v1::PodSandboxConfig& sandbox_config,
                                                  const ImageConfig& image,
                                                  const ContainerSpecOptions& options) {
  const std::string context = absl::StrCat("container ", options.container_id, " (", config.metadata().name(), ") spec");
  auto fail = [&](const absl::Status& s) { return absl::Status(s.code(), absl::StrCat(context, ": ", s.message())); };
  if (options.rootfs.empty()) return fail(absl::InvalidArgumentError("no rootfs"));

  const auto& sc = config.linux().security_context();
  const auto& sandbox_sc = sandbox_config.linux().security_context();
  const auto& ns = sc.has_namespace_options() ? sc.namespace_options() : sandbox_sc.namespace_options();
  const bool privileged = sc.privileged();
  if (privileged && !sandbox_sc.privileged()) {
    return fail(absl::InvalidArgumentError("privileged container in a non-privileged sandbox"));
  }
  if (ns.has_userns_options() && ns.userns_options().mode() == runtime::v1::POD &&
      (ns.userns_options().uids_size() > 0 || ns.userns_options().gids_size() > 0)) {
    return fail(absl::UnimplementedError("user namespaces are not supported"));
  }
  const bool host_network = ns.network() == runtime::v1::NODE;
  const bool host_ipc = ns.ipc() == runtime::v1::NODE;

  nlohmann::json spec = internal::BaseSpec(options.rootfs, sc.readonly_rootfs());
  nlohmann::json& process = spec["process"];

  auto args = ContainerArgs(config, image);
  if (!args.ok()) return fail(args.status());
  process["args"] = *args;
  process["terminal"] = config.tty();
  const std::string hostname = host_network || sandbox_config.hostname().empty() ? HostHostname() : sandbox_config.hostname();
  process["env"] = ContainerEnv(config, image, hostname);
  process["cwd"] = !config.working_dir().empty() ? config.working_dir()
                   : !image.working_dir.empty()  ? image.working_dir
                                                 : std::string("/");

  UserRequest user_request;
  if (sc.has_run_as_user()) user_request.run_as_user = sc.run_as_user().value();
  if (sc.has_run_as_group()) user_request.run_as_group = sc.run_as_group().value();
  user_request.run_as_username = sc.run_as_username();
  user_request.image_user = image.user;
  user_request.supplemental_groups.assign(sc.supplemental_groups().begin(), sc.supplemental_groups().end());
  user_request.strict_supplemental_groups = sc.supplemental_groups_policy() == runtime::v1::Strict;
  auto user = ResolveUser(options.rootfs, user_request);
  if (!user.ok()) return fail(user.status());
  process["user"] = internal::ProcessUser(*user);

  const std::vector<std::string>& all_caps =
      options.host.all_capabilities.empty() ? KnownCapabilities() : options.host.all_capabilities;
  std::vector<std::string> caps;
  std::vector<std::string> ambient;
  if (privileged) {
    caps = all_caps;
  } else {
    const auto& c = sc.capabilities();
    auto applied = ApplyCapabilityChanges(DefaultCapabilities(), all_caps,
                                          {c.add_capabilities().begin(), c.add_capabilities().end()},
                                          {c.drop_capabilities().begin(), c.drop_capabilities().end()});
    if (!applied.ok()) return fail(applied.status());
    caps = *std::move(applied);
    for (const auto& a : c.add_ambient_capabilities()) {
      auto n = NormalizeCapability(a);
      if (!n.ok() || *n == "ALL") return fail(absl::InvalidArgumentError(absl::StrCat("invalid ambient capability \"", a, "\"")));
      if (std::find(caps.begin(), caps.end(), *n) == caps.end()) caps.push_back(*n);
      ambient.push_back(*n);
    }
  }
  process["capabilities"] = internal::Capabilities(caps, ambient);
  process["noNewPrivileges"] = sc.no_new_privs();
  const int64_t oom = config.linux().resources().oom_score_adj();
  process["oomScoreAdj"] = ClampOomScoreAdj(oom, options.host.oom_score_adj_floor);

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"  // the kubelet may still send the old field
  auto seccomp_choice = ChooseProfile(sc.has_seccomp() ? &sc.seccomp() : nullptr, sc.seccomp_profile_path());
#pragma GCC diagnostic pop
  if (!seccomp_choice.ok()) return fail(seccomp_choice.status());
  auto seccomp = SeccompFor(*seccomp_choice, privileged, caps);
  if (!seccomp.ok()) return fail(seccomp.status());
  if (seccomp->has_value()) spec["linux"]["seccomp"] = **seccomp;

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"  // the kubelet may still send the old field
  auto apparmor_choice = ChooseProfile(sc.has_apparmor() ? &sc.apparmor() : nullptr, sc.apparmor_profile());
#pragma GCC diagnostic pop
  if (!apparmor_choice.ok()) return fail(apparmor_choice.status());
  auto apparmor = AppArmorProfileFor(*apparmor_choice, privileged, options.host.apparmor_enabled,
                                     options.apparmor_default_profile);
  if (!apparmor.ok()) return fail(apparmor.status());
  if (!apparmor->empty()) process["apparmorProfile"] = *apparmor;

  if (absl::Status s = AddNamespaces(spec["linux"]["namespaces"], ns, options); !s.ok()) return fail(s);
  // A container with its own UTS namespace (no sandbox to join) still gets the pod hostname.
  if (!host_network && options.sandbox_namespaces.uts.empty() && !sandbox_config.hostname().empty()) {
    spec["hostname"] = sandbox_config.hostname();
  }

  // Mounts: runtime defaults, then sandbox files, then CRI mounts, each
  // replacing earlier mounts at the same destination.
  std::vector<nlohmann::json> mounts = DefaultMounts(privileged, /*with_cgroup_mount=*/true);
  std::vector<nlohmann::json> sandbox_files;
  const bool files_readonly = sc.readonly_rootfs();
  if (!options.hostname_path.empty()) sandbox_files.push_back(BindMount(options.hostname_path, "/etc/hostname", files_readonly, {"rprivate"}));
  if (!options.resolv_conf_path.empty()) sandbox_files.push_back(BindMount(options.resolv_conf_path, "/etc/resolv.conf", files_readonly, {"rprivate"}));
  if (!options.hosts_path.empty() && !HasMountAt(config, "/etc/hosts")) {
    sandbox_files.push_back(BindMount(options.hosts_path, "/etc/hosts", files_readonly, {"rprivate"}));
  }
  if (host_ipc) sandbox_files.push_back(BindMount("/dev/shm", "/dev/shm", false, {"rprivate"}));
  else if (!options.shm_path.empty()) sandbox_files.push_back(BindMount(options.shm_path, "/dev/shm", false, {"rprivate", "nosuid", "nodev", "noexec"}));
  else sandbox_files.push_back(PrivateShmMount());
  MergeMounts(mounts, std::move(sandbox_files));

  std::vector<nlohmann::json> cri_mounts;
  std::string rootfs_propagation;
  for (const auto& m : config.mounts()) {
    auto oci_mount = CriMountToOci(m, options.create_missing_host_paths);
    if (!oci_mount.ok()) return fail(oci_mount.status());
    cri_mounts.push_back(*std::move(oci_mount));
    // Propagation from the host only works if the container's root mount
    // is itself a slave (or shared) of the host.
    if (m.propagation() == runtime::v1::PROPAGATION_BIDIRECTIONAL) rootfs_propagation = "rshared";
    else if (m.propagation() == runtime::v1::PROPAGATION_HOST_TO_CONTAINER && rootfs_propagation.empty()) rootfs_propagation = "rslave";
  }
  MergeMounts(mounts, std::move(cri_mounts));
  spec["mounts"] = mounts;
  if (!rootfs_propagation.empty()) spec["linux"]["rootfsPropagation"] = rootfs_propagation;

  if (!privileged) {
    spec["linux"]["maskedPaths"] = sc.masked_paths_size() > 0
        ? std::vector<std::string>(sc.masked_paths().begin(), sc.masked_paths().end()) : DefaultMaskedPaths();
    spec["linux"]["readonlyPaths"] = sc.readonly_paths_size() > 0
        ? std::vector<std::string>(sc.readonly_paths().begin(), sc.readonly_paths().end()) : DefaultReadonlyPaths();
  }

  if (absl::Status s = AddDevices(spec, config, privileged, options); !s.ok()) return fail(s);
  spec["linux"]["resources"].merge_patch(ResourcesToOci(config.linux().resources(), options.host));

  const std::string& parent = options.cgroup_parent.empty() ? sandbox_config.linux().cgroup_parent() : options.cgroup_parent;
  auto cgroups_path = CgroupsPath(options.cgroup_driver, parent, options.container_id);
  if (!cgroups_path.ok()) return fail(cgroups_path.status());
  spec["linux"]["cgroupsPath"] = *cgroups_path;

  nlohmann::json& annotations = spec["annotations"];
  for (const auto& [k, v] : config.labels()) annotations[k] = v;
  for (const auto& [k, v] : config.annotations()) annotations[k] = v;
  annotations["io.kubernetes.cri.container-type"] = "container";
  annotations["io.kubernetes.cri.container-name"] = config.metadata().name();
  annotations["io.kubernetes.cri.sandbox-id"] = options.sandbox_id;
  annotations["io.kubernetes.cri.sandbox-name"] = sandbox_config.metadata().name();
  annotations["io.kubernetes.cri.sandbox-namespace"] = sandbox_config.metadata().namespace_();
  annotations["io.kubernetes.cri.sandbox-uid"] = sandbox_config.metadata().uid();
  if (!config.image().image().empty()) annotations["io.kubernetes.cri.image-name"] = config.image().image();
  return spec;
}

}  // namespace flint::oci
