#include "cri/streaming/testing/clients.h"

#include <openssl/rand.h>

#include <thread>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "cri/streaming/websocket_tunnel.h"

namespace flint::streaming::testing {
namespace {

struct ParsedUrl {
  std::string host;
  int port = 0;
  std::string target;
};

absl::StatusOr<ParsedUrl> ParseUrl(const std::string& url) {
  constexpr absl::string_view kScheme = "http://";
  if (!absl::StartsWith(url, kScheme)) return absl::InvalidArgumentError("url must start with http://");
  std::string rest = url.substr(kScheme.size());
  size_t slash = rest.find('/');
  std::string hostport = rest.substr(0, slash);
  ParsedUrl u;
  u.target = slash == std::string::npos ? "/" : rest.substr(slash);
  size_t colon = hostport.rfind(':');
  if (colon == std::string::npos || !absl::SimpleAtoi(hostport.substr(colon + 1), &u.port)) {
    return absl::InvalidArgumentError("url lacks a port");
  }
  u.host = hostport.substr(0, colon);
  if (!u.host.empty() && u.host.front() == '[') u.host = u.host.substr(1, u.host.size() - 2);
  return u;
}

}  // namespace

absl::StatusOr<HttpResult> SendHttp(const std::string& url, const std::string& method,
                                    const std::vector<std::pair<std::string, std::string>>& headers) {
  auto u = ParseUrl(url);
  if (!u.ok()) return u.status();
  auto fd = ConnectTcp(u->host, u->port);
  if (!fd.ok()) return fd.status();
  auto sock = std::make_unique<Socket>(*fd);
  std::string req = absl::StrCat(method, " ", u->target, " HTTP/1.1\r\nHost: ", u->host, ":", u->port, "\r\n");
  for (const auto& [k, v] : headers) absl::StrAppend(&req, k, ": ", v, "\r\n");
  req += "\r\n";
  if (auto st = sock->WriteAll(req); !st.ok()) return st;
  auto head = ReadHttpHead(*sock);
  if (!head.ok()) return head.status();
  auto code = ResponseStatus(*head);
  if (!code.ok()) return code.status();
  HttpResult result;
  result.status = *code;
  result.head = *std::move(head);
  if (result.status == 101) {
    result.sock = std::move(sock);
    return result;
  }
  char buf[4096];
  for (;;) {
    auto n = sock->ReadSome(buf, sizeof(buf));
    if (!n.ok() || *n == 0) break;
    result.body.append(buf, *n);
  }
  return result;
}

SpdyExecSession::~SpdyExecSession() {
  error.reset();
  in.reset();
  out.reset();
  err.reset();
  resize.reset();
  session.reset();
}

absl::StatusOr<std::unique_ptr<Socket>> DialSpdyOverWebSocket(const std::string& url,
                                                              const std::vector<std::string>& spdy_protocols,
                                                              std::string* chosen) {
  std::vector<std::string> offered;
  for (const std::string& p : spdy_protocols) offered.push_back(absl::StrCat(ws::kSpdyTunnelPrefix, p));
  HttpResult failed;
  auto c = WsClient::Connect(url, offered, &failed);
  if (!c.ok()) return absl::Status(c.status().code(), absl::StrCat(c.status().message(), ": ", failed.body));
  if (!absl::StartsWith((*c)->protocol(), ws::kSpdyTunnelPrefix)) {
    return absl::FailedPreconditionError(absl::StrCat("server chose '", (*c)->protocol(), "', not a SPDY tunnel"));
  }
  if (chosen != nullptr) *chosen = (*c)->protocol().substr(ws::kSpdyTunnelPrefixLength);
  return std::make_unique<ws::TunnelSocket>((*c)->ReleaseSocket(), ws::TunnelSocket::Role::kClient);
}

absl::StatusOr<std::unique_ptr<SpdyExecSession>> StartSpdyExec(const std::string& url, const SpdyExecOptions& opts) {
  auto s = std::make_unique<SpdyExecSession>();
  std::unique_ptr<Socket> sock;
  if (opts.websocket_tunnel) {
    auto tunnel = DialSpdyOverWebSocket(url, opts.protocols, &s->protocol);
    if (!tunnel.ok()) return tunnel.status();
    sock = *std::move(tunnel);
  } else {
    auto resp = SendHttp(url, "POST",
                         {{"Connection", "Upgrade"},
                          {"Upgrade", "SPDY/3.1"},
                          {"X-Stream-Protocol-Version", absl::StrJoin(opts.protocols, ",")}});
    if (!resp.ok()) return resp.status();
    if (resp->status != 101) {
      return absl::FailedPreconditionError(absl::StrCat("upgrade failed: HTTP ", resp->status, ": ", resp->body));
    }
    s->protocol = resp->head.Get("X-Stream-Protocol-Version");
    sock = std::move(resp->sock);
  }
  spdy::SessionOptions so;
  so.server = false;
  so.send_settings = true;
  so.receive_window = opts.receive_window;
  s->session = std::make_unique<spdy::Session>(std::move(sock), so);
  s->session->Start();
  auto open = [&](const char* type, bool fin) -> absl::StatusOr<std::shared_ptr<spdy::Stream>> {
    return s->session->OpenStream({{"streamType", type}}, fin);
  };
  auto e = open("error", true);
  if (!e.ok()) return e.status();
  s->error = *e;
  if (opts.stdin) {
    auto st = open("stdin", false);
    if (!st.ok()) return st.status();
    s->in = *st;
  }
  if (opts.stdout) {
    auto st = open("stdout", true);
    if (!st.ok()) return st.status();
    s->out = *st;
  }
  if (opts.stderr) {
    auto st = open("stderr", true);
    if (!st.ok()) return st.status();
    s->err = *st;
  }
  if (opts.tty && s->protocol != "v2.channel.k8s.io" && s->protocol != "channel.k8s.io") {
    auto st = open("resize", false);
    if (!st.ok()) return st.status();
    s->resize = *st;
  }
  return s;
}

absl::StatusOr<ExecResult> RunSpdyExec(const std::string& url, const SpdyExecOptions& opts,
                                       const std::string& stdin_data) {
  auto s = StartSpdyExec(url, opts);
  if (!s.ok()) return s.status();
  ExecResult result;
  absl::Status out_status, err_status;
  std::thread out_thread, err_thread;
  if ((*s)->out) out_thread = std::thread([&] {
      auto r = (*s)->out->ReadAll(1 << 30);
      if (r.ok()) result.stdout_data = *r; else out_status = r.status();
    });
  if ((*s)->err) err_thread = std::thread([&] {
      auto r = (*s)->err->ReadAll(1 << 30);
      if (r.ok()) result.stderr_data = *r; else err_status = r.status();
    });
  if ((*s)->in) {
    if (!stdin_data.empty()) (void)(*s)->in->Write(stdin_data);
    (void)(*s)->in->Close();
  }
  auto error = (*s)->error->ReadAll();
  if (out_thread.joinable()) out_thread.join();
  if (err_thread.joinable()) err_thread.join();
  if (!error.ok()) return error.status();
  if (!out_status.ok()) return out_status;
  if (!err_status.ok()) return err_status;
  result.error = *error;
  return result;
}

absl::StatusOr<std::unique_ptr<WsClient>> WsClient::Connect(const std::string& url,
                                                            const std::vector<std::string>& protocols,
                                                            HttpResult* failed_response) {
  unsigned char nonce[16];
  RAND_bytes(nonce, sizeof(nonce));
  std::string key = absl::Base64Escape(absl::string_view(reinterpret_cast<char*>(nonce), sizeof(nonce)));
  std::vector<std::pair<std::string, std::string>> headers = {
      {"Connection", "Upgrade"}, {"Upgrade", "websocket"}, {"Sec-WebSocket-Version", "13"}, {"Sec-WebSocket-Key", key}};
  if (!protocols.empty()) headers.emplace_back("Sec-WebSocket-Protocol", absl::StrJoin(protocols, ", "));
  auto resp = SendHttp(url, "GET", headers);
  if (!resp.ok()) return resp.status();
  if (resp->status != 101) {
    int status = resp->status;
    if (failed_response) *failed_response = *std::move(resp);
    return absl::FailedPreconditionError(absl::StrCat("websocket upgrade failed: HTTP ", status));
  }
  if (resp->head.Get("Sec-WebSocket-Accept") != ws::AcceptKey(key)) {
    return absl::DataLossError("bad Sec-WebSocket-Accept");
  }
  auto c = std::unique_ptr<WsClient>(new WsClient());
  c->sock_ = std::move(resp->sock);
  c->protocol_ = resp->head.Get("Sec-WebSocket-Protocol");
  return c;
}

absl::Status WsClient::SendFrame(uint8_t opcode, std::string_view payload, bool fin) {
  uint8_t mask[4];
  RAND_bytes(mask, sizeof(mask));
  return sock_->WriteAll(ws::EncodeFrame(opcode, payload, fin, mask));
}

absl::Status WsClient::Send(uint8_t channel, std::string_view data, size_t fragment) {
  std::string msg;
  uint8_t opcode = ws::kBinary;
  if (absl::StrContains(protocol_, "base64")) {
    opcode = ws::kText;
    msg.push_back(static_cast<char>('0' + channel));
    msg += absl::Base64Escape(absl::string_view(data.data(), data.size()));
  } else {
    msg.push_back(static_cast<char>(channel));
    msg.append(data);
  }
  if (fragment == 0 || msg.size() <= fragment) return SendFrame(opcode, msg);
  std::string_view rest(msg);
  bool first = true;
  while (!rest.empty()) {
    std::string_view part = rest.substr(0, fragment);
    rest.remove_prefix(part.size());
    if (auto st = SendFrame(first ? opcode : static_cast<uint8_t>(ws::kContinuation), part, rest.empty()); !st.ok()) return st;
    first = false;
  }
  return absl::OkStatus();
}

absl::StatusOr<ws::Frame> WsClient::ReadMessage() {
  ws::Frame message;
  bool started = false;
  for (;;) {
    auto f = ws::ReadFrame(*sock_, /*require_masked=*/false, 64 << 20);
    if (!f.ok()) return f.status();
    if (f->opcode == ws::kPing) {
      (void)SendFrame(ws::kPong, f->payload);
      continue;
    }
    if (f->opcode == ws::kPong) continue;
    if (f->opcode == ws::kClose) return *std::move(f);
    if (!started) {
      message.opcode = f->opcode;
      started = true;
    }
    message.payload += f->payload;
    if (f->fin) return message;
  }
}

}  // namespace flint::streaming::testing
