// Image reference parsing and normalization (distribution/reference rules, docker.io defaults).
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace flint::image {

struct Reference {
  std::string domain;      // "docker.io", "registry.k8s.io", "127.0.0.1:5055"
  std::string repository;  // path below the domain: "library/busybox"
  std::string tag;         // empty when pulled by digest only
  std::string digest;      // "sha256:<64 hex>" or empty

  // "docker.io/library/busybox"
  std::string Name() const { return domain + "/" + repository; }
  // "docker.io/library/busybox:latest" (empty when there is no tag)
  std::string TaggedName() const { return tag.empty() ? std::string() : Name() + ":" + tag; }
  // "docker.io/library/busybox@sha256:..." (empty when there is no digest)
  std::string DigestedName() const { return digest.empty() ? std::string() : Name() + "@" + digest; }
  // The canonical string: name[:tag][@digest].
  std::string String() const;
};

// Parses and normalizes a reference: `busybox` -> docker.io/library/busybox:latest. A reference with a
// digest and no tag gets no default tag. Errors are InvalidArgument naming the offending part.
absl::StatusOr<Reference> ParseReference(std::string_view text);

// Same, but does not add `:latest` when neither tag nor digest is given (for lookups by name).
absl::StatusOr<Reference> ParseReferenceNoDefaultTag(std::string_view text);

// True for "sha256:<64 lowercase hex>".
bool IsValidDigest(std::string_view digest);

}  // namespace flint::image
