// Pod lifecycle benchmark for any CRI runtime (flintd, containerd, ...), driven over its socket.
//
//   pods_bench --socket PATH --image REF --daemon-pid PID --shim-name NAME --shim-match STR --log-dir DIR
//              [--pods 50] [--concurrent 20] [--rss-pods 100] [--cgroup-parent /flint-bench-pods]
//
// Phases (all pods: host network, one busybox `sleep 3600` container):
//   1. pull the image, sample the daemon's idle VmRSS;
//   2. --pods pods one after another: RunPodSandbox / CreateContainer / StartContainer latencies;
//   3. --concurrent pods started at once from as many threads: wall time and per-pod latency;
//   4. more pods until --rss-pods run: daemon VmRSS and the average VmRSS of the shim processes;
//   5. every pod stopped and removed one after another: StopPodSandbox / RemovePodSandbox latencies.
// Prints "key value" lines on stdout (times in ms, memory in KiB); progress and errors on stderr.
// Removes every pod it created, even after a failure. Exit status 1 if any CRI call failed.
#include <dirent.h>
#include <grpcpp/grpcpp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <map>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "api.grpc.pb.h"

namespace {

namespace v1 = runtime::v1;
using Clock = std::chrono::steady_clock;

struct Options {
  std::string socket;
  std::string image;
  std::string shim_name;
  std::string shim_match;  // only shims whose command line contains this
  std::string log_dir;
  std::string cgroup_parent = "/flint-bench-pods";
  int daemon_pid = 0;
  int pods = 50;
  int concurrent = 20;
  int rss_pods = 100;
};

double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

// Nearest-rank percentile.
double Percentile(std::vector<double> values, double p) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  size_t rank = static_cast<size_t>(p / 100.0 * values.size() + 0.999999);
  rank = std::clamp<size_t>(rank, 1, values.size());
  return values[rank - 1];
}

long VmRssKib(int pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::atol(line.c_str() + 6);
  }
  return -1;
}

// Pids whose /proc/<pid>/comm is name (the kernel truncates comm to 15 chars) and whose command
// line contains match (so shims of other daemons on the host are not counted).
std::vector<int> PidsNamed(const std::string& name, const std::string& match) {
  std::vector<int> pids;
  std::string comm_name = name.substr(0, 15);
  DIR* proc = opendir("/proc");
  if (proc == nullptr) return pids;
  while (dirent* entry = readdir(proc)) {
    int pid = std::atoi(entry->d_name);
    if (pid <= 0) continue;
    std::ifstream comm(std::string("/proc/") + entry->d_name + "/comm");
    std::string value;
    if (!std::getline(comm, value) || value != comm_name) continue;
    std::ifstream cmdline_file(std::string("/proc/") + entry->d_name + "/cmdline");
    std::string cmdline((std::istreambuf_iterator<char>(cmdline_file)), std::istreambuf_iterator<char>());
    if (cmdline.find(match) != std::string::npos) pids.push_back(pid);
  }
  closedir(proc);
  return pids;
}

std::unique_ptr<grpc::ClientContext> Deadline(int seconds) {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(seconds));
  return context;
}

struct PodTimes {
  double run = 0, create = 0, start = 0;
  double Total() const { return run + create + start; }
};

class Bench {
 public:
  explicit Bench(Options options) : options_(std::move(options)) {
    grpc::ChannelArguments args;
    args.SetMaxReceiveMessageSize(16 * 1024 * 1024);
    auto channel = grpc::CreateCustomChannel("unix:" + options_.socket, grpc::InsecureChannelCredentials(), args);
    runtime_ = v1::RuntimeService::NewStub(channel);
    images_ = v1::ImageService::NewStub(channel);
  }

  int Run();

 private:
  bool Fail(const std::string& what, const grpc::Status& status) {
    std::fprintf(stderr, "pods_bench: %s: %s\n", what.c_str(), status.error_message().c_str());
    failed_ = true;
    return false;
  }
  void Emit(const std::string& key, double value) { std::printf("%s %.1f\n", key.c_str(), value); }
  void EmitPercentiles(const std::string& key, const std::vector<double>& values) {
    Emit(key + "_p50", Percentile(values, 50));
    Emit(key + "_p99", Percentile(values, 99));
  }

