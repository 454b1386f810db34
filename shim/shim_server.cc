#include "shim/shim_server.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <functional>

#include "shim/unix_socket.h"

namespace flint::shim {
namespace {

constexpr size_t kMaxRequestBytes = 1 << 20;
constexpr int kRuntimeCommandTimeoutMs = 30'000;
constexpr int64_t kDrainAfterExitMs = 2'000;

std::string ReadFileOrEmpty(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return "";
  std::string data;
  char buf[4096];
  ssize_t n;
  while ((n = read(fd, buf, sizeof(buf))) > 0) data.append(buf, static_cast<size_t>(n));
  close(fd);
  return data;
}

nlohmann::json ErrorReply(const std::string& message) { return {{"ok", false}, {"error", message}}; }

}  // namespace

ShimServer::ShimServer(ShimOptions options) : options_(std::move(options)) {
  status_.id = options_.id;
  status_.shim_pid = getpid();
}

ShimServer::~ShimServer() {
  for (auto& [id, client] : clients_) close(client.fd);
  for (auto& [id, job] : execs_) {
    CloseFd(&job.out_fd);
    CloseFd(&job.err_fd);
    CloseFd(&job.in_fd);
  }
  for (int* fd : {&signal_fd_, &listen_fd_, &stdout_fd_, &stderr_fd_, &stdin_fd_}) CloseFd(fd);
}

bool ShimServer::Init(std::string* error) {
  signal(SIGPIPE, SIG_IGN);
  signal(SIGHUP, SIG_IGN);
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGCHLD);
  if (sigprocmask(SIG_BLOCK, &mask, nullptr) != 0) {
    *error = ErrnoMessage("sigprocmask");
    return false;
  }
  signal_fd_ = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
  if (signal_fd_ < 0) {
    *error = ErrnoMessage("signalfd");
    return false;
  }
  return true;
}

std::vector<std::string> ShimServer::RuntimeCommand(std::initializer_list<std::string> tail) const {
  std::vector<std::string> argv{options_.runtime};
  argv.insert(argv.end(), options_.runtime_args.begin(), options_.runtime_args.end());
  argv.insert(argv.end(), tail);
  return argv;
}

ReapCallback ShimServer::Reaper() {
  return [this](pid_t pid, int status) { OnChildExit(pid, status); };
}

