#include "flist-snapshotter/cache/block_cache.h"

#include <dirent.h>
#include <signal.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "flist-snapshotter/block/blake2b.h"
#include "flist-snapshotter/cache/segment_format.h"
#include "flist-snapshotter/util/absl_compat.h"

namespace flint::flist {
namespace {

using segment_format::kMaxIdBytes;
using segment_format::kSegmentsDir;
using segment_format::kSegmentSuffix;
using segment_format::SegmentFile;
using segment_format::FileUsedNanos;
using segment_format::ListSegments;
using segment_format::ParsePointerTarget;
using segment_format::PointerTarget;
using segment_format::PreadAll;
constexpr char kLegacyTempPrefix[] = ".tmp-";  // the per-block layout's writes in progress

absl::Status ErrnoStatus(std::string_view what, const std::string& path) {
  return absl::InternalError(absl::StrCat(std::string(what), " ", path, ": ", std::strerror(errno)));
}

bool PwriteAll(int fd, std::string_view header, std::string_view plain, uint64_t offset) {
  size_t done = 0;
  const size_t total = header.size() + plain.size();
  while (done < total) {
    struct iovec iov[2];
    int n_iov = 0;
    if (done < header.size()) {
      iov[n_iov++] = {const_cast<char*>(header.data() + done), header.size() - done};
      iov[n_iov++] = {const_cast<char*>(plain.data()), plain.size()};
    } else {
      const size_t in_plain = done - header.size();
      iov[n_iov++] = {const_cast<char*>(plain.data() + in_plain), plain.size() - in_plain};
    }
    ssize_t n = pwritev(fd, iov, n_iov, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

bool IsHexName(const char* name) {
  for (const char* p = name; *p; ++p) {
    if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f'))) return false;
  }
  return name[0] != '\0';
}

int64_t NowNanos() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// A legacy temp file is another process's write in progress when its pid
// (".tmp-<hex>-<pid>-<n>") is alive and it is recent; anything else was left by a crash.
bool IsLiveTempFile(const char* name, const struct stat& st) {
  const char* dash = std::strrchr(name, '-');
  if (dash == nullptr || dash == name) return false;
  const char* pid_end = dash;
  const char* pid_start = pid_end;
  while (pid_start > name && pid_start[-1] >= '0' && pid_start[-1] <= '9') --pid_start;
  if (pid_start == pid_end || pid_start[-1] != '-') return false;
  const pid_t pid = static_cast<pid_t>(std::strtol(pid_start, nullptr, 10));
  if (pid <= 0 || (kill(pid, 0) != 0 && errno == ESRCH)) return false;
  return std::time(nullptr) - st.st_mtime < 600;
}

// The pointer's text, or "" when there is no pointer (or it is not a symlink).
std::string ReadPointer(const std::string& path, bool* is_other_file = nullptr) {
  char buf[512];
  const ssize_t n = readlink(path.c_str(), buf, sizeof(buf));
  if (is_other_file != nullptr) *is_other_file = n < 0 && errno == EINVAL;
  if (n <= 0 || static_cast<size_t>(n) >= sizeof(buf)) return "";
  return std::string(buf, static_cast<size_t>(n));
}

void AtomicMax(std::atomic<uint64_t>& target, uint64_t value) {
  uint64_t cur = target.load();
  while (value > cur && !target.compare_exchange_weak(cur, value)) {
  }
}

}  // namespace

absl::StatusOr<std::unique_ptr<BlockCache>> BlockCache::Open(BlockCacheOptions options) {
  if (options.dir.empty()) return absl::InvalidArgumentError("block cache: no directory given");
  std::error_code ec;
  std::filesystem::create_directories(options.dir, ec);
  if (ec) return absl::InternalError(absl::StrCat("block cache: create ", options.dir, ": ", ec.message()));
  std::unique_ptr<BlockCache> cache(new BlockCache(std::move(options)));
  auto ledger = SharedLedger::Open(cache->options_.dir + "/.ledger");
  if (!ledger.ok()) return ledger.status();
  cache->ledger_ = *std::move(ledger);
  if (access(cache->options_.dir.c_str(), R_OK | X_OK) != 0) {
    return ErrnoStatus("block cache: open", cache->options_.dir);
  }
  const std::string segments = absl::StrCat(cache->options_.dir, "/", kSegmentsDir);
  // No segments directory: a new cache, or one in the per-block layout of
  // earlier versions, whose files Scan removes and whose total it recounts.
  const bool new_layout = access(segments.c_str(), F_OK) != 0;
  if (new_layout && mkdir(segments.c_str(), 0700) != 0 && errno != EEXIST) {
    return ErrnoStatus("block cache: mkdir", segments);
  }
  if (cache->ledger_->fresh() || new_layout) {
    if (auto s = cache->Scan(); !s.ok()) return s;
  } else {
    BlockCache* self = cache.get();
    cache->indexer_ = std::thread([self] { self->IndexExisting(); });
  }
  BlockCache* self = cache.get();
  cache->sweeper_ = std::thread([self] {
    std::unique_lock<std::mutex> lock(self->fds_mu_);
    while (!self->sweeper_cv_.wait_for(lock, std::chrono::seconds(2), [self] { return self->stopping_; })) {
      lock.unlock();
      self->SweepKeptSegments();
      lock.lock();
    }
  });
  return cache;
}

BlockCache::~BlockCache() {
  WaitForIndex();
  CloseWritableSegment();
  {
    std::lock_guard<std::mutex> lock(fds_mu_);
    stopping_ = true;
  }
  sweeper_cv_.notify_all();
  if (sweeper_.joinable()) sweeper_.join();
  for (const auto& [name, kept] : segment_fds_) close(kept.fd);
}

void BlockCache::SweepKeptSegments() {
  {
    // The segment being filled, when another process evicted it.
    std::lock_guard<std::mutex> lock(writer_mu_);
    struct stat st {};
    if (writer_fd_ >= 0 && fstat(writer_fd_, &st) == 0 && st.st_nlink == 0) {
      close(writer_fd_);
      writer_fd_ = -1;
      writer_segment_.clear();
    }
  }
  const auto now = std::chrono::steady_clock::now();
  std::lock_guard<std::mutex> lock(fds_mu_);
  std::erase_if(segment_fds_, [&](const auto& entry) {
    struct stat st {};
    if (now - entry.second.used < std::chrono::seconds(10) && fstat(entry.second.fd, &st) == 0 && st.st_nlink > 0) {
      return false;
    }
    close(entry.second.fd);
    return true;
  });
}

int BlockCache::OpenSegment(const std::string& segment) {
  {
    std::lock_guard<std::mutex> lock(fds_mu_);
    if (auto it = segment_fds_.find(segment); it != segment_fds_.end()) {
      it->second.used = std::chrono::steady_clock::now();
      return fcntl(it->second.fd, F_DUPFD_CLOEXEC, 0);
    }
  }
  const int fd = open(SegmentPath(segment).c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  std::lock_guard<std::mutex> lock(fds_mu_);
  if (segment_fds_.contains(segment)) return fd;  // another thread opened it meanwhile
  if (segment_fds_.size() >= kOpenSegmentsKept) {
    // Segments evicted by other processes first; else any.
    std::erase_if(segment_fds_, [](const auto& entry) {
      struct stat st {};
      if (fstat(entry.second.fd, &st) == 0 && st.st_nlink > 0) return false;
      close(entry.second.fd);
      return true;
    });
    if (segment_fds_.size() >= kOpenSegmentsKept) {
      auto oldest = std::min_element(segment_fds_.begin(), segment_fds_.end(),
                                     [](const auto& a, const auto& b) { return a.second.used < b.second.used; });
      close(oldest->second.fd);
      segment_fds_.erase(oldest);
    }
  }
  const int kept = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (kept >= 0) segment_fds_.emplace(segment, KeptSegment{kept, std::chrono::steady_clock::now()});
  return fd;
}

void BlockCache::ForgetSegment(const std::string& segment) {
  std::lock_guard<std::mutex> lock(fds_mu_);
  if (auto it = segment_fds_.find(segment); it != segment_fds_.end()) {
    close(it->second.fd);
    segment_fds_.erase(it);
  }
}

void BlockCache::WaitForIndex() {
  if (indexer_.joinable()) indexer_.join();
}

std::string BlockCache::SegmentPath(const std::string& segment) const {
  return absl::StrCat(options_.dir, "/", kSegmentsDir, "/", segment);
}

uint64_t BlockCache::EffectiveSegmentBytes() const {
  uint64_t bytes = std::max<uint64_t>(options_.segment_bytes, 1);
  if (options_.max_bytes > 0) bytes = std::min(bytes, std::max<uint64_t>(options_.max_bytes / 8, 1));
  return bytes;
}

void BlockCache::SweepPointers(const std::vector<std::string>& segments_sorted) {
  int64_t pointers = 0;
  DIR* top = opendir(options_.dir.c_str());
  if (top == nullptr) return;
  while (dirent* d = readdir(top)) {
    if (std::strlen(d->d_name) != 2 || !IsHexName(d->d_name)) continue;
    const std::string sub = absl::StrCat(options_.dir, "/", d->d_name);
    DIR* dir = opendir(sub.c_str());
    if (dir == nullptr) continue;
    while (dirent* f = readdir(dir)) {
      const std::string path = absl::StrCat(sub, "/", f->d_name);
      if (std::strncmp(f->d_name, kLegacyTempPrefix, std::strlen(kLegacyTempPrefix)) == 0) {
        struct stat st {};
        if (lstat(path.c_str(), &st) == 0 && !IsLiveTempFile(f->d_name, st)) unlink(path.c_str());
        continue;
      }
      if (!IsHexName(f->d_name)) continue;
      bool other_file = false;
      const std::string target = ReadPointer(path, &other_file);
      if (other_file) {
        unlink(path.c_str());  // a block file of the per-block layout: not counted in segments
        continue;
      }
      std::string segment;
      uint64_t offset = 0;
      if (target.empty() || !ParsePointerTarget(target, &segment, &offset)) {
        if (!target.empty()) DropPointer(path, target);
        continue;
      }
      if (!std::binary_search(segments_sorted.begin(), segments_sorted.end(), segment) &&
          access(SegmentPath(segment).c_str(), F_OK) != 0 && errno == ENOENT) {
        DropPointer(path, target);  // its segment was evicted by a process that died meanwhile
        continue;
      }
      ++pointers;
    }
    closedir(dir);
  }
  closedir(top);
  blocks_ = pointers;
}

void BlockCache::IndexExisting() {
  const absl::StatusOr<SharedLedger::State> before = ledger_->ReadState();
  const std::vector<SegmentFile> files = ListSegments(options_.dir);
  uint64_t counted = 0;
  std::vector<std::string> names;
  for (const SegmentFile& f : files) {
    counted += f.bytes;
    names.push_back(f.name);
  }
  std::sort(names.begin(), names.end());
  {
    std::lock_guard<std::mutex> lock(mu_);
    // What this process stored or hit meanwhile is known, and newer.
    for (const SegmentFile& f : files) {
      if (!lru_.Contains(f.name)) lru_.Insert(f.name, f.bytes, f.used);
    }
  }
  SweepPointers(names);
  absl::Status s = ledger_->Update([&](uint64_t& total, uint64_t updates) {
    // Every store and eviction (of any process) updates the ledger under its
    // lock. With none since the listing, it counted exactly what the total
    // must be, so it corrects a total left wrong by a process killed between
    // changing the directory and writing the total. With some, the listing may
    // have missed them: the total stays until a later count.
    if (before.ok() && updates == before->updates && total != counted) {
      FLINT_LOG(WARN) << "block cache: the ledger of " << options_.dir << " said " << total
                      << " bytes, its segments take " << counted << "; corrected";
      total = counted;
    }
    EvictLocked(total, "");
  });
  if (!s.ok()) FLINT_LOG(WARN) << "block cache: " << s.message();
}

absl::Status BlockCache::Scan() {
  // Under the ledger lock, so no other process stores or evicts mid-count.
  return ledger_->Update([&](uint64_t& total) {
    total = 0;
    const std::vector<SegmentFile> files = ListSegments(options_.dir);
    std::vector<std::string> names;
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (const SegmentFile& f : files) {
        lru_.Insert(f.name, f.bytes, f.used);
        total += f.bytes;
        names.push_back(f.name);
      }
    }
    std::sort(names.begin(), names.end());
    SweepPointers(names);
    EvictLocked(total, "");
  });
}

void BlockCache::DropPointer(const std::string& pointer, const std::string& target) {
  // Another process may have stored the block again since: only our target goes.
  if (ReadPointer(pointer) == target && unlink(pointer.c_str()) == 0) --blocks_;
}

bool BlockCache::RemoveSegmentLocked(const std::string& segment, uint64_t& total) {
  const std::string path = SegmentPath(segment);
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;  // another process evicted (and uncounted) it
  struct stat st {};
  if (fstat(fd, &st) != 0) {
    close(fd);
    return false;
  }
  // Pointers first: a reader then misses (and refetches) instead of finding a
  // pointer to a segment that is gone.
  uint64_t offset = 0;
  segment_format::RecordHeader header;
  std::string why;
  while (offset < static_cast<uint64_t>(st.st_size) && segment_format::ReadRecordHeader(fd, offset, &header, &why)) {
    DropPointer(PathFor(header.id), PointerTarget(segment, offset));
    offset += header.header_bytes + header.plain_length;
  }
  close(fd);
  ForgetSegment(segment);
  if (unlink(path.c_str()) != 0) return false;
  total -= std::min(total, static_cast<uint64_t>(st.st_size));
  ++evictions_;
  return true;
}

void BlockCache::EvictLocked(uint64_t& total, const std::string& keep) {
  if (options_.max_bytes == 0 || total <= options_.max_bytes) return;
  std::string name;
  uint64_t bytes = 0;
  int64_t used = 0;
  // Other processes' hits show only in the segment's times (NoteHit), not in
  // this process's order: a segment used since this process last saw it goes
  // back in line at that time instead of being evicted. Stat-ing here, not on
  // every hit, keeps that cost off the read path. The requeues are bounded so
  // that this ends even while other processes keep touching segments.
  size_t requeues_left = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    requeues_left = lru_.size();
  }
  while (total > options_.max_bytes) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!lru_.PopOldest(keep, &name, &bytes, &used)) break;
    }
    struct stat st {};
    if (stat(SegmentPath(name).c_str(), &st) != 0) continue;  // evicted elsewhere
    if (requeues_left > 0 && FileUsedNanos(st) > used) {
      --requeues_left;
      std::lock_guard<std::mutex> lock(mu_);
      // Else a hit meanwhile put it back, newer.
      if (!lru_.Contains(name)) lru_.Insert(name, static_cast<uint64_t>(st.st_size), FileUsedNanos(st));
      continue;
    }
    RemoveSegmentLocked(name, total);
  }
  if (total <= options_.max_bytes) return;
  // The rest belongs to other processes (written after we listed): go by the disk.
  const std::vector<SegmentFile> files = ListSegments(options_.dir);
  total = 0;
  for (const SegmentFile& f : files) total += f.bytes;
  for (const SegmentFile& f : files) {
    if (total <= options_.max_bytes) break;
    if (f.name == keep) continue;
    {
      std::lock_guard<std::mutex> lock(mu_);
      lru_.Erase(f.name);
    }
    RemoveSegmentLocked(f.name, total);
  }
}

