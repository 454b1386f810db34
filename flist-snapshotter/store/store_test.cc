#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include "common/testutil/redis_server.h"
#include "common/testutil/scripted_resp_server.h"
#include "flist-snapshotter/block/blake2b.h"
#include "flist-snapshotter/block/block_codec.h"
#include "flist-snapshotter/flist/v1_reader.h"
#include "flist-snapshotter/store/block_store.h"
#include "flist-snapshotter/store/dir_store.h"
#include "flist-snapshotter/store/http_store.h"
#include "flist-snapshotter/store/resp_store.h"
#include "flist-snapshotter/store/routed_store.h"
#include "flist-snapshotter/store/store_policy.h"
#include "flist-snapshotter/store/store_url.h"
#include "flist-snapshotter/store/test_servers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace flint::flist {
namespace {

namespace fs = std::filesystem;
using ::flint::flist::testing::DelayProxy;
using ::flint::flist::testing::HttpFileServer;
using ::flint::testutil::RedisServer;
using ::flint::testutil::ScriptedRespServer;

class TempDir {
 public:
  TempDir() {
    std::string tmpl = fs::temp_directory_path().string() + "/flist-store-XXXXXX";
    path_ = mkdtemp(tmpl.data());
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// A binary id that includes NUL and CR/LF bytes, to exercise RESP framing.
std::string AwkwardId() { return std::string("\x00\r\n\xff\x10 abc\x00\x00\x01\x02\x03\x04\x05", 16); }

// Exercises the BlockStore contract on any writable store.
void CheckStoreContract(BlockStore& store) {
  auto block = EncodeBlock(BlockFormat::kV2, std::string(700000, 'q') + "tail");
  ASSERT_TRUE(block.ok());
  EXPECT_FALSE(*store.Exists(block->id));
  EXPECT_EQ(store.Get(block->id).status().code(), absl::StatusCode::kNotFound);
  ASSERT_TRUE(store.Put(block->id, block->data).ok());
  EXPECT_TRUE(*store.Exists(block->id));
  auto got = store.Get(block->id);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, block->data);
  // Putting the same block twice is fine (dedupe).
  ASSERT_TRUE(store.Put(block->id, block->data).ok());

  const std::string id = AwkwardId();
  const std::string data("\r\n$-1\r\n\x00 binary", 15);
  ASSERT_TRUE(store.Put(id, data).ok());
  EXPECT_EQ(*store.Get(id), data);
  ASSERT_TRUE(store.Put(id, "").ok());  // empty values round-trip too
  EXPECT_EQ(*store.Get(id), "");
}

TEST(StoreUrlTest, Parses) {
  auto u = ParseStoreUrl("zdb://user:secret@hub.grid.tf:9900/ns");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->scheme, "zdb");
  EXPECT_EQ(u->user, "user");
  EXPECT_EQ(u->password, "secret");
  EXPECT_EQ(u->host, "hub.grid.tf");
  EXPECT_EQ(u->port, 9900);
  EXPECT_EQ(u->path, "/ns");
  EXPECT_EQ(u->Redacted(), "zdb://user@hub.grid.tf:9900/ns");
  auto v6 = ParseStoreUrl("redis://[::1]:6379");
  ASSERT_TRUE(v6.ok());
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->port, 6379);
  EXPECT_FALSE(ParseStoreUrl("nohost").ok());
  EXPECT_FALSE(ParseStoreUrl("zdb://h:99999").ok());
  EXPECT_FALSE(ParseStoreUrl("zdb://h:x").ok());
  // Errors name the URL without its credentials (a v1 password with '/' ends the host early).
  absl::StatusOr<StoreUrl> bad = ParseStoreUrl("zdb://:pa/ss@h:9900");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(std::string(bad.status().message()).find("pa"), std::string::npos) << bad.status();
  bad = ParseStoreUrl("zdb://user:secret@h:x");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(std::string(bad.status().message()).find("secret"), std::string::npos) << bad.status();
  EXPECT_FALSE(OpenBlockStore("s3://bucket").ok());
  EXPECT_FALSE(OpenBlockStore("redis://h/notanumber").ok());
}

