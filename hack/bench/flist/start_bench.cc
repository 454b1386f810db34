// CRI driver for the flist time-to-start benchmark (hack/bench/flist/cri_bench.sh).
//   start_bench --socket PATH --image REF --log-dir DIR [--command SHELL_CMD] [--remove-image-first]
//               [--name POD] [--timeout SECONDS]
// One pod (host network): RunPodSandbox, then the timed part: PullImage, CreateContainer,
// StartContainer, and waiting (inotify) for the first complete line of the container's CRI log. The pod is
// stopped and removed afterwards (the image stays). --remove-image-first does RemoveImage before
// (a re-pull). Prints one line of key=value pairs:
//   pull_s=… create_s=… start_s=… first_output_s=… (all since PullImage was sent) line="…"
#include <poll.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include <grpcpp/grpcpp.h>

#include "api.grpc.pb.h"

namespace {

namespace v1 = runtime::v1;
using Clock = std::chrono::steady_clock;

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

std::unique_ptr<grpc::ClientContext> Deadline(int seconds) {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(seconds));
  return context;
}

struct Options {
  std::string socket, image, log_dir, name = "flist-bench";
  std::string command = "head -c 4194304 /data/large-3.bin | wc -c";
  bool remove_image_first = false;
  int timeout = 900;
};

int Usage() {
  std::fprintf(stderr,
               "usage: start_bench --socket PATH --image REF --log-dir DIR [--command CMD] [--remove-image-first]\n"
               "                   [--name POD] [--timeout SECONDS]\n");
  return 2;
}

// The message of the first complete line of a CRI log file ("<time> stdout F <msg>\n"), or nothing.
bool FirstLogLine(const std::string& path, std::string* message) {
  std::ifstream in(path);
  std::string line;
  if (!std::getline(in, line) || in.eof()) return false;  // no newline yet: the line is incomplete
  std::istringstream fields(line);
  std::string time, stream, tag;
  fields >> time >> stream >> tag;
  std::getline(fields, *message);
  if (!message->empty() && message->front() == ' ') message->erase(0, 1);
  return true;
}

// Waits for the first complete line of `log`, woken by inotify on its directory. Polling the file
// every millisecond instead took a third of a core on a 2-core VM, away from the container it times.
bool WaitForFirstLine(const std::string& dir, const std::string& log, Clock::time_point deadline,
                      std::string* line) {
  const int fd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
  const bool watching = fd >= 0 && inotify_add_watch(fd, dir.c_str(), IN_MODIFY | IN_CREATE | IN_CLOSE_WRITE) >= 0;
  bool found = false;
  // Checked after the watch exists, so a line written before it is not missed.
  while (!(found = FirstLogLine(log, line)) && Clock::now() < deadline) {
    if (!watching) {  // no inotify: poll
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
      continue;
    }
    pollfd ready{fd, POLLIN, 0};
    if (poll(&ready, 1, 100) > 0) {
      char events[4096];
      while (read(fd, events, sizeof(events)) > 0) {
      }
    }
  }
  if (fd >= 0) close(fd);
  return found;
}

class Driver {
 public:
  explicit Driver(Options options) : options_(std::move(options)) {
    auto channel = grpc::CreateChannel("unix:" + options_.socket, grpc::InsecureChannelCredentials());
    runtime_ = v1::RuntimeService::NewStub(channel);
    images_ = v1::ImageService::NewStub(channel);
  }

  int Run() {
    if (!WaitForRuntime()) return 1;
    if (options_.remove_image_first) {
      v1::RemoveImageRequest remove;
      remove.mutable_image()->set_image(options_.image);
      v1::RemoveImageResponse removed;
      grpc::Status s = images_->RemoveImage(Deadline(120).get(), remove, &removed);
      if (!s.ok()) return Fail("RemoveImage", s);
    }
    v1::PodSandboxConfig sandbox = SandboxConfig();
    ::mkdir(sandbox.log_directory().c_str(), 0755);
    v1::RunPodSandboxRequest run;
    *run.mutable_config() = sandbox;
    v1::RunPodSandboxResponse ran;
    auto sandbox_start = Clock::now();
    grpc::Status status = runtime_->RunPodSandbox(Deadline(120).get(), run, &ran);
    const double sandbox_s = Seconds(Clock::now() - sandbox_start);
    if (!status.ok()) return Fail("RunPodSandbox", status);
    pod_ = ran.pod_sandbox_id();
    int rc = TimedStart(sandbox);
    if (rc == 0) std::printf(" sandbox_s=%.3f\n", sandbox_s);
    RemovePod();
    return rc;
  }

 private:
  int Fail(const std::string& what, const grpc::Status& status) {
    std::fprintf(stderr, "start_bench: %s %s: %s\n", what.c_str(), options_.image.c_str(),
                 status.error_message().c_str());
    return 1;
  }

