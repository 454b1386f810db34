// Foundation e2e: flintd over its socket answers Version/Status/RuntimeConfig/ImageFsInfo,
// names unimplemented RPCs, guards its socket, rejects bad config and stops on SIGTERM.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/fs.h"
#include "test/e2e/flintd_harness.h"

namespace flint::e2e {
namespace {

namespace v1 = runtime::v1;

TEST(RuntimeInfoE2E, VersionAnswersWhatKubeletRequires) {
  auto flintd = Flintd::Start();
  ASSERT_TRUE(flintd);
  v1::VersionRequest request;
  request.set_version("0.1.0");
  v1::VersionResponse response;
  grpc::Status status = flintd->runtime().Version(Context().get(), request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.version(), "0.1.0");
  EXPECT_EQ(response.runtime_name(), "flint");
  EXPECT_EQ(response.runtime_version(), "0.1.0");
  EXPECT_EQ(response.runtime_api_version(), "v1");
}

TEST(RuntimeInfoE2E, SocketIsGroupOnly) {
  auto flintd = Flintd::Start();
  ASSERT_TRUE(flintd);
  struct stat st{};
  ASSERT_EQ(stat(flintd->socket().c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0660u);
}

TEST(RuntimeInfoE2E, StatusReportsNetworkNotReadyWithoutCniConfig) {
  auto flintd = Flintd::Start();
  ASSERT_TRUE(flintd);
  v1::StatusRequest request;
  request.set_verbose(true);
  v1::StatusResponse response;
  ASSERT_TRUE(flintd->runtime().Status(Context().get(), request, &response).ok());
  ASSERT_EQ(response.status().conditions_size(), 2);
  const v1::RuntimeCondition& runtime_ready = response.status().conditions(0);
  const v1::RuntimeCondition& network_ready = response.status().conditions(1);
  EXPECT_EQ(runtime_ready.type(), "RuntimeReady");
  EXPECT_TRUE(runtime_ready.status()) << runtime_ready.message();
  EXPECT_EQ(network_ready.type(), "NetworkReady");
  EXPECT_FALSE(network_ready.status());
  EXPECT_EQ(network_ready.reason(), "NetworkPluginNotReady");
  EXPECT_NE(network_ready.message().find("no CNI network config found"), std::string::npos)
      << network_ready.message();
  ASSERT_TRUE(response.info().contains("config"));
  EXPECT_NE(response.info().at("config").find("\"cgroup_driver\":\"cgroupfs\""), std::string::npos);
  ASSERT_GE(response.runtime_handlers_size(), 3);
  EXPECT_EQ(response.runtime_handlers(0).name(), "");
}

TEST(RuntimeInfoE2E, StatusTurnsNetworkReadyWhenConfigAppears) {
  auto flintd = Flintd::Start();
  ASSERT_TRUE(flintd);
  ASSERT_TRUE(fs::WriteFileAtomic(flintd->dir() + "/cni/10-flint.conflist",
                                  R"({"cniVersion":"1.0.0","name":"flint","plugins":[{"type":"bridge"}]})")
                  .ok());
  v1::StatusResponse response;
  ASSERT_TRUE(flintd->runtime().Status(Context().get(), v1::StatusRequest(), &response).ok());
  ASSERT_EQ(response.status().conditions_size(), 2);
  EXPECT_TRUE(response.status().conditions(1).status()) << response.status().conditions(1).message();
  EXPECT_TRUE(response.info().empty()) << "info is only for verbose requests";
}

TEST(RuntimeInfoE2E, RuntimeReadyFalseWhenRuntimeBinaryMissing) {
  FlintdOptions options;
  options.extra_yaml = "default_runtime: ghost\nruntimes:\n  ghost: {path: /nonexistent/ghost}\n";
  auto flintd = Flintd::Start(options);
  ASSERT_TRUE(flintd);
  v1::StatusResponse response;
  ASSERT_TRUE(flintd->runtime().Status(Context().get(), v1::StatusRequest(), &response).ok());
  const v1::RuntimeCondition& runtime_ready = response.status().conditions(0);
  EXPECT_FALSE(runtime_ready.status());
  EXPECT_EQ(runtime_ready.reason(), "RuntimeNotReady");
  EXPECT_NE(runtime_ready.message().find("/nonexistent/ghost"), std::string::npos);
}

TEST(RuntimeInfoE2E, RuntimeConfigReportsCgroupDriverExplicitly) {
  auto flintd = Flintd::Start();
  ASSERT_TRUE(flintd);
  v1::RuntimeConfigResponse response;
  ASSERT_TRUE(flintd->runtime().RuntimeConfig(Context().get(), v1::RuntimeConfigRequest(), &response).ok());
  ASSERT_TRUE(response.has_linux());
  EXPECT_EQ(response.linux().cgroup_driver(), v1::CgroupDriver::CGROUPFS);

  FlintdOptions systemd_options;
  systemd_options.extra_yaml = "cgroup_driver: systemd\n";
  auto systemd = Flintd::Start(systemd_options);
  ASSERT_TRUE(systemd);
  v1::RuntimeConfigResponse systemd_response;
  ASSERT_TRUE(systemd->runtime().RuntimeConfig(Context().get(), v1::RuntimeConfigRequest(), &systemd_response).ok());
  EXPECT_EQ(systemd_response.linux().cgroup_driver(), v1::CgroupDriver::SYSTEMD);
}

TEST(RuntimeInfoE2E, ImageFsInfoAnswersFromTheStart) {
  auto flintd = Flintd::Start();
  ASSERT_TRUE(flintd);
  v1::ImageFsInfoResponse response;
  grpc::Status status = flintd->images().ImageFsInfo(Context().get(), v1::ImageFsInfoRequest(), &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_GE(response.image_filesystems_size(), 1);
  const v1::FilesystemUsage& usage = response.image_filesystems(0);
  EXPECT_GT(usage.timestamp(), 0);
  EXPECT_EQ(usage.fs_id().mountpoint().rfind(flintd->dir() + "/root", 0), 0u) << usage.fs_id().mountpoint();
  EXPECT_TRUE(usage.has_used_bytes());
  EXPECT_TRUE(usage.has_inodes_used());
}

TEST(RuntimeInfoE2E, UnimplementedRpcNamesItself) {
  auto flintd = Flintd::Start();
  ASSERT_TRUE(flintd);
  v1::CheckpointContainerRequest request;
  v1::CheckpointContainerResponse response;
  grpc::Status status = flintd->runtime().CheckpointContainer(Context().get(), request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNIMPLEMENTED);
  EXPECT_NE(status.error_message().find("CheckpointContainer"), std::string::npos) << status.error_message();
}

TEST(RuntimeInfoE2E, SecondFlintdOnSameSocketRefusesToStart) {
  auto flintd = Flintd::Start();
  ASSERT_TRUE(flintd);
  std::string output;
  int code = Flintd::RunToCompletion({"--config", flintd->config_path()}, &output);
  EXPECT_EQ(code, 1);
  EXPECT_NE(output.find("another flintd already serves"), std::string::npos) << output;
  // The first one is unharmed.
  v1::VersionResponse response;
  EXPECT_TRUE(flintd->runtime().Version(Context().get(), v1::VersionRequest(), &response).ok());
}

TEST(RuntimeInfoE2E, SigtermShutsDownGracefullyAndFreesTheSocket) {
  auto flintd = Flintd::Start();
  ASSERT_TRUE(flintd);
  std::string socket = flintd->socket();
  int status = flintd->Stop();
  ASSERT_TRUE(WIFEXITED(status)) << status;
  EXPECT_EQ(WEXITSTATUS(status), 0);
  EXPECT_NE(access(socket.c_str(), F_OK), 0) << "socket left behind";
}

TEST(RuntimeInfoE2E, RestartsOverStaleSocketAfterCrash) {
  auto first = Flintd::Start();
  ASSERT_TRUE(first);
  kill(first->pid(), SIGKILL);
  int status = 0;
  waitpid(first->pid(), &status, 0);
  ASSERT_EQ(access(first->socket().c_str(), F_OK), 0) << "a killed flintd leaves its socket file";
  std::string output;
  // A second flintd with the same config takes over the stale socket.
  pid_t pid = fork();
  if (pid == 0) {
    execl(Flintd::Binary().c_str(), "flintd", "--config", first->config_path().c_str(), nullptr);
    _exit(127);
  }
  bool answered = WaitUntilServing(first->socket());
  kill(pid, SIGTERM);
  waitpid(pid, &status, 0);
  EXPECT_TRUE(answered);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

TEST(ConfigE2E, MalformedConfigIsRejectedWithKeyAndLine) {
  char tmpl[] = "/tmp/flint-e2e-config-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  std::string path = std::string(tmpl) + "/flint.yaml";
  ASSERT_TRUE(fs::WriteFileAtomic(path, "root_dir: /tmp/x\nregistry:\n  mirorrs: {}\n").ok());
  std::string output;
  EXPECT_EQ(Flintd::RunToCompletion({"--config", path}, &output), 1);
  EXPECT_NE(output.find("flint.yaml:3: registry.mirorrs: unknown key"), std::string::npos) << output;
  ASSERT_TRUE(fs::WriteFileAtomic(path, "cgroup_driver: hybrid\n").ok());
  EXPECT_EQ(Flintd::RunToCompletion({"--config", path}, &output), 1);
  EXPECT_NE(output.find("cgroup_driver: must be cgroupfs or systemd"), std::string::npos) << output;
  EXPECT_EQ(Flintd::RunToCompletion({"--config", std::string(tmpl) + "/missing.yaml"}, &output), 1);
  EXPECT_NE(output.find("cannot open"), std::string::npos) << output;
  (void)fs::RemoveAll(tmpl);
}

TEST(ConfigE2E, PrintDefaultConfigIsValidConfig) {
  std::string output;
  ASSERT_EQ(Flintd::RunToCompletion({"--print-default-config"}, &output), 0);
  EXPECT_NE(output.find("socket: /run/flint/flint.sock"), std::string::npos);
  char tmpl[] = "/tmp/flint-e2e-config-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  std::string path = std::string(tmpl) + "/flint.yaml";
  // The printed default, pointed at a private dir, starts a working daemon.
  std::string yaml = output;
  for (auto [from, to] : {std::pair<std::string, std::string>{"root_dir: /var/lib/flint", "root_dir: " + std::string(tmpl) + "/root"},
                          {"state_dir: /run/flint", "state_dir: " + std::string(tmpl) + "/run"},
                          {"socket: /run/flint/flint.sock", "socket: " + std::string(tmpl) + "/f.sock"}}) {
    size_t at = yaml.find(from);
    ASSERT_NE(at, std::string::npos) << from;
    yaml.replace(at, from.size(), to);
  }
  ASSERT_TRUE(fs::WriteFileAtomic(path, yaml).ok());
  pid_t pid = fork();
  if (pid == 0) {
    execl(Flintd::Binary().c_str(), "flintd", "--config", path.c_str(), nullptr);
    _exit(127);
  }
  bool answered = WaitUntilServing(std::string(tmpl) + "/f.sock");
  kill(pid, SIGTERM);
  int status = 0;
  waitpid(pid, &status, 0);
  EXPECT_TRUE(answered);
  (void)fs::RemoveAll(tmpl);
}

}  // namespace
}  // namespace flint::e2e
