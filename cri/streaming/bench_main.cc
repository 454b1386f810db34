// Throughput of the streaming server with the local-process runtime: bytes of `head -c N
// /dev/zero` pushed through stdout over SPDY (flow-controlled C++ client), WebSocket, and
// optionally the Go spdystream client (which ignores flow control).
//
//   streaming_bench [--mb 100] [--go-client /path/to/spdyexec]
#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/log.h"
#include "cri/streaming/server.h"
#include "cri/streaming/testing/clients.h"
#include "cri/streaming/testing/local_runtime.h"

using namespace flint::streaming;

namespace {

std::string ExecUrl(StreamingServer& server, size_t bytes) {
  runtime::v1::ExecRequest req;
  req.set_container_id("bench");
  req.add_cmd("/bin/sh");
  req.add_cmd("-c");
  req.add_cmd(absl::StrCat("head -c ", bytes, " /dev/zero"));
  req.set_stdout(true);
  auto url = server.GetExecUrl(req);
  if (!url.ok()) {
    fprintf(stderr, "GetExecUrl: %s\n", url.status().ToString().c_str());
    exit(1);
  }
  return *url;
}

void Report(const char* name, size_t bytes, size_t got, absl::Duration d) {
  double secs = absl::ToDoubleSeconds(d);
  printf("%-28s %8.1f MB in %6.2f s = %8.1f MB/s%s\n", name, bytes / 1e6, secs, bytes / 1e6 / secs,
         got == bytes ? "" : "  (SHORT READ!)");
}

size_t DrainSpdy(const std::string& url) {
  auto s = testing::StartSpdyExec(url, {});
  if (!s.ok()) return 0;
  size_t total = 0;
  char buf[65536];
  for (;;) {
    auto n = (*s)->out->Read(buf, sizeof(buf));
    if (!n.ok() || *n == 0) break;
    total += *n;
  }
  (void)(*s)->error->ReadAll();
  return total;
}

size_t DrainWs(const std::string& url) {
  auto c = testing::WsClient::Connect(url, {"v5.channel.k8s.io"});
  if (!c.ok()) return 0;
  size_t total = 0;
  for (;;) {
    auto m = (*c)->ReadMessage();
    if (!m.ok() || m->opcode == ws::kClose) break;
    if (!m->payload.empty() && m->payload[0] == 1) total += m->payload.size() - 1;
  }
  return total;
}

}  // namespace

int main(int argc, char** argv) {
  size_t mb = 100;
  std::string go_client;
  for (int i = 1; i < argc; ++i) {
    if (!strcmp(argv[i], "--mb") && i + 1 < argc) mb = strtoul(argv[++i], nullptr, 10);
    if (!strcmp(argv[i], "--go-client") && i + 1 < argc) go_client = argv[++i];
  }
  flint::log::SetLevel(flint::log::Level::kWarn);
  const size_t bytes = mb * 1'000'000;
  testing::LocalProcessRuntime runtime;
  auto server = StreamingServer::Start(&runtime);
  if (!server.ok()) {
    fprintf(stderr, "%s\n", server.status().ToString().c_str());
    return 1;
  }
  for (int round = 0; round < 2; ++round) {
    absl::Time t0 = absl::Now();
    size_t got = DrainSpdy(ExecUrl(**server, bytes));
    Report("spdy (64KiB windows)", bytes, got, absl::Now() - t0);
    t0 = absl::Now();
    got = DrainWs(ExecUrl(**server, bytes));
    Report("websocket v5", bytes, got, absl::Now() - t0);
    if (!go_client.empty()) {
      std::string cmd = absl::StrCat(go_client, " -hash '", ExecUrl(**server, bytes), "' > /dev/null");
      t0 = absl::Now();
      int rc = system(cmd.c_str());
      Report("spdy go spdystream client", bytes, rc == 0 ? bytes : 0, absl::Now() - t0);
    }
  }
  return 0;
}
