#include "cri/streaming/server.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/log.h"
#include "cri/streaming/http.h"
#include "cri/streaming/spdy_handlers.h"
#include "cri/streaming/websocket.h"
#include "cri/streaming/websocket_handlers.h"
#include "cri/streaming/websocket_tunnel.h"

namespace flint::streaming {
namespace {

absl::Status SplitHostPort(const std::string& address, std::string* host, int* port) {
  size_t colon = address.rfind(':');
  if (colon == std::string::npos) return absl::InvalidArgumentError(absl::StrCat("address '", address, "' lacks a port"));
  *host = address.substr(0, colon);
  if (host->size() >= 2 && host->front() == '[' && host->back() == ']') *host = host->substr(1, host->size() - 2);
  if (!absl::SimpleAtoi(address.substr(colon + 1), port) || *port < 0 || *port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("address '", address, "' has a bad port"));
  }
  return absl::OkStatus();
}

void SetRecvTimeout(int fd, absl::Duration d) {
  timeval tv = absl::ToTimeval(d);
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
}

absl::Status ValidateStdio(bool in, bool out, bool err, bool tty) {
  if (tty && err) return absl::InvalidArgumentError("tty and stderr cannot both be true");
  if (!in && !out && !err) return absl::InvalidArgumentError("one of stdin, stdout, or stderr must be set");
  return absl::OkStatus();
}

std::vector<int32_t> ParsePorts(const HttpRequest& req, bool* ok) {
  std::vector<int32_t> ports;
  *ok = true;
  for (const auto& [k, v] : req.query) {
    if (k != "port") continue;
    for (absl::string_view p : absl::StrSplit(v, ',', absl::SkipEmpty())) {
      int port = 0;
      if (!absl::SimpleAtoi(p, &port) || port <= 0 || port > 65535) {
        *ok = false;
        return {};
      }
      ports.push_back(port);
    }
  }
  return ports;
}

const std::vector<std::string>& SpdyPortForwardProtocols() {
  static const std::vector<std::string> kProtocols = {kPortForwardProtocolV1};
  return kProtocols;
}

// WebSocket subprotocols for a route: the channel protocols, then SPDY tunnelled through
// WebSocket ("SPDY/3.1+" + each SPDY protocol).
std::vector<std::string> WebSocketProtocolsFor(bool port_forward) {
  std::vector<std::string> protocols = port_forward ? WebSocketPortForwardProtocols() : WebSocketRemoteCommandProtocols();
  for (const std::string& p : port_forward ? SpdyPortForwardProtocols() : SpdyRemoteCommandProtocols()) {
    protocols.push_back(absl::StrCat(ws::kSpdyTunnelPrefix, p));
  }
  return protocols;
}

}  // namespace

StreamingServer::StreamingServer(StreamingRuntime* runtime, StreamingServerOptions options)
    : runtime_(runtime),
      options_(std::move(options)),
      cache_(options_.clock, options_.token_ttl, options_.max_in_flight) {}

absl::StatusOr<std::unique_ptr<StreamingServer>> StreamingServer::Start(StreamingRuntime* runtime,
                                                                       StreamingServerOptions options) {
  if (runtime == nullptr) return absl::InvalidArgumentError("streaming server: runtime is required");
  std::unique_ptr<StreamingServer> server(new StreamingServer(runtime, std::move(options)));
  int port = 0;
  if (auto st = SplitHostPort(server->options_.address, &server->host_, &port); !st.ok()) return st;
  auto fd = ListenTcp(server->host_, port, &server->port_);
  if (!fd.ok()) return absl::Status(fd.status().code(), absl::StrCat("streaming server: ", fd.status().message()));
  server->listen_fd_ = *fd;
  server->wake_fd_ = eventfd(0, EFD_CLOEXEC);
  if (server->wake_fd_ < 0) return absl::InternalError(absl::StrCat("streaming server: eventfd: ", strerror(errno)));
  server->acceptor_ = std::thread([s = server.get()] { s->AcceptLoop(); });
  FLINT_LOG(INFO) << "streaming server listening on " << server->base_url();
  return server;
}

StreamingServer::~StreamingServer() {
  Stop();
  if (listen_fd_ >= 0) close(listen_fd_);
  if (wake_fd_ >= 0) close(wake_fd_);
}

std::string StreamingServer::base_url() const {
  std::string host = options_.url_host.empty() ? host_ : options_.url_host;
  if (absl::StrContains(host, ':')) host = absl::StrCat("[", host, "]");
  return absl::StrCat("http://", host, ":", port_);
}

void StreamingServer::Stop() {
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  uint64_t one = 1;
  if (wake_fd_ >= 0) (void)!write(wake_fd_, &one, sizeof(one));
  if (acceptor_.joinable()) acceptor_.join();
  std::list<Connection> connections;
  {
    std::lock_guard lock(mu_);
    for (auto& c : connections_) shutdown(c.fd, SHUT_RDWR);
    connections.swap(connections_);
  }
  for (auto& c : connections) {
    c.thread.join();
    close(c.fd);
  }
}

