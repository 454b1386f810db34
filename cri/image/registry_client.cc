#include <arpa/inet.h>
#include "cri/image/registry_client.h"

#include <curl/curl.h>

#include <atomic>

#include <nlohmann/json.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/percent_encoding.h"
#include "cri/image/digest.h"

namespace flint::image {
namespace {

constexpr size_t kMaxManifestBytes = 4 << 20;

// Maps an HTTP error status to an absl status naming the request.
absl::Status HttpError(const HttpResponse& r, const std::string& what) {
  std::string body = r.body.substr(0, 300);
  std::string msg = absl::StrCat(what, ": HTTP ", r.status, body.empty() ? "" : ": ", body);
  if (r.status == 401) return absl::UnauthenticatedError(msg);
  if (r.status == 403) return absl::PermissionDeniedError(msg);
  if (r.status == 404) return absl::NotFoundError(msg);
  if (r.status == 429 || r.status >= 500) return absl::UnavailableError(msg);
  return absl::UnknownError(msg);
}

}  // namespace

namespace {
// Registries on the loopback interface are spoken to over plain http, as Docker and
// containerd do for 127.0.0.0/8 and localhost; others only when listed as insecure.
bool IsInsecure(const RegistryConfig& config, const std::string& hostport) {
  if (config.insecure.count(hostport)) return true;
  std::string host = hostport;
  if (absl::StartsWith(host, "[")) {
    host = host.substr(1, host.find(']') - 1);
  } else if (size_t colon = host.rfind(':'); colon != std::string::npos) {
    host = host.substr(0, colon);
  }
  in_addr v4{};
  return host == "localhost" || host == "::1" ||
         (inet_pton(AF_INET, host.c_str(), &v4) == 1 && (ntohl(v4.s_addr) >> 24) == 127);
}
}  // namespace

std::vector<Endpoint> EndpointsFor(const RegistryConfig& config, const std::string& domain) {
  auto to_url = [&](const std::string& hostport) {
    std::string scheme = IsInsecure(config, hostport) ? "http://" : "https://";
    return scheme + hostport;
  };
  std::vector<Endpoint> out;
  if (auto it = config.mirrors.find(domain); it != config.mirrors.end()) {
    for (std::string e : it->second) {
      while (!e.empty() && e.back() == '/') e.pop_back();
      if (absl::EndsWith(e, "/v2")) e.resize(e.size() - 3);
      if (e.find("://") == std::string::npos) e = to_url(e);
      out.push_back({e, true});
    }
  }
  std::string host = domain == "docker.io" ? "registry-1.docker.io" : domain;
  out.push_back({IsInsecure(config, domain) ? "http://" + host : to_url(host), false});
  return out;
}

std::map<std::string, std::string> ParseChallenge(const std::string& header) {
  std::map<std::string, std::string> out;
  size_t sp = header.find(' ');
  out["scheme"] = absl::AsciiStrToLower(header.substr(0, sp));
  if (sp == std::string::npos) return out;
  size_t i = sp + 1;
  while (i < header.size()) {
    while (i < header.size() && (header[i] == ' ' || header[i] == ',')) ++i;
    size_t eq = header.find('=', i);
    if (eq == std::string::npos) break;
    std::string key = absl::AsciiStrToLower(std::string(absl::StripAsciiWhitespace(header.substr(i, eq - i))));
    std::string value;
    i = eq + 1;
    if (i < header.size() && header[i] == '"') {
      ++i;
      while (i < header.size() && header[i] != '"') {
        if (header[i] == '\\' && i + 1 < header.size()) ++i;
        value.push_back(header[i++]);
      }
      ++i;
    } else {
      size_t end = header.find(',', i);
      value = std::string(absl::StripAsciiWhitespace(header.substr(i, end == std::string::npos ? end : end - i)));
      i = end == std::string::npos ? header.size() : end;
    }
    out[key] = value;
  }
  return out;
}

RegistrySession::RegistrySession(Endpoint endpoint, std::string repository, RegistryAuth auth, HttpTimeouts timeouts,
                                 std::function<bool()> cancelled)
    : endpoint_(std::move(endpoint)),
      repository_(std::move(repository)),
      auth_(std::move(auth)),
      timeouts_(timeouts),
      cancelled_(std::move(cancelled)) {
  user_ = auth_.username;
  password_ = auth_.password;
  if (user_.empty() && !auth_.auth.empty()) {
    std::string decoded;
    if (absl::Base64Unescape(auth_.auth, &decoded)) {
      size_t colon = decoded.find(':');
      user_ = decoded.substr(0, colon);
      password_ = colon == std::string::npos ? "" : decoded.substr(colon + 1);
    }
  }
  if (!auth_.registry_token.empty()) bearer_token_ = auth_.registry_token;
}

std::string RegistrySession::Describe() const { return absl::StrCat(endpoint_.base_url, " repository ", repository_); }

std::vector<std::string> RegistrySession::AuthHeaders() {
  std::lock_guard<std::mutex> lock(mu_);
  if (!bearer_token_.empty()) return {"Authorization: Bearer " + bearer_token_};
  if (use_basic_) return {"Authorization: Basic " + absl::Base64Escape(user_ + ":" + password_)};
  return {};
}

absl::Status RegistrySession::Authenticate(const std::string& challenge_header, const std::string& what) {
  std::map<std::string, std::string> challenge = ParseChallenge(challenge_header);
  const std::string& scheme = challenge["scheme"];
  if (scheme == "basic") {
    if (user_.empty()) return absl::UnauthenticatedError(absl::StrCat(what, ": registry requires credentials"));
    std::lock_guard<std::mutex> lock(mu_);
    use_basic_ = true;
    return absl::OkStatus();
  }
  if (scheme != "bearer" || challenge["realm"].empty()) {
    return absl::UnauthenticatedError(absl::StrCat(what, ": unsupported auth challenge \"", challenge_header, "\""));
  }
  std::string scope = challenge.count("scope") ? challenge["scope"] : "repository:" + repository_ + ":pull";
  HttpRequest req;
  req.url = challenge["realm"];
  if (!auth_.identity_token.empty()) {
    // OAuth2 refresh-token grant.
    req.method = "POST";
    req.headers = {"Content-Type: application/x-www-form-urlencoded"};
    req.body = absl::StrCat("grant_type=refresh_token&client_id=flint&refresh_token=", PercentEncode(auth_.identity_token),
                            "&service=", PercentEncode(challenge["service"]), "&scope=", PercentEncode(scope));
  } else {
    absl::StrAppend(&req.url, req.url.find('?') == std::string::npos ? "?" : "&",
                    "service=", PercentEncode(challenge["service"]), "&scope=", PercentEncode(scope));
    if (!user_.empty()) {
      req.basic_user = user_;
      req.basic_password = password_;
    }
  }
  req.max_body_bytes = 1 << 20;
  HttpTimeouts t = timeouts_;
  t.total = std::chrono::seconds(60);
  std::string token_what = absl::StrCat(what, ": token from ", challenge["realm"]);
  absl::StatusOr<HttpResponse> resp = HttpDo(req, t, cancelled_);
  if (!resp.ok()) return absl::Status(resp.status().code(), absl::StrCat(token_what, ": ", resp.status().message()));
  if (resp->status != 200) return HttpError(*resp, token_what);
  nlohmann::json j = nlohmann::json::parse(resp->body, nullptr, false);
  std::string token;
  if (j.is_object()) {
    if (j.contains("token") && j["token"].is_string()) token = j["token"];
    if (token.empty() && j.contains("access_token") && j["access_token"].is_string()) token = j["access_token"];
  }
  if (token.empty()) return absl::UnauthenticatedError(absl::StrCat(token_what, ": no token in response"));
  std::lock_guard<std::mutex> lock(mu_);
  bearer_token_ = token;
  return absl::OkStatus();
}

absl::StatusOr<HttpResponse> RegistrySession::Send(HttpRequest request, const std::string& what) {
  std::vector<std::string> base_headers = request.headers;
  for (int attempt = 0; attempt < 2; ++attempt) {
    request.headers = base_headers;
    for (std::string& h : AuthHeaders()) request.headers.push_back(std::move(h));
    absl::StatusOr<HttpResponse> resp = HttpDo(request, timeouts_, cancelled_);
    if (!resp.ok()) return absl::Status(resp.status().code(), absl::StrCat(what, ": ", resp.status().message()));
    if (resp->status == 401 && attempt == 0) {
      auto it = resp->headers.find("www-authenticate");
      if (it == resp->headers.end()) return HttpError(*resp, what);
      if (absl::Status s = Authenticate(it->second, what); !s.ok()) return s;
      continue;
    }
    if (resp->status < 200 || resp->status >= 300) return HttpError(*resp, what);
    return resp;
  }
  return absl::UnauthenticatedError(absl::StrCat(what, ": still unauthorized after authenticating"));
}

absl::StatusOr<RegistrySession::FetchedManifest> RegistrySession::GetManifest(const std::string& tag_or_digest) {
  HttpRequest req;
  req.url = absl::StrCat(endpoint_.base_url, "/v2/", repository_, "/manifests/", tag_or_digest);
  req.headers = {ManifestAcceptHeader()};
  req.max_body_bytes = kMaxManifestBytes;
  absl::StatusOr<HttpResponse> resp =
      Send(req, absl::StrCat("manifest ", endpoint_.base_url, "/", repository_, ":", tag_or_digest));
  if (!resp.ok()) return resp.status();
  FetchedManifest out;
  out.content_type = resp->headers["content-type"];
  out.body = std::move(resp->body);
  out.digest = Sha256Digest(out.body);
  if (IsValidDigest(tag_or_digest) && out.digest != tag_or_digest) {
    return absl::DataLossError(absl::StrCat("manifest ", endpoint_.base_url, "/", repository_, "@", tag_or_digest,
                                            ": content has digest ", out.digest));
  }
  return out;
}

namespace {
std::atomic<uint64_t> pulled_blob_bytes{0};
}  // namespace

uint64_t PulledBlobBytesTotal() { return pulled_blob_bytes.load(std::memory_order_relaxed); }

absl::Status RegistrySession::GetBlob(const std::string& digest,
                                      const std::function<absl::Status(const char*, size_t)>& sink) {
  HttpRequest req;
  req.url = absl::StrCat(endpoint_.base_url, "/v2/", repository_, "/blobs/", digest);
  req.on_data = [&sink](const char* data, size_t size) {
    pulled_blob_bytes.fetch_add(size, std::memory_order_relaxed);
    return sink(data, size);
  };
  absl::StatusOr<HttpResponse> resp =
      Send(req, absl::StrCat("blob ", endpoint_.base_url, "/", repository_, "@", digest));
  return resp.status();
}

}  // namespace flint::image
