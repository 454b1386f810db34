// Test helpers: sockets on 127.0.0.1.
#pragma once

#include <cstdint>

namespace flint::testutil {

// A listening TCP socket on 127.0.0.1 and its port (a free one); -1 on failure.
int ListenOnLoopback(int backlog, int* port);

// A loopback port that was free a moment ago; 0 on failure.
uint16_t PickFreeLoopbackPort();

}  // namespace flint::testutil
