// Lazy flist mount vs full pull. Packs a synthetic tree (big pseudo-random
// files plus many small ones) into a dir:// or redis:// store, then measures:
//   (a) full pull: fetch + verify + decode + cache every block (what a
//       non-lazy image needs before a container can start);
//   (b) lazy: mount + read the first few MiB of one big file;
//   cold vs warm (block-cache) vs page-cache read throughput of one big file.
// Needs root and /dev/fuse. See run.sh.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <unordered_set>
#include <vector>

#include "absl/strings/numbers.h"
#include "flist-snapshotter/cache/block_cache.h"
#include "flist-snapshotter/flist/flist_reader.h"
#include "flist-snapshotter/fuse/flist_mount.h"
#include "flist-snapshotter/pack/file_content.h"
#include "flist-snapshotter/store/resp_store.h"
#include "flist-snapshotter/pack/v2_writer.h"
#include "flist-snapshotter/store/routed_store.h"
#include "common/testutil/redis_server.h"
#include "flist-snapshotter/store/test_servers.h"

namespace {

using namespace flint::flist;
using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point since) { return std::chrono::duration<double>(Clock::now() - since).count(); }
double MiB(uint64_t bytes) { return static_cast<double>(bytes) / (1024.0 * 1024.0); }

void WriteRandomFile(const std::string& path, uint64_t size, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string buf(1 << 20, '\0');
  FILE* f = std::fopen(path.c_str(), "wb");
  for (uint64_t done = 0; done < size;) {
    for (size_t i = 0; i + 8 <= buf.size(); i += 8) {
      const uint64_t v = rng();
      std::memcpy(buf.data() + i, &v, 8);
    }
    const size_t n = static_cast<size_t>(std::min<uint64_t>(buf.size(), size - done));
    std::fwrite(buf.data(), 1, n, f);
    done += n;
  }
  std::fclose(f);
}

// Reads [0, len) of a file; returns bytes read or -1.
int64_t ReadPrefix(const std::string& path, uint64_t len) {
  const int fd = open(path.c_str(), O_RDONLY);
  if (fd < 0) return -1;
  std::string buf(1 << 20, '\0');
  uint64_t done = 0;
  while (done < len) {
    const ssize_t n = read(fd, buf.data(), std::min<uint64_t>(buf.size(), len - done));
    if (n <= 0) break;
    done += static_cast<uint64_t>(n);
  }
  close(fd);
  return static_cast<int64_t>(done);
}

void DropPageCache(const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY);
  if (fd < 0) return;
  posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
  close(fd);
}

// Adds a fixed delay to every GET, to model a store across a network.
class DelayedStore : public BlockStore {
 public:
  DelayedStore(BlockStore& inner, int delay_ms) : inner_(inner), delay_ms_(delay_ms) {}
  absl::StatusOr<std::string> Get(std::string_view id) override {
    if (delay_ms_ > 0) std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms_));
    return inner_.Get(id);
  }
  absl::Status Put(std::string_view id, std::string_view data) override { return inner_.Put(id, data); }
  absl::StatusOr<bool> Exists(std::string_view id) override { return inner_.Exists(id); }
  std::string Describe() const override { return inner_.Describe(); }

 private:
  BlockStore& inner_;
  int delay_ms_;
};

std::unique_ptr<BlockCache> FreshCache(const std::string& dir) {
  std::filesystem::remove_all(dir);
  BlockCacheOptions o;
  o.dir = dir;
  auto c = BlockCache::Open(o);
  if (!c.ok()) {
    std::cerr << c.status() << "\n";
    std::exit(1);
  }
  return *std::move(c);
}

}  // namespace

