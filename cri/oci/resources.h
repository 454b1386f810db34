// CRI LinuxContainerResources <-> OCI linux.resources.
#pragma once

#include <nlohmann/json.hpp>

#include "absl/status/status.h"
#include "api.pb.h"
#include "cri/oci/host_features.h"

namespace flint::oci {

// OCI linux.resources (cpu, memory, hugepageLimits, unified) for the
// non-zero/non-empty fields of `r`. `unified` is dropped on cgroup v1, where
// runc/crun would reject it. Devices are not touched here.
nlohmann::json ResourcesToOci(const runtime::v1::LinuxContainerResources& r, const HostFeatures& host);

// UpdateContainerResources semantics: every zero/empty field of `update`
// leaves the `current` value alone (the CPU manager sends only cpuset_cpus);
// hugepage_limits are replaced as a whole when present, unified keys merged.
// oom_score_adj is not changed by updates (0 is indistinguishable from unset).
runtime::v1::LinuxContainerResources MergeResources(const runtime::v1::LinuxContainerResources& current,
                                                    const runtime::v1::LinuxContainerResources& update);

// Applies a (possibly partial) update to an OCI spec's linux.resources in
// place, keeping device rules and every field the update does not set. The
// result is what `runc update --r -` / `crun update` should receive as well.
absl::Status UpdateResources(nlohmann::json& spec, const runtime::v1::LinuxContainerResources& update,
                             const HostFeatures& host);

}  // namespace flint::oci
