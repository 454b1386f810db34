#include "cri/stats/redis_test_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "cri/stats/redis_client.h"

extern char** environ;

namespace flint::stats::testing {

uint16_t PickFreeLoopbackPort() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

absl::StatusOr<std::unique_ptr<RedisTestServer>> RedisTestServer::Start(uint16_t port) {
  if (port == 0) port = PickFreeLoopbackPort();
  std::string port_text = std::to_string(port);
  std::vector<std::string> args = {"redis-server", "--port", port_text, "--bind", "127.0.0.1", "--save", "",
                                   "--appendonly", "no", "--daemonize", "no", "--loglevel", "warning"};
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  int rc = ::posix_spawnp(&pid, "redis-server", nullptr, nullptr, argv.data(), environ);
  if (rc != 0) return absl::UnavailableError(absl::StrCat("spawn redis-server: ", rc));
  std::unique_ptr<RedisTestServer> server(new RedisTestServer(pid, port));
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < deadline) {
    auto conn = RedisConnection::Connect("127.0.0.1", port, std::chrono::milliseconds(200));
    if (conn.ok() && (*conn)->SendCommand({"PING"}).ok()) {
      auto reply = (*conn)->ReadReply(std::chrono::milliseconds(500));
      if (reply.ok() && reply->str == "PONG") return server;
    }
    int status = 0;
    if (::waitpid(pid, &status, WNOHANG) == pid) {
      server->pid_ = -1;
      return absl::UnavailableError(absl::StrCat("redis-server on port ", port, " exited early"));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return absl::DeadlineExceededError("redis-server did not answer PING");
}

void RedisTestServer::Kill() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  ::waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

RedisTestServer::~RedisTestServer() { Kill(); }

}  // namespace flint::stats::testing