int main(int argc, char** argv) {
  std::string work = "/tmp/flist-bench";
  int big_files = 6;
  uint64_t big_mib = 50;
  int small_files = 2000;
  uint64_t lazy_mib = 4;
  int prefetch = 8;
  bool use_redis = false;
  int latency_ms = 0;
  int wire_latency_ms = 0;
  int resp_connections = 0;  // 0: RespStore's default pool
  int pull_threads = 4;
  int prefetch_threads = 4;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const char* v = i + 1 < argc ? argv[i + 1] : "";
    if (a == "--dir") work = v, ++i;
    else if (a == "--files") (void)absl::SimpleAtoi(v, &big_files), ++i;
    else if (a == "--file-mib") (void)absl::SimpleAtoi(v, &big_mib), ++i;
    else if (a == "--small") (void)absl::SimpleAtoi(v, &small_files), ++i;
    else if (a == "--lazy-mib") (void)absl::SimpleAtoi(v, &lazy_mib), ++i;
    else if (a == "--prefetch") (void)absl::SimpleAtoi(v, &prefetch), ++i;
    else if (a == "--latency-ms") (void)absl::SimpleAtoi(v, &latency_ms), ++i;
    else if (a == "--wire-latency-ms") (void)absl::SimpleAtoi(v, &wire_latency_ms), ++i;
    else if (a == "--resp-connections") (void)absl::SimpleAtoi(v, &resp_connections), ++i;
    else if (a == "--prefetch-threads") (void)absl::SimpleAtoi(v, &prefetch_threads), ++i;
    else if (a == "--pull-threads") (void)absl::SimpleAtoi(v, &pull_threads), ++i;
    else if (a == "--redis") use_redis = true;
    else {
      std::cerr << "usage: flist_lazy_bench [--dir D] [--files N] [--file-mib M] [--small N] [--lazy-mib M]\n"
                   "                        [--prefetch N] [--redis] [--latency-ms MS] [--wire-latency-ms MS]\n"
                   "                        [--resp-connections N] [--pull-threads N]\n"
                   "                        [--prefetch-threads N]\n";
      return 2;
    }
  }
  // big0 is read lazily, big1 whole (cold, warm, hot): both must exist and be what is read.
  if (big_files < 2 || big_mib < 1 || lazy_mib < 1 || lazy_mib > big_mib) {
    std::cerr << "flist_lazy_bench: needs --files >= 2 and 1 <= --lazy-mib <= --file-mib\n";
    return 2;
  }
  std::filesystem::remove_all(work);
  const std::string src = work + "/src", mnt = work + "/mnt";
  std::filesystem::create_directories(src + "/small");
  std::filesystem::create_directories(mnt);

  // 1. The source tree.
  auto t = Clock::now();
  uint64_t src_bytes = 0;
  for (int i = 0; i < big_files; ++i) {
    WriteRandomFile(src + "/big" + std::to_string(i) + ".bin", big_mib << 20, 1000 + i);
    src_bytes += big_mib << 20;
  }
  for (int i = 0; i < small_files; ++i) {
    const uint64_t size = 512 + (static_cast<uint64_t>(i) * 7919) % 8192;
    WriteRandomFile(src + "/small/f" + std::to_string(i), size, 5000 + i);
    src_bytes += size;
  }
  std::printf("source tree: %d x %llu MiB + %d small files = %.1f MiB (%.1fs)\n", big_files,
              static_cast<unsigned long long>(big_mib), small_files, MiB(src_bytes), Seconds(t));

  // 2. Pack.
  std::unique_ptr<::flint::testutil::RedisServer> redis;
  std::string url = "dir://" + work + "/store";
  if (use_redis) {
    auto started = ::flint::testutil::RedisServer::Start();
    if (!started.ok()) {
      std::cerr << "cannot start redis-server: " << started.status() << "\n";
      return 1;
    }
    redis = *std::move(started);
    url = "redis://127.0.0.1:" + std::to_string(redis->port());
  } else {
    std::filesystem::create_directories(work + "/store");
  }
  auto pack_store = OpenBlockStore(url);
  if (!pack_store.ok()) {
    std::cerr << pack_store.status() << "\n";
    return 1;
  }
  PackOptions pack_options;
  pack_options.routes.push_back(Route{0, 255, url});
  const std::string fl = work + "/image.fl";
  t = Clock::now();
  auto packed = PackDirectory(src, fl, **pack_store, pack_options);
  if (!packed.ok()) {
    std::cerr << packed.status() << "\n";
    return 1;
  }
  std::printf("pack to %s: %llu blocks, %.1fs\n", url.c_str(), static_cast<unsigned long long>(packed->blocks),
              Seconds(t));
  pack_store->reset();
  std::filesystem::remove_all(src);  // nothing below may read the original tree

  auto flist_or = ReadFlistFile(fl);
  if (!flist_or.ok()) {
    std::cerr << flist_or.status() << "\n";
    return 1;
  }
  auto flist = std::make_shared<const Flist>(*std::move(flist_or));
  // --wire-latency-ms: reads go through a TCP proxy that delays every redis
  // reply, so a store client that serializes requests on one connection pays
  // the latency once per block (unlike --latency-ms, which sleeps per GET in
  // the caller's thread).
  std::unique_ptr<testing::DelayProxy> proxy;
  std::string read_url;
  if (use_redis && wire_latency_ms > 0) {
    proxy = std::make_unique<testing::DelayProxy>(redis->port(), std::chrono::milliseconds(wire_latency_ms));
    if (!proxy->ok()) {
      std::cerr << "cannot start the delay proxy\n";
      return 1;
    }
    read_url = "redis://127.0.0.1:" + std::to_string(proxy->port());
  }
  absl::StatusOr<std::unique_ptr<BlockStore>> store = absl::UnknownError("unset");
  if (use_redis && resp_connections > 0) {
    auto resp = RespStore::Open(read_url.empty() ? url : read_url, std::chrono::seconds(10),
                                static_cast<size_t>(resp_connections));
    if (resp.ok()) store = std::unique_ptr<BlockStore>(*std::move(resp));
    else store = resp.status();
  } else {
    store = OpenStoreForFlist(*flist, read_url, "");
  }
  if (!store.ok()) {
    std::cerr << store.status() << "\n";
    return 1;
  }
  const std::string cache_dir = work + "/cache";
  const BlockFormat format = BlockFormatOf(*flist);

  DelayedStore delayed(**store, latency_ms);
  BlockStore* source = &delayed;

  // (a) Full pull: every unique block fetched, verified, decoded, cached,
  // by pull_threads workers (a real puller would fetch in parallel too).
  auto cache = FreshCache(cache_dir);
  std::vector<const BlockRef*> unique;
  {
    std::unordered_set<std::string> seen;
    for (const Entry& e : flist->entries()) {
      for (const BlockRef& b : e.blocks) {
        if (seen.insert(b.id).second) unique.push_back(&b);
      }
    }
  }
  t = Clock::now();
  std::atomic<size_t> next{0};
  std::atomic<bool> failed{false};
  std::vector<std::thread> pullers;
  for (int w = 0; w < pull_threads; ++w) {
    pullers.emplace_back([&] {
      for (size_t i = next++; i < unique.size(); i = next++) {
        auto plain = cache->GetBlock(*unique[i], format, *source);
        if (!plain.ok()) {
          std::cerr << plain.status() << "\n";
          failed = true;
          return;
        }
      }
    });
  }
  for (auto& th : pullers) th.join();
  if (failed) return 1;
  const double full_s = Seconds(t);
  const BlockCacheStats full = cache->stats();

  // (b) Lazy: mount and read the first lazy_mib MiB of one big file.
  cache = FreshCache(cache_dir);
  FlistMountOptions mount_options;
  mount_options.fs.prefetch_blocks = prefetch;
  mount_options.fs.prefetch_threads = prefetch_threads;
  t = Clock::now();
  auto mount = FlistMount::Mount(flist, cache.get(), source, mnt, mount_options);
  if (!mount.ok()) {
    std::cerr << mount.status() << "\n";
    return 1;
  }
  const std::string big0 = mnt + "/big0.bin";
  const int64_t got = ReadPrefix(big0, lazy_mib << 20);
  const double lazy_s = Seconds(t);
  (*mount)->WaitPrefetchIdle();
  const BlockCacheStats lazy = cache->stats();
  if (got != static_cast<int64_t>(lazy_mib << 20)) {
    std::cerr << "lazy read failed\n";
    return 1;
  }

  std::printf("\nstore latency %d ms per GET (+%d ms on the wire), full pull with %d threads\n", latency_ms,
              wire_latency_ms, pull_threads);
  std::printf("%-34s %10s %14s %8s\n", "", "time", "fetched", "blocks");
  std::printf("%-34s %9.3fs %10.1f MiB %8llu\n", "(a) full pull (fetch+decode all)", full_s, MiB(full.bytes_fetched),
              static_cast<unsigned long long>(full.fetches));
  std::printf("%-34s %9.3fs %10.1f MiB %8llu   (incl. %d-block prefetch)\n",
              ("(b) lazy: mount + read " + std::to_string(lazy_mib) + " MiB").c_str(), lazy_s,
              MiB(lazy.bytes_fetched), static_cast<unsigned long long>(lazy.fetches), prefetch);

  // Throughput of one whole big file: cold (store), warm (block cache), page cache.
  const std::string big1 = mnt + "/big1.bin";
  const uint64_t big_bytes = big_mib << 20;
  double cold_s = 0, warm_s = 0, page_s = 0;
  for (double* seconds : {&cold_s, &warm_s, &page_s}) {
    if (seconds == &warm_s) DropPageCache(big1);
    t = Clock::now();
    if (ReadPrefix(big1, big_bytes) != static_cast<int64_t>(big_bytes)) {
      std::cerr << "reading " << big1 << " through the mount failed\n";
      return 1;
    }
    *seconds = Seconds(t);
  }
  std::printf("\nsequential read of a %llu MiB file through the mount (prefetch %d blocks, %d threads):\n",
              static_cast<unsigned long long>(big_mib), prefetch, prefetch_threads);
  std::printf("  cold  (blocks from store)   %8.1f MB/s\n", big_bytes / cold_s / 1e6);
  std::printf("  warm  (block cache on disk) %8.1f MB/s\n", big_bytes / warm_s / 1e6);
  std::printf("  hot   (kernel page cache)   %8.1f MB/s\n", big_bytes / page_s / 1e6);
  const BlockCacheStats end = cache->stats();
  std::printf("cache: hits %llu misses %llu coalesced %llu fetches %llu, avg fetch %.2f ms, max %.2f ms\n",
              static_cast<unsigned long long>(end.hits), static_cast<unsigned long long>(end.misses),
              static_cast<unsigned long long>(end.coalesced), static_cast<unsigned long long>(end.fetches),
              end.fetches ? end.fetch_micros_total / 1000.0 / end.fetches : 0.0, end.fetch_micros_max / 1000.0);

  (void)(*mount)->Unmount();
  mount->reset();
  cache.reset();
  std::filesystem::remove_all(work);
  return 0;
}
