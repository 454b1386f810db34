// RuntimeService e2e beyond the basic lifecycle: runtime handlers, OOM kills, log reopen,
// resource updates, security context and mounts.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <signal.h>
#include <sys/wait.h>

#include <algorithm>
#include <set>
#include <vector>
#include <filesystem>
#include <thread>

#include "common/fs.h"
#include "test/e2e/pod_fixture.h"

namespace flint::e2e {
namespace {

using testing::HasSubstr;

class PodFeaturesE2E : public PodTestBase {
 protected:
  // Runs a pod with one started container and returns the container id.
  std::string RunOne(const std::string& name, const v1::ContainerConfig& config, const std::string& handler = "") {
    sandbox_config_ = SandboxConfig(name);
    pod_ = RunSandbox(sandbox_config_, handler);
    EXPECT_FALSE(pod_.empty());
    std::string id = CreateContainer(pod_, config, sandbox_config_);
    EXPECT_FALSE(id.empty());
    if (!id.empty()) StartContainer(id);
    return id;
  }
  std::string Log(const std::string& id) { return fs::ReadFile(ContainerStatus(id).log_path()).value_or(""); }

  v1::PodSandboxConfig sandbox_config_;
  std::string pod_;
};

TEST_F(PodFeaturesE2E, CrunHandlerRunsThePod) {
  std::string image = PullImage(registry_ + "/flint/busybox:latest");
  std::string id = RunOne("crun-pod", ContainerConfig("c", image, {"/bin/sleep", "3600"}), "crun");
  ASSERT_TRUE(WaitForState(id, v1::CONTAINER_RUNNING)) << Describe(id);
  EXPECT_EQ(SandboxStatus(pod_).runtime_handler(), "crun");
  EXPECT_EQ(ExecSync(id, {"/bin/echo", "via-crun"}).stdout(), "via-crun\n");
  // Unknown handlers are refused before anything is created.
  v1::RunPodSandboxRequest request;
  *request.mutable_config() = SandboxConfig("ghost-pod");
  request.set_runtime_handler("ghost");
  v1::RunPodSandboxResponse response;
  grpc::Status status = flintd_->runtime().RunPodSandbox(Context().get(), request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("ghost"));
}

TEST_F(PodFeaturesE2E, MemoryLimitExceededIsOOMKilled) {
  std::string image = PullImage(registry_ + "/flint/busybox:latest");
  v1::ContainerConfig config = ContainerConfig(
      "hog", image, {"/bin/sh", "-c", "mkdir -p /tmp/t && mount -t tmpfs tmpfs /tmp/t 2>/dev/null; "
                                      "x=$(head -c 209715200 /dev/zero | tr '\\0' a); echo survived"});
  config.mutable_linux()->mutable_resources()->set_memory_limit_in_bytes(32 << 20);
  std::string id = RunOne("oom", config);
  ASSERT_TRUE(WaitForState(id, v1::CONTAINER_EXITED, 60)) << Describe(id);
  v1::ContainerStatus status = ContainerStatus(id);
  EXPECT_EQ(status.exit_code(), 137) << Describe(id);
  EXPECT_EQ(status.reason(), "OOMKilled") << Describe(id);
  EXPECT_EQ(status.resources().linux().memory_limit_in_bytes(), 32 << 20);
}

TEST_F(PodFeaturesE2E, ReopenContainerLogStartsANewFile) {
  std::string image = PullImage(registry_ + "/flint/busybox:latest");
  std::string id = RunOne(
      "logs", ContainerConfig("c", image, {"/bin/sh", "-c", "i=0; while true; do echo line$i; i=$((i+1)); sleep 0.1; done"}));
  ASSERT_TRUE(WaitForState(id, v1::CONTAINER_RUNNING)) << Describe(id);
  std::string path = ContainerStatus(id).log_path();
  for (int i = 0; i < 50 && Log(id).find("line3") == std::string::npos; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  // What the kubelet's log rotation does: rename, then ReopenContainerLog.
  ASSERT_EQ(rename(path.c_str(), (path + ".rotated").c_str()), 0);
  v1::ReopenContainerLogRequest request;
  request.set_container_id(id);
  v1::ReopenContainerLogResponse response;
  grpc::Status status = flintd_->runtime().ReopenContainerLog(Context().get(), request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(access(path.c_str(), F_OK), 0) << "the new log file must exist when ReopenContainerLog returns";
  std::string rotated_before = fs::ReadFile(path + ".rotated").value_or("");
  std::this_thread::sleep_for(std::chrono::milliseconds(800));
  EXPECT_EQ(fs::ReadFile(path + ".rotated").value_or(""), rotated_before) << "the rotated file kept growing";
  EXPECT_THAT(fs::ReadFile(path).value_or(""), testing::ContainsRegex("stdout F line[0-9]+\n"));

  // A stopped container's log cannot be reopened.
  v1::StopContainerRequest stop;
  stop.set_container_id(id);
  stop.set_timeout(0);
  v1::StopContainerResponse stopped;
  ASSERT_TRUE(flintd_->runtime().StopContainer(Context().get(), stop, &stopped).ok());
  EXPECT_FALSE(flintd_->runtime().ReopenContainerLog(Context().get(), request, &response).ok());
}

TEST_F(PodFeaturesE2E, UpdateContainerResourcesIsPartialAndApplied) {
  std::string image = PullImage(registry_ + "/flint/busybox:latest");
  v1::ContainerConfig config = ContainerConfig("c", image, {"/bin/sleep", "3600"});
  config.mutable_linux()->mutable_resources()->set_memory_limit_in_bytes(256 << 20);
  config.mutable_linux()->mutable_resources()->set_cpu_shares(512);
  std::string id = RunOne("update", config);
  ASSERT_TRUE(WaitForState(id, v1::CONTAINER_RUNNING)) << Describe(id);

  v1::UpdateContainerResourcesRequest request;
  request.set_container_id(id);
  request.mutable_linux()->set_cpu_quota(50000);
  request.mutable_linux()->set_cpu_period(100000);
  v1::UpdateContainerResourcesResponse response;
  grpc::Status status = flintd_->runtime().UpdateContainerResources(Context().get(), request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  v1::LinuxContainerResources applied = ContainerStatus(id).resources().linux();
  EXPECT_EQ(applied.cpu_quota(), 50000);
  EXPECT_EQ(applied.memory_limit_in_bytes(), 256 << 20) << "fields the update left empty must stay";
  EXPECT_EQ(applied.cpu_shares(), 512);
  // The kernel sees it: the container's cgroup quota (v1 cpu controller).
  std::string quota = ExecSync(id, {"/bin/sh", "-c", "cat /sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us "
                                                     "/sys/fs/cgroup/cpu/cpu.cfs_quota_us "
                                                     "/sys/fs/cgroup/cpu.max 2>/dev/null | head -1"})
                          .stdout();
  EXPECT_THAT(quota, HasSubstr("50000"));
}

TEST_F(PodFeaturesE2E, SecurityContextUserCapabilitiesAndReadonlyRootfs) {
  std::string image = PullImage(registry_ + "/flint/busybox:latest");
  v1::ContainerConfig config = ContainerConfig("c", image, {"/bin/sleep", "3600"});
  auto* sc = config.mutable_linux()->mutable_security_context();
  sc->mutable_run_as_user()->set_value(1234);
  sc->mutable_run_as_group()->set_value(2345);
  sc->add_supplemental_groups(3456);
  sc->set_readonly_rootfs(true);
  sc->set_no_new_privs(true);
  sc->mutable_capabilities()->add_drop_capabilities("ALL");
  std::string id = RunOne("secctx", config);
  ASSERT_TRUE(WaitForState(id, v1::CONTAINER_RUNNING)) << Describe(id);
  std::string ids = ExecSync(id, {"/bin/sh", "-c", "id -u; id -g; id -G"}).stdout();
  EXPECT_THAT(ids, HasSubstr("1234\n2345\n"));
  EXPECT_THAT(ids, HasSubstr("3456"));
  v1::ExecSyncResponse write = ExecSync(id, {"/bin/sh", "-c", "touch /written"});
  EXPECT_NE(write.exit_code(), 0) << "readonly rootfs accepted a write";
  std::string status = ExecSync(id, {"/bin/cat", "/proc/self/status"}).stdout();
  EXPECT_THAT(status, HasSubstr("CapEff:\t0000000000000000"));
  EXPECT_THAT(status, HasSubstr("NoNewPrivs:\t1"));
}

TEST_F(PodFeaturesE2E, DevicesMaskedPathsAndPrivileged) {
  std::string image = PullImage(registry_ + "/flint/busybox:latest");
  // Unprivileged: a CRI device mapping, the default masked and readonly paths, default capabilities.
  v1::ContainerConfig plain = ContainerConfig("plain", image, {"/bin/sleep", "3600"});
  // loop-control is not in the default device allow list, so only the mapping grants it.
  auto* device = plain.add_devices();
  device->set_host_path("/dev/loop-control");
  device->set_container_path("/dev/myloop");
  device->set_permissions("r");
  std::string id = RunOne("devices", plain);
  ASSERT_TRUE(WaitForState(id, v1::CONTAINER_RUNNING)) << Describe(id);
  v1::ExecSyncResponse dev = ExecSync(id, {"/bin/sh", "-c", "ls -l /dev/myloop && exec 3< /dev/myloop"});
  EXPECT_EQ(dev.exit_code(), 0) << dev.stderr();
  EXPECT_THAT(dev.stdout(), HasSubstr("10, 237")) << "not the loop-control device";
  EXPECT_NE(ExecSync(id, {"/bin/sh", "-c", "exec 3> /dev/myloop"}).exit_code(), 0)
      << "device cgroup allowed opening for write with permissions r";
  // A masked file is /dev/null bound over it.
  EXPECT_EQ(ExecSync(id, {"/bin/sh", "-c", "stat -c %F /proc/timer_list"}).stdout(), "character special file\n")
      << "/proc/timer_list not masked";
  EXPECT_NE(ExecSync(id, {"/bin/sh", "-c", "echo 1 > /proc/sys/kernel/domainname"}).exit_code(), 0)
      << "/proc/sys writable";
  EXPECT_NE(ExecSync(id, {"/bin/sh", "-c", "ls /dev/loop-control"}).exit_code(), 0) << "host devices visible";
  std::string caps = ExecSync(id, {"/bin/sh", "-c", "grep CapEff /proc/self/status"}).stdout();
  EXPECT_THAT(caps, HasSubstr("00000000a80425fb")) << "not the default capability set";

  // Privileged: host devices, all capabilities, no masked paths, writable /proc/sys.
  // (the kubelet marks the sandbox privileged too, else the container is refused).
  v1::PodSandboxConfig priv_sandbox = SandboxConfig("privileged");
  priv_sandbox.mutable_linux()->mutable_security_context()->set_privileged(true);
  std::string priv_pod = RunSandbox(priv_sandbox);
  ASSERT_FALSE(priv_pod.empty());
  v1::ContainerConfig privileged = ContainerConfig("priv", image, {"/bin/sleep", "3600"});
  privileged.mutable_linux()->mutable_security_context()->set_privileged(true);
  std::string priv = CreateContainer(priv_pod, privileged, priv_sandbox);
  ASSERT_FALSE(priv.empty());
  StartContainer(priv);
  ASSERT_TRUE(WaitForState(priv, v1::CONTAINER_RUNNING)) << Describe(priv);
  EXPECT_EQ(ExecSync(priv, {"/bin/sh", "-c", "ls /dev/loop-control"}).exit_code(), 0) << "host devices missing";
  std::string priv_caps = ExecSync(priv, {"/bin/sh", "-c", "grep CapEff /proc/self/status"}).stdout();
  // Every capability the host has (this VM lacks CAP_SYS_RESOURCE, so not simply all bits).
  std::string host_status = fs::ReadFile("/proc/self/status").value_or("");
  size_t bnd = host_status.find("CapBnd:\t");
  ASSERT_NE(bnd, std::string::npos);
  EXPECT_THAT(priv_caps, HasSubstr("CapEff:\t" + host_status.substr(bnd + 8, 16)));
  EXPECT_EQ(ExecSync(priv, {"/bin/sh", "-c", "stat -c %F /proc/timer_list"}).stdout(), "regular empty file\n")
      << "/proc/timer_list masked in a privileged container";
}

TEST_F(PodFeaturesE2E, BindMountsReadonlyAndWritable) {
  std::string image = PullImage(registry_ + "/flint/busybox:latest");
  std::string host_dir = log_dir_ + "-vol";
  ASSERT_TRUE(fs::MakeDirs(host_dir).ok());
  ASSERT_TRUE(fs::WriteFileAtomic(host_dir + "/from-host", "hello-volume").ok());
  v1::ContainerConfig config = ContainerConfig("c", image, {"/bin/sleep", "3600"});
  auto* rw = config.add_mounts();
  rw->set_host_path(host_dir);
  rw->set_container_path("/data");
  auto* ro = config.add_mounts();
  ro->set_host_path(host_dir);
  ro->set_container_path("/ro");
  ro->set_readonly(true);
  std::string id = RunOne("mounts", config);
  ASSERT_TRUE(WaitForState(id, v1::CONTAINER_RUNNING)) << Describe(id);
  EXPECT_EQ(ExecSync(id, {"/bin/cat", "/data/from-host"}).stdout(), "hello-volume");
  EXPECT_EQ(ExecSync(id, {"/bin/sh", "-c", "echo back > /data/from-container"}).exit_code(), 0);
  EXPECT_EQ(fs::ReadFile(host_dir + "/from-container").value_or(""), "back\n");
  EXPECT_NE(ExecSync(id, {"/bin/sh", "-c", "echo no > /ro/x"}).exit_code(), 0);
  // ContainerStatus echoes the mounts (the kubelet finds the termination-log mount there).
  v1::ContainerStatus status = ContainerStatus(id);
  ASSERT_EQ(status.mounts_size(), 2);
  EXPECT_EQ(status.mounts(0).container_path(), "/data");
  (void)fs::RemoveAll(host_dir);
}

TEST_F(PodFeaturesE2E, ContainerWritesStayInItsOwnLayer) {
  std::string image = PullImage(registry_ + "/flint/busybox:latest");
  v1::PodSandboxConfig sandbox = SandboxConfig("layers");
  std::string pod = RunSandbox(sandbox);
  std::string a = CreateContainer(pod, ContainerConfig("a", image, {"/bin/sleep", "3600"}), sandbox);
  std::string b = CreateContainer(pod, ContainerConfig("b", image, {"/bin/sleep", "3600"}), sandbox);
  StartContainer(a);
  StartContainer(b);
  ASSERT_TRUE(WaitForState(a, v1::CONTAINER_RUNNING)) << Describe(a);
  ASSERT_TRUE(WaitForState(b, v1::CONTAINER_RUNNING)) << Describe(b);
  EXPECT_EQ(ExecSync(a, {"/bin/sh", "-c", "echo mine > /etc/only-a; rm /bin/true"}).exit_code(), 0);
  EXPECT_NE(ExecSync(b, {"/bin/cat", "/etc/only-a"}).exit_code(), 0) << "a's write leaked into b";
  EXPECT_EQ(ExecSync(b, {"/bin/true"}).exit_code(), 0) << "a's delete reached the shared image layer";
}

TEST_F(PodFeaturesE2E, ImageStopSignalIsUsedByStopContainer) {
  // flint/config has STOPSIGNAL SIGUSR1 and ENTRYPOINT ["/bin/sh","-c"].
  std::string image = PullImage(registry_ + "/flint/config:latest");
  v1::ContainerConfig config = ContainerConfig("c", image, {});
  config.add_args("trap 'echo got-usr1; exit 0' USR1; echo ready; while true; do sleep 0.2; done");
  std::string id = RunOne("stopsignal", config);
  ASSERT_TRUE(WaitForState(id, v1::CONTAINER_RUNNING)) << Describe(id);
  for (int i = 0; i < 50 && Log(id).find("ready") == std::string::npos; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  v1::StopContainerRequest stop;
  stop.set_container_id(id);
  stop.set_timeout(20);
  v1::StopContainerResponse stopped;
  auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(flintd_->runtime().StopContainer(Context(60).get(), stop, &stopped).ok());
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10)) << "stop waited for the timeout";
  v1::ContainerStatus status = ContainerStatus(id);
  EXPECT_EQ(status.exit_code(), 0) << Describe(id);
  EXPECT_EQ(status.reason(), "Completed");
  EXPECT_EQ(status.stop_signal(), v1::Signal::SIGNAL_SIGUSR1);
  EXPECT_THAT(Log(id), HasSubstr("got-usr1"));
}

TEST_F(PodFeaturesE2E, SharedPidNamespaceSeesTheSandboxInfra) {
  std::string image = PullImage(registry_ + "/flint/busybox:latest");
  v1::PodSandboxConfig sandbox = SandboxConfig("sharedpid");
  sandbox.mutable_linux()->mutable_security_context()->mutable_namespace_options()->set_pid(v1::POD);
  std::string pod = RunSandbox(sandbox);
  v1::ContainerConfig shared = ContainerConfig("shared", image, {"/bin/sleep", "3600"});
  shared.mutable_linux()->mutable_security_context()->mutable_namespace_options()->set_pid(v1::POD);
  std::string id = CreateContainer(pod, shared, sandbox);
  StartContainer(id);
  ASSERT_TRUE(WaitForState(id, v1::CONTAINER_RUNNING)) << Describe(id);
  EXPECT_THAT(ExecSync(id, {"/bin/cat", "/proc/1/cmdline"}).stdout(), HasSubstr("flint-pause"));

  v1::PodSandboxConfig own = SandboxConfig("ownpid");
  own.mutable_linux()->mutable_security_context()->mutable_namespace_options()->set_pid(v1::CONTAINER);
  std::string own_pod = RunSandbox(own);
  v1::ContainerConfig alone = ContainerConfig("alone", image, {"/bin/sleep", "3600"});
  alone.mutable_linux()->mutable_security_context()->mutable_namespace_options()->set_pid(v1::CONTAINER);
  std::string own_id = CreateContainer(own_pod, alone, own);
  StartContainer(own_id);
  ASSERT_TRUE(WaitForState(own_id, v1::CONTAINER_RUNNING)) << Describe(own_id);
  EXPECT_THAT(ExecSync(own_id, {"/bin/cat", "/proc/1/cmdline"}).stdout(), HasSubstr("sleep"));
}

TEST_F(PodFeaturesE2E, SeccompRuntimeDefaultFiltersSyscalls) {
  std::string image = PullImage(registry_ + "/flint/busybox:latest");
  v1::ContainerConfig config = ContainerConfig("c", image, {"/bin/sleep", "3600"});
  config.mutable_linux()->mutable_security_context()->mutable_seccomp()->set_profile_type(
      v1::SecurityProfile::RuntimeDefault);
  std::string id = RunOne("seccomp", config);
  ASSERT_TRUE(WaitForState(id, v1::CONTAINER_RUNNING)) << Describe(id);
  EXPECT_THAT(ExecSync(id, {"/bin/cat", "/proc/self/status"}).stdout(), HasSubstr("Seccomp:\t2"));
}

}  // namespace
}  // namespace flint::e2e

namespace flint::e2e {
namespace {

bool AnyProcessMentions(const std::string& needle) {
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    std::string name = entry.path().filename();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::string cmdline = fs::ReadFile(entry.path().string() + "/cmdline").value_or("");
    std::replace(cmdline.begin(), cmdline.end(), '\0', ' ');
    if (cmdline.find(needle) != std::string::npos) return true;
  }
  return false;
}

class PodCleanupE2E : public PodTestBase {};

TEST_F(PodCleanupE2E, RemovePodSandboxLeavesNothingBehind) {
  std::string image = PullImage(registry_ + "/flint/busybox:latest");
  v1::PodSandboxConfig sandbox = SandboxConfig("cleanup");
  std::string pod = RunSandbox(sandbox);
  std::string id = CreateContainer(pod, ContainerConfig("c", image, {"/bin/sleep", "3600"}), sandbox);
  StartContainer(id);
  ASSERT_TRUE(WaitForState(id, v1::CONTAINER_RUNNING)) << Describe(id);
  ASSERT_TRUE(AnyProcessMentions(id)) << "no shim for the container";
  ASSERT_EQ(access(("/sys/fs/cgroup/memory/flint-e2e/" + id).c_str(), F_OK), 0) << "container cgroup not where expected";
  grpc::Status removed = StopAndRemovePod(pod);
  ASSERT_TRUE(removed.ok()) << removed.error_message();
  std::string mountinfo = fs::ReadFile("/proc/self/mountinfo").value_or("");
  EXPECT_THAT(mountinfo, testing::Not(HasSubstr(id))) << "container mount left";
  EXPECT_THAT(mountinfo, testing::Not(HasSubstr(pod))) << "sandbox mount (netns, shm) left";
  // RemovePodSandbox returns only once the shims have exited.
  EXPECT_FALSE(AnyProcessMentions(id)) << "container shim left";
  EXPECT_FALSE(AnyProcessMentions(pod)) << "sandbox shim left";
  for (const char* controller : {"memory", "cpu,cpuacct", "pids"}) {
    std::string base = std::string("/sys/fs/cgroup/") + controller + "/flint-e2e";
    EXPECT_NE(access((base + "/" + id).c_str(), F_OK), 0) << "cgroup left: " << base << "/" << id;
    EXPECT_NE(access((base + "/" + pod).c_str(), F_OK), 0) << "cgroup left: " << base << "/" << pod;
  }
  EXPECT_NE(access((flintd_->dir() + "/run/netns/" + pod).c_str(), F_OK), 0) << "netns file left";
}

// The kubelet starts pods from many goroutines at once: nothing may race (shared pause rootfs,
// cgroup parents, IPAM, name reservation), and concurrent teardown must leave nothing behind.
TEST_F(PodCleanupE2E, ConcurrentPodsStartAndCleanUp) {
  constexpr int kPods = 6;
  std::string image = PullImage(registry_ + "/flint/busybox:latest");
  std::vector<std::string> pods(kPods), containers(kPods);
  std::vector<v1::PodSandboxConfig> configs(kPods);
  std::vector<std::thread> threads;
  for (int i = 0; i < kPods; ++i) {
    configs[i] = SandboxConfig("concurrent-" + std::to_string(i));
    threads.emplace_back([&, i] {
      pods[i] = RunSandbox(configs[i]);
      if (pods[i].empty()) return;
      containers[i] = CreateContainer(pods[i], ContainerConfig("c", image, {"/bin/sleep", "3600"}), configs[i]);
      if (!containers[i].empty()) StartContainer(containers[i]);
    });
  }
  for (std::thread& t : threads) t.join();
  threads.clear();
  std::set<std::string> ips;
  for (int i = 0; i < kPods; ++i) {
    ASSERT_FALSE(pods[i].empty()) << "pod " << i;
    ASSERT_FALSE(containers[i].empty()) << "container of pod " << i;
    EXPECT_TRUE(WaitForState(containers[i], v1::CONTAINER_RUNNING)) << Describe(containers[i]);
    ips.insert(SandboxStatus(pods[i]).network().ip());
  }
  EXPECT_EQ(ips.size(), static_cast<size_t>(kPods)) << "pods share an IP";
  EXPECT_FALSE(ips.count(""));

  std::vector<grpc::Status> removed(kPods);
  for (int i = 0; i < kPods; ++i) {
    threads.emplace_back([&, i] { removed[i] = StopAndRemovePod(pods[i]); });
  }
  for (std::thread& t : threads) t.join();
  std::string mountinfo = fs::ReadFile("/proc/self/mountinfo").value_or("");
  for (int i = 0; i < kPods; ++i) {
    EXPECT_TRUE(removed[i].ok()) << removed[i].error_message();
    EXPECT_FALSE(AnyProcessMentions(containers[i])) << "container shim left";
    EXPECT_FALSE(AnyProcessMentions(pods[i])) << "sandbox shim left";
    EXPECT_THAT(mountinfo, testing::Not(HasSubstr(pods[i])));
    EXPECT_THAT(mountinfo, testing::Not(HasSubstr(containers[i])));
    EXPECT_NE(access(("/sys/fs/cgroup/memory/flint-e2e/" + containers[i]).c_str(), F_OK), 0);
  }
  v1::ListPodSandboxResponse listed;
  ASSERT_TRUE(flintd_->runtime().ListPodSandbox(Context().get(), v1::ListPodSandboxRequest(), &listed).ok());
  EXPECT_EQ(listed.items_size(), 0);
}

TEST_F(PodCleanupE2E, ContainerThatExitsWhileFlintdIsDownKeepsItsExitCode) {
  std::string image = PullImage(registry_ + "/flint/busybox:latest");
  v1::PodSandboxConfig sandbox = SandboxConfig("downtime");
  std::string pod = RunSandbox(sandbox);
  std::string id = CreateContainer(
      pod, ContainerConfig("c", image, {"/bin/sh", "-c", "echo before; sleep 2; echo after; exit 5"}), sandbox);
  StartContainer(id);
  ASSERT_TRUE(WaitForState(id, v1::CONTAINER_RUNNING)) << Describe(id);
  // The container exits while flintd is down.
  ASSERT_TRUE(flintd_->CrashAndRestart([] { std::this_thread::sleep_for(std::chrono::seconds(4)); }));
  v1::ContainerStatus status = ContainerStatus(id);
  EXPECT_EQ(status.state(), v1::CONTAINER_EXITED);
  EXPECT_EQ(status.exit_code(), 5);
  EXPECT_EQ(status.reason(), "Error");
  EXPECT_THAT(fs::ReadFile(status.log_path()).value_or(""), HasSubstr("stdout F after"))
      << "the log went on while flintd was down";
}

}  // namespace
}  // namespace flint::e2e