// curl ends a URL's host at '?' or '#': "http://127.0.0.1:8999?@hub.example" is a request to
// 127.0.0.1:8999, so a parser that read hub.example there would let a flist pass store policy.
TEST(StoreUrlTest, RejectsWhatClientsWouldReadAsAnotherHost) {
  for (const char* url : {"http://127.0.0.1:8999?@hub.example", "https://10.0.0.5:80#@hub.example/blocks",
                          "http://evil\\@hub.example/", "http://a@b@hub.example/", "http://hub example/",
                          "http://hub.example/blocks?x=1", "zdb://hub.example\n:9900"}) {
    EXPECT_FALSE(ParseStoreUrl(url).ok()) << url;
    EXPECT_FALSE(StoreAllowed(url, {"http://hub.example", "https://hub.example", "zdb://hub.example"})) << url;
    EXPECT_FALSE(OpenBlockStore(url).ok()) << url;
  }
  // A zdb password may hold what a host may not (the RESP client uses the host parsed here);
  // dir:// paths are paths.
  absl::StatusOr<StoreUrl> zdb = ParseStoreUrl("zdb://user:p#ss word?@hub.example:9900/ns");
  ASSERT_TRUE(zdb.ok()) << zdb.status();
  EXPECT_EQ(zdb->password, "p#ss word?");
  EXPECT_EQ(zdb->host, "hub.example");
  EXPECT_TRUE(OpenBlockStore("dir:///srv/blocks #1").ok());
}

TEST(RedactStoreUrlTest, StripsPasswords) {
  EXPECT_EQ(RedactStoreUrl("zdb://:pw@hub:9900/ns"), "zdb://hub:9900/ns");
  EXPECT_EQ(RedactStoreUrl("redis://u:pw@h:1"), "redis://u@h:1");
  EXPECT_EQ(RedactStoreUrl("redis://u@h:1"), "redis://u@h:1");
  EXPECT_EQ(RedactStoreUrl("dir:///tmp/x"), "dir:///tmp/x");
  EXPECT_EQ(RedactStoreUrl("http://hub.example/blocks"), "http://hub.example/blocks");
}

// An unparsable URL (a raw '/' or '@' in a password ends the host early) is hidden up to its
// last '@', whatever made it unparsable.
TEST(RedactStoreUrlTest, HidesUserinfoOfUnparsableUrls) {
  EXPECT_EQ(RedactStoreUrl("zdb://:pa/ss@w0rd@h:9900/ns"), "zdb://***@h:9900/ns");
  EXPECT_EQ(RedactStoreUrl("zdb://u:secret@h:x"), "zdb://***@h:x");
  EXPECT_EQ(RedactStoreUrl("u:secret@h:x"), "***@h:x");
  EXPECT_EQ(RedactStoreUrl("zdb://h:x"), "zdb://h:x");
}

// V1BackendUrl percent-encodes what it puts in the URL; ParseStoreUrl decodes user and password.
TEST(StoreUrlTest, DecodesPercentEncodedCredentials) {
  absl::StatusOr<StoreUrl> u = ParseStoreUrl("zdb://:p%2Fw@h:9900/ns");
  ASSERT_TRUE(u.ok()) << u.status();
  EXPECT_EQ(u->password, "p/w");
  u = ParseStoreUrl("redis://us%3Aer%40x:%41b@h:1");
  ASSERT_TRUE(u.ok()) << u.status();
  EXPECT_EQ(u->user, "us:er@x");
  EXPECT_EQ(u->password, "Ab");
  EXPECT_EQ(u->Redacted(), "redis://us%3Aer%40x@h:1");
  // A '%' not followed by two hex digits is kept (configs written before decoding).
  u = ParseStoreUrl("zdb://:50%@h:1");
  ASSERT_TRUE(u.ok()) << u.status();
  EXPECT_EQ(u->password, "50%");
  u = ParseStoreUrl("zdb://:%zz%4@h:1");
  ASSERT_TRUE(u.ok()) << u.status();
  EXPECT_EQ(u->password, "%zz%4");
}

TEST(StoreUrlTest, V1BackendUrlRoundTrips) {
  absl::StatusOr<std::string> url =
      V1BackendUrl(R"({"host":"hub.example","port":9901,"namespace":"n s/1","password":"a/b@c:d%e"})");
  ASSERT_TRUE(url.ok()) << url.status();
  absl::StatusOr<StoreUrl> u = ParseStoreUrl(*url);
  ASSERT_TRUE(u.ok()) << u.status();
  EXPECT_EQ(u->scheme, "zdb");
  EXPECT_EQ(u->user, "");
  EXPECT_EQ(u->password, "a/b@c:d%e");
  EXPECT_EQ(u->host, "hub.example");
  EXPECT_EQ(u->port, 9901);
  EXPECT_EQ(u->path, "/n%20s%2F1");
  EXPECT_EQ(u->Redacted(), "zdb://hub.example:9901/n%20s%2F1");
}