void StreamingServer::AcceptLoop() {
  for (;;) {
    pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
    int rc = poll(fds, 2, 1000);
    {
      std::lock_guard lock(mu_);
      for (auto it = connections_.begin(); it != connections_.end();) {
        if (it->done->load()) {
          it->thread.join();
          close(it->fd);
          it = connections_.erase(it);
        } else {
          ++it;
        }
      }
      if (stopping_) return;
    }
    if (rc <= 0 || !(fds[0].revents & POLLIN)) continue;
    int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno != EINTR && errno != EAGAIN) {
        FLINT_LOG(WARN) << "streaming server: accept: " << strerror(errno);
      }
      continue;
    }
    {
      std::lock_guard lock(mu_);
      if (connections_.size() >= options_.max_connections) {
        FLINT_LOG(WARN) << "streaming server: too many connections (" << connections_.size() << "), refusing one";
        close(fd);
        continue;
      }
    }
    int on = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
    // The handler owns a dup; the original stays open until the thread is joined so that Stop()
    // can shut it down without racing against fd reuse.
    int handler_fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (handler_fd < 0) {
      close(fd);
      continue;
    }
    auto done = std::make_shared<std::atomic<bool>>(false);
    std::lock_guard lock(mu_);
    connections_.push_back(Connection{std::thread([this, handler_fd, done] {
                                        ServeConnection(std::make_unique<Socket>(handler_fd));
                                        done->store(true);
                                      }),
                                      done, fd});
  }
}

void StreamingServer::ServeConnection(std::unique_ptr<Socket> sock) { Route(std::move(sock)); }

void StreamingServer::Route(std::unique_ptr<Socket> sock) {
  SetRecvTimeout(sock->fd(), options_.handshake_timeout);
  auto head = ReadHttpHead(*sock);
  if (!head.ok()) {
    if (!absl::IsUnavailable(head.status())) (void)WriteHttpResponse(*sock, 400, {}, std::string(head.status().message()));
    return;
  }
  auto req = ParseHttpRequest(*std::move(head));
  if (!req.ok()) {
    (void)WriteHttpResponse(*sock, 400, {}, std::string(req.status().message()));
    return;
  }
  SetRecvTimeout(sock->fd(), absl::ZeroDuration());

  std::vector<std::string> segments = absl::StrSplit(req->path, '/');
  // "/exec/<token>" splits into {"", "exec", "<token>"}.
  if (segments.size() != 3 || !segments[0].empty() ||
      (segments[1] != "exec" && segments[1] != "attach" && segments[1] != "portforward") || segments[2].empty()) {
    (void)WriteHttpResponse(*sock, 404, {}, "404 page not found\n");
    return;
  }
  const std::string& kind = segments[1];
  if (req->method != "GET" && req->method != "POST") {
    (void)WriteHttpResponse(*sock, 405, {{"Allow", "GET, POST"}}, "method not allowed\n");
    return;
  }
  std::optional<CachedRequest> cached = cache_.Consume(segments[2]);
  bool kind_ok = cached && ((kind == "exec" && std::holds_alternative<runtime::v1::ExecRequest>(*cached)) ||
                            (kind == "attach" && std::holds_alternative<runtime::v1::AttachRequest>(*cached)) ||
                            (kind == "portforward" && std::holds_alternative<runtime::v1::PortForwardRequest>(*cached)));
  if (!kind_ok) {
    (void)WriteHttpResponse(*sock, 404, {}, "token not found or expired\n");
    return;
  }

  RemoteCommandRequest rc;
  if (auto* exec = std::get_if<runtime::v1::ExecRequest>(&*cached)) {
    rc = RemoteCommandRequest{true, exec->container_id(), {exec->cmd().begin(), exec->cmd().end()},
                              exec->stdin(), exec->stdout(), exec->stderr(), exec->tty()};
  } else if (auto* attach = std::get_if<runtime::v1::AttachRequest>(&*cached)) {
    rc = RemoteCommandRequest{false, attach->container_id(), {}, attach->stdin(), attach->stdout(),
                              attach->stderr(), attach->tty()};
  }
  const bool port_forward = kind == "portforward";

  if (req->head.HasToken("Upgrade", "websocket")) {
    std::string key = req->head.Get("Sec-WebSocket-Key");
    if (key.empty() || req->head.Get("Sec-WebSocket-Version") != "13" || !req->head.HasToken("Connection", "upgrade")) {
      (void)WriteHttpResponse(*sock, 400, {{"Sec-WebSocket-Version", "13"}}, "bad websocket handshake\n");
      return;
    }
    std::vector<std::string> offered = req->head.GetList("Sec-WebSocket-Protocol");
    const std::vector<std::string> supported = WebSocketProtocolsFor(port_forward);
    std::string protocol;
    if (!offered.empty()) {
      auto chosen = NegotiateProtocol(offered, supported);
      if (!chosen) {
        (void)WriteHttpResponse(*sock, 400, {}, absl::StrCat("unsupported websocket subprotocol; supported: ",
                                                             absl::StrJoin(supported, ", "), "\n"));
        return;
      }
      protocol = *chosen;
    }
    const bool tunnel = absl::StartsWith(protocol, ws::kSpdyTunnelPrefix);
    std::vector<int32_t> ports;
    if (port_forward && !tunnel) {  // over SPDY, ports come with each stream
      bool ok = true;
      ports = ParsePorts(*req, &ok);
      const auto& pf = std::get<runtime::v1::PortForwardRequest>(*cached);
      if (ports.empty() && ok) ports.assign(pf.port().begin(), pf.port().end());
      if (!ok || ports.empty()) {
        (void)WriteHttpResponse(*sock, 400, {}, "port-forward: query parameter 'port' is required and must be 1-65535\n");
        return;
      }
    }
    std::string resp = absl::StrCat("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n",
                                    "Sec-WebSocket-Accept: ", ws::AcceptKey(key), "\r\n");
    if (!protocol.empty()) absl::StrAppend(&resp, "Sec-WebSocket-Protocol: ", protocol, "\r\n");
    resp += "\r\n";
    if (!sock->WriteAll(resp).ok()) return;
    if (tunnel) {
      auto tunnelled = std::make_unique<ws::TunnelSocket>(std::move(sock), ws::TunnelSocket::Role::kServer);
      const std::string spdy_protocol = protocol.substr(ws::kSpdyTunnelPrefixLength);
      if (port_forward) {
        ServeSpdyPortForward(std::move(tunnelled), std::get<runtime::v1::PortForwardRequest>(*cached), *runtime_,
                             options_.timeouts);
      } else {
        ServeSpdyRemoteCommand(std::move(tunnelled), RemoteCommandVersion(spdy_protocol), rc, *runtime_,
                               options_.timeouts);
      }
      return;
    }
    if (port_forward) {
      ServeWebSocketPortForward(std::move(sock), protocol, ports, std::get<runtime::v1::PortForwardRequest>(*cached),
                                *runtime_);
    } else {
      ServeWebSocketRemoteCommand(std::move(sock), protocol, rc, *runtime_);
    }
    return;
  }

  if (!req->head.HasToken("Connection", "upgrade") || !req->head.HasToken("Upgrade", "SPDY/3.1")) {
    (void)WriteHttpResponse(*sock, 400, {}, "unable to upgrade: missing upgrade headers in request\n");
    return;
  }
  std::vector<std::string> offered = req->head.GetList("X-Stream-Protocol-Version");
  if (offered.empty()) {
    (void)WriteHttpResponse(*sock, 400, {}, "unable to upgrade: X-Stream-Protocol-Version is required\n");
    return;
  }
  const auto& supported = port_forward ? SpdyPortForwardProtocols() : SpdyRemoteCommandProtocols();
  auto chosen = NegotiateProtocol(offered, supported);
  if (!chosen) {
    (void)WriteHttpResponse(
        *sock, 403, {{"X-Accepted-Stream-Protocol-Versions", absl::StrJoin(supported, ", ")}},
        absl::StrCat("unable to upgrade: unable to negotiate protocol: client supports ", absl::StrJoin(offered, ", "),
                     ", server accepts ", absl::StrJoin(supported, ", "), "\n"));
    return;
  }
  if (!sock->WriteAll(absl::StrCat("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n",
                                   "X-Stream-Protocol-Version: ", *chosen, "\r\n\r\n"))
           .ok()) {
    return;
  }
  if (port_forward) {
    ServeSpdyPortForward(std::move(sock), std::get<runtime::v1::PortForwardRequest>(*cached), *runtime_,
                         options_.timeouts);
  } else {
    ServeSpdyRemoteCommand(std::move(sock), RemoteCommandVersion(*chosen), rc, *runtime_, options_.timeouts);
  }
}

