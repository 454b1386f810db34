#include "cri/stats/metrics_registry.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <thread>
#include <vector>

#include "cri/stats/metrics_http_server.h"
#include "gtest/gtest.h"

namespace flint::stats {
namespace {

TEST(MetricsRegistryTest, RendersCountersGaugesAndHistograms) {
  MetricsRegistry registry;
  auto& rpcs = registry.AddCounter("flint_test_rpcs_total", "RPCs seen.\nSecond line \\ end.", {"method", "code"});
  rpcs.WithLabels({"Version", "OK"}).Increment();
  rpcs.WithLabels({"Version", "OK"}).Increment(2);
  rpcs.WithLabels({"Exec", "Unknown \"x\"\n"}).Increment();
  registry.AddGauge("flint_test_shims", "Shims.").WithLabels({}).Set(3);
  auto& latency = registry.AddHistogram("flint_test_seconds", "Latency.", {"method"}, {0.5, 0.1, 1});
  auto& h = latency.WithLabels({"Pull"});
  h.Observe(0.05);
  h.Observe(0.1);  // le is inclusive
  h.Observe(0.7);
  h.Observe(3);

  const std::string expected =
      "# HELP flint_test_rpcs_total RPCs seen.\\nSecond line \\\\ end.\n"
      "# TYPE flint_test_rpcs_total counter\n"
      "flint_test_rpcs_total{method=\"Exec\",code=\"Unknown \\\"x\\\"\\n\"} 1\n"
      "flint_test_rpcs_total{method=\"Version\",code=\"OK\"} 3\n"
      "# HELP flint_test_shims Shims.\n"
      "# TYPE flint_test_shims gauge\n"
      "flint_test_shims 3\n"
      "# HELP flint_test_seconds Latency.\n"
      "# TYPE flint_test_seconds histogram\n"
      "flint_test_seconds_bucket{method=\"Pull\",le=\"0.10000000000000001\"} 2\n"
      "flint_test_seconds_bucket{method=\"Pull\",le=\"0.5\"} 2\n"
      "flint_test_seconds_bucket{method=\"Pull\",le=\"1\"} 3\n"
      "flint_test_seconds_bucket{method=\"Pull\",le=\"+Inf\"} 4\n"
      "flint_test_seconds_sum{method=\"Pull\"} 3.8500000000000001\n"
      "flint_test_seconds_count{method=\"Pull\"} 4\n";
  EXPECT_EQ(registry.Render(), expected);
}

TEST(MetricsRegistryTest, HistogramTakesObservationsCountedElsewhere) {
  std::vector<double> bounds = DoublingBuckets(0.25, 3);
  EXPECT_EQ(bounds, (std::vector<double>{0.25, 0.5, 1}));
  Histogram h(bounds);
  h.Observe(0.3);
  h.AddObservations({1, 0, 2, 1, 99}, 4.5);  // the 5th entry has no bucket and is ignored
  Histogram::Snapshot snap = h.snapshot();
  EXPECT_EQ(snap.cumulative_counts, (std::vector<uint64_t>{1, 2, 4, 5}));
  EXPECT_EQ(snap.count, 5u);
  EXPECT_DOUBLE_EQ(snap.sum, 4.8);
}

TEST(MetricsRegistryTest, SameNameReturnsSameFamilyAndCountersIgnoreNegative) {
  MetricsRegistry registry;
  auto& a = registry.AddCounter("c_total", "c");
  auto& b = registry.AddCounter("c_total", "c");
  EXPECT_EQ(&a, &b);
  a.WithLabels({}).Increment(5);
  a.WithLabels({}).Increment(-1);
  EXPECT_EQ(b.WithLabels({}).value(), 5);
  registry.AddGauge("g", "g").WithLabels({}).Add(-2.5);
  EXPECT_NE(registry.Render().find("g -2.5\n"), std::string::npos);
}

TEST(MetricsRegistryTest, ConcurrentUpdates) {
  MetricsRegistry registry;
  auto& counter = registry.AddCounter("n_total", "n", {"t"});
  auto& hist = registry.AddHistogram("h", "h", {}, DefaultLatencyBuckets());
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10000; ++i) {
        counter.WithLabels({"x"}).Increment();
        hist.WithLabels({}).Observe(0.002);
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(counter.WithLabels({"x"}).value(), 40000);
  EXPECT_EQ(hist.WithLabels({}).snapshot().count, 40000u);
}

TEST(MetricsRegistryTest, FlintMetricsRegistersTheDaemonFamilies) {
  MetricsRegistry registry;
  FlintMetrics metrics(registry);
  metrics.rpc_duration_seconds.WithLabels({"RunPodSandbox", "OK"}).Observe(0.2);
  metrics.shims.WithLabels({}).Set(2);
  metrics.flist_cache_hits_total.WithLabels({}).Increment();
  std::string text = registry.Render();
  EXPECT_NE(text.find("flint_cri_rpc_duration_seconds_count{method=\"RunPodSandbox\",code=\"OK\"} 1\n"),
            std::string::npos);
  EXPECT_NE(text.find("flint_shims 2\n"), std::string::npos);
  EXPECT_NE(text.find("flint_flist_cache_hits_total 1\n"), std::string::npos);
  EXPECT_NE(text.find("# TYPE flint_flist_fetch_duration_seconds histogram\n"), std::string::npos);
}

std::string RawHttp(uint16_t port, const std::string& request) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  struct timeval tv = {5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return "<connect failed>";
  }
  ::send(fd, request.data(), request.size(), MSG_NOSIGNAL);
  std::string response;
  char buf[4096];
  ssize_t n;
  while ((n = ::recv(fd, buf, sizeof(buf), 0)) > 0) response.append(buf, static_cast<size_t>(n));
  ::close(fd);
  return response;
}

TEST(MetricsHttpServerTest, ServesMetricsOverHttp) {
  MetricsRegistry registry;
  registry.AddCounter("flint_up_total", "Up.").WithLabels({}).Increment(7);
  auto server = MetricsHttpServer::Start("127.0.0.1:0", [&registry] { return registry.Render(); });
  ASSERT_TRUE(server.ok()) << server.status();
  uint16_t port = (*server)->port();
  ASSERT_NE(port, 0);

  std::string ok = RawHttp(port, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(ok.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << ok;
  EXPECT_NE(ok.find("Content-Type: text/plain; version=0.0.4"), std::string::npos);
  EXPECT_NE(ok.find("\r\n\r\n# HELP flint_up_total Up.\n# TYPE flint_up_total counter\nflint_up_total 7\n"),
            std::string::npos) << ok;
  EXPECT_EQ(RawHttp(port, "GET /other HTTP/1.1\r\n\r\n").rfind("HTTP/1.1 404", 0), 0u);
  EXPECT_EQ(RawHttp(port, "POST /metrics HTTP/1.1\r\n\r\n").rfind("HTTP/1.1 405", 0), 0u);

  // And with a real HTTP client.
  std::string cmd = "curl -sf --max-time 5 http://127.0.0.1:" + std::to_string(port) + "/metrics";
  FILE* pipe = ::popen(cmd.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  std::string body;
  char buf[512];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), pipe)) > 0) body.append(buf, n);
  EXPECT_EQ(::pclose(pipe), 0);
  EXPECT_EQ(body, registry.Render());
}

TEST(MetricsHttpServerTest, RejectsBadAddress) {
  EXPECT_FALSE(MetricsHttpServer::Start("nonsense", [] { return std::string(); }).ok());
  EXPECT_FALSE(MetricsHttpServer::Start("127.0.0.1:99999", [] { return std::string(); }).ok());
}

}  // namespace
}  // namespace flint::stats
