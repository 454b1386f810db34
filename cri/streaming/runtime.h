// The contract between the streaming protocol layer and whatever actually runs commands.
//
// Data flows with backpressure: OutputStream::Write blocks until the bytes are handed to the
// client connection (within the SPDY flow-control window or into the socket), so a runtime that
// pumps a process's stdout pipe through Write reads the pipe only as fast as the client consumes.
// InputStream::Read returns data only as the client sends it; the server buffers at most one
// flow-control window per stream.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace flint::streaming {

// Bytes coming from the client (stdin, or the client side of a forwarded connection).
class InputStream {
 public:
  virtual ~InputStream() = default;
  // Blocks until at least one byte is available. Returns 0 at EOF (client half-closed), an error
  // when the session is gone or Abort() was called.
  virtual absl::StatusOr<size_t> Read(char* buf, size_t len) = 0;
  // Makes blocked and future Read calls return Cancelled. Runtimes call it to unblock their stdin
  // pump once the process has exited.
  virtual void Abort() = 0;
};

// Bytes going to the client (stdout, stderr, the pod side of a forwarded connection).
class OutputStream {
 public:
  virtual ~OutputStream() = default;
  // Blocks until all of data is accepted by the connection. Errors when the client went away.
  virtual absl::Status Write(std::string_view data) = 0;
  // Half-closes the stream (no more output). Idempotent.
  virtual absl::Status Close() = 0;
};

struct TerminalSize {
  uint16_t width = 0;
  uint16_t height = 0;
  bool operator==(const TerminalSize&) const = default;
};

// Terminal resize events sent by the client (TTY sessions only).
class ResizeQueue {
 public:
  virtual ~ResizeQueue() = default;
  // Blocks until the next resize; nullopt once the session ends or Close() was called.
  virtual std::optional<TerminalSize> Next() = 0;
  virtual void Close() = 0;
};

// Fires once when the client connection is lost before the session finished normally (or the
// server stops). Runtimes register a callback that kills the exec'd process; it may fire at any
// moment, even before the process is fully set up, so make the kill robust to that.
class CancelSignal {
 public:
  virtual ~CancelSignal() = default;
  virtual bool Cancelled() const = 0;
  // Runs fn immediately if already cancelled, otherwise once on cancellation (from a server
  // thread). Callbacks must be quick and must not block.
  virtual void OnCancel(std::function<void()> fn) = 0;
};

// The stdio of one exec/attach session. Absent streams are null. When tty is set, stderr is null
// and stdout carries the terminal output.
struct ExecStreams {
  InputStream* stdin_stream = nullptr;
  OutputStream* stdout_stream = nullptr;
  OutputStream* stderr_stream = nullptr;
  ResizeQueue* resize = nullptr;  // non-null only for tty sessions whose protocol supports resize
  bool tty = false;
  CancelSignal* cancel = nullptr;  // never null
};

// One forwarded connection: Read gives bytes from the client, Write sends bytes to it.
struct PortForwardStream {
  InputStream* from_client = nullptr;
  OutputStream* to_client = nullptr;
  CancelSignal* cancel = nullptr;
};

// Implemented by the container runtime.
class StreamingRuntime {
 public:
  virtual ~StreamingRuntime() = default;

  // Runs cmd inside the container, wiring its stdio to streams; returns its exit code after it
  // exited and its output was written (the server closes the output streams afterwards). Must
  // return (killing the process) soon after streams.cancel fires. Before returning, call
  // stdin_stream->Abort() / resize->Close() if a pump thread may still be blocked in them.
  virtual absl::StatusOr<int> Exec(const std::string& container_id,
                                   const std::vector<std::string>& cmd,
                                   const ExecStreams& streams) = 0;

  // Attaches streams to the running container's stdio until the container's output ends or the
  // client goes away. Does not stop the container.
  virtual absl::Status Attach(const std::string& container_id, const ExecStreams& streams) = 0;

  // Connects to localhost:port inside the sandbox's network namespace and copies bytes both ways.
  // Client EOF (Read returns 0) -> shutdown(SHUT_WR) towards the pod; return once the pod side
  // closed (after from_client->Abort() and joining any reader) or stream.cancel fired. A returned
  // error is written to the client's error stream; the server closes the data stream.
  virtual absl::Status PortForward(const std::string& pod_sandbox_id, int32_t port,
                                   const PortForwardStream& stream) = 0;
};

}  // namespace flint::streaming
