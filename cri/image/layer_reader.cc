#include "cri/image/layer_reader.h"

#include <fcntl.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "cri/image/errors.h"

namespace flint::image {

namespace {
constexpr size_t kInputBuffer = 128 * 1024;
}

struct LayerReader::Codec {
  z_stream gz{};
  bool gz_ready = false;
  bool gz_member_done = false;
  ZSTD_DStream* zstd = nullptr;
  ~Codec() {
    if (gz_ready) inflateEnd(&gz);
    if (zstd != nullptr) ZSTD_freeDStream(zstd);
  }
};

absl::StatusOr<std::unique_ptr<LayerReader>> LayerReader::Open(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus(errno, absl::StrCat("open layer blob ", path));
  unsigned char magic[4] = {};
  ssize_t n = pread(fd, magic, sizeof(magic), 0);
  Compression c = Compression::kNone;
  if (n >= 2 && magic[0] == 0x1f && magic[1] == 0x8b) {
    c = Compression::kGzip;
  } else if (n == 4 && magic[0] == 0x28 && magic[1] == 0xb5 && magic[2] == 0x2f && magic[3] == 0xfd) {
    c = Compression::kZstd;
  }
  std::unique_ptr<LayerReader> reader(new LayerReader(fd, c));
  if (c == Compression::kGzip) {
    // 16 + MAX_WBITS: expect a gzip header.
    if (inflateInit2(&reader->codec_->gz, 16 + MAX_WBITS) != Z_OK) return absl::InternalError("inflateInit2 failed");
    reader->codec_->gz_ready = true;
  } else if (c == Compression::kZstd) {
    reader->codec_->zstd = ZSTD_createDStream();
    if (reader->codec_->zstd == nullptr) return absl::InternalError("ZSTD_createDStream failed");
    ZSTD_initDStream(reader->codec_->zstd);
  }
  return reader;
}

LayerReader::LayerReader(int fd, Compression compression)
    : fd_(fd), compression_(compression), codec_(std::make_unique<Codec>()), in_(kInputBuffer) {}

LayerReader::~LayerReader() { close(fd_); }

absl::Status LayerReader::FillInput() {
  if (in_pos_ < in_len_ || in_eof_) return absl::OkStatus();
  ssize_t n;
  do {
    n = read(fd_, in_.data(), in_.size());
  } while (n < 0 && errno == EINTR);
  if (n < 0) return ErrnoStatus(errno, "read layer blob");
  in_pos_ = 0;
  in_len_ = static_cast<size_t>(n);
  if (n == 0) in_eof_ = true;
  return absl::OkStatus();
}

absl::StatusOr<size_t> LayerReader::Read(char* out, size_t size) {
  if (finished_ || size == 0) return 0;
  size_t produced = 0;
  while (produced == 0) {
    if (absl::Status s = FillInput(); !s.ok()) return s;
    size_t avail = in_len_ - in_pos_;
    if (compression_ == Compression::kNone) {
      if (avail == 0) break;
      size_t take = std::min(avail, size);
      std::memcpy(out, in_.data() + in_pos_, take);
      in_pos_ += take;
      produced = take;
    } else if (compression_ == Compression::kGzip) {
      z_stream& z = codec_->gz;
      if (avail == 0) {
        if (!codec_->gz_member_done) return absl::DataLossError("gzip layer is truncated");
        break;
      }
      if (codec_->gz_member_done) {
        // Another gzip member follows (concatenated gzip is valid).
        inflateReset(&z);
        codec_->gz_member_done = false;
      }
      z.next_in = reinterpret_cast<Bytef*>(in_.data() + in_pos_);
      z.avail_in = static_cast<uInt>(avail);
      z.next_out = reinterpret_cast<Bytef*>(out);
      z.avail_out = static_cast<uInt>(size);
      int rc = inflate(&z, Z_NO_FLUSH);
      if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR) {
        return absl::DataLossError(absl::StrCat("gzip layer is corrupt: ", z.msg != nullptr ? z.msg : "inflate error"));
      }
      in_pos_ += avail - z.avail_in;
      produced = size - z.avail_out;
      if (rc == Z_STREAM_END) codec_->gz_member_done = true;
    } else {
      if (avail == 0) break;  // a truncated zstd frame shows up as a tar error or diff_id mismatch
      ZSTD_inBuffer in{in_.data() + in_pos_, avail, 0};
      ZSTD_outBuffer o{out, size, 0};
      size_t rc = ZSTD_decompressStream(codec_->zstd, &o, &in);
      if (ZSTD_isError(rc)) return absl::DataLossError(absl::StrCat("zstd layer is corrupt: ", ZSTD_getErrorName(rc)));
      in_pos_ += in.pos;
      produced = o.pos;
    }
  }
  hash_.Update(out, produced);
  return produced;
}

absl::StatusOr<std::string> LayerReader::FinishDiffId() {
  std::vector<char> buf(64 * 1024);
  while (true) {
    absl::StatusOr<size_t> n = Read(buf.data(), buf.size());
    if (!n.ok()) return n.status();
    if (*n == 0) break;
  }
  finished_ = true;
  return hash_.Finish();
}

}  // namespace flint::image
