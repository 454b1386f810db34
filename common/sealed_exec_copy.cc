#include "common/sealed_exec_copy.h"

#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#ifndef MFD_EXEC
#define MFD_EXEC 0x0010U
#endif

namespace flint {
namespace {

std::string Errno(const std::string& what) { return what + ": " + strerror(errno); }

}  // namespace

int MakeSealedExecCopy(const std::string& path, std::string* error) {
  const int src = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (src < 0) {
    *error = Errno("open " + path);
    return -1;
  }
  struct stat st {};
  char magic[4] = {};
  if (fstat(src, &st) != 0 || !S_ISREG(st.st_mode) || pread(src, magic, sizeof magic, 0) != sizeof magic ||
      memcmp(magic, "\x7f" "ELF", 4) != 0) {
    *error = path + ": not an ELF executable";  // a script would need its own path to be re-read
    close(src);
    return -1;
  }
  // MFD_EXEC: kernels with vm.memfd_noexec would otherwise create it non-executable (and add F_SEAL_EXEC).
  constexpr unsigned kFlags = MFD_CLOEXEC | MFD_ALLOW_SEALING;
  int copy = static_cast<int>(memfd_create("flint-runtime", kFlags | MFD_EXEC));
  if (copy < 0 && errno == EINVAL) copy = static_cast<int>(memfd_create("flint-runtime", kFlags));  // before 6.3
  if (copy < 0) {
    *error = Errno("memfd_create");
    close(src);
    return -1;
  }
  off_t offset = 0;
  while (offset < st.st_size) {
    ssize_t n = sendfile(copy, src, &offset, static_cast<size_t>(st.st_size - offset));
    if (n <= 0) {
      *error = n < 0 ? Errno("copy " + path) : path + ": shrank while being copied";
      close(src);
      close(copy);
      return -1;
    }
  }
  close(src);
  if (fchmod(copy, 0555) != 0 || fcntl(copy, F_ADD_SEALS, kSealedExecSeals) != 0) {
    *error = Errno("seal the copy of " + path);
    close(copy);
    return -1;
  }
  if (!IsSealedExecCopy(copy)) {
    *error = path + ": the sealed copy carries other seals than the runtimes accept";
    close(copy);
    return -1;
  }
  return copy;
}

bool IsSealedExecCopy(int fd) { return fcntl(fd, F_GET_SEALS) == kSealedExecSeals; }

std::string SealedExecPath(int fd) { return "/proc/self/fd/" + std::to_string(fd); }

}  // namespace flint
