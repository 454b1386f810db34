#include "cri/image/fake_registry.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace flint::image::testing {

FakeRegistry::FakeRegistry() {
  listen_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = ntohs(addr.sin_port);
  listen(listen_fd_, 64);
  thread_ = std::thread([this] { Loop(); });
}

FakeRegistry::~FakeRegistry() {
  stop_ = true;
  thread_.join();
  close(listen_fd_);
}

void FakeRegistry::Serve(const std::string& path, Object object) {
  std::lock_guard<std::mutex> lock(mu_);
  objects_[path] = std::move(object);
}

void FakeRegistry::Redirect(const std::string& path, const std::string& location) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = objects_.find(path);
  if (it == objects_.end()) return;
  redirect_targets_[location] = it->second;
  redirects_[path] = location;
}

void FakeRegistry::RequireBearer(std::string token, std::string user, std::string password, std::string refresh_token) {
  std::lock_guard<std::mutex> lock(mu_);
  token_ = std::move(token);
  user_ = std::move(user);
  password_ = std::move(password);
  refresh_token_ = std::move(refresh_token);
}

void FakeRegistry::Loop() {
  while (!stop_) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (poll(&p, 1, 50) <= 0) continue;
    int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    Handle(fd);
    close(fd);
  }
}

void FakeRegistry::Handle(int fd) {
  std::string request;
  char buf[4096];
  while (request.find("\r\n\r\n") == std::string::npos) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 2000) <= 0) return;
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n <= 0) return;
    request.append(buf, static_cast<size_t>(n));
  }
  size_t header_end = request.find("\r\n\r\n");
  std::string head = request.substr(0, header_end);
  std::string body = request.substr(header_end + 4);
  std::string lower = absl::AsciiStrToLower(head);
  size_t cl = lower.find("content-length:");
  if (cl != std::string::npos) {
    size_t want = std::stoul(head.substr(cl + 15));
    while (body.size() < want) {
      ssize_t n = read(fd, buf, sizeof(buf));
      if (n <= 0) break;
      body.append(buf, static_cast<size_t>(n));
    }
  }
  std::string method = head.substr(0, head.find(' '));
  size_t path_start = head.find(' ') + 1;
  std::string target = head.substr(path_start, head.find(' ', path_start) - path_start);
  std::string path = target.substr(0, target.find('?'));
  auto header = [&](const std::string& name) -> std::string {
    size_t pos = lower.find("\r\n" + name + ":");
    if (pos == std::string::npos) return "";
    size_t start = pos + 3 + name.size();
    size_t end = head.find("\r\n", start);
    return std::string(absl::StripAsciiWhitespace(head.substr(start, end == std::string::npos ? end : end - start)));
  };

  int status = 404;
  std::string content_type = "application/json";
  std::string out = R"({"errors":[{"code":"NOT_FOUND"}]})";
  std::string extra;
  std::lock_guard<std::mutex> lock(mu_);
  if (path == "/token") {
    ++token_requests_;
    bool ok = false;
    if (method == "POST") {
      ok = !refresh_token_.empty() && absl::StrContains(body, "refresh_token=" + refresh_token_) &&
           absl::StrContains(body, "grant_type=refresh_token");
      if (ok) out = absl::StrCat(R"({"access_token":")", token_, R"("})");
    } else {
      std::string auth = header("authorization");
      ok = auth == "Basic " + absl::Base64Escape(user_ + ":" + password_);
      if (ok) out = absl::StrCat(R"({"token":")", token_, R"("})");
    }
    status = ok ? 200 : 401;
    if (!ok) out = R"({"errors":[{"code":"UNAUTHORIZED"}]})";
  } else if (auto t = redirect_targets_.find(path); t != redirect_targets_.end()) {
    ++redirected_requests_;
    status = 200;
    content_type = t->second.content_type;
    out = t->second.body;
  } else if (absl::StartsWith(path, "/v2/")) {
    if (!token_.empty() && header("authorization") != "Bearer " + token_) {
      status = 401;
      out = R"({"errors":[{"code":"UNAUTHORIZED"}]})";
      extra = absl::StrCat("WWW-Authenticate: Bearer realm=\"http://", address(),
                           "/token\",service=\"fake\",scope=\"repository:x:pull\"\r\n");
    } else if (auto r = redirects_.find(path.substr(4)); r != redirects_.end()) {
      status = 307;
      extra = absl::StrCat("Location: ", r->second, "\r\n");
      out = "<a href=\"" + r->second + "\">Temporary Redirect</a>";
    } else if (path == "/v2/") {
      status = 200;
      out = "{}";
    } else if (auto it = objects_.find(path.substr(4)); it != objects_.end()) {
      status = 200;
      content_type = it->second.content_type;
      out = it->second.body;
    }
  }
  std::string response = absl::StrCat("HTTP/1.1 ", status, status == 200 ? " OK" : " Error",
                                      "\r\nContent-Type: ", content_type, "\r\nContent-Length: ", out.size(),
                                      "\r\nConnection: close\r\n", extra, "\r\n", method == "HEAD" ? "" : out);
  size_t end = response.size();
  if (stall_blobs_ && status == 200 && absl::StrContains(path, "/blobs/")) end -= out.size() / 2;
  size_t off = 0;
  while (off < end) {
    ssize_t n = write(fd, response.data() + off, end - off);
    if (n <= 0) return;
    off += static_cast<size_t>(n);
  }
  while (end < response.size() && !stop_) usleep(20000);  // the stall
}

}  // namespace flint::image::testing
