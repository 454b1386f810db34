// flist-mount: serves one flist read-only over FUSE until unmounted or
// signalled.
//   flist-mount FLIST MOUNTPOINT [--store URL] [--default-store URL] --cache DIR
//               [--cache-size MiB] [--prefetch BLOCKS] [--open-prefetch BLOCKS] [--stats-file PATH]
//               [--warm PATH]... [--foreground]
// --prefetch: blocks fetched ahead of a sequential reader; --open-prefetch: first blocks of a file
// fetched when it is opened (0 disables either). --warm: a file (path inside the flist) whose first
// blocks are fetched right away, before the mount serves; repeatable.
// --stats-file: the block cache's counters as JSON, rewritten every second (flintd's /metrics).
// --store overrides the flist's own routes; --default-store serves flists that name no store.
// Without --foreground it detaches once the mount is up (the parent exits 0
// then, or 1 if mounting failed).
#include <fcntl.h>
#include <malloc.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>
#include <thread>
#include <condition_variable>
#include <mutex>
#include <chrono>

#include "absl/strings/numbers.h"
#include "common/log.h"
#include "flist-snapshotter/block/block_codec.h"
#include "flist-snapshotter/cache/block_cache.h"
#include "flist-snapshotter/flist/flist_reader.h"
#include "flist-snapshotter/fuse/flist_mount.h"
#include "flist-snapshotter/store/routed_store.h"
#include "flist-snapshotter/util/absl_compat.h"

namespace {

int Usage() {
  std::cerr << "usage: flist-mount FLIST MOUNTPOINT [--store URL] [--default-store URL] --cache DIR\n"
               "                   [--cache-size MiB] [--prefetch BLOCKS] [--open-prefetch BLOCKS]\n"
               "                   [--stats-file PATH] [--warm PATH]... [--foreground]\n";
  return 2;
}

// Replaces `path` with the cache's counters; readers never see a half-written file.
void WriteStatsFile(const std::string& path, const flint::flist::BlockCache& cache) {
  const std::string temp = path + ".tmp";
  const std::string json = flint::flist::BlockCacheStatsJson(cache.stats());
  int fd = open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return;
  const bool written = write(fd, json.data(), json.size()) == static_cast<ssize_t>(json.size());
  close(fd);
  if (!written || rename(temp.c_str(), path.c_str()) != 0) unlink(temp.c_str());
}

}  // namespace

