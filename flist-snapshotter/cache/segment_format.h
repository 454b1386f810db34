// The on-disk format of the block cache (block_cache.h): segment files of
// records, and pointers from block ids to records.
//
// Record: magic "FLBSEG01", u64 LE plaintext length, u64 LE id length,
// blake2b-256 of the block key, the id, then the plaintext.
// Pointer: a symlink <dir>/<hex id[0:2]>/<hex id> whose text is
// "<segment file name>:<record offset>" (read with readlink, never followed).
#pragma once

#include <sys/stat.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace flint::flist::segment_format {

inline constexpr size_t kRecordFixedBytes = 56;  // the header before the id
inline constexpr size_t kMaxIdBytes = 256;
inline constexpr char kSegmentsDir[] = "segments";
inline constexpr char kSegmentSuffix[] = ".seg";

// pread until `len` bytes are in; false on an error or end of file first.
bool PreadAll(int fd, char* buf, size_t len, uint64_t offset);

// blake2b-256 of a block key, as records hold it.
std::string KeyDigest(std::string_view key);

std::string EncodeRecordHeader(std::string_view id, std::string_view key, uint64_t plain_length);

struct RecordHeader {
  uint64_t plain_length = 0;
  std::string id;
  std::string key_digest;
  uint64_t header_bytes = 0;  // where the plaintext starts, from the record's offset
};

// Reads the header of the record at `offset` of the segment open as `fd`.
// False, with *why set, when there is none: cut short, bad magic, or an id
// length no record has. Does not check that the plaintext fits in the file.
bool ReadRecordHeader(int fd, uint64_t offset, RecordHeader* out, std::string* why);

// A segment file name: "<pid>-<nanoseconds>-<n>.seg" as written, but any
// name ending in .seg, not starting with '.', without '/'.
bool IsSegmentName(std::string_view name);

std::string PointerTarget(std::string_view segment, uint64_t offset);
// False for anything but a segment name, ':' and a decimal offset.
bool ParsePointerTarget(std::string_view target, std::string* segment, uint64_t* offset);

// When a file was last used as far as its times tell, in nanoseconds since
// the epoch: max(atime, mtime), mtime being what hits of other processes set.
int64_t FileUsedNanos(const struct stat& st);

struct SegmentFile {
  std::string name;  // without the directory
  uint64_t bytes;
  int64_t used;  // FileUsedNanos
};

// Every segment in <root>/segments, least recently used first.
std::vector<SegmentFile> ListSegments(const std::string& root);

}  // namespace flint::flist::segment_format
