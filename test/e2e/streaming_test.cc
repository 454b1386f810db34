// Exec, Attach and PortForward e2e: real pods through flintd's streaming server, flint-shim
// (exec_stream / attach ops) and the sandbox's network namespace, driven by the C++ SPDY and
// WebSocket clients of cri/streaming/testing.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/fs.h"
#include "cri/streaming/testing/clients.h"
#include "test/e2e/pod_fixture.h"

namespace flint::e2e {
namespace {

namespace st = ::flint::streaming::testing;
namespace ws = ::flint::streaming::ws;
using ::testing::HasSubstr;

nlohmann::json ParseStatus(const std::string& s) {
  nlohmann::json j = nlohmann::json::parse(s, nullptr, false);
  EXPECT_FALSE(j.is_discarded()) << s;
  return j;
}

template <typename Pred>
bool WaitUntil(Pred pred, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return pred();
}

struct WsOutput {
  std::string stdout_data, stderr_data, error;
};

WsOutput DrainWs(st::WsClient& c) {
  WsOutput out;
  for (;;) {
    absl::StatusOr<ws::Frame> m = c.ReadMessage();
    if (!m.ok() || m->opcode == ws::kClose) break;
    if (m->payload.empty()) continue;
    std::string data = m->payload.substr(1);
    switch (static_cast<uint8_t>(m->payload[0])) {
      case ws::kStdoutChannel: out.stdout_data += data; break;
      case ws::kStderrChannel: out.stderr_data += data; break;
      case ws::kErrorChannel: out.error += data; break;
    }
  }
  return out;
}

class StreamingE2E : public PodTestBase {
 protected:
  // A running busybox container in a fresh pod; returns its id.
  std::string RunContainer(const std::string& pod, const std::vector<std::string>& command, bool stdin = false,
                           bool tty = false, bool wait_running = true) {
    std::string image = PullImage(registry_ + "/flint/busybox:latest");
    sandbox_config_ = SandboxConfig(pod);
    sandbox_id_ = RunSandbox(sandbox_config_);
    EXPECT_FALSE(sandbox_id_.empty());
    v1::ContainerConfig config = ContainerConfig("main", image, command);
    config.set_stdin(stdin);
    config.set_tty(tty);
    std::string id = CreateContainer(sandbox_id_, config, sandbox_config_);
    StartContainer(id);
    if (wait_running) {
      EXPECT_TRUE(WaitForState(id, v1::CONTAINER_RUNNING)) << Describe(id);
    }
    return id;
  }

