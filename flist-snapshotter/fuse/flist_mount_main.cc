// flist-mount: serves one flist read-only over FUSE until unmounted or
// signalled.
//   flist-mount FLIST MOUNTPOINT [--store URL] [--default-store URL] --cache DIR
//               [--cache-size MiB] [--prefetch BLOCKS] [--open-prefetch BLOCKS] [--stats-file PATH]
//               [--warm PATH]... [--allowed-store URL]... [--log-file PATH] [--foreground]
// --prefetch: blocks fetched ahead of a sequential reader; --open-prefetch: first blocks of a file
// fetched when it is opened (0 disables either). --warm: a file (path inside the flist) whose first
// blocks are fetched right away, before the mount serves; repeatable.
// --stats-file: the block cache's counters as JSON, rewritten every second (flintd's /metrics).
// --log-file: where a detached mount, its keeper and the servers the keeper starts write their
// log (appended, emptied at 1 MiB; flintd forwards new lines to its own log); else nowhere.
// --store overrides the flist's own routes; --default-store serves flists that name no store.
// --allowed-store: when given, the flist's own routes must name stores these match
// (store_policy.h); --store and --default-store are the caller's and are not checked.
// Without --foreground it detaches once the mount is up (the parent exits 0
// then, or 1 if mounting failed), and starts a keeper (mount_keeper.h) that
// starts a new server on the same mount if this one dies:
//   flist-mount --keep FUSE_FD PIDFD PROTO_MINOR <the mount's arguments>
// which runs, after each death,
//   flist-mount <the mount's arguments> --foreground --takeover FUSE_FD --proto-minor N --takeovers COUNT
//
//   flist-mount --spare FD
// A spare started ahead of need (flintd keeps one, under SCHED_IDLE until it
// gets its mount): detaches at once, does the
// work every mount repeats (program start, OpenSSL set-up, faulting in block
// buffers), says "ready PID\n" on the stream socket FD, then waits there for
// the arguments of one mount above, each NUL-terminated, ending with an empty
// one. It answers "ok\n" once the mount serves, or "error MESSAGE\n" and
// exits; EOF before a request (flintd gone) ends it quietly.
#include <fcntl.h>
#include <malloc.h>
#include <sched.h>
#include <spawn.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <iostream>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "flist-snapshotter/block/block_codec.h"
#include "flist-snapshotter/cache/block_cache.h"
#include "flist-snapshotter/flist/flist_reader.h"
#include "flist-snapshotter/fuse/block_buffers.h"
#include "flist-snapshotter/fuse/flist_mount.h"
#include "flist-snapshotter/fuse/mount_keeper.h"
#include "flist-snapshotter/pack/v2_writer.h"
#include "flist-snapshotter/store/routed_store.h"
#include "flist-snapshotter/store/store_policy.h"
#include "flist-snapshotter/util/absl_compat.h"

