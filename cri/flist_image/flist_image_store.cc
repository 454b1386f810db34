#include "cri/flist_image/flist_image_store.h"

#include <arpa/inet.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/fs.h"
#include "common/log.h"
#include "cri/image/http_client.h"
#include "flist-snapshotter/flist/flist_reader.h"
#include "flist-snapshotter/store/store_policy.h"

namespace flint::flist_image {
namespace {

bool EndsWithFlist(const std::string& path) {
  return absl::EndsWith(path, ".flist") || absl::EndsWith(path, ".fl");
}

// Splits "path/x.flist:tag" into ("path/x.flist", "tag"); no tag -> "".
std::pair<std::string, std::string> SplitTag(const std::string& ref) {
  size_t slash = ref.rfind('/');
  size_t colon = ref.rfind(':');
  if (colon != std::string::npos && (slash == std::string::npos || colon > slash)) {
    std::string base = ref.substr(0, colon);
    if (EndsWithFlist(base)) return {base, ref.substr(colon + 1)};
  }
  return {ref, ""};
}

std::string HostOf(const std::string& url) {
  size_t start = url.find("://");
  start = start == std::string::npos ? 0 : start + 3;
  return url.substr(start, url.find('/', start) - start);
}

}  // namespace

bool IsFlistReference(const std::string& ref) {
  std::string path = SplitTag(ref).first;
  size_t slash = path.rfind('/');
  std::string last = slash == std::string::npos ? path : path.substr(slash + 1);
  return EndsWithFlist(last) && last.size() > 3;
}

absl::StatusOr<ResolvedFlistReference> ResolveFlistReference(const std::string& ref,
                                                             const FlistStoreOptions& options) {
  if (!IsFlistReference(ref)) return absl::InvalidArgumentError(absl::StrCat("\"", ref, "\" is not an flist reference"));
  auto [path, tag] = SplitTag(ref);
  std::string scheme;
  if (size_t sep = path.find("://"); sep != std::string::npos) {
    scheme = path.substr(0, sep);
    if (scheme != "http" && scheme != "https") {
      return absl::InvalidArgumentError(absl::StrCat("flist URL \"", ref, "\": only http and https are supported"));
    }
    path = path.substr(sep + 3);
  }
  size_t slash = path.find('/');
  if (slash == std::string::npos || slash == 0) {
    return absl::InvalidArgumentError(absl::StrCat("flist reference \"", ref, "\" needs a host and a path"));
  }
  if (path.find("/../") != std::string::npos || absl::EndsWith(path, "/..") || path.find("//") != std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat("flist reference \"", ref, "\" has an invalid path"));
  }
  std::string host = path.substr(0, slash);
  std::string rest = path.substr(slash);
  ResolvedFlistReference resolved;
  resolved.name = absl::StrCat(path, ":", tag.empty() ? "latest" : tag);
  if (auto it = options.mirrors.find(host); it != options.mirrors.end()) {
    for (std::string endpoint : it->second) {
      while (!endpoint.empty() && endpoint.back() == '/') endpoint.pop_back();
      resolved.urls.push_back(endpoint + rest);
    }
  }
  if (scheme.empty()) {
    // Like registries, hubs on the loopback interface speak plain http unless configured otherwise.
    std::string bare = host.substr(0, host.rfind(':') == std::string::npos ? host.size() : host.rfind(':'));
    in_addr v4{};
    bool loopback = bare == "localhost" || (inet_pton(AF_INET, bare.c_str(), &v4) == 1 && (ntohl(v4.s_addr) >> 24) == 127);
    scheme = loopback ? "http" : "https";
    for (const std::string& hub : options.hubs) {
      if (HostOf(hub) == host && hub.find("://") != std::string::npos) scheme = hub.substr(0, hub.find("://"));
    }
  }
  resolved.urls.push_back(absl::StrCat(scheme, "://", path));
  return resolved;
}

std::string DefaultStoreFor(const FlistImage& image, const std::map<std::string, std::string>& hub_stores,
                            const std::string& default_store) {
  for (const std::string& name : image.names) {  // host/path.fl:tag
    if (auto it = hub_stores.find(name.substr(0, name.find('/'))); it != hub_stores.end()) return it->second;
  }
  return default_store;
}

