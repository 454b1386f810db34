// Exec through flintd, end to end: CRI Exec (gRPC) -> URL -> SPDY session -> flint-shim
// exec_stream -> runc exec. Prints round-trip latency of `true` (p50/p99) and stdout
// throughput. Built and run by hack/bench/exec/run.sh (Release build, needs root).
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "cri/streaming/testing/clients.h"
#include "test/e2e/pod_fixture.h"

namespace flint::e2e {
namespace {

namespace st = ::flint::streaming::testing;
using Clock = std::chrono::steady_clock;

int EnvInt(const char* name, int fallback) {
  const char* v = getenv(name);
  return v != nullptr ? atoi(v) : fallback;
}

class ExecBench : public PodTestBase {};

TEST_F(ExecBench, LatencyAndThroughput) {
  const int runs = EnvInt("EXEC_BENCH_RUNS", 200);
  const int mb = EnvInt("EXEC_BENCH_MB", 200);
  std::string image = PullImage(registry_ + "/flint/busybox:latest");
  v1::PodSandboxConfig sandbox = SandboxConfig("exec-bench");
  std::string sandbox_id = RunSandbox(sandbox);
  std::string id = CreateContainer(sandbox_id, ContainerConfig("main", image, {"sleep", "36000"}), sandbox);
  StartContainer(id);
  ASSERT_TRUE(WaitForState(id, v1::CONTAINER_RUNNING));

  auto exec = [&](const std::vector<std::string>& cmd, st::ExecResult* result) {
    v1::ExecRequest request;
    request.set_container_id(id);
    for (const auto& c : cmd) request.add_cmd(c);
    request.set_stdout(true);
    v1::ExecResponse response;
    grpc::Status status = flintd_->runtime().Exec(Context().get(), request, &response);
    if (!status.ok()) return false;
    st::SpdyExecOptions opts;
    absl::StatusOr<st::ExecResult> r = st::RunSpdyExec(response.url(), opts);
    if (!r.ok()) return false;
    *result = std::move(*r);
    return true;
  };

  std::vector<double> ms;
  st::ExecResult r;
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(exec({"true"}, &r));  // warm-up
  for (int i = 0; i < runs; ++i) {
    auto start = Clock::now();
    ASSERT_TRUE(exec({"true"}, &r));
    ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - start).count());
  }
  std::sort(ms.begin(), ms.end());
  auto pct = [&](double p) { return ms[std::min(ms.size() - 1, static_cast<size_t>(p * ms.size()))]; };

  auto start = Clock::now();
  ASSERT_TRUE(exec({"sh", "-c", absl::StrCat("head -c ", static_cast<int64_t>(mb) << 20, " /dev/zero")}, &r));
  double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  ASSERT_EQ(r.stdout_data.size(), static_cast<size_t>(mb) << 20);

  printf("\nflintd exec (SPDY, runc): runs=%d  p50=%.2f ms  p99=%.2f ms  max=%.2f ms\n", runs, pct(0.50), pct(0.99),
         ms.back());
  printf("flintd exec stdout: %d MiB in %.2f s = %.1f MiB/s\n", mb, seconds, mb / seconds);
}

}  // namespace
}  // namespace flint::e2e
