#include "cri/streaming/server.h"

#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <set>
#include <nlohmann/json.hpp>
#include <thread>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "cri/streaming/testing/clients.h"
#include "cri/streaming/testing/local_runtime.h"
#include "gtest/gtest.h"

namespace flint::streaming {
namespace {

using ::flint::streaming::testing::ExecResult;
using ::flint::streaming::testing::HttpResult;
using ::flint::streaming::testing::LocalProcessRuntime;
using ::flint::streaming::testing::RunSpdyExec;
using ::flint::streaming::testing::SendHttp;
using ::flint::streaming::testing::SpdyExecOptions;
using ::flint::streaming::testing::StartSpdyExec;
using ::flint::streaming::testing::WsClient;

std::vector<std::string> Sh(const std::string& script) { return {"/bin/sh", "-c", script}; }

// Accepts connections on 127.0.0.1 and echoes bytes back until EOF.
class EchoServer {
 public:
  EchoServer() {
    auto fd = ListenTcp("127.0.0.1", 0, &port_);
    EXPECT_TRUE(fd.ok()) << fd.status();
    fd_ = *fd;
    thread_ = std::thread([this] {
      for (;;) {
        int c = accept(fd_, nullptr, nullptr);
        if (c < 0) return;
        workers_.emplace_back([c] {
          char buf[4096];
          for (;;) {
            ssize_t n = recv(c, buf, sizeof(buf), 0);
            if (n <= 0) break;
            if (send(c, buf, n, MSG_NOSIGNAL) != n) break;
          }
          close(c);
        });
      }
    });
  }
  ~EchoServer() {
    shutdown(fd_, SHUT_RDWR);
    thread_.join();
    for (auto& w : workers_) w.join();
    close(fd_);
  }
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
  std::thread thread_;
  std::vector<std::thread> workers_;
};

bool WaitUntil(const std::function<bool()>& cond, absl::Duration timeout) {
  absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    if (cond()) return true;
    absl::SleepFor(absl::Milliseconds(20));
  }
  return cond();
}

bool ProcessGone(pid_t pid) { return kill(pid, 0) != 0 && errno == ESRCH; }

std::string Repeat(const std::string& unit, size_t total) {
  std::string out;
  out.reserve(total);
  while (out.size() < total) out.append(unit, 0, std::min(unit.size(), total - out.size()));
  return out;
}

class StreamingServerTest : public ::testing::Test {
 protected:
  void SetUp() override { StartServer({}); }

  void StartServer(StreamingServerOptions opts) {
    server_.reset();
    opts.clock = [this] { return absl::FromUnixNanos(now_ns_.load()); };
    auto s = StreamingServer::Start(&runtime_, opts);
    ASSERT_TRUE(s.ok()) << s.status();
    server_ = *std::move(s);
  }

  std::string ExecUrl(const std::vector<std::string>& cmd, bool in, bool out, bool err, bool tty = false) {
    runtime::v1::ExecRequest req;
    req.set_container_id("ctr1");
    for (const auto& c : cmd) req.add_cmd(c);
    req.set_stdin(in);
    req.set_stdout(out);
    req.set_stderr(err);
    req.set_tty(tty);
    auto url = server_->GetExecUrl(req);
    EXPECT_TRUE(url.ok()) << url.status();
    return url.ok() ? *url : "";
  }

  std::string PortForwardUrl() {
    runtime::v1::PortForwardRequest req;
    req.set_pod_sandbox_id("pod1");
    auto url = server_->GetPortForwardUrl(req);
    EXPECT_TRUE(url.ok()) << url.status();
    return url.ok() ? *url : "";
  }