std::string BlockCache::PathFor(std::string_view id) const {
  const std::string hex = HexEncode(id);
  return absl::StrCat(options_.dir, "/", hex.substr(0, 2), "/", hex);
}

bool BlockCache::Contains(std::string_view id) const {
  struct stat st {};
  return lstat(PathFor(id).c_str(), &st) == 0 && S_ISLNK(st.st_mode);
}

absl::Status BlockCache::OpenChecked(const BlockRef& ref, OpenRecord* rec) {
  rec->hex = HexEncode(ref.id);
  rec->pointer = absl::StrCat(options_.dir, "/", rec->hex.substr(0, 2), "/", rec->hex);
  const std::string& hex = rec->hex;
  const std::string& pointer = rec->pointer;
  auto not_cached = [&] { return absl::NotFoundError(absl::StrCat("block ", hex, " not cached")); };
  bool other_file = false;
  rec->target = ReadPointer(pointer, &other_file);
  if (other_file) {
    unlink(pointer.c_str());  // a block file of the per-block layout (an older process)
    return not_cached();
  }
  if (rec->target.empty()) return not_cached();
  auto discard = [&](std::string_view why) -> absl::Status {
    FLINT_LOG(WARN) << "block cache: dropping " << pointer << " -> " << rec->target << ": " << why;
    if (rec->fd >= 0) close(rec->fd);
    rec->fd = -1;
    DropPointer(pointer, rec->target);
    return absl::NotFoundError(absl::StrCat("block ", hex, " cache entry is bad: ", Av(why)));
  };
  if (!ParsePointerTarget(rec->target, &rec->segment, &rec->record_offset)) return discard("unreadable pointer");
  rec->fd = OpenSegment(rec->segment);
  if (rec->fd < 0) {
    if (errno != ENOENT) return not_cached();
    DropPointer(pointer, rec->target);  // the segment was evicted
    return not_cached();
  }
  segment_format::RecordHeader header;
  std::string why;
  if (fstat(rec->fd, &rec->st) != 0) return discard(std::strerror(errno));
  // Removed since this process opened it (a descriptor kept by OpenSegment):
  // as gone as a segment that cannot be opened, and no longer kept on disk by us.
  if (rec->st.st_nlink == 0) {
    ForgetSegment(rec->segment);
    close(rec->fd);
    rec->fd = -1;
    DropPointer(pointer, rec->target);
    return not_cached();
  }
  if (!segment_format::ReadRecordHeader(rec->fd, rec->record_offset, &header, &why)) return discard(why);
  if (header.id != ref.id) return discard("the record is of another block");
  rec->length = header.plain_length;
  rec->plain_offset = rec->record_offset + header.header_bytes;
  if (rec->length > static_cast<uint64_t>(rec->st.st_size) ||
      rec->plain_offset > static_cast<uint64_t>(rec->st.st_size) - rec->length) {
    return discard("record cut short");
  }
  // A different key for the same id means the caller cannot decrypt the
  // block; it must not get the plaintext from us either.
  if (header.key_digest != segment_format::KeyDigest(ref.key)) {
    close(rec->fd);
    rec->fd = -1;
    return absl::NotFoundError(absl::StrCat("block ", hex, " cached under another key"));
  }
  return absl::OkStatus();
}

