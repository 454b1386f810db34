#include "cri/stats/redis_sink.h"

#include <unistd.h>

#include <chrono>
#include <thread>

#include "common/resp_connection.h"
#include "common/testutil/loopback.h"
#include "common/testutil/redis_server.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace flint::stats {
namespace {

using namespace std::chrono_literals;
using ::flint::testutil::RedisServer;

TEST(ParseRedisTargetTest, ParsesHostPortAndChannels) {
  absl::StatusOr<RedisTarget> t = ParseRedisTarget("redis://10.0.0.5:6380/out,err");
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->host, "10.0.0.5");
  EXPECT_EQ(t->port, 6380);
  EXPECT_EQ(t->channels, (std::vector<std::string>{"out", "err"}));

  t = ParseRedisTarget("redis://redis.local/stats");
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->host, "redis.local");
  EXPECT_EQ(t->port, 6379);
  EXPECT_EQ(t->channels, (std::vector<std::string>{"stats"}));

  t = ParseRedisTarget("redis://[::1]:7000/c");
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->host, "::1");
  EXPECT_EQ(t->port, 7000);

  EXPECT_FALSE(ParseRedisTarget("http://h:1/c").ok());
  EXPECT_FALSE(ParseRedisTarget("redis://h:1").ok());
  EXPECT_FALSE(ParseRedisTarget("redis://h:99999/c").ok());
  EXPECT_FALSE(ParseRedisTarget("redis://:1/c").ok());
  EXPECT_FALSE(ParseRedisTarget("redis://h:1/a,,b").ok());
  EXPECT_EQ(ResolveLogsRedisForShim("redis://127.0.0.1:1/a,b,c").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(ResolveLogsRedisForShimTest, ResolvesTheHostKeepsPortAndChannels) {
  absl::StatusOr<std::string> v = ResolveLogsRedisForShim("redis://localhost:7001/out,err");
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_TRUE(*v == "redis://127.0.0.1:7001/out,err" || *v == "redis://[::1]:7001/out,err") << *v;
  v = ResolveLogsRedisForShim("redis://10.2.3.4/all");
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(*v, "redis://10.2.3.4:6379/all");
  EXPECT_EQ(ResolveLogsRedisForShim("redis://10.2.3.4/a,b,c").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ResolveLogsRedisForShim("10.2.3.4/a").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(FormatZeroOsStatsTest, UsesZeroOsUnits) {
  CgroupStats s;
  s.timestamp_ns = 1700000000123456789;
  s.memory_usage_bytes = 1000;
  s.memory_cache_bytes = 200;
  s.cpu_usage_ns = 2500000000;  // 2.5 s = 250000 units of 10 us
  s.pids_current = 4;
  nlohmann::json j = nlohmann::json::parse(FormatZeroOsStats(s));
  EXPECT_EQ(j["timestamp"], 1700000000);
  EXPECT_EQ(j["memory_usage"], 1000);
  EXPECT_EQ(j["memory_limit"], 0);  // unlimited
  EXPECT_EQ(j["memory_cache"], 200);
  EXPECT_EQ(j["cpu_usage"], 250000);
  EXPECT_EQ(j["pids_current"], 4);
}

class Subscriber {
 public:
  Subscriber(uint16_t port, const std::vector<std::string>& channels) {
    auto conn = RespConnection::Connect("127.0.0.1", port, 2s);
    EXPECT_TRUE(conn.ok()) << conn.status();
    if (!conn.ok()) return;
    conn_ = std::move(*conn);
    std::vector<std::string> cmd = {"SUBSCRIBE"};
    cmd.insert(cmd.end(), channels.begin(), channels.end());
    EXPECT_TRUE(conn_->Send(RespConnection::EncodeCommand(std::vector<std::string_view>(cmd.begin(), cmd.end()))).ok());
    for (size_t i = 0; i < channels.size(); ++i) {
      auto ack = conn_->ReadReply(2s);
      EXPECT_TRUE(ack.ok() && ack->elements.size() == 3 && ack->elements[0].str == "subscribe");
    }
  }
  // Returns {channel, payload}.
  std::pair<std::string, std::string> Next(std::chrono::milliseconds timeout = 5s) {
    if (!conn_) return {};
    auto msg = conn_->ReadReply(timeout);
    if (!msg.ok() || msg->elements.size() != 3) return {"<error>", msg.ok() ? "" : std::string(msg.status().message())};
    return {msg->elements[1].str, msg->elements[2].str};
  }

 private:
  std::unique_ptr<RespConnection> conn_;
};

class RedisSinkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto server = RedisServer::Start();
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
  }
  std::string Url(const std::string& channels) {
    return "redis://127.0.0.1:" + std::to_string(server_->port()) + "/" + channels;
  }
  std::unique_ptr<RedisServer> server_;
};

TEST_F(RedisSinkTest, PublishesEachMessageToItsChannel) {
  Subscriber sub(server_->port(), {"pod-out", "pod-err"});
  RedisPublisher publisher("127.0.0.1", server_->port());
  EXPECT_TRUE(publisher.Publish("pod-out", "hello stdout"));
  EXPECT_TRUE(publisher.Publish("pod-err", "oops on stderr"));
  EXPECT_TRUE(publisher.Publish("pod-out", std::string(10000, 'x')));
  EXPECT_EQ(sub.Next(), (std::pair<std::string, std::string>{"pod-out", "hello stdout"}));
  EXPECT_EQ(sub.Next(), (std::pair<std::string, std::string>{"pod-err", "oops on stderr"}));
  EXPECT_EQ(sub.Next(), (std::pair<std::string, std::string>{"pod-out", std::string(10000, 'x')}));
  for (int i = 0; i < 200 && publisher.published() < 3; ++i) std::this_thread::sleep_for(5ms);
  EXPECT_EQ(publisher.published(), 3u);
  EXPECT_EQ(publisher.dropped(), 0u);
}

TEST_F(RedisSinkTest, ManyMessagesArriveInOrder) {
  Subscriber sub(server_->port(), {"all"});
  RedisPublisher publisher("127.0.0.1", server_->port());
  for (int i = 0; i < 500; ++i) publisher.Publish("all", "line " + std::to_string(i));
  for (int i = 0; i < 500; ++i) ASSERT_EQ(sub.Next().second, "line " + std::to_string(i));
}

TEST_F(RedisSinkTest, ReconnectsAfterRedisRestarts) {
  RedisPublisher::Options options;
  options.min_backoff = 20ms;
  options.max_backoff = 100ms;
  RedisPublisher publisher("127.0.0.1", server_->port(), options);
  {
    Subscriber sub(server_->port(), {"c"});
    publisher.Publish("c", "before");
    EXPECT_EQ(sub.Next().second, "before");
  }
  uint16_t port = server_->port();
  server_->Kill();
  // Lines written while Redis is gone are lost (counted), never block.
  for (int i = 0; i < 50 && publisher.dropped() == 0; ++i) {
    publisher.Publish("c", "lost");
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_GT(publisher.dropped(), 0u);
  auto restarted = RedisServer::Start(port);
  ASSERT_TRUE(restarted.ok()) << restarted.status();
  server_ = std::move(*restarted);
  Subscriber sub(port, {"c"});
  // Keep publishing until one gets through the reconnected sender.
  std::pair<std::string, std::string> got;
  for (int i = 0; i < 100; ++i) {
    publisher.Publish("c", "after");
    got = sub.Next(100ms);
    if (got.second == "after") break;
  }
  EXPECT_EQ(got.second, "after");
}

TEST(RedisPublisherDownTest, PublishNeverBlocksAndCountsDrops) {
  uint16_t port = ::flint::testutil::PickFreeLoopbackPort();  // nobody listens
  RedisPublisher::Options options;
  options.max_queued_messages = 16;
  auto publisher = std::make_unique<RedisPublisher>("127.0.0.1", port, options);
  auto start = std::chrono::steady_clock::now();
  int accepted = 0;
  for (int i = 0; i < 10000; ++i) accepted += publisher->Publish("c", "a log line") ? 1 : 0;
  EXPECT_LT(std::chrono::steady_clock::now() - start, 1000ms);
  EXPECT_LE(accepted, 16 + 256);
  EXPECT_GE(publisher->dropped(), 10000u - 16u - 256u);
  publisher.reset();  // the queue left over is dropped, not delivered late
}

TEST(RedisPublisherDownTest, UnresponsiveServerTimesOutWithoutBlockingPublish) {
  // Accepts TCP (kernel backlog) but never reads or answers.
  int port = 0;
  const int listener = ::flint::testutil::ListenOnLoopback(8, &port);
  ASSERT_GE(listener, 0);
  RedisPublisher::Options options;
  options.io_timeout = 200ms;
  options.max_queued_messages = 8;
  {
    RedisPublisher publisher("127.0.0.1", port, options);
    auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < 1000; ++i) publisher.Publish("c", "x");
    EXPECT_LT(std::chrono::steady_clock::now() - start, 500ms);
    // Queue full at once: at most one batch in flight plus a full queue got in.
    EXPECT_GE(publisher.dropped(), 1000u - 2 * 8u);
    // The batches in flight hit the 200 ms reply timeout and are dropped too: nothing is stuck.
    for (int i = 0; i < 500 && publisher.dropped() < 1000; ++i) std::this_thread::sleep_for(10ms);
    EXPECT_EQ(publisher.dropped(), 1000u);
    EXPECT_EQ(publisher.published(), 0u);
  }
  ::close(listener);
}

}  // namespace
}  // namespace flint::stats
