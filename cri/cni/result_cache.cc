#include "cri/cni/result_cache.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include <filesystem>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/fs.h"

namespace flint::cni {
namespace {

constexpr char kKind[] = "cniCacheV1";

absl::StatusOr<CachedAttachment> Decode(const std::string& path, const std::string& content) {
  nlohmann::json j = nlohmann::json::parse(content, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object() || j.value("kind", "") != kKind)
    return absl::DataLossError(absl::StrCat("CNI cache ", path, ": not a ", kKind, " record"));
  CachedAttachment a;
  a.container_id = j.value("containerId", "");
  a.ifname = j.value("ifName", "");
  a.network_name = j.value("networkName", "");
  a.cni_version = j.value("cniVersion", "");
  a.netns = j.value("netns", "");
  a.cni_args = j.value("cniArgs", "");
  std::string config;
  if (!absl::Base64Unescape(j.value("config", ""), &config) || config.empty())
    return absl::DataLossError(absl::StrCat("CNI cache ", path, ": bad config"));
  a.conflist_json = std::move(config);
  if (j.contains("capabilityArgs") && j["capabilityArgs"].is_object()) a.capability_args = j["capabilityArgs"];
  if (j.contains("result")) a.result = j["result"];
  return a;
}

}  // namespace

std::string ResultCache::PathFor(const std::string& network, const std::string& container_id,
                                 const std::string& ifname) const {
  return absl::StrCat(dir_, "/results/", network, "-", container_id, "-", ifname, ".json");
}

absl::Status ResultCache::Save(const CachedAttachment& a) {
  nlohmann::json j = {{"kind", kKind},
                      {"containerId", a.container_id},
                      {"ifName", a.ifname},
                      {"networkName", a.network_name},
                      {"cniVersion", a.cni_version},
                      {"netns", a.netns},
                      {"cniArgs", a.cni_args},
                      {"config", absl::Base64Escape(a.conflist_json)},
                      {"capabilityArgs", a.capability_args},
                      {"result", a.result}};
  if (absl::Status s = fs::MakeDirs(dir_ + "/results", 0700); !s.ok()) return s;
  absl::Status s = fs::WriteFileAtomic(PathFor(a.network_name, a.container_id, a.ifname), j.dump(), 0600);
  if (!s.ok()) return absl::Status(s.code(), absl::StrCat("write CNI cache: ", s.message()));
  return absl::OkStatus();
}

absl::StatusOr<std::optional<CachedAttachment>> ResultCache::Find(const std::string& container_id,
                                                                  const std::string& ifname) {
  // Container IDs are unique, so the suffix identifies the record whatever network it was made with.
  const std::string suffix = absl::StrCat("-", container_id, "-", ifname, ".json");
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir_ + "/results", ec)) {
    std::string name = entry.path().filename();
    if (!absl::EndsWith(name, suffix)) continue;
    absl::StatusOr<std::string> content = fs::ReadFile(entry.path());
    if (!content.ok()) return content.status();
    absl::StatusOr<CachedAttachment> attachment = Decode(entry.path(), *content);
    if (!attachment.ok()) return attachment.status();
    if (attachment->container_id != container_id || attachment->ifname != ifname) continue;
    return std::optional<CachedAttachment>(std::move(*attachment));
  }
  if (ec && ec != std::errc::no_such_file_or_directory)
    return absl::UnavailableError(absl::StrCat("read CNI cache dir ", dir_, "/results: ", ec.message()));
  return std::optional<CachedAttachment>();
}

absl::Status ResultCache::Remove(const CachedAttachment& a) {
  std::string path = PathFor(a.network_name, a.container_id, a.ifname);
  if (::unlink(path.c_str()) != 0 && errno != ENOENT)
    return absl::InternalError(absl::StrCat("remove CNI cache ", path, ": ", strerror(errno)));
  return absl::OkStatus();
}

}  // namespace flint::cni
