#include "shim/oom_watcher.h"

#include <fcntl.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cstdlib>
#include <sstream>
#include <string_view>

namespace flint::shim {
namespace {

std::string ReadSmallFile(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return "";
  std::string data;
  char buf[4096];
  ssize_t n;
  while ((n = read(fd, buf, sizeof(buf))) > 0) data.append(buf, static_cast<size_t>(n));
  close(fd);
  return data;
}

bool IsDirectory(const std::string& path) { return access((path + "/.").c_str(), F_OK) == 0; }

// Value of a "key N" line in a flat-keyed cgroup file.
uint64_t KeyedValue(const std::string& text, std::string_view key) {
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    std::string_view line(text.data() + pos, end - pos);
    if (line.starts_with(key) && line.size() > key.size() && line[key.size()] == ' ') {
      return std::strtoull(std::string(line.substr(key.size() + 1)).c_str(), nullptr, 10);
    }
    pos = end + 1;
  }
  return 0;
}

}  // namespace

OomWatcher::~OomWatcher() {
  if (event_fd_ >= 0) close(event_fd_);
  if (control_fd_ >= 0) close(control_fd_);
}

void OomWatcher::Attach(pid_t pid) {
  std::string cgroups = ReadSmallFile("/proc/" + std::to_string(pid) + "/cgroup");
  std::string v1_path, v2_path;
  std::istringstream lines(cgroups);
  for (std::string line; std::getline(lines, line);) {
    // hierarchy-id:controller-list:path
    size_t first = line.find(':');
    size_t second = first == std::string::npos ? first : line.find(':', first + 1);
    if (second == std::string::npos) continue;
    std::string controllers = line.substr(first + 1, second - first - 1);
    std::string path = line.substr(second + 1);
    if (controllers.empty()) {
      v2_path = path;
      continue;
    }
    std::istringstream names(controllers);
    for (std::string name; std::getline(names, name, ',');) {
      if (name == "memory") v1_path = path;
    }
  }
  if (!v1_path.empty() && IsDirectory("/sys/fs/cgroup/memory" + v1_path)) {
    dir_ = "/sys/fs/cgroup/memory" + v1_path;
    v2_ = false;
  } else if (!v2_path.empty()) {
    for (const char* root : {"/sys/fs/cgroup", "/sys/fs/cgroup/unified"}) {
      std::string dir = std::string(root) + v2_path;
      if (access((dir + "/memory.events").c_str(), R_OK) == 0) {
        dir_ = dir;
        v2_ = true;
        break;
      }
    }
  }
  if (dir_.empty()) return;
  baseline_ = ReadOomKillCount();
  if (v2_) return;
  control_fd_ = open((dir_ + "/memory.oom_control").c_str(), O_RDONLY | O_CLOEXEC);
  event_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (control_fd_ < 0 || event_fd_ < 0) return;
  std::string registration = std::to_string(event_fd_) + " " + std::to_string(control_fd_);
  int event_control = open((dir_ + "/cgroup.event_control").c_str(), O_WRONLY | O_CLOEXEC);
  bool registered = event_control >= 0 &&
                    write(event_control, registration.data(), registration.size()) ==
                        static_cast<ssize_t>(registration.size());
  if (event_control >= 0) close(event_control);
  if (!registered) {
    close(event_fd_);
    event_fd_ = -1;
  }
}

void OomWatcher::OnEvent() {
  uint64_t count = 0;
  ssize_t n = read(event_fd_, &count, sizeof(count));
  if (n != static_cast<ssize_t>(sizeof(count))) return;
  // The kernel signals before it picks a victim (so the oom_kill counter may
  // still be unchanged), and once more when the cgroup is removed.
  if (access((dir_ + "/memory.oom_control").c_str(), F_OK) == 0) {
    event_seen_ = true;
  } else {
    close(event_fd_);
    event_fd_ = -1;
  }
}

bool OomWatcher::OomKilled() {
  if (event_seen_) return true;
  if (dir_.empty()) return false;
  return ReadOomKillCount() > baseline_;
}

uint64_t OomWatcher::ReadOomKillCount() const {
  return KeyedValue(ReadSmallFile(dir_ + (v2_ ? "/memory.events" : "/memory.oom_control")), "oom_kill");
}

}  // namespace flint::shim
