#include "cri/image/content_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>

#include "absl/strings/str_cat.h"
#include "common/fs.h"
#include "cri/image/digest.h"
#include "cri/image/errors.h"
#include "cri/image/reference.h"

namespace flint::image {
namespace {

std::string UniqueSuffix() {
  static std::atomic<uint64_t> counter{0};
  return absl::StrCat(getpid(), "-", counter.fetch_add(1));
}

absl::Status WriteAll(int fd, const char* data, size_t size, const std::string& path) {
  while (size > 0) {
    ssize_t n = write(fd, data, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(errno, absl::StrCat("write ", path));
    }
    data += n;
    size -= static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ContentStore::Init() {
  if (absl::Status s = fs::RemoveAll(TempDir()); !s.ok()) return s;
  for (const std::string& dir : {root_ + "/blobs/sha256", TempDir()}) {
    if (absl::Status s = fs::MakeDirs(dir, 0700); !s.ok()) return s;
  }
  return absl::OkStatus();
}

std::string ContentStore::BlobPath(const std::string& digest) const {
  return absl::StrCat(root_, "/blobs/sha256/", DigestHex(digest));
}

bool ContentStore::Has(const std::string& digest) const {
  struct stat st;
  return IsValidDigest(digest) && stat(BlobPath(digest).c_str(), &st) == 0;
}

absl::Status ContentStore::Ingest(const std::string& digest, int64_t expected_size, const std::string& what,
                                  const std::function<absl::Status(const BlobSink&)>& produce) {
  if (!IsValidDigest(digest)) return absl::InvalidArgumentError(absl::StrCat(what, ": invalid digest ", digest));
  std::string tmp = absl::StrCat(TempDir(), "/", DigestHex(digest), ".", UniqueSuffix());
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return ErrnoStatus(errno, absl::StrCat(what, ": create ", tmp));
  Sha256 hash;
  int64_t written = 0;
  BlobSink sink = [&](const char* data, size_t size) -> absl::Status {
    written += static_cast<int64_t>(size);
    if (expected_size >= 0 && written > expected_size) {
      return absl::DataLossError(absl::StrCat(what, " ", digest, ": more than the expected ", expected_size, " bytes"));
    }
    hash.Update(data, size);
    return WriteAll(fd, data, size, tmp);
  };
  absl::Status status = produce(sink);
  if (status.ok() && fsync(fd) != 0) status = ErrnoStatus(errno, absl::StrCat("fsync ", tmp));
  if (close(fd) != 0 && status.ok()) status = ErrnoStatus(errno, absl::StrCat("close ", tmp));
  if (status.ok() && expected_size >= 0 && written != expected_size) {
    status =
        absl::DataLossError(absl::StrCat(what, " ", digest, ": got ", written, " bytes, expected ", expected_size));
  }
  if (status.ok()) {
    std::string actual = hash.Finish();
    if (actual != digest) {
      status = absl::DataLossError(absl::StrCat(what, " ", digest, ": digest mismatch, content is ", actual));
    }
  }
  if (status.ok() && rename(tmp.c_str(), BlobPath(digest).c_str()) != 0) {
    status = ErrnoStatus(errno, absl::StrCat("rename ", tmp));
  }
  if (!status.ok()) unlink(tmp.c_str());
  return status;
}

absl::Status ContentStore::Put(const std::string& digest, const std::string& data, const std::string& what) {
  return Ingest(digest, static_cast<int64_t>(data.size()), what,
                [&](const BlobSink& sink) { return sink(data.data(), data.size()); });
}

absl::StatusOr<std::string> ContentStore::Read(const std::string& digest) const {
  if (!IsValidDigest(digest)) return absl::InvalidArgumentError(absl::StrCat("invalid digest ", digest));
  return fs::ReadFile(BlobPath(digest));
}

absl::Status ContentStore::Delete(const std::string& digest) {
  if (!IsValidDigest(digest)) return absl::OkStatus();
  if (unlink(BlobPath(digest).c_str()) != 0 && errno != ENOENT) {
    return ErrnoStatus(errno, absl::StrCat("delete blob ", digest));
  }
  return absl::OkStatus();
}

}  // namespace flint::image