bool ShimServer::CreateContainer(std::string* error) {
  if (!log_.Open(options_.log_path, error)) return false;
  nlohmann::json config =
      nlohmann::json::parse(ReadFileOrEmpty(options_.bundle + "/config.json"), nullptr, false);
  if (!config.is_object() || !config.contains("process") || !config["process"].is_object()) {
    *error = "bundle " + options_.bundle + ": config.json is missing or has no process";
    return false;
  }
  process_template_ = config["process"];
  config = nullptr;

  const std::string pid_file = options_.state_dir + "/init.pid";
  unlink(pid_file.c_str());
  ChildStdio stdio;
  Pipe stdin_pipe, out_pipe, err_pipe;
  int console_listen_fd = -1;
  // Exec ids start at 1, so 0 names the init's console socket when it needs the short form.
  const std::string console_path = ConsoleSocketPath(options_.state_dir + "/console.sock", 0);
  std::vector<std::string> argv;
  if (options_.tty) {
    // The runtime's own messages go to a capture pipe; the container's output arrives via the pty.
    if (!ListenUnixSocket(console_path, SOCK_STREAM, &console_listen_fd, error)) return false;
    if (!MakePipe(&err_pipe, error)) return false;
    stdio.out = stdio.err = err_pipe.write;
    argv = RuntimeCommand({"create", "--bundle", options_.bundle, "--pid-file", pid_file, "--console-socket",
                           console_path, options_.id});
  } else {
    if (!MakePipe(&out_pipe, error) || !MakePipe(&err_pipe, error)) return false;
    if (options_.stdin_open && !MakePipe(&stdin_pipe, error)) return false;
    stdio = ChildStdio{stdin_pipe.read, out_pipe.write, err_pipe.write};
    argv = RuntimeCommand({"create", "--bundle", options_.bundle, "--pid-file", pid_file, options_.id});
  }
  status_.created_at_ns = RealtimeNowNs();
  pid_t runtime_pid = SpawnChild(argv, stdio, error, options_.runtime_exec);
  // The container init now holds the write ends; EOF on our read ends means it is gone.
  for (int* fd : {&stdin_pipe.read, &out_pipe.write, &err_pipe.write}) CloseFd(fd);
  stdout_fd_ = out_pipe.read;
  stderr_fd_ = err_pipe.read;
  stdin_fd_ = stdin_pipe.write;
  if (runtime_pid < 0) {
    CloseFd(&console_listen_fd);
    return false;
  }
  const int64_t deadline = MonotonicNowMs() + options_.create_timeout_s * 1000;
  bool console_ok = true;
  if (options_.tty) {
    console_ok = ReceiveConsole(console_listen_fd, runtime_pid, deadline, error);
    if (!console_ok) kill(runtime_pid, SIGKILL);
    close(console_listen_fd);
    unlink(console_path.c_str());
  }
  bool exited = false;
  int wait_status = 0;
  // A pidfd turns readable when the runtime exits, so the create returns the
  // moment it is done; sleeping between waitpid polls added ~1 ms on average.
  const int runtime_pidfd = static_cast<int>(syscall(SYS_pidfd_open, runtime_pid, 0));
  while (!exited) {
    ReapExited([&](pid_t pid, int st) {
      if (pid == runtime_pid) {
        exited = true;
        wait_status = st;
      }
    });
    if (exited) break;
    if (MonotonicNowMs() > deadline) {
      kill(runtime_pid, SIGKILL);
      waitpid(runtime_pid, &wait_status, 0);
      if (runtime_pidfd >= 0) close(runtime_pidfd);
      *error = "runtime create timed out after " + std::to_string(options_.create_timeout_s) + "s";
      return false;
    }
    if (runtime_pidfd >= 0) {
      pollfd pfd{runtime_pidfd, POLLIN, 0};
      poll(&pfd, 1, 100);
    } else {
      usleep(2000);  // kernels before 5.3
    }
  }
  if (runtime_pidfd >= 0) close(runtime_pidfd);
  auto runtime_output = [&] {
    std::string text;
    for (int fd : {stdout_fd_, stderr_fd_}) {
      if (fd < 0 || (options_.tty && fd == stdout_fd_)) continue;
      SetNonBlocking(fd);
      char buf[4096];
      ssize_t n;
      while (text.size() < 16384 && (n = read(fd, buf, sizeof(buf))) > 0) text.append(buf, static_cast<size_t>(n));
    }
    while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
    return text;
  };
  int exit_code = ExitCodeFromWaitStatus(wait_status);
  if (exit_code != 0 || !console_ok) {
    std::string output = runtime_output();
    if (console_ok) *error = "runtime create: exit status " + std::to_string(exit_code);
    if (!output.empty()) *error += ": " + output;
    return false;
  }
  if (options_.tty) CloseFd(&stderr_fd_);  // only carried the runtime's messages
  std::string pid_text = ReadFileOrEmpty(pid_file);
  init_pid_ = static_cast<pid_t>(std::strtol(pid_text.c_str(), nullptr, 10));
  if (init_pid_ <= 0) {
    *error = "runtime create: no pid in " + pid_file;
    return false;
  }
  for (int fd : {stdout_fd_, stderr_fd_}) {
    if (fd >= 0) SetNonBlocking(fd);
  }
  oom_.Attach(init_pid_);
  status_.pid = init_pid_;
  status_.state = ContainerState::kCreated;
  if (!WriteStatusFile(options_.state_dir, status_, error)) return false;
  return true;
}

