#include "cri/config/config.h"

#include <cstring>
#include <fstream>
#include <functional>
#include <sstream>

#include <nlohmann/json.hpp>
#include <yaml-cpp/yaml.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/log.h"

namespace flint {
namespace {

// Walks a YAML mapping, dispatching each key to a handler; unknown keys and
// type errors become errors that name the key path and line.
class YamlReader {
 public:
  explicit YamlReader(std::string source) : source_(std::move(source)) {}

  absl::Status Error(const YAML::Node& node, const std::string& key, const std::string& what) const {
    int line = node.Mark().line >= 0 ? node.Mark().line + 1 : 0;
    return absl::InvalidArgumentError(absl::StrCat(source_, ":", line, ": ", key, ": ", what));
  }

  using Handler = std::function<absl::Status(const YAML::Node&, const std::string& key)>;

  absl::Status Map(const YAML::Node& node, const std::string& path,
                   const std::map<std::string, Handler>& handlers) const {
    if (node.IsNull()) return absl::OkStatus();
    if (!node.IsMap()) return Error(node, path.empty() ? "(top level)" : path, "must be a mapping");
    for (const auto& item : node) {
      std::string name = item.first.as<std::string>();
      std::string key = path.empty() ? name : absl::StrCat(path, ".", name);
      auto it = handlers.find(name);
      if (it == handlers.end()) {
        std::vector<std::string> known;
        for (const auto& [k, _] : handlers) known.push_back(k);
        return Error(item.first, key,
                     absl::StrCat("unknown key (known keys here: ", absl::StrJoin(known, ", "), ")"));
      }
      if (absl::Status s = it->second(item.second, key); !s.ok()) return s;
    }
    return absl::OkStatus();
  }

  Handler String(std::string* out) const {
    return [this, out](const YAML::Node& n, const std::string& key) -> absl::Status {
      if (!n.IsScalar()) return Error(n, key, "must be a string");
      *out = n.as<std::string>();
      return absl::OkStatus();
    };
  }

  Handler AbsPath(std::string* out, bool allow_empty = false) const {
    return [this, out, allow_empty](const YAML::Node& n, const std::string& key) -> absl::Status {
      if (!n.IsScalar()) return Error(n, key, "must be a path");
      std::string v = n.as<std::string>();
      if (v.empty() && allow_empty) {
        *out = v;
        return absl::OkStatus();
      }
      if (v.empty() || v[0] != '/') return Error(n, key, absl::StrCat("must be an absolute path, got \"", v, "\""));
      *out = v;
      return absl::OkStatus();
    };
  }

  Handler Int(int* out, int min, int max) const {
    return [this, out, min, max](const YAML::Node& n, const std::string& key) -> absl::Status {
      int v = 0;
      if (!n.IsScalar() || !YAML::convert<int>::decode(n, v))
        return Error(n, key, "must be an integer");
      if (v < min || v > max) return Error(n, key, absl::StrCat("must be between ", min, " and ", max, ", got ", v));
      *out = v;
      return absl::OkStatus();
    };
  }

  Handler Uint64(uint64_t* out) const {
    return [this, out](const YAML::Node& n, const std::string& key) -> absl::Status {
      uint64_t v = 0;
      if (!n.IsScalar() || !YAML::convert<uint64_t>::decode(n, v))
        return Error(n, key, "must be a non-negative integer");
      *out = v;
      return absl::OkStatus();
    };
  }

  Handler Bool(bool* out) const {
    return [this, out](const YAML::Node& n, const std::string& key) -> absl::Status {
      bool v = false;
      if (!n.IsScalar() || !YAML::convert<bool>::decode(n, v)) return Error(n, key, "must be true or false");
      *out = v;
      return absl::OkStatus();
    };
  }