absl::StatusOr<BlockCache::Location> BlockCache::Locate(const BlockRef& ref) {
  OpenRecord rec;
  if (absl::Status s = OpenChecked(ref, &rec); !s.ok()) return s;
  close(rec.fd);
  return Location{SegmentPath(rec.segment), rec.record_offset, rec.plain_offset, rec.length};
}

void BlockCache::NoteHit(const OpenRecord& rec) {
  // Recency for the other processes' eviction scans; at most once a minute per segment.
  if (std::time(nullptr) - rec.st.st_mtime > 60) {
    const struct timespec times[2] = {{0, UTIME_OMIT}, {0, UTIME_NOW}};
    futimens(rec.fd, times);
  }
  const int64_t now = NowNanos();
  std::lock_guard<std::mutex> lock(mu_);
  // A segment another process wrote joins this process's order.
  if (!lru_.Touch(rec.segment, now)) lru_.Insert(rec.segment, static_cast<uint64_t>(rec.st.st_size), now);
}

absl::StatusOr<size_t> BlockCache::ReadCached(const BlockRef& ref, uint64_t offset, char* out, size_t len,
                                              std::string* whole) {
  OpenRecord rec;
  if (absl::Status s = OpenChecked(ref, &rec); !s.ok()) return s;
  struct Closer {
    int fd;
    ~Closer() { close(fd); }
  } closer{rec.fd};
  auto discard = [&](std::string_view why) -> absl::Status {
    FLINT_LOG(WARN) << "block cache: dropping " << rec.pointer << " -> " << rec.target << ": " << why;
    DropPointer(rec.pointer, rec.target);
    return absl::NotFoundError(absl::StrCat("block ", rec.hex, " cache entry is bad: ", Av(why)));
  };

  const uint64_t length = rec.length;
  size_t copied = 0;
  if (whole != nullptr || options_.verify_hits) {
    std::string plain(length, '\0');
    if (!PreadAll(rec.fd, plain.data(), length, rec.plain_offset)) return discard("short read");
    if (options_.verify_hits && Blake2bDigest(plain, ref.key.size()) != ref.key) {
      return discard("plaintext does not match its key");
    }
    if (whole != nullptr) {
      *whole = std::move(plain);
      copied = whole->size();
    } else if (offset < length) {
      copied = std::min<uint64_t>(len, length - offset);
      std::memcpy(out, plain.data() + offset, copied);
    }
  } else if (offset < length) {
    copied = std::min<uint64_t>(len, length - offset);
    if (!PreadAll(rec.fd, out, copied, rec.plain_offset + offset)) return discard("short read");
  }
  NoteHit(rec);
  return copied;
}

