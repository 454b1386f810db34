// flintd's streaming server: hands out one-shot URLs for Exec/Attach/PortForward and serves them
// over SPDY/3.1 (kubelet, crictl) or WebSocket (crictl -r websocket).
#pragma once

#include <atomic>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "api.pb.h"
#include "cri/streaming/remotecommand.h"
#include "cri/streaming/request_cache.h"
#include "cri/streaming/runtime.h"
#include "cri/streaming/socket.h"

namespace flint::streaming {

struct StreamingServerOptions {
  // host:port to listen on; port 0 picks an ephemeral port.
  std::string address = "127.0.0.1:0";
  // Host written into URLs; defaults to the listen host.
  std::string url_host;
  std::function<absl::Time()> clock = absl::Now;  // token expiry (tests inject a fake)
  absl::Duration token_ttl = RequestCache::kDefaultTtl;
  size_t max_in_flight = RequestCache::kDefaultMaxInFlight;
  StreamTimeouts timeouts;
  absl::Duration handshake_timeout = absl::Seconds(30);
  // Connections beyond this are closed right after accept (one thread per connection).
  size_t max_connections = 256;
};

class StreamingServer {
 public:
  // runtime must outlive the server.
  static absl::StatusOr<std::unique_ptr<StreamingServer>> Start(StreamingRuntime* runtime,
                                                                StreamingServerOptions options = {});
  ~StreamingServer();  // Stop()
  StreamingServer(const StreamingServer&) = delete;
  StreamingServer& operator=(const StreamingServer&) = delete;

  // Closes the listener, ends all sessions (runtimes see their CancelSignal) and joins threads.
  void Stop();

  int port() const { return port_; }
  std::string base_url() const;  // http://host:port

  // Validate the CRI request, store it under a fresh token and return the URL for the client.
  // InvalidArgument for bad requests, ResourceExhausted when too many are in flight.
  absl::StatusOr<std::string> GetExecUrl(const runtime::v1::ExecRequest& req);
  absl::StatusOr<std::string> GetAttachUrl(const runtime::v1::AttachRequest& req);
  absl::StatusOr<std::string> GetPortForwardUrl(const runtime::v1::PortForwardRequest& req);

 private:
  StreamingServer(StreamingRuntime* runtime, StreamingServerOptions options);
  void AcceptLoop();
  void ServeConnection(std::unique_ptr<Socket> sock);
  void Route(std::unique_ptr<Socket> sock);

  StreamingRuntime* runtime_;
  StreamingServerOptions options_;
  RequestCache cache_;
  std::string host_;
  int port_ = 0;
  int listen_fd_ = -1;
  int wake_fd_ = -1;  // eventfd that interrupts the accept loop
  std::thread acceptor_;

  struct Connection {
    std::thread thread;
    std::shared_ptr<std::atomic<bool>> done;
    int fd;
  };
  std::mutex mu_;
  std::list<Connection> connections_;
  bool stopping_ = false;
};

}  // namespace flint::streaming