bool ShimServer::ReceiveConsole(int console_listen_fd, pid_t runtime_pid, int64_t deadline_ms,
                                std::string* error) {
  for (;;) {
    pollfd pfd{console_listen_fd, POLLIN, 0};
    if (poll(&pfd, 1, 10) > 0) break;
    // Not reaped here: the create loop waits for the runtime and reports its output.
    siginfo_t info{};
    if (waitid(P_PID, runtime_pid, &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info.si_pid == runtime_pid) {
      *error = "runtime create: exited before sending the console";
      return false;
    }
    if (MonotonicNowMs() > deadline_ms) {
      *error = "runtime create: no console received";
      return false;
    }
  }
  return AcceptAndReceiveFd(console_listen_fd, &stdout_fd_, error);
}

void ShimServer::OnChildExit(pid_t pid, int wait_status) {
  if (pid == init_pid_ && !init_exited_) {
    init_exited_ = true;
    status_.exit_code = ExitCodeFromWaitStatus(wait_status);
    status_.finished_at_ns = RealtimeNowNs();
    drain_deadline_ms_ = MonotonicNowMs() + kDrainAfterExitMs;
    return;
  }
  for (auto& [id, job] : execs_) {
    if (job.runtime_pid == pid) {
      job.runtime_exited = true;
      job.runtime_status = wait_status;
      return;
    }
    if (job.process_pid == pid) {
      job.process_exited = true;
      job.process_status = wait_status;
      return;
    }
  }
  // An orphan re-parented to us (we are a subreaper); remember it briefly.
  if (unclaimed_exits_.size() >= 256) unclaimed_exits_.erase(unclaimed_exits_.begin());
  unclaimed_exits_[pid] = wait_status;
}

bool ShimServer::WriteStatus() {
  std::string error;
  if (!WriteStatusFile(options_.state_dir, status_, &error)) {
    fprintf(stderr, "flint-shim %s: %s\n", options_.id.c_str(), error.c_str());
    return false;
  }
  return true;
}

// The container counts as stopped once its init is reaped and its output is
// drained (or the drain deadline passed), so a reader of the log sees all of it.
void ShimServer::MaybeFinalize(bool force) {
  if (finalized_ || !init_exited_) return;
  bool drained = stdout_fd_ < 0 && stderr_fd_ < 0;
  if (!force && !drained && MonotonicNowMs() < drain_deadline_ms_) return;
  finalized_ = true;
  status_.oom_killed = oom_.OomKilled();
  if (status_.oom_killed) status_.message = "OOMKilled";
  status_.state = ContainerState::kStopped;
  WriteStatus();
}

void ShimServer::PumpContainerStream(LogStream stream, int* fd) {
  char buf[65536];
  for (int round = 0; round < 16; ++round) {
    ssize_t n = read(*fd, buf, sizeof(buf));
    if (n > 0) {
      log_.Write(stream, std::string_view(buf, static_cast<size_t>(n)));
      FanOutToAttached(stream, std::string_view(buf, static_cast<size_t>(n)));
      continue;
    }
    if (n < 0 && (errno == EINTR)) continue;
    if (n < 0 && errno == EAGAIN) return;
    // EOF, or EIO from a pty master whose slave side is closed.
    log_.CloseStream(stream);
    CloseFd(fd);
    if (stdout_fd_ < 0 && stderr_fd_ < 0) EndAttachments();
    return;
  }
}

void ShimServer::DrainContainerStreams(int64_t deadline_ms) {
  while ((stdout_fd_ >= 0 || stderr_fd_ >= 0) && MonotonicNowMs() < deadline_ms) {
    pollfd pfds[2] = {{stdout_fd_, POLLIN, 0}, {stderr_fd_, POLLIN, 0}};
    poll(pfds, 2, 10);
    if (stdout_fd_ >= 0 && pfds[0].revents) PumpContainerStream(LogStream::kStdout, &stdout_fd_);
    if (stderr_fd_ >= 0 && pfds[1].revents) PumpContainerStream(LogStream::kStderr, &stderr_fd_);
  }
}

bool ShimServer::Listen(std::string* error) {
  if (!ListenUnixSocket(options_.socket_path, SOCK_STREAM | SOCK_NONBLOCK, &listen_fd_, error)) return false;
  return true;
}

void ShimServer::AcceptClients() {
  for (;;) {
    int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) return;
    clients_[next_client_id_++].fd = fd;
  }
}

void ShimServer::CloseClient(int client_id) {
  auto it = clients_.find(client_id);
  if (it == clients_.end()) return;
  close(it->second.fd);
  for (int fd : it->second.fds) close(fd);
  clients_.erase(it);
  OnClientClosed(client_id);
}