absl::StatusOr<std::unique_ptr<FlistImageStore>> FlistImageStore::Open(FlistStoreOptions options) {
  std::unique_ptr<FlistImageStore> store(new FlistImageStore(std::move(options)));
  const std::string& root = store->options_.root;
  for (const std::string& dir : {root + "/sha256", root + "/tmp"}) {
    if (absl::Status s = fs::MakeDirs(dir, 0711); !s.ok()) return s;
  }
  (void)fs::RemoveAll(root + "/tmp");  // half-finished downloads
  if (absl::Status s = fs::MakeDirs(root + "/tmp", 0711); !s.ok()) return s;
  absl::StatusOr<std::string> index = fs::ReadFile(root + "/index.json");
  if (index.ok()) {
    nlohmann::json j = nlohmann::json::parse(*index, nullptr, false);
    if (j.is_object() && j["images"].is_array()) {
      for (const auto& e : j["images"]) {
        FlistImage image;
        image.id = e.value("id", "");
        image.names = e.value("names", std::vector<std::string>{});
        image.url = e.value("url", "");
        image.size = e.value("size", uint64_t{0});
        image.file_size = e.value("file_size", uint64_t{0});
        image.path = root + "/sha256/" + image.id.substr(image.id.find(':') + 1);
        struct stat st {};
        if (stat(image.path.c_str(), &st) != 0) {
          FLINT_LOG(WARN) << "flist image " << image.id << " lost its file; dropping it";
          continue;
        }
        // A crash can leave a file the index points at but that never reached the disk whole;
        // kubelet would not pull an image it sees as present, so drop it and let the next pull fetch it.
        if (image.file_size != 0 && static_cast<uint64_t>(st.st_size) != image.file_size) {
          FLINT_LOG(WARN) << "flist image " << image.id << ": " << image.path << " is " << st.st_size
                          << " bytes, the index says " << image.file_size << "; dropping it (pull it again)";
          unlink(image.path.c_str());
          continue;
        }
        store->images_[image.id] = image;
      }
    }
  }
  // A crash between storing a pulled file and writing the index leaves a file nothing names.
  std::error_code ec;
  for (const auto& file : std::filesystem::directory_iterator(root + "/sha256", ec)) {
    if (!store->images_.contains("sha256:" + file.path().filename().string())) {
      FLINT_LOG(INFO) << "removing " << file.path().string() << ": no flist image names it";
      std::filesystem::remove(file.path(), ec);
    }
  }
  return store;
}

absl::Status FlistImageStore::SaveIndex(const std::map<std::string, FlistImage>& images_by_id) const {
  nlohmann::json images = nlohmann::json::array();
  for (const auto& [id, image] : images_by_id) {
    images.push_back({{"id", image.id},
                      {"names", image.names},
                      {"url", image.url},
                      {"size", image.size},
                      {"file_size", image.file_size}});
  }
  return fs::WriteFileAtomic(options_.root + "/index.json", nlohmann::json{{"images", images}}.dump(), 0600);
}

