#include "flist-snapshotter/cache/shared_ledger.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace flint::flist {
namespace {

absl::Status ErrnoError(std::string_view what, const std::string& path) {
  return absl::InternalError(absl::StrCat("cache ledger: ", std::string(what), " ", path, ": ", std::strerror(errno)));
}

// Little-endian u64 at `offset`; a short or empty file (new, written by an
// older version, or torn by a crash) reads as 0.
uint64_t ReadU64(int fd, off_t offset) {
  unsigned char b[8] = {};
  if (pread(fd, b, sizeof b, offset) != static_cast<ssize_t>(sizeof b)) return 0;
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | b[i];
  return v;
}

uint64_t ReadTotal(int fd) { return ReadU64(fd, 0); }

bool WriteState(int fd, uint64_t total, uint64_t updates) {
  unsigned char b[16];
  for (int i = 0; i < 8; ++i) {
    b[i] = static_cast<unsigned char>((total >> (8 * i)) & 0xff);
    b[8 + i] = static_cast<unsigned char>((updates >> (8 * i)) & 0xff);
  }
  return pwrite(fd, b, sizeof b, 0) == static_cast<ssize_t>(sizeof b);
}

class FileLock {
 public:
  explicit FileLock(int fd, int operation = LOCK_EX) : fd_(fd) {
    while ((ok_ = flock(fd_, operation) == 0) == false && errno == EINTR) {
    }
  }
  ~FileLock() {
    if (ok_) flock(fd_, LOCK_UN);
  }
  bool ok() const { return ok_; }

 private:
  int fd_;
  bool ok_ = false;
};

}  // namespace

absl::StatusOr<std::unique_ptr<SharedLedger>> SharedLedger::Open(const std::string& path) {
  const int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return ErrnoError("open", path);
  struct stat st {};
  const bool fresh = fstat(fd, &st) != 0 || st.st_size < 8;
  return std::unique_ptr<SharedLedger>(new SharedLedger(fd, path, fresh));
}

SharedLedger::~SharedLedger() { close(fd_); }

absl::Status SharedLedger::Update(const std::function<void(uint64_t& total)>& fn) {
  return Update([&](uint64_t& total, uint64_t) { fn(total); });
}

absl::Status SharedLedger::Update(const std::function<void(uint64_t& total, uint64_t updates)>& fn) {
  std::lock_guard<std::mutex> guard(mu_);
  FileLock lock(fd_);
  if (!lock.ok()) return ErrnoError("lock", path_);
  uint64_t total = ReadTotal(fd_);
  const uint64_t updates = ReadU64(fd_, 8);
  fn(total, updates);
  // Counted even when the total stays: `fn` may have changed the directory
  // (say, evicted a block while the total was already 0).
  if (!WriteState(fd_, total, updates + 1)) return ErrnoError("write", path_);
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> SharedLedger::ReadFile(const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return uint64_t{0};
    return ErrnoError("open", path);
  }
  absl::StatusOr<uint64_t> total;
  {
    FileLock lock(fd, LOCK_SH);
    total = lock.ok() ? absl::StatusOr<uint64_t>(ReadTotal(fd)) : ErrnoError("lock", path);
  }
  close(fd);
  return total;
}

absl::StatusOr<uint64_t> SharedLedger::Read() {
  auto state = ReadState();
  if (!state.ok()) return state.status();
  return state->total;
}

absl::StatusOr<SharedLedger::State> SharedLedger::ReadState() {
  std::lock_guard<std::mutex> guard(mu_);
  FileLock lock(fd_);
  if (!lock.ok()) return ErrnoError("lock", path_);
  return State{ReadTotal(fd_), ReadU64(fd_, 8)};
}

}  // namespace flint::flist