void ShimServer::ReadClient(int client_id) {
  Client& client = clients_[client_id];
  char buf[16384];
  for (;;) {
    // Descriptors may ride along with a request (exec_stream's stdio).
    iovec iov{buf, sizeof(buf)};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * 4)];
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof(control);
    ssize_t n = recvmsg(client.fd, &msg, MSG_CMSG_CLOEXEC);
    if (n >= 0) {
      for (cmsghdr* cmsg = CMSG_FIRSTHDR(&msg); cmsg != nullptr; cmsg = CMSG_NXTHDR(&msg, cmsg)) {
        if (cmsg->cmsg_level != SOL_SOCKET || cmsg->cmsg_type != SCM_RIGHTS) continue;
        size_t count = (cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < count; ++i) {
          int fd;
          memcpy(&fd, CMSG_DATA(cmsg) + i * sizeof(int), sizeof(int));
          client.fds.push_back(fd);
        }
      }
      if (client.fds.size() > 8) {  // nobody sends that many: a confused or hostile peer
        CloseClient(client_id);
        return;
      }
    }
    if (n > 0) {
      client.in.append(buf, static_cast<size_t>(n));
      if (client.in.size() > kMaxRequestBytes) {
        CloseClient(client_id);
        return;
      }
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) break;
    // Peer closed. A pending exec keeps running and is dropped when it completes.
    CloseClient(client_id);
    return;
  }
  // One request at a time per connection; the rest waits in the buffer.
  while (!quit_) {
    auto it = clients_.find(client_id);
    if (it == clients_.end() || it->second.busy) return;
    if (it->second.attached) {
      HandleAttachFrames(client_id);
      return;
    }
    size_t newline = it->second.in.find('\n');
    if (newline == std::string::npos) return;
    std::string line = it->second.in.substr(0, newline);
    it->second.in.erase(0, newline + 1);
    HandleRequest(client_id, line);
  }
}