absl::StatusOr<BlockCache::FileRange> BlockCache::OpenCachedRange(const BlockRef& ref, uint64_t offset,
                                                                  size_t len) {
  // verify_hits needs the whole plaintext in memory anyway.
  if (options_.verify_hits) return absl::NotFoundError("verify_hits: no file ranges");
  OpenRecord rec;
  if (absl::Status s = OpenChecked(ref, &rec); !s.ok()) return s;
  NoteHit(rec);
  ++hits_;
  FileRange range;
  range.fd = rec.fd;
  range.file_offset = rec.plain_offset + offset;
  range.len = offset < rec.length ? static_cast<size_t>(std::min<uint64_t>(len, rec.length - offset)) : 0;
  return range;
}

void BlockCache::CloseWritableSegment() {
  std::lock_guard<std::mutex> lock(writer_mu_);
  if (writer_fd_ >= 0) close(writer_fd_);
  writer_fd_ = -1;
  writer_segment_.clear();
  writer_size_ = 0;
}

absl::Status BlockCache::EnsureWritableSegmentLocked(uint64_t record_bytes) {
  if (writer_fd_ >= 0) {
    struct stat st {};
    // Full, or evicted by another process (it had the ledger lock, as we do now).
    const bool evicted = fstat(writer_fd_, &st) != 0 || st.st_nlink == 0;
    if (evicted || (writer_size_ > 0 && writer_size_ + record_bytes > EffectiveSegmentBytes())) {
      close(writer_fd_);
      writer_fd_ = -1;
      writer_segment_.clear();
    }
  }
  if (writer_fd_ >= 0) return absl::OkStatus();
  const std::string name = absl::StrCat(getpid(), "-", NowNanos(), "-", segments_started_++, kSegmentSuffix);
  const std::string path = SegmentPath(name);
  const int fd = open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    if (errno == ENOENT) {
      // The segments directory was removed under us (a wiped cache): make it again.
      mkdir(absl::StrCat(options_.dir, "/", kSegmentsDir).c_str(), 0700);
    }
    return ErrnoStatus("create", path);
  }
  writer_fd_ = fd;
  writer_segment_ = name;
  writer_size_ = 0;
  return absl::OkStatus();
}

