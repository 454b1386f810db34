// Drives the streaming server with an independent SPDY peer: the Go client in
// test/streaming-interop/ built on Debian's spdystream (the library kubelet/client-go use).
#include <fcntl.h>
#include <openssl/sha.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <thread>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "cri/streaming/server.h"
#include "cri/streaming/testing/local_runtime.h"
#include "gtest/gtest.h"

extern char** environ;

namespace flint::streaming {
namespace {

struct ProcessResult {
  int exit_code = -1;
  std::string output;  // stdout + stderr
};

// Runs argv with extra environment, capturing output; kills it after timeout.
ProcessResult RunProcess(const std::vector<std::string>& argv, const std::vector<std::string>& extra_env,
                         absl::Duration timeout) {
  ProcessResult result;
  int pipefd[2];
  if (pipe2(pipefd, O_CLOEXEC) != 0) return result;
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, pipefd[1], 1);
  posix_spawn_file_actions_adddup2(&actions, pipefd[1], 2);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  std::vector<std::string> env_storage(extra_env);
  for (char** e = environ; *e; ++e) env_storage.emplace_back(*e);
  std::vector<char*> env;
  for (auto& e : env_storage) env.push_back(e.data());
  env.push_back(nullptr);
  pid_t pid;
  int rc = posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), env.data());
  posix_spawn_file_actions_destroy(&actions);
  close(pipefd[1]);
  if (rc != 0) {
    close(pipefd[0]);
    result.output = absl::StrCat("spawn failed: ", strerror(rc));
    return result;
  }
  absl::Time deadline = absl::Now() + timeout;
  char buf[65536];
  for (;;) {
    int left_ms = static_cast<int>(absl::ToInt64Milliseconds(deadline - absl::Now()));
    if (left_ms <= 0) {
      kill(pid, SIGKILL);
      result.output += "\n[timed out]";
      break;
    }
    pollfd p{pipefd[0], POLLIN, 0};
    if (poll(&p, 1, left_ms) <= 0) continue;
    ssize_t n = read(pipefd[0], buf, sizeof(buf));
    if (n <= 0) break;
    result.output.append(buf, static_cast<size_t>(n));
  }
  close(pipefd[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return result;
}

bool HaveGo() { return RunProcess({"go", "version"}, {}, absl::Seconds(30)).exit_code == 0; }

class SpdyInteropTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!HaveGo()) return;
    dir_ = new std::string(std::filesystem::temp_directory_path() / ("flint-spdyexec-" + std::to_string(getpid())));
    std::filesystem::create_directories(*dir_);
    build_output_ = new std::string();
    built_ = true;
    const std::pair<const char*, const char*> tools[] = {
        {"spdyexec", FLINT_SOURCE_DIR "/test/streaming-interop/spdyexec/main.go"},
        {"spdyportforward", FLINT_SOURCE_DIR "/test/streaming-interop/spdyportforward/main.go"},
        {"wsexec", FLINT_SOURCE_DIR "/test/streaming-interop/wsexec/main.go"},
        {"spdytunnel", FLINT_SOURCE_DIR "/cri/streaming/testing/spdytunnel/main.go"},
    };
    for (const auto& [tool, source] : tools) {
      auto r = RunProcess({"go", "build", "-o", *dir_ + "/" + tool, source},
                          {"GO111MODULE=off", "GOPATH=/usr/share/gocode", "GOFLAGS=", "GOCACHE=" + *dir_ + "/cache"},
                          absl::Minutes(4));
      *build_output_ += r.output;
      built_ = built_ && r.exit_code == 0;
    }
  }
  static void TearDownTestSuite() {
    if (dir_) std::filesystem::remove_all(*dir_);
    delete dir_;
    delete build_output_;
    dir_ = nullptr;
    build_output_ = nullptr;
  }

  void SetUp() override {
    if (dir_ == nullptr) GTEST_SKIP() << "`go` not found: install golang-go, golang-github-docker-spdystream-dev and "
                                         "golang-github-gorilla-websocket-dev (hack/install-deps.sh) to run the Go interop tests";
    ASSERT_TRUE(built_) << "building the Go interop clients failed (are golang-github-docker-spdystream-dev "
                           "and golang-github-gorilla-websocket-dev installed?):\n"
                        << *build_output_;
    auto s = StreamingServer::Start(&runtime_);
    ASSERT_TRUE(s.ok()) << s.status();
    server_ = *std::move(s);
  }

  std::string Url(const std::string& script, bool in, bool err) {
    runtime::v1::ExecRequest req;
    req.set_container_id("ctr");
    req.add_cmd("/bin/sh");
    req.add_cmd("-c");
    req.add_cmd(script);
    req.set_stdin(in);
    req.set_stdout(true);
    req.set_stderr(err);
    auto url = server_->GetExecUrl(req);
    EXPECT_TRUE(url.ok());
    return *url;
  }

  ProcessResult Client(std::vector<std::string> args, const std::string& tool = "spdyexec") {
    args.insert(args.begin(), *dir_ + "/" + tool);
    return RunProcess(args, {}, absl::Minutes(2));
  }

  static std::string* dir_;
  static std::string* build_output_;
  static bool built_;
  testing::LocalProcessRuntime runtime_;
  std::unique_ptr<StreamingServer> server_;
};

std::string* SpdyInteropTest::dir_ = nullptr;
std::string* SpdyInteropTest::build_output_ = nullptr;
bool SpdyInteropTest::built_ = false;

