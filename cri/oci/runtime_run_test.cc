// Runs generated specs with the real OCI runtimes: a busybox container built
// with BuildContainerSpec, and flint-pause as a sandbox.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <fstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "cri/oci/pause_rootfs.h"
#include "cri/oci/spec_builder.h"
#include "cri/oci/test_util.h"

namespace flint::oci {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

struct RunResult {
  int exit_code = -1;
  std::string output;  // stdout + stderr
};

// Runs argv with a hard timeout, capturing combined output through a file.
RunResult RunCommand(const std::vector<std::string>& argv, const std::string& output_file, int timeout_s = 30) {
  RunResult result;
  pid_t pid = fork();
  if (pid == 0) {
    FILE* out = fopen(output_file.c_str(), "w");
    if (out != nullptr) {
      dup2(fileno(out), 1);
      dup2(fileno(out), 2);
    }
    int devnull = open("/dev/null", O_RDONLY);
    dup2(devnull, 0);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execvp(args[0], args.data());
    _exit(127);
  }
  int status = 0;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
  while (waitpid(pid, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      result.output = "timeout";
      return result;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  std::ifstream in(output_file);
  result.output.assign(std::istreambuf_iterator<char>(in), {});
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return result;
}

bool HaveBinary(const std::string& name) {
  return RunCommand({"sh", "-c", "command -v " + name}, "/dev/null").exit_code == 0;
}

std::string UniqueId(const std::string& prefix) {
  return absl::StrCat(prefix, getpid(), "x", std::chrono::steady_clock::now().time_since_epoch().count() % 1000000);
}

void WriteSpec(const std::string& bundle, const nlohmann::json& spec) {
  std::ofstream(bundle + "/config.json") << spec.dump(2);
}

class RuntimeRunTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root";
    if (!HaveBinary(GetParam())) GTEST_SKIP() << GetParam() << " not installed";
    runtime_root_ = tmp_.Sub("state");
    fs::create_directories(runtime_root_);
    cgroup_parent_ = absl::StrCat("/flint-oci-test-", getpid());
  }
  void TearDown() override {
    for (const auto& id : created_) RunCommand({GetParam(), "--root", runtime_root_, "delete", "--force", id}, tmp_.Sub("cleanup.log"));
    // runc/crun remove the container's cgroup; the parent is ours to remove.
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator("/sys/fs/cgroup", ec)) {
      rmdir((entry.path().string() + cgroup_parent_).c_str());
    }
    rmdir(("/sys/fs/cgroup" + cgroup_parent_).c_str());
  }
  RunResult Runtime(std::vector<std::string> args, int timeout_s = 30) {
    std::vector<std::string> argv = {GetParam(), "--root", runtime_root_};
    argv.insert(argv.end(), args.begin(), args.end());
    return RunCommand(argv, tmp_.Sub("runtime.log"), timeout_s);
  }
  HostFeatures Host() {
    auto host = DetectHostFeatures();
    EXPECT_TRUE(host.ok()) << host.status();
    return host.ok() ? *host : HostFeatures();
  }

  TempDir tmp_;
  std::string runtime_root_;
  std::string cgroup_parent_;
  std::vector<std::string> created_;
};

