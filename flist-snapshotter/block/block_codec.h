// Turns file chunks into stored blocks and back, for both flist generations.
//   v1: K=blake2b16(P), E=XXTEA(snappy(P), K), id=blake2b16(E)
//   v2: K=blake2b32(P), E=AES-256-GCM(K, nonce K[0:12])(snappy(P)) || tag,
//       id=blake2b32(E)
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace flint::flist {

// Every block covers this many bytes of its file (the last one may be shorter).
inline constexpr size_t kBlockSize = 512 * 1024;

enum class BlockFormat { kV1, kV2 };

struct EncodedBlock {
  std::string id;    // raw store key (16 or 32 bytes)
  std::string key;   // raw decryption key
  std::string data;  // bytes to store
};

absl::StatusOr<EncodedBlock> EncodeBlock(BlockFormat format, std::string_view plain);

// Verifies that `data` hashes to `id`, decrypts with `key`, decompresses, and
// checks that the plaintext hashes to `key`.
absl::StatusOr<std::string> DecodeBlock(BlockFormat format, std::string_view id,
                                        std::string_view key, std::string_view data);

// DecodeBlock without the hash of `data` against `id`, for the read path: the
// final check (plaintext hashes to `key`) alone proves the block is the one
// the flist names, and a wrong or corrupted `data` fails decryption or that
// check, still as DataLoss. Saves one BLAKE2b pass over every fetched block
// (about half the decode time of a 512 KiB v2 block). `data` is taken by value
// so a fetched block can be moved in and decrypted in place.
absl::StatusOr<std::string> DecodeBlockContent(BlockFormat format, std::string_view id,
                                               std::string_view key, std::string data);

// Only the store-side integrity check: does `data` hash to `id`?
bool BlockIdMatches(BlockFormat format, std::string_view id, std::string_view data);

size_t BlockIdSize(BlockFormat format);

// Encodes and decodes a small block of each format. The first AES-GCM use in a
// process initializes OpenSSL (config file, provider lookup: ~3 ms); a mount
// calls this in the background while it starts so the first fetched block,
// which a container start waits for, does not pay it.
absl::Status WarmUpBlockCodecs();

}  // namespace flint::flist
