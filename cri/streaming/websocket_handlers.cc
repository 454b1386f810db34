#include "cri/streaming/websocket_handlers.h"

#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "cri/streaming/websocket.h"

namespace flint::streaming {

const std::vector<std::string>& WebSocketRemoteCommandProtocols() {
  static const std::vector<std::string> kProtocols = {
      kStreamProtocolV5, kStreamProtocolV4, "v4.base64.channel.k8s.io", kStreamProtocolV1, "base64.channel.k8s.io"};
  return kProtocols;
}

const std::vector<std::string>& WebSocketPortForwardProtocols() {
  static const std::vector<std::string> kProtocols = {kPortForwardProtocolV1, kStreamProtocolV4,
                                                      "v4.base64.channel.k8s.io", kStreamProtocolV1,
                                                      "base64.channel.k8s.io"};
  return kProtocols;
}

void ServeWebSocketRemoteCommand(std::unique_ptr<Socket> sock, const std::string& protocol,
                                 const RemoteCommandRequest& request, StreamingRuntime& runtime) {
  const bool base64 = absl::StrContains(protocol, "base64");
  const int version = RemoteCommandVersion(protocol);
  ws::ChannelConn conn(std::move(sock), base64);
  ws::ChannelInput* in = request.stdin ? conn.AddInput(ws::kStdinChannel) : nullptr;
  ws::ChannelOutput* out = request.stdout ? conn.AddOutput(ws::kStdoutChannel) : nullptr;
  ws::ChannelOutput* err = request.stderr && !request.tty ? conn.AddOutput(ws::kStderrChannel) : nullptr;
  ResizeChannel resize;
  if (request.tty) conn.SetResize(ws::kResizeChannel, &resize);
  conn.Start();
  // An empty message tells the client the session is ready.
  (void)conn.WriteMessage(out ? ws::kStdoutChannel : err ? ws::kStderrChannel : ws::kErrorChannel, "");

  ExecStreams streams;
  streams.stdin_stream = in;
  streams.stdout_stream = out;
  streams.stderr_stream = err;
  streams.resize = request.tty ? &resize : nullptr;
  streams.tty = request.tty;
  streams.cancel = &conn.cancel();
  std::string message = RunRemoteCommand(runtime, request, streams, version);
  if (!message.empty()) (void)conn.WriteMessage(ws::kErrorChannel, message);
  if (in) in->Abort();
  resize.Close();
  conn.Finish();
}

void ServeWebSocketPortForward(std::unique_ptr<Socket> sock, const std::string& protocol,
                               const std::vector<int32_t>& ports, const runtime::v1::PortForwardRequest& request,
                               StreamingRuntime& runtime) {
  ws::ChannelConn conn(std::move(sock), absl::StrContains(protocol, "base64"));
  struct Port {
    int32_t port;
    ws::ChannelInput* in;
    ws::ChannelOutput* data;
    uint8_t error_channel;
  };
  std::vector<Port> forwards;
  for (size_t i = 0; i < ports.size(); ++i) {
    uint8_t data_channel = static_cast<uint8_t>(2 * i);
    forwards.push_back(Port{ports[i], conn.AddInput(data_channel), conn.AddOutput(data_channel),
                            static_cast<uint8_t>(2 * i + 1)});
  }
  conn.Start();
  for (size_t i = 0; i < forwards.size(); ++i) {
    // Each channel starts with the port number, uint16 little-endian.
    std::string port_bytes = {static_cast<char>(forwards[i].port & 0xff), static_cast<char>(forwards[i].port >> 8)};
    (void)conn.WriteMessage(static_cast<uint8_t>(2 * i), port_bytes);
    (void)conn.WriteMessage(forwards[i].error_channel, port_bytes);
  }
  std::vector<std::thread> threads;
  for (const Port& p : forwards) {
    threads.emplace_back([&conn, &runtime, &request, p] {
      PortForwardStream pf{p.in, p.data, &conn.cancel()};
      absl::Status st = runtime.PortForward(request.pod_sandbox_id(), p.port, pf);
      if (!st.ok()) {
        (void)conn.WriteMessage(p.error_channel, absl::StrCat("error forwarding port ", p.port, " to pod ",
                                                              request.pod_sandbox_id(), ": ", st.message()));
      }
      p.in->Abort();
    });
  }
  for (auto& t : threads) t.join();
  conn.Finish();
}

}  // namespace flint::streaming
