#include "cri/oci/spec_builder.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <map>

#include "cri/oci/capabilities.h"
#include "cri/oci/test_util.h"

namespace flint::oci {
namespace {

using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::Not;
using testing::TempDir;
using testing::WriteFile;

class FakeDeviceLookup : public DeviceLookup {
 public:
  std::map<std::string, DeviceNode> nodes;
  absl::StatusOr<DeviceNode> Lookup(const std::string& host_path) const override {
    auto it = nodes.find(host_path);
    if (it == nodes.end()) return absl::NotFoundError("no such device");
    return it->second;
  }
};

const nlohmann::json* FindMount(const nlohmann::json& spec, const std::string& destination) {
  for (const auto& m : spec["mounts"])
    if (m["destination"] == destination) return &m;
  return nullptr;
}

const nlohmann::json* FindNamespace(const nlohmann::json& spec, const std::string& type) {
  for (const auto& n : spec["linux"]["namespaces"])
    if (n["type"] == type) return &n;
  return nullptr;
}

std::vector<std::string> Strings(const nlohmann::json& j) { return j.get<std::vector<std::string>>(); }

class ContainerSpecTest : public ::testing::Test {
 protected:
  void SetUp() override {
    WriteFile(rootfs_.Sub("etc/passwd"), "root:x:0:0::/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n");
    WriteFile(rootfs_.Sub("etc/group"), "root:x:0:\napp:x:1000:\nwheel:x:10:app\n");
    config_.mutable_metadata()->set_name("web");
    config_.mutable_image()->set_image("sha256:abc");
    sandbox_.mutable_metadata()->set_name("pod");
    sandbox_.mutable_metadata()->set_namespace_("default");
    sandbox_.mutable_metadata()->set_uid("uid-1");
    sandbox_.set_hostname("pod-host");
    sandbox_.mutable_linux()->set_cgroup_parent("/kubepods/besteffort/poduid1");
    image_.entrypoint = {"/entry"};
    image_.cmd = {"serve"};
    image_.env = {"PATH=/img/bin", "A=image"};
    options_.container_id = "c1";
    options_.sandbox_id = "s1";
    options_.rootfs = rootfs_.path();
    options_.sandbox_namespaces = NamespacePathsOfPid(4242);
    options_.resolv_conf_path = files_.Sub("resolv.conf");
    options_.hostname_path = files_.Sub("hostname");
    options_.hosts_path = files_.Sub("hosts");
    options_.shm_path = files_.Sub("shm");
    options_.device_lookup = &devices_;
    options_.host.all_capabilities = {"CAP_CHOWN", "CAP_SYS_ADMIN", "CAP_NET_ADMIN"};
  }
  absl::StatusOr<nlohmann::json> Build() { return BuildContainerSpec(config_, sandbox_, image_, options_); }
  runtime::v1::LinuxContainerSecurityContext* Sc() { return config_.mutable_linux()->mutable_security_context(); }

