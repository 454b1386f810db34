// Unit tests of the protocol building blocks: token cache, SPDY framing, WebSocket framing,
// remotecommand status/resize encoding.
#include <sys/socket.h>

#include <nlohmann/json.hpp>
#include <future>
#include <set>
#include <thread>

#include "cri/streaming/http.h"
#include "cri/streaming/remotecommand.h"
#include "cri/streaming/request_cache.h"
#include "cri/streaming/socket.h"
#include "cri/streaming/spdy_framer.h"
#include "cri/streaming/spdy_session.h"
#include "cri/streaming/websocket.h"
#include "cri/streaming/websocket_tunnel.h"
#include "gtest/gtest.h"

namespace flint::streaming {
namespace {

std::pair<std::unique_ptr<Socket>, std::unique_ptr<Socket>> SocketPair() {
  int fds[2];
  EXPECT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
  return {std::make_unique<Socket>(fds[0]), std::make_unique<Socket>(fds[1])};
}

runtime::v1::ExecRequest Exec(const std::string& id) {
  runtime::v1::ExecRequest r;
  r.set_container_id(id);
  return r;
}

TEST(HttpRequestTest, TargetIsDecodedAsAForm) {
  HttpHead head;
  head.start_line = "GET /exec/a%2Fb?command=echo+a%2Bb&command=50%&tty HTTP/1.1";
  auto req = ParseHttpRequest(head);
  ASSERT_TRUE(req.ok()) << req.status();
  EXPECT_EQ(req->method, "GET");
  EXPECT_EQ(req->path, "/exec/a/b");
  ASSERT_EQ(req->query.size(), 3u);
  EXPECT_EQ(req->query[0], (std::pair<std::string, std::string>{"command", "echo a+b"}));
  EXPECT_EQ(req->query[1], (std::pair<std::string, std::string>{"command", "50%"}));
  EXPECT_EQ(req->query[2], (std::pair<std::string, std::string>{"tty", ""}));
}

TEST(RequestCacheTest, TokensAreSingleUseAndUrlSafe) {
  RequestCache cache;
  std::set<std::string> tokens;
  for (int i = 0; i < 100; ++i) {
    auto t = cache.Insert(Exec("c" + std::to_string(i)));
    ASSERT_TRUE(t.ok());
    EXPECT_GE(t->size(), 8u);
    EXPECT_EQ(t->find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"), std::string::npos);
    tokens.insert(*t);
  }
  EXPECT_EQ(tokens.size(), 100u);
  auto t = cache.Insert(Exec("x"));
  ASSERT_TRUE(t.ok());
  auto got = cache.Consume(*t);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(std::get<runtime::v1::ExecRequest>(*got).container_id(), "x");
  EXPECT_FALSE(cache.Consume(*t).has_value());
  EXPECT_FALSE(cache.Consume("unknown").has_value());
}

TEST(RequestCacheTest, ExpiryAndCapacityFollowTheInjectedClock) {
  absl::Time now = absl::FromUnixSeconds(1000);
  RequestCache cache([&] { return now; }, absl::Minutes(1), 2);
  auto a = cache.Insert(Exec("a"));
  now += absl::Seconds(30);
  auto b = cache.Insert(Exec("b"));
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_TRUE(absl::IsResourceExhausted(cache.Insert(Exec("c")).status()));
  now += absl::Seconds(31);  // a is 61 s old, b 31 s
  EXPECT_FALSE(cache.Consume(*a).has_value());
  EXPECT_EQ(cache.size(), 1u);
  EXPECT_TRUE(cache.Insert(Exec("c")).ok());
  EXPECT_TRUE(cache.Consume(*b).has_value());
}

TEST(SpdyFramerTest, HeaderBlocksShareOneCompressionContext) {
  spdy::HeaderCompressor compressor;
  spdy::HeaderDecompressor decompressor;
  for (int i = 0; i < 5; ++i) {
    spdy::Headers in = {{"streamType", "stdout"}, {"Port", std::to_string(8000 + i)}, {"requestID", std::to_string(i)}};
    auto block = compressor.Compress(in);
    ASSERT_TRUE(block.ok());
    auto out = decompressor.Decompress(*block);
    ASSERT_TRUE(out.ok()) << out.status();
    spdy::Headers expected = {{"streamtype", "stdout"}, {"port", std::to_string(8000 + i)}, {"requestid", std::to_string(i)}};
    EXPECT_EQ(*out, expected);
    EXPECT_EQ(spdy::FindHeader(*out, "streamType"), "stdout");
  }
  // NUL-separated values become separate entries.
  auto block = compressor.Compress({{"x", std::string("a\0b", 3)}});
  auto out = decompressor.Decompress(*block);
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(*out, (spdy::Headers{{"x", "a"}, {"x", "b"}}));
  // A fresh decompressor cannot continue someone else's stream.
  spdy::HeaderDecompressor other;
  EXPECT_FALSE(other.Decompress(*compressor.Compress({{"a", "b"}})).ok());
}

TEST(SpdyFramerTest, FramesRoundTrip) {
  auto [a, b] = SocketPair();
  ASSERT_TRUE(a->WriteAll(spdy::EncodeData(5, spdy::kFlagFin, "payload")).ok());
  ASSERT_TRUE(a->WriteAll(spdy::EncodeWindowUpdate(5, 4096)).ok());
  ASSERT_TRUE(a->WriteAll(spdy::EncodeRstStream(7, spdy::kCancel)).ok());
  ASSERT_TRUE(a->WriteAll(spdy::EncodeSettings({{spdy::kSettingsInitialWindowSize, 1 << 20}})).ok());
  auto data = spdy::ReadFrame(*b);
  ASSERT_TRUE(data.ok());
  EXPECT_FALSE(data->control);
  EXPECT_EQ(data->stream_id, 5u);
  EXPECT_EQ(data->flags, spdy::kFlagFin);
  EXPECT_EQ(data->payload, "payload");
  auto wu = spdy::ReadFrame(*b);
  ASSERT_TRUE(wu.ok());
  EXPECT_TRUE(wu->control);
  EXPECT_EQ(wu->version, 3);
  EXPECT_EQ(wu->type, spdy::kWindowUpdate);
  EXPECT_EQ(spdy::ReadU32(wu->payload, 0), 5u);
  EXPECT_EQ(spdy::ReadU32(wu->payload, 4), 4096u);
  auto rst = spdy::ReadFrame(*b);
  ASSERT_TRUE(rst.ok());
  EXPECT_EQ(rst->type, spdy::kRstStream);
  EXPECT_EQ(spdy::ReadU32(rst->payload, 4), static_cast<uint32_t>(spdy::kCancel));
  auto settings = spdy::ReadFrame(*b);
  ASSERT_TRUE(settings.ok());
  EXPECT_EQ(settings->type, spdy::kSettings);
  EXPECT_EQ(spdy::ReadU32(settings->payload, 0), 1u);
  EXPECT_EQ(spdy::ReadU32(settings->payload, 4) & 0xffffff, spdy::kSettingsInitialWindowSize);
  EXPECT_EQ(spdy::ReadU32(settings->payload, 8), 1u << 20);
}

// Two SPDY sessions over a socket pair; the server side writes `total` bytes on the first stream
// the client opens and the client reads them all. Returns what the client read, or an error when
// the transfer does not finish within `timeout` (a flow-control stall).
absl::StatusOr<std::string> TransferOverSpdy(size_t total, spdy::SessionOptions client_opts,
                                             absl::Duration timeout = absl::Seconds(20)) {
  auto [a, b] = SocketPair();
  client_opts.server = false;
  auto server = std::make_unique<spdy::Session>(std::move(a), spdy::SessionOptions{});
  auto client = std::make_unique<spdy::Session>(std::move(b), client_opts);
  server->Start();
  client->Start();
  std::string payload(total, '\0');
  for (size_t i = 0; i < total; ++i) payload[i] = static_cast<char>('a' + (i * 7 + i / 4096) % 26);
  std::thread writer([&] {
    auto s = server->AcceptStream(absl::Now() + absl::Seconds(5));
    if (!s) return;
    (void)s->Write(payload);
    (void)s->Close();
  });
  auto stream = client->OpenStream({{"streamType", "stdout"}}, /*fin=*/true);
  if (!stream.ok()) {
    server.reset();
    writer.join();
    return stream.status();
  }
  auto read = std::async(std::launch::async, [s = *stream] { return s->ReadAll(1 << 30); });
  bool finished = read.wait_for(absl::ToChronoMilliseconds(timeout)) == std::future_status::ready;
  // Tearing the sessions down unblocks both sides if they stalled.
  client.reset();
  server.reset();
  writer.join();
  absl::StatusOr<std::string> got = read.get();
  if (!finished) return absl::DeadlineExceededError(absl::StrCat("transfer stalled after ", total, " bytes requested"));
  if (got.ok() && *got != payload) return absl::DataLossError(absl::StrCat("got ", got->size(), " bytes, content differs"));
  return got;
}

TEST(SpdySessionTest, TransfersWithDefaultReceiveWindow) {
  spdy::SessionOptions opts;
  opts.send_settings = true;
  auto got = TransferOverSpdy(8 << 20, opts);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->size(), 8u << 20);
}

// A client that grants a larger per-stream window than the 64 KiB SPDY/3.1 connection window must
// still keep the connection window replenished.
TEST(SpdySessionTest, TransfersWithLargeReceiveWindows) {
  for (uint32_t window : {128u << 10, 1u << 20, 4u << 20, 16u << 20}) {
    spdy::SessionOptions opts;
    opts.send_settings = true;
    opts.receive_window = window;
    auto got = TransferOverSpdy(24 << 20, opts);
    ASSERT_TRUE(got.ok()) << "receive window " << window << ": " << got.status();
    EXPECT_EQ(got->size(), 24u << 20);
  }
}

TEST(WebSocketTest, AcceptKeyMatchesRfc6455Example) {
  EXPECT_EQ(ws::AcceptKey("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

TEST(WebSocketTest, MaskedFramesOfAllLengthEncodingsRoundTrip) {
  auto [a, b] = SocketPair();
  const uint8_t mask[4] = {0x12, 0x34, 0x56, 0x78};
  for (size_t len : {0u, 125u, 126u, 65535u, 65536u, 300000u}) {
    std::string payload(len, '\0');
    for (size_t i = 0; i < len; ++i) payload[i] = static_cast<char>(i * 7);
    std::thread writer([&, len] { ASSERT_TRUE(a->WriteAll(ws::EncodeFrame(ws::kBinary, payload, len != 126, mask)).ok()); });
    auto f = ws::ReadFrame(*b, /*require_masked=*/true, 1 << 20);
    writer.join();
    ASSERT_TRUE(f.ok()) << f.status();
    EXPECT_EQ(f->fin, len != 126);
    EXPECT_EQ(f->opcode, ws::kBinary);
    EXPECT_TRUE(f->payload == payload) << len;
  }
  // Server frames must not be masked and vice versa.
  ASSERT_TRUE(a->WriteAll(ws::EncodeFrame(ws::kText, "x")).ok());
  EXPECT_FALSE(ws::ReadFrame(*b, true, 100).ok());
}

// The tunnel is a byte stream: message boundaries mean nothing, control frames in between are
// answered, and the peer's close frame is the end of the stream.
TEST(WebSocketTunnelTest, BytesFlowAcrossArbitraryMessageBoundaries) {
  auto [a, b] = SocketPair();
  Socket* client_raw = a.get();
  ws::TunnelSocket server(std::move(b), ws::TunnelSocket::Role::kServer);
  const uint8_t mask[4] = {9, 8, 7, 6};
  std::string wire = ws::EncodeFrame(ws::kBinary, "hel", true, mask) + ws::EncodeFrame(ws::kPing, "p", true, mask) +
                     ws::EncodeFrame(ws::kBinary, "lo wor", false, mask) +
                     ws::EncodeFrame(ws::kContinuation, "ld", true, mask) + ws::EncodeFrame(ws::kBinary, "", true, mask) +
                     ws::EncodeFrame(ws::kClose, ws::CloseFramePayload(1000, ""), true, mask);
  ASSERT_TRUE(client_raw->WriteAll(wire).ok());
  std::string got;
  char buf[4];
  for (;;) {
    auto n = server.ReadSome(buf, sizeof(buf));
    ASSERT_TRUE(n.ok()) << n.status();
    if (*n == 0) break;
    got.append(buf, *n);
  }
  EXPECT_EQ(got, "hello world");
  // A text message cannot carry SPDY.
  auto [c, d] = SocketPair();
  ws::TunnelSocket strict(std::move(d), ws::TunnelSocket::Role::kServer);
  ASSERT_TRUE(c->WriteAll(ws::EncodeFrame(ws::kText, "x", true, mask)).ok());
  EXPECT_TRUE(absl::IsInvalidArgument(strict.ReadSome(buf, sizeof(buf)).status()));
  // The server answered the ping and the close, and refuses to write after closing.
  auto pong = ws::ReadFrame(*client_raw, /*require_masked=*/false, 1024);
  ASSERT_TRUE(pong.ok());
  EXPECT_EQ(pong->opcode, ws::kPong);
  EXPECT_EQ(pong->payload, "p");
  auto close = ws::ReadFrame(*client_raw, false, 1024);
  ASSERT_TRUE(close.ok());
  EXPECT_EQ(close->opcode, ws::kClose);
  EXPECT_FALSE(server.WriteAll("late").ok());
}

TEST(WebSocketTunnelTest, WritesAreBinaryMessagesMaskedOnlyByClients) {
  auto [a, b] = SocketPair();
  ws::TunnelSocket client(std::move(a), ws::TunnelSocket::Role::kClient);
  ws::TunnelSocket server(std::move(b), ws::TunnelSocket::Role::kServer);
  ASSERT_TRUE(client.WriteAll("from client").ok());
  ASSERT_TRUE(server.WriteAll("from server").ok());
  char buf[64];
  auto n = server.ReadSome(buf, sizeof(buf));  // the server requires masked frames
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(std::string(buf, *n), "from client");
  n = client.ReadSome(buf, sizeof(buf));  // and the client unmasked ones
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(std::string(buf, *n), "from server");
  client.ShutdownWrite();  // normal close: the server sees EOF
  n = server.ReadSome(buf, sizeof(buf));
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(*n, 0u);
}

TEST(RemoteCommandTest, StatusMessages) {
  auto ok = nlohmann::json::parse(ExecResultMessage(4, 0));
  EXPECT_EQ(ok["status"], "Success");
  auto failed = nlohmann::json::parse(ExecResultMessage(4, 42));
  EXPECT_EQ(failed["status"], "Failure");
  EXPECT_EQ(failed["reason"], "NonZeroExitCode");
  EXPECT_EQ(failed["details"]["causes"][0]["reason"], "ExitCode");
  EXPECT_EQ(failed["details"]["causes"][0]["message"], "42");
  auto internal = nlohmann::json::parse(ExecResultMessage(4, absl::NotFoundError("no such container")));
  EXPECT_EQ(internal["reason"], "InternalError");
  EXPECT_EQ(internal["code"], 500);
  EXPECT_EQ(ExecResultMessage(2, 0), "");
  EXPECT_EQ(ExecResultMessage(2, absl::NotFoundError("gone")), "gone");
  EXPECT_EQ(AttachResultMessage(3, absl::OkStatus()), "");
}

TEST(RemoteCommandTest, NegotiationPrefersClientOrder) {
  EXPECT_EQ(NegotiateProtocol({"v5.channel.k8s.io", "v2.channel.k8s.io", "v4.channel.k8s.io"},
                              SpdyRemoteCommandProtocols()),
            "v2.channel.k8s.io");
  EXPECT_FALSE(NegotiateProtocol({"nope"}, SpdyRemoteCommandProtocols()).has_value());
}

TEST(RemoteCommandTest, TerminalSizeParserHandlesSplitAndConcatenatedObjects) {
  TerminalSizeParser p;
  EXPECT_TRUE(p.Feed(R"({"Width":80,)").empty());
  auto sizes = p.Feed(R"("Height":24}  {"Width":1,"Height":2}{"Width":"bad"}{"Height":5,"Width":6})");
  ASSERT_EQ(sizes.size(), 3u);
  EXPECT_EQ(sizes[0], (TerminalSize{80, 24}));
  EXPECT_EQ(sizes[1], (TerminalSize{1, 2}));
  EXPECT_EQ(sizes[2], (TerminalSize{6, 5}));
}

}  // namespace
}  // namespace flint::streaming
