#include "flist-snapshotter/block/block_codec.h"

#include <snappy.h>

#include "absl/strings/str_cat.h"
#include "flist-snapshotter/block/aes_gcm.h"
#include "flist-snapshotter/block/blake2b.h"
#include "flist-snapshotter/block/xxtea.h"

namespace flint::flist {
namespace {

// Snappy's raw format allows up to 4 GiB; blocks are 512 KiB, and no writer we
// know of exceeds that, so anything much larger is corrupt or hostile.
constexpr size_t kMaxPlainSize = 8 * 1024 * 1024;

absl::StatusOr<std::string> Uncompress(std::string_view compressed) {
  size_t n = 0;
  if (!snappy::GetUncompressedLength(compressed.data(), compressed.size(), &n)) {
    return absl::DataLossError("snappy: bad header");
  }
  if (n > kMaxPlainSize) return absl::DataLossError(absl::StrCat("snappy: block too large (", n, " bytes)"));
  std::string out;
  if (!snappy::Uncompress(compressed.data(), compressed.size(), &out)) {
    return absl::DataLossError("snappy: corrupt data");
  }
  return out;
}

std::string Compress(std::string_view plain) {
  std::string out;
  snappy::Compress(plain.data(), plain.size(), &out);
  return out;
}

}  // namespace

size_t BlockIdSize(BlockFormat format) { return format == BlockFormat::kV1 ? 16 : 32; }

bool BlockIdMatches(BlockFormat format, std::string_view id, std::string_view data) {
  return id.size() == BlockIdSize(format) && Blake2bDigest(data, BlockIdSize(format)) == id;
}

absl::StatusOr<EncodedBlock> EncodeBlock(BlockFormat format, std::string_view plain) {
  EncodedBlock b;
  const size_t n = BlockIdSize(format);
  b.key = Blake2bDigest(plain, n);
  std::string compressed = Compress(plain);
  absl::StatusOr<std::string> sealed =
      format == BlockFormat::kV1 ? XxteaEncrypt(compressed, b.key)
                                 : AesGcmSeal(b.key, std::string_view(b.key).substr(0, 12), compressed);
  if (!sealed.ok()) return sealed.status();
  b.data = *std::move(sealed);
  b.id = Blake2bDigest(b.data, n);
  return b;
}

absl::StatusOr<std::string> DecodeBlock(BlockFormat format, std::string_view id,
                                        std::string_view key, std::string_view data) {
  if (key.size() != BlockIdSize(format)) {
    return absl::InvalidArgumentError(absl::StrCat("block key must be ", BlockIdSize(format), " bytes"));
  }
  if (!BlockIdMatches(format, id, data)) {
    return absl::DataLossError(absl::StrCat("block ", HexEncode(id), ": content hash mismatch"));
  }
  return DecodeBlockContent(format, id, key, std::string(data));
}

absl::StatusOr<std::string> DecodeBlockContent(BlockFormat format, std::string_view id,
                                               std::string_view key, std::string data) {
  const size_t n = BlockIdSize(format);
  if (key.size() != n) return absl::InvalidArgumentError(absl::StrCat("block key must be ", n, " bytes"));
  absl::StatusOr<std::string> compressed =
      format == BlockFormat::kV1 ? XxteaDecrypt(data, key)
                                 : AesGcmOpen(key, key.substr(0, 12), std::move(data));
  if (!compressed.ok()) {
    return absl::DataLossError(absl::StrCat("block ", HexEncode(id), ": ", compressed.status().message()));
  }
  auto plain = Uncompress(*compressed);
  if (!plain.ok()) return absl::DataLossError(absl::StrCat("block ", HexEncode(id), ": ", plain.status().message()));
  if (Blake2bDigest(*plain, n) != key) {
    return absl::DataLossError(absl::StrCat("block ", HexEncode(id), ": plaintext does not match its key"));
  }
  return plain;
}

absl::Status WarmUpBlockCodecs() {
  for (BlockFormat format : {BlockFormat::kV1, BlockFormat::kV2}) {
    constexpr std::string_view kPlain = "flint block codec warm-up";
    absl::StatusOr<EncodedBlock> block = EncodeBlock(format, kPlain);
    if (!block.ok()) return block.status();
    absl::StatusOr<std::string> plain = DecodeBlock(format, block->id, block->key, block->data);
    if (!plain.ok()) return plain.status();
    if (*plain != kPlain) return absl::InternalError("block codec warm-up: round trip changed the data");
  }
  return absl::OkStatus();
}

}  // namespace flint::flist
