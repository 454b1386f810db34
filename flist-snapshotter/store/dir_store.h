// Blocks as files: <root>/<hex[0:2]>/<hex> (the rfs layout); reads also try
// the flat <root>/<hex>. Writes go to a temp file that is renamed into place,
// so a crash never leaves a partial block under its final name.
#pragma once

#include <string>

#include "flist-snapshotter/store/block_store.h"

namespace flint::flist {

class DirStore : public BlockStore {
 public:
  explicit DirStore(std::string root) : root_(std::move(root)) {}
  absl::StatusOr<std::string> Get(std::string_view id) override;
  absl::Status Put(std::string_view id, std::string_view data) override;
  absl::StatusOr<bool> Exists(std::string_view id) override;
  std::string Describe() const override { return "dir://" + root_; }

  std::string PathFor(std::string_view id) const;

 private:
  std::string root_;
};

}  // namespace flint::flist
