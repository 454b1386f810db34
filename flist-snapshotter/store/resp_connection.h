// One blocking TCP connection speaking RESP2 (Redis / 0-db). Commands are
// sent as arrays of bulk strings, which 0-db requires. Every socket operation
// has a timeout (`io_timeout`), and every command a deadline for its whole
// reply (`reply_timeout`): a server that trickles a block a few bytes at a
// time fails the command instead of keeping a reader waiting for hours.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace flint::flist {

struct RespReply {
  enum class Type { kSimple, kError, kInteger, kBulk, kNil, kArray };
  Type type = Type::kNil;
  std::string str;  // simple, error and bulk
  int64_t integer = 0;
  std::vector<RespReply> elements;
};

class RespConnection {
 public:
  static constexpr std::chrono::milliseconds kDefaultReplyTimeout{60'000};

  static absl::StatusOr<std::unique_ptr<RespConnection>> Connect(
      const std::string& host, int port, std::chrono::milliseconds io_timeout,
      std::chrono::milliseconds reply_timeout = kDefaultReplyTimeout);
  ~RespConnection();
  RespConnection(const RespConnection&) = delete;
  RespConnection& operator=(const RespConnection&) = delete;

  // I/O failures come back as Unavailable, a server too slow for the
  // timeouts as DeadlineExceeded; a server "-ERR" is a kError reply.
  absl::StatusOr<RespReply> Command(const std::vector<std::string_view>& args);

 private:
  RespConnection(int fd, std::chrono::milliseconds io_timeout, std::chrono::milliseconds reply_timeout)
      : fd_(fd), io_timeout_(io_timeout), reply_timeout_(reply_timeout) {}
  // Before a blocking send or recv: DeadlineExceeded once the command's
  // deadline has passed, else shortens the socket timeout to what is left.
  absl::Status BoundNextWait(int option);
  absl::Status WaitError(std::string_view what);
  absl::Status ReplyDeadlineError() const;
  absl::Status Fill();
  absl::StatusOr<std::string> ReadLine();
  absl::Status ReadBulk(size_t len, std::string* out);
  absl::StatusOr<RespReply> ReadReply(int depth);

  int fd_;
  std::chrono::milliseconds io_timeout_;
  std::chrono::milliseconds reply_timeout_;
  std::chrono::steady_clock::time_point deadline_;
  bool timeouts_shortened_ = false;
  std::string buf_;
  size_t pos_ = 0;
};

}  // namespace flint::flist
