#include "test/e2e/pod_fixture.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <thread>

#include "common/fs.h"
#include "test/e2e/registry_fixture.h"

namespace flint::e2e {

PodNetworkSpec PodTestBase::Network() const {
  // One bridge and subnet per test binary (pid-derived) so parallel binaries never meet.
  int n = 100 + getpid() % 100;
  return {"flte2e" + std::to_string(n), "10.245." + std::to_string(n) + ".0/24", "10.245." + std::to_string(n) + ".1"};
}

std::string PodTestBase::ConfList(const PodNetworkSpec& net, const std::string& data_dir) {
  return R"({"cniVersion":"1.0.0","name":"flint-e2e","plugins":[{"type":")" + net.plugin + R"(","bridge":")" +
         net.bridge + R"(","isGateway":true,"ipMasq":false,"hairpinMode":true,"ipam":{"type":")" + net.ipam +
         R"(","dataDir":")" + data_dir + R"(","ranges":[[{"subnet":")" + net.subnet +
         R"("}]],"routes":[{"dst":"0.0.0.0/0"}]}},{"type":"portmap","capabilities":{"portMappings":true}}]})";
}

void PodTestBase::SetUp() {
  ASSERT_EQ(EnsureRegistryFixtures(), "");
  registry_ = RegistryAddress();
  net_ = Network();
  char tmpl[] = "/tmp/flint-e2e-pods-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  std::string dir = tmpl;
  log_dir_ = dir + "/logs";
  cni_dir_ = dir + "/cni";
  ipam_dir_ = dir + "/ipam";
  ASSERT_TRUE(fs::MakeDirs(cni_dir_).ok());
  ASSERT_TRUE(fs::WriteFileAtomic(cni_dir_ + "/10-flint-e2e.conflist", ConfList(net_, ipam_dir_)).ok());
  std::string bin_dirs = "[\"" + std::string(FLINT_BINARY_DIR) + "/cni/bin\", \"/usr/lib/cni\"]";
  FlintdOptions options;
  options.extra_yaml = "registry:\n  insecure: [\"" + registry_ + "\"]\n" + "cni:\n  conf_dir: " + cni_dir_ +
                       "\n  bin_dirs: " + bin_dirs + "\n" + ExtraYaml();
  options.cni_conf_dir = cni_dir_;
  flintd_ = Flintd::Start(options);
  ASSERT_TRUE(flintd_);
}

void PodTestBase::TearDown() {
  if (flintd_) {
    // Remove every pod this test left, as the kubelet would, so nothing leaks into the next test.
    RemoveAllPods();
    flintd_.reset();
  }
  std::string dir = log_dir_.substr(0, log_dir_.rfind('/'));
  (void)fs::RemoveAll(dir);
  std::string cmd = "ip link del " + net_.bridge + " >/dev/null 2>&1";
  (void)system(cmd.c_str());
}

grpc::Status PodTestBase::StopAndRemovePod(const std::string& pod_id) {
  v1::StopPodSandboxRequest stop;
  stop.set_pod_sandbox_id(pod_id);
  v1::StopPodSandboxResponse stopped;
  grpc::Status status = flintd_->runtime().StopPodSandbox(Context(60).get(), stop, &stopped);
  if (!status.ok()) return status;
  v1::RemovePodSandboxRequest remove;
  remove.set_pod_sandbox_id(pod_id);
  v1::RemovePodSandboxResponse removed;
  return flintd_->runtime().RemovePodSandbox(Context(60).get(), remove, &removed);
}

void PodTestBase::RemoveAllPods() {
  v1::ListPodSandboxResponse pods;
  grpc::Status listed = flintd_->runtime().ListPodSandbox(Context().get(), v1::ListPodSandboxRequest(), &pods);
  EXPECT_TRUE(listed.ok()) << listed.error_message();
  for (const auto& pod : pods.items()) {
    grpc::Status status = StopAndRemovePod(pod.id());
    EXPECT_TRUE(status.ok()) << pod.id() << ": " << status.error_message();
  }
}

v1::PodSandboxConfig PodTestBase::SandboxConfig(const std::string& name, bool host_network) const {
  v1::PodSandboxConfig config;
  config.mutable_metadata()->set_name(name);
  config.mutable_metadata()->set_namespace_("e2e");
  config.mutable_metadata()->set_uid("uid-" + name);
  config.mutable_metadata()->set_attempt(0);
  config.set_hostname(name);
  config.set_log_directory(log_dir_ + "/" + name);
  (*config.mutable_labels())["app"] = name;
  (*config.mutable_annotations())["e2e.flint.io/test"] = testing::UnitTest::GetInstance()->current_test_info()->name();
  config.mutable_linux()->set_cgroup_parent("/flint-e2e");
  if (host_network) {
    config.mutable_linux()->mutable_security_context()->mutable_namespace_options()->set_network(v1::NODE);
  }
  return config;
}

