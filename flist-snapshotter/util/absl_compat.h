// Debian builds Abseil with its own absl::string_view (not std::string_view),
// so std::string_view arguments must be converted for StrCat/StrSplit.
#pragma once

#include <string_view>

#include "absl/strings/string_view.h"

namespace flint::flist {

inline absl::string_view Av(std::string_view s) { return absl::string_view(s.data(), s.size()); }
inline std::string_view Sv(absl::string_view s) { return std::string_view(s.data(), s.size()); }

}  // namespace flint::flist
