// Sends each block to the stores whose route covers the block id's first
// byte. Overlapping routes replicate: reads try each match in order, writes
// go to all of them.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "flist-snapshotter/flist/model.h"
#include "flist-snapshotter/store/block_store.h"

namespace flint::flist {

class RoutedStore : public BlockStore {
 public:
  struct Shard {
    uint8_t start;
    uint8_t end;
    std::unique_ptr<BlockStore> store;
  };
  explicit RoutedStore(std::vector<Shard> shards) : shards_(std::move(shards)) {}
  // Opens one store per route.
  static absl::StatusOr<std::unique_ptr<RoutedStore>> FromRoutes(const std::vector<Route>& routes);

  absl::StatusOr<std::string> Get(std::string_view id) override;
  absl::Status Put(std::string_view id, std::string_view data) override;
  absl::StatusOr<bool> Exists(std::string_view id) override;
  std::string Describe() const override;

 private:
  std::vector<BlockStore*> Matching(std::string_view id) const;
  std::vector<Shard> shards_;
};

// The store serving a flist's blocks: `override_url` when given (e.g. a
// --store flag), else the flist's routes (v2 route table, v1 backend
// metadata), else `default_url` (from config). Errors when none applies.
absl::StatusOr<std::unique_ptr<BlockStore>> OpenStoreForFlist(const Flist& flist,
                                                              std::string_view override_url,
                                                              std::string_view default_url);

}  // namespace flint::flist