  Handler StringList(std::vector<std::string>* out) const {
    return [this, out](const YAML::Node& n, const std::string& key) -> absl::Status {
      if (n.IsNull()) {
        out->clear();
        return absl::OkStatus();
      }
      if (!n.IsSequence()) return Error(n, key, "must be a list of strings");
      out->clear();
      for (const auto& e : n) {
        if (!e.IsScalar()) return Error(e, key, "must be a list of strings");
        out->push_back(e.as<std::string>());
      }
      return absl::OkStatus();
    };
  }

 private:
  std::string source_;
};

absl::Status ParseRuntimes(const YamlReader& r, const YAML::Node& node, const std::string& path,
                           std::map<std::string, RuntimeHandler>* runtimes) {
  if (!node.IsMap()) return r.Error(node, path, "must be a mapping of handler name to {path, args}");
  runtimes->clear();
  for (const auto& item : node) {
    std::string name = item.first.as<std::string>();
    std::string key = absl::StrCat(path, ".", name);
    RuntimeHandler handler;
    handler.path.clear();
    absl::Status s = r.Map(item.second, key,
                           {{"path", r.AbsPath(&handler.path)},
                            {"args", r.StringList(&handler.args)},
                            {"privileged_without_host_devices", r.Bool(&handler.privileged_without_host_devices)},
                            {"sealed_copy", r.Bool(&handler.sealed_copy)}});
    if (!s.ok()) return s;
    if (handler.path.empty()) return r.Error(item.first, key + ".path", "is required");
    (*runtimes)[name] = handler;
  }
  return absl::OkStatus();
}

// A store URL flist-mount can open (the flist library checks the rest when it opens it).
bool IsStoreUrl(const std::string& url) {
  for (const char* scheme : {"zdb://", "redis://", "http://", "https://", "dir:///"}) {
    if (url.rfind(scheme, 0) == 0 && url.size() > std::strlen(scheme)) return true;
  }
  return false;
}

absl::Status ParseHubStores(const YamlReader& r, const YAML::Node& node, const std::string& path,
                            std::map<std::string, std::string>* stores) {
  if (node.IsNull()) return absl::OkStatus();
  if (!node.IsMap()) return r.Error(node, path, "must be a mapping of hub host to a block store URL");
  stores->clear();
  for (const auto& item : node) {
    std::string host = item.first.as<std::string>();
    std::string key = absl::StrCat(path, ".", host);
    if (host.empty() || host.find('/') != std::string::npos) {
      return r.Error(item.first, key, "must be a hub host (with its port if any), like hub.grid.tf");
    }
    std::string url;
    if (absl::Status s = r.String(&url)(item.second, key); !s.ok()) return s;
    if (!IsStoreUrl(url)) {
      return r.Error(item.second, key,
                     absl::StrCat("\"", url, "\" is not a store URL (zdb://, redis://, http(s)://, dir:///PATH)"));
    }
    (*stores)[host] = url;
  }
  return absl::OkStatus();
}

absl::Status ParseAllowedStores(const YamlReader& r, const YAML::Node& node, const std::string& path,
                                std::vector<std::string>* stores) {
  if (node.IsNull()) return absl::OkStatus();
  if (!node.IsSequence()) return r.Error(node, path, "must be a list of block store URLs");
  stores->clear();
  for (const auto& item : node) {
    std::string url;
    if (absl::Status s = r.String(&url)(item, path); !s.ok()) return s;
    if (!IsStoreUrl(url)) {
      return r.Error(item, path,
                     absl::StrCat("\"", url, "\" is not a store URL (zdb://, redis://, http(s)://, dir:///PATH)"));
    }
    const std::string authority = url.substr(url.find("://") + 3);
    if (authority.substr(0, authority.find('/')).find('@') != std::string::npos) {
      return r.Error(item, path, absl::StrCat("\"", url, "\": leave credentials out (stores match without them)"));
    }
    stores->push_back(url);
  }
  return absl::OkStatus();
}

absl::Status ParseMirrors(const YamlReader& r, const YAML::Node& node, const std::string& path,
                          std::map<std::string, std::vector<std::string>>* mirrors) {
  if (node.IsNull()) return absl::OkStatus();
  if (!node.IsMap()) return r.Error(node, path, "must be a mapping of registry host to a list of endpoints");
  for (const auto& item : node) {
    std::string host = item.first.as<std::string>();
    std::vector<std::string> endpoints;
    std::string key = absl::StrCat(path, ".", host);
    if (absl::Status s = r.StringList(&endpoints)(item.second, key); !s.ok()) return s;
    for (const auto& e : endpoints) {
      if (e.rfind("http://", 0) != 0 && e.rfind("https://", 0) != 0)
        return r.Error(item.second, key, absl::StrCat("endpoint \"", e, "\" must start with http:// or https://"));
    }
    (*mirrors)[host] = std::move(endpoints);
  }
  return absl::OkStatus();
}

}  // namespace

std::string FlistCacheDir(const Config& config) {
  return config.flist.cache_dir.empty() ? config.root_dir + "/flist/cache" : config.flist.cache_dir;
}

const char* CgroupDriverName(CgroupDriver driver) {
  return driver == CgroupDriver::kSystemd ? "systemd" : "cgroupfs";
}

absl::StatusOr<Config> ParseConfig(const std::string& yaml_text, const std::string& source_name) {
  YAML::Node root;
  try {
    root = YAML::Load(yaml_text);
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat(source_name, ":", e.mark.line + 1, ": malformed YAML: ", e.msg));
  }
  Config c;
  YamlReader r(source_name);
  std::string cgroup_driver = CgroupDriverName(c.cgroup_driver);
  try {
    absl::Status s = r.Map(
        root, "",
        {{"root_dir", r.AbsPath(&c.root_dir)},
         {"state_dir", r.AbsPath(&c.state_dir)},
         {"socket", r.AbsPath(&c.socket)},
         {"log_level",
          [&](const YAML::Node& n, const std::string& key) -> absl::Status {
            if (absl::Status s = r.String(&c.log_level)(n, key); !s.ok()) return s;
            if (auto l = log::ParseLevel(c.log_level); !l.ok()) return r.Error(n, key, std::string(l.status().message()));
            return absl::OkStatus();
          }},
         {"cgroup_driver",
          [&](const YAML::Node& n, const std::string& key) -> absl::Status {
            if (absl::Status s = r.String(&cgroup_driver)(n, key); !s.ok()) return s;
            if (cgroup_driver != "cgroupfs" && cgroup_driver != "systemd")
              return r.Error(n, key, absl::StrCat("must be cgroupfs or systemd, got \"", cgroup_driver, "\""));
            return absl::OkStatus();
          }},
         {"default_runtime", r.String(&c.default_runtime)},
         {"runtimes",
          [&](const YAML::Node& n, const std::string& key) { return ParseRuntimes(r, n, key, &c.runtimes); }},
         {"registry",
          [&](const YAML::Node& n, const std::string& key) {
            return r.Map(n, key,
                         {{"mirrors",
                           [&](const YAML::Node& m, const std::string& k) {
                             return ParseMirrors(r, m, k, &c.registry.mirrors);
                           }},
                          {"insecure", r.StringList(&c.registry.insecure)},
                          {"max_concurrent_downloads", r.Int(&c.registry.max_concurrent_downloads, 1, 64)},
                          {"connect_timeout_seconds", r.Int(&c.registry.connect_timeout_seconds, 1, 3600)},
                          {"stall_timeout_seconds", r.Int(&c.registry.stall_timeout_seconds, 1, 86400)}});
          }},
         {"pinned_images", r.StringList(&c.pinned_images)},
         {"cni",
          [&](const YAML::Node& n, const std::string& key) {
            return r.Map(n, key,
                         {{"conf_dir", r.AbsPath(&c.cni.conf_dir)},
                          {"bin_dirs", r.StringList(&c.cni.bin_dirs)},
                          {"plugin_timeout_seconds", r.Int(&c.cni.plugin_timeout_seconds, 1, 3600)}});
          }},
         {"flist",
          [&](const YAML::Node& n, const std::string& key) {
            return r.Map(n, key,
                         {{"hubs", r.StringList(&c.flist.hubs)},
                          {"default_store", r.String(&c.flist.default_store)},
                          {"hub_stores",
                           [&](const YAML::Node& n, const std::string& key) {
                             return ParseHubStores(r, n, key, &c.flist.hub_stores);
                           }},
                          {"allowed_stores",
                           [&](const YAML::Node& n, const std::string& key) {
                             return ParseAllowedStores(r, n, key, &c.flist.allowed_stores);
                           }},
                          {"cache_dir", r.AbsPath(&c.flist.cache_dir, true)},
                          {"cache_max_bytes", r.Uint64(&c.flist.cache_max_bytes)},
                          {"prefetch_blocks", r.Int(&c.flist.prefetch_blocks, 0, 256)},
                          {"open_prefetch_blocks", r.Int(&c.flist.open_prefetch_blocks, 0, 256)},
                          {"spare_mount", r.Bool(&c.flist.spare_mount)},
                          {"mount_idle_seconds", r.Int(&c.flist.mount_idle_seconds, 0, 7 * 24 * 3600)},
                          {"max_idle_mounts", r.Int(&c.flist.max_idle_mounts, 0, 4096)}});
          }},
         {"streaming_address", r.String(&c.streaming_address)},
         {"metrics_address", r.String(&c.metrics_address)}});
    if (!s.ok()) return s;
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(source_name, ":", e.mark.line + 1, ": ", e.msg));
  }
  c.cgroup_driver = cgroup_driver == "systemd" ? CgroupDriver::kSystemd : CgroupDriver::kCgroupfs;
  if (!c.runtimes.contains(c.default_runtime)) {
    return absl::InvalidArgumentError(absl::StrCat(source_name, ": default_runtime: \"", c.default_runtime,
                                                   "\" is not one of the configured runtimes"));
  }
  return c;
}