absl::StatusOr<FlistImage> FlistImageStore::Pull(const std::string& ref, const std::function<bool()>& cancelled) {
  absl::StatusOr<ResolvedFlistReference> resolved = ResolveFlistReference(ref, options_);
  if (!resolved.ok()) return resolved.status();
  std::string tmp = absl::StrCat(options_.root, "/tmp/pull-", getpid(), "-", reinterpret_cast<uintptr_t>(&ref));
  absl::Status last;
  for (const std::string& url : resolved->urls) {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    EVP_MD_CTX* sha = EVP_MD_CTX_new();
    EVP_DigestInit_ex(sha, EVP_sha256(), nullptr);
    uint64_t received = 0;
    image::HttpRequest request;
    request.url = url;
    request.on_data = [&](const char* data, size_t n) -> absl::Status {
      received += n;
      if (received > options_.max_flist_bytes) {
        return absl::ResourceExhaustedError(absl::StrCat("flist ", url, " is larger than ", options_.max_flist_bytes, " bytes"));
      }
      out.write(data, static_cast<std::streamsize>(n));
      EVP_DigestUpdate(sha, data, n);
      return out ? absl::OkStatus() : absl::ResourceExhaustedError(absl::StrCat("write ", tmp, " failed"));
    };
    image::HttpTimeouts timeouts;
    timeouts.connect = options_.connect_timeout;
    timeouts.stall = options_.stall_timeout;
    absl::StatusOr<image::HttpResponse> response = image::HttpDo(request, timeouts, cancelled);
    out.close();
    const bool written = static_cast<bool>(out);
    unsigned char digest[32];
    unsigned int digest_len = 0;
    EVP_DigestFinal_ex(sha, digest, &digest_len);
    EVP_MD_CTX_free(sha);
    if (!response.ok()) {
      last = absl::Status(response.status().code(),
                          absl::StrCat(response.status().code() == absl::StatusCode::kUnavailable ? "RegistryUnavailable: " : "",
                                       "download flist ", url, ": ", response.status().message()));
      continue;
    }
    if (response->status == 404) {
      last = absl::NotFoundError(absl::StrCat("flist ", ref, " not found at ", url));
      continue;
    }
    if (response->status != 200) {
      last = response->status >= 500
                 ? absl::UnavailableError(absl::StrCat("RegistryUnavailable: download flist ", url, ": HTTP ", response->status))
                 : absl::UnknownError(absl::StrCat("download flist ", url, ": HTTP ", response->status));
      continue;
    }
    if (!written) {
      unlink(tmp.c_str());
      return absl::ResourceExhaustedError(absl::StrCat("write ", tmp, " failed"));
    }
    // Only a file that parses as an flist becomes an image.
    absl::StatusOr<flist::Flist> parsed = flist::ReadFlistFile(tmp);
    if (!parsed.ok()) {
      unlink(tmp.c_str());
      return absl::InvalidArgumentError(absl::StrCat("flist ", ref, " from ", url, " is not a valid flist: ",
                                                     std::string(parsed.status().message())));
    }
    if (absl::Status allowed = flist::CheckFlistStores(*parsed, options_.allowed_stores); !allowed.ok()) {
      unlink(tmp.c_str());
      return absl::PermissionDeniedError(absl::StrCat("flist ", ref, " from ", url, ": ", allowed.message()));
    }
    std::string hex = absl::BytesToHexString(std::string(reinterpret_cast<char*>(digest), digest_len));
    FlistImage image;
    image.id = "sha256:" + hex;
    image.url = url;
    image.path = options_.root + "/sha256/" + hex;
    image.file_size = received;
    image.size = parsed->Stats().regular_bytes;
    if (image.size == 0) image.size = received;  // the kubelet wants size > 0
    // On disk before the index names it: a crash must not leave an image whose file is empty.
    if (absl::Status s = fs::SyncFile(tmp); !s.ok()) {
      unlink(tmp.c_str());
      return absl::Status(s.code(), absl::StrCat("store flist ", image.path, ": ", s.message()));
    }
    std::lock_guard lock(mu_);
    // Renamed under the lock, so a Remove of an image with the same content cannot unlink the file
    // between the rename and the record that names it.
    if (rename(tmp.c_str(), image.path.c_str()) != 0) {
      int err = errno;
      unlink(tmp.c_str());
      return absl::InternalError(absl::StrCat("store flist ", image.path, ": ", strerror(err)));
    }
    // A name points at one image: a re-pull that got new content moves the name. The index is
    // written first; memory and the files of images left without a name change only once it is.
    std::map<std::string, FlistImage> next = images_;
    std::vector<std::string> unnamed_files;
    for (auto it = next.begin(); it != next.end();) {
      auto& names = it->second.names;
      names.erase(std::remove(names.begin(), names.end(), resolved->name), names.end());
      if (names.empty() && it->first != image.id) {
        unnamed_files.push_back(it->second.path);
        it = next.erase(it);
      } else {
        ++it;
      }
    }
    const bool known = images_.contains(image.id);
    FlistImage& stored = next[image.id];
    std::vector<std::string> names = stored.names;
    stored = image;
    stored.names = names;
    stored.names.push_back(resolved->name);
    if (absl::Status s = SaveIndex(next); !s.ok()) {
      if (!known) unlink(image.path.c_str());
      return absl::Status(s.code(), absl::StrCat("record flist ", resolved->name, ": ", s.message()));
    }
    images_ = std::move(next);
    for (const std::string& path : unnamed_files) unlink(path.c_str());
    FLINT_LOG(INFO) << "pulled flist " << resolved->name << " from " << url << " id=" << image.id
                    << " file_bytes=" << received << " content_bytes=" << image.size;
    return images_.at(image.id);
  }
  unlink(tmp.c_str());
  return last;
}

std::vector<FlistImage> FlistImageStore::List() const {
  std::lock_guard lock(mu_);
  std::vector<FlistImage> out;
  for (const auto& [_, image] : images_) out.push_back(image);
  return out;
}

std::optional<FlistImage> FlistImageStore::FindLocked(const std::string& ref) const {
  std::string id = absl::StartsWith(ref, "sha256:") ? ref : "sha256:" + ref;
  if (auto it = images_.find(id); it != images_.end()) return it->second;
  absl::StatusOr<ResolvedFlistReference> resolved = ResolveFlistReference(ref, options_);
  for (const auto& [_, image] : images_) {
    for (const auto& name : image.names) {
      if (name == ref || (resolved.ok() && name == resolved->name)) return image;
    }
  }
  return std::nullopt;
}

std::optional<FlistImage> FlistImageStore::Find(const std::string& ref) const {
  std::lock_guard lock(mu_);
  return FindLocked(ref);
}

absl::StatusOr<std::optional<FlistImage>> FlistImageStore::Remove(const std::string& ref) {
  std::lock_guard lock(mu_);
  std::optional<FlistImage> image = FindLocked(ref);
  if (!image) return std::nullopt;
  std::map<std::string, FlistImage> next = images_;
  next.erase(image->id);
  if (absl::Status s = SaveIndex(next); !s.ok()) {
    return absl::Status(s.code(), absl::StrCat("remove flist ", image->id, ": ", s.message()));
  }
  images_ = std::move(next);
  // Running containers keep their mount; the file itself can go (the mount holds the parsed tree).
  unlink(image->path.c_str());
  return image;
}

}  // namespace flint::flist_image
