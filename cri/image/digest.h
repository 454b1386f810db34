// SHA-256 digests ("sha256:<hex>") computed incrementally while data streams by.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

namespace flint::image {

class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  void Update(const void* data, size_t size);
  // "sha256:<64 hex>"; the hasher must not be updated afterwards.
  std::string Finish();

 private:
  struct Context;
  std::unique_ptr<Context> context_;
};

std::string Sha256Digest(std::string_view data);

// "sha256:abc..." -> "abc..."; the input must be a valid digest.
std::string DigestHex(std::string_view digest);

// Chain id of a layer stack (OCI image spec): chain(0) = diff_id(0),
// chain(n) = sha256(chain(n-1) + " " + diff_id(n)).
std::string ChainId(std::string_view parent_chain_id, std::string_view diff_id);

}  // namespace flint::image
