#include "shim/cri_log_writer.h"

#include <fcntl.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace flint::shim {
namespace {
LogRecordTap* g_tap = nullptr;
}  // namespace

void CriLogWriter::SetTap(LogRecordTap* tap) { g_tap = tap; }

int64_t RealtimeNowNs() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

std::string FormatRfc3339NanoUtc(int64_t unix_ns) {
  time_t secs = static_cast<time_t>(unix_ns / 1'000'000'000);
  long nanos = static_cast<long>(unix_ns % 1'000'000'000);
  if (nanos < 0) {
    nanos += 1'000'000'000;
    --secs;
  }
  tm utc{};
  gmtime_r(&secs, &utc);
  char buf[48];
  snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%09ldZ", utc.tm_year + 1900, utc.tm_mon + 1,
           utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec, nanos);
  return buf;
}

CriLogWriter::~CriLogWriter() {
  if (fd_ >= 0) close(fd_);
}

bool CriLogWriter::Open(const std::string& path, std::string* error) {
  int fd = open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0640);
  if (fd < 0) {
    *error = "open log " + path + ": " + std::strerror(errno);
    return false;
  }
  if (fd_ >= 0) close(fd_);
  fd_ = fd;
  path_ = path;
  return true;
}

bool CriLogWriter::Reopen(std::string* error) {
  if (fd_ >= 0) {
    close(fd_);
    fd_ = -1;
  }
  return Open(path_, error);
}

void CriLogWriter::Write(LogStream stream, std::string_view data) {
  std::string& pending = pending_[static_cast<int>(stream)];
  while (!data.empty()) {
    size_t newline = data.find('\n');
    std::string_view piece = newline == std::string_view::npos ? data : data.substr(0, newline);
    data.remove_prefix(newline == std::string_view::npos ? data.size() : newline + 1);
    // Keep the buffer bounded: everything beyond one record is emitted as P now.
    // Only strictly-longer content is split so that a line of exactly
    // kMaxRecordBytes stays one F record.
    if (pending.empty()) {
      while (piece.size() > kMaxRecordBytes) {
        EmitRecord(stream, true, piece.substr(0, kMaxRecordBytes));
        piece.remove_prefix(kMaxRecordBytes);
      }
      if (newline != std::string_view::npos) {
        EmitRecord(stream, false, piece);
      } else {
        pending.assign(piece);
      }
      continue;
    }
    pending.append(piece);
    size_t offset = 0;
    while (pending.size() - offset > kMaxRecordBytes) {
      EmitRecord(stream, true, std::string_view(pending).substr(offset, kMaxRecordBytes));
      offset += kMaxRecordBytes;
    }
    pending.erase(0, offset);
    if (newline != std::string_view::npos) {
      EmitRecord(stream, false, pending);
      pending.clear();
    }
  }
}

void CriLogWriter::CloseStream(LogStream stream) {
  std::string& pending = pending_[static_cast<int>(stream)];
  if (!pending.empty()) {
    EmitRecord(stream, false, pending);
    pending.clear();
  }
}

void CriLogWriter::EmitRecord(LogStream stream, bool partial, std::string_view content) {
  if (g_tap != nullptr) g_tap->OnRecord(stream, partial, content);
  if (fd_ < 0) return;
  std::string header = FormatRfc3339NanoUtc(clock_());
  header += stream == LogStream::kStdout ? " stdout " : " stderr ";
  header += partial ? "P " : "F ";
  char newline = '\n';
  iovec iov[3] = {
      {header.data(), header.size()},
      {const_cast<char*>(content.data()), content.size()},
      {&newline, 1},
  };
  // O_APPEND + one writev keeps a record contiguous. Errors (ENOSPC, ...) drop
  // the record: the container must never block on its log.
  ssize_t n;
  do {
    n = writev(fd_, iov, 3);
  } while (n < 0 && errno == EINTR);
}

}  // namespace flint::shim
