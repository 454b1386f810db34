// CNI error codes and the error JSON a plugin prints on failure.
// absl::Status carries the CNI code as a payload so that layers can add
// context without losing the code chosen at the point of failure.
#pragma once

#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "nlohmann/json.hpp"

namespace flint::cni {

// Well-known codes from the CNI spec (1-99 reserved) plus ours (100+).
enum class ErrorCode : int {
  kIncompatibleVersion = 1,
  kUnsupportedField = 2,
  kUnknownContainer = 3,
  kInvalidEnvironment = 4,
  kIoFailure = 5,
  kDecodeFailure = 6,
  kInvalidNetworkConfig = 7,
  kTryAgainLater = 11,
  // Plugin-specific: no free address left in a range set. Not 11: the
  // condition only clears when other pods are deleted.
  kAddressesExhausted = 100,
  kAlreadyAllocated = 101,
  // Generic plugin failure; same value the reference plugins use.
  kInternal = 999,
};

// A status carrying `code`; the absl code is derived from it.
absl::Status CniStatus(ErrorCode code, absl::string_view msg, absl::string_view details = "");
absl::Status CniStatus(int code, absl::string_view msg, absl::string_view details = "");

// The CNI code of `status` (kInternal when none was attached).
int CniCodeOf(const absl::Status& status);
std::string CniDetailsOf(const absl::Status& status);

// Prefixes the message with `context` ("context: msg"), keeping code and payloads.
absl::Status WithContext(const absl::Status& status, absl::string_view context);

// {"cniVersion","code","msg","details"} for `status` (details omitted when empty).
nlohmann::json ErrorJson(const absl::Status& status, absl::string_view cni_version);

}  // namespace flint::cni

// Returns early with context added when `expr` (an absl::Status) fails.
#define FLINT_CNI_RETURN_IF_ERROR(expr, context)                  \
  do {                                                            \
    ::absl::Status flint_cni_status_ = (expr);                    \
    if (!flint_cni_status_.ok())                                  \
      return ::flint::cni::WithContext(flint_cni_status_, context); \
  } while (0)
