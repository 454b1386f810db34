#include "flist-snapshotter/cache/segment_format.h"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "flist-snapshotter/block/blake2b.h"
#include "flist-snapshotter/util/absl_compat.h"

namespace flint::flist::segment_format {
namespace {

constexpr char kRecordMagic[8] = {'F', 'L', 'B', 'S', 'E', 'G', '0', '1'};

void PutU64(std::string& out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

uint64_t GetU64(const char* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}

int64_t Nanos(const struct timespec& t) { return int64_t{t.tv_sec} * 1'000'000'000 + t.tv_nsec; }

}  // namespace

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

std::string KeyDigest(std::string_view key) { return Blake2bDigest(key, 32); }

std::string EncodeRecordHeader(std::string_view id, std::string_view key, uint64_t plain_length) {
  std::string h(kRecordMagic, sizeof(kRecordMagic));
  PutU64(h, plain_length);
  PutU64(h, id.size());
  h += KeyDigest(key);
  h += id;
  return h;
}

bool ReadRecordHeader(int fd, uint64_t offset, RecordHeader* out, std::string* why) {
  char fixed[kRecordFixedBytes];
  if (!PreadAll(fd, fixed, sizeof fixed, offset)) {
    *why = "record header cut short";
    return false;
  }
  if (std::memcmp(fixed, kRecordMagic, sizeof(kRecordMagic)) != 0) {
    *why = "bad magic";
    return false;
  }
  const uint64_t id_bytes = GetU64(fixed + 16);
  if (id_bytes == 0 || id_bytes > kMaxIdBytes) {
    *why = absl::StrCat("an id of ", id_bytes, " bytes");
    return false;
  }
  out->plain_length = GetU64(fixed + 8);
  out->key_digest.assign(fixed + 24, 32);
  out->id.resize(id_bytes);
  if (!PreadAll(fd, out->id.data(), id_bytes, offset + kRecordFixedBytes)) {
    *why = "record header cut short";
    return false;
  }
  out->header_bytes = kRecordFixedBytes + id_bytes;
  return true;
}

bool IsSegmentName(std::string_view name) {
  return name.size() > sizeof(kSegmentSuffix) - 1 && name.ends_with(kSegmentSuffix) && !name.starts_with(".") &&
         name.find('/') == std::string_view::npos;
}

std::string PointerTarget(std::string_view segment, uint64_t offset) {
  return absl::StrCat(Av(segment), ":", offset);
}

bool ParsePointerTarget(std::string_view target, std::string* segment, uint64_t* offset) {
  const size_t colon = target.rfind(':');
  if (colon == std::string_view::npos || colon + 1 == target.size()) return false;
  const std::string_view name = target.substr(0, colon);
  if (!IsSegmentName(name)) return false;
  uint64_t v = 0;
  for (char c : target.substr(colon + 1)) {
    if (c < '0' || c > '9') return false;
    const auto digit = static_cast<uint64_t>(c - '0');
    if (v > (UINT64_MAX - digit) / 10) return false;
    v = v * 10 + digit;
  }
  *segment = std::string(name);
  *offset = v;
  return true;
}

int64_t FileUsedNanos(const struct stat& st) { return std::max(Nanos(st.st_atim), Nanos(st.st_mtim)); }

std::vector<SegmentFile> ListSegments(const std::string& root) {
  std::vector<SegmentFile> found;
  const std::string dir = absl::StrCat(root, "/", kSegmentsDir);
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return found;
  while (dirent* e = readdir(d)) {
    if (!IsSegmentName(e->d_name)) continue;
    struct stat st {};
    if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode)) continue;
    found.push_back(SegmentFile{e->d_name, static_cast<uint64_t>(st.st_size), FileUsedNanos(st)});
  }
  closedir(d);
  std::sort(found.begin(), found.end(), [](const SegmentFile& a, const SegmentFile& b) {
    return a.used != b.used ? a.used < b.used : a.name < b.name;
  });
  return found;
}

}  // namespace flint::flist::segment_format
