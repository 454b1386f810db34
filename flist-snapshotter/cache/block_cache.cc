#include "flist-snapshotter/cache/block_cache.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
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
  if (auto s = cache->Scan(); !s.ok()) return s;
  return cache;
}

absl::Status BlockCache::Scan() {
  struct Found {
    std::string name;
    uint64_t bytes;
    int64_t used;
  };
  std::vector<Found> found;
  DIR* top = opendir(options_.dir.c_str());
  if (top == nullptr) return ErrnoStatus("block cache: open", options_.dir);
  while (dirent* d = readdir(top)) {
    if (std::strlen(d->d_name) != 2 || !IsHexName(d->d_name)) continue;
    const std::string sub = absl::StrCat(options_.dir, "/", d->d_name);
    DIR* dir = opendir(sub.c_str());
    if (dir == nullptr) continue;
    while (dirent* f = readdir(dir)) {
      const std::string path = absl::StrCat(sub, "/", f->d_name);
      if (std::strncmp(f->d_name, kTempPrefix, sizeof(kTempPrefix) - 1) == 0) {
        unlink(path.c_str());  // left behind by a crash mid-write
        continue;
      }
      if (!IsHexName(f->d_name)) continue;
      struct stat st {};
      if (lstat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
      found.push_back(Found{f->d_name, static_cast<uint64_t>(st.st_size),
                            std::max<int64_t>(st.st_atime, st.st_mtime)});
    }
    closedir(dir);
  }
  closedir(top);
  std::sort(found.begin(), found.end(), [](const Found& a, const Found& b) { return a.used < b.used; });
  std::lock_guard<std::mutex> lock(mu_);
  for (const Found& f : found) lru_.Insert(f.name, f.bytes);  // oldest first, so it ends up last
  if (options_.max_bytes > 0) {
    for (const std::string& name : lru_.EvictTo(options_.max_bytes, "")) {
      unlink(absl::StrCat(options_.dir, "/", name.substr(0, 2), "/", name).c_str());
      ++evictions_;
    }
  }
  return absl::OkStatus();
}

std::string BlockCache::PathFor(std::string_view id) const {
  const std::string hex = HexEncode(id);
  return absl::StrCat(options_.dir, "/", hex.substr(0, 2), "/", hex);
}

bool BlockCache::Contains(std::string_view id) const {
  std::lock_guard<std::mutex> lock(mu_);
  return lru_.Contains(HexEncode(id));
}

void BlockCache::Touch(const std::string& hex) {
  std::lock_guard<std::mutex> lock(mu_);
  lru_.Touch(hex);
}

absl::StatusOr<size_t> BlockCache::ReadCached(const BlockRef& ref, uint64_t offset, char* out, size_t len,
                                              std::string* whole) {
  const std::string hex = HexEncode(ref.id);
  const std::string path = PathFor(ref.id);
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return absl::NotFoundError(absl::StrCat("block ", hex, " not cached"));
  struct Closer {
    int fd;
    ~Closer() { close(fd); }
  } closer{fd};

  auto discard = [&](std::string_view why) -> absl::Status {
    FLINT_LOG(WARN) << "block cache: dropping " << path << ": " << why;
    unlink(path.c_str());
    std::lock_guard<std::mutex> lock(mu_);
    lru_.Erase(hex);
    return absl::NotFoundError(absl::StrCat("block ", hex, " cache entry is bad: ", Av(why)));
  };

  struct stat st {};
  char header[kHeaderSize];
  if (fstat(fd, &st) != 0 || !PreadAll(fd, header, kHeaderSize, 0)) return discard("short header");
  if (std::memcmp(header, kMagic, sizeof(kMagic)) != 0) return discard("bad magic");
  const uint64_t length = DecodeLength(header + 8);
  if (static_cast<uint64_t>(st.st_size) != kHeaderSize + length) return discard("size mismatch");
  // A different key for the same id means the caller cannot decrypt the
  // block; it must not get the plaintext from us either.
  if (std::string_view(header + 16, 32) != KeyDigest(ref.key)) {
    return absl::NotFoundError(absl::StrCat("block ", hex, " cached under another key"));
  }

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

  std::lock_guard<std::mutex> lock(mu_);
  if (!lru_.Touch(hex)) lru_.Insert(hex, static_cast<uint64_t>(st.st_size));  // written by another process
  return copied;
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
  if (status.ok() && rename(temp.c_str(), final_path.c_str()) != 0) status = ErrnoStatus("rename", temp);
  if (!status.ok()) {
    unlink(temp.c_str());
    return status;
  }
  std::lock_guard<std::mutex> lock(mu_);
  lru_.Insert(hex, header.size() + plain.size());
  if (options_.max_bytes > 0) {
    for (const std::string& name : lru_.EvictTo(options_.max_bytes, hex)) {
      unlink(absl::StrCat(options_.dir, "/", name.substr(0, 2), "/", name).c_str());
      ++evictions_;
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<const std::string>> BlockCache::FetchNow(const BlockRef& ref,
                                                                        BlockFormat format,
                                                                        BlockStore& store) {
  // A fetch that finished between our miss and taking the lead has stored it.
  std::string plain;
  if (ReadCached(ref, 0, nullptr, 0, &plain).ok()) return std::make_shared<const std::string>(std::move(plain));

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
  auto decoded = DecodeBlock(format, ref.id, ref.key, *data);
  const auto micros = static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - start).count());
  fetch_micros_total_ += micros;
  AtomicMax(fetch_micros_max_, micros);
  if (!decoded.ok()) {
    ++fetch_errors_;
    return absl::DataLossError(absl::StrCat("block ", hex, " from ", store.Describe(), ": ",
                                            decoded.status().message()));
  }
  auto shared = std::make_shared<const std::string>(*std::move(decoded));
  if (auto s = Store(ref, *shared); !s.ok()) {
    ++write_errors_;
    FLINT_LOG(WARN) << "block cache: cannot store block " << hex << ": " << s.message();
  }
  return shared;
}

absl::StatusOr<std::shared_ptr<const std::string>> BlockCache::Fetch(const BlockRef& ref, BlockFormat format,
                                                                     BlockStore& store) {
  const std::string flight_key = ref.id + ref.key;
  std::shared_ptr<Flight> flight;
  bool leader = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
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

  auto result = FetchNow(ref, format, store);
  {
    std::lock_guard<std::mutex> lock(mu_);
    flights_.erase(flight_key);
  }
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
  std::lock_guard<std::mutex> lock(mu_);
  s.cached_bytes = lru_.bytes();
  s.cached_blocks = lru_.size();
  return s;
}

}  // namespace flint::flist