  bool Version();
  bool Pull();
  v1::PodSandboxConfig SandboxConfig(const std::string& name) const;
  bool StartPod(const std::string& name, PodTimes* times);
  void RemoveAllPods(std::vector<double>* stop_ms, std::vector<double>* remove_ms);
  void EmitRss(const std::string& prefix);

  Options options_;
  std::unique_ptr<v1::RuntimeService::Stub> runtime_;
  std::unique_ptr<v1::ImageService::Stub> images_;
  std::string image_ref_;
  std::mutex mu_;
  std::vector<std::string> sandboxes_;  // every sandbox created, in creation order
  std::atomic<bool> failed_{false};
  int next_pod_ = 0;
};

bool Bench::Version() {
  auto deadline = Clock::now() + std::chrono::seconds(30);
  grpc::Status status;
  while (Clock::now() < deadline) {
    v1::VersionResponse response;
    status = runtime_->Version(Deadline(2).get(), v1::VersionRequest(), &response);
    if (status.ok()) {
      std::fprintf(stderr, "pods_bench: %s %s (CRI %s) on %s\n", response.runtime_name().c_str(),
                   response.runtime_version().c_str(), response.runtime_api_version().c_str(),
                   options_.socket.c_str());
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return Fail("Version", status);
}

bool Bench::Pull() {
  v1::PullImageRequest request;
  request.mutable_image()->set_image(options_.image);
  v1::PullImageResponse response;
  grpc::Status status = images_->PullImage(Deadline(300).get(), request, &response);
  if (!status.ok()) return Fail("PullImage " + options_.image, status);
  image_ref_ = response.image_ref();
  return true;
}

v1::PodSandboxConfig Bench::SandboxConfig(const std::string& name) const {
  v1::PodSandboxConfig config;
  config.mutable_metadata()->set_name(name);
  config.mutable_metadata()->set_namespace_("bench");
  config.mutable_metadata()->set_uid("uid-" + name + "-" + std::to_string(getpid()));
  config.mutable_metadata()->set_attempt(0);
  // No hostname: with host network the kubelet leaves it empty (runc refuses it without a UTS ns).
  config.set_log_directory(options_.log_dir + "/" + name);
  (*config.mutable_labels())["app"] = "pods-bench";
  config.mutable_linux()->set_cgroup_parent(options_.cgroup_parent);
  config.mutable_linux()->mutable_security_context()->mutable_namespace_options()->set_network(v1::NODE);
  return config;
}

bool Bench::StartPod(const std::string& name, PodTimes* times) {
  v1::PodSandboxConfig sandbox = SandboxConfig(name);
  // The kubelet creates the pod log directory; the runtime only creates the files in it.
  ::mkdir(sandbox.log_directory().c_str(), 0755);

  v1::RunPodSandboxRequest run;
  *run.mutable_config() = sandbox;
  v1::RunPodSandboxResponse ran;
  auto t0 = Clock::now();
  grpc::Status status = runtime_->RunPodSandbox(Deadline(120).get(), run, &ran);
  auto t1 = Clock::now();
  if (!status.ok()) return Fail("RunPodSandbox " + name, status);
  {
    std::lock_guard<std::mutex> lock(mu_);
    sandboxes_.push_back(ran.pod_sandbox_id());
  }

  v1::CreateContainerRequest create;
  create.set_pod_sandbox_id(ran.pod_sandbox_id());
  v1::ContainerConfig* config = create.mutable_config();
  config->mutable_metadata()->set_name("sleep");
  config->mutable_image()->set_image(image_ref_);
  config->mutable_image()->set_user_specified_image(options_.image);
  config->add_command("sleep");
  config->add_args("3600");
  config->set_log_path("sleep/0.log");
  (*config->mutable_labels())["io.kubernetes.container.name"] = "sleep";
  *create.mutable_sandbox_config() = sandbox;
  v1::CreateContainerResponse created;
  status = runtime_->CreateContainer(Deadline(120).get(), create, &created);
  auto t2 = Clock::now();
  if (!status.ok()) return Fail("CreateContainer in " + name, status);

  v1::StartContainerRequest start;
  start.set_container_id(created.container_id());
  v1::StartContainerResponse started;
  status = runtime_->StartContainer(Deadline(120).get(), start, &started);
  auto t3 = Clock::now();
  if (!status.ok()) return Fail("StartContainer in " + name, status);

  *times = {Ms(t1 - t0), Ms(t2 - t1), Ms(t3 - t2)};
  return true;
}

void Bench::RemoveAllPods(std::vector<double>* stop_ms, std::vector<double>* remove_ms) {
  // Also whatever a failed RunPodSandbox may have left behind with our label.
  v1::ListPodSandboxRequest list;
  (*list.mutable_filter()->mutable_label_selector())["app"] = "pods-bench";
  v1::ListPodSandboxResponse listed;
  if (runtime_->ListPodSandbox(Deadline(30).get(), list, &listed).ok()) {
    for (const auto& pod : listed.items()) {
      if (std::find(sandboxes_.begin(), sandboxes_.end(), pod.id()) == sandboxes_.end())
        sandboxes_.push_back(pod.id());
    }
  }
  for (const std::string& id : sandboxes_) {
    v1::StopPodSandboxRequest stop;
    stop.set_pod_sandbox_id(id);
    v1::StopPodSandboxResponse stopped;
    auto t0 = Clock::now();
    grpc::Status status = runtime_->StopPodSandbox(Deadline(120).get(), stop, &stopped);
    auto t1 = Clock::now();
    if (!status.ok()) Fail("StopPodSandbox " + id, status);
    v1::RemovePodSandboxRequest remove;
    remove.set_pod_sandbox_id(id);
    v1::RemovePodSandboxResponse removed;
    status = runtime_->RemovePodSandbox(Deadline(120).get(), remove, &removed);
    auto t2 = Clock::now();
    if (!status.ok()) Fail("RemovePodSandbox " + id, status);
    stop_ms->push_back(Ms(t1 - t0));
    remove_ms->push_back(Ms(t2 - t1));
  }
  sandboxes_.clear();
}

void Bench::EmitRss(const std::string& prefix) {
  if (options_.daemon_pid > 0) Emit(prefix + "_daemon_rss_kib", VmRssKib(options_.daemon_pid));
  if (options_.shim_name.empty()) return;
  long total = 0;
  int count = 0;
  for (int pid : PidsNamed(options_.shim_name, options_.shim_match)) {
    long rss = VmRssKib(pid);
    if (rss < 0) continue;
    total += rss;
    ++count;
  }
  Emit(prefix + "_shim_count", count);
  Emit(prefix + "_shim_rss_avg_kib", count > 0 ? static_cast<double>(total) / count : 0);
  Emit(prefix + "_shim_rss_total_kib", total);
}

int Bench::Run() {
  if (!Version() || !Pull()) return 1;
  std::this_thread::sleep_for(std::chrono::seconds(1));
  EmitRss("idle");

  // Sequential pods.
  std::vector<double> run_ms, create_ms, start_ms, total_ms;
  for (int i = 0; i < options_.pods && !failed_; ++i) {
    PodTimes t;
    if (!StartPod("seq-" + std::to_string(next_pod_++), &t)) break;
    run_ms.push_back(t.run);
    create_ms.push_back(t.create);
    start_ms.push_back(t.start);
    total_ms.push_back(t.Total());
  }
  std::fprintf(stderr, "pods_bench: %zu sequential pods started\n", run_ms.size());
  Emit("seq_pods", run_ms.size());
  EmitPercentiles("seq_run", run_ms);
  EmitPercentiles("seq_create", create_ms);
  EmitPercentiles("seq_start", start_ms);
  EmitPercentiles("seq_total", total_ms);

  // Concurrent pods.
  if (!failed_ && options_.concurrent > 0) {
    std::vector<PodTimes> times(options_.concurrent);
    std::vector<char> ok(options_.concurrent, 0);
    std::vector<std::thread> threads;
    int base = next_pod_;
    next_pod_ += options_.concurrent;
    auto t0 = Clock::now();
    for (int i = 0; i < options_.concurrent; ++i) {
      threads.emplace_back([&, i] { ok[i] = StartPod("par-" + std::to_string(base + i), &times[i]); });
    }
    for (auto& t : threads) t.join();
    double wall = Ms(Clock::now() - t0);
    std::vector<double> par_total, par_run, par_create, par_start;
    for (int i = 0; i < options_.concurrent; ++i) {
      if (!ok[i]) continue;
      par_total.push_back(times[i].Total());
      par_run.push_back(times[i].run);
      par_create.push_back(times[i].create);
      par_start.push_back(times[i].start);
    }
    std::fprintf(stderr, "pods_bench: %zu concurrent pods started\n", par_total.size());
    Emit("par_pods", par_total.size());
    Emit("par_wall", wall);
    EmitPercentiles("par_total", par_total);
    EmitPercentiles("par_run", par_run);
    EmitPercentiles("par_create", par_create);
    EmitPercentiles("par_start", par_start);
  }

  // Fill up to --rss-pods running pods, then sample memory.
  while (!failed_ && static_cast<int>(sandboxes_.size()) < options_.rss_pods) {
    PodTimes t;
    StartPod("fill-" + std::to_string(next_pod_++), &t);
  }
  if (!failed_) {
    std::this_thread::sleep_for(std::chrono::seconds(2));
    Emit("loaded_pods", sandboxes_.size());
    EmitRss("loaded");
  }

  std::vector<double> stop_ms, remove_ms;
  RemoveAllPods(&stop_ms, &remove_ms);
  std::fprintf(stderr, "pods_bench: %zu pods stopped and removed\n", stop_ms.size());
  EmitPercentiles("stop", stop_ms);
  EmitPercentiles("remove", remove_ms);
  std::vector<double> teardown_ms;
  for (size_t i = 0; i < stop_ms.size(); ++i) teardown_ms.push_back(stop_ms[i] + remove_ms[i]);
  EmitPercentiles("teardown", teardown_ms);
  std::this_thread::sleep_for(std::chrono::seconds(1));
  EmitRss("after");
  return failed_ ? 1 : 0;
}

bool ParseArgs(int argc, char** argv, Options* options) {
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i], value = argv[i + 1];
    if (flag == "--socket") options->socket = value;
    else if (flag == "--image") options->image = value;
    else if (flag == "--shim-name") options->shim_name = value;
    else if (flag == "--shim-match") options->shim_match = value;
    else if (flag == "--log-dir") options->log_dir = value;
    else if (flag == "--cgroup-parent") options->cgroup_parent = value;
    else if (flag == "--daemon-pid") options->daemon_pid = std::atoi(value.c_str());
    else if (flag == "--pods") options->pods = std::atoi(value.c_str());
    else if (flag == "--concurrent") options->concurrent = std::atoi(value.c_str());
    else if (flag == "--rss-pods") options->rss_pods = std::atoi(value.c_str());
    else {
      std::fprintf(stderr, "pods_bench: unknown flag %s\n", flag.c_str());
      return false;
    }
  }
  if (argc % 2 == 0 || options->socket.empty() || options->image.empty() || options->log_dir.empty()) {
    std::fprintf(stderr,
                 "usage: pods_bench --socket PATH --image REF --log-dir DIR [--daemon-pid PID] [--shim-name NAME]\n"
                 "                  [--shim-match CMDLINE-SUBSTRING]\n"
                 "                  [--pods 50] [--concurrent 20] [--rss-pods 100] [--cgroup-parent PATH]\n");
    return false;
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  if (!ParseArgs(argc, argv, &options)) return 2;
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  return Bench(options).Run();
}
