// exec/attach/port-forward sessions over an upgraded WebSocket connection.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "api.pb.h"
#include "cri/streaming/remotecommand.h"
#include "cri/streaming/runtime.h"
#include "cri/streaming/socket.h"

namespace flint::streaming {

// Subprotocols offered for exec/attach and port-forward, in server preference order.
const std::vector<std::string>& WebSocketRemoteCommandProtocols();
const std::vector<std::string>& WebSocketPortForwardProtocols();

// The 101 response has already been written. Return when the session is over.
void ServeWebSocketRemoteCommand(std::unique_ptr<Socket> sock, const std::string& protocol,
                                 const RemoteCommandRequest& request, StreamingRuntime& runtime);
void ServeWebSocketPortForward(std::unique_ptr<Socket> sock, const std::string& protocol,
                               const std::vector<int32_t>& ports, const runtime::v1::PortForwardRequest& request,
                               StreamingRuntime& runtime);

}  // namespace flint::streaming