TEST(DirStoreTest, Contract) {
  TempDir dir;
  auto store = OpenBlockStore("dir://" + dir.path() + "/store");
  ASSERT_TRUE(store.ok());
  CheckStoreContract(**store);
}

TEST(DirStoreTest, LayoutTempFilesAndLegacyFlatNames) {
  TempDir dir;
  DirStore store(dir.path());
  const std::string id("\xab\xcd\x01", 3);
  ASSERT_TRUE(store.Put(id, "data").ok());
  EXPECT_TRUE(fs::exists(dir.path() + "/ab/abcd01"));
  // No temp files are left behind.
  for (const auto& e : fs::directory_iterator(dir.path() + "/ab")) {
    EXPECT_EQ(e.path().filename(), "abcd01");
  }
  // A crashed writer's temp file is not a block.
  const std::string other("\xab\x00\x02", 3);
  std::ofstream(dir.path() + "/ab/.tmp-1-0") << "partial";
  EXPECT_FALSE(*store.Exists(other));
  // Flat <root>/<hex> files (older layout) are found too.
  std::ofstream(dir.path() + "/ab0002") << "flat";
  EXPECT_TRUE(*store.Exists(other));
  EXPECT_EQ(*store.Get(other), "flat");
}

// A dir:// store may be named by a pulled flist: a FIFO at a block's path is refused, not waited on.
TEST(DirStoreTest, FifoAtABlocksPathIsDataLossNotAHang) {
  TempDir dir;
  DirStore store(dir.path());
  const std::string id("\xab\xcd\x02", 3);
  fs::create_directories(dir.path() + "/ab");
  ASSERT_EQ(mkfifo(store.PathFor(id).c_str(), 0600), 0);
  auto got = std::async(std::launch::async, [&] { return store.Get(id); });
  if (got.wait_for(std::chrono::seconds(10)) != std::future_status::ready) {
    ADD_FAILURE() << "Get blocked on the FIFO";
    close(open(store.PathFor(id).c_str(), O_WRONLY | O_NONBLOCK));  // lets the blocked open return
  }
  absl::StatusOr<std::string> data = got.get();
  EXPECT_EQ(data.status().code(), absl::StatusCode::kDataLoss) << data.status();
}

TEST(DirStoreTest, RootUnderAFileFails) {
  TempDir dir;
  std::ofstream(dir.path() + "/file") << "x";
  DirStore store(dir.path() + "/file/store");
  EXPECT_FALSE(store.Put("id", "x").ok());
  EXPECT_FALSE(store.Get("id").ok());
}

// A 512 KiB block at 5 KB/s would take 105 s; the reply deadline ends it.
std::string TricklingBlockReply() { return "$524288\r\n" + std::string(524288, 'b') + "\r\n"; }

TEST(RespStoreTest, TricklingStoreFailsOnceWithoutARetry) {
  ScriptedRespServer server({TricklingBlockReply()}, 100, std::chrono::milliseconds(20));
  ASSERT_GT(server.port(), 0);
  auto store = RespStore::Open("redis://127.0.0.1:" + std::to_string(server.port()), std::chrono::seconds(5), 1,
                               std::chrono::seconds(1));
  ASSERT_TRUE(store.ok()) << store.status();
  auto got = (*store)->Get(std::string(32, '\x01'));
  EXPECT_EQ(got.status().code(), absl::StatusCode::kDeadlineExceeded) << got.status();
  EXPECT_THAT(std::string(got.status().message()), ::testing::HasSubstr("redis://127.0.0.1:"));
  // A second attempt would only make the reader wait as long again.
  EXPECT_EQ(server.connections(), 1);
  EXPECT_EQ(server.commands(), 1);
}

TEST(RespStoreTest, ContractAgainstRealRedis) {
  auto started = RedisServer::Start();
  ASSERT_TRUE(started.ok()) << started.status();
  RedisServer& redis = **started;
  auto store = OpenBlockStore("redis://127.0.0.1:" + std::to_string(redis.port()));
  ASSERT_TRUE(store.ok()) << store.status();
  CheckStoreContract(**store);
}