  bool WaitForRuntime() {
    auto deadline = Clock::now() + std::chrono::seconds(30);
    while (Clock::now() < deadline) {
      v1::VersionResponse response;
      if (runtime_->Version(Deadline(2).get(), v1::VersionRequest(), &response).ok()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    std::fprintf(stderr, "start_bench: no CRI runtime answers on %s\n", options_.socket.c_str());
    return false;
  }

  v1::PodSandboxConfig SandboxConfig() const {
    v1::PodSandboxConfig config;
    config.mutable_metadata()->set_name(options_.name);
    config.mutable_metadata()->set_namespace_("bench");
    config.mutable_metadata()->set_uid("uid-" + options_.name + "-" + std::to_string(getpid()));
    config.set_log_directory(options_.log_dir + "/" + options_.name + "-" + std::to_string(getpid()));
    config.mutable_linux()->mutable_security_context()->mutable_namespace_options()->set_network(v1::NODE);
    return config;
  }

  int TimedStart(const v1::PodSandboxConfig& sandbox) {
    auto t0 = Clock::now();
    v1::PullImageRequest pull;
    pull.mutable_image()->set_image(options_.image);
    v1::PullImageResponse pulled;
    grpc::Status status = images_->PullImage(Deadline(options_.timeout).get(), pull, &pulled);
    if (!status.ok()) return Fail("PullImage", status);
    auto t1 = Clock::now();

    v1::CreateContainerRequest create;
    create.set_pod_sandbox_id(pod_);
    v1::ContainerConfig* config = create.mutable_config();
    config->mutable_metadata()->set_name("first-output");
    config->mutable_image()->set_image(pulled.image_ref());
    config->mutable_image()->set_user_specified_image(options_.image);
    config->add_command("/bin/sh");
    config->add_args("-c");
    config->add_args(options_.command);
    config->set_log_path("first-output/0.log");
    *create.mutable_sandbox_config() = sandbox;
    v1::CreateContainerResponse created;
    status = runtime_->CreateContainer(Deadline(300).get(), create, &created);
    if (!status.ok()) return Fail("CreateContainer", status);
    auto t2 = Clock::now();

    v1::StartContainerRequest start;
    start.set_container_id(created.container_id());
    v1::StartContainerResponse started;
    status = runtime_->StartContainer(Deadline(300).get(), start, &started);
    if (!status.ok()) return Fail("StartContainer", status);
    auto t3 = Clock::now();

    const std::string log_dir = sandbox.log_directory() + "/first-output";
    const std::string log = log_dir + "/0.log";
    std::string line;
    if (!WaitForFirstLine(log_dir, log, t3 + std::chrono::seconds(options_.timeout), &line)) {
      std::fprintf(stderr, "start_bench: no output in %s after %d s\n", log.c_str(), options_.timeout);
      return 1;
    }
    auto t4 = Clock::now();
    std::printf("pull_s=%.3f create_s=%.3f start_s=%.3f first_output_s=%.3f line=\"%s\"", Seconds(t1 - t0),
                Seconds(t2 - t0), Seconds(t3 - t0), Seconds(t4 - t0), line.c_str());
    // CLOCK_MONOTONIC of the window, to line it up with a trace (perf record -k CLOCK_MONOTONIC)
    std::printf(" window_monotonic_s=%.6f-%.6f", Seconds(t0.time_since_epoch()), Seconds(t4.time_since_epoch()));
    return 0;
  }

  void RemovePod() {
    v1::StopPodSandboxRequest stop;
    stop.set_pod_sandbox_id(pod_);
    v1::StopPodSandboxResponse stopped;
    grpc::Status status = runtime_->StopPodSandbox(Deadline(120).get(), stop, &stopped);
    if (!status.ok()) Fail("StopPodSandbox", status);
    v1::RemovePodSandboxRequest remove;
    remove.set_pod_sandbox_id(pod_);
    v1::RemovePodSandboxResponse removed;
    status = runtime_->RemovePodSandbox(Deadline(120).get(), remove, &removed);
    if (!status.ok()) Fail("RemovePodSandbox", status);
  }

  Options options_;
  std::unique_ptr<v1::RuntimeService::Stub> runtime_;
  std::unique_ptr<v1::ImageService::Stub> images_;
  std::string pod_;
};

}  // namespace

int main(int argc, char** argv) {
  Options options;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--remove-image-first") {
      options.remove_image_first = true;
      continue;
    }
    if (i + 1 >= argc) return Usage();
    const char* value = argv[++i];
    if (arg == "--socket") options.socket = value;
    else if (arg == "--image") options.image = value;
    else if (arg == "--log-dir") options.log_dir = value;
    else if (arg == "--command") options.command = value;
    else if (arg == "--name") options.name = value;
    else if (arg == "--timeout") options.timeout = std::atoi(value);
    else return Usage();
  }
  if (options.socket.empty() || options.image.empty() || options.log_dir.empty()) return Usage();
  return Driver(std::move(options)).Run();
}