absl::StatusOr<Config> LoadConfig(const std::string& path, bool must_exist) {
  std::ifstream in(path);
  if (!in) {
    if (!must_exist) return Config{};
    return absl::NotFoundError(absl::StrCat("config file ", path, ": cannot open: ", strerror(errno)));
  }
  std::stringstream text;
  text << in.rdbuf();
  return ParseConfig(text.str(), path);
}

std::string DefaultConfigYaml() {
  return R"(# flintd configuration (/etc/flint/flint.yaml). Every key is optional; shown are the defaults.

# Images, snapshots, metadata database and flist cache live here.
root_dir: /var/lib/flint
# Per-boot state: shim sockets, container status files, CNI result cache.
state_dir: /run/flint
# The CRI socket; point kubelet at unix:///run/flint/flint.sock.
socket: /run/flint/flint.sock
# debug | info | warn | error. At debug, every RPC logs its duration.
log_level: info
# cgroupfs | systemd. Reported to the kubelet by RuntimeConfig; must match the kubelet's.
cgroup_driver: cgroupfs

# OCI runtime handlers (Kubernetes RuntimeClass handler -> binary). The default
# handler serves pods that name no RuntimeClass. sealed_copy: run the runtime from one sealed
# in-memory copy of its binary, made by flintd and renewed when the file changes, so that crun
# and runc skip copying themselves on every call (their CVE-2019-5736 defence, ~4 ms each).
default_runtime: runc
runtimes:
  runc:
    path: /usr/bin/runc
    args: []
    sealed_copy: true
  crun:
    path: /usr/bin/crun
    args: []
    sealed_copy: true

registry:
  # Registry host -> endpoints tried first, keeping the repository path, e.g.
  #   registry.k8s.io: ["http://127.0.0.1:5055"]
  mirrors: {}
  # Registries (host[:port]) reached over plain http.
  insecure: []
  max_concurrent_downloads: 3
  connect_timeout_seconds: 30
  # A pull that makes no progress for this long fails (kubelet sets no deadline).
  stall_timeout_seconds: 300

# Images the kubelet's image GC must never remove.
pinned_images: []

cni:
  conf_dir: /etc/cni/net.d
  bin_dirs: [/opt/cni/bin, /usr/lib/cni]
  plugin_timeout_seconds: 60

flist:
  # Hubs an flist reference like hub.grid.tf/user/name.flist may come from.
  hubs: [https://hub.grid.tf]
  # Store used for blocks when an flist names none.
  default_store: zdb://hub.grid.tf:9900
  # The same per hub (host of the flist reference, with its port if any), e.g.
  #   hub.example.com: zdb://zdb.example.com:9900
  hub_stores: {}
  # If not empty, the only block stores a pulled flist's own routes may name (others are refused
  # at PullImage and at mount), e.g. [zdb://hub.grid.tf:9900, "dir:///srv/blocks"]; a host without
  # a port matches any port. default_store and hub_stores are always allowed.
  allowed_stores: []
  # Block cache shared by all flists (empty: <root_dir>/flist/cache).
  cache_dir: ""
  cache_max_bytes: 10737418240
  # Blocks (512 KiB) fetched ahead of a sequential reader, and the first blocks of a file fetched
  # as soon as it is opened; 0 disables either.
  prefetch_blocks: 8
  open_prefetch_blocks: 4
  # Keep one flist-mount started (program loaded, crypto set up, buffers faulted in) so that
  # the next flist mount does not wait for that; it costs one idle process (~10 MB).
  spare_mount: true
  # Seconds a flist mount no container uses stays mounted, so the image's next pod finds it
  # serving (0: unmount with the last container). RemoveImage unmounts an idle mount at once.
  mount_idle_seconds: 600
  # At most this many idle flist mounts (each ~14 MB: its flist-mount and keeper); past it the
  # one idle longest is unmounted at once.
  max_idle_mounts: 16

# Exec/Attach/PortForward server; port 0 picks a free port.
streaming_address: 127.0.0.1:0
# Prometheus text endpoint (host:port); empty disables it.
metrics_address: ""
)";
}

