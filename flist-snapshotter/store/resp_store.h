// Blocks in a 0-db (zdb://) or Redis (redis://) server, keyed by the raw
// block id. zdb://[:PASS@]HOST[:PORT=9900][/NAMESPACE] selects a namespace
// other than "default" with SELECT ns [pass]; redis://[:PASS@]HOST[:PORT=6379][/DB]
// sends AUTH and SELECT db.
#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <string>

#include "flist-snapshotter/store/block_store.h"
#include "flist-snapshotter/store/resp_connection.h"
#include "flist-snapshotter/store/store_url.h"

namespace flint::flist {

class RespStore : public BlockStore {
 public:
  static absl::StatusOr<std::unique_ptr<RespStore>> Open(
      std::string_view url, std::chrono::milliseconds timeout = std::chrono::seconds(10));

  absl::StatusOr<std::string> Get(std::string_view id) override;
  absl::Status Put(std::string_view id, std::string_view data) override;
  absl::StatusOr<bool> Exists(std::string_view id) override;
  std::string Describe() const override { return url_.Redacted(); }

 private:
  RespStore(StoreUrl url, std::chrono::milliseconds timeout) : url_(std::move(url)), timeout_(timeout) {}
  absl::Status EnsureConnected();
  // Runs a command, reconnecting once if the connection broke.
  absl::StatusOr<RespReply> Run(const std::vector<std::string_view>& args);

  StoreUrl url_;
  std::chrono::milliseconds timeout_;
  std::mutex mu_;
  std::unique_ptr<RespConnection> conn_;
};

}  // namespace flint::flist
