#include "cri/oci/capabilities.h"

#include <algorithm>
#include <fstream>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace flint::oci {

const std::vector<std::string>& KnownCapabilities() {
  static const std::vector<std::string> kCaps = {
      "CAP_CHOWN",           "CAP_DAC_OVERRIDE",    "CAP_DAC_READ_SEARCH", "CAP_FOWNER",
      "CAP_FSETID",          "CAP_KILL",            "CAP_SETGID",          "CAP_SETUID",
      "CAP_SETPCAP",         "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST",
      "CAP_NET_ADMIN",       "CAP_NET_RAW",         "CAP_IPC_LOCK",        "CAP_IPC_OWNER",
      "CAP_SYS_MODULE",      "CAP_SYS_RAWIO",       "CAP_SYS_CHROOT",      "CAP_SYS_PTRACE",
      "CAP_SYS_PACCT",       "CAP_SYS_ADMIN",       "CAP_SYS_BOOT",        "CAP_SYS_NICE",
      "CAP_SYS_RESOURCE",    "CAP_SYS_TIME",        "CAP_SYS_TTY_CONFIG",  "CAP_MKNOD",
      "CAP_LEASE",           "CAP_AUDIT_WRITE",     "CAP_AUDIT_CONTROL",   "CAP_SETFCAP",
      "CAP_MAC_OVERRIDE",    "CAP_MAC_ADMIN",       "CAP_SYSLOG",          "CAP_WAKE_ALARM",
      "CAP_BLOCK_SUSPEND",   "CAP_AUDIT_READ",      "CAP_PERFMON",         "CAP_BPF",
      "CAP_CHECKPOINT_RESTORE",
  };
  return kCaps;
}

const std::vector<std::string>& DefaultCapabilities() {
  static const std::vector<std::string> kDefault = {
      "CAP_CHOWN",  "CAP_DAC_OVERRIDE", "CAP_FSETID",           "CAP_FOWNER",     "CAP_MKNOD",
      "CAP_NET_RAW", "CAP_SETGID",      "CAP_SETUID",           "CAP_SETFCAP",    "CAP_SETPCAP",
      "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL",     "CAP_AUDIT_WRITE",
  };
  return kDefault;
}

absl::StatusOr<std::string> NormalizeCapability(std::string_view name) {
  std::string upper = absl::AsciiStrToUpper(std::string(name));
  if (upper == "ALL") return upper;
  if (!absl::StartsWith(upper, "CAP_")) upper = absl::StrCat("CAP_", upper);
  const auto& known = KnownCapabilities();
  if (std::find(known.begin(), known.end(), upper) == known.end()) {
    return absl::InvalidArgumentError(absl::StrCat("unknown capability \"", std::string(name), "\""));
  }
  return upper;
}

absl::StatusOr<std::vector<std::string>> ApplyCapabilityChanges(const std::vector<std::string>& base,
                                                                const std::vector<std::string>& all,
                                                                const std::vector<std::string>& add,
                                                                const std::vector<std::string>& drop) {
  std::vector<std::string> adds, drops;
  bool add_all = false, drop_all = false;
  for (const auto& a : add) {
    auto n = NormalizeCapability(a);
    if (!n.ok()) return n.status();
    if (*n == "ALL") add_all = true; else adds.push_back(*n);
  }
  for (const auto& d : drop) {
    auto n = NormalizeCapability(d);
    if (!n.ok()) return n.status();
    if (*n == "ALL") drop_all = true; else drops.push_back(*n);
  }
  std::vector<std::string> caps = base;
  if (add_all) caps = all;
  if (drop_all) caps.clear();
  for (const auto& a : adds) {
    if (std::find(caps.begin(), caps.end(), a) == caps.end()) caps.push_back(a);
  }
  std::erase_if(caps, [&](const std::string& c) { return std::find(drops.begin(), drops.end(), c) != drops.end(); });
  return caps;
}

std::vector<std::string> CapabilitiesFromMask(uint64_t mask) {
  std::vector<std::string> out;
  const auto& known = KnownCapabilities();
  for (size_t bit = 0; bit < known.size() && bit < 64; ++bit) {
    if (mask & (uint64_t{1} << bit)) out.push_back(known[bit]);
  }
  return out;
}

absl::StatusOr<std::vector<std::string>> CurrentProcessCapabilities() {
  std::ifstream in("/proc/self/status");
  if (!in) return absl::InternalError("open /proc/self/status");
  std::string line;
  uint64_t permitted = 0, bounding = 0;
  int found = 0;
  while (std::getline(in, line)) {
    uint64_t* target = nullptr;
    if (absl::StartsWith(line, "CapPrm:")) target = &permitted;
    if (absl::StartsWith(line, "CapBnd:")) target = &bounding;
    if (target == nullptr) continue;
    std::string hex(absl::StripAsciiWhitespace(line.substr(7)));
    if (!absl::SimpleHexAtoi(hex, target)) return absl::InternalError(absl::StrCat("parse \"", line, "\""));
    ++found;
  }
  if (found != 2) return absl::InternalError("no CapPrm/CapBnd in /proc/self/status");
  return CapabilitiesFromMask(permitted & bounding);
}

}  // namespace flint::oci
