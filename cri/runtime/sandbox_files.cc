#include "cri/runtime/sandbox_files.h"

#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/fs.h"

namespace flint::runtime {

std::string ResolvConfText(const ::runtime::v1::DNSConfig& dns, const std::string& host_resolv_conf) {
  if (dns.servers().empty() && dns.searches().empty() && dns.options().empty()) return host_resolv_conf;
  std::string text;
  if (!dns.searches().empty()) absl::StrAppend(&text, "search ", absl::StrJoin(dns.searches(), " "), "\n");
  for (const auto& server : dns.servers()) absl::StrAppend(&text, "nameserver ", server, "\n");
  if (!dns.options().empty()) absl::StrAppend(&text, "options ", absl::StrJoin(dns.options(), " "), "\n");
  return text;
}

std::string HostsText(const std::string& hostname, const std::string& ip) {
  std::string text =
      "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\n"
      "fe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n";
  if (!ip.empty() && !hostname.empty()) absl::StrAppend(&text, ip, "\t", hostname, "\n");
  return text;
}

absl::StatusOr<SandboxFiles> WriteSandboxFiles(const std::string& dir, const ::runtime::v1::PodSandboxConfig& config,
                                               const std::string& host_resolv_conf_path) {
  if (absl::Status s = fs::MakeDirs(dir, 0755); !s.ok()) return s;
  absl::StatusOr<std::string> host_resolv = fs::ReadFile(host_resolv_conf_path);
  SandboxFiles files{dir + "/resolv.conf", dir + "/hostname", dir + "/hosts"};
  std::string hostname = config.hostname();
  bool host_network = config.has_linux() && config.linux().has_security_context() &&
                      config.linux().security_context().has_namespace_options() &&
                      config.linux().security_context().namespace_options().network() == ::runtime::v1::NODE;
  if (hostname.empty() || host_network) {
    char buf[256] = {};
    gethostname(buf, sizeof buf - 1);
    if (hostname.empty() || host_network) hostname = buf;
  }
  if (absl::Status s = fs::WriteFileAtomic(files.resolv_conf,
                                           ResolvConfText(config.dns_config(), host_resolv.ok() ? *host_resolv : ""));
      !s.ok())
    return s;
  if (absl::Status s = fs::WriteFileAtomic(files.hostname, hostname + "\n"); !s.ok()) return s;
  if (absl::Status s = fs::WriteFileAtomic(files.hosts, HostsText(hostname, "")); !s.ok()) return s;
  return files;
}

}  // namespace flint::runtime
