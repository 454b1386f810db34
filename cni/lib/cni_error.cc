#include "cni/lib/cni_error.h"

#include <string>

#include "absl/strings/cord.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace flint::cni {
namespace {

constexpr char kCodePayload[] = "flint.dev/cni-code";
constexpr char kDetailsPayload[] = "flint.dev/cni-details";

absl::StatusCode AbslCodeFor(int code) {
  switch (code) {
    case 1:
    case 2:
    case 4:
    case 6:
    case 7:
      return absl::StatusCode::kInvalidArgument;
    case 3:
      return absl::StatusCode::kNotFound;
    case 11:
      return absl::StatusCode::kUnavailable;
    case 100:
      return absl::StatusCode::kResourceExhausted;
    case 101:
      return absl::StatusCode::kAlreadyExists;
    default:
      return absl::StatusCode::kInternal;
  }
}

}  // namespace

absl::Status CniStatus(int code, absl::string_view msg, absl::string_view details) {
  absl::Status status(AbslCodeFor(code), msg);
  status.SetPayload(kCodePayload, absl::Cord(std::to_string(code)));
  if (!details.empty()) status.SetPayload(kDetailsPayload, absl::Cord(details));
  return status;
}

absl::Status CniStatus(ErrorCode code, absl::string_view msg, absl::string_view details) {
  return CniStatus(static_cast<int>(code), msg, details);
}

int CniCodeOf(const absl::Status& status) {
  absl::optional<absl::Cord> payload = status.GetPayload(kCodePayload);
  int code = 0;
  if (payload && absl::SimpleAtoi(std::string(*payload), &code)) return code;
  return static_cast<int>(ErrorCode::kInternal);
}

std::string CniDetailsOf(const absl::Status& status) {
  absl::optional<absl::Cord> payload = status.GetPayload(kDetailsPayload);
  return payload ? std::string(*payload) : std::string();
}

absl::Status WithContext(const absl::Status& status, absl::string_view context) {
  if (status.ok()) return status;
  absl::Status annotated(status.code(), absl::StrCat(context, ": ", status.message()));
  status.ForEachPayload([&](absl::string_view url, const absl::Cord& payload) {
    annotated.SetPayload(url, payload);
  });
  return annotated;
}

nlohmann::json ErrorJson(const absl::Status& status, absl::string_view cni_version) {
  nlohmann::json out;
  out["cniVersion"] = std::string(cni_version);
  out["code"] = CniCodeOf(status);
  out["msg"] = std::string(status.message());
  std::string details = CniDetailsOf(status);
  if (!details.empty()) out["details"] = details;
  return out;
}

}  // namespace flint::cni
