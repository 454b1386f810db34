#include "cri/stats/redis_sink.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/log.h"
#include "common/resolve.h"
#include "common/resp_connection.h"
#include "nlohmann/json.hpp"

namespace flint::stats {

absl::StatusOr<RedisTarget> ParseRedisTarget(const std::string& value) {
  auto invalid = [&value](std::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat("redis target \"", value, "\": ", std::string(why)));
  };
  constexpr char kScheme[] = "redis://";
  if (!absl::StartsWith(value, kScheme)) return invalid("want redis://host:port/channel");
  std::string rest = value.substr(sizeof(kScheme) - 1);
  size_t slash = rest.find('/');
  if (slash == std::string::npos) return invalid("missing /channel");
  std::string authority = rest.substr(0, slash);
  std::string channels = rest.substr(slash + 1);
  RedisTarget target;
  std::string port_text;
  if (absl::StartsWith(authority, "[")) {
    size_t close = authority.find(']');
    if (close == std::string::npos) return invalid("unterminated [ in host");
    target.host = authority.substr(1, close - 1);
    if (close + 1 < authority.size()) {
      if (authority[close + 1] != ':') return invalid("junk after ]");
      port_text = authority.substr(close + 2);
    }
  } else {
    size_t colon = authority.rfind(':');
    target.host = authority.substr(0, colon);
    if (colon != std::string::npos) port_text = authority.substr(colon + 1);
  }
  if (target.host.empty()) return invalid("empty host");
  if (!port_text.empty()) {
    uint32_t port = 0;
    if (!absl::SimpleAtoi(port_text, &port) || port == 0 || port > 65535) return invalid("bad port");
    target.port = static_cast<uint16_t>(port);
  }
  for (absl::string_view channel : absl::StrSplit(channels, ',')) {
    if (channel.empty()) return invalid("empty channel name");
    target.channels.emplace_back(channel);
  }
  return target;
}

absl::StatusOr<std::string> ResolveLogsRedisForShim(const std::string& annotation) {
  absl::StatusOr<RedisTarget> target = ParseRedisTarget(annotation);
  if (!target.ok()) return absl::InvalidArgumentError(absl::StrCat(kLogsRedisAnnotation, ": ", target.status().message()));
  if (target->channels.size() > 2) {
    return absl::InvalidArgumentError(absl::StrCat(kLogsRedisAnnotation, ": at most two channels (stdout,stderr)"));
  }
  // CreateContainer waits for this; a dead DNS server must not hold it for the resolver's 30 s.
  auto addresses = net::Resolve(target->host, "", AF_UNSPEC, SOCK_STREAM, std::chrono::seconds(2));
  if (!addresses.ok()) {
    return absl::Status(addresses.status().code(),
                        absl::StrCat(kLogsRedisAnnotation, ": ", addresses.status().message()));
  }
  const net::ResolvedAddress& first = addresses->front();
  char ip[INET6_ADDRSTRLEN] = {};
  const bool v6 = first.family == AF_INET6;
  const void* addr = v6 ? static_cast<const void*>(&reinterpret_cast<const sockaddr_in6*>(&first.addr)->sin6_addr)
                        : static_cast<const void*>(&reinterpret_cast<const sockaddr_in*>(&first.addr)->sin_addr);
  ::inet_ntop(first.family, addr, ip, sizeof(ip));
  return absl::StrCat("redis://", v6 ? "[" : "", ip, v6 ? "]" : "", ":", target->port, "/",
                      absl::StrJoin(target->channels, ","));
}

RedisPublisher::RedisPublisher(std::string host, uint16_t port) : RedisPublisher(std::move(host), port, Options()) {}

RedisPublisher::RedisPublisher(std::string host, uint16_t port, Options options)
    : host_(std::move(host)), port_(port), options_(options), sender_([this] { SenderLoop(); }) {}

void RedisPublisher::Close() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (sender_.joinable()) sender_.join();
}

