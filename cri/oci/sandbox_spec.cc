// BuildSandboxSpec: the pod's infra container running /flint-pause.
#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "cri/oci/capabilities.h"
#include "cri/oci/mounts.h"
#include "cri/oci/resources.h"
#include "cri/oci/security_profiles.h"
#include "cri/oci/spec_builder.h"
#include "cri/oci/spec_common.h"

namespace flint::oci {

using internal::Namespace;

SandboxNamespacePaths NamespacePathsOfPid(pid_t pid) {
  const std::string base = absl::StrCat("/proc/", pid, "/ns/");
  return {base + "net", base + "ipc", base + "uts", base + "pid"};
}

absl::StatusOr<nlohmann::json> BuildSandboxSpec(const runtime::v1::PodSandboxConfig& config,
                                                const SandboxSpecOptions& options) {
  const std::string context = absl::StrCat("sandbox ", options.sandbox_id, " spec");
  auto fail = [&](const absl::Status& s) { return absl::Status(s.code(), absl::StrCat(context, ": ", s.message())); };
  if (options.rootfs.empty()) return fail(absl::InvalidArgumentError("no rootfs"));

  const auto& linux = config.linux();
  const auto& sc = linux.security_context();
  const auto& ns = sc.namespace_options();
  const bool host_network = ns.network() == runtime::v1::NODE;
  const bool host_ipc = ns.ipc() == runtime::v1::NODE;
  const bool host_pid = ns.pid() == runtime::v1::NODE;
  if (ns.has_userns_options() && ns.userns_options().mode() == runtime::v1::POD &&
      (ns.userns_options().uids_size() > 0 || ns.userns_options().gids_size() > 0)) {
    return fail(absl::UnimplementedError("user namespaces are not supported"));
  }
  if (absl::Status s = internal::ValidateSysctls(linux.sysctls(), host_network, host_ipc); !s.ok()) return fail(s);

  // The pause rootfs is shared by all sandboxes: always read-only.
  nlohmann::json spec = internal::BaseSpec(options.rootfs, /*readonly_rootfs=*/true);
  nlohmann::json& process = spec["process"];
  process["args"] = {kPauseBinaryPath};
  process["env"] = {internal::kDefaultPathEnv};
  process["noNewPrivileges"] = true;
  process["oomScoreAdj"] = ClampOomScoreAdj(kSandboxOomScoreAdj, options.host.oom_score_adj_floor);

  ResolvedUser user;
  if (sc.has_run_as_group() && !sc.has_run_as_user()) {
    return fail(absl::InvalidArgumentError("run_as_group is set without run_as_user"));
  }
  if (sc.has_run_as_user()) user.uid = static_cast<uint32_t>(sc.run_as_user().value());
  if (sc.has_run_as_group()) user.gid = static_cast<uint32_t>(sc.run_as_group().value());
  user.additional_gids.push_back(user.gid);
  for (int64_t g : sc.supplemental_groups()) user.additional_gids.push_back(static_cast<uint32_t>(g));
  process["user"] = internal::ProcessUser(user);

  const std::vector<std::string>& all_caps =
      options.host.all_capabilities.empty() ? KnownCapabilities() : options.host.all_capabilities;
  // flint-pause needs no capabilities at all.
  std::vector<std::string> caps = sc.privileged() ? all_caps : std::vector<std::string>{};
  process["capabilities"] = internal::Capabilities(caps, {});

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"  // the kubelet may still send the old field
  auto seccomp_choice = ChooseProfile(sc.has_seccomp() ? &sc.seccomp() : nullptr, sc.seccomp_profile_path());
#pragma GCC diagnostic pop
  if (!seccomp_choice.ok()) return fail(seccomp_choice.status());
  auto seccomp = SeccompFor(*seccomp_choice, sc.privileged(), caps);
  if (!seccomp.ok()) return fail(seccomp.status());
  if (seccomp->has_value()) spec["linux"]["seccomp"] = **seccomp;

  if (!host_network && !config.hostname().empty()) spec["hostname"] = config.hostname();

  nlohmann::json& namespaces = spec["linux"]["namespaces"];
  namespaces.push_back(Namespace("mount"));
  if (!host_network) {
    namespaces.push_back(Namespace("network", options.netns_path));
    namespaces.push_back(Namespace("uts"));
  }
  if (!host_ipc) namespaces.push_back(Namespace("ipc"));
  if (!host_pid) namespaces.push_back(Namespace("pid"));
  if (options.host.cgroup_v2) namespaces.push_back(Namespace("cgroup"));

  std::vector<nlohmann::json> mounts = DefaultMounts(sc.privileged(), /*with_cgroup_mount=*/false);
  if (host_ipc) mounts.push_back(BindMount("/dev/shm", "/dev/shm", false));
  else if (!options.shm_path.empty()) mounts.push_back(BindMount(options.shm_path, "/dev/shm", false, {"rprivate", "nosuid", "nodev", "noexec"}));
  else mounts.push_back(PrivateShmMount());
  spec["mounts"] = mounts;

  if (!sc.privileged()) {
    spec["linux"]["maskedPaths"] = DefaultMaskedPaths();
    spec["linux"]["readonlyPaths"] = DefaultReadonlyPaths();
  } else {
    spec["linux"]["resources"]["devices"] = {{{"allow", true}, {"access", "rwm"}}};
  }

  if (!linux.sysctls().empty()) {
    nlohmann::json sysctl = nlohmann::json::object();
    for (const auto& [k, v] : linux.sysctls()) sysctl[k] = v;
    spec["linux"]["sysctl"] = std::move(sysctl);
  }

  // Pod overhead is what the sandbox itself costs; fall back to the pod-level
  // resources when only those are given.
  if (linux.has_overhead()) spec["linux"]["resources"].merge_patch(ResourcesToOci(linux.overhead(), options.host));
  else if (linux.has_resources()) spec["linux"]["resources"].merge_patch(ResourcesToOci(linux.resources(), options.host));

  const std::string& parent = options.cgroup_parent.empty() ? linux.cgroup_parent() : options.cgroup_parent;
  auto cgroups_path = CgroupsPath(options.cgroup_driver, parent, options.sandbox_id);
  if (!cgroups_path.ok()) return fail(cgroups_path.status());
  spec["linux"]["cgroupsPath"] = *cgroups_path;

  nlohmann::json& annotations = spec["annotations"];
  for (const auto& [k, v] : config.annotations()) annotations[k] = v;
  annotations["io.kubernetes.cri.container-type"] = "sandbox";
  annotations["io.kubernetes.cri.sandbox-id"] = options.sandbox_id;
  annotations["io.kubernetes.cri.sandbox-name"] = config.metadata().name();
  annotations["io.kubernetes.cri.sandbox-namespace"] = config.metadata().namespace_();
  annotations["io.kubernetes.cri.sandbox-uid"] = config.metadata().uid();
  if (!config.log_directory().empty()) annotations["io.kubernetes.cri.sandbox-log-directory"] = config.log_directory();
  return spec;
}

}  // namespace flint::oci