namespace {

constexpr size_t kMaxRequestBytes = 64 * 1024;
// Block buffers a spare faults in ahead of its mount: a cold container start's
// peak is 4-6 MiB (a few blocks per fetching thread).
constexpr size_t kSparePrefaultBytes = 8 << 20;
constexpr uint64_t kLogFileCapBytes = 1 << 20;

struct MountArgs {
  std::string flist_path, mountpoint, store_url, default_store_url, cache_dir, stats_file, log_file;
  uint64_t cache_mib = 0;
  int prefetch = flint::flist::FlistFsOptions().prefetch_blocks;
  int open_prefetch = flint::flist::FlistFsOptions().open_prefetch_blocks;
  bool foreground = false;
  bool resend_on_takeover = true;  // --no-resend: as on kernels without FUSE_NOTIFY_RESEND
  std::vector<std::string> warm_paths;
  std::vector<std::string> allowed_stores;
  int takeover_fd = -1;  // serve this inherited /dev/fuse connection instead of mounting
  unsigned proto_minor = 0;
  uint64_t takeovers = 0;  // servers before this one that died (the keeper counts; in the stats file)
  std::vector<std::string> raw;  // as given, for the keeper to start a successor with
  size_t flist_arg = 0;          // index of the flist's path in raw
};

// Empty on a usage error.
std::optional<MountArgs> ParseMountArgs(const std::vector<std::string>& args) {
  MountArgs a;
  a.raw = args;
  std::vector<std::string> positional;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    auto value = [&]() -> const char* { return i + 1 < args.size() ? args[++i].c_str() : nullptr; };
    if (arg == "--foreground" || arg == "-f") {
      a.foreground = true;
    } else if (arg == "--no-resend") {
      a.resend_on_takeover = false;
    } else if (arg == "--store" || arg == "--default-store" || arg == "--cache" || arg == "--cache-size" ||
               arg == "--prefetch" || arg == "--open-prefetch" || arg == "--stats-file" || arg == "--warm" ||
               arg == "--takeover" || arg == "--proto-minor" || arg == "--takeovers" || arg == "--allowed-store" ||
               arg == "--log-file") {
      const char* v = value();
      if (v == nullptr) return std::nullopt;
      if (arg == "--store") a.store_url = v;
      if (arg == "--default-store") a.default_store_url = v;
      if (arg == "--cache") a.cache_dir = v;
      if (arg == "--stats-file") a.stats_file = v;
      if (arg == "--log-file") a.log_file = v;
      if (arg == "--warm") a.warm_paths.push_back(v);
      if (arg == "--allowed-store") a.allowed_stores.push_back(v);
      if (arg == "--cache-size" && !absl::SimpleAtoi(v, &a.cache_mib)) return std::nullopt;
      if (arg == "--takeover" && (!absl::SimpleAtoi(v, &a.takeover_fd) || a.takeover_fd < 3)) return std::nullopt;
      if (arg == "--proto-minor" && !absl::SimpleAtoi(v, &a.proto_minor)) return std::nullopt;
      if (arg == "--takeovers" && !absl::SimpleAtoi(v, &a.takeovers)) return std::nullopt;
      if (arg == "--prefetch" && (!absl::SimpleAtoi(v, &a.prefetch) || a.prefetch < 0)) return std::nullopt;
      if (arg == "--open-prefetch" && (!absl::SimpleAtoi(v, &a.open_prefetch) || a.open_prefetch < 0)) {
        return std::nullopt;
      }
    } else if (!arg.empty() && arg[0] == '-') {
      return std::nullopt;
    } else {
      if (positional.empty()) a.flist_arg = i;
      positional.push_back(arg);
    }
  }
  if (positional.size() != 2 || a.cache_dir.empty()) return std::nullopt;
  if (a.takeover_fd >= 0 && (!a.foreground || a.proto_minor == 0)) return std::nullopt;
  a.flist_path = positional[0];
  a.mountpoint = positional[1];
  return a;
}

