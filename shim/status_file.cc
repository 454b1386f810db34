#include "shim/status_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <nlohmann/json.hpp>

namespace flint::shim {
namespace {

std::string ErrnoText(const std::string& what) { return what + ": " + std::strerror(errno); }

}  // namespace

std::string_view ContainerStateName(ContainerState state) {
  switch (state) {
    case ContainerState::kCreated:
      return "created";
    case ContainerState::kRunning:
      return "running";
    case ContainerState::kStopped:
      return "stopped";
  }
  return "unknown";
}

bool ParseContainerState(std::string_view name, ContainerState* state) {
  for (ContainerState s : {ContainerState::kCreated, ContainerState::kRunning, ContainerState::kStopped}) {
    if (ContainerStateName(s) == name) {
      *state = s;
      return true;
    }
  }
  return false;
}

std::string StatusToJson(const ShimStatus& status) {
  nlohmann::json j = {
      {"id", status.id},
      {"shim_pid", status.shim_pid},
      {"pid", status.pid},
      {"state", std::string(ContainerStateName(status.state))},
      {"exit_code", status.exit_code},
      {"created_at_ns", status.created_at_ns},
      {"started_at_ns", status.started_at_ns},
      {"finished_at_ns", status.finished_at_ns},
      {"oom_killed", status.oom_killed},
      {"message", status.message},
  };
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

bool StatusFromJson(std::string_view text, ShimStatus* status, std::string* error) {
  nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) {
    *error = "status is not a JSON object";
    return false;
  }
  try {
    ShimStatus s;
    s.id = j.value("id", "");
    s.shim_pid = j.value("shim_pid", 0);
    s.pid = j.value("pid", 0);
    std::string state = j.value("state", "");
    if (!ParseContainerState(state, &s.state)) {
      *error = "unknown container state \"" + state + "\"";
      return false;
    }
    s.exit_code = j.value("exit_code", 0);
    s.created_at_ns = j.value("created_at_ns", int64_t{0});
    s.started_at_ns = j.value("started_at_ns", int64_t{0});
    s.finished_at_ns = j.value("finished_at_ns", int64_t{0});
    s.oom_killed = j.value("oom_killed", false);
    s.message = j.value("message", "");
    *status = std::move(s);
  } catch (const nlohmann::json::exception& e) {
    *error = std::string("bad status field: ") + e.what();
    return false;
  }
  return true;
}

bool WriteStatusFile(const std::string& state_dir, const ShimStatus& status, std::string* error) {
  const std::string path = state_dir + "/" + kStatusFileName;
  const std::string tmp = path + ".tmp";
  std::string data = StatusToJson(status);
  data.push_back('\n');
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (fd < 0) {
    *error = ErrnoText("open " + tmp);
    return false;
  }
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = write(fd, data.data() + off, data.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      *error = ErrnoText("write " + tmp);
      close(fd);
      unlink(tmp.c_str());
      return false;
    }
    off += static_cast<size_t>(n);
  }
  if (fsync(fd) != 0 || close(fd) != 0) {
    *error = ErrnoText("sync " + tmp);
    unlink(tmp.c_str());
    return false;
  }
  if (rename(tmp.c_str(), path.c_str()) != 0) {
    *error = ErrnoText("rename " + tmp);
    unlink(tmp.c_str());
    return false;
  }
  return true;
}

bool ReadStatusFile(const std::string& state_dir, ShimStatus* status, std::string* error) {
  const std::string path = state_dir + "/" + kStatusFileName;
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    *error = ErrnoText("open " + path);
    return false;
  }
  std::string data;
  char buf[4096];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      *error = ErrnoText("read " + path);
      close(fd);
      return false;
    }
    if (n == 0) break;
    data.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  if (!StatusFromJson(data, status, error)) {
    *error = path + ": " + *error;
    return false;
  }
  return true;
}

}  // namespace flint::shim