  std::atomic<int64_t> now_ns_{absl::ToUnixNanos(absl::Now())};
  LocalProcessRuntime runtime_;
  std::unique_ptr<StreamingServer> server_;
};

nlohmann::json ParseStatus(const std::string& s) {
  auto j = nlohmann::json::parse(s, nullptr, false);
  EXPECT_FALSE(j.is_discarded()) << s;
  return j;
}

TEST_F(StreamingServerTest, UrlPointsAtLoopbackWithEphemeralPort) {
  EXPECT_GT(server_->port(), 0);
  std::string url = ExecUrl(Sh("true"), false, true, false);
  EXPECT_TRUE(absl::StartsWith(url, absl::StrCat("http://127.0.0.1:", server_->port(), "/exec/"))) << url;
  std::string token = url.substr(url.rfind('/') + 1);
  EXPECT_GE(token.size(), 8u);
  for (char c : token) EXPECT_TRUE(isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_') << token;
}

TEST_F(StreamingServerTest, SpdyExecSuccessSeparatesStdoutAndStderr) {
  SpdyExecOptions opts;
  opts.stderr = true;
  auto r = RunSpdyExec(ExecUrl(Sh("echo hello; echo oops >&2"), false, true, true), opts);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->stdout_data, "hello\n");
  EXPECT_EQ(r->stderr_data, "oops\n");
  EXPECT_EQ(ParseStatus(r->error)["status"], "Success");
}

TEST_F(StreamingServerTest, SpdyExecNonZeroExitReportsExitCode) {
  auto r = RunSpdyExec(ExecUrl(Sh("echo bye; exit 7"), false, true, false), {});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->stdout_data, "bye\n");
  auto status = ParseStatus(r->error);
  EXPECT_EQ(status["status"], "Failure");
  EXPECT_EQ(status["reason"], "NonZeroExitCode");
  ASSERT_EQ(status["details"]["causes"].size(), 1u);
  EXPECT_EQ(status["details"]["causes"][0]["reason"], "ExitCode");
  EXPECT_EQ(status["details"]["causes"][0]["message"], "7");
}

TEST_F(StreamingServerTest, SpdyExecOlderProtocolsUsePlainTextErrors) {
  SpdyExecOptions opts;
  opts.protocols = {"v3.channel.k8s.io"};
  auto r = RunSpdyExec(ExecUrl(Sh("exit 7"), false, true, false), opts);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(absl::StrContains(r->error, "exit status 7")) << r->error;
  EXPECT_FALSE(absl::StrContains(r->error, "{"));
  auto ok = RunSpdyExec(ExecUrl(Sh("true"), false, true, false), opts);
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->error, "");
}

TEST_F(StreamingServerTest, SpdyExecLargeOutputArrivesIntact) {
  constexpr size_t kSize = 20'000'000;
  const std::string unit = "0123456789abcdefghijklmnopqrstuvwxyz\n";
  auto r = RunSpdyExec(ExecUrl(Sh(absl::StrCat("yes 0123456789abcdefghijklmnopqrstuvwxyz | head -c ", kSize)),
                               false, true, false),
                       {});
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->stdout_data.size(), kSize);
  EXPECT_TRUE(r->stdout_data == Repeat(unit, kSize));
  EXPECT_EQ(ParseStatus(r->error)["status"], "Success");
}

TEST_F(StreamingServerTest, SpdyExecStdinEofEndsCat) {
  SpdyExecOptions opts;
  opts.stdin = true;
  std::string input = Repeat("stdin line\n", 300'000);  // > several flow-control windows
  auto r = RunSpdyExec(ExecUrl({"cat"}, true, true, false), opts, input);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->stdout_data == input) << r->stdout_data.size();
  EXPECT_EQ(ParseStatus(r->error)["status"], "Success");
}

TEST_F(StreamingServerTest, SpdyExecTtyResizeReachesTheTerminal) {
  SpdyExecOptions opts;
  opts.tty = true;
  auto s = StartSpdyExec(
      ExecUrl(Sh("i=0; while [ $i -lt 100 ]; do s=$(stty size); [ \"$s\" = \"40 100\" ] && break; "
                 "sleep 0.05; i=$((i+1)); done; echo size=$s"),
              false, true, false, true),
      opts);
  ASSERT_TRUE(s.ok()) << s.status();
  ASSERT_NE((*s)->resize, nullptr);
  ASSERT_TRUE((*s)->resize->Write(R"({"Width":100,"Height":40})").ok());
  auto out = (*s)->out->ReadAll();
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_TRUE(absl::StrContains(*out, "size=40 100")) << *out;
  auto err = (*s)->error->ReadAll();
  ASSERT_TRUE(err.ok());
  EXPECT_EQ(ParseStatus(*err)["status"], "Success");
}

TEST_F(StreamingServerTest, SpdyTenConcurrentSessions) {
  constexpr int kSessions = 10;
  std::vector<std::string> urls;
  for (int i = 0; i < kSessions; ++i) {
    urls.push_back(ExecUrl(Sh(absl::StrCat("sleep 0.2; echo session-", i, "; exit ", i)), false, true, false));
  }
  std::vector<absl::StatusOr<ExecResult>> results(kSessions, absl::UnknownError("not run"));
  std::vector<std::thread> threads;
  for (int i = 0; i < kSessions; ++i) threads.emplace_back([&, i] { results[i] = RunSpdyExec(urls[i], {}); });
  for (auto& t : threads) t.join();
  for (int i = 0; i < kSessions; ++i) {
    ASSERT_TRUE(results[i].ok()) << results[i].status();
    EXPECT_EQ(results[i]->stdout_data, absl::StrCat("session-", i, "\n"));
    auto status = ParseStatus(results[i]->error);
    if (i == 0) {
      EXPECT_EQ(status["status"], "Success");
    } else {
      EXPECT_EQ(status["details"]["causes"][0]["message"], std::to_string(i));
    }
  }
}

