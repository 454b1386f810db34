#include "cri/oci/seccomp_profile.h"

#include <algorithm>
#include <fstream>
#include <sstream>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace flint::oci {
namespace {

#if defined(__x86_64__)
constexpr const char* kHostArch = "SCMP_ARCH_X86_64";
constexpr const char* kHostArchShort = "amd64";
const std::vector<std::string> kArchitectures = {"SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"};
#elif defined(__aarch64__)
constexpr const char* kHostArch = "SCMP_ARCH_AARCH64";
constexpr const char* kHostArchShort = "arm64";
const std::vector<std::string> kArchitectures = {"SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"};
#else
#error "flint seccomp profile: unsupported architecture"
#endif

// Syscalls allowed for every container. Names the installed libseccomp does
// not know are skipped by runc/crun, so newer syscalls can be listed safely.
const std::vector<std::string>& BaseAllowedSyscalls() {
  static const std::vector<std::string> kSyscalls = {
      "accept", "accept4", "access", "adjtimex", "alarm", "bind", "brk", "cachestat", "capget", "capset",
      "chdir", "chmod", "chown", "chown32", "chroot", "clock_adjtime", "clock_adjtime64", "clock_getres",
      "clock_getres_time64", "clock_gettime", "clock_gettime64", "clock_nanosleep", "clock_nanosleep_time64",
      "close", "close_range", "connect", "copy_file_range", "creat", "dup", "dup2", "dup3", "epoll_create",
      "epoll_create1", "epoll_ctl", "epoll_ctl_old", "epoll_pwait", "epoll_pwait2", "epoll_wait",
      "epoll_wait_old", "eventfd", "eventfd2", "execve", "execveat", "exit", "exit_group", "faccessat",
      "faccessat2", "fadvise64", "fadvise64_64", "fallocate", "fanotify_mark", "fchdir", "fchmod", "fchmodat",
      "fchmodat2", "fchown", "fchown32", "fchownat", "fcntl", "fcntl64", "fdatasync", "fgetxattr", "flistxattr",
      "flock", "fork", "fremovexattr", "fsetxattr", "fstat", "fstat64", "fstatat64", "fstatfs", "fstatfs64",
      "fsync", "ftruncate", "ftruncate64", "futex", "futex_requeue", "futex_time64", "futex_wait", "futex_waitv",
      "futex_wake", "futimesat", "getcpu", "getcwd", "getdents", "getdents64", "getegid", "getegid32", "geteuid",
      "geteuid32", "getgid", "getgid32", "getgroups", "getgroups32", "getitimer", "getpeername", "getpgid",
      "getpgrp", "getpid", "getppid", "getpriority", "getrandom", "getresgid", "getresgid32", "getresuid",
      "getresuid32", "getrlimit", "get_robust_list", "getrusage", "getsid", "getsockname", "getsockopt",
      "get_thread_area", "gettid", "gettimeofday", "getuid", "getuid32", "getxattr", "inotify_add_watch",
      "inotify_init", "inotify_init1", "inotify_rm_watch", "io_cancel", "ioctl", "io_destroy", "io_getevents",
      "io_pgetevents", "io_pgetevents_time64", "ioprio_get", "ioprio_set", "io_setup", "io_submit", "ipc", "kill",
      "landlock_add_rule", "landlock_create_ruleset", "landlock_restrict_self", "lchown", "lchown32", "lgetxattr",
      "link", "linkat", "listen", "listxattr", "llistxattr", "_llseek", "lremovexattr", "lseek", "lsetxattr",
      "lstat", "lstat64", "madvise", "map_shadow_stack", "membarrier", "memfd_create", "memfd_secret", "mincore",
      "mkdir", "mkdirat", "mknod", "mknodat", "mlock", "mlock2", "mlockall", "mmap", "mmap2", "mprotect",
      "mq_getsetattr", "mq_notify", "mq_open", "mq_timedreceive", "mq_timedreceive_time64", "mq_timedsend",
      "mq_timedsend_time64", "mq_unlink", "mremap", "msgctl", "msgget", "msgrcv", "msgsnd", "msync", "munlock",
      "munlockall", "munmap", "name_to_handle_at", "nanosleep", "newfstatat", "_newselect", "open", "openat",
      "openat2", "pause", "pidfd_open", "pidfd_send_signal", "pipe", "pipe2", "pkey_alloc", "pkey_free",
      "pkey_mprotect", "poll", "ppoll", "ppoll_time64", "prctl", "pread64", "preadv", "preadv2", "prlimit64",
      "process_mrelease", "process_vm_readv", "process_vm_writev", "pselect6", "pselect6_time64", "ptrace",
      "pwrite64", "pwritev", "pwritev2", "read", "readahead", "readlink", "readlinkat", "readv", "recv",
      "recvfrom", "recvmmsg", "recvmmsg_time64", "recvmsg", "remap_file_pages", "removexattr", "rename",
      "renameat", "renameat2", "restart_syscall", "rmdir", "rseq", "rt_sigaction", "rt_sigpending",
      "rt_sigprocmask", "rt_sigqueueinfo", "rt_sigreturn", "rt_sigsuspend", "rt_sigtimedwait",
      "rt_sigtimedwait_time64", "rt_tgsigqueueinfo", "sched_getaffinity", "sched_getattr", "sched_getparam",
      "sched_get_priority_max", "sched_get_priority_min", "sched_getscheduler", "sched_rr_get_interval",
      "sched_rr_get_interval_time64", "sched_setaffinity", "sched_setattr", "sched_setparam",
      "sched_setscheduler", "sched_yield", "seccomp", "select", "semctl", "semget", "semop", "semtimedop",
      "semtimedop_time64", "send", "sendfile", "sendfile64", "sendmmsg", "sendmsg", "sendto", "setfsgid",
      "setfsgid32", "setfsuid", "setfsuid32", "setgid", "setgid32", "setgroups", "setgroups32", "setitimer",
      "setpgid", "setpriority", "setregid", "setregid32", "setresgid", "setresgid32", "setresuid", "setresuid32",
      "setreuid", "setreuid32", "setrlimit", "set_robust_list", "setsid", "setsockopt", "set_thread_area",
      "set_tid_address", "setuid", "setuid32", "setxattr", "shmat", "shmctl", "shmdt", "shmget", "shutdown",
      "sigaltstack", "signalfd", "signalfd4", "sigprocmask", "sigreturn", "socket", "socketcall", "socketpair",
      "splice", "stat", "stat64", "statfs", "statfs64", "statx", "symlink", "symlinkat", "sync",
      "sync_file_range", "syncfs", "sysinfo", "tee", "tgkill", "time", "timer_create", "timer_delete",
      "timer_getoverrun", "timer_gettime", "timer_gettime64", "timer_settime", "timer_settime64",
      "timerfd_create", "timerfd_gettime", "timerfd_gettime64", "timerfd_settime", "timerfd_settime64", "times",
      "tkill", "truncate", "truncate64", "ugetrlimit", "umask", "uname", "unlink", "unlinkat", "utime",
      "utimensat", "utimensat_time64", "utimes", "vfork", "vmsplice", "wait4", "waitid", "waitpid", "write",
      "writev",
#if defined(__x86_64__)
      "arch_prctl", "modify_ldt",
#elif defined(__aarch64__)
      "arm_fadvise64_64", "arm_sync_file_range", "sync_file_range2", "breakpoint", "cacheflush", "set_tls",
#endif
  };
  return kSyscalls;
}

struct CapabilityGatedSyscalls {
  const char* capability;
  std::vector<std::string> syscalls;
};

const std::vector<CapabilityGatedSyscalls>& GatedSyscalls() {
  static const std::vector<CapabilityGatedSyscalls> kGated = {
      {"CAP_SYS_ADMIN",
       {"bpf", "clone", "clone3", "fanotify_init", "fsconfig", "fsmount", "fsopen", "fspick", "lookup_dcookie",
        "mount", "mount_setattr", "move_mount", "open_tree", "perf_event_open", "quotactl", "quotactl_fd",
        "setdomainname", "sethostname", "setns", "syslog", "umount", "umount2", "unshare"}},
      {"CAP_SYS_BOOT", {"reboot"}},
      {"CAP_SYS_MODULE", {"delete_module", "init_module", "finit_module"}},
      {"CAP_SYS_PACCT", {"acct"}},
      {"CAP_SYS_PTRACE", {"kcmp", "pidfd_getfd", "process_madvise"}},
      {"CAP_SYS_RAWIO", {"iopl", "ioperm"}},
      {"CAP_SYS_TIME", {"settimeofday", "stime", "clock_settime", "clock_settime64"}},
      {"CAP_SYS_TTY_CONFIG", {"vhangup"}},
      {"CAP_SYS_NICE", {"get_mempolicy", "mbind", "set_mempolicy", "set_mempolicy_home_node"}},
      {"CAP_SYSLOG", {"syslog"}},
      {"CAP_BPF", {"bpf"}},
      {"CAP_PERFMON", {"perf_event_open"}},
  };
  return kGated;
}

bool Has(const std::vector<std::string>& list, const std::string& v) {
  return std::find(list.begin(), list.end(), v) != list.end();
}

nlohmann::json AllowRule(std::vector<std::string> names) {
  return {{"names", std::move(names)}, {"action", "SCMP_ACT_ALLOW"}};
}

// CLONE_NEWNS|CLONE_NEWCGROUP|CLONE_NEWUTS|CLONE_NEWIPC|CLONE_NEWUSER|CLONE_NEWPID|CLONE_NEWNET
constexpr uint64_t kCloneNamespaceFlags = 0x7E020000;

absl::StatusOr<nlohmann::json> ConvertDockerProfile(const nlohmann::json& in,
                                                    const std::vector<std::string>& capabilities) {
  nlohmann::json out = nlohmann::json::object();
  for (const char* key : {"defaultAction", "defaultErrnoRet", "flags", "listenerPath", "listenerMetadata"}) {
    if (in.contains(key)) out[key] = in[key];
  }
  if (!out.contains("defaultAction")) return absl::InvalidArgumentError("seccomp profile has no defaultAction");
  std::vector<std::string> arches;
  if (in.contains("architectures")) {
    for (const auto& a : in["architectures"]) arches.push_back(a.get<std::string>());
  }
  if (auto it = in.find("archMap"); it != in.end() && it->is_array()) {
    for (const auto& entry : *it) {
      if (entry.value("architecture", "") != kHostArch) continue;
      arches.push_back(kHostArch);
      for (const auto& sub : entry.value("subArchitectures", nlohmann::json::array())) arches.push_back(sub);
    }
  }
  if (!arches.empty()) out["architectures"] = arches;
  nlohmann::json syscalls = nlohmann::json::array();
  for (const auto& rule : in.value("syscalls", nlohmann::json::array())) {
    if (!rule.is_object()) return absl::InvalidArgumentError("seccomp profile: syscalls entry is not an object");
    const nlohmann::json includes = rule.value("includes", nlohmann::json::object());
    const nlohmann::json excludes = rule.value("excludes", nlohmann::json::object());
    bool keep = true;
    for (const auto& cap : includes.value("caps", nlohmann::json::array())) keep = keep && Has(capabilities, cap);
    for (const auto& cap : excludes.value("caps", nlohmann::json::array())) keep = keep && !Has(capabilities, cap);
    if (auto a = includes.find("arches"); a != includes.end()) {
      keep = keep && std::find(a->begin(), a->end(), kHostArchShort) != a->end();
    }
    if (auto a = excludes.find("arches"); a != excludes.end()) {
      keep = keep && std::find(a->begin(), a->end(), kHostArchShort) == a->end();
    }
    if (!keep) continue;
    nlohmann::json r = nlohmann::json::object();
    if (rule.contains("names")) r["names"] = rule["names"];
    else if (rule.contains("name")) r["names"] = nlohmann::json::array({rule["name"]});
    for (const char* key : {"action", "errnoRet", "args"}) {
      if (rule.contains(key) && !rule[key].is_null()) r[key] = rule[key];
    }
    syscalls.push_back(std::move(r));
  }
  out["syscalls"] = std::move(syscalls);
  return out;
}

}  // namespace

