// Writes container output in the CRI log format the kubelet reads:
//   <RFC3339Nano UTC> <stdout|stderr> <P|F> <content>\n
// A line longer than kMaxRecordBytes is split into P records ending with an
// F record; an unterminated tail is written as F when its stream closes.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace flint::shim {

enum class LogStream { kStdout = 0, kStderr = 1 };

// Sees every record the log writer emits (the Redis log sink); must never block.
class LogRecordTap {
 public:
  virtual ~LogRecordTap() = default;
  virtual void OnRecord(LogStream stream, bool partial, std::string_view content) = 0;
};

// "2016-10-06T00:17:09.669794202Z"
std::string FormatRfc3339NanoUtc(int64_t unix_ns);
int64_t RealtimeNowNs();

class CriLogWriter {
 public:
  static constexpr size_t kMaxRecordBytes = 16 * 1024;
  using Clock = std::function<int64_t()>;

  explicit CriLogWriter(Clock clock = RealtimeNowNs) : clock_(std::move(clock)) {}
  ~CriLogWriter();
  CriLogWriter(const CriLogWriter&) = delete;
  CriLogWriter& operator=(const CriLogWriter&) = delete;

  // Opens the file for appending, creating it; never follows a symlink.
  bool Open(const std::string& path, std::string* error);
  // Closes the current file and creates a new one at the same path (log rotation).
  bool Reopen(std::string* error);

  void Write(LogStream stream, std::string_view data);
  // End of a stream: the unterminated tail (if any) becomes an F record.
  void CloseStream(LogStream stream);

  const std::string& path() const { return path_; }

  // A shim process holds one container log, so the tap is process-wide (set by main() before
  // the server starts, cleared before it goes away). Records reach the tap even if the file
  // write fails.
  static void SetTap(LogRecordTap* tap);

 private:
  void EmitRecord(LogStream stream, bool partial, std::string_view content);

  Clock clock_;
  std::string path_;
  int fd_ = -1;
  std::string pending_[2];
};

}  // namespace flint::shim
