// ExecSync-style exec: `<runtime> exec --process <json>` with captured output.
#include <fcntl.h>
#include <malloc.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>

#include "shim/base64.h"
#include "shim/shim_server.h"
#include "shim/unix_socket.h"

namespace flint::shim {
namespace {

constexpr size_t kMaxExecOutputBytes = 16 * 1024 * 1024;
constexpr int64_t kExecHardKillGraceMs = 2'000;

nlohmann::json ErrorReply(const std::string& message) { return {{"ok", false}, {"error", message}}; }

// Replaces or adds NAME=VALUE entries by name.
void MergeEnv(nlohmann::json& env, const nlohmann::json& overrides) {
  if (!env.is_array()) env = nlohmann::json::array();
  for (const auto& entry : overrides) {
    std::string kv = entry.get<std::string>();
    std::string name = kv.substr(0, kv.find('='));
    bool replaced = false;
    for (auto& existing : env) {
      std::string current = existing.get<std::string>();
      if (current.substr(0, current.find('=')) == name) {
        existing = kv;
        replaced = true;
      }
    }
    if (!replaced) env.push_back(kv);
  }
}

bool WriteWholeFile(const std::string& path, const std::string& data, std::string* error) {
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) {
    *error = ErrnoMessage("open " + path);
    return false;
  }
  bool ok = write(fd, data.data(), data.size()) == static_cast<ssize_t>(data.size());
  if (!ok) *error = ErrnoMessage("write " + path);
  close(fd);
  return ok;
}


}  // namespace

nlohmann::json ShimServer::StartExec(int client_id, const nlohmann::json& request) {
  if (status_.state != ContainerState::kRunning || init_exited_) {
    return ErrorReply("container " + options_.id + " is not running");
  }
  if (!request.contains("args") || !request["args"].is_array() || request["args"].empty()) {
    return ErrorReply("exec: args must be a non-empty array");
  }
  // With terminal:true and no --console-socket, a foreground `runtime exec`
  // owns the pty itself and copies it to its stdout: our pipe.
  nlohmann::json process = process_template_;
  process["terminal"] = request.value("tty", false);
  process.erase("consoleSize");
  process["args"] = request["args"];
  if (request.contains("env")) MergeEnv(process["env"], request["env"]);
  if (request.contains("cwd") && !request["cwd"].get<std::string>().empty()) process["cwd"] = request["cwd"];
  if (request.contains("user") && request["user"].is_object()) {
    const nlohmann::json& user = request["user"];
    nlohmann::json spec_user = {{"uid", user.value("uid", 0)}, {"gid", user.value("gid", 0)}};
    if (user.contains("additional_gids")) spec_user["additionalGids"] = user["additional_gids"];
    process["user"] = spec_user;
  }
  std::string stdin_data;
  if (request.contains("stdin") && !Base64Decode(request["stdin"].get<std::string>(), &stdin_data)) {
    return ErrorReply("exec: stdin is not base64");
  }

  if (process["terminal"].get<bool>() && !stdin_data.empty()) return ErrorReply("exec: stdin with tty is not supported");
  const bool streaming = request.value("op", "") == "exec_stream";
  // exec_stream without tty: flintd passed the child ends of its stdin/stdout/stderr pipes.
  std::vector<int> passed_fds;
  if (streaming) passed_fds.swap(clients_[client_id].fds);
  auto close_passed = [&passed_fds] {
    for (int& fd : passed_fds) CloseFd(&fd);
  };
  if (streaming && !process["terminal"].get<bool>() && passed_fds.size() != 3) {
    close_passed();
    return ErrorReply("exec_stream: expected 3 descriptors (stdin, stdout, stderr) with the request");
  }
  if (streaming && process["terminal"].get<bool>()) close_passed();
  const int exec_id = next_exec_id_++;
  ExecJob job;
  job.client_id = client_id;
  job.streaming = streaming;
  job.tty = process["terminal"].get<bool>();
  const std::string prefix = options_.state_dir + "/exec-" + std::to_string(exec_id);
  job.process_file = prefix + ".json";
  job.pid_file = prefix + ".pid";
  std::string error;
  if (!WriteWholeFile(job.process_file, process.dump(), &error)) {
    close_passed();
    return ErrorReply("exec: " + error);
  }
  Pipe out, err, in;
  bool ok = true;
  if (passed_fds.size() == 3) {
    in.read = passed_fds[0];
    out.write = passed_fds[1];
    err.write = passed_fds[2];
    passed_fds.clear();
  } else {
    ok = MakePipe(&out, &error) && MakePipe(&err, &error) && (stdin_data.empty() || MakePipe(&in, &error));
  }
  std::vector<std::string> argv = RuntimeCommand({"exec", "--process", job.process_file, "--pid-file", job.pid_file});
  if (ok && job.tty) {
    // A foreground tty exec wants a terminal of its own; detached, the
    // runtime passes the pty master to us instead. Its pipes then only carry
    // the runtime's own messages.
    job.console_path = ConsoleSocketPath(prefix + ".sock", exec_id);
    ok = ListenUnixSocket(job.console_path, SOCK_STREAM | SOCK_NONBLOCK, &job.console_listen_fd, &error);
    argv.insert(argv.end(), {"--detach", "--tty", "--console-socket", job.console_path});
  }
  argv.push_back(options_.id);
  if (ok) job.runtime_pid = SpawnChild(argv, ChildStdio{in.read, out.write, err.write}, &error, options_.runtime_exec);
  for (int* fd : {&in.read, &out.write, &err.write}) CloseFd(fd);
  if (job.runtime_pid < 0) {
    for (int* fd : {&in.write, &out.read, &err.read, &job.console_listen_fd}) CloseFd(fd);
    unlink(job.process_file.c_str());
    if (!job.console_path.empty()) unlink(job.console_path.c_str());
    return ErrorReply("exec: " + error);
  }
  job.out_fd = out.read;
  job.err_fd = err.read;
  job.in_fd = in.write;
  for (int fd : {job.out_fd, job.err_fd, job.in_fd}) {
    if (fd >= 0) SetNonBlocking(fd);
  }
  job.stdin_data = std::move(stdin_data);
  double timeout_s = request.value("timeout_s", 0.0);
  if (timeout_s > 0) job.deadline_ms = MonotonicNowMs() + static_cast<int64_t>(timeout_s * 1000);
  execs_[exec_id] = std::move(job);
  return nullptr;
}