RedisPublisher::~RedisPublisher() { Close(); }

bool RedisPublisher::Publish(std::string channel, std::string message) {
  size_t size = channel.size() + message.size();
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_ || queue_.size() >= options_.max_queued_messages ||
        queued_bytes_ + size > options_.max_queued_bytes) {
      dropped_.fetch_add(1);
      return false;
    }
    queue_.push_back(Message{std::move(channel), std::move(message)});
    queued_bytes_ += size;
  }
  cv_.notify_one();
  return true;
}

void RedisPublisher::SenderLoop() {
  using Clock = std::chrono::steady_clock;
  std::unique_ptr<RespConnection> conn;
  std::chrono::milliseconds backoff = options_.min_backoff;
  Clock::time_point next_attempt = Clock::now();
  std::vector<Message> batch;
  const std::string target = absl::StrCat(host_, ":", port_);

  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
    if (stopping_ && (queue_.empty() || conn == nullptr)) break;

    if (conn == nullptr) {
      if (Clock::now() < next_attempt) {
        // Messages keep queueing (and dropping once full) while we wait.
        cv_.wait_until(lock, next_attempt, [this] { return stopping_; });
        continue;
      }
      lock.unlock();
      absl::StatusOr<std::unique_ptr<RespConnection>> connected =
          RespConnection::Connect(host_, port_, options_.connect_timeout, options_.io_timeout);
      lock.lock();
      if (!connected.ok()) {
        FLINT_LOG(DEBUG) << "redis sink " << target << ": " << connected.status().message() << "; retry in "
                         << backoff.count() << "ms";
        next_attempt = Clock::now() + backoff;
        backoff = std::min(backoff * 2, options_.max_backoff);
        continue;
      }
      conn = std::move(*connected);
      connected_ = true;
      backoff = options_.min_backoff;
    }

    batch.clear();
    while (!queue_.empty() && batch.size() < options_.max_batch) {
      queued_bytes_ -= queue_.front().channel.size() + queue_.front().payload.size();
      batch.push_back(std::move(queue_.front()));
      queue_.pop_front();
    }
    lock.unlock();
    // Pipelined: all PUBLISHes in one write, then one integer reply each.
    std::string wire;
    for (const Message& m : batch) wire += RespConnection::EncodeCommand({"PUBLISH", m.channel, m.payload});
    absl::Status status = conn->Send(wire);
    for (size_t i = 0; status.ok() && i < batch.size(); ++i) {
      absl::StatusOr<RespReply> reply = conn->ReadReply(options_.io_timeout);
      if (!reply.ok()) {
        status = reply.status();
      } else if (reply->type == RespReply::Type::kError) {
        status = absl::InternalError("PUBLISH: " + reply->str);
      }
    }
    lock.lock();
    if (status.ok()) {
      published_.fetch_add(batch.size());
    } else {
      FLINT_LOG(DEBUG) << "redis sink " << target << ": " << status.message();
      dropped_.fetch_add(batch.size());
      conn.reset();
      connected_ = false;
      next_attempt = Clock::now() + backoff;
      backoff = std::min(backoff * 2, options_.max_backoff);
    }
  }
  dropped_.fetch_add(queue_.size());
  queue_.clear();
  queued_bytes_ = 0;
  connected_ = false;
}

std::string FormatZeroOsStats(const CgroupStats& stats) {
  nlohmann::json j;
  j["timestamp"] = stats.timestamp_ns / 1000000000;
  j["memory_usage"] = stats.memory_usage_bytes.value_or(0);
  j["memory_limit"] = stats.memory_limit_bytes.value_or(0);
  j["memory_cache"] = stats.memory_cache_bytes.value_or(0);
  j["cpu_usage"] = stats.cpu_usage_ns.value_or(0) / 10000;
  j["pids_current"] = stats.pids_current.value_or(0);
  return j.dump();
}

}  // namespace flint::stats
