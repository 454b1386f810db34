// flintd's side of the shim's long-lived ops: exec_stream and attach (see shim/README.md).
// One connection per session; it lives as long as the exec'd process or the attachment.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace flint::shim {

// Attach frames: 1 byte kind, 4 bytes big-endian length, payload.
enum class AttachFrame : uint8_t {
  kStdin = 0,       // to the shim
  kStdinClose = 1,  // to the shim (stdin_once)
  kResize = 2,      // to the shim: u16 width, u16 height
  kStdout = 1,      // from the shim
  kStderr = 2,      // from the shim
  kEnd = 3,         // from the shim: the container's output ended
};

class ShimStreamConnection {
 public:
  static absl::StatusOr<std::unique_ptr<ShimStreamConnection>> Connect(const std::string& socket_path);
  ~ShimStreamConnection();
  ShimStreamConnection(const ShimStreamConnection&) = delete;
  ShimStreamConnection& operator=(const ShimStreamConnection&) = delete;

  // One JSON request line, with descriptors attached (SCM_RIGHTS).
  absl::Status SendRequest(const nlohmann::json& request, const std::vector<int>& fds = {});
  // Blocks for the next reply line; a descriptor sent with it lands in *received_fd (else -1).
  // Error replies become FailedPrecondition with the shim's message.
  absl::StatusOr<nlohmann::json> ReadReply(int* received_fd = nullptr);

  absl::Status SendFrame(AttachFrame kind, std::string_view data);  // thread-safe
  struct Frame {
    uint8_t kind = 0;
    std::string data;
  };
  absl::StatusOr<Frame> ReadFrame();

  // Ends the connection both ways (the shim then kills an exec_stream process); unblocks
  // readers. Safe from any thread, any number of times (hold the connection in a
  // shared_ptr for cancel callbacks).
  void Shutdown();

 private:
  explicit ShimStreamConnection(int fd) : fd_(fd) {}
  absl::Status Fill();  // reads more into buffer_

  std::mutex send_mu_;
  const int fd_;  // closed only by the destructor, so Shutdown never hits a reused number
  std::string buffer_;
  int pending_fd_ = -1;
};

}  // namespace flint::shim