// kubectl-like clients may grant far more than the 64 KiB default per stream (and SPDY/3.1 keeps
// the connection window separate): output must flow at any window size.
TEST_F(StreamingServerTest, SpdyExecLargeOutputWithLargeReceiveWindows) {
  constexpr size_t kSize = 20'000'000;
  for (uint32_t window : {1u << 20, 16u << 20}) {
    SpdyExecOptions opts;
    opts.receive_window = window;
    auto r = RunSpdyExec(ExecUrl(Sh(absl::StrCat("head -c ", kSize, " /dev/zero | tr '\\000' y")), false, true, false),
                         opts);
    ASSERT_TRUE(r.ok()) << "window " << window << ": " << r.status();
    EXPECT_EQ(r->stdout_data.size(), kSize) << "window " << window;
    EXPECT_EQ(r->stdout_data.find_first_not_of('y'), std::string::npos);
    EXPECT_EQ(ParseStatus(r->error)["status"], "Success");
  }
}

class SpdySlowReaderTest : public StreamingServerTest, public ::testing::WithParamInterface<uint32_t> {};

TEST_P(SpdySlowReaderTest, BlocksTheProducerAtTheWindow) {
  constexpr size_t kSize = 8'000'000;
  const uint32_t window = GetParam();
  SpdyExecOptions opts;
  opts.receive_window = window;
  auto s = StartSpdyExec(ExecUrl(Sh(absl::StrCat("head -c ", kSize, " /dev/zero")), false, true, false), opts);
  ASSERT_TRUE(s.ok()) << s.status();
  // Do not read: the server may send one window and the pipe holds 64 KiB more; the server's own
  // copy buffer adds at most another chunk.
  absl::SleepFor(absl::Milliseconds(800));
  uint64_t forwarded = runtime_.bytes_forwarded();
  EXPECT_LE(forwarded, window + 256u * 1024) << "server buffered beyond the flow-control window";
  absl::SleepFor(absl::Milliseconds(400));
  EXPECT_EQ(runtime_.bytes_forwarded(), forwarded) << "producer kept going without a reader";
  pid_t pid = runtime_.last_pid();
  EXPECT_FALSE(ProcessGone(pid)) << "producer should be blocked, not finished";
  // Read slowly for a while: the producer advances only as the reader consumes.
  char buf[4096];
  size_t consumed = 0;
  for (int i = 0; i < 50; ++i) {
    auto n = (*s)->out->Read(buf, sizeof(buf));
    ASSERT_TRUE(n.ok()) << n.status();
    consumed += *n;
  }
  absl::SleepFor(absl::Milliseconds(200));
  EXPECT_LE(runtime_.bytes_forwarded(), consumed + window + 256u * 1024);
  auto out = (*s)->out->ReadAll(1 << 30);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(consumed + out->size(), kSize);
  EXPECT_EQ(runtime_.bytes_forwarded(), kSize);
}

INSTANTIATE_TEST_SUITE_P(Windows, SpdySlowReaderTest, ::testing::Values(64u << 10, 1u << 20));

TEST_F(StreamingServerTest, SpdyClientDisconnectKillsTheProcess) {
  auto s = StartSpdyExec(ExecUrl(Sh("echo started; exec sleep 1000"), false, true, false), {});
  ASSERT_TRUE(s.ok()) << s.status();
  char buf[16];
  auto n = (*s)->out->Read(buf, sizeof(buf));
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(std::string(buf, *n), "started\n");
  pid_t pid = runtime_.last_pid();
  ASSERT_GT(pid, 0);
  EXPECT_FALSE(ProcessGone(pid));
  s->reset();  // drops the TCP connection
  EXPECT_TRUE(WaitUntil([&] { return ProcessGone(pid); }, absl::Seconds(10))) << "pid " << pid << " survived";
}

