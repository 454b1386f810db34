#include "cri/runtime/oci_runtime_cli.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/spawn_attr.h"

namespace flint::runtime {

absl::StatusOr<std::string> RunOciRuntime(const RuntimeHandler& handler, const std::vector<std::string>& args,
                                          const std::string& stdin_data, absl::Duration timeout,
                                          const std::string& exec_path) {
  std::vector<std::string> argv_strings = {handler.path};
  argv_strings.insert(argv_strings.end(), handler.args.begin(), handler.args.end());
  argv_strings.insert(argv_strings.end(), args.begin(), args.end());
  std::string command = absl::StrJoin(argv_strings, " ");

  std::vector<char*> argv;
  for (auto& a : argv_strings) argv.push_back(a.data());
  argv.push_back(nullptr);

  int in[2], out[2], err[2];
  if (pipe2(in, O_CLOEXEC) || pipe2(out, O_CLOEXEC) || pipe2(err, O_CLOEXEC))
    return absl::InternalError(absl::StrCat("pipe: ", strerror(errno)));
  // posix_spawn (vfork-like) rather than fork: flintd is large and
  // multi-threaded, and fork copied its page tables and left every thread
  // copy-on-write faulting afterwards (fork to exec of flist-mount: ~7 ms).
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in[0], STDIN_FILENO);
  posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, err[1], STDERR_FILENO);
  const UnblockedSpawnAttr attr;
  pid_t pid = -1;
  const char* file = exec_path.empty() ? argv[0] : exec_path.c_str();
  const int spawn_error = posix_spawn(&pid, file, &actions, attr.get(), argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (spawn_error != 0) {
    for (int fd : {in[0], in[1], out[0], out[1], err[0], err[1]}) close(fd);
    const std::string why = absl::StrCat("spawn ", command, ": ", strerror(spawn_error));
    if (spawn_error == ENOENT || spawn_error == EACCES) return absl::FailedPreconditionError(why);
    return absl::InternalError(why);
  }
  close(in[0]);
  close(out[1]);
  close(err[1]);
  // Small inputs only (a resources JSON): write and close before reading.
  size_t written = 0;
  while (written < stdin_data.size()) {
    ssize_t n = write(in[1], stdin_data.data() + written, stdin_data.size() - written);
    if (n <= 0) break;
    written += static_cast<size_t>(n);
  }
  close(in[1]);

  std::string stdout_data, stderr_data;
  absl::Time deadline = absl::Now() + timeout;
  pollfd fds[2] = {{out[0], POLLIN, 0}, {err[0], POLLIN, 0}};
  int open_fds = 2;
  bool timed_out = false;
  while (open_fds > 0) {
    int wait_ms = static_cast<int>(absl::ToInt64Milliseconds(deadline - absl::Now()));
    if (wait_ms <= 0) {
      timed_out = true;
      break;
    }
    int ready = poll(fds, 2, wait_ms);
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) continue;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      char buf[4096];
      ssize_t n = read(fds[i].fd, buf, sizeof buf);
      if (n > 0) {
        std::string& target = i == 0 ? stdout_data : stderr_data;
        if (target.size() < (1 << 20)) target.append(buf, static_cast<size_t>(n));
      } else {
        close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      }
    }
  }
  for (auto& f : fds)
    if (f.fd >= 0) close(f.fd);
  if (timed_out) kill(pid, SIGKILL);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (timed_out) return absl::DeadlineExceededError(absl::StrCat(command, ": timed out after ", absl::FormatDuration(timeout)));
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    while (!stderr_data.empty() && stderr_data.back() == '\n') stderr_data.pop_back();
    return absl::UnknownError(absl::StrCat(command, ": exit ", code, ": ", stderr_data));
  }
  return stdout_data;
}

}  // namespace flint::runtime