TEST_P(RuntimeRunTest, BusyboxContainerRunsAsUserWithReadonlyRoot) {
  if (!fs::exists("/bin/busybox")) GTEST_SKIP() << "busybox-static not installed";
  const std::string rootfs = tmp_.Sub("bundle/rootfs");
  fs::create_directories(rootfs + "/bin");
  fs::copy_file("/bin/busybox", rootfs + "/bin/busybox");
  for (const char* tool : {"sh", "echo", "id", "cat", "touch"}) fs::create_symlink("busybox", rootfs + "/bin/" + tool);
  for (const char* dir : {"proc", "dev", "sys", "etc", "tmp"}) fs::create_directories(rootfs + "/" + dir);
  testing::WriteFile(rootfs + "/etc/passwd", "root:x:0:0::/root:/bin/sh\nuser:x:1000:1000::/tmp:/bin/sh\n");
  testing::WriteFile(rootfs + "/etc/group", "root:x:0:\nuser:x:1000:\n");
  testing::WriteFile(tmp_.Sub("files/resolv.conf"), "nameserver 10.0.0.10\noptions ndots:8\n");
  testing::WriteFile(tmp_.Sub("files/hostname"), "pod-host\n");

  runtime::v1::PodSandboxConfig sandbox;
  sandbox.set_hostname("pod-host");
  runtime::v1::ContainerConfig config;
  config.mutable_metadata()->set_name("busybox");
  config.add_command("/bin/sh");
  config.add_args("-c");
  config.add_args(
      "echo uid=$(id -u) gid=$(id -g); cat /etc/resolv.conf; "
      "if touch /probe 2>/dev/null; then echo ROOT_WRITABLE; else echo ROOT_READONLY; fi");
  auto* sc = config.mutable_linux()->mutable_security_context();
  sc->mutable_run_as_user()->set_value(1000);
  sc->mutable_capabilities()->add_drop_capabilities("ALL");
  sc->set_readonly_rootfs(true);
  sc->set_no_new_privs(true);
  sc->mutable_seccomp()->set_profile_type(runtime::v1::SecurityProfile::RuntimeDefault);

  ImageConfig image;
  ContainerSpecOptions options;
  const std::string id = UniqueId("flintocitest");
  options.container_id = id;
  options.sandbox_id = "none";
  options.rootfs = rootfs;
  options.resolv_conf_path = tmp_.Sub("files/resolv.conf");
  options.hostname_path = tmp_.Sub("files/hostname");
  options.host = Host();
  options.cgroup_parent = cgroup_parent_;
  auto spec = BuildContainerSpec(config, sandbox, image, options);
  ASSERT_TRUE(spec.ok()) << spec.status();
  WriteSpec(tmp_.Sub("bundle"), *spec);

  created_.push_back(id);
  RunResult r = Runtime({"run", "--bundle", tmp_.Sub("bundle"), id});
  EXPECT_EQ(r.exit_code, 0) << r.output << "\nspec: " << spec->dump();
  EXPECT_NE(r.output.find("uid=1000 gid=1000"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("options ndots:8"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("ROOT_READONLY"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(rootfs + "/probe"));
}

// Writes a sandbox bundle running flint-pause; returns the container id.
std::string PrepareSandboxBundle(const TempDir& tmp, const std::string& bundle, const std::string& cgroup_parent,
                                 const HostFeatures& host) {
  const std::string rootfs = tmp.Sub("pause-rootfs");
  EXPECT_TRUE(PreparePauseRootfs(rootfs, FLINT_PAUSE_BINARY).ok());
  fs::create_directories(bundle);
  runtime::v1::PodSandboxConfig config;
  config.mutable_metadata()->set_name("pod");
  config.set_hostname("pause-host");
  config.mutable_linux()->mutable_security_context()->mutable_seccomp()->set_profile_type(
      runtime::v1::SecurityProfile::RuntimeDefault);
  (*config.mutable_linux()->mutable_sysctls())["net.ipv4.ip_unprivileged_port_start"] = "0";
  SandboxSpecOptions options;
  options.sandbox_id = UniqueId("flintocipause");
  options.rootfs = rootfs;  // no netns path: a fresh network namespace
  options.cgroup_parent = cgroup_parent;
  options.host = host;
  auto spec = BuildSandboxSpec(config, options);
  EXPECT_TRUE(spec.ok()) << spec.status();
  if (spec.ok()) WriteSpec(bundle, *spec);
  return options.sandbox_id;
}

bool WaitForStatus(const std::function<RunResult()>& state, const std::string& want) {
  for (int i = 0; i < 250; ++i) {
    auto st = nlohmann::json::parse(state().output, nullptr, false);
    if (!st.is_discarded() && st.is_object() && st["status"] == want) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

TEST_P(RuntimeRunTest, DetachedPauseSandboxStopsOnTerm) {
  const std::string id = PrepareSandboxBundle(tmp_, tmp_.Sub("sandbox"), cgroup_parent_, Host());
  created_.push_back(id);
  RunResult r = Runtime({"run", "-d", "--bundle", tmp_.Sub("sandbox"), id});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = Runtime({"state", id});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto state = nlohmann::json::parse(r.output, nullptr, false);
  ASSERT_FALSE(state.is_discarded()) << r.output;
  EXPECT_EQ(state["status"], "running");
  const int pid = state["pid"].get<int>();
  ASSERT_GT(pid, 0);
  EXPECT_EQ(kill(pid, 0), 0);
  std::ifstream comm(absl::StrCat("/proc/", pid, "/comm"));
  std::string name;
  comm >> name;
  EXPECT_EQ(name, "flint-pause");

  r = Runtime({"kill", id, "TERM"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(WaitForStatus([&] { return Runtime({"state", id}); }, "stopped")) << "flint-pause ignored SIGTERM";
  r = Runtime({"delete", id});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  created_.clear();
}

// In the foreground the runtime's exit status is the container's: SIGTERM must give 0.
TEST_P(RuntimeRunTest, ForegroundPauseSandboxExitsZeroOnTerm) {
  const std::string id = PrepareSandboxBundle(tmp_, tmp_.Sub("sandbox"), cgroup_parent_, Host());
  created_.push_back(id);
  RunResult foreground;
  std::thread runner([&] { foreground = Runtime({"run", "--bundle", tmp_.Sub("sandbox"), id}, 30); });
  const bool running = WaitForStatus([&] { return RunCommand({GetParam(), "--root", runtime_root_, "state", id}, tmp_.Sub("state.log")); }, "running");
  RunResult kill_result = RunCommand({GetParam(), "--root", runtime_root_, "kill", id, "TERM"}, tmp_.Sub("kill.log"));
  runner.join();
  ASSERT_TRUE(running);
  EXPECT_EQ(kill_result.exit_code, 0) << kill_result.output;
  EXPECT_EQ(foreground.exit_code, 0) << foreground.output;
}

INSTANTIATE_TEST_SUITE_P(Runtimes, RuntimeRunTest, ::testing::Values("runc", "crun"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace flint::oci
