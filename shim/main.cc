// flint-shim: one small process per container (see shim/README.md).
#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>

#include "shim/redis_log_publisher.h"
#include "common/sealed_exec_copy.h"
#include "shim/shim_options.h"
#include "shim/shim_server.h"

namespace {

constexpr char kUsage[] =
    "usage: flint-shim --id ID --bundle DIR --runtime PATH [--runtime-arg ARG]... [--runtime-fd N] --state-dir DIR\n"
    "                  --log-path FILE --socket PATH [--tty] [--stdin] [--create-timeout SECONDS] [--foreground]\n"
    "                  [--logs-redis redis://IP:PORT/STDOUT-CHANNEL[,STDERR-CHANNEL]]\n";

void WriteAll(int fd, const std::string& text) {
  size_t off = 0;
  while (off < text.size()) {
    ssize_t n = write(fd, text.data() + off, text.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    off += static_cast<size_t>(n);
  }
}

int FailEarly(int ready_fd, const std::string& error) {
  if (ready_fd >= 0) {
    WriteAll(ready_fd, error);
    close(ready_fd);
  } else {
    fprintf(stderr, "flint-shim: %s\n", error.c_str());
  }
  return 1;
}

// The long-lived shim. Reports "ok" or the error on ready_fd once the
// container is created and the socket is listening.
int RunShim(const flint::shim::ShimOptions& options, int ready_fd) {
  prctl(PR_SET_CHILD_SUBREAPER, 1);
  std::string error;
  // Declared before the server so it outlives every log write; the tap is cleared before it goes.
  std::unique_ptr<flint::shim::RedisLogPublisher> log_publisher;
  struct TapReset {
    ~TapReset() { flint::shim::CriLogWriter::SetTap(nullptr); }
  } tap_reset;
  if (!options.logs_redis.empty()) {
    flint::shim::RedisLogTarget target;
    if (!flint::shim::ParseRedisLogTarget(options.logs_redis, &target, &error)) return FailEarly(ready_fd, error);
    log_publisher = std::make_unique<flint::shim::RedisLogPublisher>(
        target, flint::shim::RedisLogPublisher::Limits(), options.state_dir + "/logs-redis.json");
    if (!log_publisher->Start(&error)) return FailEarly(ready_fd, error);
    flint::shim::CriLogWriter::SetTap(log_publisher.get());
  }
  flint::shim::ShimServer server(options);
  bool ok = server.Init(&error) && server.CreateContainer(&error) && server.Listen(&error);
  if (ready_fd >= 0) {
    WriteAll(ready_fd, ok ? std::string("ok") : error);
    close(ready_fd);
  } else if (!ok) {
    fprintf(stderr, "flint-shim: %s\n", error.c_str());
  }
  if (!ok) return 1;
  return server.Run();
}

void RedirectStdio(const std::string& shim_log) {
  int null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
  int log_fd = open(shim_log.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (null_fd >= 0) {
    dup2(null_fd, STDIN_FILENO);
    dup2(null_fd, STDOUT_FILENO);
    dup2(log_fd >= 0 ? log_fd : null_fd, STDERR_FILENO);
  }
  if (null_fd >= 0) close(null_fd);
  if (log_fd >= 0) close(log_fd);
}

}  // namespace

int main(int argc, char** argv) {
  flint::shim::ShimOptions options;
  std::string error;
  if (!flint::shim::ParseShimOptions(argc, argv, &options, &error)) {
    fprintf(stderr, "flint-shim: %s\n%s", error.c_str(), kUsage);
    return 2;
  }
  // Whatever the caller leaked must not reach the container; only a sealed copy of the runtime
  // stays (close-on-exec: the runtime is executed through /proc/self/fd and holds it no longer).
  const int runtime_fd = options.runtime_fd;
  if (runtime_fd >= 3 && flint::IsSealedExecCopy(runtime_fd)) {
    close_range(3, runtime_fd - 1, 0);
    close_range(runtime_fd + 1, ~0U, 0);
    fcntl(runtime_fd, F_SETFD, FD_CLOEXEC);
    options.runtime_exec = flint::SealedExecPath(runtime_fd);
  } else {
    close_range(3, ~0U, 0);  // not a sealed copy: run the runtime from its path
  }
  if (mkdir(options.state_dir.c_str(), 0700) != 0 && errno != EEXIST) {
    fprintf(stderr, "flint-shim: mkdir %s: %s\n", options.state_dir.c_str(), strerror(errno));
    return 1;
  }
  if (options.foreground) return RunShim(options, -1);

  // Double fork + setsid: the shim must outlive (and not be a child of) flintd.
  int ready[2];
  if (pipe2(ready, O_CLOEXEC) != 0) {
    perror("flint-shim: pipe2");
    return 1;
  }
  pid_t middle = fork();
  if (middle < 0) {
    perror("flint-shim: fork");
    return 1;
  }
  if (middle == 0) {
    close(ready[0]);
    setsid();
    pid_t shim = fork();
    if (shim != 0) _exit(shim < 0 ? 1 : 0);
    if (chdir("/") != 0) _exit(1);
    umask(022);
    RedirectStdio(options.state_dir + "/shim.log");
    return RunShim(options, ready[1]);
  }
  close(ready[1]);
  int status = 0;
  waitpid(middle, &status, 0);
  std::string message;
  char buf[4096];
  ssize_t n;
  while ((n = read(ready[0], buf, sizeof(buf))) != 0) {
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) break;
    message.append(buf, static_cast<size_t>(n));
  }
  close(ready[0]);
  if (message == "ok") return 0;
  fprintf(stderr, "flint-shim: %s\n", message.empty() ? "shim exited before the container was created" : message.c_str());
  return 1;
}
