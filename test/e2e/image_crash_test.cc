// Crash safety of the image store: flintd is killed with SIGKILL in the middle of a pull, then
// restarted on the same root. The pull goes through a local TCP proxy in front of the registry
// fixture that holds one layer blob's response after a few KiB, so the kill always lands while that
// blob is partly downloaded and the image's other layers are already unpacked.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "test/e2e/flintd_harness.h"
#include "test/e2e/registry_fixture.h"

namespace flint::e2e {
namespace {

namespace v1 = runtime::v1;
using namespace std::chrono_literals;

// Forwards TCP connections to an upstream port. A connection whose request names
// "/blobs/<held_digest>" gets at most `held_after_bytes` of response bytes; the rest is held back
// until ReleaseHold() or the client goes away.
class HoldingProxy {
 public:
  HoldingProxy(int upstream_port, std::string held_digest, size_t held_after_bytes)
      : upstream_port_(upstream_port), held_digest_(std::move(held_digest)), held_after_bytes_(held_after_bytes) {}
  ~HoldingProxy() { Stop(); }

  // Binds 127.0.0.1:<ephemeral>; returns false on failure.
  bool Start() {
    listen_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (listen_fd_ < 0) return false;
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || listen(listen_fd_, 16) != 0 ||
        getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      return false;
    }
    port_ = ntohs(addr.sin_port);
    acceptor_ = std::thread([this] { AcceptLoop(); });
    return true;
  }

  void Stop() {
    if (stopping_.exchange(true)) return;
    if (acceptor_.joinable()) acceptor_.join();
    std::vector<std::thread> connections;
    {
      std::lock_guard<std::mutex> lock(mu_);
      connections.swap(connections_);
    }
    for (std::thread& t : connections) t.join();
    if (listen_fd_ >= 0) close(listen_fd_);
  }

  std::string Address() const { return "127.0.0.1:" + std::to_string(port_); }

  // Waits (bounded) until some connection is holding the blob's response back.
  bool WaitUntilHolding(std::chrono::seconds timeout) {
    std::unique_lock<std::mutex> lock(mu_);
    return holding_cv_.wait_for(lock, timeout, [this] { return holding_; });
  }

  void ReleaseHold() { hold_enabled_ = false; }

 private:
  void AcceptLoop() {
    while (!stopping_) {
      pollfd p{listen_fd_, POLLIN, 0};
      if (poll(&p, 1, 50) <= 0) continue;
      int client = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (client < 0) continue;
      std::lock_guard<std::mutex> lock(mu_);
      connections_.emplace_back([this, client] { Forward(client); });
    }
  }

  int ConnectUpstream() {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<uint16_t>(upstream_port_));
    if (fd >= 0 && connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) return fd;
    if (fd >= 0) close(fd);
    return -1;
  }