  std::string ExecUrl(const std::string& container, const std::vector<std::string>& cmd, bool in, bool out, bool err,
                      bool tty = false) {
    v1::ExecRequest request;
    request.set_container_id(container);
    for (const auto& c : cmd) request.add_cmd(c);
    request.set_stdin(in);
    request.set_stdout(out);
    request.set_stderr(err);
    request.set_tty(tty);
    v1::ExecResponse response;
    grpc::Status status = flintd_->runtime().Exec(Context().get(), request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response.url();
  }

  // A running tty container for attach tests (its console socket path under this harness's
  // state dir is over the unix socket limit, so this also covers the shim's short fallback).
  std::string RunTtyContainer(const std::string& pod, const std::vector<std::string>& command) {
    std::string image = PullImage(registry_ + "/flint/busybox:latest");
    sandbox_config_ = SandboxConfig(pod);
    sandbox_id_ = RunSandbox(sandbox_config_);
    v1::CreateContainerRequest request;
    request.set_pod_sandbox_id(sandbox_id_);
    *request.mutable_config() = ContainerConfig("main", image, command);
    request.mutable_config()->set_stdin(true);
    request.mutable_config()->set_tty(true);
    *request.mutable_sandbox_config() = sandbox_config_;
    v1::CreateContainerResponse response;
    grpc::Status status = flintd_->runtime().CreateContainer(Context(120).get(), request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    StartContainer(response.container_id());
    EXPECT_TRUE(WaitForState(response.container_id(), v1::CONTAINER_RUNNING)) << Describe(response.container_id());
    return response.container_id();
  }

  std::string AttachUrl(const std::string& container, bool in, bool out, bool err, bool tty) {
    v1::AttachRequest request;
    request.set_container_id(container);
    request.set_stdin(in);
    request.set_stdout(out);
    request.set_stderr(err);
    request.set_tty(tty);
    v1::AttachResponse response;
    grpc::Status status = flintd_->runtime().Attach(Context().get(), request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response.url();
  }

  std::string PortForwardUrl(const std::vector<int32_t>& ports = {}) {
    v1::PortForwardRequest request;
    request.set_pod_sandbox_id(sandbox_id_);
    for (int32_t p : ports) request.add_port(p);
    v1::PortForwardResponse response;
    grpc::Status status = flintd_->runtime().PortForward(Context().get(), request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response.url();
  }

  std::string sandbox_id_;
  v1::PodSandboxConfig sandbox_config_;
};

// A tty container whose shell prints its terminal size whenever it changes.
constexpr char kSizeWatcher[] =
    "last=; while true; do s=$(stty size); if [ \"$s\" != \"$last\" ]; then echo size=$s; last=$s; fi; "
    "sleep 0.05; done";

TEST_F(StreamingE2E, ExecOverSpdy) {
  std::string id = RunContainer("exec-spdy", {"sleep", "3600"});

  absl::StatusOr<st::ExecResult> hi = st::RunSpdyExec(ExecUrl(id, {"echo", "hi"}, false, true, false), {});
  ASSERT_TRUE(hi.ok()) << hi.status();
  EXPECT_EQ(hi->stdout_data, "hi\n");
  EXPECT_EQ(ParseStatus(hi->error)["status"], "Success");

  st::SpdyExecOptions with_stderr;
  with_stderr.stderr = true;
  absl::StatusOr<st::ExecResult> seven =
      st::RunSpdyExec(ExecUrl(id, {"sh", "-c", "echo out; echo err >&2; exit 7"}, false, true, true), with_stderr);
  ASSERT_TRUE(seven.ok()) << seven.status();
  EXPECT_EQ(seven->stdout_data, "out\n");
  EXPECT_EQ(seven->stderr_data, "err\n");
  nlohmann::json status = ParseStatus(seven->error);
  EXPECT_EQ(status["status"], "Failure");
  EXPECT_EQ(status["reason"], "NonZeroExitCode");
  EXPECT_EQ(status["details"]["causes"][0]["reason"], "ExitCode");
  EXPECT_EQ(status["details"]["causes"][0]["message"], "7");

  st::SpdyExecOptions with_stdin;
  with_stdin.stdin = true;
  std::string input;
  for (int i = 0; i < 20'000; ++i) absl::StrAppend(&input, "stdin line ", i, "\n");
  absl::StatusOr<st::ExecResult> cat = st::RunSpdyExec(ExecUrl(id, {"cat"}, true, true, false), with_stdin, input);
  ASSERT_TRUE(cat.ok()) << cat.status();
  EXPECT_TRUE(cat->stdout_data == input) << cat->stdout_data.size() << " of " << input.size() << " bytes";
  EXPECT_EQ(ParseStatus(cat->error)["status"], "Success");
}

TEST_F(StreamingE2E, TtyExecSeesResize) {
  std::string id = RunContainer("exec-tty", {"sleep", "3600"});
  st::SpdyExecOptions opts;
  opts.tty = true;
  absl::StatusOr<std::unique_ptr<st::SpdyExecSession>> s = st::StartSpdyExec(
      ExecUrl(id,
              {"sh", "-c",
               "i=0; while [ $i -lt 100 ]; do s=$(stty size); [ \"$s\" = \"40 100\" ] && break; sleep 0.05; "
               "i=$((i+1)); done; echo size=$s; exit 3"},
              false, true, false, true),
      opts);
  ASSERT_TRUE(s.ok()) << s.status();
  ASSERT_NE((*s)->resize, nullptr);
  ASSERT_TRUE((*s)->resize->Write(R"({"Width":100,"Height":40})").ok());
  absl::StatusOr<std::string> out = (*s)->out->ReadAll();
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_THAT(*out, HasSubstr("size=40 100"));
  absl::StatusOr<std::string> err = (*s)->error->ReadAll();
  ASSERT_TRUE(err.ok()) << err.status();
  EXPECT_EQ(ParseStatus(*err)["details"]["causes"][0]["message"], "3") << *err;
}

TEST_F(StreamingE2E, LargeOutputOverWebSocket) {
  std::string id = RunContainer("exec-large", {"sleep", "3600"});
  constexpr size_t kSize = 20'000'000;
  absl::StatusOr<std::unique_ptr<st::WsClient>> c = st::WsClient::Connect(
      ExecUrl(id, {"sh", "-c", absl::StrCat("head -c ", kSize, " /dev/zero | tr '\\000' x")}, false, true, false),
      {"v4.channel.k8s.io"});
  ASSERT_TRUE(c.ok()) << c.status();
  WsOutput out = DrainWs(**c);
  EXPECT_EQ(out.stdout_data.size(), kSize);
  EXPECT_EQ(out.stdout_data.find_first_not_of('x'), std::string::npos);
  EXPECT_EQ(ParseStatus(out.error)["status"], "Success");

  // And a small one over the same protocol.
  absl::StatusOr<std::unique_ptr<st::WsClient>> e =
      st::WsClient::Connect(ExecUrl(id, {"echo", "hi"}, false, true, false), {"v4.channel.k8s.io"});
  ASSERT_TRUE(e.ok()) << e.status();
  WsOutput small = DrainWs(**e);
  EXPECT_EQ(small.stdout_data, "hi\n");
}

TEST_F(StreamingE2E, ClientDisconnectKillsTheExecProcess) {
  std::string id = RunContainer("exec-cancel", {"sleep", "3600"});
  for (bool tty : {false, true}) {
    SCOPED_TRACE(tty ? "tty" : "pipes");
    absl::StatusOr<std::unique_ptr<st::WsClient>> c = st::WsClient::Connect(
        ExecUrl(id, {"sh", "-c", "echo started; exec sleep 1000"}, false, true, false, tty), {"v4.channel.k8s.io"});
    ASSERT_TRUE(c.ok()) << c.status();
    std::string seen;
    while (!absl::StrContains(seen, "started")) {
      absl::StatusOr<ws::Frame> m = (*c)->ReadMessage();
      ASSERT_TRUE(m.ok()) << m.status();
      ASSERT_NE(m->opcode, ws::kClose) << seen;
      seen += m->payload;
    }
    EXPECT_THAT(ExecSync(id, {"ps"}).stdout(), HasSubstr("sleep 1000"));
    c->reset();  // the client goes away
    std::string ps;
    EXPECT_TRUE(WaitUntil(
        [&] {
          ps = ExecSync(id, {"ps"}).stdout();
          return !absl::StrContains(ps, "sleep 1000");
        },
        std::chrono::seconds(15)))
        << ps;
  }
}

TEST_F(StreamingE2E, ExecValidation) {
  v1::ExecRequest request;
  request.set_container_id("no-such-container");
  request.add_cmd("true");
  request.set_stdout(true);
  v1::ExecResponse response;
  EXPECT_EQ(flintd_->runtime().Exec(Context().get(), request, &response).error_code(), grpc::StatusCode::NOT_FOUND);

  std::string id = RunContainer("exec-exited", {"true"}, false, false, /*wait_running=*/false);
  ASSERT_TRUE(WaitForState(id, v1::CONTAINER_EXITED));
  request.set_container_id(id);
  EXPECT_EQ(flintd_->runtime().Exec(Context().get(), request, &response).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
  v1::AttachRequest attach;
  attach.set_container_id(id);
  attach.set_stdout(true);
  v1::AttachResponse attached;
  EXPECT_EQ(flintd_->runtime().Attach(Context().get(), attach, &attached).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
  v1::PortForwardRequest pf;
  pf.set_pod_sandbox_id("no-such-pod");
  v1::PortForwardResponse pf_response;
  EXPECT_EQ(flintd_->runtime().PortForward(Context().get(), pf, &pf_response).error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_F(StreamingE2E, AttachReceivesOutputAndLogStaysComplete) {
  std::string id = RunContainer("attach", {"sh", "-c", "i=0; while true; do echo line-$i; i=$((i+1)); sleep 0.1; done"});
  v1::AttachRequest request;
  request.set_container_id(id);
  request.set_stdout(true);
  request.set_stderr(true);
  v1::AttachResponse response;
  grpc::Status status = flintd_->runtime().Attach(Context().get(), request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  st::SpdyExecOptions opts;
  opts.stderr = true;
  absl::StatusOr<std::unique_ptr<st::SpdyExecSession>> s = st::StartSpdyExec(response.url(), opts);
  ASSERT_TRUE(s.ok()) << s.status();
  std::string got;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  int lines = 0;
  while (lines < 10 && std::chrono::steady_clock::now() < deadline) {
    char buf[4096];
    absl::StatusOr<size_t> n = (*s)->out->Read(buf, sizeof(buf));
    ASSERT_TRUE(n.ok()) << n.status();
    ASSERT_GT(*n, 0u);
    got.append(buf, *n);
    lines = static_cast<int>(std::count(got.begin(), got.end(), '\n'));
  }
  ASSERT_GE(lines, 10) << got;
  // Whole, consecutive lines.
  std::istringstream stream(got);
  std::string line;
  int previous = -1;
  while (std::getline(stream, line)) {
    if (stream.eof()) break;  // a partial tail
    ASSERT_TRUE(absl::StartsWith(line, "line-")) << got;
    int n = std::stoi(line.substr(5));
    if (previous >= 0) {
      EXPECT_EQ(n, previous + 1) << got;
    }
    previous = n;
  }
  s->reset();  // detach; the container keeps running

  // The log has every line exactly once, before, during and after the attachment.
  std::string log_path = ContainerStatus(id).log_path();
  ASSERT_TRUE(WaitUntil(
      [&] { return absl::StrContains(fs::ReadFile(log_path).value_or(""), absl::StrCat("line-", previous + 5, "\n")); },
      std::chrono::seconds(20)));
  EXPECT_EQ(ContainerStatus(id).state(), v1::CONTAINER_RUNNING);
  std::istringstream log(fs::ReadFile(log_path).value_or(""));
  int expected = 0;
  while (std::getline(log, line)) {
    // <time> stdout F line-N
    std::vector<std::string> fields;
    std::istringstream parts(line);
    std::string field;
    while (parts >> field) fields.push_back(field);
    ASSERT_EQ(fields.size(), 4u) << line;
    EXPECT_EQ(fields[1], "stdout");
    EXPECT_EQ(fields[2], "F");
    EXPECT_EQ(fields[3], absl::StrCat("line-", expected)) << line;
    ++expected;
  }
  EXPECT_GT(expected, previous + 5);
}

TEST_F(StreamingE2E, AttachForwardsStdin) {
  std::string id = RunContainer("attach-stdin", {"cat"}, /*stdin=*/true);
  v1::AttachRequest request;
  request.set_container_id(id);
  request.set_stdin(true);
  request.set_stdout(true);
  v1::AttachResponse response;
  grpc::Status status = flintd_->runtime().Attach(Context().get(), request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  st::SpdyExecOptions opts;
  opts.stdin = true;
  absl::StatusOr<std::unique_ptr<st::SpdyExecSession>> s = st::StartSpdyExec(response.url(), opts);
  ASSERT_TRUE(s.ok()) << s.status();
  ASSERT_TRUE((*s)->in->Write("typed into attach\n").ok());
  std::string got;
  while (!absl::StrContains(got, "typed into attach\n")) {
    char buf[4096];
    absl::StatusOr<size_t> n = (*s)->out->Read(buf, sizeof(buf));
    ASSERT_TRUE(n.ok()) << n.status();
    ASSERT_GT(*n, 0u) << got;
    got.append(buf, *n);
  }
  s->reset();
  EXPECT_TRUE(WaitUntil([&] { return absl::StrContains(fs::ReadFile(ContainerStatus(id).log_path()).value_or(""),
                                                       "typed into attach"); },
                        std::chrono::seconds(10)));
}

TEST_F(StreamingE2E, PortForwardToHttpdInThePod) {
  std::string id = RunContainer(
      "portforward",
      {"sh", "-c", "mkdir -p /www && echo hello-from-pod > /www/index.html && exec /bin/busybox httpd -f -p 8080 -h /www"});
  v1::PortForwardRequest request;
  request.set_pod_sandbox_id(sandbox_id_);
  request.add_port(8080);
  v1::PortForwardResponse response;
  grpc::Status status = flintd_->runtime().PortForward(Context().get(), request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  absl::StatusOr<st::HttpResult> upgrade =
      st::SendHttp(response.url(), "POST",
                   {{"Connection", "Upgrade"}, {"Upgrade", "SPDY/3.1"}, {"X-Stream-Protocol-Version", "portforward.k8s.io"}});
  ASSERT_TRUE(upgrade.ok()) << upgrade.status();
  ASSERT_EQ(upgrade->status, 101);
  streaming::spdy::SessionOptions so;
  so.server = false;
  so.send_settings = true;
  streaming::spdy::Session session(std::move(upgrade->sock), so);
  session.Start();
  std::string page, errors;
  // httpd may need a moment to listen: each attempt is a new forwarded connection.
  for (int attempt = 0; attempt < 50 && !absl::StrContains(page, "hello-from-pod"); ++attempt) {
    std::string request_id = std::to_string(attempt);
    auto err = session.OpenStream({{"streamType", "error"}, {"port", "8080"}, {"requestID", request_id}}, true);
    auto data = session.OpenStream({{"streamType", "data"}, {"port", "8080"}, {"requestID", request_id}});
    ASSERT_TRUE(err.ok() && data.ok());
    ASSERT_TRUE((*data)->Write("GET /index.html HTTP/1.0\r\nHost: pod\r\n\r\n").ok());
    ASSERT_TRUE((*data)->Close().ok());
    absl::StatusOr<std::string> got = (*data)->ReadAll();
    absl::StatusOr<std::string> error_text = (*err)->ReadAll();
    page = got.value_or("");
    errors = error_text.value_or("");
    if (!absl::StrContains(page, "hello-from-pod")) std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  EXPECT_THAT(page, HasSubstr("200 OK"));
  EXPECT_THAT(page, HasSubstr("hello-from-pod")) << errors;

  // Nothing listens on 8081: the error stream says so.
  auto err = session.OpenStream({{"streamType", "error"}, {"port", "8081"}, {"requestID", "refused"}}, true);
  auto data = session.OpenStream({{"streamType", "data"}, {"port", "8081"}, {"requestID", "refused"}});
  ASSERT_TRUE(err.ok() && data.ok());
  absl::StatusOr<std::string> error_text = (*err)->ReadAll();
  ASSERT_TRUE(error_text.ok()) << error_text.status();
  EXPECT_THAT(*error_text, HasSubstr("8081"));
}

// 100 MB through stdout with a 1 MiB client receive window (the window kubectl-like clients
// may grant): every byte arrives, in order, and the producer is never stalled.
TEST_F(StreamingE2E, HundredMegabytesThroughStdoutWithLargeReceiveWindow) {
  std::string id = RunContainer("exec-100mb", {"sleep", "3600"});
  constexpr size_t kSize = 100'000'000;
  const std::string unit = "0123456789abcdefghijklmnopqrstuvwxyz\n";
  st::SpdyExecOptions opts;
  opts.receive_window = 1 << 20;
  auto start = std::chrono::steady_clock::now();
  absl::StatusOr<std::unique_ptr<st::SpdyExecSession>> s = st::StartSpdyExec(
      ExecUrl(id, {"sh", "-c", absl::StrCat("yes 0123456789abcdefghijklmnopqrstuvwxyz | head -c ", kSize)}, false,
              true, false),
      opts);
  ASSERT_TRUE(s.ok()) << s.status();
  size_t total = 0;
  size_t first_mismatch = std::string::npos;
  std::vector<char> buf(1 << 16);
  for (;;) {
    absl::StatusOr<size_t> n = (*s)->out->Read(buf.data(), buf.size());
    ASSERT_TRUE(n.ok()) << n.status() << " after " << total << " bytes";
    if (*n == 0) break;
    for (size_t i = 0; i < *n && first_mismatch == std::string::npos; ++i) {
      if (buf[i] != unit[(total + i) % unit.size()]) first_mismatch = total + i;
    }
    total += *n;
  }
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(total, kSize);
  EXPECT_EQ(first_mismatch, std::string::npos) << "stdout differs from offset " << first_mismatch;
  absl::StatusOr<std::string> err = (*s)->error->ReadAll();
  ASSERT_TRUE(err.ok()) << err.status();
  EXPECT_EQ(ParseStatus(*err)["status"], "Success") << *err;
  printf("100 MB over SPDY (1 MiB window, ASan build): %.2f s = %.1f MB/s\n", seconds, kSize / 1e6 / seconds);
}

// Bounds every blocking read on a WebSocket client (a hung server fails the test, not the suite).
void SetReadTimeout(st::WsClient& c, int seconds) {
  timeval tv{seconds, 0};
  setsockopt(c.socket().fd(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
}

// Reads a stream until `want` shows up; after `timeout` a watchdog aborts the stream so that a
// blocked Read returns (the session is unusable for reading afterwards).
std::string ReadUntil(streaming::spdy::Stream& out, const std::string& want, std::chrono::seconds timeout) {
  std::string got;
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  std::thread watchdog([&] {
    std::unique_lock lock(mu);
    if (!cv.wait_for(lock, timeout, [&] { return done; })) out.Abort();
  });
  char buf[4096];
  while (!absl::StrContains(got, want)) {
    absl::StatusOr<size_t> n = out.Read(buf, sizeof(buf));
    if (!n.ok() || *n == 0) break;
    got.append(buf, *n);
  }
  {
    std::lock_guard lock(mu);
    done = true;
  }
  cv.notify_all();
  watchdog.join();
  return got;
}

TEST_F(StreamingE2E, TtyAttachResizeOverSpdy) {
  std::string id = RunTtyContainer("attach-tty-spdy", {"sh", "-c", kSizeWatcher});
  ASSERT_FALSE(id.empty());
  st::SpdyExecOptions opts;
  opts.tty = true;
  opts.stdin = true;
  absl::StatusOr<std::unique_ptr<st::SpdyExecSession>> s =
      st::StartSpdyExec(AttachUrl(id, true, true, false, true), opts);
  ASSERT_TRUE(s.ok()) << s.status();
  ASSERT_NE((*s)->resize, nullptr);
  ASSERT_TRUE((*s)->resize->Write(R"({"Width":100,"Height":40})").ok());
  std::string got = ReadUntil(*(*s)->out, "size=40 100", std::chrono::seconds(20));
  ASSERT_THAT(got, HasSubstr("size=40 100"));
  // A second resize in the same session, split across two writes like a slow client.
  ASSERT_TRUE((*s)->resize->Write(R"({"Width":132,)").ok());
  ASSERT_TRUE((*s)->resize->Write(R"("Height":50})").ok());
  got = ReadUntil(*(*s)->out, "size=50 132", std::chrono::seconds(20));
  ASSERT_THAT(got, HasSubstr("size=50 132"));
  // Typing reaches the terminal: its line discipline echoes it back (the shell loop never reads it).
  ASSERT_TRUE((*s)->in->Write("typed-into-the-tty\n").ok());
  got = ReadUntil(*(*s)->out, "typed-into-the-tty", std::chrono::seconds(20));
  EXPECT_THAT(got, HasSubstr("typed-into-the-tty"));
  s->reset();  // detach
  EXPECT_EQ(ContainerStatus(id).state(), v1::CONTAINER_RUNNING);
}

TEST_F(StreamingE2E, TtyAttachResizeOverWebSocket) {
  std::string id = RunTtyContainer("attach-tty-ws", {"sh", "-c", kSizeWatcher});
  ASSERT_FALSE(id.empty());
  for (const char* protocol : {"v5.channel.k8s.io", "v4.channel.k8s.io"}) {
    SCOPED_TRACE(protocol);
    const bool v5 = std::string(protocol) == "v5.channel.k8s.io";
    const int width = v5 ? 77 : 91, height = v5 ? 33 : 29;
    absl::StatusOr<std::unique_ptr<st::WsClient>> c =
        st::WsClient::Connect(AttachUrl(id, false, true, false, true), {protocol});
    ASSERT_TRUE(c.ok()) << c.status();
    SetReadTimeout(**c, 20);
    EXPECT_EQ((*c)->protocol(), protocol);
    ASSERT_TRUE((*c)->Send(ws::kResizeChannel, absl::StrCat(R"({"Width":)", width, R"(,"Height":)", height, "}")).ok());
    const std::string want = absl::StrCat("size=", height, " ", width);
    std::string seen;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (!absl::StrContains(seen, want) && std::chrono::steady_clock::now() < deadline) {
      absl::StatusOr<ws::Frame> m = (*c)->ReadMessage();
      ASSERT_TRUE(m.ok()) << m.status();
      ASSERT_NE(m->opcode, ws::kClose) << seen;
      if (!m->payload.empty() && m->payload[0] == ws::kStdoutChannel) seen += m->payload.substr(1);
    }
    EXPECT_THAT(seen, HasSubstr(want));
    c->reset();
  }
  EXPECT_EQ(ContainerStatus(id).state(), v1::CONTAINER_RUNNING);
}

// kubelet-style WebSocket port-forward (?port=, channel pair per port, 2-byte port prefix)
// and SPDY tunnelled through WebSocket (`crictl port-forward --transport websocket`).
TEST_F(StreamingE2E, PortForwardOverWebSocketToHttpdInThePod) {
  RunContainer("portforward-ws",
               {"sh", "-c", "mkdir -p /www && echo hello-over-ws > /www/index.html && exec /bin/busybox httpd -f -p 8080 -h /www"});
  const std::string request = "GET /index.html HTTP/1.0\r\nHost: pod\r\n\r\n";

  // Channel protocol: data on channel 0, errors on channel 1, both start with the port (LE).
  std::string page;
  for (int attempt = 0; attempt < 50 && !absl::StrContains(page, "hello-over-ws"); ++attempt) {
    if (attempt > 0) std::this_thread::sleep_for(std::chrono::milliseconds(200));
    page.clear();
    absl::StatusOr<std::unique_ptr<st::WsClient>> c =
        st::WsClient::Connect(PortForwardUrl() + "?port=8080", {"v4.channel.k8s.io"});
    ASSERT_TRUE(c.ok()) << c.status();
    SetReadTimeout(**c, 20);
    const std::string port_le = {static_cast<char>(8080 & 0xff), static_cast<char>(8080 >> 8)};
    bool data_prefix = false, error_prefix = false;
    ASSERT_TRUE((*c)->Send(0, request).ok());
    std::string errors;
    for (;;) {
      absl::StatusOr<ws::Frame> m = (*c)->ReadMessage();
      if (!m.ok() || m->opcode == ws::kClose) break;
      if (m->payload.empty()) continue;
      std::string body = m->payload.substr(1);
      if (m->payload[0] == 0) {
        if (!data_prefix) {
          ASSERT_EQ(body.substr(0, 2), port_le);
          body = body.substr(2);
          data_prefix = true;
        }
        page += body;
      } else if (m->payload[0] == 1) {
        if (!error_prefix) {
          ASSERT_EQ(body.substr(0, 2), port_le);
          body = body.substr(2);
          error_prefix = true;
        }
        errors += body;
      }
    }
    EXPECT_TRUE(data_prefix && error_prefix);
    if (!errors.empty()) page += "\n[error channel] " + errors;
  }
  EXPECT_THAT(page, HasSubstr("200 OK"));
  EXPECT_THAT(page, HasSubstr("hello-over-ws"));

  // SPDY inside WebSocket: many connections over one tunnel, like client-go.
  std::string chosen;
  absl::StatusOr<std::unique_ptr<streaming::Socket>> tunnel =
      st::DialSpdyOverWebSocket(PortForwardUrl(), {"portforward.k8s.io"}, &chosen);
  ASSERT_TRUE(tunnel.ok()) << tunnel.status();
  EXPECT_EQ(chosen, "portforward.k8s.io");
  streaming::spdy::SessionOptions so;
  so.server = false;
  so.send_settings = true;
  streaming::spdy::Session session(*std::move(tunnel), so);
  session.Start();
  for (int i = 0; i < 3; ++i) {
    std::string request_id = std::to_string(i);
    auto err = session.OpenStream({{"streamType", "error"}, {"port", "8080"}, {"requestID", request_id}}, true);
    auto data = session.OpenStream({{"streamType", "data"}, {"port", "8080"}, {"requestID", request_id}});
    ASSERT_TRUE(err.ok() && data.ok());
    ASSERT_TRUE((*data)->Write(request).ok());
    ASSERT_TRUE((*data)->Close().ok());
    absl::StatusOr<std::string> got = (*data)->ReadAll();
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_THAT(*got, HasSubstr("hello-over-ws"));
    absl::StatusOr<std::string> error_text = (*err)->ReadAll();
    ASSERT_TRUE(error_text.ok()) << error_text.status();
    EXPECT_EQ(*error_text, "");
  }
  auto err = session.OpenStream({{"streamType", "error"}, {"port", "8081"}, {"requestID", "refused"}}, true);
  auto data = session.OpenStream({{"streamType", "data"}, {"port", "8081"}, {"requestID", "refused"}});
  ASSERT_TRUE(err.ok() && data.ok());
  absl::StatusOr<std::string> error_text = (*err)->ReadAll();
  ASSERT_TRUE(error_text.ok()) << error_text.status();
  EXPECT_THAT(*error_text, HasSubstr("8081"));
  session.Finish(absl::Seconds(5));
}

// Runs a shell command line with a timeout; returns its exit code and combined output.
int RunShell(const std::string& command, std::string* output) {
  FILE* p = popen(("timeout 300 " + command + " 2>&1").c_str(), "r");
  if (p == nullptr) return -1;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) output->append(buf, n);
  int status = pclose(p);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// The Go client of test/streaming-interop (client-go's SPDY stack, Debian's spdystream)
// against flintd's URL and a real container.
TEST_F(StreamingE2E, GoSpdyClientInterop) {
  std::string version;
  if (RunShell("go version", &version) != 0) GTEST_SKIP() << "`go` not found (golang-go, hack/install-deps.sh)";
  std::string dir = std::filesystem::temp_directory_path() / ("flint-e2e-go-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  std::string build_output;
  int built = RunShell("env GO111MODULE=off GOPATH=/usr/share/gocode GOFLAGS= GOCACHE=" + dir + "/cache go build -o " +
                           dir + "/spdyexec " FLINT_SOURCE_DIR "/test/streaming-interop/spdyexec/main.go",
                       &build_output);
  ASSERT_EQ(built, 0) << build_output;
  std::string id = RunContainer("exec-go", {"sleep", "3600"});
  std::string out;
  int code = RunShell(dir + "/spdyexec -stderr '" +
                          ExecUrl(id, {"sh", "-c", "echo hello from the pod; echo err >&2; exit 5"}, false, true, true) +
                          "'",
                      &out);
  EXPECT_EQ(code, 5) << out;
  EXPECT_THAT(out, HasSubstr("hello from the pod\n"));
  EXPECT_THAT(out, HasSubstr("stderr=err\n"));
  EXPECT_THAT(out, HasSubstr("NonZeroExitCode"));
  out.clear();
  code = RunShell(dir + "/spdyexec -stdin 'typed into go\n' '" + ExecUrl(id, {"cat"}, true, true, false) + "'", &out);
  EXPECT_EQ(code, 0) << out;
  EXPECT_THAT(out, HasSubstr("typed into go"));
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace flint::e2e