absl::Status BlockCache::Store(const BlockRef& ref, const std::string& plain) {
  const std::string hex = HexEncode(ref.id);
  if (ref.id.empty() || ref.id.size() > kMaxIdBytes) {
    return absl::InvalidArgumentError(absl::StrCat("block id of ", ref.id.size(), " bytes cannot be cached"));
  }
  const std::string sub = absl::StrCat(options_.dir, "/", hex.substr(0, 2));
  if (mkdir(sub.c_str(), 0700) != 0 && errno != EEXIST) return ErrnoStatus("mkdir", sub);
  const std::string pointer = absl::StrCat(sub, "/", hex);
  const std::string header = segment_format::EncodeRecordHeader(ref.id, ref.key, plain.size());
  const uint64_t record_bytes = header.size() + plain.size();
  absl::Status stored = absl::OkStatus();
  // Appending and linking under the ledger lock keeps every record either
  // counted or not yet visible to another process's recount, and lets a
  // writer tell that its segment was evicted (by a process holding the lock).
  absl::Status ledger = ledger_->Update([&](uint64_t& total) {
    struct stat st {};
    if (lstat(pointer.c_str(), &st) == 0) return;  // another process stored it meanwhile
    std::string segment;
    uint64_t offset = 0;
    {
      std::lock_guard<std::mutex> lock(writer_mu_);
      if (stored = EnsureWritableSegmentLocked(record_bytes); !stored.ok()) return;
      segment = writer_segment_;
      offset = writer_size_;
      bool ok = PwriteAll(writer_fd_, header, plain, offset);
      if (ok && options_.fsync_writes) ok = fdatasync(writer_fd_) == 0;
      if (!ok) {
        stored = ErrnoStatus("write", SegmentPath(segment));
        // The partial record goes (on a full disk, its space is what is short), and
        // so does a segment left empty; the segment is not appended to again.
        if (offset == 0) {
          unlink(SegmentPath(segment).c_str());
        } else if (struct stat now {}; ftruncate(writer_fd_, static_cast<off_t>(offset)) != 0 &&
                                      fstat(writer_fd_, &now) == 0 && static_cast<uint64_t>(now.st_size) > offset) {
          total += static_cast<uint64_t>(now.st_size) - offset;  // it stays: count it
        }
        close(writer_fd_);
        writer_fd_ = -1;
        writer_segment_.clear();
        return;
      }
      writer_size_ = offset + record_bytes;
      if (writer_size_ >= EffectiveSegmentBytes()) {  // full: not held open until the next store
        close(writer_fd_);
        writer_fd_ = -1;
        writer_segment_.clear();
      }
    }
    total += record_bytes;
    if (symlink(PointerTarget(segment, offset).c_str(), pointer.c_str()) != 0) {
      stored = ErrnoStatus("symlink", pointer);  // the record's bytes stay counted with its segment
    } else {
      ++blocks_;
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      lru_.Insert(segment, offset + record_bytes, NowNanos());
    }
    EvictLocked(total, segment);
  });
  if (!stored.ok()) return stored;
  return ledger;
}

