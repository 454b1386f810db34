#include "shim/redis_log_publisher.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "common/resp_connection.h"
#include "common/testutil/redis_server.h"

namespace flint::shim {
namespace {

using namespace std::chrono_literals;

TEST(ParseRedisLogTargetTest, AcceptsOneOrTwoChannelsOnAnIp) {
  RedisLogTarget t;
  std::string error;
  ASSERT_TRUE(ParseRedisLogTarget("redis://10.1.2.3:6380/out,err", &t, &error)) << error;
  EXPECT_EQ(t.ip, "10.1.2.3");
  EXPECT_EQ(t.port, 6380);
  EXPECT_EQ(t.stdout_channel, "out");
  EXPECT_EQ(t.stderr_channel, "err");
  ASSERT_TRUE(ParseRedisLogTarget("redis://[::1]/all", &t, &error)) << error;
  EXPECT_EQ(t.ip, "::1");
  EXPECT_EQ(t.port, 6379);
  EXPECT_EQ(t.stdout_channel, "all");
  EXPECT_EQ(t.stderr_channel, "all");
  for (const char* bad : {"http://1.2.3.4/c", "redis://1.2.3.4:1", "redis://redis.local:1/c", "redis://1.2.3.4:0/c",
                          "redis://1.2.3.4:70000/c", "redis://1.2.3.4/a,b,c", "redis://1.2.3.4/,b", "redis://1.2.3.4/a,"}) {
    EXPECT_FALSE(ParseRedisLogTarget(bad, &t, &error)) << bad;
  }
}

TEST(ParseIpLiteralTest, AcceptsIpv4AndIpv6LiteralsOnly) {
  for (const char* text : {"127.0.0.1", "10.1.2.3", "255.255.255.255", "0.0.0.0", "::1", "::", "fe80::1:2",
                           "2001:db8:0:0:0:0:2:1", "2001:DB8::ff00:42:8329", "1::"}) {
    sockaddr_storage addr;
    socklen_t len = 0;
    ASSERT_TRUE(ParseIpLiteral(text, 6379, &addr, &len)) << text;
    if (addr.ss_family == AF_INET) {
      in_addr want{};
      ASSERT_EQ(inet_pton(AF_INET, text, &want), 1) << text;
      EXPECT_EQ(reinterpret_cast<sockaddr_in*>(&addr)->sin_addr.s_addr, want.s_addr) << text;
      EXPECT_EQ(ntohs(reinterpret_cast<sockaddr_in*>(&addr)->sin_port), 6379);
    } else {
      ASSERT_EQ(addr.ss_family, AF_INET6) << text;
      in6_addr want{};
      ASSERT_EQ(inet_pton(AF_INET6, text, &want), 1) << text;
      EXPECT_EQ(memcmp(&reinterpret_cast<sockaddr_in6*>(&addr)->sin6_addr, &want, sizeof(want)), 0) << text;
    }
  }
  for (const char* bad : {"", "1.2.3", "1.2.3.4.5", "256.1.1.1", "1..2.3", "a.b.c.d", "1:2", ":::", "1::2::3",
                          "12345::", "1:2:3:4:5:6:7:8:9", "g::1", "localhost"}) {
    sockaddr_storage addr;
    socklen_t len = 0;
    EXPECT_FALSE(ParseIpLiteral(bad, 1, &addr, &len)) << bad;
  }
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

int CountLines(const std::string& text) { return static_cast<int>(std::count(text.begin(), text.end(), '\n')); }

class RedisLogPublisherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/shim-redis-log.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    CriLogWriter::SetTap(nullptr);
    std::filesystem::remove_all(dir_);
  }
  std::string dir_;
};

TEST_F(RedisLogPublisherTest, PublishesEachLogLineToItsStreamChannel) {
  auto server = ::flint::testutil::RedisServer::Start();
  ASSERT_TRUE(server.ok()) << server.status();
  auto sub = RespConnection::Connect("127.0.0.1", (*server)->port(), 2s);
  ASSERT_TRUE(sub.ok()) << sub.status();
  ASSERT_TRUE((*sub)->Send(RespConnection::EncodeCommand({"SUBSCRIBE", "out", "err"})).ok());
  for (int i = 0; i < 2; ++i) ASSERT_TRUE((*sub)->ReadReply(2s).ok());

  RedisLogTarget target;
  std::string error;
  ASSERT_TRUE(ParseRedisLogTarget("redis://127.0.0.1:" + std::to_string((*server)->port()) + "/out,err", &target,
                                  &error));
  const std::string counters = dir_ + "/logs-redis.json";
  {
    RedisLogPublisher publisher(target, {}, counters);
    ASSERT_TRUE(publisher.Start(&error)) << error;
    CriLogWriter::SetTap(&publisher);
    CriLogWriter log;
    ASSERT_TRUE(log.Open(dir_ + "/c.log", &error)) << error;
    log.Write(LogStream::kStdout, "hello\nwor");
    log.Write(LogStream::kStderr, "oops\n");
    log.Write(LogStream::kStdout, "ld\n");
    std::vector<std::pair<std::string, std::string>> got;
    for (int i = 0; i < 3; ++i) {
      auto msg = (*sub)->ReadReply(5s);
      ASSERT_TRUE(msg.ok()) << msg.status();
      ASSERT_EQ(msg->elements.size(), 3u);
      got.emplace_back(msg->elements[1].str, msg->elements[2].str);
    }
    EXPECT_EQ(got, (std::vector<std::pair<std::string, std::string>>{
                       {"out", "hello"}, {"err", "oops"}, {"out", "world"}}));
    for (int i = 0; i < 200 && publisher.published() < 3; ++i) std::this_thread::sleep_for(5ms);
    EXPECT_EQ(publisher.published(), 3u);
    EXPECT_EQ(publisher.dropped(), 0u);
    CriLogWriter::SetTap(nullptr);
  }
  nlohmann::json j = nlohmann::json::parse(ReadFile(counters));
  EXPECT_EQ(j["published"], 3);
  EXPECT_EQ(j["dropped"], 0);
  EXPECT_EQ(CountLines(ReadFile(dir_ + "/c.log")), 3);
}

TEST_F(RedisLogPublisherTest, DeadSinkNeverSlowsTheLogAndCountsDrops) {
  const uint16_t port = ::flint::testutil::PickFreeLoopbackPort();  // nobody listens
  RedisLogTarget target;
  std::string error;
  ASSERT_TRUE(ParseRedisLogTarget("redis://127.0.0.1:" + std::to_string(port) + "/out", &target, &error));
  RedisLogPublisher::Limits limits;
  limits.max_queued_messages = 64;
  const std::string counters = dir_ + "/logs-redis.json";
  constexpr int kLines = 20000;
  {
    RedisLogPublisher publisher(target, limits, counters);
    ASSERT_TRUE(publisher.Start(&error)) << error;
    CriLogWriter::SetTap(&publisher);
    CriLogWriter log;
    ASSERT_TRUE(log.Open(dir_ + "/c.log", &error)) << error;
    auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < kLines; ++i) log.Write(LogStream::kStdout, "line " + std::to_string(i) + "\n");
    EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
    EXPECT_GE(publisher.dropped(), static_cast<uint64_t>(kLines) - 64u - limits.max_batch);
    EXPECT_EQ(publisher.published(), 0u);
    // The counters file follows within about a second.
    uint64_t seen = 0;
    for (int i = 0; i < 300 && seen < publisher.dropped(); ++i) {
      std::this_thread::sleep_for(10ms);
      std::string text = ReadFile(counters);
      if (!text.empty()) seen = nlohmann::json::parse(text)["dropped"].get<uint64_t>();
    }
    EXPECT_GE(seen, static_cast<uint64_t>(kLines) - 64u - limits.max_batch);
    CriLogWriter::SetTap(nullptr);
  }
  // Everything is accounted for once the publisher is gone, and the CRI log got every line.
  nlohmann::json j = nlohmann::json::parse(ReadFile(counters));
  EXPECT_EQ(j["dropped"], kLines);
  EXPECT_EQ(j["published"], 0);
  EXPECT_EQ(j["connected"], false);
  EXPECT_EQ(CountLines(ReadFile(dir_ + "/c.log")), kLines);
}

}  // namespace
}  // namespace flint::shim
