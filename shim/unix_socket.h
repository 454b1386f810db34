// Unix socket helpers: listening sockets and SCM_RIGHTS (pty masters from the runtime).
#pragma once

#include <string>

namespace flint::shim {

// Binds and listens on `path` (replacing a stale node), mode 0600.
bool ListenUnixSocket(const std::string& path, int type, int* fd_out, std::string* error);

// Accepts one connection on `listen_fd` and receives the descriptor it sends
// (O_CLOEXEC), as runtimes do on --console-socket.
bool AcceptAndReceiveFd(int listen_fd, int* fd_out, std::string* error);

// `preferred`, or when that is too long for a unix socket, a path in a root-only directory under
// /run (or /tmp) named by shim pid and `exec_id` (0 for the container's init).
std::string ConsoleSocketPath(const std::string& preferred, int exec_id);

}  // namespace flint::shim
