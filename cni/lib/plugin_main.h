// The skeleton every plugin binary runs: read CNI_* env and the config on
// stdin, dispatch to cmdAdd/cmdCheck/cmdDel, print result or error JSON.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "nlohmann/json.hpp"

namespace flint::cni {

struct PluginEnv {
  std::string command;
  std::string container_id;
  std::string netns;
  std::string ifname;
  std::string args;  // raw CNI_ARGS
  std::vector<std::string> path;  // CNI_PATH split on ':'
};

struct PluginRequest {
  PluginEnv env;
  std::string config_bytes;  // stdin as received (passed on to delegated plugins)
  nlohmann::json config;
  std::string cni_version;
  std::string network_name;
};

// ADD returns the result JSON; the other commands return nullopt.
using CommandHandler = std::function<absl::StatusOr<std::optional<nlohmann::json>>(const PluginRequest&)>;

struct PluginHandlers {
  CommandHandler add;
  CommandHandler check;
  CommandHandler del;
  CommandHandler status;  // spec 1.1.0; optional
  CommandHandler gc;      // spec 1.1.0; optional
};

// Parses "K1=V1;K2=V2" (CNI_ARGS); malformed pairs are an error.
absl::StatusOr<std::map<std::string, std::string>> ParseCniArgs(absl::string_view args);

// Reads the environment and stdin, runs the handler, writes stdout. Returns the exit code.
int RunPlugin(const PluginHandlers& handlers);

// Same as RunPlugin with explicit inputs (used by tests).
int RunPluginWith(const PluginHandlers& handlers, const PluginEnv& env, const std::string& stdin_bytes,
                  std::string* stdout_bytes);

PluginEnv PluginEnvFromEnvironment();

}  // namespace flint::cni
