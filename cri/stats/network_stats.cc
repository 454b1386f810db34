#include "cri/stats/network_stats.h"

#include <fcntl.h>
#include <sched.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "cri/stats/cgroup_files.h"

namespace flint::stats {

absl::StatusOr<std::vector<InterfaceStats>> ParseProcNetDev(std::string_view text) {
  absl::string_view content(text.data(), text.size());
  std::vector<InterfaceStats> out;
  int line_no = 0;
  for (absl::string_view line : absl::StrSplit(content, '\n', absl::SkipWhitespace())) {
    if (++line_no <= 2) continue;  // headers
    size_t colon = line.find(':');
    if (colon == absl::string_view::npos) {
      return absl::InvalidArgumentError(absl::StrCat("/proc/net/dev line ", line_no, ": no ':'"));
    }
    std::vector<absl::string_view> fields =
        absl::StrSplit(line.substr(colon + 1), ' ', absl::SkipEmpty());
    if (fields.size() < 16) {
      return absl::InvalidArgumentError(
          absl::StrCat("/proc/net/dev line ", line_no, ": ", fields.size(), " counters, want 16"));
    }
    uint64_t values[16];
    for (int i = 0; i < 16; ++i) {
      if (!absl::SimpleAtoi(fields[i], &values[i])) {
        return absl::InvalidArgumentError(absl::StrCat("/proc/net/dev line ", line_no, ": bad counter ", fields[i]));
      }
    }
    InterfaceStats iface;
    iface.name = std::string(absl::StripAsciiWhitespace(line.substr(0, colon)));
    // Receive: bytes packets errs drop fifo frame compressed multicast; Transmit: bytes packets errs ...
    iface.rx_bytes = values[0];
    iface.rx_errors = values[2];
    iface.tx_bytes = values[8];
    iface.tx_errors = values[10];
    out.push_back(std::move(iface));
  }
  return out;
}

absl::StatusOr<std::vector<InterfaceStats>> ReadNetnsInterfaceStats(const std::string& netns_path) {
  int ns_fd = ::open(netns_path.c_str(), O_RDONLY | O_CLOEXEC);
  if (ns_fd < 0) {
    std::string msg = absl::StrCat("open netns ", netns_path, ": ", std::strerror(errno));
    return errno == ENOENT ? absl::NotFoundError(msg) : absl::InternalError(msg);
  }
  absl::StatusOr<std::string> content = absl::InternalError("not run");
  // The thread dies right after, so its namespace switch never leaks into a pooled thread.
  std::thread worker([&] {
    if (::setns(ns_fd, CLONE_NEWNET) != 0) {
      content = absl::InternalError(absl::StrCat("setns ", netns_path, ": ", std::strerror(errno)));
      return;
    }
    content = internal::ReadSmallFile("/proc/thread-self/net/dev");
  });
  worker.join();
  ::close(ns_fd);
  if (!content.ok()) {
    return absl::Status(content.status().code(),
                        absl::StrCat("network stats of ", netns_path, ": ", content.status().message()));
  }
  absl::StatusOr<std::vector<InterfaceStats>> parsed = ParseProcNetDev(*content);
  if (!parsed.ok()) {
    return absl::InternalError(absl::StrCat("network stats of ", netns_path, ": ", parsed.status().message()));
  }
  return parsed;
}

}  // namespace flint::stats