TEST(RespStoreTest, ZdbSchemeDefaultNamespaceWorksOnRedis) {
  auto started = RedisServer::Start();
  ASSERT_TRUE(started.ok()) << started.status();
  RedisServer& redis = **started;
  auto zdb = OpenBlockStore("zdb://127.0.0.1:" + std::to_string(redis.port()) + "/default");
  ASSERT_TRUE(zdb.ok());
  ASSERT_TRUE((*zdb)->Put("k1", "v1").ok());
  EXPECT_EQ(*(*zdb)->Get("k1"), "v1");
  // A named namespace is sent as SELECT <ns>, which Redis rejects for non-numbers:
  // the error must surface, not be mistaken for "block missing".
  auto named = OpenBlockStore("zdb://127.0.0.1:" + std::to_string(redis.port()) + "/images");
  ASSERT_TRUE(named.ok());
  auto r = (*named)->Get("k1");
  EXPECT_FALSE(r.ok());
  EXPECT_FALSE(absl::IsNotFound(r.status()));
  EXPECT_NE(r.status().message().find("SELECT images"), std::string::npos) << r.status();
}

TEST(RespStoreTest, RedisDatabasesAreSeparate) {
  auto started = RedisServer::Start();
  ASSERT_TRUE(started.ok()) << started.status();
  RedisServer& redis = **started;
  const std::string base = "redis://127.0.0.1:" + std::to_string(redis.port());
  auto db0 = OpenBlockStore(base);
  auto db3 = OpenBlockStore(base + "/3");
  ASSERT_TRUE(db0.ok() && db3.ok());
  ASSERT_TRUE((*db3)->Put("k", "in three").ok());
  EXPECT_TRUE(*(*db3)->Exists("k"));
  EXPECT_FALSE(*(*db0)->Exists("k"));
}

TEST(RespStoreTest, Auth) {
  auto started = RedisServer::Start(0, "s3cret");
  ASSERT_TRUE(started.ok()) << started.status();
  RedisServer& redis = **started;
  const std::string port = std::to_string(redis.port());
  auto good = OpenBlockStore("redis://:s3cret@127.0.0.1:" + port);
  ASSERT_TRUE(good.ok());
  ASSERT_TRUE((*good)->Put("k", "v").ok());
  EXPECT_EQ(*(*good)->Get("k"), "v");
  EXPECT_EQ((*good)->Describe(), "redis://127.0.0.1:" + port);  // no password shown
  auto none = OpenBlockStore("redis://127.0.0.1:" + port);
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE((*none)->Get("k").ok());
  auto bad = OpenBlockStore("redis://:wrong@127.0.0.1:" + port);
  ASSERT_TRUE(bad.ok());
  EXPECT_FALSE((*bad)->Get("k").ok());
}

// A v1 backend password holding URL delimiters reaches AUTH as it was written in the flist.
TEST(RespStoreTest, AuthWithPercentEncodedPassword) {
  auto started = RedisServer::Start(0, "a/b@c:d%e");
  ASSERT_TRUE(started.ok()) << started.status();
  RedisServer& redis = **started;
  absl::StatusOr<std::string> url =
      V1BackendUrl(R"({"host":"127.0.0.1","password":"a/b@c:d%e","port":)" + std::to_string(redis.port()) + "}");
  ASSERT_TRUE(url.ok()) << url.status();
  auto store = OpenBlockStore(*url);
  ASSERT_TRUE(store.ok()) << store.status();
  ASSERT_TRUE((*store)->Put("k", "v").ok());
  EXPECT_EQ(*(*store)->Get("k"), "v");
}

TEST(RespStoreTest, ZdbNamespaceIsSentDecoded) {
  auto started = RedisServer::Start();
  ASSERT_TRUE(started.ok()) << started.status();
  RedisServer& redis = **started;
  absl::StatusOr<std::string> url =
      V1BackendUrl(R"({"host":"127.0.0.1","namespace":"my ns","port":)" + std::to_string(redis.port()) + "}");
  ASSERT_TRUE(url.ok()) << url.status();
  auto store = OpenBlockStore(*url);
  ASSERT_TRUE(store.ok()) << store.status();
  // Redis has no named namespaces: its refusal shows what was sent.
  auto r = (*store)->Get("k");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("SELECT my ns"), std::string::npos) << r.status();
}