TEST_F(StreamingServerTest, SpdyMissingStreamsTimeOut) {
  StreamingServerOptions opts;
  opts.timeouts.stream_creation = absl::Milliseconds(300);
  StartServer(opts);
  // The request wants stdout, but the client only opens the error stream.
  auto resp = SendHttp(ExecUrl(Sh("echo never"), false, true, false), "POST",
                       {{"Connection", "Upgrade"}, {"Upgrade", "SPDY/3.1"},
                        {"X-Stream-Protocol-Version", "v4.channel.k8s.io"}});
  ASSERT_TRUE(resp.ok()) << resp.status();
  ASSERT_EQ(resp->status, 101);
  spdy::SessionOptions so;
  so.server = false;
  spdy::Session session(std::move(resp->sock), so);
  session.Start();
  auto err = session.OpenStream({{"streamType", "error"}}, true);
  ASSERT_TRUE(err.ok());
  EXPECT_TRUE(WaitUntil([&] { return session.closed(); }, absl::Seconds(10)));
  EXPECT_EQ(runtime_.exec_count(), 0);
}

TEST_F(StreamingServerTest, StopEndsLiveSessions) {
  auto s = StartSpdyExec(ExecUrl(Sh("echo started; exec sleep 1000"), false, true, false), {});
  ASSERT_TRUE(s.ok()) << s.status();
  char buf[16];
  ASSERT_TRUE((*s)->out->Read(buf, sizeof(buf)).ok());
  pid_t pid = runtime_.last_pid();
  absl::Time start = absl::Now();
  server_->Stop();
  EXPECT_LT(absl::Now() - start, absl::Seconds(10));
  EXPECT_TRUE(ProcessGone(pid));
  EXPECT_TRUE(WaitUntil([&] { return (*s)->session->closed(); }, absl::Seconds(5)));
}

TEST_F(StreamingServerTest, TokenIsSingleUse) {
  std::string url = ExecUrl(Sh("echo once"), false, true, false);
  auto r = RunSpdyExec(url, {});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->stdout_data, "once\n");
  auto again = SendHttp(url, "POST", {{"Connection", "Upgrade"}, {"Upgrade", "SPDY/3.1"},
                                      {"X-Stream-Protocol-Version", "v4.channel.k8s.io"}});
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->status, 404);
}

TEST_F(StreamingServerTest, TokenExpiresAfterOneMinute) {
  std::string fresh = ExecUrl(Sh("echo fresh"), false, true, false);
  std::string stale = ExecUrl(Sh("echo stale"), false, true, false);
  now_ns_ += absl::ToInt64Nanoseconds(absl::Seconds(59));
  auto r = RunSpdyExec(fresh, {});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->stdout_data, "fresh\n");
  now_ns_ += absl::ToInt64Nanoseconds(absl::Seconds(2));
  auto resp = SendHttp(stale, "POST", {{"Connection", "Upgrade"}, {"Upgrade", "SPDY/3.1"},
                                       {"X-Stream-Protocol-Version", "v4.channel.k8s.io"}});
  ASSERT_TRUE(resp.ok()) << resp.status();
  EXPECT_EQ(resp->status, 404);
  EXPECT_EQ(runtime_.exec_count(), 1);
}

TEST_F(StreamingServerTest, UnknownPathsAndTokensAre404) {
  std::string base = server_->base_url();
  for (const std::string path : {"/exec/nosuchtoken", "/attach/x", "/portforward/y", "/other/abc", "/exec/", "/"}) {
    auto r = SendHttp(base + path, "GET", {});
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->status, 404) << path;
  }
  // An exec token is not valid on the attach route.
  std::string url = ExecUrl(Sh("true"), false, true, false);
  std::string token = url.substr(url.rfind('/') + 1);
  auto r = SendHttp(base + "/attach/" + token, "POST", {});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 404);
}

TEST_F(StreamingServerTest, ProtocolNegotiation) {
  auto missing = SendHttp(ExecUrl(Sh("true"), false, true, false), "POST",
                          {{"Connection", "Upgrade"}, {"Upgrade", "SPDY/3.1"}});
  ASSERT_TRUE(missing.ok());
  EXPECT_EQ(missing->status, 400);
  EXPECT_TRUE(absl::StrContains(missing->body, "X-Stream-Protocol-Version")) << missing->body;

  auto unknown = SendHttp(ExecUrl(Sh("true"), false, true, false), "POST",
                          {{"Connection", "Upgrade"}, {"Upgrade", "SPDY/3.1"},
                           {"X-Stream-Protocol-Version", "v9.channel.k8s.io"}});
  ASSERT_TRUE(unknown.ok());
  EXPECT_EQ(unknown->status, 403);
  EXPECT_TRUE(absl::StrContains(unknown->head.Get("X-Accepted-Stream-Protocol-Versions"), "v4.channel.k8s.io"));

  auto no_upgrade = SendHttp(ExecUrl(Sh("true"), false, true, false), "POST", {});
  ASSERT_TRUE(no_upgrade.ok());
  EXPECT_EQ(no_upgrade->status, 400);

  // Client order decides; repeated headers and comma lists both count.
  auto chosen = SendHttp(ExecUrl(Sh("true"), false, true, false), "POST",
                         {{"Connection", "Upgrade"}, {"Upgrade", "SPDY/3.1"},
                          {"X-Stream-Protocol-Version", "v5.channel.k8s.io, v3.channel.k8s.io"},
                          {"X-Stream-Protocol-Version", "v4.channel.k8s.io"}});
  ASSERT_TRUE(chosen.ok());
  EXPECT_EQ(chosen->status, 101);
  EXPECT_EQ(chosen->head.Get("X-Stream-Protocol-Version"), "v3.channel.k8s.io");
}

