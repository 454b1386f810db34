// Blocks in a 0-db (zdb://) or Redis (redis://) server, keyed by the raw
// block id. zdb://[:PASS@]HOST[:PORT=9900][/NAMESPACE] selects a namespace
// other than "default" with SELECT ns [pass]; redis://[:PASS@]HOST[:PORT=6379][/DB]
// sends AUTH and SELECT db.
//
// Commands go over a small pool of connections (at most `max_connections`,
// opened on demand and kept), so parallel fetches (prefetch workers, many
// readers) are in flight together instead of queueing behind one socket.
#pragma once

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "flist-snapshotter/store/block_store.h"
#include "common/resp_connection.h"
#include "flist-snapshotter/store/store_url.h"

namespace flint::flist {

class RespStore : public BlockStore {
 public:
  static constexpr size_t kDefaultMaxConnections = 4;

  // `timeout` bounds connecting, each socket wait and the wait for a free
  // connection; `reply_timeout` a whole command (see RespConnection).
  static absl::StatusOr<std::unique_ptr<RespStore>> Open(
      std::string_view url, std::chrono::milliseconds timeout = std::chrono::seconds(10),
      size_t max_connections = kDefaultMaxConnections,
      std::chrono::milliseconds reply_timeout = RespConnection::kDefaultReplyTimeout);

  absl::StatusOr<std::string> Get(std::string_view id) override;
  absl::Status Put(std::string_view id, std::string_view data) override;
  absl::StatusOr<bool> Exists(std::string_view id) override;
  std::string Describe() const override { return url_.Redacted(); }

 private:
  RespStore(StoreUrl url, std::chrono::milliseconds timeout, size_t max_connections,
            std::chrono::milliseconds reply_timeout)
      : url_(std::move(url)), timeout_(timeout), reply_timeout_(reply_timeout), max_connections_(max_connections) {}
  // A new connection with AUTH / SELECT done.
  absl::StatusOr<std::unique_ptr<RespConnection>> Connect();
  // An idle connection, a new one while under the limit, or the next one
  // returned (waiting at most the timeout).
  absl::StatusOr<std::unique_ptr<RespConnection>> Checkout();
  void Return(std::unique_ptr<RespConnection> conn);
  // Forgets a broken connection and the idle ones (after a server restart
  // they are as dead as this one).
  void Discard();
  // Runs a command, on a fresh connection once more if the first one broke
  // (not when it timed out: a slow server would only make the reader wait twice).
  absl::StatusOr<RespReply> Run(const std::vector<std::string_view>& args);

  StoreUrl url_;
  std::chrono::milliseconds timeout_;
  std::chrono::milliseconds reply_timeout_;
  size_t max_connections_;
  std::mutex mu_;
  std::condition_variable returned_cv_;
  std::vector<std::unique_ptr<RespConnection>> idle_;
  size_t open_ = 0;  // idle + checked out + connecting
};

}  // namespace flint::flist
