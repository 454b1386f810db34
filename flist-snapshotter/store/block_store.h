// Where flist blocks live. Ids are raw block ids (16 bytes for v1, 32 for
// v2); stores that need text names use lower-case hex.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace flint::flist {

class BlockStore {
 public:
  virtual ~BlockStore() = default;
  // NotFound when the store has no such block.
  virtual absl::StatusOr<std::string> Get(std::string_view id) = 0;
  virtual absl::Status Put(std::string_view id, std::string_view data) = 0;
  virtual absl::StatusOr<bool> Exists(std::string_view id) = 0;
  // The URL the store was opened with, without any password.
  virtual std::string Describe() const = 0;
};

// dir://PATH, http(s)://BASE, zdb://[:PASS@]HOST[:PORT][/NAMESPACE],
// redis://[:PASS@]HOST[:PORT][/DB].
absl::StatusOr<std::unique_ptr<BlockStore>> OpenBlockStore(std::string_view url);

}  // namespace flint::flist
