#include "shim/test_bundle.h"

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

namespace flint::shim {

bool WriteTestBundle(const std::string& dir, const TestBundleOptions& options, std::string* error) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::path rootfs = fs::path(dir) / "rootfs";
  for (const char* sub : {"bin", "proc", "dev", "tmp"}) fs::create_directories(rootfs / sub, ec);
  fs::copy_file("/bin/busybox", rootfs / "bin/busybox", fs::copy_options::overwrite_existing, ec);
  if (ec) {
    *error = "copy /bin/busybox: " + ec.message();
    return false;
  }
  for (const char* applet : {"sh", "echo", "sleep", "cat", "dd", "tr", "head", "wc", "printf", "true", "kill", "test"}) {
    fs::create_symlink("busybox", rootfs / "bin" / applet, ec);
  }
  nlohmann::json namespaces = nlohmann::json::array();
  for (const char* ns : {"ipc", "uts", "mount", "network"}) namespaces.push_back({{"type", ns}});
  if (options.pid_namespace) namespaces.push_back({{"type", "pid"}});
  const nlohmann::json caps = {"CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_AUDIT_WRITE"};
  nlohmann::json config = {
      {"ociVersion", "1.0.2"},
      {"process",
       {{"terminal", options.terminal},
        {"user", {{"uid", 0}, {"gid", 0}}},
        {"args", options.args},
        {"env", {"PATH=/bin", "TERM=xterm"}},
        {"cwd", "/"},
        {"capabilities", {{"bounding", caps}, {"effective", caps}, {"permitted", caps}}},
        {"noNewPrivileges", true}}},
      {"root", {{"path", "rootfs"}, {"readonly", true}}},
      {"hostname", "shimtest"},
      {"mounts",
       {{{"destination", "/proc"}, {"type", "proc"}, {"source", "proc"}},
        {{"destination", "/dev"},
         {"type", "tmpfs"},
         {"source", "tmpfs"},
         {"options", {"nosuid", "strictatime", "mode=755", "size=65536k"}}},
        {{"destination", "/dev/pts"},
         {"type", "devpts"},
         {"source", "devpts"},
         {"options", {"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"}}},
        {{"destination", "/tmp"}, {"type", "tmpfs"}, {"source", "tmpfs"}, {"options", {"nosuid", "size=8m"}}}}},
      {"linux", {{"namespaces", namespaces}}},
  };
  if (options.memory_limit_bytes > 0) {
    config["linux"]["resources"] = {{"memory", {{"limit", options.memory_limit_bytes}}}};
  }
  std::ofstream out(fs::path(dir) / "config.json");
  out << config.dump(1);
  out.close();
  if (!out) {
    *error = "write " + dir + "/config.json failed";
    return false;
  }
  return true;
}

}  // namespace flint::shim