v1::ContainerConfig PodTestBase::ContainerConfig(const std::string& name, const std::string& image_id,
                                                 const std::vector<std::string>& command) const {
  v1::ContainerConfig config;
  config.mutable_metadata()->set_name(name);
  config.mutable_image()->set_image(image_id);
  config.mutable_image()->set_user_specified_image(registry_ + "/flint/busybox:latest");
  for (const auto& c : command) config.add_command(c);
  config.set_log_path(name + "/0.log");
  (*config.mutable_labels())["io.kubernetes.container.name"] = name;
  (*config.mutable_annotations())["io.kubernetes.container.restartCount"] = "0";
  return config;
}

std::string PodTestBase::PullImage(const std::string& image) {
  v1::PullImageRequest request;
  request.mutable_image()->set_image(image);
  v1::PullImageResponse response;
  grpc::Status status = flintd_->images().PullImage(Context(120).get(), request, &response);
  EXPECT_TRUE(status.ok()) << status.error_message();
  return response.image_ref();
}

std::string PodTestBase::RunSandbox(const v1::PodSandboxConfig& config, const std::string& handler) {
  v1::RunPodSandboxRequest request;
  *request.mutable_config() = config;
  request.set_runtime_handler(handler);
  v1::RunPodSandboxResponse response;
  grpc::Status status = flintd_->runtime().RunPodSandbox(Context(120).get(), request, &response);
  EXPECT_TRUE(status.ok()) << status.error_message();
  return response.pod_sandbox_id();
}

std::string PodTestBase::CreateContainer(const std::string& sandbox_id, const v1::ContainerConfig& config,
                                         const v1::PodSandboxConfig& sandbox_config) {
  v1::CreateContainerRequest request;
  request.set_pod_sandbox_id(sandbox_id);
  *request.mutable_config() = config;
  *request.mutable_sandbox_config() = sandbox_config;
  v1::CreateContainerResponse response;
  grpc::Status status = flintd_->runtime().CreateContainer(Context(120).get(), request, &response);
  EXPECT_TRUE(status.ok()) << status.error_message();
  return response.container_id();
}

void PodTestBase::StartContainer(const std::string& id) {
  v1::StartContainerRequest request;
  request.set_container_id(id);
  v1::StartContainerResponse response;
  grpc::Status status = flintd_->runtime().StartContainer(Context(60).get(), request, &response);
  EXPECT_TRUE(status.ok()) << status.error_message();
}

v1::ContainerStatus PodTestBase::ContainerStatus(const std::string& id) {
  v1::ContainerStatusRequest request;
  request.set_container_id(id);
  v1::ContainerStatusResponse response;
  grpc::Status status = flintd_->runtime().ContainerStatus(Context().get(), request, &response);
  EXPECT_TRUE(status.ok()) << status.error_message();
  return response.status();
}

v1::PodSandboxStatus PodTestBase::SandboxStatus(const std::string& id) {
  v1::PodSandboxStatusRequest request;
  request.set_pod_sandbox_id(id);
  v1::PodSandboxStatusResponse response;
  grpc::Status status = flintd_->runtime().PodSandboxStatus(Context().get(), request, &response);
  EXPECT_TRUE(status.ok()) << status.error_message();
  return response.status();
}

v1::ExecSyncResponse PodTestBase::ExecSync(const std::string& id, const std::vector<std::string>& cmd,
                                           int64_t timeout, grpc::Status* status_out) {
  v1::ExecSyncRequest request;
  request.set_container_id(id);
  for (const auto& c : cmd) request.add_cmd(c);
  request.set_timeout(timeout);
  v1::ExecSyncResponse response;
  grpc::Status status = flintd_->runtime().ExecSync(Context(static_cast<int>(timeout) + 60).get(), request, &response);
  if (status_out) {
    *status_out = status;
  } else {
    EXPECT_TRUE(status.ok()) << status.error_message();
  }
  return response;
}

std::string PodTestBase::Describe(const std::string& id) {
  v1::ContainerStatus status = ContainerStatus(id);
  return "container " + id + " state=" + v1::ContainerState_Name(status.state()) +
         " exit=" + std::to_string(status.exit_code()) + " reason=" + status.reason() + " message=" + status.message() +
         "\nlog:\n" + fs::ReadFile(status.log_path()).value_or("(none)");
}

bool PodTestBase::WaitForState(const std::string& id, v1::ContainerState state, int seconds) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  while (std::chrono::steady_clock::now() < deadline) {
    if (ContainerStatus(id).state() == state) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

}  // namespace flint::e2e
