// One TCP connection speaking RESP2, for every Redis / 0-db client in Flint: the flist block stores
// (GET, EXISTS, SET, SELECT, AUTH), the log and stats sinks (pipelined PUBLISH) and the tests that
// subscribe to them. Commands go out as arrays of bulk strings, which 0-db requires.
//
// Nothing waits unbounded: connecting (name resolution included) and each socket wait take at
// most `io_timeout`, a whole command (sent and answered) at most `reply_timeout`, so a server that
// trickles a block a few bytes at a time fails the command instead of keeping a reader for hours.
// Failures: I/O as Unavailable, a server too slow for the timeouts as DeadlineExceeded, a reply
// that is not RESP as DataLoss; a server's "-ERR" is a kError reply, not a failed status.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace flint {

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

  // Resolves `host` (name or address) and connects to the first address that answers, each within
  // `io_timeout`.
  static absl::StatusOr<std::unique_ptr<RespConnection>> Connect(
      const std::string& host, int port, std::chrono::milliseconds io_timeout,
      std::chrono::milliseconds reply_timeout = kDefaultReplyTimeout);
  ~RespConnection();
  RespConnection(const RespConnection&) = delete;
  RespConnection& operator=(const RespConnection&) = delete;

  static std::string EncodeCommand(const std::vector<std::string_view>& args);

  // Sends one command and reads its reply.
  absl::StatusOr<RespReply> Command(const std::vector<std::string_view>& args);

  // For pipelines and subscribers: Send writes bytes (commands encoded with EncodeCommand) within
  // the reply timeout; ReadReply reads the next complete reply, waiting at most `timeout` for all
  // of it (a subscriber's wait for the next message).
  absl::Status Send(std::string_view bytes);
  absl::StatusOr<RespReply> ReadReply(std::chrono::milliseconds timeout);

 private:
  RespConnection(int fd, std::chrono::milliseconds io_timeout, std::chrono::milliseconds reply_timeout)
      : fd_(fd), io_timeout_(io_timeout), reply_timeout_(reply_timeout), socket_timeout_(io_timeout) {}
  // Starts the time budget of one command, send or read (`what`, for errors): the whole by
  // `total`, each wait at most `per_wait`.
  void StartBudget(const char* what, std::chrono::milliseconds total, std::chrono::milliseconds per_wait);
  // Before a blocking send or recv: DeadlineExceeded once the budget is spent, else sets the
  // socket's timeout to what the next wait may take.
  absl::Status BoundNextWait();
  absl::Status WaitError(std::string_view what) const;
  absl::Status BudgetSpentError() const;
  absl::Status SendAll(std::string_view bytes);
  absl::Status Fill();
  absl::StatusOr<std::string> ReadLine();
  absl::Status ReadBulk(size_t len, std::string* out);
  absl::StatusOr<RespReply> ReadValue(int depth);

  int fd_;
  std::chrono::milliseconds io_timeout_;
  std::chrono::milliseconds reply_timeout_;
  std::chrono::milliseconds socket_timeout_;  // what SO_RCVTIMEO / SO_SNDTIMEO are set to now
  std::chrono::steady_clock::time_point deadline_;
  const char* budget_what_ = "reply";
  std::chrono::milliseconds budget_{0};
  std::chrono::milliseconds per_wait_{0};
  std::string buf_;
  size_t pos_ = 0;
};

}  // namespace flint
