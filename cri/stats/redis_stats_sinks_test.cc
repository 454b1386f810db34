#include "cri/stats/redis_stats_sinks.h"

#include <chrono>
#include <mutex>
#include <thread>

#include "common/resp_connection.h"
#include "common/testutil/redis_server.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace flint::stats {
namespace {

using namespace std::chrono_literals;

TEST(FormatContainerStatsMessageTest, AddsIdentityToZeroOsFields) {
  CgroupStats s;
  s.timestamp_ns = 1700000000000000000;
  s.memory_usage_bytes = 8192;
  s.memory_limit_bytes = 1 << 20;
  s.memory_cache_bytes = 4096;
  s.cpu_usage_ns = 123450000;  // 12345 units of 10 us
  s.pids_current = 3;
  StatsSinkPod pod{"pod1", "web", "default", "redis://h/c", {}};
  StatsSinkContainer container{"c1", "nginx", "/x"};
  nlohmann::json j = nlohmann::json::parse(FormatContainerStatsMessage(s, pod, container));
  EXPECT_EQ(j["timestamp"], 1700000000);
  EXPECT_EQ(j["memory_usage"], 8192);
  EXPECT_EQ(j["memory_limit"], 1 << 20);
  EXPECT_EQ(j["memory_cache"], 4096);
  EXPECT_EQ(j["cpu_usage"], 12345);
  EXPECT_EQ(j["pids_current"], 3);
  EXPECT_EQ(j["container_id"], "c1");
  EXPECT_EQ(j["container_name"], "nginx");
  EXPECT_EQ(j["pod_id"], "pod1");
  EXPECT_EQ(j["pod_name"], "web");
  EXPECT_EQ(j["pod_namespace"], "default");
}

// Pods the fake lister returns; tests change them while the sinks run.
class FakePods {
 public:
  void Set(std::vector<StatsSinkPod> pods) {
    std::lock_guard<std::mutex> lock(mu_);
    pods_ = std::move(pods);
  }
  std::vector<StatsSinkPod> Get() {
    std::lock_guard<std::mutex> lock(mu_);
    return pods_;
  }

 private:
  std::mutex mu_;
  std::vector<StatsSinkPod> pods_;
};

absl::StatusOr<CgroupStats> FakeRead(const std::string& cgroup_path) {
  if (cgroup_path == "/gone") return absl::NotFoundError("no such cgroup");
  CgroupStats s;
  s.timestamp_ns = 1700000000000000000;
  s.memory_usage_bytes = cgroup_path.size();
  s.cpu_usage_ns = 10000;
  s.pids_current = 1;
  return s;
}

TEST(RedisStatsSinksTest, PublishesPerContainerWhilePodIsListed) {
  auto server = ::flint::testutil::RedisServer::Start();
  ASSERT_TRUE(server.ok()) << server.status();
  auto sub = RespConnection::Connect("127.0.0.1", (*server)->port(), 2s);
  ASSERT_TRUE(sub.ok()) << sub.status();
  ASSERT_TRUE((*sub)->Send(RespConnection::EncodeCommand({"SUBSCRIBE", "stats"})).ok());
  ASSERT_TRUE((*sub)->ReadReply(2s).ok());

  const std::string url = "redis://127.0.0.1:" + std::to_string((*server)->port()) + "/stats";
  FakePods pods;
  pods.Set({StatsSinkPod{"p1", "web", "ns", url, {{"c1", "app", "/a"}, {"c2", "side", "/gone"}, {"c3", "db", "/abc"}}},
            StatsSinkPod{"p2", "bad", "ns", "redis://nowhere", {{"c9", "x", "/a"}}}});
  RedisStatsSinks sinks([&pods] { return pods.Get(); }, FakeRead, 100ms);
  std::vector<std::string> ids;
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 4; ++i) {
    auto msg = (*sub)->ReadReply(5s);
    ASSERT_TRUE(msg.ok()) << msg.status();
    nlohmann::json j = nlohmann::json::parse(msg->elements[2].str);
    ids.push_back(j["container_id"]);
    EXPECT_EQ(j["pod_id"], "p1");
    EXPECT_EQ(j["memory_usage"], j["container_id"] == "c1" ? 2 : 4);
    EXPECT_EQ(j["cpu_usage"], 1);
  }
  // Two ticks of two readable containers (the one whose cgroup is gone is skipped).
  EXPECT_EQ(ids, (std::vector<std::string>{"c1", "c3", "c1", "c3"}));
  EXPECT_GE(std::chrono::steady_clock::now() - start, 150ms);
  EXPECT_EQ(sinks.active_pods(), 1u);  // the bad annotation is ignored

  pods.Set({});
  for (int i = 0; i < 100 && sinks.active_pods() > 0; ++i) std::this_thread::sleep_for(10ms);
  EXPECT_EQ(sinks.active_pods(), 0u);
  const uint64_t published = sinks.published();
  EXPECT_GE(published, 4u);
  EXPECT_EQ(sinks.dropped(), 0u);
  // Nothing more arrives once the pod is gone (drain what was in flight first).
  while ((*sub)->ReadReply(50ms).ok()) {
  }
  EXPECT_FALSE((*sub)->ReadReply(400ms).ok());
  EXPECT_EQ(sinks.published(), published);
}

TEST(RedisStatsSinksTest, DeadRedisCountsDropsAndNeverStallsTheLoop) {
  const uint16_t port = ::flint::testutil::PickFreeLoopbackPort();
  FakePods pods;
  pods.Set({StatsSinkPod{"p1", "web", "ns", "redis://127.0.0.1:" + std::to_string(port) + "/stats", {{"c1", "app", "/a"}}}});
  RedisPublisher::Options options;
  options.max_queued_messages = 2;
  std::atomic<int> ticks{0};
  {
    RedisStatsSinks sinks(
        [&] {
          ++ticks;
          return pods.Get();
        },
        FakeRead, 20ms, options);
    for (int i = 0; i < 300 && sinks.dropped() < 5; ++i) std::this_thread::sleep_for(10ms);
    EXPECT_GE(sinks.dropped(), 5u);
    EXPECT_EQ(sinks.published(), 0u);
  }
  EXPECT_GE(ticks.load(), 7);
}

}  // namespace
}  // namespace flint::stats
