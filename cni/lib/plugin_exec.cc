#include "cni/lib/plugin_exec.h"

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "cni/lib/cni_error.h"
#include "nlohmann/json.hpp"

extern char** environ;

namespace flint::cni {
namespace {

// Copies stdin into the child and stdout out of it without deadlocking on full pipes.
absl::Status Pump(int to_child, int from_child, const std::string& input, std::string* output) {
  size_t written = 0;
  if (input.empty() && to_child >= 0) {
    close(to_child);
    to_child = -1;
  }
  char buf[8192];
  while (from_child >= 0) {
    pollfd fds[2];
    int n = 0;
    fds[n++] = {from_child, POLLIN, 0};
    if (to_child >= 0) fds[n++] = {to_child, POLLOUT, 0};
    if (poll(fds, n, -1) < 0) {
      if (errno == EINTR) continue;
      return absl::InternalError(absl::StrCat("poll: ", std::strerror(errno)));
    }
    if (to_child >= 0 && (fds[1].revents & (POLLOUT | POLLERR | POLLHUP))) {
      ssize_t w = write(to_child, input.data() + written, input.size() - written);
      if (w > 0) written += static_cast<size_t>(w);
      if (w < 0 && errno != EINTR && errno != EAGAIN) written = input.size();  // child closed stdin
      if (written == input.size()) {
        close(to_child);
        to_child = -1;
      }
    }
    if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) {
      ssize_t r = read(from_child, buf, sizeof(buf));
      if (r > 0) {
        output->append(buf, static_cast<size_t>(r));
      } else if (r == 0 || errno != EINTR) {
        close(from_child);
        from_child = -1;
      }
    }
  }
  if (to_child >= 0) close(to_child);
  return absl::OkStatus();
}

std::vector<std::string> ChildEnvironment(absl::string_view command) {
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    if (std::strncmp(*e, "CNI_COMMAND=", 12) != 0) env.emplace_back(*e);
  }
  env.push_back(absl::StrCat("CNI_COMMAND=", command));
  return env;
}

}  // namespace

absl::StatusOr<std::string> FindPlugin(absl::string_view type, const std::vector<std::string>& dirs) {
  if (type.empty() || type.find('/') != absl::string_view::npos) {
    return CniStatus(ErrorCode::kInvalidNetworkConfig, absl::StrCat("invalid plugin type \"", type, "\""));
  }
  for (const std::string& dir : dirs) {
    std::string candidate = absl::StrCat(dir, "/", type);
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return CniStatus(ErrorCode::kInvalidNetworkConfig,
                   absl::StrCat("failed to find plugin \"", type, "\" in path"));
}

absl::StatusOr<std::unique_ptr<RunningPlugin>> RunningPlugin::Start(const std::string& plugin_path,
                                                                    absl::string_view command,
                                                                    const std::string& stdin_bytes) {
  int in_pipe[2], out_pipe[2];
  if (pipe2(in_pipe, O_CLOEXEC) != 0) return absl::InternalError(absl::StrCat("pipe: ", std::strerror(errno)));
  if (pipe2(out_pipe, O_CLOEXEC) != 0) {
    close(in_pipe[0]);
    close(in_pipe[1]);
    return absl::InternalError(absl::StrCat("pipe: ", std::strerror(errno)));
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in_pipe[0], 0);
  posix_spawn_file_actions_adddup2(&actions, out_pipe[1], 1);

  std::vector<std::string> env = ChildEnvironment(command);
  std::vector<char*> envp;
  for (std::string& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);
  std::string arg0 = plugin_path;
  char* argv[] = {arg0.data(), nullptr};

  pid_t pid = -1;
  int rc = posix_spawn(&pid, plugin_path.c_str(), &actions, nullptr, argv, envp.data());
  posix_spawn_file_actions_destroy(&actions);
  close(in_pipe[0]);
  close(out_pipe[1]);
  if (rc != 0) {
    close(in_pipe[1]);
    close(out_pipe[0]);
    return absl::InternalError(absl::StrCat("exec ", plugin_path, ": ", std::strerror(rc)));
  }
  std::unique_ptr<RunningPlugin> running(new RunningPlugin());
  running->path_ = plugin_path;
  running->pid_ = pid;
  running->from_child_ = out_pipe[0];
  running->to_child_ = in_pipe[1];
  // Hand over as much of stdin as the pipe takes now; Wait() pumps the rest.
  fcntl(in_pipe[1], F_SETFL, O_NONBLOCK);
  size_t written = 0;
  while (written < stdin_bytes.size()) {
    ssize_t w = write(in_pipe[1], stdin_bytes.data() + written, stdin_bytes.size() - written);
    if (w > 0) {
      written += static_cast<size_t>(w);
    } else if (w < 0 && errno == EINTR) {
      continue;
    } else {
      break;
    }
  }
  running->pending_input_ = stdin_bytes.substr(written);
  if (running->pending_input_.empty()) {
    close(running->to_child_);
    running->to_child_ = -1;
  }
  return running;
}

RunningPlugin::~RunningPlugin() { (void)Wait(); }

absl::StatusOr<std::string> RunningPlugin::Wait() {
  if (outcome_) return *outcome_;
  std::string output;
  absl::Status pumped = Pump(to_child_, from_child_, pending_input_, &output);
  to_child_ = from_child_ = -1;
  int wstatus = 0;
  while (waitpid(pid_, &wstatus, 0) < 0 && errno == EINTR) {
  }
  outcome_ = [&]() -> absl::StatusOr<std::string> {
    if (!pumped.ok()) return pumped;
    if (WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0) return output;
    nlohmann::json err = nlohmann::json::parse(output, nullptr, false);
    if (err.is_object() && err.contains("msg") && err["msg"].is_string()) {
      int code = err.contains("code") && err["code"].is_number_integer() ? err["code"].get<int>() : 999;
      std::string details =
          err.contains("details") && err["details"].is_string() ? err["details"].get<std::string>() : "";
      return CniStatus(code, err["msg"].get<std::string>(), details);
    }
    return CniStatus(ErrorCode::kInternal,
                     absl::StrCat(path_, " failed (status ", wstatus, ") with output: ", output));
  }();
  return *outcome_;
}

absl::StatusOr<std::string> ExecPlugin(const std::string& plugin_path, absl::string_view command,
                                       const std::string& stdin_bytes) {
  absl::StatusOr<std::unique_ptr<RunningPlugin>> running = RunningPlugin::Start(plugin_path, command, stdin_bytes);
  if (!running.ok()) return running.status();
  return (*running)->Wait();
}

}  // namespace flint::cni
