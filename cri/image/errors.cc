#include "cri/image/errors.h"

#include <cerrno>
#include <cstring>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace flint::image {

absl::Status ErrnoStatus(int err, std::string_view what) {
  std::string msg = absl::StrCat(std::string(what), ": ", std::strerror(err));
  switch (err) {
    case ENOSPC:
    case EDQUOT:
      return absl::ResourceExhaustedError(msg);
    case ENOENT:
      return absl::NotFoundError(msg);
    default:
      return absl::InternalError(msg);
  }
}

absl::Status WithContext(const absl::Status& status, const std::string& context) {
  if (status.ok()) return status;
  std::string message(status.message());
  bool unavailable = status.code() == absl::StatusCode::kUnavailable;
  if (unavailable && absl::StartsWith(message, kRegistryUnavailablePrefix)) {
    message = message.substr(sizeof(kRegistryUnavailablePrefix) - 1);
  }
  return absl::Status(status.code(),
                      absl::StrCat(unavailable ? kRegistryUnavailablePrefix : "", context, ": ", message));
}

}  // namespace flint::image