TEST_F(SpdyInteropTest, StdoutAndSuccess) {
  auto r = Client({Url("echo hello from flint", false, false)});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output, "hello from flint\nstatus={\"metadata\":{},\"status\":\"Success\"}\n");
}

TEST_F(SpdyInteropTest, NonZeroExitCodeReachesTheClient) {
  auto r = Client({"-stderr", Url("echo out; echo err >&2; exit 7", false, true)});
  EXPECT_EQ(r.exit_code, 7) << r.output;
  EXPECT_NE(r.output.find("out\n"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("stderr=err\n"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("NonZeroExitCode"), std::string::npos) << r.output;
}

TEST_F(SpdyInteropTest, StdinIsEchoedAndHalfCloseEndsCat) {
  auto r = Client({"-stdin", "typed into stdin\n", Url("cat", true, false)});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output.substr(0, 17), "typed into stdin\n") << r.output;
}

TEST_F(SpdyInteropTest, LargeOutputWithoutPeerFlowControl) {
  // spdystream never sends WINDOW_UPDATE; the server must notice and keep going.
  constexpr size_t kSize = 10'000'000;
  std::string expected(kSize, 'z');
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(expected.data()), expected.size(), digest);
  std::string hex = absl::BytesToHexString(absl::string_view(reinterpret_cast<char*>(digest), sizeof(digest)));
  auto r = Client({"-hash", Url(absl::StrCat("head -c ", kSize, " /dev/zero | tr '\\000' z"), false, false)});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find(absl::StrCat("bytes=", kSize, " sha256=", hex)), std::string::npos) << r.output;
}

TEST_F(SpdyInteropTest, PortForwardEchoAndRefusedPort) {
  // An echo server on an ephemeral port stands in for the pod.
  int port = 0;
  auto listener = ListenTcp("127.0.0.1", 0, &port);
  ASSERT_TRUE(listener.ok());
  std::thread echo([fd = *listener] {
    for (int i = 0; i < 2; ++i) {
      int c = accept(fd, nullptr, nullptr);
      if (c < 0) return;
      char buf[4096];
      for (;;) {
        ssize_t n = recv(c, buf, sizeof(buf), 0);
        if (n <= 0 || send(c, buf, n, MSG_NOSIGNAL) != n) break;
      }
      close(c);
    }
  });
  runtime::v1::PortForwardRequest req;
  req.set_pod_sandbox_id("pod");
  auto url = server_->GetPortForwardUrl(req);
  ASSERT_TRUE(url.ok());
  auto r = Client({*url, std::to_string(port), "hello pod"}, "spdyportforward");
  shutdown(*listener, SHUT_RDWR);
  echo.join();
  close(*listener);
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output, "echo0=hello pod\nerror0=\necho1=hello pod\nerror1=\n");

  auto refused_url = server_->GetPortForwardUrl(req);
  ASSERT_TRUE(refused_url.ok());
  auto refused = Client({*refused_url, "1", "nobody listens"}, "spdyportforward");
  EXPECT_EQ(refused.exit_code, 0) << refused.output;
  EXPECT_NE(refused.output.find("error0=error forwarding port 1 to pod pod"), std::string::npos) << refused.output;
}

// client-go's SPDY-over-WebSocket transport, rebuilt from gorilla/websocket + spdystream.
TEST_F(SpdyInteropTest, PortForwardSpdyTunnelledThroughWebSocket) {
  int port = 0;
  auto listener = ListenTcp("127.0.0.1", 0, &port);
  ASSERT_TRUE(listener.ok());
  std::thread echo([fd = *listener] {
    for (int i = 0; i < 2; ++i) {
      int c = accept(fd, nullptr, nullptr);
      if (c < 0) return;
      char buf[4096];
      for (;;) {
        ssize_t n = recv(c, buf, sizeof(buf), 0);
        if (n <= 0 || send(c, buf, n, MSG_NOSIGNAL) != n) break;
      }
      close(c);
    }
  });
  runtime::v1::PortForwardRequest req;
  req.set_pod_sandbox_id("pod");
  auto url = server_->GetPortForwardUrl(req);
  ASSERT_TRUE(url.ok());
  auto r = Client({*url, std::to_string(port), "hello through the tunnel"}, "spdytunnel");
  shutdown(*listener, SHUT_RDWR);
  echo.join();
  close(*listener);
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output,
            "protocol=SPDY/3.1+portforward.k8s.io\n"
            "echo0=hello through the tunnel\nerror0=\necho1=hello through the tunnel\nerror1=\n");

  auto refused_url = server_->GetPortForwardUrl(req);
  ASSERT_TRUE(refused_url.ok());
  auto refused = Client({*refused_url, "1", "nobody listens"}, "spdytunnel");
  EXPECT_EQ(refused.exit_code, 0) << refused.output;
  EXPECT_NE(refused.output.find("error0=error forwarding port 1 to pod pod"), std::string::npos) << refused.output;
}

TEST_F(SpdyInteropTest, GorillaWebSocketV5Exec) {
  auto r = Client({"-stdin", "via gorilla", Url("cat; echo e >&2; exit 5", true, true)}, "wsexec");
  EXPECT_EQ(r.exit_code, 5) << r.output;
  EXPECT_NE(r.output.find("stdout=via gorilla\nstderr=e\n"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("NonZeroExitCode"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace flint::streaming