// stdin and stdout to /dev/null; stderr too, or to `log_file` (appended) when one is given and opens.
void RedirectStdio(const std::string& log_file = "") {
  const int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (devnull < 0) return;
  dup2(devnull, 0);
  dup2(devnull, 1);
  const int log = log_file.empty() ? -1 : open(log_file.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
  dup2(log >= 0 ? log : devnull, 2);
  if (log >= 0) close(log);
  close(devnull);
}

bool WriteAll(int fd, const std::string& text) {
  size_t off = 0;
  while (off < text.size()) {
    const ssize_t n = write(fd, text.data() + off, text.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    off += static_cast<size_t>(n);
  }
  return true;
}

// How a takeover names the flist it reads through a descriptor the keeper holds.
constexpr char kInheritedFlistPrefix[] = "/proc/self/fd/";

// The descriptor behind an inherited flist path, or -1 for any other path.
int InheritedFlistFd(const std::string& path) {
  int fd = -1;
  if (!absl::StartsWith(path, kInheritedFlistPrefix) ||
      !absl::SimpleAtoi(path.substr(sizeof kInheritedFlistPrefix - 1), &fd) || fd < 3) {
    return -1;
  }
  return fd;
}

// Closes every descriptor from 3 up except `keep`.
void CloseDescriptorsExcept(std::vector<int> keep) {
  std::sort(keep.begin(), keep.end());
  unsigned from = 3;
  for (int fd : keep) {
    if (fd < static_cast<int>(from)) continue;
    if (static_cast<unsigned>(fd) > from) close_range(from, static_cast<unsigned>(fd) - 1, 0);
    from = static_cast<unsigned>(fd) + 1;
  }
  close_range(from, ~0U, 0);
}

int Usage() {
  std::cerr << "usage: flist-mount FLIST MOUNTPOINT [--store URL] [--default-store URL] --cache DIR\n"
               "                   [--cache-size MiB] [--prefetch BLOCKS] [--open-prefetch BLOCKS]\n"
               "                   [--stats-file PATH] [--warm PATH]... [--allowed-store URL]... [--log-file PATH]\n"
               "                   [--no-resend] [--foreground]\n"
               "       flist-mount --spare FD\n";
  return 2;
}

// Replaces `path` with the cache's counters, the mount's failed reads and its takeovers; readers
// never see a half-written file.
void WriteStatsFile(const std::string& path, const flint::flist::BlockCache& cache,
                    const flint::flist::FlistMount& mount, uint64_t takeovers) {
  const std::string temp = path + ".tmp";
  const std::string json = "{\"takeovers\":" + std::to_string(takeovers) +
                           ",\"read_errors\":" + std::to_string(mount.stats().read_errors) + "," +
                           flint::flist::BlockCacheStatsJson(cache.stats()).substr(1);
  int fd = open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return;
  const bool written = write(fd, json.data(), json.size()) == static_cast<ssize_t>(json.size());
  close(fd);
  if (!written || rename(temp.c_str(), path.c_str()) != 0) unlink(temp.c_str());
}

// Told once whether the mount serves: ok, or why not.
using ReportReady = std::function<void(bool ok, const std::string& error)>;

void BlockSignalsForThisThread() {
  sigset_t all;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, nullptr);  // signals are for main's sigwait
}

// Runs this binary again with `args` (argv[0] first) under scheduling `policy`, no signal blocked
// and the ones we change back to their defaults; its pid, or -1. Inherits the descriptors without
// FD_CLOEXEC.
pid_t SpawnSelf(std::vector<std::string> args, int policy) {
  std::vector<char*> argv;
  for (std::string& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sched_param param{};
  posix_spawnattr_setschedpolicy(&attr, policy);
  posix_spawnattr_setschedparam(&attr, &param);
  sigset_t none, defaults;
  sigemptyset(&none);
  sigemptyset(&defaults);
  for (int sig : {SIGCHLD, SIGHUP, SIGINT, SIGTERM, SIGPIPE}) sigaddset(&defaults, sig);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSCHEDULER | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  pid_t pid = -1;
  const int rc = posix_spawn(&pid, "/proc/self/exe", nullptr, &attr, argv.data(), environ);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) {
    errno = rc;
    return -1;
  }
  return pid;
}

// A takeover reads the flist through the keeper's descriptor (/proc/self/fd/N), whose file may be
// deleted by now (RemoveImage of an image in use).
absl::StatusOr<flint::flist::Flist> ReadFlistForTakeover(const std::string& path) {
  const int in = InheritedFlistFd(path);
  return in < 0 ? flint::flist::ReadFlistFile(path) : flint::flist::ReadFlistFd(in);
}

// Spawns this binary as the keeper of `mount` (see mount_keeper.h), handing it a copy of
// the mount's /dev/fuse connection and a pidfd of this process. Without a keeper the mount ends
// with this process, as it always did; that is all a failure here costs.
void StartKeeper(const MountArgs& a, flint::flist::FlistMount& mount) {
  const unsigned proto_minor = mount.WaitForInit(std::chrono::seconds(10));
  if (proto_minor == 0) {
    FLINT_LOG(WARN) << "flist-mount: no FUSE INIT within 10 s; " << a.mountpoint << " runs without a keeper";
    return;
  }
  const int pidfd = static_cast<int>(syscall(SYS_pidfd_open, getpid(), 0));
  const int fuse_copy = fcntl(mount.fuse_fd(), F_DUPFD, 3);  // without FD_CLOEXEC: the keeper inherits it
  if (pidfd < 0 || fuse_copy < 0 || fcntl(pidfd, F_SETFD, 0) != 0) {
    FLINT_LOG(WARN) << "flist-mount: " << a.mountpoint << " runs without a keeper: " << strerror(errno);
    if (pidfd >= 0) close(pidfd);
    if (fuse_copy >= 0) close(fuse_copy);
    return;
  }
  std::vector<std::string> args = {"flist-mount", "--keep", std::to_string(fuse_copy), std::to_string(pidfd),
                                   std::to_string(proto_minor)};
  args.insert(args.end(), a.raw.begin(), a.raw.end());
  // At SCHED_IDLE: starting it must not take CPU from the container start this mount is for.
  if (SpawnSelf(args, SCHED_IDLE) < 0) {
    FLINT_LOG(WARN) << "flist-mount: " << a.mountpoint << " runs without a keeper: spawn: " << strerror(errno);
  }
  close(fuse_copy);
  close(pidfd);
}

// Holds a mount's connection and restarts its server (mount_keeper.h). `args`: FUSE_FD PIDFD
// PROTO_MINOR, then the mount's own arguments.
int KeeperMain(const std::vector<std::string>& args) {
  int fuse_fd = -1;
  int pidfd = -1;
  unsigned proto_minor = 0;
  if (args.size() < 4 || !absl::SimpleAtoi(args[0], &fuse_fd) || !absl::SimpleAtoi(args[1], &pidfd) ||
      !absl::SimpleAtoi(args[2], &proto_minor) || fuse_fd < 3 || pidfd < 3 || fuse_fd == pidfd ||
      fcntl(fuse_fd, F_GETFD) < 0 || fcntl(pidfd, F_GETFD) < 0) {
    return Usage();
  }
  std::vector<std::string> mount_args(args.begin() + 3, args.end());
  const std::optional<MountArgs> parsed = ParseMountArgs(mount_args);
  if (!parsed.has_value()) return Usage();
  fcntl(pidfd, F_SETFD, FD_CLOEXEC);
  // The working directory stays the server's: relative paths in its arguments stay valid.
  // The flist is held open and successors read it through /proc/self/fd, so a RemoveImage of an
  // image in use (which deletes the file) does not stop a takeover.
  const int flist_fd = open(parsed->flist_path.c_str(), O_RDONLY);  // inherited by successors
  if (flist_fd < 0) return 1;
  mount_args[parsed->flist_arg] = absl::StrCat(kInheritedFlistPrefix, flist_fd);
  // Started at SCHED_IDLE to stay out of a container start's way; a takeover must not wait for idle CPU.
  sched_param normal{};
  sched_setscheduler(0, SCHED_OTHER, &normal);
  signal(SIGHUP, SIG_IGN);
  signal(SIGPIPE, SIG_IGN);
  mount_args.insert(mount_args.end(), {"--foreground", "--takeover", std::to_string(fuse_fd), "--proto-minor",
                                       std::to_string(proto_minor)});
  flint::flist::MountKeeperHooks hooks;
  std::vector<std::string> server_args = {"flist-mount"};
  server_args.insert(server_args.end(), mount_args.begin(), mount_args.end());
  server_args.insert(server_args.end(), {"--takeovers", "0"});
  uint64_t takeovers = 0;
  if (!parsed->log_file.empty()) flint::log::CapStderrFile(kLogFileCapBytes);
  hooks.start_server = [&] {
    server_args.back() = std::to_string(++takeovers);
    FLINT_LOG(WARN) << "flist-mount keeper: the server of " << parsed->mountpoint
                    << " ended; starting another on the same connection (takeover " << takeovers << ")";
    return SpawnSelf(server_args, SCHED_OTHER);
  };
  hooks.give_up = [&](const char* why) {
    FLINT_LOG(ERROR) << "flist-mount keeper: giving up " << parsed->mountpoint << " (reads there fail from now on): "
                     << why;
  };
  return flint::flist::RunMountKeeper(fuse_fd, pidfd, hooks,
                                      flint::flist::RestartBudget(5, std::chrono::seconds(60)));
}

// Everything after detaching: open the flist, mount, serve until unmounted or signalled.
int ServeMount(const MountArgs& a, const ReportReady& report_ready, bool codecs_warm, bool start_keeper) {
  using namespace flint::flist;
  if (!a.log_file.empty()) flint::log::CapStderrFile(kLogFileCapBytes);
  // Runs beside opening the flist and mounting; joined before exit.
  std::thread codec_warmup([codecs_warm] {
    BlockSignalsForThisThread();
    if (codecs_warm) return;
    if (absl::Status s = WarmUpBlockCodecs(); !s.ok()) {
      FLINT_LOG(WARN) << "flist-mount: block codec warm-up: " << s.message();
    }
  });
  struct Joiner {
    std::thread& t;
    ~Joiner() { t.join(); }
  } join_codec_warmup{codec_warmup};

  auto flist = a.takeover_fd >= 0 ? ReadFlistForTakeover(a.flist_path) : ReadFlistFile(a.flist_path);
  if (!flist.ok()) {
    report_ready(false, std::string(flist.status().message()));
    return 1;
  }
  auto shared = std::make_shared<const Flist>(*std::move(flist));
  if (a.store_url.empty()) {
    if (absl::Status allowed = CheckFlistStores(*shared, a.allowed_stores); !allowed.ok()) {
      report_ready(false, std::string(allowed.message()));
      return 1;
    }
  }
  auto store = OpenStoreForFlist(*shared, a.store_url, a.default_store_url);
  if (!store.ok()) {
    report_ready(false, std::string(store.status().message()));
    return 1;
  }
  BlockCacheOptions cache_options;
  cache_options.dir = a.cache_dir;
  cache_options.max_bytes = a.cache_mib << 20;
  auto cache = BlockCache::Open(cache_options);
  if (!cache.ok()) {
    report_ready(false, std::string(cache.status().message()));
    return 1;
  }

  // Signals are taken by sigwait below, never by the FUSE threads.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  FlistMountOptions options;
  options.fs.prefetch_blocks = a.prefetch;
  options.fs.open_prefetch_blocks = a.open_prefetch;
  options.fs.warm_paths = a.warm_paths;
  options.resend_on_takeover = a.resend_on_takeover;
  auto mount = a.takeover_fd >= 0 ? FlistMount::TakeOver(shared, cache->get(), store->get(), a.mountpoint,
                                                          a.takeover_fd, a.proto_minor, options)
                                   : FlistMount::Mount(shared, cache->get(), store->get(), a.mountpoint, options);
  if (!mount.ok()) {
    report_ready(false, std::string(mount.status().message()));
    return 1;
  }
  report_ready(true, "");
  if (start_keeper) {
    signal(SIGCHLD, SIG_IGN);  // the keeper outlives us, or else needs no reaping by us
    StartKeeper(a, **mount);
  }

  // An unmount from outside ends the loop; turn that into a signal for main.
  std::thread watcher([m = mount->get()] {
    m->Wait();
    kill(getpid(), SIGTERM);
  });
  std::mutex stats_mu;
  std::condition_variable stats_cv;
  bool stopping = false;
  std::thread stats_writer;
  if (!a.stats_file.empty()) {
    stats_writer = std::thread([&, c = cache->get(), m = mount->get()] {
      std::unique_lock lock(stats_mu);
      do {
        WriteStatsFile(a.stats_file, *c, *m, a.takeovers);
      } while (!stats_cv.wait_for(lock, std::chrono::seconds(1), [&] { return stopping; }));
    });
  }
  int sig = 0;
  sigwait(&signals, &sig);
  const absl::Status status = (*mount)->Unmount();
  watcher.join();
  if (stats_writer.joinable()) {
    {
      std::lock_guard lock(stats_mu);
      stopping = true;
    }
    stats_cv.notify_all();
    stats_writer.join();
    unlink(a.stats_file.c_str());
  }
  const BlockCacheStats s = (*cache)->stats();
  FLINT_LOG(INFO) << "flist-mount: unmounted " << a.mountpoint << " (hits " << s.hits << ", misses " << s.misses
                  << ", fetched " << s.fetches << " blocks / " << s.bytes_fetched << " bytes)";
  if (!status.ok()) {
    FLINT_LOG(ERROR) << "flist-mount: " << status.message();
    return 1;
  }
  return 0;
}

// Reads one request: NUL-terminated arguments up to an empty one. Empty on EOF or garbage.
std::optional<std::vector<std::string>> ReadRequest(int fd) {
  std::string data;
  char buf[4096];
  for (;;) {
    const size_t end = data.find(std::string_view("\0\0", 2));
    if (end != std::string::npos || (data.size() == 1 && data[0] == '\0')) {
      std::vector<std::string> args;
      if (end == std::string::npos) return args;
      size_t at = 0;
      while (at <= end) {
        const size_t nul = data.find('\0', at);
        args.push_back(data.substr(at, nul - at));
        at = nul + 1;
      }
      return args;
    }
    if (data.size() > kMaxRequestBytes) return std::nullopt;
    const ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return std::nullopt;
    data.append(buf, static_cast<size_t>(n));
  }
}

int SpareMain(int control_fd) {
  if (fcntl(control_fd, F_GETFD) < 0) return Usage();
  fcntl(control_fd, F_SETFD, FD_CLOEXEC);
  // Detach now: the spare outlives flintd's call like a mount does; a flintd that goes away
  // closes the socket, which ends an idle spare.
  const pid_t pid = fork();
  if (pid < 0) return 1;
  if (pid > 0) return 0;
  setsid();
  RedirectStdio();
  const bool codecs_warm = flint::flist::WarmUpBlockCodecs().ok();
  (void)flint::flist::WarmUpV2ReadWrite();  // only makes the first read of a flist faster
  flint::flist::PrefaultBlockBuffers(kSparePrefaultBytes);
  if (!WriteAll(control_fd, "ready " + std::to_string(getpid()) + "\n")) return 0;

  std::optional<std::vector<std::string>> request = ReadRequest(control_fd);
  if (!request.has_value()) return 0;  // flintd closed the socket (or sent garbage): nothing to do
  // flintd starts spares under SCHED_IDLE; the mount (and every thread it starts) runs normally.
  sched_param normal{};
  if (sched_getscheduler(0) == SCHED_IDLE && sched_setscheduler(0, SCHED_OTHER, &normal) != 0) {
    WriteAll(control_fd, std::string("error leave SCHED_IDLE: ") + strerror(errno) + "\n");
    return 1;
  }
  std::optional<MountArgs> args = ParseMountArgs(*request);
  if (!args.has_value() || args->foreground) {
    WriteAll(control_fd, "error bad mount arguments\n");
    return 2;
  }
  if (!args->log_file.empty()) RedirectStdio(args->log_file);
  return ServeMount(*args, [&](bool ok, const std::string& error) {
    std::string message = error;
    std::replace(message.begin(), message.end(), '\n', ' ');
    WriteAll(control_fd, ok ? std::string("ok\n") : "error " + message + "\n");
    close(control_fd);
  }, codecs_warm, /*start_keeper=*/true);
}

}  // namespace

