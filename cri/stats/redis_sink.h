// Zero-OS style Redis sinks for container logs and stats, enabled per pod by annotations:
//
//   flint.io/logs-redis:  "redis://<host>:<port>/<stdout-channel>[,<stderr-channel>]"
//       Each log line the container writes is PUBLISHed (without its trailing newline) to the
//       stdout channel or the stderr channel. With a single channel both streams go to it.
//   flint.io/stats-redis: "redis://<host>:<port>/<channel>"
//       Every 2 s a JSON object is PUBLISHed:
//       {"timestamp": <unix seconds>, "memory_usage": <bytes>, "memory_limit": <bytes, 0 = unlimited>,
//        "memory_cache": <bytes>, "cpu_usage": <cumulative CPU in 10 us units, as Zero-OS>,
//        "pids_current": <n>}
//
// Where they run:
//   - logs: in flint-shim (shim/redis_log_publisher.h), which writes the CRI log and outlives
//     flintd restarts. flintd resolves the host (ResolveLogsRedisForShim) and passes
//     `--logs-redis redis://<ip>:<port>/<channels>` when it creates the container; a malformed
//     annotation fails CreateContainer (InvalidArgument), an unresolvable host only logs a warning.
//     Lines over 16 KiB arrive as several messages (one per CRI log record). The shim keeps
//     {"published","dropped","connected"} in <container state dir>/logs-redis.json.
//   - stats: in flintd (redis_stats_sinks.h), one JSON object per container per tick, with
//     container_id, container_name, pod_id, pod_name, pod_namespace added to the fields above.
//   Both are counted in /metrics: flint_redis_sink_{published,dropped}_total{sink="logs"|"stats"}.
//
// A sink never slows the container or its CRI log: Publish() only appends to a bounded queue;
// one background thread per publisher talks to Redis with timeouts and reconnect backoff. When
// the queue is full (Redis down or slow) messages are dropped and counted. Delivery is at most
// once: a batch in flight when the connection breaks is counted as dropped.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "cri/stats/cgroup_stats.h"

namespace flint::stats {

inline constexpr char kLogsRedisAnnotation[] = "flint.io/logs-redis";
inline constexpr char kStatsRedisAnnotation[] = "flint.io/stats-redis";

struct RedisTarget {
  std::string host;
  uint16_t port = 6379;
  std::vector<std::string> channels;  // at least one
};
// Parses "redis://host:port/ch1[,ch2...]" ("[v6addr]:port" accepted; port defaults to 6379).
absl::StatusOr<RedisTarget> ParseRedisTarget(const std::string& value);

// The flint.io/logs-redis annotation as flint-shim takes it (--logs-redis): same form with the
// host resolved to an IP literal (the static shim does not resolve names). InvalidArgument for a
// malformed value, Unavailable when the name does not resolve.
absl::StatusOr<std::string> ResolveLogsRedisForShim(const std::string& annotation);

class RedisPublisher {
 public:
  struct Options {
    size_t max_queued_messages = 4096;
    size_t max_queued_bytes = 4 << 20;
    size_t max_batch = 256;
    std::chrono::milliseconds connect_timeout{500};
    std::chrono::milliseconds io_timeout{1000};
    std::chrono::milliseconds min_backoff{100};
    std::chrono::milliseconds max_backoff{5000};
  };

  RedisPublisher(std::string host, uint16_t port);
  RedisPublisher(std::string host, uint16_t port, Options options);
  // Close(): flushes what is queued if connected (bounded by io_timeout), drops the rest, stops
  // the sender; the counters are final afterwards. Idempotent; the destructor calls it.
  void Close();
  ~RedisPublisher();
  RedisPublisher(const RedisPublisher&) = delete;
  RedisPublisher& operator=(const RedisPublisher&) = delete;

  // Never blocks on the network. Returns false (and counts a drop) when the queue is full.
  bool Publish(std::string channel, std::string message);

  uint64_t published() const { return published_.load(); }
  uint64_t dropped() const { return dropped_.load(); }
  bool connected() const { return connected_.load(); }

 private:
  struct Message {
    std::string channel;
    std::string payload;
  };
  void SenderLoop();

  const std::string host_;
  const uint16_t port_;
  const Options options_;
  std::atomic<uint64_t> published_{0};
  std::atomic<uint64_t> dropped_{0};
  std::atomic<bool> connected_{false};
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Message> queue_;
  size_t queued_bytes_ = 0;
  bool stopping_ = false;
  std::thread sender_;
};

// The Zero-OS stats JSON object (see header comment). Unset fields are 0.
std::string FormatZeroOsStats(const CgroupStats& stats);

}  // namespace flint::stats