nlohmann::json RuntimeDefaultSeccompProfile(const std::vector<std::string>& capabilities) {
  nlohmann::json syscalls = nlohmann::json::array();
  syscalls.push_back(AllowRule(BaseAllowedSyscalls()));
  // personality(2): only the values that select the Linux persona (with or
  // without ADDR_NO_RANDOMIZE / UNAME26) and the query value.
  for (uint64_t persona : {0x0ULL, 0x8ULL, 0x20000ULL, 0x20008ULL, 0xffffffffULL}) {
    syscalls.push_back({{"names", {"personality"}},
                        {"action", "SCMP_ACT_ALLOW"},
                        {"args", {{{"index", 0}, {"value", persona}, {"op", "SCMP_CMP_EQ"}}}}});
  }
  const bool sys_admin = Has(capabilities, "CAP_SYS_ADMIN");
  for (const auto& gated : GatedSyscalls()) {
    if (Has(capabilities, gated.capability)) syscalls.push_back(AllowRule(gated.syscalls));
  }
  if (!sys_admin) {
    syscalls.push_back({{"names", {"clone"}},
                        {"action", "SCMP_ACT_ALLOW"},
                        {"args",
                         {{{"index", 0},
                           {"value", kCloneNamespaceFlags},
                           {"valueTwo", 0},
                           {"op", "SCMP_CMP_MASKED_EQ"}}}}});
    syscalls.push_back({{"names", {"clone3"}}, {"action", "SCMP_ACT_ERRNO"}, {"errnoRet", 38 /* ENOSYS */}});
  }
  return {{"defaultAction", "SCMP_ACT_ERRNO"},
          {"defaultErrnoRet", 1},
          {"architectures", kArchitectures},
          {"syscalls", std::move(syscalls)}};
}

absl::StatusOr<nlohmann::json> LoadLocalhostSeccompProfile(const std::string& path,
                                                           const std::vector<std::string>& capabilities) {
  if (path.empty() || path[0] != '/') {
    return absl::InvalidArgumentError(absl::StrCat("seccomp localhost profile \"", path, "\" is not an absolute path"));
  }
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("seccomp localhost profile ", path, ": cannot open"));
  std::stringstream buf;
  buf << in.rdbuf();
  nlohmann::json doc = nlohmann::json::parse(buf.str(), nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat("seccomp localhost profile ", path, ": not a JSON object"));
  }
  auto converted = ConvertDockerProfile(doc, capabilities);
  if (!converted.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("seccomp localhost profile ", path, ": ", converted.status().message()));
  }
  return converted;
}

}  // namespace flint::oci
