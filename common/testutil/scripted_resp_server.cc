#include "common/testutil/scripted_resp_server.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>

#include "common/testutil/loopback.h"

namespace flint::testutil {

ScriptedRespServer::ScriptedRespServer(std::vector<std::string> replies, size_t piece_bytes,
                                       std::chrono::milliseconds pause)
    : replies_(std::move(replies)), piece_bytes_(piece_bytes), pause_(pause) {
  listener_ = ListenOnLoopback(1, &port_);
  if (listener_ >= 0) thread_ = std::thread([this] { Serve(); });
}

ScriptedRespServer::~ScriptedRespServer() {
  stop_ = true;
  if (listener_ >= 0) shutdown(listener_, SHUT_RDWR);
  if (thread_.joinable()) thread_.join();
  if (listener_ >= 0) close(listener_);
}

void ScriptedRespServer::Serve() {
  while (!stop_) {
    const int fd = accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) return;
    ++connections_;
    ServeConnection(fd);
    close(fd);
  }
}

void ScriptedRespServer::ServeConnection(int fd) {
  char buf[4096];
  for (const std::string& reply : replies_) {
    pollfd readable{fd, POLLIN, 0};
    while (!stop_ && poll(&readable, 1, 100) == 0) {
    }
    if (stop_ || recv(fd, buf, sizeof(buf), 0) <= 0) break;  // one small command per reply
    ++commands_;
    for (size_t off = 0; off < reply.size() && !stop_; off += piece_bytes_) {
      if (send(fd, reply.data() + off, std::min(piece_bytes_, reply.size() - off), MSG_NOSIGNAL) < 0) break;
      if (pause_.count() > 0) {
        std::this_thread::sleep_for(pause_);
      } else if (off % 50000 == 0) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
    }
  }
}

}  // namespace flint::testutil
