#include "cni/lib/plugin_main.h"

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <iterator>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "cni/lib/cni_error.h"
#include "cni/lib/version.h"

namespace flint::cni {
namespace {

using json = nlohmann::json;

std::string Getenv(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

bool IsAttachmentCommand(const std::string& command) {
  return command == "ADD" || command == "CHECK" || command == "DEL";
}

absl::Status RequireEnv(const PluginEnv& env) {
  std::vector<std::string> missing;
  const bool attachment = IsAttachmentCommand(env.command);  // STATUS and GC need only CNI_PATH
  const bool needs_netns = env.command == "ADD" || env.command == "CHECK";
  if (attachment && env.container_id.empty()) missing.push_back("CNI_CONTAINERID");
  if (needs_netns && env.netns.empty()) missing.push_back("CNI_NETNS");
  if (attachment && env.ifname.empty()) missing.push_back("CNI_IFNAME");
  if (env.path.empty()) missing.push_back("CNI_PATH");
  if (!missing.empty()) {
    return CniStatus(ErrorCode::kInvalidEnvironment,
                     absl::StrCat("required env variables [", absl::StrJoin(missing, ","), "] missing"));
  }
  if (!attachment) return absl::OkStatus();
  // Container ids name files and iptables comments; interface names are kernel names.
  bool id_ok = absl::ascii_isalnum(static_cast<unsigned char>(env.container_id[0]));
  for (char c : env.container_id) {
    id_ok &= absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-';
  }
  if (!id_ok) {
    return CniStatus(ErrorCode::kInvalidEnvironment,
                     absl::StrCat("CNI_CONTAINERID \"", env.container_id, "\" has invalid characters"));
  }
  bool ifname_ok = env.ifname.size() <= 15 && env.ifname != "." && env.ifname != "..";
  for (char c : env.ifname) ifname_ok &= c != '/' && c != ':' && !absl::ascii_isspace(static_cast<unsigned char>(c));
  if (!ifname_ok) {
    return CniStatus(ErrorCode::kInvalidEnvironment,
                     absl::StrCat("CNI_IFNAME \"", env.ifname, "\" is not a valid interface name"));
  }
  return absl::OkStatus();
}

absl::StatusOr<PluginRequest> ParseRequest(const PluginEnv& env, const std::string& bytes) {
  PluginRequest req;
  req.env = env;
  req.config_bytes = bytes;
  req.config = json::parse(bytes, nullptr, /*allow_exceptions=*/false);
  if (req.config.is_discarded() || !req.config.is_object()) {
    return CniStatus(ErrorCode::kDecodeFailure, "failed to parse network configuration: invalid JSON object");
  }
  const json& c = req.config;
  if (!c.contains("cniVersion") || !c["cniVersion"].is_string()) {
    return CniStatus(ErrorCode::kInvalidNetworkConfig, "network configuration has no \"cniVersion\"");
  }
  req.cni_version = c["cniVersion"].get<std::string>();
  if (!IsSupportedVersion(req.cni_version)) {
    return CniStatus(ErrorCode::kIncompatibleVersion,
                     absl::StrCat("incompatible CNI versions; config is \"", req.cni_version,
                                  "\", plugin supports [", absl::StrJoin(SupportedVersions(), " "), "]"));
  }
  if (!c.contains("name") || !c["name"].is_string() || c["name"].get<std::string>().empty()) {
    return CniStatus(ErrorCode::kInvalidNetworkConfig, "network configuration has no \"name\"");
  }
  req.network_name = c["name"].get<std::string>();
  return req;
}

}  // namespace

absl::StatusOr<std::map<std::string, std::string>> ParseCniArgs(absl::string_view args) {
  std::map<std::string, std::string> out;
  for (absl::string_view pair : absl::StrSplit(args, ';', absl::SkipEmpty())) {
    std::vector<absl::string_view> kv = absl::StrSplit(pair, absl::MaxSplits('=', 1));
    if (kv.size() != 2 || kv[0].empty()) {
      return CniStatus(ErrorCode::kInvalidEnvironment, absl::StrCat("CNI_ARGS: invalid pair \"", pair, "\""));
    }
    out[std::string(kv[0])] = std::string(kv[1]);
  }
  return out;
}

PluginEnv PluginEnvFromEnvironment() {
  PluginEnv env;
  env.command = Getenv("CNI_COMMAND");
  env.container_id = Getenv("CNI_CONTAINERID");
  env.netns = Getenv("CNI_NETNS");
  env.ifname = Getenv("CNI_IFNAME");
  env.args = Getenv("CNI_ARGS");
  env.path = absl::StrSplit(Getenv("CNI_PATH"), ':', absl::SkipEmpty());
  return env;
}

int RunPluginWith(const PluginHandlers& handlers, const PluginEnv& env, const std::string& stdin_bytes,
                  std::string* out) {
  std::string version_for_errors = kCurrentVersion;
  {
    json probe = json::parse(stdin_bytes, nullptr, false);
    if (probe.is_object() && probe.contains("cniVersion") && probe["cniVersion"].is_string()) {
      version_for_errors = probe["cniVersion"].get<std::string>();
    }
  }
  auto fail = [&](const absl::Status& status) {
    *out = ErrorJson(status, version_for_errors).dump();
    return 1;
  };

  if (env.command == "VERSION") {
    json v = {{"cniVersion", version_for_errors}, {"supportedVersions", SupportedVersions()}};
    *out = v.dump();
    return 0;
  }
  const CommandHandler* handler = nullptr;
  if (env.command == "ADD") handler = &handlers.add;
  if (env.command == "CHECK") handler = &handlers.check;
  if (env.command == "DEL") handler = &handlers.del;
  if (env.command == "STATUS") handler = &handlers.status;
  if (env.command == "GC") handler = &handlers.gc;
  if (handler == nullptr || !*handler) {
    return fail(CniStatus(ErrorCode::kInvalidEnvironment,
                          absl::StrCat("unknown CNI_COMMAND \"", env.command, "\"")));
  }
  if (absl::Status s = RequireEnv(env); !s.ok()) return fail(s);
  absl::StatusOr<PluginRequest> req = ParseRequest(env, stdin_bytes);
  if (!req.ok()) return fail(req.status());
  if (env.command == "CHECK" && !VersionSupportsCheck(req->cni_version)) {
    return fail(CniStatus(ErrorCode::kIncompatibleVersion,
                          absl::StrCat("config version \"", req->cni_version, "\" does not allow CHECK")));
  }
  if (!IsAttachmentCommand(env.command) && !VersionSupportsStatusAndGc(req->cni_version)) {
    return fail(CniStatus(ErrorCode::kIncompatibleVersion, absl::StrCat("config version \"", req->cni_version,
                                                                       "\" does not allow ", env.command)));
  }
  absl::StatusOr<std::optional<json>> result = (*handler)(*req);
  if (!result.ok()) return fail(result.status());
  if (result->has_value()) *out = (*result)->dump(4);
  return 0;
}

int RunPlugin(const PluginHandlers& handlers) {
  // A delegated plugin that exits early must not kill us through its stdin pipe.
  signal(SIGPIPE, SIG_IGN);
  std::string input(std::istreambuf_iterator<char>(std::cin), {});
  std::string output;
  int rc = RunPluginWith(handlers, PluginEnvFromEnvironment(), input, &output);
  if (!output.empty()) {
    std::fwrite(output.data(), 1, output.size(), stdout);
    std::fflush(stdout);
  }
  return rc;
}

}  // namespace flint::cni
