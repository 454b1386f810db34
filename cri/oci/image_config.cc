#include "cri/oci/image_config.h"

#include <nlohmann/json.hpp>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace flint::oci {
namespace {

absl::StatusOr<std::vector<std::string>> StringList(const nlohmann::json& obj, const char* key) {
  std::vector<std::string> out;
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return out;
  if (!it->is_array()) return absl::InvalidArgumentError(absl::StrCat("image config: ", key, " is not an array"));
  for (const auto& v : *it) {
    if (!v.is_string()) return absl::InvalidArgumentError(absl::StrCat("image config: ", key, " has a non-string entry"));
    out.push_back(v.get<std::string>());
  }
  return out;
}

absl::StatusOr<std::string> String(const nlohmann::json& obj, const char* key) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return std::string();
  if (!it->is_string()) return absl::InvalidArgumentError(absl::StrCat("image config: ", key, " is not a string"));
  return it->get<std::string>();
}

}  // namespace

absl::StatusOr<ImageConfig> ParseImageConfig(std::string_view json_text) {
  nlohmann::json doc = nlohmann::json::parse(json_text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) return absl::InvalidArgumentError("image config: not a JSON object");
  ImageConfig out;
  auto cfg = doc.find("config");
  if (cfg == doc.end() || cfg->is_null()) return out;
  if (!cfg->is_object()) return absl::InvalidArgumentError("image config: config is not an object");
  auto entrypoint = StringList(*cfg, "Entrypoint");
  if (!entrypoint.ok()) return entrypoint.status();
  auto cmd = StringList(*cfg, "Cmd");
  if (!cmd.ok()) return cmd.status();
  auto env = StringList(*cfg, "Env");
  if (!env.ok()) return env.status();
  auto working_dir = String(*cfg, "WorkingDir");
  if (!working_dir.ok()) return working_dir.status();
  auto user = String(*cfg, "User");
  if (!user.ok()) return user.status();
  auto stop_signal = String(*cfg, "StopSignal");
  if (!stop_signal.ok()) return stop_signal.status();
  out.entrypoint = *std::move(entrypoint);
  out.cmd = *std::move(cmd);
  out.env = *std::move(env);
  out.working_dir = *std::move(working_dir);
  out.user = *std::move(user);
  out.stop_signal = *std::move(stop_signal);
  return out;
}

}  // namespace flint::oci
