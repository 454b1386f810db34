#include "cri/runtime/flist_mount_logs.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <string_view>
#include <vector>

#include "absl/strings/str_cat.h"

namespace flint::runtime {
namespace {

constexpr char kLogName[] = "flist-mount.log";
// flist-mount empties its file at 1 MiB; more than this behind means lines were lost anyway.
constexpr uint64_t kMaxReadBytes = 4 << 20;

// A line as common/log writes it: "<UTC stamp> <level> <file:line> <message>".
ForwardedLine Parse(std::string_view line, const std::string& mount_hex, size_t max_bytes) {
  if (line.size() > max_bytes) line = line.substr(0, max_bytes);
  const std::string prefix = absl::StrCat("flist-mount[", mount_hex.substr(0, 12), "]: ");
  const size_t stamp_end = line.find(' ');
  const size_t level_end = stamp_end == std::string_view::npos ? stamp_end : line.find(' ', stamp_end + 1);
  if (stamp_end >= 20 && line[4] == '-' && line[stamp_end - 1] == 'Z' && level_end != std::string_view::npos) {
    absl::StatusOr<log::Level> level = log::ParseLevel(line.substr(stamp_end + 1, level_end - stamp_end - 1));
    if (level.ok()) return {*level, prefix + std::string(line.substr(level_end + 1))};
  }
  return {log::Level::kInfo, prefix + std::string(line)};
}

void LogLine(const ForwardedLine& line) {
  if (log::Enabled(line.level)) log::Line(line.level, __FILE__, __LINE__) << line.text;
}

uint64_t FileSize(const std::string& path) {
  struct stat st {};
  return stat(path.c_str(), &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
}

}  // namespace

std::string FlistMountLogPath(const std::string& mount_dir) { return absl::StrCat(mount_dir, "/", kLogName); }

FlistMountLogForwarder::FlistMountLogForwarder(Options options) : options_(std::move(options)) {
  if (!options_.sink) options_.sink = LogLine;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(options_.flists_dir, ec)) {
    const std::string path = FlistMountLogPath(entry.path().string());
    if (access(path.c_str(), F_OK) == 0) offsets_[path] = FileSize(path);
  }
}

FlistMountLogForwarder::~FlistMountLogForwarder() {
  {
    std::lock_guard lock(stop_mu_);
    stopping_ = true;
  }
  stop_cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void FlistMountLogForwarder::Start(std::chrono::milliseconds period) {
  thread_ = std::thread([this, period] {
    std::unique_lock lock(stop_mu_);
    while (!stop_cv_.wait_for(lock, period, [this] { return stopping_; })) {
      lock.unlock();
      Poll();
      lock.lock();
    }
  });
}

size_t FlistMountLogForwarder::Poll() {
  std::lock_guard lock(mu_);
  std::map<std::string, uint64_t> present;
  size_t forwarded = 0;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(options_.flists_dir, ec)) {
    const std::string path = FlistMountLogPath(entry.path().string());
    if (access(path.c_str(), F_OK) != 0) continue;
    uint64_t offset = 0;  // a file that appeared since the last poll is read from its start
    if (auto it = offsets_.find(path); it != offsets_.end()) offset = it->second;
    forwarded += ForwardLocked(path, entry.path().filename().string(), offset);
    present[path] = offset;
  }
  offsets_ = std::move(present);
  return forwarded;
}

void FlistMountLogForwarder::Finish(const std::string& mount_dir) {
  std::lock_guard lock(mu_);
  const std::string path = FlistMountLogPath(mount_dir);
  uint64_t offset = 0;
  if (auto it = offsets_.find(path); it != offsets_.end()) offset = it->second;
  ForwardLocked(path, std::filesystem::path(mount_dir).filename().string(), offset);
  unlink(path.c_str());
  offsets_.erase(path);
}

size_t FlistMountLogForwarder::ForwardLocked(const std::string& path, const std::string& mount_hex, uint64_t& offset) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  struct stat st {};
  if (fstat(fd, &st) != 0) {
    close(fd);
    return 0;
  }
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  if (size < offset) offset = 0;  // emptied at its cap: what follows is new
  bool cut_start = false;
  if (size - offset > kMaxReadBytes) {
    offset = size - kMaxReadBytes;
    cut_start = true;
  }
  std::string data(size - offset, '\0');
  size_t got = 0;
  while (got < data.size()) {
    const ssize_t n = pread(fd, data.data() + got, data.size() - got, static_cast<off_t>(offset + got));
    if (n <= 0) break;
    got += static_cast<size_t>(n);
  }
  close(fd);
  data.resize(got);

  size_t at = 0;
  if (cut_start) {  // the first line is a tail
    const size_t newline = data.find('\n');
    at = newline == std::string::npos ? data.size() : newline + 1;
  }
  size_t forwarded = 0;
  size_t skipped = 0;
  for (;;) {
    const size_t newline = data.find('\n', at);
    if (newline == std::string::npos) break;  // a line still being written: next time
    std::string_view line(data.data() + at, newline - at);
    at = newline + 1;
    if (line.empty()) continue;
    if (forwarded < options_.max_lines_per_file) {
      options_.sink(Parse(line, mount_hex, options_.max_line_bytes));
      ++forwarded;
    } else {
      ++skipped;
    }
  }
  if (at < data.size() && data.size() - at > options_.max_line_bytes) {  // no newline in sight: cut it here
    options_.sink(Parse(std::string_view(data).substr(at), mount_hex, options_.max_line_bytes));
    ++forwarded;
    at = data.size();
  }
  if (skipped > 0) {
    options_.sink({log::Level::kWarn, absl::StrCat("flist-mount[", mount_hex.substr(0, 12), "]: ", skipped,
                                                   " more lines not forwarded; see ", path)});
  }
  offset += at;
  return forwarded;
}

}  // namespace flint::runtime