int main(int argc, char** argv) {
  // Block-sized buffers (256 KiB and up) come from the pool in
  // pooled_operator_new.cc. Smaller ones past glibc's 128 KiB mmap threshold
  // (copied FUSE read replies) would be mapped and unmapped on every read, each
  // page a first-touch fault (7-12 us on a VM with shadow paging): keep them,
  // and the freed heap, in the heap.
  mallopt(M_MMAP_THRESHOLD, 8 << 20);
  mallopt(M_TRIM_THRESHOLD, 32 << 20);
  const std::vector<std::string> args(argv + 1, argv + argc);
  // A mount lives long: a descriptor its starter leaked (a file inside some other mount, say)
  // must not stay open with it.
  if (!args.empty() && args[0] == "--keep") {
    int fuse_fd = -1;
    int pidfd = -1;
    if (args.size() < 3 || !absl::SimpleAtoi(args[1], &fuse_fd) || !absl::SimpleAtoi(args[2], &pidfd)) return Usage();
    if (std::min(fuse_fd, pidfd) < 3) return Usage();
    CloseDescriptorsExcept({fuse_fd, pidfd});
    return KeeperMain(std::vector<std::string>(args.begin() + 1, args.end()));
  }
  if (args.size() == 2 && args[0] == "--spare") {
    int fd = -1;
    if (!absl::SimpleAtoi(args[1], &fd) || fd < 3) return Usage();
    CloseDescriptorsExcept({fd});
    return SpareMain(fd);
  }
  std::optional<MountArgs> parsed = ParseMountArgs(args);
  if (!parsed.has_value()) return Usage();
  std::vector<int> keep;
  if (parsed->takeover_fd >= 0) keep.push_back(parsed->takeover_fd);
  if (const int fd = InheritedFlistFd(parsed->flist_path); fd >= 0) keep.push_back(fd);
  CloseDescriptorsExcept(keep);

  int ready_pipe[2] = {-1, -1};
  if (!parsed->foreground) {
    if (pipe2(ready_pipe, O_CLOEXEC) != 0) return 1;
    const pid_t pid = fork();
    if (pid < 0) return 1;
    if (pid > 0) {
      close(ready_pipe[1]);
      char ok = 0;
      const bool got = read(ready_pipe[0], &ok, 1) == 1;
      return got && ok == 1 ? 0 : 1;
    }
    close(ready_pipe[0]);
    setsid();
  }
  return ServeMount(*parsed, [&](bool ok, const std::string& error) {
    if (!ok && ready_pipe[1] >= 0) std::cerr << "flist-mount: " << error << "\n";  // the caller reports it
    if (!ok && ready_pipe[1] < 0) FLINT_LOG(ERROR) << "flist-mount: " << error;     // e.g. a takeover, into the log file
    if (ready_pipe[1] < 0) return;
    const char c = ok ? 1 : 0;
    (void)!write(ready_pipe[1], &c, 1);
    close(ready_pipe[1]);
    ready_pipe[1] = -1;
    if (ok) RedirectStdio(parsed->log_file);
  }, /*codecs_warm=*/false, /*start_keeper=*/!parsed->foreground);
}
