#include "shim/unix_socket.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "shim/child_process.h"

namespace flint::shim {

bool ListenUnixSocket(const std::string& path, int type, int* fd_out, std::string* error) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof(addr.sun_path)) {
    *error = "socket path too long: " + path;
    return false;
  }
  memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  int fd = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    *error = ErrnoMessage("socket");
    return false;
  }
  unlink(path.c_str());
  mode_t old_umask = umask(0177);  // the socket node is created 0600
  int rc = bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  umask(old_umask);
  if (rc != 0 || listen(fd, 16) != 0) {
    *error = ErrnoMessage("bind " + path);
    close(fd);
    return false;
  }
  *fd_out = fd;
  return true;
}

bool AcceptAndReceiveFd(int listen_fd, int* fd_out, std::string* error) {
  int conn = accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
  if (conn < 0) {
    *error = ErrnoMessage("accept console socket");
    return false;
  }
  char data[256];
  iovec iov{data, sizeof(data)};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof(control);
  ssize_t n;
  do {
    n = recvmsg(conn, &msg, MSG_CMSG_CLOEXEC);
  } while (n < 0 && errno == EINTR);
  close(conn);
  cmsghdr* cmsg = n >= 0 ? CMSG_FIRSTHDR(&msg) : nullptr;
  if (cmsg == nullptr || cmsg->cmsg_level != SOL_SOCKET || cmsg->cmsg_type != SCM_RIGHTS) {
    *error = "console socket: no descriptor received";
    return false;
  }
  memcpy(fd_out, CMSG_DATA(cmsg), sizeof(int));
  return true;
}

// A unix socket path must fit in sun_path (108 bytes); deep state dirs do not. Then the
// socket goes into a root-only directory under /run (or /tmp), named by shim pid and exec id.
std::string ConsoleSocketPath(const std::string& preferred, int exec_id) {
  if (preferred.size() < 100) return preferred;
  for (const char* dir : {"/run/flint-shim", "/tmp/flint-shim"}) {
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) continue;
    struct stat st {};
    if (lstat(dir, &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 077) != 0) continue;
    return std::string(dir) + "/" + std::to_string(getpid()) + "-" + std::to_string(exec_id) + ".sock";
  }
  return preferred;  // ListenUnixSocket reports the length
}

}  // namespace flint::shim
