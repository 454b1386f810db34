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
#include "flist-snapshotter/util/absl_compat.h"

namespace flint::flist {
namespace {

constexpr char kMagic[8] = {'F', 'L', 'B', 'C', 'A', 'C', 'H', '1'};
constexpr size_t kHeaderSize = 48;  // magic, u64 LE plaintext length, blake2b-256(key)
constexpr char kTempPrefix[] = ".tmp-";

std::string KeyDigest(std::string_view key) { return Blake2bDigest(key, 32); }

std::string MakeHeader(std::string_view key, uint64_t length) {
  std::string h(kMagic, sizeof(kMagic));
  for (int i = 0; i < 8; ++i) h.push_back(static_cast<char>((length >> (8 * i)) & 0xff));
  h += KeyDigest(key);
  return h;
}

uint64_t DecodeLength(const char* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}

absl::Status ErrnoStatus(std::string_view what, const std::string& path) {
  return absl::InternalError(absl::StrCat(std::string(what), " ", path, ": ", std::strerror(errno)));
}

bool PreadAll(int fd, char* buf, size_t len, uint64_t offset) {
  size_t done = 0;
  while (done < len) {
    ssize_t n = pread(fd, buf + done, len - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

bool WriteAll(int fd, std::string_view data) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return false;
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

struct CachedFile {
  std::string name;  // hex id
  uint64_t bytes;
  int64_t used;  // FileUsed
};

int64_t Nanos(const struct timespec& t) { return int64_t{t.tv_sec} * 1'000'000'000 + t.tv_nsec; }

// When a block file was last used as far as its times tell (see NoteHit), in
// nanoseconds since the epoch, like NowNanos.
int64_t FileUsed(const struct stat& st) { return std::max(Nanos(st.st_atim), Nanos(st.st_mtim)); }

int64_t NowNanos() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// A temp file is another process's write in progress when its pid (".tmp-<hex>-<pid>-<n>")
// is alive and it is recent; anything else was left by a crash.
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

// Every block file under dir, oldest first; removes dead temp files on the way.
std::vector<CachedFile> ListCachedFiles(const std::string& root, const char* temp_prefix) {
  std::vector<CachedFile> found;
  DIR* top = opendir(root.c_str());
  if (top == nullptr) return found;
  while (dirent* d = readdir(top)) {
    if (std::strlen(d->d_name) != 2 || !IsHexName(d->d_name)) continue;
    const std::string sub = absl::StrCat(root, "/", d->d_name);
    DIR* dir = opendir(sub.c_str());
    if (dir == nullptr) continue;
    while (dirent* f = readdir(dir)) {
      const std::string path = absl::StrCat(sub, "/", f->d_name);
      struct stat st {};
      if (std::strncmp(f->d_name, temp_prefix, std::strlen(temp_prefix)) == 0) {
        if (lstat(path.c_str(), &st) == 0 && !IsLiveTempFile(f->d_name, st)) unlink(path.c_str());
        continue;
      }
      if (!IsHexName(f->d_name)) continue;
      if (lstat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
      found.push_back(CachedFile{f->d_name, static_cast<uint64_t>(st.st_size), FileUsed(st)});
    }
    closedir(dir);
  }
  closedir(top);
  std::sort(found.begin(), found.end(), [](const CachedFile& a, const CachedFile& b) {
    return a.used != b.used ? a.used < b.used : a.name < b.name;
  });
  return found;
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
  if (cache->ledger_->fresh()) {
    if (auto s = cache->Scan(); !s.ok()) return s;
  } else {
    BlockCache* self = cache.get();
    cache->indexer_ = std::thread([self] { self->IndexExisting(); });
  }
  return cache;
}

BlockCache::~BlockCache() { WaitForIndex(); }

void BlockCache::WaitForIndex() {
  if (indexer_.joinable()) indexer_.join();
}

void BlockCache::IndexExisting() {
  const absl::StatusOr<SharedLedger::State> before = ledger_->ReadState();
  const std::vector<CachedFile> files = ListCachedFiles(options_.dir, kTempPrefix);
  uint64_t counted = 0;
  for (const CachedFile& f : files) counted += f.bytes;
  {
    std::lock_guard<std::mutex> lock(mu_);
    // What this process stored or hit meanwhile is known, and newer.
    for (const CachedFile& f : files) {
      if (!lru_.Contains(f.name)) lru_.Insert(f.name, f.bytes, f.used);
    }
  }
  absl::Status s = ledger_->Update([&](uint64_t& total, uint64_t updates) {
    // Every store and eviction (of any process) updates the ledger under its
    // lock. With none since the walk began, the walk counted exactly what the
    // total must be, so it corrects a total left wrong by a process killed
    // between changing the directory and writing the total. With some, the
    // walk may have missed them: the total stays until a later count.
    if (before.ok() && updates == before->updates && total != counted) {
      FLINT_LOG(WARN) << "block cache: the ledger of " << options_.dir << " said " << total
                      << " bytes, its blocks take " << counted << "; corrected";
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
    const std::vector<CachedFile> files = ListCachedFiles(options_.dir, kTempPrefix);
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (const CachedFile& f : files) {
        lru_.Insert(f.name, f.bytes, f.used);
        total += f.bytes;
      }
    }
    EvictLocked(total, "");
  });
}

void BlockCache::EvictLocked(uint64_t& total, const std::string& keep) {
  if (options_.max_bytes == 0 || total <= options_.max_bytes) return;
  auto remove = [&](const std::string& name, uint64_t bytes) {
    if (unlink(absl::StrCat(options_.dir, "/", name.substr(0, 2), "/", name).c_str()) != 0) return;
    total -= std::min(total, bytes);  // else another process evicted (and uncounted) it
    ++evictions_;
  };
  std::string name;
  uint64_t bytes = 0;
  int64_t used = 0;
  // Other processes' hits show only in the file's times (NoteHit), not in this
  // process's order: an entry whose file was used since this process last saw
  // it goes back in line at that time instead of being evicted. Stat-ing here,
  // not on every hit, keeps that cost off the read path. The requeues are
  // bounded so that this ends even while other processes keep touching files.
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
    if (requeues_left > 0 && stat(absl::StrCat(options_.dir, "/", name.substr(0, 2), "/", name).c_str(), &st) == 0 &&
        FileUsed(st) > used) {
      --requeues_left;
      std::lock_guard<std::mutex> lock(mu_);
      if (!lru_.Contains(name)) lru_.Insert(name, bytes, FileUsed(st));  // else a hit meanwhile put it back, newer
      continue;
    }
    remove(name, bytes);
  }
  if (total <= options_.max_bytes) return;
  // The rest belongs to other processes (written after we scanned): go by the disk.
  const std::vector<CachedFile> files = ListCachedFiles(options_.dir, kTempPrefix);
  total = 0;
  for (const CachedFile& f : files) total += f.bytes;
  for (const CachedFile& f : files) {
    if (total <= options_.max_bytes) break;
    if (f.name == keep) continue;
    {
      std::lock_guard<std::mutex> lock(mu_);
      lru_.Erase(f.name);
    }
    remove(f.name, f.bytes);
  }
}

void BlockCache::RemoveFile(const std::string& hex, uint64_t bytes) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    lru_.Erase(hex);
  }
  absl::Status s = ledger_->Update([&](uint64_t& total) {
    if (unlink(absl::StrCat(options_.dir, "/", hex.substr(0, 2), "/", hex).c_str()) == 0) {
      total -= std::min(total, bytes);
    }
  });
  if (!s.ok()) {
    FLINT_LOG(WARN) << "block cache: " << s.message();
  }
}

std::string BlockCache::PathFor(std::string_view id) const {
  const std::string hex = HexEncode(id);
  return absl::StrCat(options_.dir, "/", hex.substr(0, 2), "/", hex);
}

void BlockCache::AdviseWillNeed(std::string_view id) const {
  const int fd = open(PathFor(id).c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  (void)posix_fadvise(fd, 0, 0, POSIX_FADV_WILLNEED);
  close(fd);
}

bool BlockCache::Contains(std::string_view id) const {
  std::lock_guard<std::mutex> lock(mu_);
  return lru_.Contains(HexEncode(id));
}

absl::Status BlockCache::OpenChecked(const BlockRef& ref, int* fd_out, uint64_t* length, struct stat* st) {
  const std::string hex = HexEncode(ref.id);
  const std::string path = PathFor(ref.id);
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    std::lock_guard<std::mutex> lock(mu_);
    lru_.Erase(hex);  // maybe evicted by another process
    return absl::NotFoundError(absl::StrCat("block ", hex, " not cached"));
  }
  *st = {};
  auto discard = [&](std::string_view why) -> absl::Status {
    FLINT_LOG(WARN) << "block cache: dropping " << path << ": " << why;
    close(fd);
    RemoveFile(hex, static_cast<uint64_t>(st->st_size));
    return absl::NotFoundError(absl::StrCat("block ", hex, " cache entry is bad: ", Av(why)));
  };
  char header[kHeaderSize];
  if (fstat(fd, st) != 0 || !PreadAll(fd, header, kHeaderSize, 0)) return discard("short header");
  if (std::memcmp(header, kMagic, sizeof(kMagic)) != 0) return discard("bad magic");
  *length = DecodeLength(header + 8);
  if (static_cast<uint64_t>(st->st_size) != kHeaderSize + *length) return discard("size mismatch");
  // A different key for the same id means the caller cannot decrypt the
  // block; it must not get the plaintext from us either.
  if (std::string_view(header + 16, 32) != KeyDigest(ref.key)) {
    close(fd);
    return absl::NotFoundError(absl::StrCat("block ", hex, " cached under another key"));
  }
  *fd_out = fd;
  return absl::OkStatus();
}

void BlockCache::NoteHit(const std::string& hex, int fd, const struct stat& st) {
  // Recency for the other processes' eviction scans; at most once a minute per block.
  if (std::time(nullptr) - st.st_mtime > 60) {
    const struct timespec times[2] = {{0, UTIME_OMIT}, {0, UTIME_NOW}};
    futimens(fd, times);
  }
  const int64_t now = NowNanos();
  std::lock_guard<std::mutex> lock(mu_);
  if (!lru_.Touch(hex, now)) lru_.Insert(hex, static_cast<uint64_t>(st.st_size), now);  // written by another process
}

absl::StatusOr<size_t> BlockCache::ReadCached(const BlockRef& ref, uint64_t offset, char* out, size_t len,
                                              std::string* whole) {
  int fd = -1;
  uint64_t length = 0;
  struct stat st {};
  if (absl::Status s = OpenChecked(ref, &fd, &length, &st); !s.ok()) return s;
  struct Closer {
    int fd;
    ~Closer() { close(fd); }
  } closer{fd};
  const std::string hex = HexEncode(ref.id);
  auto discard = [&](std::string_view why) -> absl::Status {
    FLINT_LOG(WARN) << "block cache: dropping " << PathFor(ref.id) << ": " << why;
    RemoveFile(hex, static_cast<uint64_t>(st.st_size));
    return absl::NotFoundError(absl::StrCat("block ", hex, " cache entry is bad: ", Av(why)));
  };

  size_t copied = 0;
  if (whole != nullptr || options_.verify_hits) {
    std::string plain(length, '\0');
    if (!PreadAll(fd, plain.data(), length, kHeaderSize)) return discard("short read");
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
    if (!PreadAll(fd, out, copied, kHeaderSize + offset)) return discard("short read");
  }
  NoteHit(hex, fd, st);
  return copied;
}

absl::StatusOr<BlockCache::FileRange> BlockCache::OpenCachedRange(const BlockRef& ref, uint64_t offset,
                                                                  size_t len) {
  // verify_hits needs the whole plaintext in memory anyway.
  if (options_.verify_hits) return absl::NotFoundError("verify_hits: no file ranges");
  int fd = -1;
  uint64_t length = 0;
  struct stat st {};
  if (absl::Status s = OpenChecked(ref, &fd, &length, &st); !s.ok()) return s;
  NoteHit(HexEncode(ref.id), fd, st);
  ++hits_;
  FileRange range;
  range.fd = fd;
  range.file_offset = kHeaderSize + offset;
  range.len = offset < length ? static_cast<size_t>(std::min<uint64_t>(len, length - offset)) : 0;
  return range;
}

absl::Status BlockCache::Store(const BlockRef& ref, const std::string& plain) {
  const std::string hex = HexEncode(ref.id);
  const std::string sub = absl::StrCat(options_.dir, "/", hex.substr(0, 2));
  if (mkdir(sub.c_str(), 0700) != 0 && errno != EEXIST) return ErrnoStatus("mkdir", sub);
  const std::string final_path = absl::StrCat(sub, "/", hex);
  const std::string temp = absl::StrCat(sub, "/", kTempPrefix, hex, "-", getpid(), "-", temp_counter_++);
  const int fd = open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return ErrnoStatus("create", temp);
  const std::string header = MakeHeader(ref.key, plain.size());
  bool ok = WriteAll(fd, header) && WriteAll(fd, plain);
  if (ok && options_.fsync_writes) ok = fsync(fd) == 0;
  absl::Status status = ok ? absl::OkStatus() : ErrnoStatus("write", temp);
  if (close(fd) != 0 && status.ok()) status = ErrnoStatus("close", temp);
  if (!status.ok()) {
    unlink(temp.c_str());
    return status;
  }
  const uint64_t bytes = header.size() + plain.size();
  // link, not rename: when another process stored the block meanwhile, its
  // file stays and is counted once. Linking under the ledger lock keeps every
  // file either counted or not yet visible to another process's recount.
  absl::Status linked = absl::OkStatus();
  absl::Status ledger = ledger_->Update([&](uint64_t& total) {
    bool added = link(temp.c_str(), final_path.c_str()) == 0;
    if (!added && errno != EEXIST) {
      // A filesystem without hard links: rename (a block stored by another
      // process at the same moment is then counted twice until the next scan).
      if ((errno != EPERM && errno != EOPNOTSUPP) || rename(temp.c_str(), final_path.c_str()) != 0) {
        linked = ErrnoStatus("link", temp);
        return;
      }
      added = true;
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      lru_.Insert(hex, bytes, NowNanos());
    }
    if (added) {
      total += bytes;
      EvictLocked(total, hex);
    }
  });
  unlink(temp.c_str());
  if (!linked.ok()) return linked;
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
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (lru_.Contains(HexEncode(ref.id))) return absl::OkStatus();
  }
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
  s.cached_bytes = lru_.bytes();
  s.cached_blocks = lru_.size();
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
