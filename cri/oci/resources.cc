#include "cri/oci/resources.h"

#include "absl/strings/str_cat.h"
#include "common/log.h"

namespace flint::oci {

nlohmann::json ResourcesToOci(const runtime::v1::LinuxContainerResources& r, const HostFeatures& host) {
  nlohmann::json out = nlohmann::json::object();
  nlohmann::json cpu = nlohmann::json::object();
  if (r.cpu_shares() > 0) cpu["shares"] = static_cast<uint64_t>(r.cpu_shares());
  if (r.cpu_quota() != 0) cpu["quota"] = r.cpu_quota();
  if (r.cpu_period() > 0) cpu["period"] = static_cast<uint64_t>(r.cpu_period());
  if (!r.cpuset_cpus().empty()) cpu["cpus"] = r.cpuset_cpus();
  if (!r.cpuset_mems().empty()) cpu["mems"] = r.cpuset_mems();
  if (!cpu.empty()) out["cpu"] = std::move(cpu);
  nlohmann::json memory = nlohmann::json::object();
  if (r.memory_limit_in_bytes() != 0) memory["limit"] = r.memory_limit_in_bytes();
  if (r.memory_swap_limit_in_bytes() != 0) memory["swap"] = r.memory_swap_limit_in_bytes();
  if (!memory.empty()) out["memory"] = std::move(memory);
  if (r.hugepage_limits_size() > 0) {
    nlohmann::json limits = nlohmann::json::array();
    for (const auto& h : r.hugepage_limits()) limits.push_back({{"pageSize", h.page_size()}, {"limit", h.limit()}});
    out["hugepageLimits"] = std::move(limits);
  }
  if (!r.unified().empty()) {
    if (host.cgroup_v2) {
      nlohmann::json unified = nlohmann::json::object();
      for (const auto& [k, v] : r.unified()) unified[k] = v;
      out["unified"] = std::move(unified);
    } else {
      FLINT_LOG(DEBUG) << "dropping " << r.unified().size() << " cgroup v2 unified resource(s) on a cgroup v1 host";
    }
  }
  return out;
}

runtime::v1::LinuxContainerResources MergeResources(const runtime::v1::LinuxContainerResources& current,
                                                    const runtime::v1::LinuxContainerResources& update) {
  runtime::v1::LinuxContainerResources out = current;
  if (update.cpu_period() != 0) out.set_cpu_period(update.cpu_period());
  if (update.cpu_quota() != 0) out.set_cpu_quota(update.cpu_quota());
  if (update.cpu_shares() != 0) out.set_cpu_shares(update.cpu_shares());
  if (update.memory_limit_in_bytes() != 0) out.set_memory_limit_in_bytes(update.memory_limit_in_bytes());
  if (update.memory_swap_limit_in_bytes() != 0) out.set_memory_swap_limit_in_bytes(update.memory_swap_limit_in_bytes());
  if (!update.cpuset_cpus().empty()) out.set_cpuset_cpus(update.cpuset_cpus());
  if (!update.cpuset_mems().empty()) out.set_cpuset_mems(update.cpuset_mems());
  if (update.hugepage_limits_size() > 0) *out.mutable_hugepage_limits() = update.hugepage_limits();
  for (const auto& [k, v] : update.unified()) (*out.mutable_unified())[k] = v;
  return out;
}

absl::Status UpdateResources(nlohmann::json& spec, const runtime::v1::LinuxContainerResources& update,
                             const HostFeatures& host) {
  if (!spec.is_object()) return absl::InvalidArgumentError("update resources: spec is not an object");
  nlohmann::json& linux = spec["linux"];
  if (linux.is_null()) linux = nlohmann::json::object();
  if (!linux.is_object()) return absl::InvalidArgumentError("update resources: spec linux is not an object");
  nlohmann::json& resources = linux["resources"];
  if (resources.is_null()) resources = nlohmann::json::object();
  // A JSON merge patch has exactly the wanted semantics: absent keys are kept,
  // objects (cpu, memory, unified) merge per key, arrays (hugepageLimits) replace.
  resources.merge_patch(ResourcesToOci(update, host));
  return absl::OkStatus();
}

}  // namespace flint::oci