absl::StatusOr<std::string> StreamingServer::GetExecUrl(const runtime::v1::ExecRequest& req) {
  if (req.container_id().empty()) return absl::InvalidArgumentError("exec: missing required container_id");
  if (req.cmd().empty()) return absl::InvalidArgumentError("exec: cmd is required");
  if (auto st = ValidateStdio(req.stdin(), req.stdout(), req.stderr(), req.tty()); !st.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("exec: ", st.message()));
  }
  auto token = cache_.Insert(req);
  if (!token.ok()) return token.status();
  return absl::StrCat(base_url(), "/exec/", *token);
}

absl::StatusOr<std::string> StreamingServer::GetAttachUrl(const runtime::v1::AttachRequest& req) {
  if (req.container_id().empty()) return absl::InvalidArgumentError("attach: missing required container_id");
  if (auto st = ValidateStdio(req.stdin(), req.stdout(), req.stderr(), req.tty()); !st.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("attach: ", st.message()));
  }
  auto token = cache_.Insert(req);
  if (!token.ok()) return token.status();
  return absl::StrCat(base_url(), "/attach/", *token);
}

absl::StatusOr<std::string> StreamingServer::GetPortForwardUrl(const runtime::v1::PortForwardRequest& req) {
  if (req.pod_sandbox_id().empty()) return absl::InvalidArgumentError("port-forward: missing required pod_sandbox_id");
  auto token = cache_.Insert(req);
  if (!token.ok()) return token.status();
  return absl::StrCat(base_url(), "/portforward/", *token);
}

}  // namespace flint::streaming
