#include "test/e2e/flintd_harness.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

#include "common/fs.h"

namespace flint::e2e {
namespace {

bool WaitForExit(pid_t pid, int* status, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    pid_t r = waitpid(pid, status, WNOHANG);
    if (r == pid) return true;
    if (r < 0) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

// Lazily unmounts whatever a test left mounted below dir (deepest first).
void UnmountBelow(const std::string& dir) {
  std::ifstream mounts("/proc/self/mounts");
  std::vector<std::string> targets;
  std::string dev, target, rest;
  while (mounts >> dev >> target && std::getline(mounts, rest)) {
    if (target.rfind(dir, 0) == 0) targets.push_back(target);
  }
  for (auto it = targets.rbegin(); it != targets.rend(); ++it) umount2(it->c_str(), MNT_DETACH);
}

}  // namespace

std::string Flintd::Binary() { return FLINT_BINARY_DIR "/cri/flintd"; }

std::shared_ptr<grpc::Channel> Channel(const std::string& socket) {
  // Short reconnect backoff: tests dial before the daemon has created its socket.
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 50);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 50);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 200);
  args.SetMaxReceiveMessageSize(16 * 1024 * 1024);
  return grpc::CreateCustomChannel("unix:" + socket, grpc::InsecureChannelCredentials(), args);
}

bool WaitUntilServing(const std::string& socket, int timeout_seconds) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_seconds);
  // Dial only once the socket exists: a failed resolve makes gRPC back off for seconds.
  while (access(socket.c_str(), F_OK) != 0) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  auto stub = runtime::v1::RuntimeService::NewStub(Channel(socket));
  while (std::chrono::steady_clock::now() < deadline) {
    runtime::v1::VersionResponse response;
    if (stub->Version(Context(1).get(), runtime::v1::VersionRequest(), &response).ok()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

std::unique_ptr<grpc::ClientContext> Context(int seconds) {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(seconds));
  return context;
}

std::string HttpGet(int port, const std::string& path) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  timeval timeout{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string out;
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
    std::string request = "GET " + path + " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
    if (send(fd, request.data(), request.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(request.size())) {
      char buf[4096];
      for (ssize_t n; (n = read(fd, buf, sizeof buf)) > 0;) out.append(buf, static_cast<size_t>(n));
    }
  }
  close(fd);
  return out;
}

std::unique_ptr<Flintd> Flintd::Start(const FlintdOptions& options) {
  std::unique_ptr<Flintd> d(new Flintd());
  char tmpl[] = "/tmp/flint-e2e-XXXXXX";
  if (mkdtemp(tmpl) == nullptr) {
    ADD_FAILURE() << "mkdtemp failed";
    return nullptr;
  }
  d->dir_ = tmpl;
  d->socket_ = d->dir_ + "/run/flint.sock";
  d->config_path_ = d->dir_ + "/flint.yaml";
  d->log_path_ = d->dir_ + "/flintd.log";
  std::string cni_dir = options.cni_conf_dir.empty() ? d->dir_ + "/cni" : options.cni_conf_dir;
  EXPECT_TRUE(fs::MakeDirs(cni_dir).ok());
  std::ostringstream yaml;
  yaml << "root_dir: " << d->dir_ << "/root\n"
       << "state_dir: " << d->dir_ << "/run\n"
       << "socket: " << d->socket_ << "\n"
       << "log_level: " << options.log_level << "\n"
       << "cni:\n  conf_dir: " << cni_dir << "\n"
       << options.extra_yaml;
  EXPECT_TRUE(fs::WriteFileAtomic(d->config_path_, yaml.str()).ok());

  if (!d->Launch(/*truncate_log=*/true)) return nullptr;
  return d;
}

bool Flintd::Launch(bool truncate_log) {
  pid_ = fork();
  if (pid_ == 0) {
    int log_fd = open(log_path_.c_str(), O_WRONLY | O_CREAT | (truncate_log ? O_TRUNC : O_APPEND), 0644);
    dup2(log_fd, 1);
    dup2(log_fd, 2);
    execl(Binary().c_str(), "flintd", "--config", config_path_.c_str(), nullptr);
    _exit(127);
  }
  channel_ = Channel(socket_);
  runtime_ = runtime::v1::RuntimeService::NewStub(channel_);
  images_ = runtime::v1::ImageService::NewStub(channel_);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < deadline) {
    if (!Running()) break;
    runtime::v1::VersionRequest request;
    runtime::v1::VersionResponse response;
    if (access(socket_.c_str(), F_OK) == 0 && runtime_->Version(Context(2).get(), request, &response).ok())
      return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ADD_FAILURE() << "flintd did not come up; its log:\n" << Log();
  return false;
}

bool Flintd::CrashAndRestart(const std::function<void()>& while_down) {
  runtime_.reset();
  images_.reset();
  channel_.reset();
  if (pid_ > 0) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }
  if (while_down) while_down();
  return Launch(/*truncate_log=*/false);
}

bool Flintd::StopAndRestart(const std::function<void()>& while_down) {
  int status = Stop();
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    ADD_FAILURE() << "flintd exited with status " << status << " on SIGTERM; its log:\n" << Log();
    return false;
  }
  if (while_down) while_down();
  return Launch(/*truncate_log=*/false);
}

bool Flintd::Running() const {
  if (pid_ <= 0) return false;
  int status = 0;
  return waitpid(pid_, &status, WNOHANG) == 0;
}

int Flintd::Stop() {
  if (pid_ <= 0) return -1;
  int status = -1;
  // Drop our connection first: flintd's graceful stop waits (bounded) for connected clients.
  runtime_.reset();
  images_.reset();
  channel_.reset();
  kill(pid_, SIGTERM);
  if (!WaitForExit(pid_, &status, std::chrono::seconds(20))) {
    ADD_FAILURE() << "flintd ignored SIGTERM for 20 s; killing it";
    kill(pid_, SIGKILL);
    waitpid(pid_, &status, 0);
    status = -1;
  }
  pid_ = -1;
  return status;
}

std::string Flintd::Log() const {
  absl::StatusOr<std::string> log = fs::ReadFile(log_path_);
  return log.ok() ? *log : "(no log)";
}

Flintd::~Flintd() {
  if (pid_ > 0) Stop();
  if (testing::Test::HasFailure()) std::cerr << "---- flintd log (" << log_path_ << ") ----\n" << Log();
  UnmountBelow(dir_);
  (void)fs::RemoveAll(dir_);
}

int Flintd::RunToCompletion(const std::vector<std::string>& args, std::string* output, int timeout_seconds) {
  char out_path[] = "/tmp/flint-e2e-out-XXXXXX";
  int out_fd = mkstemp(out_path);
  pid_t pid = fork();
  if (pid == 0) {
    dup2(out_fd, 1);
    dup2(out_fd, 2);
    std::vector<char*> argv;
    std::string name = "flintd";
    argv.push_back(name.data());
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(Binary().c_str(), argv.data());
    _exit(127);
  }
  close(out_fd);
  int status = 0;
  if (!WaitForExit(pid, &status, std::chrono::seconds(timeout_seconds))) {
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    ADD_FAILURE() << "flintd did not exit within " << timeout_seconds << " s";
  }
  absl::StatusOr<std::string> out = fs::ReadFile(out_path);
  unlink(out_path);
  if (output) *output = out.ok() ? *out : "";
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

}  // namespace flint::e2e