absl::StatusOr<std::shared_ptr<const std::string>> BlockCache::FetchNow(const BlockRef& ref,
                                                                        BlockFormat format,
                                                                        BlockStore& store,
                                                                        bool* already_cached) {
  // A fetch that finished between our miss and taking the lead has stored it.
  std::string plain;
  if (ReadCached(ref, 0, nullptr, 0, &plain).ok()) {
    *already_cached = true;
    return std::make_shared<const std::string>(std::move(plain));
  }

  const std::string hex = HexEncode(ref.id);
  const auto start = std::chrono::steady_clock::now();
  auto data = store.Get(ref.id);
  ++fetches_;
  if (!data.ok()) {
    ++fetch_errors_;
    return absl::Status(data.status().code(), absl::StrCat("block ", hex, ": fetch from ", store.Describe(),
                                                           ": ", data.status().message()));
  }
  bytes_fetched_ += data->size();
  auto decoded = DecodeBlockContent(format, ref.id, ref.key, *std::move(data));
  const auto micros = static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - start).count());
  fetch_micros_total_ += micros;
  AtomicMax(fetch_micros_max_, micros);
  // Racing updates may drop a sample; this only steers prefetch depth.
  const uint64_t recent = fetch_micros_recent_.load(std::memory_order_relaxed);
  const uint64_t sample = std::max<uint64_t>(micros, 1);
  fetch_micros_recent_.store(recent == 0 ? sample : (3 * recent + sample) / 4, std::memory_order_relaxed);
  int bucket = 0;
  while (bucket < kFetchLatencyBuckets && micros > (kFetchBucketFirstMicros << bucket)) ++bucket;
  ++fetch_latency_buckets_[bucket];
  if (!decoded.ok()) {
    ++fetch_errors_;
    return absl::DataLossError(absl::StrCat("block ", hex, " from ", store.Describe(), ": ",
                                            decoded.status().message()));
  }
  return std::make_shared<const std::string>(*std::move(decoded));
}