int main(int argc, char** argv) {
  using namespace flint::flist;
  // Block-sized buffers (256 KiB and up) come from the pool in
  // pooled_operator_new.cc. Smaller ones past glibc's 128 KiB mmap threshold
  // (copied FUSE read replies) would be mapped and unmapped on every read, each
  // page a first-touch fault (7-12 us on a VM with shadow paging): keep them,
  // and the freed heap, in the heap.
  mallopt(M_MMAP_THRESHOLD, 8 << 20);
  mallopt(M_TRIM_THRESHOLD, 32 << 20);
  std::string flist_path, mountpoint, store_url, default_store_url, cache_dir, stats_file;
  uint64_t cache_mib = 0;
  int prefetch = FlistFsOptions().prefetch_blocks;
  int open_prefetch = FlistFsOptions().open_prefetch_blocks;
  bool foreground = false;
  std::vector<std::string> positional, warm_paths;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&]() -> const char* { return i + 1 < argc ? argv[++i] : nullptr; };
    if (arg == "--foreground" || arg == "-f") {
      foreground = true;
    } else if (arg == "--store" || arg == "--default-store" || arg == "--cache" || arg == "--cache-size" ||
               arg == "--prefetch" || arg == "--open-prefetch" || arg == "--stats-file" || arg == "--warm") {
      const char* v = value();
      if (v == nullptr) return Usage();
      if (arg == "--store") store_url = v;
      if (arg == "--default-store") default_store_url = v;
      if (arg == "--cache") cache_dir = v;
      if (arg == "--stats-file") stats_file = v;
      if (arg == "--warm") warm_paths.push_back(v);
      if (arg == "--cache-size" && !absl::SimpleAtoi(v, &cache_mib)) return Usage();
      if (arg == "--prefetch" && (!absl::SimpleAtoi(v, &prefetch) || prefetch < 0)) return Usage();
      if (arg == "--open-prefetch" && (!absl::SimpleAtoi(v, &open_prefetch) || open_prefetch < 0)) return Usage();
    } else if (!arg.empty() && arg[0] == '-') {
      return Usage();
    } else {
      positional.push_back(arg);
    }
  }
  if (positional.size() != 2 || cache_dir.empty()) return Usage();
  flist_path = positional[0];
  mountpoint = positional[1];

  int ready_pipe[2] = {-1, -1};
  if (!foreground) {
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
  auto report_ready = [&](bool ok) {
    if (ready_pipe[1] < 0) return;
    const char c = ok ? 1 : 0;
    (void)!write(ready_pipe[1], &c, 1);
    close(ready_pipe[1]);
    ready_pipe[1] = -1;
    if (ok) {
      const int devnull = open("/dev/null", O_RDWR);
      if (devnull >= 0) {
        dup2(devnull, 0);
        dup2(devnull, 1);
        dup2(devnull, 2);
        close(devnull);
      }
    }
  };

  // Runs beside opening the flist and mounting; joined before exit.
  std::thread codec_warmup([] {
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, nullptr);  // signals are for main's sigwait
    if (absl::Status s = WarmUpBlockCodecs(); !s.ok()) {
      FLINT_LOG(WARN) << "flist-mount: block codec warm-up: " << s.message();
    }
  });
  struct Joiner {
    std::thread& t;
    ~Joiner() { t.join(); }
  } join_codec_warmup{codec_warmup};

  auto flist = ReadFlistFile(flist_path);
  if (!flist.ok()) {
    std::cerr << "flist-mount: " << flist.status().message() << "\n";
    report_ready(false);
    return 1;
  }
  auto shared = std::make_shared<const Flist>(*std::move(flist));
  auto store = OpenStoreForFlist(*shared, store_url, default_store_url);
  if (!store.ok()) {
    std::cerr << "flist-mount: " << store.status().message() << "\n";
    report_ready(false);
    return 1;
  }
  BlockCacheOptions cache_options;
  cache_options.dir = cache_dir;
  cache_options.max_bytes = cache_mib << 20;
  auto cache = BlockCache::Open(cache_options);
  if (!cache.ok()) {
    std::cerr << "flist-mount: " << cache.status().message() << "\n";
    report_ready(false);
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
  options.fs.prefetch_blocks = prefetch;
  options.fs.open_prefetch_blocks = open_prefetch;
  options.fs.warm_paths = std::move(warm_paths);
  auto mount = FlistMount::Mount(shared, cache->get(), store->get(), mountpoint, options);
  if (!mount.ok()) {
    std::cerr << "flist-mount: " << mount.status().message() << "\n";
    report_ready(false);
    return 1;
  }
  report_ready(true);

  // An unmount from outside ends the loop; turn that into a signal for main.
  std::thread watcher([m = mount->get()] {
    m->Wait();
    kill(getpid(), SIGTERM);
  });
  std::mutex stats_mu;
  std::condition_variable stats_cv;
  bool stopping = false;
  std::thread stats_writer;
  if (!stats_file.empty()) {
    stats_writer = std::thread([&, c = cache->get()] {
      std::unique_lock lock(stats_mu);
      do {
        WriteStatsFile(stats_file, *c);
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
    unlink(stats_file.c_str());
  }
  const BlockCacheStats s = (*cache)->stats();
  std::cerr << "flist-mount: unmounted " << mountpoint << " (hits " << s.hits << ", misses " << s.misses
            << ", fetched " << s.fetches << " blocks / " << s.bytes_fetched << " bytes)\n";
  if (!status.ok()) {
    std::cerr << "flist-mount: " << status.message() << "\n";
    return 1;
  }
  return 0;
}
