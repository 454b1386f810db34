// Forwards the container's log records to Redis channels (pod annotation flint.io/logs-redis,
// passed by flintd as `--logs-redis redis://<ip>:<port>/<stdout-channel>[,<stderr-channel>]`).
//
// The log path never waits for Redis: OnRecord() only appends to a bounded queue (drops and
// counts when it is full); one background thread with all signals blocked connects, PUBLISHes
// pipelined batches with timeouts and reconnects with backoff. Delivery is at most once: a batch
// in flight when the connection breaks is counted as dropped. The counters are written to
// `counters_path` as {"published":N,"dropped":N,"connected":B} (at most once a second while they
// change, and at exit) so flintd can export them without talking to the shim.
//
// Host names are not resolved here (that would pull NSS into the static shim): flintd resolves
// them before spawning the shim.
#pragma once

#include <pthread.h>
#include <sys/socket.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <string_view>

#include "shim/cri_log_writer.h"

namespace flint::shim {

struct RedisLogTarget {
  std::string ip;  // IPv4 or IPv6 literal
  uint16_t port = 6379;
  std::string stdout_channel;
  std::string stderr_channel;  // same as stdout_channel when only one is given
};
// An IPv4 or IPv6 literal as a socket address.
bool ParseIpLiteral(std::string_view text, uint16_t port, sockaddr_storage* addr, socklen_t* len);

// "redis://10.0.0.5:6379/out,err", "redis://[::1]:7000/all" (port defaults to 6379).
bool ParseRedisLogTarget(std::string_view url, RedisLogTarget* target, std::string* error);

class RedisLogPublisher : public LogRecordTap {
 public:
  struct Limits {
    size_t max_queued_messages = 1024;
    size_t max_queued_bytes = 256 * 1024;
    size_t max_batch = 128;
    int connect_timeout_ms = 500;
    int io_timeout_ms = 1000;
    int min_backoff_ms = 100;
    int max_backoff_ms = 5000;
  };

  RedisLogPublisher(RedisLogTarget target, Limits limits, std::string counters_path);
  // Sends what is still queued if connected (within io_timeout_ms in all), drops the rest.
  ~RedisLogPublisher() override;
  RedisLogPublisher(const RedisLogPublisher&) = delete;
  RedisLogPublisher& operator=(const RedisLogPublisher&) = delete;

  bool Start(std::string* error);

  // Each record (one log line; lines over 16 KiB come as several records) becomes one message.
  void OnRecord(LogStream stream, bool partial, std::string_view content) override;

  uint64_t published() const { return published_.load(); }
  uint64_t dropped() const { return dropped_.load(); }

 private:
  struct Message {
    const std::string* channel;
    std::string payload;
  };
  static void* ThreadMain(void* self);
  void SenderLoop();
  // Connects (non-blocking socket, bounded wait); -1 on failure.
  int Connect() const;
  // Sends the batch pipelined and reads one reply per message; false if the connection is unusable.
  bool SendBatch(int fd, const std::deque<Message>& batch);
  void MaybeWriteCounters(bool force);

  const RedisLogTarget target_;
  const Limits limits_;
  const std::string counters_path_;
  std::atomic<uint64_t> published_{0};
  std::atomic<uint64_t> dropped_{0};
  std::atomic<bool> connected_{false};
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Message> queue_;
  size_t queued_bytes_ = 0;
  bool stopping_ = false;
  bool started_ = false;
  pthread_t thread_{};
  // Sender thread only.
  std::string reply_buffer_;
  int64_t counters_written_ms_ = 0;
  uint64_t counters_written_sum_ = ~0ULL;
};

}  // namespace flint::shim