void BlockCache::StoreFetched(const BlockRef& ref, const std::string& plain) {
  if (auto s = Store(ref, plain); !s.ok()) {
    ++write_errors_;
    if (uint64_t held_back = 0;
        write_error_log_.Allow(absl::StatusCodeToString(s.code()), RepeatLimiter::Clock::now(), &held_back)) {
      FLINT_LOG(WARN) << "block cache: cannot store block " << HexEncode(ref.id) << " (it is served, not kept): "
                      << s.message()
                      << (held_back > 0 ? absl::StrCat(" (", held_back, " more blocks not stored since the last message)")
                                        : "");
    }
  }
}

absl::StatusOr<std::shared_ptr<const std::string>> BlockCache::Fetch(const BlockRef& ref, BlockFormat format,
                                                                     BlockStore& store) {
  const std::string flight_key = ref.id + ref.key;
  std::shared_ptr<Flight> flight;
  bool leader = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (auto failed = slow_failures_.find(flight_key); failed != slow_failures_.end()) {
      if (std::chrono::steady_clock::now() - failed->second.at < options_.slow_failure_memory) {
        ++slow_failures_repeated_;
        return failed->second.status;
      }
      slow_failures_.erase(failed);
    }
    auto [it, inserted] = flights_.try_emplace(flight_key);
    if (inserted) it->second = std::make_shared<Flight>();
    flight = it->second;
    leader = inserted;
  }
  if (!leader) {
    ++coalesced_;
    std::unique_lock<std::mutex> lock(flight->mu);
    flight->done_cv.wait(lock, [&] { return flight->done; });
    if (!flight->status.ok()) return flight->status;
    return flight->plain;
  }

  bool already_cached = false;
  auto result = FetchNow(ref, format, store, &already_cached);
  // Waiters get the block before it is written to disk: on a busy node the
  // write can take longer than the fetch. The flight stays registered until
  // the file is in place, so a reader arriving meanwhile joins it (and gets
  // the block at once) instead of fetching it again.
  {
    std::lock_guard<std::mutex> lock(flight->mu);
    flight->done = true;
    if (result.ok()) {
      flight->plain = *result;
    } else {
      flight->status = result.status();
    }
  }
  flight->done_cv.notify_all();
  if (result.ok() && !already_cached) StoreFetched(ref, **result);
  {
    std::lock_guard<std::mutex> lock(mu_);
    flights_.erase(flight_key);
    if (absl::IsDeadlineExceeded(result.status()) && options_.slow_failure_memory.count() > 0) {
      const auto now = std::chrono::steady_clock::now();
      if (slow_failures_.size() >= 1024) {  // a store down for long: forget the old ones
        std::erase_if(slow_failures_, [&](const auto& f) { return now - f.second.at >= options_.slow_failure_memory; });
      }
      slow_failures_[flight_key] = SlowFailure{result.status(), now};
    }
  }
  return result;
}