void ShimServer::FlushClient(int client_id) {
  auto it = clients_.find(client_id);
  if (it == clients_.end()) return;
  Client& client = it->second;
  while (client.out_offset < client.out.size()) {
    ssize_t n = send(client.fd, client.out.data() + client.out_offset, client.out.size() - client.out_offset,
                     MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return;
    if (n < 0) {
      CloseClient(client_id);
      return;
    }
    client.out_offset += static_cast<size_t>(n);
  }
  client.out.clear();
  client.out_offset = 0;
  if (client.close_after_flush) CloseClient(client_id);
}

void ShimServer::Reply(int client_id, const nlohmann::json& reply) {
  ReplyLine(client_id, reply.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

void ShimServer::ReplyLine(int client_id, std::string_view line) {
  auto it = clients_.find(client_id);
  if (it == clients_.end()) return;
  it->second.out.append(line);
  it->second.out += '\n';
  FlushClient(client_id);
}

void ShimServer::HandleRequest(int client_id, const std::string& line) {
  nlohmann::json request = nlohmann::json::parse(line, nullptr, false);
  nlohmann::json reply;
  try {
    if (!request.is_object() || !request.contains("op") || !request["op"].is_string()) {
      reply = ErrorReply("request must be a JSON object with a string \"op\"");
    } else {
      const std::string op = request["op"];
      if (op == "status") {
        reply = {{"ok", true}, {"status", StatusJson()}};
      } else if (op == "start") {
        reply = HandleStart();
      } else if (op == "kill") {
        reply = HandleKill(request);
      } else if (op == "reopen") {
        reply = HandleReopen();
      } else if (op == "delete") {
        reply = HandleDelete();
      } else if (op == "attach") {
        reply = StartAttach(client_id);
      } else if (op == "exec" || op == "exec_stream") {
        reply = StartExec(client_id, request);
        if (reply.is_null()) {
          clients_[client_id].busy = true;
          return;
        }
      } else {
        reply = ErrorReply("unknown op \"" + op + "\"");
      }
    }
  } catch (const nlohmann::json::exception& e) {
    reply = ErrorReply(std::string("bad request: ") + e.what());
  }
  Reply(client_id, reply);
}

nlohmann::json ShimServer::StatusJson() const {
  return nlohmann::json::parse(StatusToJson(status_), nullptr, false);
}

nlohmann::json ShimServer::HandleStart() {
  if (status_.state != ContainerState::kCreated || status_.started_at_ns != 0) {
    return ErrorReply("container " + options_.id + " is " + std::string(ContainerStateName(status_.state)) +
                      ", not created");
  }
  if (init_exited_) return ErrorReply("container " + options_.id + " exited before start");
  // Taken before the call: the process may run (and exit) while the runtime works.
  const int64_t started_at = RealtimeNowNs();
  std::vector<std::string> argv = RuntimeCommand({"start", options_.id});
  CommandResult result;
  std::string error;
  if (!RunCommand(argv, kRuntimeCommandTimeoutMs, Reaper(), &result, &error, options_.runtime_exec)) {
    return ErrorReply(error);
  }
  if (result.exit_code != 0 || result.timed_out) return ErrorReply(DescribeFailure("runtime start", result));
  status_.started_at_ns = started_at;
  if (!finalized_) status_.state = ContainerState::kRunning;
  WriteStatus();
  return {{"ok", true}, {"status", StatusJson()}};
}

nlohmann::json ShimServer::HandleKill(const nlohmann::json& request) {
  int signal_number = request.value("signal", SIGTERM);
  bool all = request.value("all", false);
  if (signal_number <= 0 || signal_number >= 65) return ErrorReply("bad signal " + std::to_string(signal_number));
  if (init_exited_) return {{"ok", true}, {"status", StatusJson()}};  // nothing left to signal
  std::vector<std::string> argv = RuntimeCommand({"kill"});
  if (all) argv.push_back("--all");
  argv.push_back(options_.id);
  argv.push_back(std::to_string(signal_number));
  CommandResult result;
  std::string error;
  if (!RunCommand(argv, kRuntimeCommandTimeoutMs, Reaper(), &result, &error, options_.runtime_exec)) {
    return ErrorReply(error);
  }
  if ((result.exit_code != 0 || result.timed_out) && !init_exited_) {
    return ErrorReply(DescribeFailure("runtime kill", result));
  }
  return {{"ok", true}, {"status", StatusJson()}};
}

nlohmann::json ShimServer::HandleReopen() {
  std::string error;
  if (!log_.Reopen(&error)) return ErrorReply(error);
  return {{"ok", true}};
}

nlohmann::json ShimServer::HandleDelete() {
  std::vector<std::string> argv = RuntimeCommand({"delete", "--force", options_.id});
  CommandResult result;
  std::string error;
  if (!RunCommand(argv, kRuntimeCommandTimeoutMs, Reaper(), &result, &error, options_.runtime_exec)) {
    return ErrorReply(error);
  }
  bool deleted = result.exit_code == 0 && !result.timed_out;
  // The runtime kills a running init; wait until we have reaped it.
  int64_t deadline = MonotonicNowMs() + 5'000;
  while (!init_exited_ && MonotonicNowMs() < deadline) {
    ReapExited(Reaper());
    if (!init_exited_) usleep(5000);
  }
  if (!init_exited_) {
    std::string why = deleted ? "container init still running after delete" : DescribeFailure("runtime delete", result);
    return ErrorReply(why);
  }
  if (!deleted) {
    // The init is gone; a failed delete only leaves runtime state behind. Report it but finish.
    fprintf(stderr, "flint-shim %s: %s\n", options_.id.c_str(), DescribeFailure("runtime delete", result).c_str());
  }
  DrainContainerStreams(MonotonicNowMs() + 1'000);
  for (int* fd : {&stdout_fd_, &stderr_fd_}) {
    if (*fd >= 0) {
      log_.CloseStream(fd == &stdout_fd_ ? LogStream::kStdout : LogStream::kStderr);
      CloseFd(fd);
    }
  }
  MaybeFinalize(/*force=*/true);
  for (auto& [id, job] : execs_) KillExecProcess(job);
  quit_ = true;
  return {{"ok", true}, {"status", StatusJson()}};
}

int ShimServer::Run() {
  while (!quit_) {
    std::vector<pollfd> pfds;
    std::vector<std::function<void(short)>> handlers;
    auto watch = [&](int fd, short events, std::function<void(short)> handler) {
      pfds.push_back({fd, events, 0});
      handlers.push_back(std::move(handler));
    };
    watch(signal_fd_, POLLIN, [this](short) {
      signalfd_siginfo info;
      while (read(signal_fd_, &info, sizeof(info)) == sizeof(info)) {
      }
    });
    watch(listen_fd_, POLLIN, [this](short) { AcceptClients(); });
    if (stdout_fd_ >= 0) watch(stdout_fd_, POLLIN, [this](short) { PumpContainerStream(LogStream::kStdout, &stdout_fd_); });
    if (stderr_fd_ >= 0) watch(stderr_fd_, POLLIN, [this](short) { PumpContainerStream(LogStream::kStderr, &stderr_fd_); });
    if (oom_.event_fd() >= 0) watch(oom_.event_fd(), POLLIN, [this](short) { oom_.OnEvent(); });
    // Attached input waits while the container does not read what we have.
    const bool stdin_backlog = attach_stdin_pending_.size() > 64 * 1024;
    if (!attach_stdin_pending_.empty() && AttachStdinFd() >= 0) {
      watch(AttachStdinFd(), POLLOUT, [this](short) { FlushAttachStdin(); });
    }
    for (auto& [id, client] : clients_) {
      short events = (client.attached && stdin_backlog ? 0 : POLLIN) | (client.out.empty() ? 0 : POLLOUT);
      watch(client.fd, events, [this, id](short revents) {
        if (revents & POLLOUT) FlushClient(id);
        if (revents & (POLLIN | POLLHUP | POLLERR)) ReadClient(id);
      });
    }
    int64_t next_deadline = MonotonicNowMs() + 1'000;
    if (init_exited_ && !finalized_) next_deadline = std::min(next_deadline, drain_deadline_ms_);
    for (auto& [id, job] : execs_) {
      int exec_id = id;
      if (job.out_fd >= 0) watch(job.out_fd, POLLIN, [this, exec_id](short) { PumpExecOutput(execs_[exec_id], false); });
      if (job.err_fd >= 0) watch(job.err_fd, POLLIN, [this, exec_id](short) { PumpExecOutput(execs_[exec_id], true); });
      if (job.in_fd >= 0) watch(job.in_fd, POLLOUT, [this, exec_id](short) { PumpExecInput(execs_[exec_id]); });
      if (job.console_listen_fd >= 0) {
        watch(job.console_listen_fd, POLLIN, [this, exec_id](short) { AcceptExecConsole(execs_[exec_id]); });
      }
      for (int64_t t : {job.deadline_ms, job.hard_kill_ms}) {
        if (t > 0) next_deadline = std::min(next_deadline, t);
      }
    }
    if (HasCancelledExecs()) next_deadline = std::min(next_deadline, MonotonicNowMs() + 20);
    int timeout = static_cast<int>(std::max<int64_t>(0, next_deadline - MonotonicNowMs()));
    int ready = poll(pfds.data(), pfds.size(), timeout);
    if (ready > 0) {
      // Handlers look their objects up by id, so one closing another's fd is harmless.
      for (size_t i = 0; i < pfds.size() && !quit_; ++i) {
        if (pfds[i].revents != 0) handlers[i](pfds[i].revents);
      }
    }
    ReapExited(Reaper());
    CheckExecs();
    MaybeFinalize(/*force=*/false);
  }
  // Give the delete reply a bounded chance to leave before exiting.
  int64_t deadline = MonotonicNowMs() + 2'000;
  for (auto& [id, client] : clients_) {
    while (client.out_offset < client.out.size() && MonotonicNowMs() < deadline) {
      pollfd pfd{client.fd, POLLOUT, 0};
      poll(&pfd, 1, 50);
      ssize_t n = send(client.fd, client.out.data() + client.out_offset, client.out.size() - client.out_offset,
                       MSG_NOSIGNAL);
      if (n < 0 && errno != EAGAIN && errno != EINTR) break;
      if (n > 0) client.out_offset += static_cast<size_t>(n);
    }
  }
  unlink(options_.socket_path.c_str());
  unlink((options_.state_dir + "/init.pid").c_str());
  return 0;
}

}  // namespace flint::shim
