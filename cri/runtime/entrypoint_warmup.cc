#include "cri/runtime/entrypoint_warmup.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "cri/oci/user_resolver.h"

namespace flint::runtime {
namespace {

constexpr const char* kDefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

std::string SpecPath(const nlohmann::json& process) {
  if (process.contains("env") && process["env"].is_array()) {
    for (const nlohmann::json& entry : process["env"]) {
      if (entry.is_string() && absl::StartsWith(entry.get_ref<const std::string&>(), "PATH=")) {
        return entry.get<std::string>().substr(5);
      }
    }
  }
  return kDefaultPath;
}

std::vector<std::string> Candidates(const nlohmann::json& process, const std::string& program) {
  if (absl::StrContains(program, '/')) {
    if (program.front() == '/') return {program};
    std::string cwd = process.value("cwd", std::string("/"));
    return {absl::StrCat(cwd, cwd.ends_with('/') ? "" : "/", program)};
  }
  std::vector<std::string> out;
  for (absl::string_view dir : absl::StrSplit(SpecPath(process), ':', absl::SkipEmpty())) {
    if (dir.front() != '/') continue;  // a relative PATH entry means nothing before the process runs
    out.push_back(absl::StrCat(dir, dir.back() == '/' ? "" : "/", program));
  }
  return out;
}

}  // namespace

absl::StatusOr<std::string> WarmEntrypoint(const std::string& rootfs, const nlohmann::json& spec) {
  if (!spec.contains("process") || !spec["process"].contains("args") || !spec["process"]["args"].is_array() ||
      spec["process"]["args"].empty() || !spec["process"]["args"][0].is_string()) {
    return absl::NotFoundError("spec has no process.args");
  }
  const nlohmann::json& process = spec["process"];
  const std::string program = process["args"][0].get<std::string>();
  if (program.empty()) return absl::NotFoundError("empty process.args[0]");
  for (const std::string& candidate : Candidates(process, program)) {
    // O_PATH first: opening a device node or FIFO an image names could have effects on the host.
    absl::StatusOr<int> path_fd = oci::OpenFileInRoot(rootfs, candidate.substr(1), O_PATH);
    if (!path_fd.ok()) continue;
    struct stat st {};
    const bool regular = fstat(*path_fd, &st) == 0 && S_ISREG(st.st_mode);
    int fd = regular ? open(absl::StrCat("/proc/self/fd/", *path_fd).c_str(), O_RDONLY | O_CLOEXEC) : -1;
    close(*path_fd);
    if (fd >= 0) {
      close(fd);
      return candidate;
    }
  }
  return absl::NotFoundError(absl::StrCat("entrypoint ", program, " not found in the rootfs"));
}

std::vector<std::string> FlistStartupPaths(const std::string& program) {
  std::vector<std::string> paths = {"/.startup.toml", "/etc/passwd", "/etc/group"};
  if (program.empty()) return paths;
  // Before the spec exists: the default PATH, and a relative program is taken from the root.
  const nlohmann::json process = {{"cwd", "/"}};
  for (std::string& candidate : Candidates(process, program)) paths.push_back(std::move(candidate));
  return paths;
}

}  // namespace flint::runtime
