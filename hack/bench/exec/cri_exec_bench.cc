// Exec benchmark against any CRI runtime.v1 server (flintd, containerd's CRI plugin), so both
// are measured with the same client: pulls IMAGE, runs a host-network pod with one `sleep`
// container, then times Exec round trips of `true` (CRI Exec + SPDY session to the returned
// URL + exit status) and the stdout throughput of one large exec. Cleans the pod up afterwards.
//   cri_exec_bench --socket PATH --image REF [--runs N] [--mb M] [--window BYTES] [--name LABEL]
// Prints: "<label> exec: runs=N p50=… ms p99=… ms" and "<label> stdout: M MiB in S s = X MiB/s".
#include <grpcpp/grpcpp.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "api.grpc.pb.h"
#include "cri/streaming/testing/clients.h"

namespace {

namespace v1 = runtime::v1;
namespace st = flint::streaming::testing;
using Clock = std::chrono::steady_clock;

std::unique_ptr<grpc::ClientContext> Deadline(int seconds) {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(seconds));
  return context;
}

int Fail(const std::string& what, const grpc::Status& status) {
  std::fprintf(stderr, "cri_exec_bench: %s: %s\n", what.c_str(), status.error_message().c_str());
  return 1;
}

struct Options {
  std::string socket, image, label = "runtime";
  int runs = 200;
  int mb = 200;
  uint32_t window = 64 * 1024;
};

class Bench {
 public:
  Bench(std::shared_ptr<grpc::Channel> channel, Options options)
      : runtime_(v1::RuntimeService::NewStub(channel)),
        images_(v1::ImageService::NewStub(channel)),
        options_(std::move(options)) {}
  ~Bench() { Cleanup(); }

  int Run() {
    v1::PullImageRequest pull;
    pull.mutable_image()->set_image(options_.image);
    v1::PullImageResponse pulled;
    if (auto s = images_->PullImage(Deadline(600).get(), pull, &pulled); !s.ok()) return Fail("PullImage", s);

    v1::PodSandboxConfig sandbox;
    const std::string name = absl::StrCat("exec-bench-", getpid());
    sandbox.mutable_metadata()->set_name(name);
    sandbox.mutable_metadata()->set_namespace_("bench");
    sandbox.mutable_metadata()->set_uid(name);
    sandbox.set_log_directory(absl::StrCat("/tmp/", name));
    // Host network (and so no hostname: the UTS namespace is the host's too): no CNI on either
    // side, only the streaming paths differ.
    sandbox.mutable_linux()->mutable_security_context()->mutable_namespace_options()->set_network(v1::NODE);
    v1::RunPodSandboxRequest run;
    *run.mutable_config() = sandbox;
    v1::RunPodSandboxResponse ran;
    if (auto s = runtime_->RunPodSandbox(Deadline(300).get(), run, &ran); !s.ok()) return Fail("RunPodSandbox", s);
    sandbox_id_ = ran.pod_sandbox_id();

    v1::CreateContainerRequest create;
    create.set_pod_sandbox_id(sandbox_id_);
    *create.mutable_sandbox_config() = sandbox;
    v1::ContainerConfig* config = create.mutable_config();
    config->mutable_metadata()->set_name("main");
    config->mutable_image()->set_image(pulled.image_ref());
    config->add_command("sleep");
    config->add_command("36000");
    config->set_log_path("main.log");
    v1::CreateContainerResponse created;
    if (auto s = runtime_->CreateContainer(Deadline(300).get(), create, &created); !s.ok()) {
      return Fail("CreateContainer", s);
    }
    container_id_ = created.container_id();
    v1::StartContainerRequest start;
    start.set_container_id(container_id_);
    v1::StartContainerResponse started;
    if (auto s = runtime_->StartContainer(Deadline(120).get(), start, &started); !s.ok()) {
      return Fail("StartContainer", s);
    }

    std::string error;
    for (int i = 0; i < 5; ++i) {  // warm-up
      if (!Exec({"true"}, nullptr, &error)) return Fail("warm-up exec", grpc::Status(grpc::StatusCode::UNKNOWN, error));
    }
    std::vector<double> ms;
    for (int i = 0; i < options_.runs; ++i) {
      auto t0 = Clock::now();
      if (!Exec({"true"}, nullptr, &error)) return Fail("exec true", grpc::Status(grpc::StatusCode::UNKNOWN, error));
      ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    }
    std::sort(ms.begin(), ms.end());
    auto pct = [&](double p) { return ms[std::min(ms.size() - 1, static_cast<size_t>(p * ms.size()))]; };
    std::printf("%s exec: runs=%d p50=%.2f ms p99=%.2f ms max=%.2f ms\n", options_.label.c_str(), options_.runs,
                pct(0.50), pct(0.99), ms.back());

    const size_t bytes = static_cast<size_t>(options_.mb) << 20;
    size_t got = 0;
    auto t0 = Clock::now();
    if (!Exec({"sh", "-c", absl::StrCat("head -c ", bytes, " /dev/zero")}, &got, &error)) {
      return Fail("exec head", grpc::Status(grpc::StatusCode::UNKNOWN, error));
    }
    double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    if (got != bytes) {
      std::fprintf(stderr, "cri_exec_bench: stdout lost bytes: %zu of %zu\n", got, bytes);
      return 1;
    }
    std::printf("%s stdout: %d MiB in %.2f s = %.1f MiB/s (client window %u)\n", options_.label.c_str(), options_.mb,
                seconds, options_.mb / seconds, options_.window);
    return 0;
  }

