#include "cni/lib/ip_masq.h"

#include <openssl/sha.h>

#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "cni/lib/cni_error.h"
#include "cni/lib/command.h"

namespace flint::cni {
namespace {

// Each change is one iptables-restore transaction (one exec instead of one per rule).
absl::Status Restore(absl::string_view family_tool, const std::string& rules) {
  const std::string tool = absl::StrCat(family_tool, "-restore");
  absl::StatusOr<CommandOutput> out = RunCommand({tool, "-w", "5", "--noflush"}, rules);
  if (!out.ok()) return out.status();
  if (out->exit_code != 0) return absl::InternalError(absl::StrCat(tool, ": ", out->out, "input:\n", rules));
  return absl::OkStatus();
}

std::string Quoted(absl::string_view s) {
  return absl::StrCat("\"", absl::StrReplaceAll(s, {{"\\", "\\\\"}, {"\"", "\\\""}}), "\"");
}

std::string CommentMatch(absl::string_view network, absl::string_view container_id) {
  return absl::StrCat("-m comment --comment ", Quoted(MasqComment(network, container_id)));
}

// The POSTROUTING rule sending the pod's traffic to its chain; `op` is 'A' or 'D'.
std::string JumpRule(char op, const IpAddress& ip, absl::string_view network, absl::string_view container_id) {
  return absl::StrCat("-", std::string(1, op), " POSTROUTING -s ", ip.ToString(), ip.is_v4() ? "/32 " : "/128 ",
                      CommentMatch(network, container_id), " -j ", MasqChainName(network, container_id));
}

// "-A POSTROUTING ..." as printed by "iptables -S" back into "-D POSTROUTING ...".
// Arguments are kept in their printed (quoted) form, which restore parses the same way.
std::string DeleteLineFor(absl::string_view listed_rule) {
  return absl::StrCat("-D", listed_rule.substr(2));
}

}  // namespace

std::string MasqChainName(absl::string_view network, absl::string_view container_id) {
  std::string input = absl::StrCat(network, container_id);
  unsigned char digest[SHA512_DIGEST_LENGTH];
  SHA512(reinterpret_cast<const unsigned char*>(input.data()), input.size(), digest);
  std::string hex = absl::BytesToHexString(absl::string_view(reinterpret_cast<char*>(digest), sizeof(digest)));
  return absl::StrCat("CNI-", hex.substr(0, 24));
}

std::string MasqComment(absl::string_view network, absl::string_view container_id) {
  return absl::StrCat("name: \"", network, "\" id: \"", container_id, "\"");
}

absl::Status SetupIpMasq(const IpPrefix& address, absl::string_view network, absl::string_view container_id) {
  const bool v4 = address.address.is_v4();
  const std::string chain = MasqChainName(network, container_id);
  // Declaring the chain creates it, or empties it when a previous attempt left it behind.
  std::string rules = absl::StrCat(
      "*nat\n:", chain, " - [0:0]\n",
      "-A ", chain, " -d ", address.Network().ToString(), " ", CommentMatch(network, container_id), " -j ACCEPT\n",
      "-A ", chain, " ! -d ", v4 ? "224.0.0.0/4" : "ff00::/8", " ", CommentMatch(network, container_id),
      " -j MASQUERADE\n",
      JumpRule('A', address.address, network, container_id), "\n",
      "COMMIT\n");
  return Restore(v4 ? "iptables" : "ip6tables", rules);
}

namespace {

// Finds the jumps to the chain by listing POSTROUTING, then removes them and the chain.
absl::Status TeardownBySearch(absl::string_view tool, const std::string& chain) {
  absl::StatusOr<CommandOutput> listed = RunCommand({std::string(tool), "-w", "5", "-t", "nat", "-S", "POSTROUTING"});
  if (!listed.ok() || listed->exit_code != 0) return absl::OkStatus();  // no nat table for this family
  std::string rules = absl::StrCat("*nat\n:", chain, " - [0:0]\n");
  for (absl::string_view line : absl::StrSplit(listed->out, '\n', absl::SkipEmpty())) {
    if (absl::StartsWith(line, "-A POSTROUTING") && absl::EndsWith(line, absl::StrCat("-j ", chain))) {
      absl::StrAppend(&rules, DeleteLineFor(line), "\n");
    }
  }
  absl::StrAppend(&rules, "-X ", chain, "\nCOMMIT\n");
  return Restore(tool, rules);
}

}  // namespace

absl::Status TeardownIpMasq(absl::string_view network, absl::string_view container_id,
                            const std::optional<std::vector<IpAddress>>& pod_ips) {
  const std::string chain = MasqChainName(network, container_id);
  for (const bool v4 : {true, false}) {
    const absl::string_view tool = v4 ? "iptables" : "ip6tables";
    if (!pod_ips) {
      FLINT_CNI_RETURN_IF_ERROR(TeardownBySearch(tool, chain), tool);
      continue;
    }
    std::string rules = absl::StrCat("*nat\n:", chain, " - [0:0]\n");
    bool any = false;
    for (const IpAddress& ip : *pod_ips) {
      if (ip.is_v4() != v4) continue;
      absl::StrAppend(&rules, JumpRule('D', ip, network, container_id), "\n");
      any = true;
    }
    if (!any) continue;
    absl::StrAppend(&rules, "-X ", chain, "\nCOMMIT\n");
    // Fails as a whole when a jump is not there (already removed, or a different
    // address): then look for whatever is left.
    if (!Restore(tool, rules).ok()) FLINT_CNI_RETURN_IF_ERROR(TeardownBySearch(tool, chain), tool);
  }
  return absl::OkStatus();
}

}  // namespace flint::cni
