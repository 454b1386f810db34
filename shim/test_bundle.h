// Test helper: an OCI bundle around Debian's busybox-static.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace flint::shim {

struct TestBundleOptions {
  std::vector<std::string> args;
  bool pid_namespace = true;
  bool terminal = false;
  int64_t memory_limit_bytes = 0;  // 0: no limit
};

// Creates <dir>/config.json and <dir>/rootfs with /bin/busybox and applet links.
bool WriteTestBundle(const std::string& dir, const TestBundleOptions& options, std::string* error);

}  // namespace flint::shim
