// Starts a real flintd with a private root/state/socket and talks CRI to it over the socket.
#pragma once

#include <sys/types.h>

#include <functional>
#include <memory>
#include <string>

#include <grpcpp/grpcpp.h>

#include "common/testutil/loopback.h"
#include "api.grpc.pb.h"

namespace flint::e2e {

struct FlintdOptions {
  std::string extra_yaml;           // appended to the generated flint.yaml
  std::string cni_conf_dir;         // empty: an empty dir inside the test dir
  std::string log_level = "debug";
};

class Flintd {
 public:
  // Starts flintd and waits (bounded) until Version answers; fails the test otherwise.
  static std::unique_ptr<Flintd> Start(const FlintdOptions& options = {});
  ~Flintd();

  runtime::v1::RuntimeService::Stub& runtime() { return *runtime_; }
  runtime::v1::ImageService::Stub& images() { return *images_; }

  // SIGTERM and wait; returns the exit status as from waitpid (-1 if it had to be killed).
  int Stop();
  // kill -9 (what a crash or OOM kill does), runs `while_down`, then starts flintd again on the
  // same config (its log goes on in the same file) and redials. False, with a test failure, if
  // the new daemon does not serve.
  bool CrashAndRestart(const std::function<void()>& while_down = {});
  // The same after a graceful stop (SIGTERM), which must exit 0.
  bool StopAndRestart(const std::function<void()>& while_down = {});
  bool Running() const;
  std::string Log() const;

  const std::string& dir() const { return dir_; }
  const std::string& socket() const { return socket_; }
  const std::string& config_path() const { return config_path_; }
  pid_t pid() const { return pid_; }

  static std::string Binary();
  // Runs flintd with the given arguments to completion (bounded); returns exit code and output.
  static int RunToCompletion(const std::vector<std::string>& args, std::string* output, int timeout_seconds = 30);

 private:
  Flintd() = default;
  // Forks flintd on config_path_ (log appended) and waits until Version answers.
  bool Launch(bool truncate_log);
  std::string dir_, socket_, config_path_, log_path_;
  pid_t pid_ = -1;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<runtime::v1::RuntimeService::Stub> runtime_;
  std::unique_ptr<runtime::v1::ImageService::Stub> images_;
};

// A channel to a flintd socket that reconnects quickly.
std::shared_ptr<grpc::Channel> Channel(const std::string& socket);

// Polls until a flintd answers Version on the socket (bounded); true when it does.
bool WaitUntilServing(const std::string& socket, int timeout_seconds = 30);

// A free TCP port on loopback (the kernel picks it; released right before the caller binds it).
using ::flint::testutil::PickFreeLoopbackPort;

// The whole HTTP/1.1 response (status line, headers, body) of GET `path` on 127.0.0.1:`port`,
// bounded by 5 s socket timeouts; "" when nothing answers.
std::string HttpGet(int port, const std::string& path);

// A client context with a deadline, as kubelet sets one on every call.
std::unique_ptr<grpc::ClientContext> Context(int seconds = 30);

}  // namespace flint::e2e