void ShimServer::PumpExecOutput(ExecJob& job, bool is_stderr) {
  int& fd = is_stderr ? job.err_fd : job.out_fd;
  std::string& sink = is_stderr ? job.err : job.out;
  bool& truncated = is_stderr ? job.err_truncated : job.out_truncated;
  char buf[65536];
  for (int round = 0; round < 16 && fd >= 0; ++round) {
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return;
    if (n <= 0) {
      CloseFd(&fd);
      return;
    }
    size_t room = kMaxExecOutputBytes - sink.size();
    if (static_cast<size_t>(n) > room) truncated = true;  // keep reading, drop the rest
    sink.append(buf, std::min(room, static_cast<size_t>(n)));
  }
}

void ShimServer::PumpExecInput(ExecJob& job) {
  while (job.in_fd >= 0 && job.stdin_offset < job.stdin_data.size()) {
    ssize_t n = write(job.in_fd, job.stdin_data.data() + job.stdin_offset, job.stdin_data.size() - job.stdin_offset);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return;
    if (n < 0) break;  // EPIPE: the process does not read stdin
    job.stdin_offset += static_cast<size_t>(n);
  }
  CloseFd(&job.in_fd);
}

void ShimServer::AcceptExecConsole(ExecJob& job) {
  int master = -1;
  std::string error;
  if (!AcceptAndReceiveFd(job.console_listen_fd, &master, &error)) {
    if (errno == EAGAIN) return;
    fprintf(stderr, "flint-shim %s: exec: %s\n", options_.id.c_str(), error.c_str());
  }
  CloseFd(&job.console_listen_fd);
  unlink(job.console_path.c_str());
  if (master < 0) return;
  if (job.streaming) {
    SendExecConsole(job, master);
    return;
  }
  // The runtime's pipe only carried its own messages; the pty now is the output.
  CloseFd(&job.out_fd);
  job.out_fd = master;
  SetNonBlocking(master);
}

void ShimServer::KillExecProcess(ExecJob& job) {
  // SIGKILL the exec'd process itself (the runtime cannot forward SIGKILL);
  // a foreground runtime then sees it die and exits. Fall back to the runtime.
  pid_t pid = job.process_pid;
  if (pid <= 0) {
    int fd = open(job.pid_file.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
      char buf[32] = {};
      if (read(fd, buf, sizeof(buf) - 1) > 0) pid = static_cast<pid_t>(std::strtol(buf, nullptr, 10));
      close(fd);
    }
  }
  if (job.runtime_exited && !job.tty) return;  // a foreground exec's process is gone with its runtime
  if (pid > 0 && !job.process_exited) {
    kill(pid, SIGKILL);
  } else if (!job.runtime_exited && !job.tty) {
    kill(job.runtime_pid, SIGKILL);
  }
  // A detached (tty) exec whose pid is not known yet is left alone: killing its runtime
  // would orphan the process. Callers retry until the pid file appears.
}