TEST(RespStoreTest, ReconnectsAfterServerRestartAndFailsFastWhenDown) {
  int port = 0;
  {
    auto started = RedisServer::Start();
    ASSERT_TRUE(started.ok()) << started.status();
    RedisServer& redis = **started;
    port = redis.port();
    auto store = RespStore::Open("redis://127.0.0.1:" + std::to_string(port), std::chrono::seconds(2));
    ASSERT_TRUE(store.ok());
    ASSERT_TRUE((*store)->Put("k", "v").ok());
  }
  // Server gone: an error, quickly, not a hang.
  auto store = RespStore::Open("redis://127.0.0.1:" + std::to_string(port), std::chrono::seconds(2));
  ASSERT_TRUE(store.ok());
  auto start = std::chrono::steady_clock::now();
  EXPECT_FALSE((*store)->Get("k").ok());
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
}

// Runs `threads` concurrent GETs of distinct keys; returns the wall time.
std::chrono::milliseconds ConcurrentGets(BlockStore& store, int threads, int* good) {
  std::vector<std::thread> workers;
  std::atomic<int> ok{0};
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < threads; ++i) {
    workers.emplace_back([&, i] {
      auto got = store.Get("key-" + std::to_string(i));
      if (got.ok() && *got == "value-" + std::to_string(i)) ++ok;
    });
  }
  for (auto& w : workers) w.join();
  *good = ok;
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
}

TEST(RespStoreTest, ConcurrentGetsOverlapOnAPoolOfConnections) {
  auto started = RedisServer::Start();
  ASSERT_TRUE(started.ok()) << started.status();
  RedisServer& redis = **started;
  constexpr auto kDelay = std::chrono::milliseconds(250);
  DelayProxy proxy(redis.port(), kDelay);  // every reply arrives 250 ms late
  ASSERT_TRUE(proxy.ok());
  auto direct = OpenBlockStore("redis://127.0.0.1:" + std::to_string(redis.port()));
  ASSERT_TRUE(direct.ok());
  for (int i = 0; i < 8; ++i) {
    ASSERT_TRUE((*direct)->Put("key-" + std::to_string(i), "value-" + std::to_string(i)).ok());
  }

  // Default pool (4): four GETs take about one delay, not four.
  auto pooled = OpenBlockStore("redis://127.0.0.1:" + std::to_string(proxy.port()));
  ASSERT_TRUE(pooled.ok());
  int good = 0;
  auto took = ConcurrentGets(**pooled, 4, &good);
  EXPECT_EQ(good, 4);
  EXPECT_LT(took, 3 * kDelay) << "GETs were serialized";
  EXPECT_GE(proxy.connections(), 2);
  // The connections are kept and the pool is bounded by its default of 4.
  took = ConcurrentGets(**pooled, 4, &good);
  EXPECT_EQ(good, 4);
  EXPECT_LT(took, 3 * kDelay);
  EXPECT_LE(proxy.connections(), 4);
  const int before_small = proxy.connections();

  // The pool is bounded: 8 GETs on 2 connections take 4 rounds.
  auto small = RespStore::Open("redis://127.0.0.1:" + std::to_string(proxy.port()), std::chrono::seconds(10), 2);
  ASSERT_TRUE(small.ok());
  took = ConcurrentGets(**small, 8, &good);
  EXPECT_EQ(good, 8);
  EXPECT_LE(proxy.connections() - before_small, 2);
  EXPECT_GE(took, 4 * kDelay - std::chrono::milliseconds(20));
}

TEST(HttpStoreTest, GetsShardedAndFlatLayouts) {
  HttpFileServer server;
  ASSERT_TRUE(server.ok());
  auto block = EncodeBlock(BlockFormat::kV2, "served over http");
  ASSERT_TRUE(block.ok());
  const std::string hex = HexEncode(block->id);
  server.Set("/store/" + hex.substr(0, 2) + "/" + hex, block->data);
  auto store = OpenBlockStore(server.base_url() + "/store/");
  ASSERT_TRUE(store.ok());
  auto got = (*store)->Get(block->id);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, block->data);
  EXPECT_TRUE(*(*store)->Exists(block->id));

  const std::string flat_id("\x01\x02", 2);
  server.Set("/store/0102", "flat");
  EXPECT_EQ(*(*store)->Get(flat_id), "flat");

  EXPECT_EQ((*store)->Get(std::string("\x09", 1)).status().code(), absl::StatusCode::kNotFound);
  EXPECT_FALSE(*(*store)->Exists(std::string("\x09", 1)));
  EXPECT_EQ((*store)->Put("x", "y").code(), absl::StatusCode::kUnimplemented);
}