absl::StatusOr<std::string> BlockCache::GetBlock(const BlockRef& ref, BlockFormat format, BlockStore& store) {
  std::string plain;
  if (ReadCached(ref, 0, nullptr, 0, &plain).ok()) {
    ++hits_;
    return plain;
  }
  ++misses_;
  auto fetched = Fetch(ref, format, store);
  if (!fetched.ok()) return fetched.status();
  return std::string(**fetched);
}

absl::StatusOr<size_t> BlockCache::ReadBlock(const BlockRef& ref, BlockFormat format, BlockStore& store,
                                             uint64_t offset, char* out, size_t len) {
  if (auto n = ReadCached(ref, offset, out, len, nullptr); n.ok()) {
    ++hits_;
    return *n;
  }
  ++misses_;
  auto fetched = Fetch(ref, format, store);
  if (!fetched.ok()) return fetched.status();
  const std::string& plain = **fetched;
  if (offset >= plain.size()) return size_t{0};
  const size_t n = std::min<uint64_t>(len, plain.size() - offset);
  std::memcpy(out, plain.data() + offset, n);
  return n;
}

absl::Status BlockCache::Prefetch(const BlockRef& ref, BlockFormat format, BlockStore& store) {
  if (Contains(ref.id)) return absl::OkStatus();
  ++misses_;
  auto fetched = Fetch(ref, format, store);
  return fetched.status();
}

BlockCacheStats BlockCache::stats() const {
  BlockCacheStats s;
  s.hits = hits_;
  s.misses = misses_;
  s.coalesced = coalesced_;
  s.fetches = fetches_;
  s.fetch_errors = fetch_errors_;
  s.bytes_fetched = bytes_fetched_;
  s.fetch_micros_total = fetch_micros_total_;
  s.fetch_micros_max = fetch_micros_max_;
  s.evictions = evictions_;
  s.write_errors = write_errors_;
  s.slow_failures_repeated = slow_failures_repeated_;
  for (size_t i = 0; i < s.fetch_latency_buckets.size(); ++i) s.fetch_latency_buckets[i] = fetch_latency_buckets_[i];
  if (auto total = ledger_->Read(); total.ok()) s.shared_bytes = *total;
  std::lock_guard<std::mutex> lock(mu_);
  s.cached_blocks = static_cast<uint64_t>(std::max<int64_t>(blocks_.load(), 0));
  s.cached_bytes = lru_.bytes();
  return s;
}

std::string BlockCacheStatsJson(const BlockCacheStats& s) {
  std::string buckets;
  for (uint64_t count : s.fetch_latency_buckets) absl::StrAppend(&buckets, buckets.empty() ? "" : ",", count);
  return absl::StrCat("{\"hits\":", s.hits, ",\"misses\":", s.misses, ",\"fetches\":", s.fetches,
                      ",\"fetch_errors\":", s.fetch_errors, ",\"write_errors\":", s.write_errors,
                      ",\"bytes_fetched\":", s.bytes_fetched,
                      ",\"fetch_micros_total\":", s.fetch_micros_total, ",\"fetch_bucket_first_micros\":",
                      kFetchBucketFirstMicros, ",\"fetch_latency_buckets\":[", buckets, "]}");
}

}  // namespace flint::flist
