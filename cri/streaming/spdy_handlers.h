// exec/attach/port-forward sessions over an upgraded SPDY/3.1 connection.
#pragma once

#include <memory>

#include "api.pb.h"
#include "cri/streaming/remotecommand.h"
#include "cri/streaming/runtime.h"
#include "cri/streaming/socket.h"

namespace flint::streaming {

// The 101 response has already been written. Returns when the session is over.
void ServeSpdyRemoteCommand(std::unique_ptr<Socket> sock, int version, const RemoteCommandRequest& request,
                            StreamingRuntime& runtime, const StreamTimeouts& timeouts);
void ServeSpdyPortForward(std::unique_ptr<Socket> sock, const runtime::v1::PortForwardRequest& request,
                          StreamingRuntime& runtime, const StreamTimeouts& timeouts);

}  // namespace flint::streaming