TEST(HttpStoreTest, StalledServerTimesOut) {
  HttpFileServer server;
  ASSERT_TRUE(server.ok());
  server.Set("/ab", "x");
  server.SetStallSeconds(10);
  HttpStoreOptions options;
  options.connect_timeout_seconds = 2;
  options.low_speed_bytes = 1;
  options.low_speed_seconds = 1;
  HttpStore store(server.base_url(), options);
  auto start = std::chrono::steady_clock::now();
  auto r = store.Get(std::string("\xab", 1));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDeadlineExceeded) << r.status();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(8));
}

TEST(HttpStoreTest, TricklingServerFailsAtTheTotalTimeout) {
  HttpFileServer server;
  ASSERT_TRUE(server.ok());
  server.Set("/ab", std::string(50000, 'x'));  // 100 bytes per 20 ms: 10 s
  server.SetTrickleMillis(20);
  HttpStoreOptions options;
  options.low_speed_bytes = 1;  // the trickle is fast enough for the low-speed check
  options.low_speed_seconds = 1;
  options.total_timeout_seconds = 1;
  HttpStore store(server.base_url(), options);
  auto start = std::chrono::steady_clock::now();
  auto r = store.Get(std::string("\xab", 1));
  const auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDeadlineExceeded) << r.status();
  EXPECT_GE(elapsed, std::chrono::milliseconds(900));
  EXPECT_LT(elapsed, std::chrono::seconds(6));
}

TEST(HttpStoreTest, ConnectionRefusedIsUnavailable) {
  HttpStore store("http://127.0.0.1:" + std::to_string(::flint::testutil::PickFreeLoopbackPort()));
  EXPECT_EQ(store.Get("ab").status().code(), absl::StatusCode::kUnavailable);
}

TEST(RoutedStoreTest, RoutesByFirstByteAndReplicates) {
  TempDir a, b, c;
  std::vector<Route> routes = {{0, 127, "dir://" + a.path()},
                               {128, 255, "dir://" + b.path()},
                               {128, 255, "dir://" + c.path()}};
  auto routed = RoutedStore::FromRoutes(routes);
  ASSERT_TRUE(routed.ok());
  const std::string low("\x10\x01", 2), high("\x90\x01", 2);
  ASSERT_TRUE((*routed)->Put(low, "low").ok());
  ASSERT_TRUE((*routed)->Put(high, "high").ok());
  EXPECT_TRUE(*DirStore(a.path()).Exists(low));
  EXPECT_FALSE(*DirStore(b.path()).Exists(low));
  EXPECT_TRUE(*DirStore(b.path()).Exists(high));
  EXPECT_TRUE(*DirStore(c.path()).Exists(high));  // replica
  // Reads fall through to the next replica.
  fs::remove_all(b.path() + "/90");
  EXPECT_EQ(*(*routed)->Get(high), "high");
  EXPECT_EQ(*(*routed)->Get(low), "low");
  EXPECT_EQ((*routed)->Get(std::string("\x20", 1)).status().code(), absl::StatusCode::kNotFound);
}

TEST(RoutedStoreTest, OpenStoreForFlistPrecedence) {
  TempDir a, b;
  FlistBuilder with_routes(FlistVersion::kV2);
  with_routes.AddRoute({0, 255, "dir://" + a.path()});
  Flist routed = std::move(with_routes).Finish();
  Flist bare = FlistBuilder(FlistVersion::kV1).Finish();

  auto s1 = OpenStoreForFlist(routed, "dir://" + b.path(), "");
  ASSERT_TRUE(s1.ok());
  EXPECT_EQ((*s1)->Describe(), "dir://" + b.path());
  auto s2 = OpenStoreForFlist(routed, "", "dir:///default");
  ASSERT_TRUE(s2.ok());
  EXPECT_EQ((*s2)->Describe(), "0-255=dir://" + a.path());
  auto s3 = OpenStoreForFlist(bare, "", "dir:///default");
  ASSERT_TRUE(s3.ok());
  EXPECT_EQ((*s3)->Describe(), "dir:///default");
  EXPECT_FALSE(OpenStoreForFlist(bare, "", "").ok());
}

}  // namespace
}  // namespace flint::flist
