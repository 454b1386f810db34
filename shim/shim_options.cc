#include "shim/shim_options.h"

#include <cstdlib>
#include <string_view>

#include "shim/redis_log_publisher.h"

namespace flint::shim {

bool ParseShimOptions(int argc, const char* const* argv, ShimOptions* options, std::string* error) {
  ShimOptions o;
  for (int i = 1; i < argc; ++i) {
    std::string_view flag = argv[i];
    std::string value;
    bool has_inline_value = false;
    if (size_t eq = flag.find('='); flag.starts_with("--") && eq != std::string_view::npos) {
      value = std::string(flag.substr(eq + 1));
      flag = flag.substr(0, eq);
      has_inline_value = true;
    }
    auto take = [&](std::string* out) {
      if (has_inline_value) {
        *out = value;
        return true;
      }
      if (i + 1 >= argc) {
        *error = "flag " + std::string(flag) + " needs a value";
        return false;
      }
      *out = argv[++i];
      return true;
    };
    if (flag == "--tty") {
      o.tty = true;
    } else if (flag == "--stdin") {
      o.stdin_open = true;
    } else if (flag == "--foreground") {
      o.foreground = true;
    } else if (flag == "--id") {
      if (!take(&o.id)) return false;
    } else if (flag == "--bundle") {
      if (!take(&o.bundle)) return false;
    } else if (flag == "--runtime") {
      if (!take(&o.runtime)) return false;
    } else if (flag == "--runtime-fd") {
      std::string fd;
      if (!take(&fd)) return false;
      char* end = nullptr;
      long v = std::strtol(fd.c_str(), &end, 10);
      if (fd.empty() || *end != '\0' || v < 3 || v > 1023) {
        *error = "bad --runtime-fd \"" + fd + "\"";
        return false;
      }
      o.runtime_fd = static_cast<int>(v);
    } else if (flag == "--runtime-arg") {
      std::string arg;
      if (!take(&arg)) return false;
      o.runtime_args.push_back(std::move(arg));
    } else if (flag == "--state-dir") {
      if (!take(&o.state_dir)) return false;
    } else if (flag == "--log-path") {
      if (!take(&o.log_path)) return false;
    } else if (flag == "--socket") {
      if (!take(&o.socket_path)) return false;
    } else if (flag == "--logs-redis") {
      if (!take(&o.logs_redis)) return false;
      RedisLogTarget target;
      if (!ParseRedisLogTarget(o.logs_redis, &target, error)) return false;
    } else if (flag == "--create-timeout") {
      std::string seconds;
      if (!take(&seconds)) return false;
      char* end = nullptr;
      long v = std::strtol(seconds.c_str(), &end, 10);
      if (seconds.empty() || *end != '\0' || v <= 0 || v > 3600) {
        *error = "bad --create-timeout \"" + seconds + "\"";
        return false;
      }
      o.create_timeout_s = static_cast<int>(v);
    } else {
      *error = "unknown flag " + std::string(argv[i]);
      return false;
    }
  }
  const std::pair<const char*, const std::string*> required[] = {
      {"--id", &o.id},           {"--bundle", &o.bundle},     {"--runtime", &o.runtime},
      {"--state-dir", &o.state_dir}, {"--log-path", &o.log_path}, {"--socket", &o.socket_path},
  };
  for (const auto& [name, value] : required) {
    if (value->empty()) {
      *error = std::string("missing required flag ") + name;
      return false;
    }
  }
  if (o.id.find('/') != std::string::npos || o.id.starts_with("-")) {
    *error = "bad container id \"" + o.id + "\"";
    return false;
  }
  *options = std::move(o);
  return true;
}

}  // namespace flint::shim
