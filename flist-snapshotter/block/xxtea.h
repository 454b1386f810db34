// XXTEA (Corrected Block TEA) in the "length-suffixed" variant used by v1
// flists: the plaintext is zero-padded to 4-byte words and one extra word
// holding the original byte length is appended before encryption.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace flint::flist {

// key must be 16 bytes.
absl::StatusOr<std::string> XxteaEncrypt(std::string_view plain, std::string_view key);
absl::StatusOr<std::string> XxteaDecrypt(std::string_view cipher, std::string_view key);

}  // namespace flint::flist
