#include "common/resp_connection.h"

#include <unistd.h>

#include <chrono>
#include <future>
#include <string>
#include <thread>

#include "common/testutil/loopback.h"
#include "common/testutil/redis_server.h"
#include "common/testutil/scripted_resp_server.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace flint {
namespace {

using ::flint::testutil::ListenOnLoopback;
using ::flint::testutil::RedisServer;
using ::flint::testutil::ScriptedRespServer;
using std::chrono::milliseconds;

TEST(RespConnectionTest, BulkRepliesAcrossManyReadsThenTheNextReply) {
  std::string payload(300000, '\0');
  for (size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<char>(i * 7 + (i >> 9));
  payload.replace(1000, 4, "\r\n$3");  // framing bytes inside the payload mean nothing
  ScriptedRespServer server({"$" + std::to_string(payload.size()) + "\r\n" + payload + "\r\n", "+OK\r\n"});
  ASSERT_GT(server.port(), 0);
  auto conn = RespConnection::Connect("127.0.0.1", server.port(), std::chrono::seconds(5));
  ASSERT_TRUE(conn.ok()) << conn.status();
  auto got = (*conn)->Command({"GET", "k"});
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->type, RespReply::Type::kBulk);
  EXPECT_TRUE(got->str == payload) << "payload differs (" << got->str.size() << " bytes)";
  auto next = (*conn)->Command({"PING"});
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_EQ(next->type, RespReply::Type::kSimple);
  EXPECT_EQ(next->str, "OK");
}

TEST(RespConnectionTest, BulkWithoutItsCrlfIsDataLoss) {
  ScriptedRespServer server({"$5\r\nhelloXX"});
  ASSERT_GT(server.port(), 0);
  auto conn = RespConnection::Connect("127.0.0.1", server.port(), std::chrono::seconds(5));
  ASSERT_TRUE(conn.ok()) << conn.status();
  auto got = (*conn)->Command({"GET", "k"});
  EXPECT_EQ(got.status().code(), absl::StatusCode::kDataLoss) << got.status();
}

TEST(RespConnectionTest, ServerClosingMidBulkIsUnavailable) {
  ScriptedRespServer server({"$100000\r\n" + std::string(5000, 'x')});
  ASSERT_GT(server.port(), 0);
  auto conn = RespConnection::Connect("127.0.0.1", server.port(), std::chrono::seconds(5));
  ASSERT_TRUE(conn.ok()) << conn.status();
  auto got = (*conn)->Command({"GET", "k"});
  EXPECT_EQ(got.status().code(), absl::StatusCode::kUnavailable) << got.status();
}

// A 512 KiB block at 5 KB/s would take 105 s; the reply deadline ends it.
std::string TricklingBlockReply() { return "$524288\r\n" + std::string(524288, 'b') + "\r\n"; }

TEST(RespConnectionTest, TricklingReplyFailsAtTheReplyDeadline) {
  auto server = std::make_unique<ScriptedRespServer>(std::vector<std::string>{TricklingBlockReply()}, 100,
                                                     std::chrono::milliseconds(20));
  ASSERT_GT(server->port(), 0);
  // Every piece comes well within the 5 s socket timeout; only the 1 s deadline can end the reply.
  auto conn = RespConnection::Connect("127.0.0.1", server->port(), std::chrono::seconds(5), std::chrono::seconds(1));
  ASSERT_TRUE(conn.ok()) << conn.status();
  const auto start = std::chrono::steady_clock::now();
  auto pending = std::async(std::launch::async, [&] { return (*conn)->Command({"GET", "k"}); });
  if (pending.wait_for(std::chrono::seconds(20)) != std::future_status::ready) {
    server.reset();  // closes the connection, so the command returns and the test can end
    FAIL() << "the command was still waiting after 20 s";
  }
  const auto elapsed = std::chrono::steady_clock::now() - start;
  auto got = pending.get();
  EXPECT_EQ(got.status().code(), absl::StatusCode::kDeadlineExceeded) << got.status();
  EXPECT_THAT(std::string(got.status().message()), ::testing::HasSubstr("of 524288 bytes"));
  EXPECT_GE(elapsed, std::chrono::milliseconds(900));
  EXPECT_LT(elapsed, std::chrono::seconds(10));
}

TEST(RespConnectionTest, SilentServerFailsAtTheSocketTimeout) {
  // A listener nobody serves: the kernel completes the handshake, no reply ever comes.
  int port = 0;
  const int listener = ListenOnLoopback(4, &port);
  ASSERT_GE(listener, 0);
  auto conn = RespConnection::Connect("127.0.0.1", port, std::chrono::milliseconds(500));
  ASSERT_TRUE(conn.ok()) << conn.status();
  auto got = (*conn)->Command({"GET", "k"});
  EXPECT_EQ(got.status().code(), absl::StatusCode::kDeadlineExceeded) << got.status();
  EXPECT_THAT(std::string(got.status().message()), ::testing::HasSubstr("nothing for 500 ms"));
  close(listener);
}

// A subscriber waits for the next message as long as it asks, however short the connection's
// per-wait timeout: a message 600 ms away arrives through a 200 ms io_timeout.
TEST(RespConnectionTest, ReadReplyWaitsAsLongAsItsCallerAsks) {
  auto redis = RedisServer::Start();
  ASSERT_TRUE(redis.ok()) << redis.status();
  auto sub = RespConnection::Connect("127.0.0.1", (*redis)->port(), milliseconds(200));
  ASSERT_TRUE(sub.ok()) << sub.status();
  ASSERT_TRUE((*sub)->Send(RespConnection::EncodeCommand({"SUBSCRIBE", "news"})).ok());
  auto ack = (*sub)->ReadReply(milliseconds(2000));
  ASSERT_TRUE(ack.ok()) << ack.status();
  ASSERT_EQ(ack->elements.size(), 3u);
  EXPECT_EQ(ack->elements[0].str, "subscribe");

  auto publisher = std::async(std::launch::async, [&] {
    std::this_thread::sleep_for(milliseconds(600));
    auto pub = RespConnection::Connect("127.0.0.1", (*redis)->port(), milliseconds(2000));
    if (!pub.ok()) return pub.status();
    auto sent = (*pub)->Command({"PUBLISH", "news", "hello"});
    return sent.ok() ? absl::OkStatus() : sent.status();
  });
  auto message = (*sub)->ReadReply(milliseconds(5000));
  ASSERT_TRUE(message.ok()) << message.status();
  ASSERT_EQ(message->type, RespReply::Type::kArray);
  ASSERT_EQ(message->elements.size(), 3u);
  EXPECT_EQ(message->elements[1].str, "news");
  EXPECT_EQ(message->elements[2].str, "hello");
  EXPECT_TRUE(publisher.get().ok());

  // And no longer: nothing more is published.
  const auto start = std::chrono::steady_clock::now();
  auto none = (*sub)->ReadReply(milliseconds(300));
  const auto waited = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(none.status().code(), absl::StatusCode::kDeadlineExceeded) << none.status();
  EXPECT_THAT(std::string(none.status().message()), ::testing::HasSubstr("reply not complete after 300 ms"));
  EXPECT_GE(waited, milliseconds(290));
  EXPECT_LT(waited, milliseconds(3000));
}

// Pipelined commands (the log sink's batches of PUBLISH): one Send, then one reply each, in order,
// with a server error as a reply rather than a failed read.
TEST(RespConnectionTest, PipelinedCommandsGetTheirRepliesInOrder) {
  auto redis = RedisServer::Start();
  ASSERT_TRUE(redis.ok()) << redis.status();
  auto conn = RespConnection::Connect("127.0.0.1", (*redis)->port(), milliseconds(2000));
  ASSERT_TRUE(conn.ok()) << conn.status();
  const std::string big(300000, 'x');
  std::string wire = RespConnection::EncodeCommand({"SET", "k", big});
  wire += RespConnection::EncodeCommand({"NOSUCHCOMMAND"});
  wire += RespConnection::EncodeCommand({"INCR", "n"});
  wire += RespConnection::EncodeCommand({"GET", "k"});
  wire += RespConnection::EncodeCommand({"GET", "missing"});
  ASSERT_TRUE((*conn)->Send(wire).ok());
  std::vector<RespReply> replies;
  for (int i = 0; i < 5; ++i) {
    auto reply = (*conn)->ReadReply(milliseconds(2000));
    ASSERT_TRUE(reply.ok()) << "reply " << i << ": " << reply.status();
    replies.push_back(*std::move(reply));
  }
  EXPECT_EQ(replies[0].type, RespReply::Type::kSimple);
  EXPECT_EQ(replies[0].str, "OK");
  EXPECT_EQ(replies[1].type, RespReply::Type::kError);
  EXPECT_THAT(replies[1].str, ::testing::HasSubstr("unknown command"));
  EXPECT_EQ(replies[2].type, RespReply::Type::kInteger);
  EXPECT_EQ(replies[2].integer, 1);
  EXPECT_EQ(replies[3].type, RespReply::Type::kBulk);
  EXPECT_TRUE(replies[3].str == big);
  EXPECT_EQ(replies[4].type, RespReply::Type::kNil);
}

TEST(RespConnectionTest, NothingListeningIsUnavailableNamingTheTarget) {
  const uint16_t port = testutil::PickFreeLoopbackPort();
  auto conn = RespConnection::Connect("127.0.0.1", port, milliseconds(500));
  ASSERT_FALSE(conn.ok());
  EXPECT_EQ(conn.status().code(), absl::StatusCode::kUnavailable) << conn.status();
  EXPECT_THAT(std::string(conn.status().message()), ::testing::HasSubstr("127.0.0.1:" + std::to_string(port)));
}

}  // namespace
}  // namespace flint