std::string ConfigToJson(const Config& c) {
  nlohmann::json j;
  j["root_dir"] = c.root_dir;
  j["state_dir"] = c.state_dir;
  j["socket"] = c.socket;
  j["log_level"] = c.log_level;
  j["cgroup_driver"] = CgroupDriverName(c.cgroup_driver);
  j["default_runtime"] = c.default_runtime;
  for (const auto& [name, h] : c.runtimes) {
    j["runtimes"][name] = {{"path", h.path}, {"args", h.args}, {"sealed_copy", h.sealed_copy}};
  }
  j["registry"] = {{"mirrors", c.registry.mirrors},
                   {"insecure", c.registry.insecure},
                   {"max_concurrent_downloads", c.registry.max_concurrent_downloads},
                   {"connect_timeout_seconds", c.registry.connect_timeout_seconds},
                   {"stall_timeout_seconds", c.registry.stall_timeout_seconds}};
  j["pinned_images"] = c.pinned_images;
  j["cni"] = {{"conf_dir", c.cni.conf_dir},
              {"bin_dirs", c.cni.bin_dirs},
              {"plugin_timeout_seconds", c.cni.plugin_timeout_seconds}};
  j["flist"] = {{"hubs", c.flist.hubs},
                {"default_store", c.flist.default_store},
                {"hub_stores", c.flist.hub_stores},
                {"allowed_stores", c.flist.allowed_stores},
                {"cache_dir", c.flist.cache_dir},
                {"cache_max_bytes", c.flist.cache_max_bytes},
                {"prefetch_blocks", c.flist.prefetch_blocks},
                {"open_prefetch_blocks", c.flist.open_prefetch_blocks},
                {"spare_mount", c.flist.spare_mount},
                {"mount_idle_seconds", c.flist.mount_idle_seconds},
                {"max_idle_mounts", c.flist.max_idle_mounts}};
  j["streaming_address"] = c.streaming_address;
  j["metrics_address"] = c.metrics_address;
  return j.dump();
}

}  // namespace flint
