#include "shim/client/shim_client.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <nlohmann/json.hpp>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

extern char** environ;

namespace flint::shim {
namespace {

absl::Status ErrnoStatus(absl::string_view what) {
  return absl::InternalError(absl::StrCat(what, ": ", std::strerror(errno)));
}

int RemainingMs(absl::Time deadline) {
  if (deadline == absl::InfiniteFuture()) return -1;
  absl::Duration left = deadline - absl::Now();
  if (left <= absl::ZeroDuration()) return 0;
  return static_cast<int>(std::min<int64_t>(absl::ToInt64Milliseconds(left) + 1, 1 << 30));
}

class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

absl::StatusOr<ShimStatus> ParseStatus(const nlohmann::json& status_json) {
  ShimStatus status;
  std::string error;
  if (!StatusFromJson(status_json.dump(), &status, &error)) return absl::InternalError(error);
  return status;
}

absl::StatusOr<nlohmann::json> ParseReply(const std::string& line) {
  nlohmann::json reply = nlohmann::json::parse(line, nullptr, false);
  if (!reply.is_object()) return absl::InternalError("shim reply is not a JSON object");
  if (!reply.value("ok", false)) {
    std::string error = reply.contains("error") && reply["error"].is_string() ? reply["error"].get<std::string>()
                                                                              : "unknown error";
    return absl::FailedPreconditionError(error);
  }
  return reply;
}

}  // namespace

absl::StatusOr<ShimClient> ShimClient::Spawn(const ShimSpawnOptions& options) {
  std::vector<std::string> args = {options.shim_binary, "--id",       options.id,         "--bundle",
                                   options.bundle,      "--runtime",  options.runtime,    "--state-dir",
                                   options.state_dir,   "--log-path", options.log_path,   "--socket",
                                   options.socket_path, "--create-timeout",
                                   std::to_string(std::max<int64_t>(1, absl::ToInt64Seconds(options.timeout)))};
  for (const std::string& arg : options.runtime_args) {
    args.push_back("--runtime-arg");
    args.push_back(arg);
  }
  // The shim receives the sealed copy as its descriptor 3.
  constexpr int kShimRuntimeFd = 3;
  if (options.runtime_fd >= 0) {
    args.push_back("--runtime-fd");
    args.push_back(std::to_string(kShimRuntimeFd));
  }
  if (options.tty) args.push_back("--tty");
  if (options.stdin_open) args.push_back("--stdin");
  if (!options.logs_redis.empty()) {
    args.push_back("--logs-redis");
    args.push_back(options.logs_redis);
  }
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  int err_pipe[2];
  if (pipe2(err_pipe, O_CLOEXEC) != 0) return ErrnoStatus("spawn shim: pipe2");
  Fd err_read(err_pipe[0]);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, err_pipe[1], STDERR_FILENO);
  // dup2 onto itself would leave O_CLOEXEC set: move a descriptor that already is 3 first.
  Fd moved_runtime_fd(options.runtime_fd == kShimRuntimeFd ? fcntl(options.runtime_fd, F_DUPFD_CLOEXEC, 10) : -1);
  if (options.runtime_fd >= 0) {
    posix_spawn_file_actions_adddup2(&actions, moved_runtime_fd.get() >= 0 ? moved_runtime_fd.get() : options.runtime_fd,
                                     kShimRuntimeFd);
  }
  pid_t pid = -1;
  int rc = posix_spawn(&pid, options.shim_binary.c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  close(err_pipe[1]);
  if (rc != 0) {
    errno = rc;
    return ErrnoStatus(absl::StrCat("spawn ", options.shim_binary));
  }
  // The launcher exits as soon as the detached shim reports; its stderr carries the error.
  const absl::Time deadline = absl::Now() + options.timeout + absl::Seconds(5);
  std::string stderr_text;
  for (;;) {
    pollfd pfd{err_read.get(), POLLIN, 0};
    int ready = poll(&pfd, 1, RemainingMs(deadline));
    if (ready == 0) {
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
      return absl::DeadlineExceededError(absl::StrCat("shim for ", options.id, ": no answer in time"));
    }
    if (ready < 0 && errno == EINTR) continue;
    char buf[4096];
    ssize_t n = read(err_read.get(), buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    stderr_text.append(buf, static_cast<size_t>(n));
  }
  int wait_status = 0;
  while (waitpid(pid, &wait_status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(wait_status) || WEXITSTATUS(wait_status) != 0) {
    while (!stderr_text.empty() && stderr_text.back() == '\n') stderr_text.pop_back();
    return absl::InternalError(absl::StrCat("shim for ", options.id, ": ", stderr_text));
  }
  ShimClient client(options.socket_path);
  absl::Status last = absl::OkStatus();
  while (absl::Now() < deadline) {
    absl::StatusOr<ShimStatus> status = client.Status();
    if (status.ok()) return client;
    last = status.status();
    absl::SleepFor(absl::Milliseconds(10));
  }
  return absl::DeadlineExceededError(absl::StrCat("shim for ", options.id, ": socket does not answer: ", last.message()));
}

absl::StatusOr<ShimStatus> ShimClient::ReadStatusFile(const std::string& state_dir) {
  ShimStatus status;
  std::string error;
  if (!flint::shim::ReadStatusFile(state_dir, &status, &error)) {
    if (error.find("No such file") != std::string::npos) return absl::NotFoundError(error);
    return absl::InternalError(error);
  }
  return status;
}

absl::StatusOr<std::string> ShimClient::Call(const std::string& request_json, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (socket_path_.size() >= sizeof(addr.sun_path)) return absl::InvalidArgumentError("shim socket path too long");
  memcpy(addr.sun_path, socket_path_.c_str(), socket_path_.size() + 1);
  Fd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) return ErrnoStatus("shim socket");
  if (connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    if (errno == ENOENT || errno == ECONNREFUSED) {
      return absl::UnavailableError(absl::StrCat("connect ", socket_path_, ": ", std::strerror(errno)));
    }
    return ErrnoStatus(absl::StrCat("connect ", socket_path_));
  }
  int flags = fcntl(fd.get(), F_GETFL);
  fcntl(fd.get(), F_SETFL, flags | O_NONBLOCK);
  std::string out = request_json + "\n";
  size_t sent = 0;
  while (sent < out.size()) {
    ssize_t n = send(fd.get(), out.data() + sent, out.size() - sent, MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno != EAGAIN && errno != EINTR) return ErrnoStatus("send to shim");
    pollfd pfd{fd.get(), POLLOUT, 0};
    if (poll(&pfd, 1, RemainingMs(deadline)) == 0) return absl::DeadlineExceededError("send to shim: timed out");
  }
  std::string in;
  size_t scanned = 0;  // replies can be tens of MiB: look for the newline only in new bytes
  for (;;) {
    size_t newline = in.find('\n', scanned);
    if (newline != std::string::npos) return in.substr(0, newline);
    scanned = in.size();
    pollfd pfd{fd.get(), POLLIN, 0};
    int ready = poll(&pfd, 1, RemainingMs(deadline));
    if (ready == 0) return absl::DeadlineExceededError("waiting for shim reply: timed out");
    if (ready < 0 && errno != EINTR) return ErrnoStatus("poll shim socket");
    char buf[65536];
    ssize_t n = read(fd.get(), buf, sizeof(buf));
    if (n == 0) return absl::UnavailableError("shim closed the connection");
    if (n < 0 && errno != EAGAIN && errno != EINTR) return ErrnoStatus("read shim socket");
    if (n > 0) in.append(buf, static_cast<size_t>(n));
  }
}

absl::StatusOr<ShimStatus> ShimClient::Status() {
  absl::StatusOr<std::string> line = Call(R"({"op":"status"})", call_timeout_);
  if (!line.ok()) return line.status();
  absl::StatusOr<nlohmann::json> reply = ParseReply(*line);
  if (!reply.ok()) return reply.status();
  return ParseStatus((*reply)["status"]);
}

absl::StatusOr<ShimStatus> ShimClient::Start() {
  absl::StatusOr<std::string> line = Call(R"({"op":"start"})", call_timeout_);
  if (!line.ok()) return line.status();
  absl::StatusOr<nlohmann::json> reply = ParseReply(*line);
  if (!reply.ok()) return reply.status();
  return ParseStatus((*reply)["status"]);
}

absl::Status ShimClient::Kill(int signal_number, bool all) {
  nlohmann::json request = {{"op", "kill"}, {"signal", signal_number}, {"all", all}};
  absl::StatusOr<std::string> line = Call(request.dump(), call_timeout_);
  if (!line.ok()) return line.status();
  return ParseReply(*line).status();
}

absl::StatusOr<ExecResult> ShimClient::Exec(const ExecRequest& request) {
  nlohmann::json j = {{"op", "exec"}, {"args", request.args}, {"tty", request.tty}};
  if (!request.env.empty()) j["env"] = request.env;
  if (!request.cwd.empty()) j["cwd"] = request.cwd;
  if (request.user.has_value()) {
    j["user"] = {{"uid", request.user->uid}, {"gid", request.user->gid}, {"additional_gids", request.user->additional_gids}};
  }
  if (request.timeout > absl::ZeroDuration()) j["timeout_s"] = absl::ToDoubleSeconds(request.timeout);
  if (!request.stdin_data.empty()) j["stdin"] = absl::Base64Escape(request.stdin_data);
  // The shim enforces the exec timeout; allow it time to kill and collect.
  absl::Duration wait = request.timeout > absl::ZeroDuration() ? request.timeout + absl::Seconds(30) : absl::InfiniteDuration();
  absl::StatusOr<std::string> line = Call(j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace), wait);
  if (!line.ok()) return line.status();
  absl::StatusOr<nlohmann::json> reply = ParseReply(*line);
  if (!reply.ok()) return reply.status();
  ExecResult result;
  result.exit_code = reply->value("exit_code", -1);
  result.timed_out = reply->value("timed_out", false);
  result.stdout_truncated = reply->value("stdout_truncated", false);
  result.stderr_truncated = reply->value("stderr_truncated", false);
  if (!absl::Base64Unescape(reply->value("stdout", ""), &result.stdout_data) ||
      !absl::Base64Unescape(reply->value("stderr", ""), &result.stderr_data)) {
    return absl::InternalError("shim exec reply: bad base64");
  }
  return result;
}

absl::Status ShimClient::Reopen() {
  absl::StatusOr<std::string> line = Call(R"({"op":"reopen"})", call_timeout_);
  if (!line.ok()) return line.status();
  return ParseReply(*line).status();
}

absl::StatusOr<ShimStatus> ShimClient::Delete() {
  absl::StatusOr<std::string> line = Call(R"({"op":"delete"})", call_timeout_);
  if (!line.ok()) return line.status();
  absl::StatusOr<nlohmann::json> reply = ParseReply(*line);
  if (!reply.ok()) return reply.status();
  return ParseStatus((*reply)["status"]);
}

}  // namespace flint::shim
