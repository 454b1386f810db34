#include "cri/runtime/flist_mount_logs.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <optional>
#include <string_view>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/fs.h"

namespace flint::runtime {
namespace {

constexpr char kLogName[] = "flist-mount.log";
// Beside each log: how many of its bytes were forwarded, so a restarted flintd forwards what the
// mount wrote while it was down, and only that.
constexpr char kForwardedSuffix[] = ".forwarded";
// flist-mount empties its file at 1 MiB; more than this behind means lines were lost anyway.
constexpr uint64_t kMaxReadBytes = 4 << 20;

// A line as common/log writes it: "<UTC stamp> <level> <file:line> <message>". The stamp is
// dropped (flintd's own line has nearly the same time) unless the line was written before this
// flintd started (`before_start`): then when it happened is news.
ForwardedLine Parse(std::string_view line, const std::string& mount_hex, size_t max_bytes, bool before_start) {
  if (line.size() > max_bytes) line = line.substr(0, max_bytes);
  const std::string prefix = absl::StrCat("flist-mount[", mount_hex.substr(0, 12), "]: ");
  const size_t stamp_end = line.find(' ');
  const size_t level_end = stamp_end == std::string_view::npos ? stamp_end : line.find(' ', stamp_end + 1);
  if (stamp_end >= 20 && line[4] == '-' && line[stamp_end - 1] == 'Z' && level_end != std::string_view::npos) {
    absl::StatusOr<log::Level> level = log::ParseLevel(line.substr(stamp_end + 1, level_end - stamp_end - 1));
    if (level.ok()) {
      const std::string when =
          before_start ? absl::StrCat("[", std::string(line.substr(0, stamp_end)), ", before flintd started] ") : "";
      return {*level, prefix + when + std::string(line.substr(level_end + 1))};
    }
  }
  return {log::Level::kInfo, prefix + (before_start ? "[before flintd started] " : "") + std::string(line)};
}

std::string ForwardedPath(const std::string& log_path) { return log_path + kForwardedSuffix; }

// The forwarded offset recorded beside `log_path`; nothing when none was (its lines were never
// forwarded).
std::optional<uint64_t> ReadForwarded(const std::string& log_path) {
  absl::StatusOr<std::string> text = fs::ReadFile(ForwardedPath(log_path));
  uint64_t offset = 0;
  if (!text.ok() || !absl::SimpleAtoi(absl::StripAsciiWhitespace(*text), &offset)) return std::nullopt;
  return offset;
}

void WriteForwarded(const std::string& log_path, uint64_t offset) {
  const std::string path = ForwardedPath(log_path);
  if (absl::Status s = fs::WriteFileAtomic(path, absl::StrCat(offset, "\n"), 0640); !s.ok()) {
    FLINT_LOG(WARN) << "flist mount logs: " << s.message() << " (after a restart, lines may be forwarded twice)";
  }
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
    if (access(path.c_str(), F_OK) != 0) continue;
    const uint64_t size = FileSize(path);
    const uint64_t forwarded = ReadForwarded(path).value_or(0);
    offsets_[path] = forwarded <= size ? forwarded : 0;  // emptied at its cap while flintd was down
    written_before_start_[path] = size;
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
  std::erase_if(written_before_start_, [this](const auto& entry) { return !offsets_.contains(entry.first); });
  return forwarded;
}

void FlistMountLogForwarder::Finish(const std::string& mount_dir) {
  std::lock_guard lock(mu_);
  const std::string path = FlistMountLogPath(mount_dir);
  uint64_t offset = 0;
  if (auto it = offsets_.find(path); it != offsets_.end()) offset = it->second;
  ForwardLocked(path, std::filesystem::path(mount_dir).filename().string(), offset, /*record=*/false);
  unlink(path.c_str());
  unlink(ForwardedPath(path).c_str());
  offsets_.erase(path);
  written_before_start_.erase(path);
}

size_t FlistMountLogForwarder::ForwardLocked(const std::string& path, const std::string& mount_hex, uint64_t& offset,
                                             bool record) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  struct stat st {};
  if (fstat(fd, &st) != 0) {
    close(fd);
    return 0;
  }
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  const uint64_t start = offset;
  if (size < offset) {  // emptied at its cap since the last poll: all of it is new
    offset = 0;
    written_before_start_.erase(path);
  }
  uint64_t before_start_end = 0;  // lines ending at or before this were written before this flintd
  if (auto it = written_before_start_.find(path); it != written_before_start_.end()) before_start_end = it->second;
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
      options_.sink(Parse(line, mount_hex, options_.max_line_bytes, offset + at <= before_start_end));
      ++forwarded;
    } else {
      ++skipped;
    }
  }
  if (at < data.size() && data.size() - at > options_.max_line_bytes) {  // no newline in sight: cut it here
    options_.sink(Parse(std::string_view(data).substr(at), mount_hex, options_.max_line_bytes,
                        offset + data.size() <= before_start_end));
    ++forwarded;
    at = data.size();
  }
  if (skipped > 0) {
    options_.sink({log::Level::kWarn, absl::StrCat("flist-mount[", mount_hex.substr(0, 12), "]: ", skipped,
                                                   " more lines not forwarded; see ", path)});
  }
  offset += at;
  if (offset >= before_start_end) written_before_start_.erase(path);
  if (record && offset != start) WriteForwarded(path, offset);
  return forwarded;
}

}  // namespace flint::runtime
