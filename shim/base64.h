// Base64 (RFC 4648, padded) for carrying raw bytes in the JSON protocol.
#pragma once

#include <string>
#include <string_view>

namespace flint::shim {

std::string Base64Encode(std::string_view data);
bool Base64Decode(std::string_view text, std::string* out);

}  // namespace flint::shim