  TempDir rootfs_, files_;
  runtime::v1::ContainerConfig config_;
  runtime::v1::PodSandboxConfig sandbox_;
  ImageConfig image_;
  ContainerSpecOptions options_;
  FakeDeviceLookup devices_;
};

TEST_F(ContainerSpecTest, CommandArgsEntrypointMatrix) {
  auto args = [&]() { return Strings((*Build())["process"]["args"]); };
  EXPECT_EQ(args(), (std::vector<std::string>{"/entry", "serve"}));
  config_.add_args("--port=80");  // args replace CMD
  EXPECT_EQ(args(), (std::vector<std::string>{"/entry", "--port=80"}));
  config_.add_command("/bin/app");  // command replaces ENTRYPOINT, args kept
  EXPECT_EQ(args(), (std::vector<std::string>{"/bin/app", "--port=80"}));
  config_.clear_args();  // command alone drops CMD
  EXPECT_EQ(args(), (std::vector<std::string>{"/bin/app"}));
  config_.clear_command();
  image_.entrypoint.clear();
  EXPECT_EQ(args(), (std::vector<std::string>{"serve"}));
  image_.cmd.clear();
  auto spec = Build();
  EXPECT_EQ(spec.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(spec.status().message(), HasSubstr("no command specified"));
  config_.add_args("only-args");
  EXPECT_EQ(args(), (std::vector<std::string>{"only-args"}));
}

TEST_F(ContainerSpecTest, EnvMergeAndWorkingDir) {
  auto* kv = config_.add_envs();
  kv->set_key("A");
  kv->set_value("cri");
  kv = config_.add_envs();
  kv->set_key("B");
  kv->set_value("x=y");
  auto spec = Build();
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(Strings((*spec)["process"]["env"]),
            (std::vector<std::string>{"PATH=/img/bin", "HOSTNAME=pod-host", "A=cri", "B=x=y"}));
  EXPECT_EQ((*spec)["process"]["cwd"], "/");
  image_.working_dir = "/srv";
  EXPECT_EQ((*Build())["process"]["cwd"], "/srv");
  config_.set_working_dir("/work");
  EXPECT_EQ((*Build())["process"]["cwd"], "/work");
}

TEST_F(ContainerSpecTest, UserFromSecurityContext) {
  Sc()->mutable_run_as_user()->set_value(1000);
  Sc()->add_supplemental_groups(555);
  auto spec = Build();
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ((*spec)["process"]["user"]["uid"], 1000);
  EXPECT_EQ((*spec)["process"]["user"]["gid"], 1000);
  EXPECT_EQ((*spec)["process"]["user"]["additionalGids"], nlohmann::json({1000, 10, 555}));
  Sc()->clear_run_as_user();
  Sc()->mutable_run_as_group()->set_value(5);
  EXPECT_EQ(Build().status().code(), absl::StatusCode::kInvalidArgument);
  Sc()->set_run_as_username("nobody-here");
  EXPECT_EQ(Build().status().code(), absl::StatusCode::kInvalidArgument);
  Sc()->set_run_as_username("app");
  spec = Build();
  ASSERT_TRUE(spec.ok());
  EXPECT_EQ((*spec)["process"]["user"]["uid"], 1000);
  EXPECT_EQ((*spec)["process"]["user"]["gid"], 5);
}

TEST_F(ContainerSpecTest, DefaultCapabilitiesAndChanges) {
  auto spec = Build();
  ASSERT_TRUE(spec.ok());
  EXPECT_EQ(Strings((*spec)["process"]["capabilities"]["bounding"]), DefaultCapabilities());
  EXPECT_TRUE((*spec)["process"]["capabilities"]["inheritable"].empty());
  Sc()->mutable_capabilities()->add_add_capabilities("NET_ADMIN");
  Sc()->mutable_capabilities()->add_drop_capabilities("ALL");
  spec = Build();
  ASSERT_TRUE(spec.ok());
  EXPECT_EQ(Strings((*spec)["process"]["capabilities"]["effective"]), std::vector<std::string>{"CAP_NET_ADMIN"});
  Sc()->mutable_capabilities()->clear_drop_capabilities();
  Sc()->mutable_capabilities()->add_add_capabilities("ALL");
  spec = Build();
  ASSERT_TRUE(spec.ok());
  EXPECT_EQ((*spec)["process"]["capabilities"]["bounding"].size(), 3u);  // the host's set
  Sc()->mutable_capabilities()->add_add_capabilities("BOGUS");
  EXPECT_EQ(Build().status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(ContainerSpecTest, SeccompProfiles) {
  auto spec = Build();  // nothing requested: unconfined, like containerd
  ASSERT_TRUE(spec.ok());
  EXPECT_FALSE((*spec)["linux"].contains("seccomp"));
  Sc()->mutable_seccomp()->set_profile_type(runtime::v1::SecurityProfile::RuntimeDefault);
  spec = Build();
  ASSERT_TRUE(spec.ok());
  EXPECT_EQ((*spec)["linux"]["seccomp"]["defaultAction"], "SCMP_ACT_ERRNO");
  Sc()->mutable_seccomp()->set_profile_type(runtime::v1::SecurityProfile::Unconfined);
  EXPECT_FALSE((*Build())["linux"].contains("seccomp"));
  WriteFile(files_.Sub("seccomp.json"), R"({"defaultAction":"SCMP_ACT_LOG","syscalls":[]})");
  Sc()->mutable_seccomp()->set_profile_type(runtime::v1::SecurityProfile::Localhost);
  Sc()->mutable_seccomp()->set_localhost_ref(files_.Sub("seccomp.json"));
  spec = Build();
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ((*spec)["linux"]["seccomp"]["defaultAction"], "SCMP_ACT_LOG");
  Sc()->mutable_seccomp()->set_localhost_ref(files_.Sub("missing.json"));
  EXPECT_EQ(Build().status().code(), absl::StatusCode::kNotFound);
  Sc()->clear_seccomp();
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
  Sc()->set_seccomp_profile_path("runtime/default");  // deprecated field still honoured
#pragma GCC diagnostic pop
  EXPECT_TRUE((*Build())["linux"].contains("seccomp"));
}

TEST_F(ContainerSpecTest, AppArmorDisabledHost) {
  options_.host.apparmor_enabled = false;
  Sc()->mutable_apparmor()->set_profile_type(runtime::v1::SecurityProfile::RuntimeDefault);
  auto spec = Build();
  ASSERT_TRUE(spec.ok());
  EXPECT_FALSE((*spec)["process"].contains("apparmorProfile"));
  Sc()->mutable_apparmor()->set_profile_type(runtime::v1::SecurityProfile::Localhost);
  Sc()->mutable_apparmor()->set_localhost_ref("my-profile");
  EXPECT_EQ(Build().status().code(), absl::StatusCode::kInvalidArgument);
  options_.host.apparmor_enabled = true;
  EXPECT_EQ((*Build())["process"]["apparmorProfile"], "my-profile");
}

TEST_F(ContainerSpecTest, PrivilegedContainer) {
  Sc()->set_privileged(true);
  EXPECT_EQ(Build().status().code(), absl::StatusCode::kInvalidArgument);  // sandbox must be privileged
  sandbox_.mutable_linux()->mutable_security_context()->set_privileged(true);
  Sc()->mutable_seccomp()->set_profile_type(runtime::v1::SecurityProfile::RuntimeDefault);
  Sc()->add_masked_paths("/proc/kcore");
  options_.host_devices = {DeviceNode{"/dev/sda", 'b', 8, 0, 0660, 0, 6}, DeviceNode{"/dev/null", 'c', 1, 3, 0666, 0, 0}};
  auto spec = Build();
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ((*spec)["process"]["capabilities"]["bounding"].size(), 3u);
  EXPECT_FALSE((*spec)["linux"].contains("seccomp"));
  EXPECT_FALSE((*spec)["linux"].contains("maskedPaths"));
  EXPECT_FALSE((*spec)["linux"].contains("readonlyPaths"));
  EXPECT_EQ((*spec)["linux"]["devices"].size(), 2u);
  EXPECT_EQ((*spec)["linux"]["resources"]["devices"], nlohmann::json({{{"allow", true}, {"access", "rwm"}}}));
  EXPECT_THAT(Strings((*FindMount(*spec, "/sys"))["options"]), Contains("rw"));
  EXPECT_THAT(Strings((*FindMount(*spec, "/sys/fs/cgroup"))["options"]), Not(Contains("ro")));
}

TEST_F(ContainerSpecTest, MaskedAndReadonlyPaths) {
  auto spec = Build();
  EXPECT_THAT(Strings((*spec)["linux"]["maskedPaths"]), Contains("/proc/kcore"));
  Sc()->add_masked_paths("/proc/custom");
  Sc()->add_readonly_paths("/proc/ro");
  spec = Build();
  EXPECT_EQ(Strings((*spec)["linux"]["maskedPaths"]), std::vector<std::string>{"/proc/custom"});
  EXPECT_EQ(Strings((*spec)["linux"]["readonlyPaths"]), std::vector<std::string>{"/proc/ro"});
}

TEST_F(ContainerSpecTest, MountsPropagationAndRro) {
  auto add = [&](const std::string& host, const std::string& ctr, runtime::v1::MountPropagation p, bool ro) {
    auto* m = config_.add_mounts();
    m->set_host_path(host);
    m->set_container_path(ctr);
    m->set_propagation(p);
    m->set_readonly(ro);
    return m;
  };
  add(files_.Sub("data"), "/data/sub", runtime::v1::PROPAGATION_PRIVATE, false);
  add(files_.Sub("slave"), "/data", runtime::v1::PROPAGATION_HOST_TO_CONTAINER, true);
  add(files_.Sub("kubelet-hosts"), "/etc/hosts", runtime::v1::PROPAGATION_PRIVATE, false);
  WriteFile(files_.Sub("kubelet-hosts"), "127.0.0.1 localhost\n");
  auto spec = Build();
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_TRUE(std::filesystem::is_directory(files_.Sub("data")));  // created like containerd does
  const auto* sub = FindMount(*spec, "/data/sub");
  const auto* data = FindMount(*spec, "/data");
  ASSERT_TRUE(sub && data);
  EXPECT_THAT(Strings((*sub)["options"]), Contains("rprivate"));
  EXPECT_THAT(Strings((*sub)["options"]), Contains("rw"));
  EXPECT_THAT(Strings((*data)["options"]), Contains("rslave"));
  EXPECT_THAT(Strings((*data)["options"]), Contains("ro"));
  EXPECT_LT(data - &(*spec)["mounts"][0], sub - &(*spec)["mounts"][0]);  // parent first
  EXPECT_EQ((*spec)["linux"]["rootfsPropagation"], "rslave");
  EXPECT_EQ((*FindMount(*spec, "/etc/hosts"))["source"], files_.Sub("kubelet-hosts"));  // kubelet's wins
  EXPECT_EQ((*FindMount(*spec, "/etc/resolv.conf"))["source"], files_.Sub("resolv.conf"));
  EXPECT_EQ((*FindMount(*spec, "/dev/shm"))["source"], files_.Sub("shm"));

  add(files_.Sub("shared"), "/shared", runtime::v1::PROPAGATION_BIDIRECTIONAL, false);
  spec = Build();
  ASSERT_TRUE(spec.ok());
  EXPECT_THAT(Strings((*FindMount(*spec, "/shared"))["options"]), Contains("rshared"));
  EXPECT_EQ((*spec)["linux"]["rootfsPropagation"], "rshared");

  auto* rro = add(files_.Sub("rro"), "/rro", runtime::v1::PROPAGATION_PRIVATE, true);
  rro->set_recursive_read_only(true);
  spec = Build();
  ASSERT_TRUE(spec.ok());
  EXPECT_THAT(Strings((*FindMount(*spec, "/rro"))["options"]), Contains("rro"));
  rro->set_readonly(false);
  EXPECT_EQ(Build().status().code(), absl::StatusCode::kInvalidArgument);
  rro->set_readonly(true);
  rro->set_propagation(runtime::v1::PROPAGATION_HOST_TO_CONTAINER);
  EXPECT_EQ(Build().status().code(), absl::StatusCode::kInvalidArgument);
  rro->set_propagation(runtime::v1::PROPAGATION_PRIVATE);
  options_.create_missing_host_paths = false;
  add(files_.Sub("absent"), "/absent", runtime::v1::PROPAGATION_PRIVATE, false);
  EXPECT_EQ(Build().status().code(), absl::StatusCode::kNotFound);
}

TEST_F(ContainerSpecTest, SandboxFilesWithoutKubeletHosts) {
  Sc()->set_readonly_rootfs(true);
  auto spec = Build();
  ASSERT_TRUE(spec.ok());
  EXPECT_EQ((*spec)["root"]["readonly"], true);
  const auto* hosts = FindMount(*spec, "/etc/hosts");
  ASSERT_NE(hosts, nullptr);
  EXPECT_EQ((*hosts)["source"], files_.Sub("hosts"));
  EXPECT_THAT(Strings((*hosts)["options"]), Contains("ro"));
  for (const char* d : {"/proc", "/dev", "/dev/pts", "/dev/mqueue", "/sys", "/sys/fs/cgroup", "/etc/hostname"}) {
    EXPECT_NE(FindMount(*spec, d), nullptr) << d;
  }
}

TEST_F(ContainerSpecTest, Devices) {
  devices_.nodes["/dev/fuse"] = DeviceNode{"/dev/fuse", 'c', 10, 229, 0666, 0, 0};
  auto* d = config_.add_devices();
  d->set_host_path("/dev/fuse");
  d->set_container_path("/dev/fuse0");
  d->set_permissions("rw");
  auto spec = Build();
  ASSERT_TRUE(spec.ok()) << spec.status();
  const auto& dev = (*spec)["linux"]["devices"][0];
  EXPECT_EQ(dev["path"], "/dev/fuse0");
  EXPECT_EQ(dev["major"], 10);
  EXPECT_EQ(dev["minor"], 229);
  const auto& rules = (*spec)["linux"]["resources"]["devices"];
  ASSERT_EQ(rules.size(), 2u);
  EXPECT_EQ(rules[0]["allow"], false);
  EXPECT_EQ(rules[1], nlohmann::json({{"allow", true}, {"type", "c"}, {"major", 10}, {"minor", 229}, {"access", "rw"}}));
  d->set_permissions("rwx");
  EXPECT_EQ(Build().status().code(), absl::StatusCode::kInvalidArgument);
  d->set_permissions("");
  d->set_host_path("/dev/missing");
  EXPECT_EQ(Build().status().code(), absl::StatusCode::kNotFound);
}

TEST_F(ContainerSpecTest, NamespacesPerMode) {
  auto* ns = Sc()->mutable_namespace_options();
  ns->set_pid(runtime::v1::CONTAINER);
  auto spec = Build();
  ASSERT_TRUE(spec.ok());
  EXPECT_EQ((*FindNamespace(*spec, "network"))["path"], "/proc/4242/ns/net");
  EXPECT_EQ((*FindNamespace(*spec, "ipc"))["path"], "/proc/4242/ns/ipc");
  EXPECT_EQ((*FindNamespace(*spec, "uts"))["path"], "/proc/4242/ns/uts");
  EXPECT_FALSE(FindNamespace(*spec, "pid")->contains("path"));
  EXPECT_FALSE(FindNamespace(*spec, "mount")->contains("path"));
  EXPECT_FALSE(spec->contains("hostname"));  // the joined UTS namespace has it

  ns->set_pid(runtime::v1::POD);
  EXPECT_EQ((*FindNamespace(*Build(), "pid"))["path"], "/proc/4242/ns/pid");
  ns->set_pid(runtime::v1::TARGET);
  ns->set_target_id("other");
  EXPECT_EQ(Build().status().code(), absl::StatusCode::kInvalidArgument);
  options_.target_pid_namespace = "/proc/777/ns/pid";
  EXPECT_EQ((*FindNamespace(*Build(), "pid"))["path"], "/proc/777/ns/pid");

  ns->set_pid(runtime::v1::NODE);
  ns->set_network(runtime::v1::NODE);
  ns->set_ipc(runtime::v1::NODE);
  spec = Build();
  ASSERT_TRUE(spec.ok());
  EXPECT_EQ(FindNamespace(*spec, "pid"), nullptr);
  EXPECT_EQ(FindNamespace(*spec, "network"), nullptr);
  EXPECT_EQ(FindNamespace(*spec, "uts"), nullptr);
  EXPECT_EQ(FindNamespace(*spec, "ipc"), nullptr);
  EXPECT_EQ((*FindMount(*spec, "/dev/shm"))["source"], "/dev/shm");  // host IPC -> host shm

  options_.host.cgroup_v2 = true;
  EXPECT_NE(FindNamespace(*Build(), "cgroup"), nullptr);
}

TEST_F(ContainerSpecTest, OwnNamespacesGetPodHostname) {
  options_.sandbox_namespaces = {};
  auto spec = Build();
  ASSERT_TRUE(spec.ok());
  EXPECT_EQ((*spec)["hostname"], "pod-host");
  EXPECT_FALSE(FindNamespace(*spec, "network")->contains("path"));
}

TEST_F(ContainerSpecTest, ResourcesOomClampAndCgroupsPath) {
  auto* r = config_.mutable_linux()->mutable_resources();
  r->set_cpu_shares(1024);
  r->set_cpu_quota(20000);
  r->set_cpu_period(100000);
  r->set_memory_limit_in_bytes(64 << 20);
  r->set_oom_score_adj(-997);
  options_.host.oom_score_adj_floor = 0;
  auto spec = Build();
  ASSERT_TRUE(spec.ok());
  EXPECT_EQ((*spec)["linux"]["resources"]["cpu"]["shares"], 1024);
  EXPECT_EQ((*spec)["linux"]["resources"]["memory"]["limit"], 64 << 20);
  EXPECT_EQ((*spec)["linux"]["resources"]["devices"][0]["allow"], false);
  EXPECT_EQ((*spec)["process"]["oomScoreAdj"], 0);
  EXPECT_EQ((*spec)["linux"]["cgroupsPath"], "/kubepods/besteffort/poduid1/c1");
  options_.host.oom_score_adj_floor = -1000;
  EXPECT_EQ((*Build())["process"]["oomScoreAdj"], -997);
  options_.cgroup_driver = CgroupDriver::kSystemd;
  sandbox_.mutable_linux()->set_cgroup_parent("/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-poduid_1.slice");
  EXPECT_EQ((*Build())["linux"]["cgroupsPath"], "kubepods-besteffort-poduid_1.slice:flint:c1");
}

TEST_F(ContainerSpecTest, TerminalAnnotationsLabels) {
  config_.set_tty(true);
  (*config_.mutable_labels())["io.kubernetes.container.name"] = "web";
  (*config_.mutable_annotations())["io.kubernetes.container.hash"] = "abc";
  auto spec = Build();
  ASSERT_TRUE(spec.ok());
  EXPECT_EQ((*spec)["process"]["terminal"], true);
  EXPECT_EQ((*spec)["annotations"]["io.kubernetes.container.name"], "web");
  EXPECT_EQ((*spec)["annotations"]["io.kubernetes.container.hash"], "abc");
  EXPECT_EQ((*spec)["annotations"]["io.kubernetes.cri.container-type"], "container");
  EXPECT_EQ((*spec)["annotations"]["io.kubernetes.cri.sandbox-id"], "s1");
}

TEST(CgroupsPathTest, BothDrivers) {
  EXPECT_EQ(*CgroupsPath(CgroupDriver::kCgroupfs, "/kubepods/pod1", "abc"), "/kubepods/pod1/abc");
  EXPECT_EQ(*CgroupsPath(CgroupDriver::kCgroupfs, "kubepods/", "abc"), "/kubepods/abc");
  EXPECT_EQ(*CgroupsPath(CgroupDriver::kCgroupfs, "", "abc"), "/flint/abc");
  EXPECT_EQ(*CgroupsPath(CgroupDriver::kSystemd, "/kubepods.slice/kubepods-pod1.slice", "abc"),
            "kubepods-pod1.slice:flint:abc");
  EXPECT_EQ(*CgroupsPath(CgroupDriver::kSystemd, "", "abc"), "system.slice:flint:abc");
  EXPECT_EQ(*CgroupsPath(CgroupDriver::kSystemd, "/test.slice", "abc"), "test.slice:flint:abc");
  EXPECT_FALSE(CgroupsPath(CgroupDriver::kSystemd, "/kubepods/pod1", "abc").ok());
  EXPECT_FALSE(CgroupsPath(CgroupDriver::kCgroupfs, "/x", "a/b").ok());
}

class SandboxSpecTest : public ::testing::Test {
 protected:
  void SetUp() override {
    config_.mutable_metadata()->set_name("pod");
    config_.mutable_metadata()->set_namespace_("ns");
    config_.mutable_metadata()->set_uid("u1");
    config_.set_hostname("pod-host");
    (*config_.mutable_annotations())["a"] = "b";
    options_.sandbox_id = "s1";
    options_.rootfs = "/var/lib/flint/pause";
    options_.netns_path = "/var/run/netns/cni-1";
    options_.host.oom_score_adj_floor = -1000;
  }
  runtime::v1::LinuxSandboxSecurityContext* Sc() { return config_.mutable_linux()->mutable_security_context(); }
  runtime::v1::PodSandboxConfig config_;
  SandboxSpecOptions options_;
};

TEST_F(SandboxSpecTest, PodNetwork) {
  (*config_.mutable_linux()->mutable_sysctls())["net.ipv4.ip_unprivileged_port_start"] = "0";
  config_.mutable_linux()->mutable_overhead()->set_cpu_shares(100);
  auto spec = BuildSandboxSpec(config_, options_);
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(Strings((*spec)["process"]["args"]), std::vector<std::string>{"/flint-pause"});
  EXPECT_EQ((*spec)["root"]["readonly"], true);
  EXPECT_EQ((*spec)["hostname"], "pod-host");
  EXPECT_EQ((*FindNamespace(*spec, "network"))["path"], "/var/run/netns/cni-1");
  EXPECT_NE(FindNamespace(*spec, "uts"), nullptr);
  EXPECT_NE(FindNamespace(*spec, "ipc"), nullptr);
  EXPECT_NE(FindNamespace(*spec, "pid"), nullptr);
  EXPECT_EQ((*spec)["linux"]["sysctl"]["net.ipv4.ip_unprivileged_port_start"], "0");
  EXPECT_EQ((*spec)["linux"]["resources"]["cpu"]["shares"], 100);
  EXPECT_EQ((*spec)["process"]["oomScoreAdj"], -998);
  EXPECT_EQ((*spec)["linux"]["cgroupsPath"], "/flint/s1");
  EXPECT_EQ((*spec)["annotations"]["a"], "b");
  EXPECT_EQ((*spec)["annotations"]["io.kubernetes.cri.container-type"], "sandbox");
  EXPECT_FALSE((*spec)["linux"].contains("seccomp"));
  EXPECT_TRUE((*spec)["process"]["capabilities"]["bounding"].empty());
}

TEST_F(SandboxSpecTest, HostNamespaces) {
  auto* ns = Sc()->mutable_namespace_options();
  ns->set_network(runtime::v1::NODE);
  ns->set_ipc(runtime::v1::NODE);
  ns->set_pid(runtime::v1::NODE);
  config_.set_hostname("");
  auto spec = BuildSandboxSpec(config_, options_);
  ASSERT_TRUE(spec.ok());
  EXPECT_FALSE(spec->contains("hostname"));
  for (const char* t : {"network", "uts", "ipc", "pid"}) EXPECT_EQ(FindNamespace(*spec, t), nullptr) << t;
  EXPECT_NE(FindNamespace(*spec, "mount"), nullptr);

  (*config_.mutable_linux()->mutable_sysctls())["net.core.somaxconn"] = "1024";
  auto bad = BuildSandboxSpec(config_, options_);
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(bad.status().message(), HasSubstr("host network"));
  config_.mutable_linux()->mutable_sysctls()->clear();
  (*config_.mutable_linux()->mutable_sysctls())["kernel.shmmax"] = "1";
  EXPECT_EQ(BuildSandboxSpec(config_, options_).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(SandboxSpecTest, SecurityContext) {
  Sc()->mutable_run_as_user()->set_value(65535);
  Sc()->mutable_seccomp()->set_profile_type(runtime::v1::SecurityProfile::RuntimeDefault);
  options_.host.oom_score_adj_floor = 0;
  options_.cgroup_driver = CgroupDriver::kSystemd;
  config_.mutable_linux()->set_cgroup_parent("/kubepods.slice/kubepods-podu1.slice");
  auto spec = BuildSandboxSpec(config_, options_);
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ((*spec)["process"]["user"]["uid"], 65535);
  EXPECT_EQ((*spec)["linux"]["seccomp"]["defaultAction"], "SCMP_ACT_ERRNO");
  EXPECT_EQ((*spec)["process"]["oomScoreAdj"], 0);
  EXPECT_EQ((*spec)["linux"]["cgroupsPath"], "kubepods-podu1.slice:flint:s1");
  Sc()->set_privileged(true);
  spec = BuildSandboxSpec(config_, options_);
  ASSERT_TRUE(spec.ok());
  EXPECT_FALSE((*spec)["linux"].contains("seccomp"));
  EXPECT_FALSE((*spec)["linux"].contains("maskedPaths"));
  Sc()->clear_run_as_user();
  Sc()->mutable_run_as_group()->set_value(1);
  EXPECT_EQ(BuildSandboxSpec(config_, options_).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace flint::oci
