// Test helper: a tiny HTTP/1.1 registry on 127.0.0.1 serving canned manifests and blobs, optionally
// behind the bearer token flow, to test what a well-behaved registry cannot do (corrupt blobs,
// custom auth).
#pragma once

#include <atomic>
#include <map>
#include <mutex>
#include <string>
#include <thread>

namespace flint::image::testing {

class FakeRegistry {
 public:
  struct Object {
    std::string content_type;
    std::string body;
  };
  FakeRegistry();
  ~FakeRegistry();

  // Path below /v2/, e.g. "flint/x/manifests/latest" or "flint/x/blobs/sha256:...".
  void Serve(const std::string& path, Object object);
  // Answers requests for `path` (below /v2/) with a 307 to `location` (an absolute URL path,
  // served without auth, like a CDN).
  void Redirect(const std::string& path, const std::string& location);
  // Requires "Authorization: Bearer <token>" on /v2/ paths; tokens come from /token, which needs
  // basic auth `user:password` or a POSTed refresh_token equal to `refresh_token`.
  void RequireBearer(std::string token, std::string user, std::string password, std::string refresh_token);

  // Blob responses send half their body, then stall until the server is destroyed.
  void StallBlobs() { stall_blobs_ = true; }

  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  int token_requests() const { return token_requests_.load(); }
  int redirected_requests() const { return redirected_requests_.load(); }

 private:
  void Loop();
  void Handle(int fd);

  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::mutex mu_;
  std::map<std::string, Object> objects_;
  std::map<std::string, std::string> redirects_;    // /v2/ path -> location
  std::map<std::string, Object> redirect_targets_;  // location -> object
  std::string token_, user_, password_, refresh_token_;
  std::atomic<int> token_requests_{0};
  std::atomic<int> redirected_requests_{0};
  std::atomic<bool> stall_blobs_{false};
};

}  // namespace flint::image::testing