TEST_F(StreamingServerTest, RequestValidation) {
  runtime::v1::ExecRequest exec;
  exec.add_cmd("true");
  exec.set_stdout(true);
  EXPECT_TRUE(absl::IsInvalidArgument(server_->GetExecUrl(exec).status()));  // no container id
  exec.set_container_id("c");
  EXPECT_TRUE(server_->GetExecUrl(exec).ok());
  exec.set_tty(true);
  exec.set_stderr(true);
  EXPECT_TRUE(absl::IsInvalidArgument(server_->GetExecUrl(exec).status()));
  runtime::v1::AttachRequest attach;
  attach.set_container_id("c");
  EXPECT_TRUE(absl::IsInvalidArgument(server_->GetAttachUrl(attach).status()));  // no stdio at all
  runtime::v1::PortForwardRequest pf;
  EXPECT_TRUE(absl::IsInvalidArgument(server_->GetPortForwardUrl(pf).status()));
}

TEST_F(StreamingServerTest, TooManyInFlightRequests) {
  StreamingServerOptions opts;
  opts.max_in_flight = 3;
  StartServer(opts);
  for (int i = 0; i < 3; ++i) ExecUrl(Sh("true"), false, true, false);
  runtime::v1::ExecRequest req;
  req.set_container_id("c");
  req.add_cmd("true");
  req.set_stdout(true);
  EXPECT_TRUE(absl::IsResourceExhausted(server_->GetExecUrl(req).status()));
  now_ns_ += absl::ToInt64Nanoseconds(absl::Minutes(2));  // expired entries free their slots
  EXPECT_TRUE(server_->GetExecUrl(req).ok());
}

TEST_F(StreamingServerTest, SpdyAttach) {
  runtime_.SetAttachCommand("ctr-attach", Sh("echo attached"));
  runtime::v1::AttachRequest req;
  req.set_container_id("ctr-attach");
  req.set_stdout(true);
  auto url = server_->GetAttachUrl(req);
  ASSERT_TRUE(url.ok());
  EXPECT_TRUE(absl::StrContains(*url, "/attach/"));
  auto r = RunSpdyExec(*url, {});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->stdout_data, "attached\n");
  EXPECT_EQ(ParseStatus(r->error)["status"], "Success");
}

