// A sealed in-memory copy of an executable, run instead of the file on disk.
//
// crun and runc defend against CVE-2019-5736 (a container overwriting the
// runtime binary through /proc/self/exe) by copying themselves into a sealed
// memfd and re-executing on every invocation, unless /proc/self/exe already is
// a memfd carrying exactly the seals below. On this class of machine that copy
// and second exec cost ~4 ms per `crun create`, `start`, `delete`... Running
// the runtime from one sealed copy made ahead keeps the same protection (a
// sealed memfd cannot be written) without the per-call copy.
//
// Plain C++ and libc only: flint-shim links it.
#pragma once

#include <fcntl.h>

#include <string>

namespace flint {

// What crun/runc check for (F_GET_SEALS must return exactly this).
inline constexpr int kSealedExecSeals = F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE;

// Copies the ELF executable at `path` into a new memfd (O_CLOEXEC) sealed with
// kSealedExecSeals. Returns the descriptor, or -1 with *error set (not an ELF
// file, unreadable, no memfd support).
int MakeSealedExecCopy(const std::string& path, std::string* error);

// True when `fd` is a memfd sealed with exactly kSealedExecSeals.
bool IsSealedExecCopy(int fd);

// The path that executes `fd` ("/proc/self/fd/N"); valid in this process and
// in children that inherit the descriptor, until their exec.
std::string SealedExecPath(int fd);

}  // namespace flint