 private:
  // One exec: CRI Exec, SPDY session, stdout counted (not kept), error stream checked.
  bool Exec(const std::vector<std::string>& cmd, size_t* stdout_bytes, std::string* error) {
    v1::ExecRequest request;
    request.set_container_id(container_id_);
    for (const auto& c : cmd) request.add_cmd(c);
    request.set_stdout(true);
    v1::ExecResponse response;
    if (auto s = runtime_->Exec(Deadline(30).get(), request, &response); !s.ok()) {
      *error = "Exec: " + s.error_message();
      return false;
    }
    st::SpdyExecOptions opts;
    opts.receive_window = options_.window;
    auto session = st::StartSpdyExec(response.url(), opts);
    if (!session.ok()) {
      *error = std::string(session.status().message());
      return false;
    }
    std::vector<char> buf(1 << 16);
    size_t total = 0;
    for (;;) {
      auto n = (*session)->out->Read(buf.data(), buf.size());
      if (!n.ok() && n.status().message() == "stream reset by peer") break;  // see below
      if (!n.ok()) {
        *error = "stdout: " + std::string(n.status().message());
        return false;
      }
      if (*n == 0) break;
      total += *n;
    }
    // Go spdystream servers (containerd's) may reset streams when they close the connection;
    // spdystream clients read that as EOF, so do the same here. Lost bytes still show in the
    // byte count the caller checks.
    auto status = (*session)->error->ReadAll();
    if (!status.ok() && status.status().message() == "stream reset by peer") status = std::string();
    if (!status.ok()) {
      *error = "error stream: " + std::string(status.status().message());
      return false;
    }
    // v4: an empty error stream or a Success status both mean exit 0.
    if (!status->empty() && status->find("\"Success\"") == std::string::npos) {
      *error = "exec failed: " + *status;
      return false;
    }
    if (stdout_bytes != nullptr) *stdout_bytes = total;
    return true;
  }

  void Cleanup() {
    if (!container_id_.empty()) {
      v1::StopContainerRequest stop;
      stop.set_container_id(container_id_);
      stop.set_timeout(1);
      v1::StopContainerResponse stopped;
      (void)runtime_->StopContainer(Deadline(60).get(), stop, &stopped);
      v1::RemoveContainerRequest remove;
      remove.set_container_id(container_id_);
      v1::RemoveContainerResponse removed;
      (void)runtime_->RemoveContainer(Deadline(60).get(), remove, &removed);
    }
    if (!sandbox_id_.empty()) {
      v1::StopPodSandboxRequest stop;
      stop.set_pod_sandbox_id(sandbox_id_);
      v1::StopPodSandboxResponse stopped;
      (void)runtime_->StopPodSandbox(Deadline(60).get(), stop, &stopped);
      v1::RemovePodSandboxRequest remove;
      remove.set_pod_sandbox_id(sandbox_id_);
      v1::RemovePodSandboxResponse removed;
      (void)runtime_->RemovePodSandbox(Deadline(60).get(), remove, &removed);
    }
  }

  std::unique_ptr<v1::RuntimeService::Stub> runtime_;
  std::unique_ptr<v1::ImageService::Stub> images_;
  Options options_;
  std::string sandbox_id_, container_id_;
};

}  // namespace

int main(int argc, char** argv) {
  Options options;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i], value = argv[i + 1];
    if (flag == "--socket") {
      options.socket = value;
    } else if (flag == "--image") {
      options.image = value;
    } else if (flag == "--runs") {
      options.runs = std::atoi(value.c_str());
    } else if (flag == "--mb") {
      options.mb = std::atoi(value.c_str());
    } else if (flag == "--window") {
      options.window = static_cast<uint32_t>(std::strtoul(value.c_str(), nullptr, 10));
    } else if (flag == "--name") {
      options.label = value;
    } else {
      options.socket.clear();
      break;
    }
  }
  if (options.socket.empty() || options.image.empty() || argc % 2 == 0 || options.runs <= 0 || options.mb <= 0) {
    std::fprintf(stderr,
                 "usage: cri_exec_bench --socket PATH --image REF [--runs N] [--mb M] [--window BYTES] [--name LABEL]\n");
    return 2;
  }
  auto channel = grpc::CreateChannel("unix:" + options.socket, grpc::InsecureChannelCredentials());
  if (!channel->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(30))) {
    std::fprintf(stderr, "cri_exec_bench: cannot connect to %s\n", options.socket.c_str());
    return 1;
  }
  return Bench(channel, options).Run();
}
