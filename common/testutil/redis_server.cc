#include "common/testutil/redis_server.h"

#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/resp_connection.h"
#include "common/testutil/loopback.h"

extern char** environ;

namespace flint::testutil {

absl::StatusOr<std::unique_ptr<RedisServer>> RedisServer::Start(uint16_t port, const std::string& password) {
  char tmpl[] = "/tmp/flint-redis-XXXXXX";
  if (mkdtemp(tmpl) == nullptr) return absl::InternalError(absl::StrCat("mkdtemp: ", strerror(errno)));
  // Owns the directory from here on, so every failure below removes it.
  std::unique_ptr<RedisServer> server(new RedisServer(tmpl, port));
  const int attempts = port == 0 ? 5 : 1;
  absl::Status last;
  for (int attempt = 0; attempt < attempts; ++attempt) {
    if (port == 0) server->port_ = PickFreeLoopbackPort();
    last = server->Run(password);
    if (last.ok()) return server;
  }
  return last;
}

absl::Status RedisServer::Run(const std::string& password) {
  std::vector<std::string> args = {"redis-server", "--port", std::to_string(port_), "--bind", "127.0.0.1",
                                   "--save", "", "--appendonly", "no", "--daemonize", "no",
                                   "--dir", dir_, "--loglevel", "warning", "--logfile", dir_ + "/redis.log"};
  if (!password.empty()) {
    args.push_back("--requirepass");
    args.push_back(password);
  }
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  if (int rc = posix_spawnp(&pid, "redis-server", nullptr, nullptr, argv.data(), environ); rc != 0) {
    return absl::UnavailableError(absl::StrCat("spawn redis-server: ", strerror(rc)));
  }
  pid_ = pid;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < deadline) {
    if (waitpid(pid_, nullptr, WNOHANG) == pid_) {
      pid_ = -1;
      return absl::UnavailableError(absl::StrCat("redis-server on port ", port_, " exited early (port taken?)"));
    }
    auto conn = RespConnection::Connect("127.0.0.1", port_, std::chrono::milliseconds(200));
    if (conn.ok()) {
      // With requirepass an unauthenticated PING gets -NOAUTH: the server is up all the same.
      auto reply = (*conn)->Command({"PING"});
      if (reply.ok() && (reply->str == "PONG" || reply->type == RespReply::Type::kError)) return absl::OkStatus();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  Kill();
  return absl::DeadlineExceededError(absl::StrCat("redis-server on port ", port_, " did not answer PING in 10 s"));
}

void RedisServer::Kill() {
  if (pid_ <= 0) return;
  kill(pid_, SIGKILL);
  waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

RedisServer::~RedisServer() {
  if (pid_ > 0) {
    kill(pid_, SIGTERM);
    for (int i = 0; i < 100 && pid_ > 0; ++i) {  // 5 s to exit, then SIGKILL
      if (waitpid(pid_, nullptr, WNOHANG) == pid_) pid_ = -1;
      else std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    Kill();
  }
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

}  // namespace flint::testutil
