// flintd's configuration: /etc/flint/flint.yaml parsed into one typed struct.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace flint {

enum class CgroupDriver { kCgroupfs, kSystemd };

struct RuntimeHandler {
  std::string path;               // OCI runtime binary
  std::vector<std::string> args;  // extra global arguments, e.g. --root
  bool privileged_without_host_devices = false;
  // Run the runtime from one sealed in-memory copy of its binary (common/sealed_exec_copy.h)
  // instead of letting crun/runc copy themselves on every call. Only ELF binaries are copied.
  bool sealed_copy = true;
};

struct RegistryOptions {
  // Registry host -> endpoints tried in order before the registry itself,
  // e.g. "registry.k8s.io" -> {"http://127.0.0.1:5055"}. The repository path is kept.
  std::map<std::string, std::vector<std::string>> mirrors;
  std::vector<std::string> insecure;  // hosts reached over plain http
  int max_concurrent_downloads = 3;
  int connect_timeout_seconds = 30;
  int stall_timeout_seconds = 300;  // a pull with no progress for this long fails
};

struct CniOptions {
  std::string conf_dir = "/etc/cni/net.d";
  std::vector<std::string> bin_dirs = {"/opt/cni/bin", "/usr/lib/cni"};
  int plugin_timeout_seconds = 60;
};

struct FlistOptions {
  std::vector<std::string> hubs = {"https://hub.grid.tf"};
  std::string default_store = "zdb://hub.grid.tf:9900";
  // Hub host (as in the flist reference, with its port if any) -> block store of the flists
  // pulled from it that name none; other hubs' flists use default_store.
  std::map<std::string, std::string> hub_stores;
  // When not empty: the only block stores a flist's own routes may name (store URLs without
  // credentials; a host matches any port unless one is given, a path matches below it).
  // default_store and hub_stores are the operator's and always allowed.
  std::vector<std::string> allowed_stores;
  std::string cache_dir;  // empty: <root_dir>/flist/cache
  uint64_t cache_max_bytes = 10ull << 30;
  // flist-mount: blocks fetched ahead of a sequential reader, and first blocks of a file fetched
  // when it is opened (0 disables either).
  int prefetch_blocks = 8;
  int open_prefetch_blocks = 4;
  // Keep one flist-mount started ahead of need (flist-snapshotter/fuse/mount_spare.h): a new
  // flist mount then serves in about half the time.
  bool spare_mount = true;
  // How long a flist mount no container uses stays mounted (the next pod of the image reuses it);
  // 0 unmounts it with its last container. RemoveImage unmounts an idle mount at once.
  int mount_idle_seconds = 600;
  // At most this many idle flist mounts (~14 MB each); past it the one idle longest is unmounted.
  int max_idle_mounts = 16;
};

struct Config {
  std::string root_dir = "/var/lib/flint";
  std::string state_dir = "/run/flint";
  std::string socket = "/run/flint/flint.sock";
  std::string log_level = "info";
  CgroupDriver cgroup_driver = CgroupDriver::kCgroupfs;
  std::string default_runtime = "runc";
  std::map<std::string, RuntimeHandler> runtimes = {
      {"runc", {"/usr/bin/runc", {}, false, true}},
      {"crun", {"/usr/bin/crun", {}, false, true}},
  };
  RegistryOptions registry;
  std::vector<std::string> pinned_images;
  CniOptions cni;
  FlistOptions flist;
  std::string streaming_address = "127.0.0.1:0";
  std::string metrics_address;  // empty: no Prometheus endpoint
};

// Parses YAML text. Unknown keys and bad values are errors naming the key and line.
absl::StatusOr<Config> ParseConfig(const std::string& yaml_text, const std::string& source_name);
// Reads and parses a file; a missing file at the default path yields the defaults.
absl::StatusOr<Config> LoadConfig(const std::string& path, bool must_exist);
// The default configuration as commented YAML (flintd --print-default-config).
std::string DefaultConfigYaml();
// The effective configuration as JSON (Status verbose info, flintctl).
std::string ConfigToJson(const Config& config);
const char* CgroupDriverName(CgroupDriver driver);
// The flist block cache directory: flist.cache_dir, else <root_dir>/flist/cache.
std::string FlistCacheDir(const Config& config);

}  // namespace flint