  // Sends all of data, giving up when the proxy stops or the peer is gone.
  bool SendAll(int fd, const char* data, size_t size) {
    while (size > 0 && !stopping_) {
      pollfd p{fd, POLLOUT, 0};
      if (poll(&p, 1, 50) <= 0) continue;
      ssize_t n = send(fd, data, size, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
      if (n <= 0) return false;
      data += n;
      size -= static_cast<size_t>(n);
    }
    return size == 0;
  }

  void Forward(int client) {
    int upstream = ConnectUpstream();
    std::string request_tail;  // recent request bytes, to spot the held blob's path across reads
    bool held_connection = false;
    size_t response_bytes = 0;  // forwarded since the held blob was requested
    char buf[16384];
    while (upstream >= 0 && !stopping_) {
      bool hold = held_connection && hold_enabled_ && response_bytes >= held_after_bytes_;
      if (hold) {
        std::lock_guard<std::mutex> lock(mu_);
        if (!holding_) {
          holding_ = true;
          holding_cv_.notify_all();
        }
      }
      pollfd p[2] = {{client, POLLIN, 0}, {upstream, static_cast<short>(hold ? 0 : POLLIN), 0}};
      if (poll(p, 2, 50) <= 0) continue;
      if (p[0].revents) {
        ssize_t n = read(client, buf, sizeof buf);
        if (n <= 0 || !SendAll(upstream, buf, static_cast<size_t>(n))) break;
        request_tail.append(buf, static_cast<size_t>(n));
        if (!held_connection && request_tail.find("/blobs/" + held_digest_) != std::string::npos) {
          held_connection = true;
        }
        if (request_tail.size() > 4096) request_tail.erase(0, request_tail.size() - 4096);
      }
      if (p[1].revents) {
        size_t limit = sizeof buf;
        if (held_connection && hold_enabled_) limit = std::min(limit, held_after_bytes_ - response_bytes);
        ssize_t n = read(upstream, buf, limit);
        if (n <= 0 || !SendAll(client, buf, static_cast<size_t>(n))) break;
        if (held_connection) response_bytes += static_cast<size_t>(n);
      }
    }
    if (upstream >= 0) close(upstream);
    close(client);
  }

  const int upstream_port_;
  const std::string held_digest_;
  const size_t held_after_bytes_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> hold_enabled_{true};
  std::thread acceptor_;
  std::mutex mu_;
  std::condition_variable holding_cv_;
  bool holding_ = false;
  std::vector<std::thread> connections_;
};

// GET of a registry path over plain HTTP/1.0 (bounded by socket timeouts); returns the body or "".
std::string HttpGet(int port, const std::string& path, const std::string& accept) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return "";
  timeval timeout{10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  std::string response;
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
    std::string request = "GET " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\nAccept: " + accept + "\r\n\r\n";
    if (send(fd, request.data(), request.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(request.size())) {
      char buf[8192];
      for (ssize_t n; (n = read(fd, buf, sizeof buf)) > 0;) response.append(buf, static_cast<size_t>(n));
    }
  }
  close(fd);
  size_t body = response.find("\r\n\r\n");
  if (response.rfind("HTTP/1.", 0) != 0 || response.find(" 200 ") == std::string::npos || body == std::string::npos)
    return "";
  return response.substr(body + 4);
}

size_t CountEntries(const std::string& dir) {
  std::error_code ec;
  size_t n = 0;
  for (auto it = std::filesystem::directory_iterator(dir, ec); !ec && it != std::filesystem::directory_iterator();
       it.increment(ec)) {
    ++n;
  }
  return n;
}

// A flintd started by the test on an existing config (a restart on the same root).
class RestartedFlintd {
 public:
  RestartedFlintd(const Flintd& original, const std::string& log_name)
      : socket_(original.socket()), log_path_(original.dir() + "/" + log_name) {
    pid_ = fork();
    if (pid_ == 0) {
      int log_fd = open(log_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      dup2(log_fd, 1);
      dup2(log_fd, 2);
      execl(Flintd::Binary().c_str(), "flintd", "--config", original.config_path().c_str(), nullptr);
      _exit(127);
    }
    if (WaitUntilServing(socket_)) images_ = v1::ImageService::NewStub(Channel(socket_));
  }
  ~RestartedFlintd() {
    if (testing::Test::HasFailure()) {
      std::string log;
      char buf[4096];
      int fd = open(log_path_.c_str(), O_RDONLY);
      for (ssize_t n; fd >= 0 && (n = read(fd, buf, sizeof buf)) > 0;) log.append(buf, static_cast<size_t>(n));
      if (fd >= 0) close(fd);
      std::cerr << "---- " << log_path_ << " ----\n" << log;
    }
    Stop();
  }

  bool Serving() const { return images_ != nullptr; }
  v1::ImageService::Stub& images() { return *images_; }

  // SIGTERM, bounded wait, SIGKILL as a last resort; returns the waitpid status.
  int Stop() {
    if (pid_ <= 0) return -1;
    images_.reset();
    kill(pid_, SIGTERM);
    int status = -1;
    auto deadline = std::chrono::steady_clock::now() + 20s;
    while (waitpid(pid_, &status, WNOHANG) == 0) {
      if (std::chrono::steady_clock::now() > deadline) {
        ADD_FAILURE() << "restarted flintd ignored SIGTERM for 20 s";
        kill(pid_, SIGKILL);
        waitpid(pid_, &status, 0);
        break;
      }
      std::this_thread::sleep_for(20ms);
    }
    pid_ = -1;
    return status;
  }

 private:
  std::string socket_, log_path_;
  pid_t pid_ = -1;
  std::unique_ptr<v1::ImageService::Stub> images_;
};

std::vector<v1::Image> List(v1::ImageService::Stub& images) {
  v1::ListImagesResponse response;
  grpc::Status status = images.ListImages(Context().get(), v1::ListImagesRequest(), &response);
  EXPECT_TRUE(status.ok()) << status.error_message();
  return {response.images().begin(), response.images().end()};
}

// ImageStatus; nullopt when the image is unknown.
std::optional<v1::Image> Status(v1::ImageService::Stub& images, const std::string& ref) {
  v1::ImageStatusRequest request;
  request.mutable_image()->set_image(ref);
  v1::ImageStatusResponse response;
  grpc::Status status = images.ImageStatus(Context().get(), request, &response);
  EXPECT_TRUE(status.ok()) << status.error_message();
  if (!response.has_image()) return std::nullopt;
  return response.image();
}

grpc::Status Pull(v1::ImageService::Stub& images, const std::string& ref, std::string* image_ref) {
  v1::PullImageRequest request;
  request.mutable_image()->set_image(ref);
  v1::PullImageResponse response;
  grpc::Status status = images.PullImage(Context(120).get(), request, &response);
  if (image_ref) *image_ref = response.image_ref();
  return status;
}

class ImageCrashE2E : public testing::Test {
 protected:
  static void SetUpTestSuite() { fixture_error_ = EnsureRegistryFixtures(); }
  static inline std::string fixture_error_;
};

TEST_F(ImageCrashE2E, KillNineMidPullLeavesNoHalfImageAndThePullCanBeRedone) {
  ASSERT_EQ(fixture_error_, "");
  // flint/layers: the ~1 MB busybox layer plus two tiny ones. Its busybox blob is held back.
  const std::string repo = "flint/layers:latest";
  nlohmann::json entry = ImageEntry(RegistryAddress() + "/" + repo);
  ASSERT_FALSE(entry.is_null()) << "images.json lacks " << repo;
  std::string registry = RegistryAddress();
  int registry_port = std::stoi(registry.substr(registry.rfind(':') + 1));
  nlohmann::json manifest = nlohmann::json::parse(
      HttpGet(registry_port, "/v2/flint/layers/manifests/" + entry["manifest"].get<std::string>(),
              "application/vnd.oci.image.manifest.v1+json"),
      nullptr, /*allow_exceptions=*/false);
  ASSERT_TRUE(manifest.is_object() && manifest["layers"].size() == 3) << "manifest of " << repo << ": " << manifest;
  std::string busybox_layer;  // the largest layer
  int64_t largest = 0;
  for (const auto& layer : manifest["layers"]) {
    if (layer["size"].get<int64_t>() > largest) {
      largest = layer["size"].get<int64_t>();
      busybox_layer = layer["digest"].get<std::string>();
    }
  }
  ASSERT_GT(largest, 256 * 1024) << "the held layer must be much larger than what the proxy lets through";
  HoldingProxy proxy(registry_port, busybox_layer, 64 * 1024);
  ASSERT_TRUE(proxy.Start());
  const std::string ref = proxy.Address() + "/" + repo;

  FlintdOptions options;
  options.extra_yaml = "registry:\n  insecure: [\"" + proxy.Address() +
                       "\"]\n  stall_timeout_seconds: 120\n  connect_timeout_seconds: 5\n";
  auto flintd = Flintd::Start(options);
  ASSERT_TRUE(flintd);
  const std::string store = flintd->dir() + "/root/images";

  grpc::Status interrupted;
  std::thread puller([&] { interrupted = Pull(flintd->images(), ref, nullptr); });
  bool holding = proxy.WaitUntilHolding(60s);
  // The two small layers need no held bytes: wait (bounded) until both are unpacked into place.
  auto deadline = std::chrono::steady_clock::now() + 30s;
  while (holding && CountEntries(store + "/snapshots") < 2 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(20ms);
  }
  size_t snapshots_before_kill = CountEntries(store + "/snapshots");
  size_t tmp_before_kill = CountEntries(store + "/tmp");
  kill(flintd->pid(), SIGKILL);
  puller.join();
  EXPECT_NE(flintd->Stop(), 0) << "flintd died of SIGKILL";
  ASSERT_TRUE(holding) << "the pull never reached the held blob";
  EXPECT_FALSE(interrupted.ok()) << "PullImage cannot have succeeded: its blob was held back";
  EXPECT_GE(snapshots_before_kill, 2u) << "the small layers were unpacked before the kill";
  EXPECT_GE(tmp_before_kill, 1u) << "the held blob was partly downloaded in images/tmp";
  proxy.ReleaseHold();

  {
    RestartedFlintd restarted(*flintd, "flintd-after-kill.log");
    ASSERT_TRUE(restarted.Serving()) << "flintd did not come back on the crashed root";
    EXPECT_TRUE(List(restarted.images()).empty()) << "a half-pulled image is listed";
    EXPECT_FALSE(Status(restarted.images(), ref).has_value());
    v1::ImageFsInfoResponse fs;
    grpc::Status fs_status = restarted.images().ImageFsInfo(Context().get(), v1::ImageFsInfoRequest(), &fs);
    ASSERT_TRUE(fs_status.ok()) << fs_status.error_message();
    EXPECT_EQ(fs.image_filesystems_size(), 1);
    EXPECT_EQ(CountEntries(store + "/tmp"), 0u) << "partial downloads survived the restart";

    std::string image_ref;
    grpc::Status pulled = Pull(restarted.images(), ref, &image_ref);
    ASSERT_TRUE(pulled.ok()) << pulled.error_message();
    EXPECT_EQ(image_ref, entry["config"].get<std::string>());
    std::optional<v1::Image> image = Status(restarted.images(), ref);
    ASSERT_TRUE(image.has_value());
    EXPECT_GT(image->size(), 1000000u) << "config + the three compressed layers";
    ASSERT_TRUE(restarted.images().ImageFsInfo(Context().get(), v1::ImageFsInfoRequest(), &fs).ok());
    ASSERT_EQ(fs.image_filesystems_size(), 1);
    EXPECT_GT(fs.image_filesystems(0).used_bytes().value(), 1000000u) << "the busybox layer is unpacked";
    EXPECT_EQ(CountEntries(store + "/tmp"), 0u);
    EXPECT_EQ(restarted.Stop(), 0);
  }

  RestartedFlintd again(*flintd, "flintd-second-restart.log");
  ASSERT_TRUE(again.Serving());
  std::vector<v1::Image> listed = List(again.images());
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].id(), entry["config"].get<std::string>());
  EXPECT_THAT(listed[0].repo_tags(), testing::ElementsAre(ref));
  std::optional<v1::Image> image = Status(again.images(), ref);
  ASSERT_TRUE(image.has_value());
  EXPECT_GT(image->size(), 1000000u);
  EXPECT_EQ(CountEntries(store + "/snapshots"), 3u) << "one directory per layer, no leftovers of the killed pull";
  EXPECT_EQ(CountEntries(store + "/tmp"), 0u);
  EXPECT_EQ(again.Stop(), 0);
}

}  // namespace
}  // namespace flint::e2e
