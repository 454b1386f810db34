// Transport-independent parts of the Kubernetes remotecommand protocol (exec/attach).
#pragma once

#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "cri/streaming/runtime.h"

namespace flint::streaming {

inline constexpr char kStreamProtocolV4[] = "v4.channel.k8s.io";
inline constexpr char kStreamProtocolV3[] = "v3.channel.k8s.io";
inline constexpr char kStreamProtocolV2[] = "v2.channel.k8s.io";
inline constexpr char kStreamProtocolV1[] = "channel.k8s.io";
inline constexpr char kStreamProtocolV5[] = "v5.channel.k8s.io";  // WebSocket only
inline constexpr char kPortForwardProtocolV1[] = "portforward.k8s.io";

// SPDY remotecommand versions in server preference order.
const std::vector<std::string>& SpdyRemoteCommandProtocols();

// Protocol version number (1..5) of a remotecommand subprotocol name; 0 if unknown.
int RemoteCommandVersion(std::string_view protocol);

// First client protocol that the server supports (client order wins), or nullopt.
std::optional<std::string> NegotiateProtocol(const std::vector<std::string>& client,
                                             const std::vector<std::string>& server);

// What goes on the error stream when the session ends, for the given protocol version.
// v4+: metav1.Status JSON (also on success); v1-v3: plain text on failure, empty on success.
std::string ExecResultMessage(int version, const absl::StatusOr<int>& exit_code);
std::string AttachResultMessage(int version, const absl::Status& result);

struct StreamTimeouts {
  absl::Duration stream_creation = absl::Seconds(30);  // client must open all streams by then
  absl::Duration idle = absl::Hours(4);                // port-forward: no new stream for this long
};

// An exec or attach request taken from the token cache.
struct RemoteCommandRequest {
  bool is_exec = true;
  std::string container_id;
  std::vector<std::string> cmd;  // exec only
  bool stdin = false;
  bool stdout = false;
  bool stderr = false;
  bool tty = false;
};

// Runs the exec/attach against the runtime and returns the error-stream message for version.
std::string RunRemoteCommand(StreamingRuntime& runtime, const RemoteCommandRequest& request,
                             const ExecStreams& streams, int version);

// Incrementally parses a byte stream of concatenated JSON objects {"Width":..,"Height":..}.
class TerminalSizeParser {
 public:
  // Appends bytes; returns sizes completed by them. Malformed objects are skipped.
  std::vector<TerminalSize> Feed(std::string_view bytes);

 private:
  std::string buf_;
  int depth_ = 0;
  bool in_string_ = false;
  bool escape_ = false;
};

// Parses one JSON TerminalSize object.
std::optional<TerminalSize> ParseTerminalSize(std::string_view json);

// A ResizeQueue fed by the transport.
class ResizeChannel : public ResizeQueue {
 public:
  void Push(TerminalSize size);
  std::optional<TerminalSize> Next() override;
  void Close() override;

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<TerminalSize> queue_;
  bool closed_ = false;
};

}  // namespace flint::streaming