TEST_F(StreamingServerTest, SpdyPortForwardEchoesAndReportsErrors) {
  EchoServer echo;
  auto resp = SendHttp(PortForwardUrl(), "POST",
                       {{"Connection", "Upgrade"}, {"Upgrade", "SPDY/3.1"},
                        {"X-Stream-Protocol-Version", "portforward.k8s.io"}});
  ASSERT_TRUE(resp.ok()) << resp.status();
  ASSERT_EQ(resp->status, 101);
  EXPECT_EQ(resp->head.Get("X-Stream-Protocol-Version"), "portforward.k8s.io");
  spdy::SessionOptions so;
  so.server = false;
  so.send_settings = true;
  {
    spdy::Session session(std::move(resp->sock), so);
    session.Start();
    std::string port = std::to_string(echo.port());
    for (int request = 0; request < 2; ++request) {  // two connections over one session
      std::string id = std::to_string(request);
      auto err = session.OpenStream({{"streamType", "error"}, {"port", port}, {"requestID", id}}, true);
      auto data = session.OpenStream({{"streamType", "data"}, {"port", port}, {"requestID", id}});
      ASSERT_TRUE(err.ok() && data.ok());
      std::string payload = Repeat("forwarded-" + id, 200'000);
      std::thread writer([&] {
        ASSERT_TRUE((*data)->Write(payload).ok());
        ASSERT_TRUE((*data)->Close().ok());
      });
      auto echoed = (*data)->ReadAll(1 << 30);
      writer.join();
      ASSERT_TRUE(echoed.ok()) << echoed.status();
      EXPECT_TRUE(*echoed == payload) << echoed->size();
      auto err_text = (*err)->ReadAll();
      ASSERT_TRUE(err_text.ok());
      EXPECT_EQ(*err_text, "");
    }
    // A port nobody listens on: the error stream says so.
    auto err = session.OpenStream({{"streamType", "error"}, {"port", "1"}, {"requestID", "9"}}, true);
    auto data = session.OpenStream({{"streamType", "data"}, {"port", "1"}, {"requestID", "9"}});
    ASSERT_TRUE(err.ok() && data.ok());
    auto err_text = (*err)->ReadAll();
    ASSERT_TRUE(err_text.ok());
    EXPECT_TRUE(absl::StrContains(*err_text, "error forwarding port 1")) << *err_text;
  }
}

// ---- WebSocket ----

struct WsOutput {
  std::string stdout_data, stderr_data, error;
  bool closed = false;
};

WsOutput DrainWs(WsClient& c) {
  WsOutput out;
  for (;;) {
    auto m = c.ReadMessage();
    if (!m.ok()) break;
    if (m->opcode == ws::kClose) {
      out.closed = true;
      break;
    }
    if (m->payload.empty()) continue;
    std::string data = m->payload.substr(1);
    switch (static_cast<uint8_t>(m->payload[0])) {
      case 1: out.stdout_data += data; break;
      case 2: out.stderr_data += data; break;
      case 3: out.error += data; break;
    }
  }
  return out;
}

TEST_F(StreamingServerTest, WebSocketV5ExecWithStdinCloseSignal) {
  auto c = WsClient::Connect(ExecUrl(Sh("cat; echo err >&2; exit 3"), true, true, true), {"v5.channel.k8s.io"});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ((*c)->protocol(), "v5.channel.k8s.io");
  std::string input = Repeat("websocket stdin\n", 100'000);
  std::thread writer([&] {
    ASSERT_TRUE((*c)->Send(ws::kStdinChannel, input, /*fragment=*/70'000).ok());
    ASSERT_TRUE((*c)->SendFrame(ws::kPing, "are you there").ok());
    ASSERT_TRUE((*c)->Send(ws::kCloseChannel, std::string(1, '\0')).ok());
  });
  WsOutput out = DrainWs(**c);
  writer.join();
  EXPECT_TRUE(out.stdout_data == input) << out.stdout_data.size();
  EXPECT_EQ(out.stderr_data, "err\n");
  auto status = ParseStatus(out.error);
  EXPECT_EQ(status["reason"], "NonZeroExitCode");
  EXPECT_EQ(status["details"]["causes"][0]["message"], "3");
  EXPECT_TRUE(out.closed);
}

TEST_F(StreamingServerTest, WebSocketBase64Protocol) {
  auto c = WsClient::Connect(ExecUrl(Sh("printf '\\001\\002binary'"), false, true, false), {"base64.channel.k8s.io"});
  ASSERT_TRUE(c.ok()) << c.status();
  std::string got;
  for (;;) {
    auto m = (*c)->ReadMessage();
    ASSERT_TRUE(m.ok()) << m.status();
    if (m->opcode == ws::kClose) break;
    EXPECT_EQ(m->opcode, ws::kText);
    if (!m->payload.empty() && m->payload[0] == '1') {
      std::string decoded;
      ASSERT_TRUE(absl::Base64Unescape(m->payload.substr(1), &decoded));
      got += decoded;
    }
  }
  EXPECT_EQ(got, "\x01\x02" "binary");
}

TEST_F(StreamingServerTest, WebSocketLargeOutputAndTtyResize) {
  constexpr size_t kSize = 20'000'000;
  auto c = WsClient::Connect(ExecUrl(Sh(absl::StrCat("head -c ", kSize, " /dev/zero | tr '\\000' x")), false, true,
                                     false),
                             {"v4.channel.k8s.io"});
  ASSERT_TRUE(c.ok()) << c.status();
  WsOutput out = DrainWs(**c);
  EXPECT_EQ(out.stdout_data.size(), kSize);
  EXPECT_EQ(out.stdout_data.find_first_not_of('x'), std::string::npos);
  EXPECT_EQ(ParseStatus(out.error)["status"], "Success");

  auto t = WsClient::Connect(
      ExecUrl(Sh("i=0; while [ $i -lt 100 ]; do s=$(stty size); [ \"$s\" = \"33 77\" ] && break; "
                 "sleep 0.05; i=$((i+1)); done; echo size=$s"),
              false, true, false, true),
      {"v5.channel.k8s.io"});
  ASSERT_TRUE(t.ok()) << t.status();
  ASSERT_TRUE((*t)->Send(ws::kResizeChannel, R"({"Width":77,"Height":33})").ok());
  WsOutput tty = DrainWs(**t);
  EXPECT_TRUE(absl::StrContains(tty.stdout_data, "size=33 77")) << tty.stdout_data;
}

TEST_F(StreamingServerTest, WebSocketDisconnectKillsTheProcess) {
  auto c = WsClient::Connect(ExecUrl(Sh("echo started; exec sleep 1000"), false, true, false), {"v4.channel.k8s.io"});
  ASSERT_TRUE(c.ok()) << c.status();
  std::string seen;
  while (!absl::StrContains(seen, "started")) {
    auto m = (*c)->ReadMessage();
    ASSERT_TRUE(m.ok()) << m.status();
    seen += m->payload;
  }
  pid_t pid = runtime_.last_pid();
  c->reset();
  EXPECT_TRUE(WaitUntil([&] { return ProcessGone(pid); }, absl::Seconds(10)));
}

TEST_F(StreamingServerTest, WebSocketRejectsUnknownSubprotocolAndUnmaskedFrames) {
  HttpResult failed;
  auto c = WsClient::Connect(ExecUrl(Sh("true"), false, true, false), {"v9.channel.k8s.io"}, &failed);
  EXPECT_FALSE(c.ok());
  EXPECT_EQ(failed.status, 400);

  auto d = WsClient::Connect(ExecUrl({"cat"}, true, true, false), {"v4.channel.k8s.io"});
  ASSERT_TRUE(d.ok()) << d.status();
  // An unmasked client frame is a protocol error: the server closes with 1002.
  ASSERT_TRUE((*d)->socket().WriteAll(ws::EncodeFrame(ws::kBinary, std::string("\0hi", 3))).ok());
  bool saw_1002 = false;
  for (;;) {
    auto m = (*d)->ReadMessage();
    if (!m.ok()) break;
    if (m->opcode == ws::kClose) {
      saw_1002 = m->payload.size() >= 2 && static_cast<uint8_t>(m->payload[0]) == 0x03 &&
                 static_cast<uint8_t>(m->payload[1]) == 0xEA;
      break;
    }
  }
  EXPECT_TRUE(saw_1002);
}

TEST_F(StreamingServerTest, WebSocketPortForward) {
  EchoServer echo;
  auto c = WsClient::Connect(PortForwardUrl() + "?port=" + std::to_string(echo.port()), {"v4.channel.k8s.io"});
  ASSERT_TRUE(c.ok()) << c.status();
  std::string port_le = {static_cast<char>(echo.port() & 0xff), static_cast<char>(echo.port() >> 8)};
  auto first = (*c)->ReadMessage();
  auto second = (*c)->ReadMessage();
  ASSERT_TRUE(first.ok() && second.ok());
  std::set<std::string> initial = {first->payload, second->payload};
  EXPECT_TRUE(initial.count(std::string(1, '\0') + port_le));
  EXPECT_TRUE(initial.count(std::string(1, '\1') + port_le));
  ASSERT_TRUE((*c)->Send(0, "hello through websocket").ok());
  std::string echoed;
  while (echoed.size() < strlen("hello through websocket")) {
    auto m = (*c)->ReadMessage();
    ASSERT_TRUE(m.ok()) << m.status();
    ASSERT_NE(m->opcode, ws::kClose);
    ASSERT_EQ(m->payload[0], '\0');
    echoed += m->payload.substr(1);
  }
  EXPECT_EQ(echoed, "hello through websocket");
  ASSERT_TRUE((*c)->SendFrame(ws::kClose, ws::CloseFramePayload(1000, "")).ok());
  for (;;) {  // the server answers the close
    auto m = (*c)->ReadMessage();
    if (!m.ok() || m->opcode == ws::kClose) break;
  }
}

// ---- SPDY tunnelled through WebSocket ----

TEST_F(StreamingServerTest, SpdyOverWebSocketPortForwardEchoesAndReportsErrors) {
  EchoServer echo;
  std::string chosen;
  // What client-go's SPDY-over-WebSocket dialer offers; no ?port= needed, ports ride on streams.
  auto sock = testing::DialSpdyOverWebSocket(PortForwardUrl(), {"portforward.k8s.io"}, &chosen);
  ASSERT_TRUE(sock.ok()) << sock.status();
  EXPECT_EQ(chosen, "portforward.k8s.io");
  spdy::SessionOptions so;
  so.server = false;
  so.send_settings = true;
  spdy::Session session(*std::move(sock), so);
  session.Start();
  std::string port = std::to_string(echo.port());
  for (int request = 0; request < 2; ++request) {
    std::string id = std::to_string(request);
    auto err = session.OpenStream({{"streamType", "error"}, {"port", port}, {"requestID", id}}, true);
    auto data = session.OpenStream({{"streamType", "data"}, {"port", port}, {"requestID", id}});
    ASSERT_TRUE(err.ok() && data.ok());
    std::string payload = Repeat("tunnelled-" + id, 300'000);  // many windows, many messages
    std::thread writer([&] {
      ASSERT_TRUE((*data)->Write(payload).ok());
      ASSERT_TRUE((*data)->Close().ok());
    });
    auto echoed = (*data)->ReadAll(1 << 30);
    writer.join();
    ASSERT_TRUE(echoed.ok()) << echoed.status();
    EXPECT_TRUE(*echoed == payload) << echoed->size();
    auto err_text = (*err)->ReadAll();
    ASSERT_TRUE(err_text.ok());
    EXPECT_EQ(*err_text, "");
  }
  auto err = session.OpenStream({{"streamType", "error"}, {"port", "1"}, {"requestID", "9"}}, true);
  auto data = session.OpenStream({{"streamType", "data"}, {"port", "1"}, {"requestID", "9"}});
  ASSERT_TRUE(err.ok() && data.ok());
  auto err_text = (*err)->ReadAll();
  ASSERT_TRUE(err_text.ok());
  EXPECT_TRUE(absl::StrContains(*err_text, "error forwarding port 1")) << *err_text;
  EXPECT_TRUE(session.Ping().ok());
  // The client ends the tunnel with a WebSocket close; the server winds down the session.
  session.Finish(absl::Seconds(5));
  EXPECT_TRUE(session.closed());
}

TEST_F(StreamingServerTest, SpdyOverWebSocketExecWithStdinAndLargeWindow) {
  SpdyExecOptions opts;
  opts.websocket_tunnel = true;
  opts.stdin = true;
  opts.stderr = true;
  opts.receive_window = 1 << 20;
  std::string input = Repeat("through the tunnel\n", 2'000'000);
  auto r = RunSpdyExec(ExecUrl(Sh("cat; echo done >&2; exit 4"), true, true, true), opts, input);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->stdout_data == input) << r->stdout_data.size();
  EXPECT_EQ(r->stderr_data, "done\n");
  EXPECT_EQ(ParseStatus(r->error)["details"]["causes"][0]["message"], "4");
}

TEST_F(StreamingServerTest, SpdyOverWebSocketNegotiation) {
  // Tunnelled protocols are chosen like any other subprotocol: in client order.
  auto c = WsClient::Connect(ExecUrl(Sh("true"), false, true, false),
                             {"SPDY/3.1+v9.channel.k8s.io", "SPDY/3.1+v4.channel.k8s.io", "v5.channel.k8s.io"});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ((*c)->protocol(), "SPDY/3.1+v4.channel.k8s.io");
  // Exec protocols are not port-forward protocols and vice versa.
  HttpResult failed;
  EXPECT_FALSE(WsClient::Connect(PortForwardUrl(), {"SPDY/3.1+v4.channel.k8s.io"}, &failed).ok());
  EXPECT_EQ(failed.status, 400);
  EXPECT_FALSE(WsClient::Connect(ExecUrl(Sh("true"), false, true, false), {"SPDY/3.1+portforward.k8s.io"}, &failed).ok());
  EXPECT_EQ(failed.status, 400);
  // A tunnel client that disconnects mid-exec kills the process.
  SpdyExecOptions opts;
  opts.websocket_tunnel = true;
  auto s = StartSpdyExec(ExecUrl(Sh("echo started; exec sleep 1000"), false, true, false), opts);
  ASSERT_TRUE(s.ok()) << s.status();
  char buf[16];
  auto n = (*s)->out->Read(buf, sizeof(buf));
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(std::string(buf, *n), "started\n");
  pid_t pid = runtime_.last_pid();
  s->reset();
  EXPECT_TRUE(WaitUntil([&] { return ProcessGone(pid); }, absl::Seconds(10))) << "pid " << pid << " survived";
}

}  // namespace
}  // namespace flint::streaming
