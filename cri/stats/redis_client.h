// A minimal blocking Redis (RESP2) connection: enough to PUBLISH from the sinks and to SUBSCRIBE
// in tests. Every socket operation has a timeout; nothing here retries (RedisPublisher does).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace flint::stats {

struct RespValue {
  enum class Type { kSimpleString, kError, kInteger, kBulkString, kNull, kArray };
  Type type = Type::kNull;
  std::string str;  // simple string, error or bulk string
  int64_t integer = 0;
  std::vector<RespValue> elements;
};

class RedisConnection {
 public:
  // Resolves `host` (name or address) and connects within `timeout`; the same timeout then bounds
  // every send.
  static absl::StatusOr<std::unique_ptr<RedisConnection>> Connect(const std::string& host, uint16_t port,
                                                                   std::chrono::milliseconds timeout);
  ~RedisConnection();
  RedisConnection(const RedisConnection&) = delete;
  RedisConnection& operator=(const RedisConnection&) = delete;

  // Encodes a command as a RESP array of bulk strings.
  static std::string EncodeCommand(const std::vector<std::string>& args);

  absl::Status SendRaw(const std::string& bytes);
  absl::Status SendCommand(const std::vector<std::string>& args) { return SendRaw(EncodeCommand(args)); }
  // Reads one complete reply, waiting at most `timeout` for data to arrive.
  absl::StatusOr<RespValue> ReadReply(std::chrono::milliseconds timeout);

 private:
  RedisConnection(int fd, std::chrono::milliseconds send_timeout) : fd_(fd), send_timeout_(send_timeout) {}
  absl::Status Fill(std::chrono::steady_clock::time_point deadline);
  absl::StatusOr<std::string> ReadLine(std::chrono::steady_clock::time_point deadline);
  absl::StatusOr<RespValue> ReadValue(std::chrono::steady_clock::time_point deadline, int depth);

  int fd_;
  std::chrono::milliseconds send_timeout_;
  std::string buffer_;
  size_t pos_ = 0;
};

}  // namespace flint::stats
