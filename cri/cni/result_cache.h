// The on-disk record of a pod's attachment, so DEL works after a flintd restart or a config change.
// One JSON file per attachment, modelled on libcni's cache:
//   <dir>/results/<network>-<containerID>-<ifname>.json
//   {"kind":"cniCacheV1","containerId","ifName","networkName","cniVersion","netns","cniArgs",
//    "config":<base64 conflist>,"capabilityArgs":{...},"result":{...}|null}
#pragma once

#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"

namespace flint::cni {

struct CachedAttachment {
  std::string container_id;
  std::string ifname;
  std::string network_name;
  std::string cni_version;
  std::string netns;
  std::string cni_args;
  std::string conflist_json;
  nlohmann::json capability_args = nlohmann::json::object();
  nlohmann::json result;  // null until ADD of the whole list succeeded
};

class ResultCache {
 public:
  explicit ResultCache(std::string dir) : dir_(std::move(dir)) {}

  // Atomic replace.
  absl::Status Save(const CachedAttachment& attachment);
  // The attachment of `container_id`/`ifname` under any network name; nullopt when none is cached.
  absl::StatusOr<std::optional<CachedAttachment>> Find(const std::string& container_id, const std::string& ifname);
  // Missing is success.
  absl::Status Remove(const CachedAttachment& attachment);

  std::string PathFor(const std::string& network, const std::string& container_id, const std::string& ifname) const;

 private:
  std::string dir_;
};

}  // namespace flint::cni