bool ShimServer::ExecFinished(ExecJob& job) {
  if (!job.runtime_exited) return false;
  if (!job.tty || ExitCodeFromWaitStatus(job.runtime_status) != 0) return true;
  if (job.console_listen_fd >= 0) AcceptExecConsole(job);
  if (job.process_pid <= 0) {
    int fd = open(job.pid_file.c_str(), O_RDONLY | O_CLOEXEC);
    char buf[32] = {};
    if (fd >= 0 && read(fd, buf, sizeof(buf) - 1) > 0) job.process_pid = static_cast<pid_t>(std::strtol(buf, nullptr, 10));
    if (fd >= 0) close(fd);
    if (job.process_pid <= 0) return true;  // started but unknown: report the runtime's status
    if (auto it = unclaimed_exits_.find(job.process_pid); it != unclaimed_exits_.end()) {
      job.process_exited = true;
      job.process_status = it->second;
      unclaimed_exits_.erase(it);
    }
  }
  return job.process_exited;
}

void ShimServer::CheckExecs() {
  std::vector<int> done;
  const int64_t now = MonotonicNowMs();
  for (auto& [id, job] : execs_) {
    bool finished = ExecFinished(job);
    if (!finished && job.deadline_ms > 0 && now >= job.deadline_ms && !job.timed_out) {
      job.timed_out = true;
      KillExecProcess(job);
      job.hard_kill_ms = now + kExecHardKillGraceMs;
    }
    if (!finished && job.hard_kill_ms > 0 && now >= job.hard_kill_ms) {
      KillExecProcess(job);
      if (!job.runtime_exited) kill(job.runtime_pid, SIGKILL);
      job.hard_kill_ms = 0;
    }
    // The pid file may appear only after the cancel: keep trying.
    if (!finished && job.cancelled) KillExecProcess(job);
    if (finished) done.push_back(id);
  }
  for (int id : done) CompleteExec(id);
}

void ShimServer::CompleteExec(int exec_id) {
  ExecJob& job = execs_[exec_id];
  // Background children of the exec'd command may hold the pipes: take what is there.
  if (job.out_fd >= 0) PumpExecOutput(job, false);
  if (job.err_fd >= 0) PumpExecOutput(job, true);
  for (int* fd : {&job.out_fd, &job.err_fd, &job.in_fd, &job.console_listen_fd}) CloseFd(fd);
  unlink(job.process_file.c_str());
  unlink(job.pid_file.c_str());
  if (!job.console_path.empty()) unlink(job.console_path.c_str());
  std::string reply;
  const int runtime_exit = ExitCodeFromWaitStatus(job.runtime_status);
  if (job.streaming && !(job.tty && runtime_exit != 0)) {
    reply = nlohmann::json{{"ok", true},
                           {"exit_code", ExitCodeFromWaitStatus(job.process_pid > 0 && job.process_exited
                                                                    ? job.process_status
                                                                    : job.runtime_status)}}
                .dump();
  } else if (job.tty && runtime_exit != 0 && !job.timed_out) {
    reply = ErrorReply("exec: runtime exit status " + std::to_string(runtime_exit) + ": " + job.err)
                .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  } else {
    nlohmann::json fields = {
        {"ok", true},
        {"exit_code", ExitCodeFromWaitStatus(job.process_pid > 0 && job.process_exited ? job.process_status
                                                                                       : job.runtime_status)},
        {"timed_out", job.timed_out},
        {"stdout_truncated", job.out_truncated},
        {"stderr_truncated", job.err_truncated},
    };
    // Up to 2 x 21 MiB of base64 needs no escaping: splice it in rather than
    // have the JSON serializer walk it byte by byte.
    reply = fields.dump();
    reply.pop_back();  // '}'
    reply += ",\"stdout\":\"" + Base64Encode(job.out) + "\",\"stderr\":\"" +
             Base64Encode(job.tty ? std::string() : job.err) + "\"}";
  }
  int client_id = job.client_id;
  execs_.erase(exec_id);
  // Up to 32 MiB of output was buffered; give it back so the idle shim stays small.
  malloc_trim(0);
  auto it = clients_.find(client_id);
  if (it == clients_.end()) return;
  it->second.busy = false;
  ReplyLine(client_id, reply);
  // Requests that arrived while the exec ran.
  if (clients_.count(client_id) && it->second.in.find('\n') != std::string::npos) ReadClient(client_id);
}

}  // namespace flint::shim
