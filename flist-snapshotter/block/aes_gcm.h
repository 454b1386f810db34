// AES-256-GCM with a 12-byte nonce and a 16-byte tag appended to the output.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace flint::flist {

absl::StatusOr<std::string> AesGcmSeal(std::string_view key, std::string_view nonce,
                                       std::string_view plain);
// Decrypts in place: the returned plaintext reuses `sealed`'s buffer (a block
// fetch then holds one 512 KiB buffer less).
absl::StatusOr<std::string> AesGcmOpen(std::string_view key, std::string_view nonce, std::string sealed);

}  // namespace flint::flist
