// Read-only blocks over HTTP(S): GET <base>/<hex[0:2]>/<hex>, then
// <base>/<hex> (both layouts rfs understands). 404 means "not found".
#pragma once

#include <string>

#include "flist-snapshotter/store/block_store.h"

namespace flint::flist {

struct HttpStoreOptions {
  long connect_timeout_seconds = 10;
  // A transfer slower than low_speed_bytes/s for low_speed_seconds is aborted.
  long low_speed_bytes = 1024;
  long low_speed_seconds = 20;
  // A whole request (one block) taking longer than this is aborted, however
  // steadily it trickles in.
  long total_timeout_seconds = 60;
};

class HttpStore : public BlockStore {
 public:
  explicit HttpStore(std::string base, HttpStoreOptions options = {});
  absl::StatusOr<std::string> Get(std::string_view id) override;
  absl::Status Put(std::string_view id, std::string_view data) override;
  absl::StatusOr<bool> Exists(std::string_view id) override;
  std::string Describe() const override { return base_; }

 private:
  struct Response {
    long status = 0;
    std::string body;
  };
  absl::StatusOr<Response> Fetch(const std::string& url, bool head_only);

  std::string base_;
  HttpStoreOptions options_;
};

}  // namespace flint::flist
