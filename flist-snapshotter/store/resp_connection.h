// One blocking TCP connection speaking RESP2 (Redis / 0-db). Commands are
// sent as arrays of bulk strings, which 0-db requires. Every socket operation
// has a timeout.
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
  static absl::StatusOr<std::unique_ptr<RespConnection>> Connect(const std::string& host, int port,
                                                                 std::chrono::milliseconds timeout);
  ~RespConnection();
  RespConnection(const RespConnection&) = delete;
  RespConnection& operator=(const RespConnection&) = delete;

  // I/O failures come back as Unavailable; a server "-ERR" is a kError reply.
  absl::StatusOr<RespReply> Command(const std::vector<std::string_view>& args);

 private:
  explicit RespConnection(int fd) : fd_(fd) {}
  absl::Status Fill();
  absl::StatusOr<std::string> ReadLine();
  absl::Status ReadBulk(size_t len, std::string* out);
  absl::StatusOr<RespReply> ReadReply(int depth);

  int fd_;
  std::string buf_;
  size_t pos_ = 0;
};

}  // namespace flint::flist
