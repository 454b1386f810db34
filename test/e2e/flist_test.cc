// Flist images through flintd: PullImage downloads only the flist file from an http hub
// (busybox httpd on loopback), containers run on a lazily fetched FUSE mount with an overlay
// on top, blocks come from a dir:// store on first read.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "common/fs.h"
#include "test/e2e/pod_fixture.h"

namespace flint::e2e {
namespace {

using testing::HasSubstr;

// Regular files below dir, not counting dot files (the block cache keeps its
// shared size ledger in <cache>/.ledger).
size_t CountFiles(const std::string& dir) {
  size_t n = 0;
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(dir, ec);
       it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    if (it->is_regular_file() && it->path().filename().string()[0] != '.') ++n;
  }
  return n;
}

int Shell(const std::string& cmd) { return system(cmd.c_str()); }

class FlistE2E : public PodTestBase {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/flint-e2e-flist-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    work_ = tmpl;
    store_ = work_ + "/store";
    hub_ = work_ + "/hub";
    hub_store_ = work_ + "/hub-store";
    std::string rootfs = work_ + "/rootfs";
    ASSERT_TRUE(fs::MakeDirs(rootfs + "/bin").ok());
    ASSERT_TRUE(fs::MakeDirs(rootfs + "/etc").ok());
    ASSERT_TRUE(fs::MakeDirs(hub_ + "/flint").ok());
    ASSERT_TRUE(fs::MakeDirs(store_).ok());
    ASSERT_EQ(Shell("cp /bin/busybox " + rootfs + "/bin/busybox"), 0);
    for (const char* applet : {"sh", "echo", "cat", "ls", "md5sum", "sleep", "head", "wc", "id"}) {
      std::filesystem::create_symlink("busybox", rootfs + "/bin/" + applet);
    }
    ASSERT_TRUE(fs::WriteFileAtomic(rootfs + "/etc/passwd", "root:x:0:0:root:/root:/bin/sh\n").ok());
    // 8 MiB that no container reads: its 16 blocks must never be fetched.
    ASSERT_EQ(Shell("head -c 8388608 /dev/urandom > " + rootfs + "/untouched.bin"), 0);
    ASSERT_EQ(Shell("head -c 1500000 /dev/urandom > " + rootfs + "/data.bin"), 0);
    data_md5_ = Capture("md5sum " + rootfs + "/data.bin | cut -d' ' -f1");
    ASSERT_TRUE(fs::WriteFileAtomic(rootfs + "/.startup.toml",
                                    "[startup]\n[startup.entry]\nname = \"core.system\"\n"
                                    "[startup.entry.args]\nname = \"/bin/sh\"\n"
                                    "args = [\"-c\", \"echo hello from flist $GREETING in $(pwd); exec sleep 3600\"]\n"
                                    "dir = \"/etc\"\n[startup.entry.args.env]\nGREETING = \"toml-env\"\n"
                                    "PATH = \"/bin\"\n")
                    .ok());
    std::string pack = std::string(FLINT_BINARY_DIR) + "/flist-snapshotter/flist-tool pack " + rootfs + " " + hub_ +
                       "/flint/busybox.fl --store dir://" + store_ + " >" + work_ + "/pack.log 2>&1";
    ASSERT_EQ(Shell(pack), 0) << fs::ReadFile(work_ + "/pack.log").value_or("");
    total_blocks_ = CountFiles(store_);
    // A port the kernel just called free can be taken before httpd binds it (httpd then exits
    // with "Address already in use"): start it until one attempt serves this test's hub, which
    // a marker file tells apart from whatever else may listen there.
    ASSERT_TRUE(fs::WriteFileAtomic(hub_ + "/flint/hub-marker", work_).ok());
    for (int attempt = 0; attempt < 5 && httpd_ <= 0; ++attempt) {
      port_ = PickFreeLoopbackPort();
      ASSERT_GT(port_, 0);
      httpd_ = fork();
      if (httpd_ == 0) {
        execl("/bin/busybox", "busybox", "httpd", "-f", "-p", ("127.0.0.1:" + std::to_string(port_)).c_str(), "-h",
              hub_.c_str(), nullptr);
        _exit(127);
      }
      ASSERT_GT(httpd_, 0);
      bool listening = false;
      bool exited = false;
      for (int i = 0; i < 250 && !listening && !exited; ++i) {
        exited = waitpid(httpd_, nullptr, WNOHANG) == httpd_;  // could not bind
        listening = !exited && HttpGet(port_, "/flint/hub-marker").find(work_) != std::string::npos;
        if (!listening && !exited) std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
      if (!listening) {
        if (!exited) {
          kill(httpd_, SIGKILL);
          waitpid(httpd_, nullptr, 0);
        }
        httpd_ = -1;
      }
    }
    ASSERT_GT(httpd_, 0) << "busybox httpd did not start listening on loopback";
    hub_addr_ = "127.0.0.1:" + std::to_string(port_);
    PodTestBase::SetUp();
  }

  void TearDown() override {
    PodTestBase::TearDown();
    if (httpd_ > 0) {
      kill(httpd_, SIGTERM);
      waitpid(httpd_, nullptr, 0);
    }
    (void)fs::RemoveAll(work_);
  }

  static std::string Capture(const std::string& cmd) {
    FILE* pipe = popen(cmd.c_str(), "r");
    char buf[512] = {};
    size_t n = pipe ? fread(buf, 1, sizeof buf - 1, pipe) : 0;
    if (pipe) pclose(pipe);
    std::string out(buf, n);
    while (!out.empty() && out.back() == '\n') out.pop_back();
    return out;
  }

  // Flists that name no store get blocks from their hub's store (this hub: hub_store_), or else
  // from default_store, here an empty one.
  std::string ExtraYaml() const override {
    return "metrics_address: 127.0.0.1:" + std::to_string(metrics_port_) + "\nflist:\n  default_store: dir://" +
           work_ + "/empty-store\n  hub_stores:\n    \"" + hub_addr_ + "\": dir://" + hub_store_ + "\n";
  }

  // Runs `command` in a new pod on `image_id` and returns the log once it holds `until` (or after 10 s).
  std::string RunAndLog(const std::string& pod_name, const std::string& image_id, const std::string& command,
                        const std::string& until, std::string* pod) {
    v1::PodSandboxConfig sandbox = SandboxConfig(pod_name);
    *pod = RunSandbox(sandbox);
    std::string id = CreateContainer(*pod, ContainerConfig("app", image_id, {"/bin/sh", "-c", command}), sandbox);
    if (id.empty()) return "<CreateContainer failed>";
    StartContainer(id);
    std::string log;
    for (int i = 0; i < 100 && log.find(until) == std::string::npos; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      log = fs::ReadFile(ContainerStatus(id).log_path()).value_or("");
    }
    return log;
  }

  // Pulls busybox.fl and starts a container that sleeps in a new pod; the container's id, or empty.
  std::string StartSleeper(const std::string& pod_name, std::string* image, std::string* pod) {
    *image = PullImage(hub_addr_ + "/flint/busybox.fl");
    if (image->empty()) return "";
    v1::PodSandboxConfig sandbox = SandboxConfig(pod_name);
    *pod = RunSandbox(sandbox);
    std::string id = CreateContainer(*pod, ContainerConfig("app", *image, {"/bin/sh", "-c", "exec sleep 3600"}), sandbox);
    if (id.empty()) return "";
    StartContainer(id);
    return WaitForState(id, v1::CONTAINER_RUNNING) ? id : "";
  }

  // Where flintd mounts flist image `image_id`.
  std::string FlistMountpoint(const std::string& image_id) const {
    return flintd_->dir() + "/run/flists/" + image_id.substr(image_id.find(':') + 1) + "/mnt";
  }

  // True once `mountpoint` is no longer mounted and `server` has exited (within `seconds`).
  static bool WaitForUnmount(const std::string& mountpoint, pid_t server, int seconds) {
    for (int i = 0; i < seconds * 10; ++i) {
      if (fs::ReadFile("/proc/self/mountinfo").value_or("").find(" " + mountpoint + " ") == std::string::npos &&
          (server <= 0 || kill(server, 0) != 0)) {
        return true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return false;
  }

  // True once flintd's log holds `text` (within 10 s).
  bool WaitForLog(const std::string& text) const {
    for (int i = 0; i < 100; ++i) {
      if (flintd_->Log().find(text) != std::string::npos) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return false;
  }

  // The value of an unlabeled sample in flintd's /metrics, -1 when absent.
  double MetricValue(const std::string& name) const {
    const std::string text = HttpGet(metrics_port_, "/metrics");
    size_t at = text.find("\n" + name + " ");
    return at == std::string::npos ? -1 : std::stod(text.substr(at + name.size() + 2));
  }

  std::string work_, store_, hub_, hub_addr_, hub_store_, data_md5_;
  size_t total_blocks_ = 0;
  int metrics_port_ = PickFreeLoopbackPort();
  int port_ = 0;
  pid_t httpd_ = -1;
};

// Parent pid of a process directory's process, empty for a zombie or a gone process.
std::string ParentOf(const std::filesystem::path& proc) {
  std::ifstream stat(proc / "stat");
  std::string pid, comm, state, ppid;
  return stat >> pid >> comm >> state >> ppid && state != "Z" ? ppid : std::string();
}

// The pid of the keeper of the flist mount at `mountpoint`, -1 if none.
pid_t FlistKeeperOf(const std::string& mountpoint) {
  std::error_code ec;
  for (const auto& proc : std::filesystem::directory_iterator("/proc", ec)) {
    std::ifstream cmdline(proc.path() / "cmdline", std::ios::binary);
    std::vector<std::string> args;
    for (std::string arg; std::getline(cmdline, arg, '\0');) args.push_back(arg);
    if (args.size() >= 2 && args[1] == "--keep" && std::find(args.begin(), args.end(), mountpoint) != args.end() &&
        !ParentOf(proc.path()).empty()) {
      return std::stoi(proc.path().filename());
    }
  }
  return -1;
}

// The pid of the flist-mount serving `mountpoint`: the keeper's parent, until the keeper starts
// its own (a mount from flintd's spare names no mountpoint in its arguments); -1 if none.
pid_t FlistServerOf(const std::string& mountpoint) {
  const pid_t keeper_pid = FlistKeeperOf(mountpoint);
  if (keeper_pid <= 0) return -1;
  const std::string keeper = std::to_string(keeper_pid);
  std::error_code ec;
  for (const auto& task : std::filesystem::directory_iterator("/proc", ec)) {  // a server it started
    if (ParentOf(task.path()) == keeper) return std::stoi(task.path().filename());
  }
  const std::string server = ParentOf(std::filesystem::path("/proc") / keeper);
  return !server.empty() && server != "1" ? std::stoi(server) : -1;
}

TEST_F(FlistE2E, PullOnlyMetadataThenRunLazily) {
  std::string ref = hub_addr_ + "/flint/busybox.fl";
  // PullImage with the kubelet's :latest appended.
  v1::PullImageRequest pull;
  pull.mutable_image()->set_image(ref + ":latest");
  v1::PullImageResponse pulled;
  grpc::Status pull_status = flintd_->images().PullImage(Context(60).get(), pull, &pulled);
  ASSERT_TRUE(pull_status.ok()) << pull_status.error_message();
  const std::string image_id = pulled.image_ref();
  ASSERT_THAT(image_id, testing::StartsWith("sha256:"));
  std::string cache = flintd_->dir() + "/root/flist/cache";
  EXPECT_EQ(CountFiles(cache), 0u) << "PullImage fetched blocks";

  v1::ImageStatusRequest status_request;
  status_request.mutable_image()->set_image(ref + ":latest");
  v1::ImageStatusResponse status;
  ASSERT_TRUE(flintd_->images().ImageStatus(Context().get(), status_request, &status).ok());
  ASSERT_TRUE(status.has_image());
  EXPECT_EQ(status.image().id(), image_id);
  EXPECT_GT(status.image().size(), 9000000u) << "size is the content the flist describes";
  EXPECT_THAT(status.image().repo_tags(), testing::Contains(ref + ":latest"));
  v1::ListImagesResponse listed;
  ASSERT_TRUE(flintd_->images().ListImages(Context().get(), v1::ListImagesRequest(), &listed).ok());
  ASSERT_EQ(listed.images_size(), 1);

  // No command: the flist's /.startup.toml gives entrypoint, env and working dir.
  v1::PodSandboxConfig sandbox = SandboxConfig("flist-pod");
  std::string pod = RunSandbox(sandbox);
  v1::ContainerConfig config = ContainerConfig("app", image_id, {});
  config.mutable_image()->set_user_specified_image(ref + ":latest");
  std::string id = CreateContainer(pod, config, sandbox);
  ASSERT_FALSE(id.empty());
  StartContainer(id);
  ASSERT_TRUE(WaitForState(id, v1::CONTAINER_RUNNING)) << Describe(id);
  std::string log;
  for (int i = 0; i < 50 && log.find("hello from flist") == std::string::npos; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    log = fs::ReadFile(ContainerStatus(id).log_path()).value_or("");
  }
  EXPECT_THAT(log, HasSubstr("hello from flist toml-env in /etc"));
  v1::ContainerStatus container = ContainerStatus(id);
  EXPECT_EQ(container.image_id(), image_id);
  EXPECT_EQ(container.image().image(), ref + ":latest");

  // Only what was read was fetched: busybox and the startup file, not the 8 MiB file.
  size_t fetched = CountFiles(cache);
  EXPECT_GT(fetched, 0u);
  EXPECT_LE(fetched + 16, total_blocks_) << "fetched " << fetched << " of " << total_blocks_ << " blocks";
  // Reading a multi-block file gives its exact bytes.
  EXPECT_EQ(ExecSync(id, {"/bin/sh", "-c", "md5sum /data.bin | cut -d' ' -f1"}).stdout(), data_md5_ + "\n");
  // The image filesystem's usage counts the block cache.
  uint64_t cache_bytes = 0;
  for (const auto& e : std::filesystem::recursive_directory_iterator(cache)) {
    if (e.is_regular_file() && e.path().filename().string()[0] != '.') cache_bytes += e.file_size();
  }
  v1::ImageFsInfoResponse fs_info;
  ASSERT_TRUE(flintd_->images().ImageFsInfo(Context().get(), v1::ImageFsInfoRequest(), &fs_info).ok());
  ASSERT_EQ(fs_info.image_filesystems_size(), 1);
  EXPECT_GT(cache_bytes, 1500000u);
  EXPECT_GE(fs_info.image_filesystems(0).used_bytes().value(), cache_bytes);
  // flist-mount's cache counters reach flintd's /metrics (its stats file is rewritten every second).
  double misses = -1, fetches = -1;
  // Wait for a rewrite that counts every fetch: flist-mount starts fetching as it mounts, so a
  // rewrite can land while some are still in flight.
  for (int i = 0; i < 50 && (misses <= 0 || fetches < static_cast<double>(fetched)); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    misses = MetricValue("flint_flist_cache_misses_total");
    fetches = MetricValue("flint_flist_fetch_duration_seconds_count");
  }
  EXPECT_GT(misses, 0);
  EXPECT_GE(fetches, static_cast<double>(fetched)) << "every cached block came from a timed fetch";
  EXPECT_GE(MetricValue("flint_flist_cache_hits_total"), 0);
  // Writes land in the container's own layer over the read-only flist.
  EXPECT_EQ(ExecSync(id, {"/bin/sh", "-c", "echo local > /etc/new && rm /untouched.bin && cat /etc/new"}).stdout(),
            "local\n");
  EXPECT_LE(CountFiles(cache) + 16, total_blocks_) << "deleting a file must not fetch it";

  // With its last container gone the shared mount idles (flist.mount_idle_seconds): the image's
  // next pod reuses it, served by the same flist-mount.
  const std::string mountpoint = FlistMountpoint(image_id);
  const pid_t server = FlistServerOf(mountpoint);
  ASSERT_GT(server, 1);
  EXPECT_EQ(MetricValue("flint_flist_mounts{state=\"in_use\"}"), 1);
  EXPECT_EQ(MetricValue("flint_flist_mounts{state=\"idle\"}"), 0);
  grpc::Status removed = StopAndRemovePod(pod);
  ASSERT_TRUE(removed.ok()) << removed.error_message();
  EXPECT_THAT(fs::ReadFile("/proc/self/mountinfo").value_or(""), HasSubstr(" " + mountpoint + " "))
      << "the idle mount went with its last container";
  EXPECT_TRUE(WaitForLog("flist mount " + mountpoint + " is idle")) << flintd_->Log();
  EXPECT_EQ(MetricValue("flint_flist_mounts{state=\"in_use\"}"), 0);
  EXPECT_EQ(MetricValue("flint_flist_mounts{state=\"idle\"}"), 1);
  std::string next_pod;
  EXPECT_THAT(RunAndLog("flist-pod-2", image_id, "md5sum /data.bin | cut -d' ' -f1", data_md5_, &next_pod),
              HasSubstr(data_md5_));
  EXPECT_TRUE(WaitForLog("flist " + image_id + ": reusing its idle mount")) << flintd_->Log();
  EXPECT_EQ(FlistServerOf(mountpoint), server) << "the second pod got a new flist-mount";
  ASSERT_TRUE(StopAndRemovePod(next_pod).ok());

  // RemoveImage ends the idle mount and its flist-mount at once.
  v1::RemoveImageRequest remove_image;
  remove_image.mutable_image()->set_image(ref + ":latest");
  v1::RemoveImageResponse removed_image;
  ASSERT_TRUE(flintd_->images().RemoveImage(Context().get(), remove_image, &removed_image).ok());
  ASSERT_TRUE(flintd_->images().ImageStatus(Context().get(), status_request, &status).ok());
  EXPECT_FALSE(status.has_image());
  EXPECT_THAT(fs::ReadFile("/proc/self/mountinfo").value_or(""),
              testing::Not(HasSubstr(flintd_->dir() + "/run/flists/")))
      << "flist mount left behind by RemoveImage";
  EXPECT_EQ(MetricValue("flint_flist_mounts{state=\"idle\"}"), 0);
  EXPECT_TRUE(WaitForUnmount(mountpoint, server, 5)) << "flist-mount " << server << " outlived its mount";
}

// An OCI image flintd pulled, packed into an flist with flintctl (its layers stacked, whiteouts
// applied), served by the hub and run lazily like any flist.
TEST_F(FlistE2E, PackImageFromTheOciStoreThenRunIt) {
  std::string oci = PullImage(registry_ + "/flint/layers:latest");
  ASSERT_FALSE(oci.empty());
  const std::string flintctl = std::string(FLINT_BINARY_DIR) + "/flintctl/flintctl --config " +
                               flintd_->config_path() + " --socket " + flintd_->socket();
  const std::string out = hub_ + "/flint/layers.fl";
  ASSERT_EQ(Shell(flintctl + " flist pack-image " + registry_ + "/flint/layers:latest " + out + " --store dir://" +
                  store_ + " >" + work_ + "/pack-image.log 2>&1"),
            0)
      << fs::ReadFile(work_ + "/pack-image.log").value_or("");
  EXPECT_EQ(Capture(flintctl + " flist ls " + out + " /data | awk '{print $NF}' | sort | tr '\\n' ' '"), "b dir ")
      << "the whiteout of /data/a was not applied";
  EXPECT_EQ(Capture(flintctl + " flist ls " + out + " /opq | awk '{print $NF}' | tr '\\n' ' '"), "new ")
      << "the opaque /opq kept a lower file";
  EXPECT_EQ(Shell(flintctl + " flist pack-image " + registry_ + "/flint/nope:latest " + work_ +
                  "/nope.fl --store dir://" + store_ + " >/dev/null 2>&1"),
            256)
      << "an image flintd does not have is an error";

  v1::PullImageRequest request;
  request.mutable_image()->set_image(hub_addr_ + "/flint/layers.fl");
  v1::PullImageResponse response;
  grpc::Status pulled = flintd_->images().PullImage(Context(60).get(), request, &response);
  ASSERT_TRUE(pulled.ok()) << pulled.error_message();
  v1::PodSandboxConfig sandbox = SandboxConfig("packed");
  std::string pod = RunSandbox(sandbox);
  std::string id = CreateContainer(
      pod, ContainerConfig("app", response.image_ref(), {"/bin/sh", "-c", "cat /data/b /opq/new; exec sleep 3600"}),
      sandbox);
  ASSERT_FALSE(id.empty());
  StartContainer(id);
  ASSERT_TRUE(WaitForState(id, v1::CONTAINER_RUNNING)) << Describe(id);
  std::string log;
  for (int i = 0; i < 50 && log.find("opaque") == std::string::npos; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    log = fs::ReadFile(ContainerStatus(id).log_path()).value_or("");
  }
  EXPECT_THAT(log, HasSubstr("file b"));
  EXPECT_THAT(log, HasSubstr("new file in opaque opq"));
  EXPECT_EQ(ExecSync(id, {"/bin/sh", "-c", "stat -c %a /special/setuid"}).stdout(), "4755\n");
}

// An flist that names no store (packed with --no-route, like hub flists without backend metadata)
// reads its blocks from the store flint.yaml gives its hub (flist.hub_stores), by the host in the
// image's name: pulled under another host name, the same file reads from default_store.
TEST_F(FlistE2E, FlistWithoutRoutesReadsFromItsHubsStore) {
  const std::string pack = std::string(FLINT_BINARY_DIR) + "/flist-snapshotter/flist-tool pack " + work_ +
                           "/rootfs " + hub_ + "/flint/noroute.fl --store dir://" + hub_store_ + " --no-route >" +
                           work_ + "/pack-noroute.log 2>&1";
  ASSERT_EQ(Shell(pack), 0) << fs::ReadFile(work_ + "/pack-noroute.log").value_or("");
  const std::string command = "md5sum /data.bin | cut -d' ' -f1 || true; echo done; exec sleep 3600";

  // localhost:PORT is the same hub to the network, but not the host hub_stores names.
  const std::string other_name = "localhost:" + std::to_string(port_) + "/flint/noroute.fl";
  std::string other_image = PullImage(other_name);
  ASSERT_FALSE(other_image.empty());
  {
    // Nothing can be read from the empty default store: creating the container fails on the
    // first file it reads (the user database, to resolve the user).
    v1::PodSandboxConfig sandbox = SandboxConfig("noroute-default");
    std::string pod = RunSandbox(sandbox);
    v1::CreateContainerRequest create;
    create.set_pod_sandbox_id(pod);
    *create.mutable_config() = ContainerConfig("app", other_image, {"/bin/sh", "-c", command});
    *create.mutable_sandbox_config() = sandbox;
    v1::CreateContainerResponse created;
    grpc::Status status = flintd_->runtime().CreateContainer(Context(60).get(), create, &created);
    EXPECT_FALSE(status.ok());
    EXPECT_THAT(status.error_message(), HasSubstr("Input/output error"));
    ASSERT_TRUE(StopAndRemovePod(pod).ok());
  }
  v1::RemoveImageRequest remove;
  remove.mutable_image()->set_image(other_name);
  v1::RemoveImageResponse removed;
  ASSERT_TRUE(flintd_->images().RemoveImage(Context().get(), remove, &removed).ok());

  std::string image = PullImage(hub_addr_ + "/flint/noroute.fl");
  ASSERT_FALSE(image.empty());
  std::string pod;
  std::string log = RunAndLog("noroute-hub", image, command, data_md5_, &pod);
  EXPECT_THAT(log, HasSubstr(data_md5_));
  EXPECT_TRUE(StopAndRemovePod(pod).ok());
}

// The startup file's `name` is the image's entrypoint and its `args` the default arguments: CRI
// args alone replace the latter, as they replace an OCI image's Cmd.
TEST_F(FlistE2E, CriArgsReplaceTheStartupArgs) {
  const std::string image = PullImage(hub_addr_ + "/flint/busybox.fl");
  ASSERT_FALSE(image.empty());
  v1::PodSandboxConfig sandbox = SandboxConfig("flist-args");
  const std::string pod = RunSandbox(sandbox);
  v1::ContainerConfig config = ContainerConfig("app", image, {});
  config.add_args("-c");
  config.add_args("echo args-only $GREETING in $(pwd); exec sleep 3600");
  const std::string id = CreateContainer(pod, config, sandbox);
  ASSERT_FALSE(id.empty());
  StartContainer(id);
  std::string log;
  for (int i = 0; i < 100 && log.find("args-only") == std::string::npos; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    log = fs::ReadFile(ContainerStatus(id).log_path()).value_or("");
  }
  EXPECT_THAT(log, HasSubstr("args-only toml-env in /etc"));
  EXPECT_THAT(log, testing::Not(HasSubstr("hello from flist")));
  EXPECT_TRUE(StopAndRemovePod(pod).ok());
}

// flintd reads /.startup.toml on the host: a link in it resolves inside the flist, and a FIFO (or
// a device node) is refused instead of blocking CreateContainer.
TEST_F(FlistE2E, StartupFileCannotReachTheHostOrBlockFlintd) {
  const std::string host_toml = work_ + "/host-startup.toml";
  ASSERT_TRUE(fs::WriteFileAtomic(host_toml, "[startup.entry.args]\nname = \"/bin/echo\"\nargs = [\"LEAKED\"]\n").ok());
  for (const std::string kind : {"link", "fifo"}) {
    const std::string root = work_ + "/startup-" + kind;
    ASSERT_TRUE(fs::MakeDirs(root + "/bin").ok());
    ASSERT_EQ(Shell("cp /bin/busybox " + root + "/bin/busybox"), 0);
    if (kind == "link") {
      std::filesystem::create_symlink(host_toml, root + "/.startup.toml");
    } else {
      ASSERT_EQ(mkfifo((root + "/.startup.toml").c_str(), 0644), 0);
    }
    const std::string pack = std::string(FLINT_BINARY_DIR) + "/flist-snapshotter/flist-tool pack " + root + " " +
                             hub_ + "/flint/startup-" + kind + ".fl --store dir://" + store_ + " >" + work_ +
                             "/pack-" + kind + ".log 2>&1";
    ASSERT_EQ(Shell(pack), 0) << fs::ReadFile(work_ + "/pack-" + kind + ".log").value_or("");
    const std::string image = PullImage(hub_addr_ + "/flint/startup-" + kind + ".fl");
    ASSERT_FALSE(image.empty()) << kind;
    v1::PodSandboxConfig sandbox = SandboxConfig("startup-" + kind);
    const std::string pod = RunSandbox(sandbox);
    v1::CreateContainerRequest create;
    create.set_pod_sandbox_id(pod);
    *create.mutable_config() = ContainerConfig("app", image, {});
    *create.mutable_sandbox_config() = sandbox;
    v1::CreateContainerResponse created;
    grpc::Status status = flintd_->runtime().CreateContainer(Context(60).get(), create, &created);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << kind << ": " << status.error_message();
    // The link's target is looked up inside the flist, where it does not exist: no startup file,
    // so no command. The FIFO is not a file flintd reads.
    EXPECT_THAT(status.error_message(), HasSubstr(kind == "link" ? "no command" : "not a regular file")) << kind;
    EXPECT_TRUE(StopAndRemovePod(pod).ok());
  }
}

// Idle flist mounts kept for 3 s only.
class FlistShortIdleE2E : public FlistE2E {
 protected:
  std::string ExtraYaml() const override { return FlistE2E::ExtraYaml() + "  mount_idle_seconds: 3\n"; }
};

// A CreateContainer that fails after mounting the flist, before any container uses it, leaves an
// idle mount the kubelet's retry reuses, and nothing once its idle time is over.
TEST_F(FlistShortIdleE2E, FailedCreateLeavesNoMount) {
  const std::string root = work_ + "/bad-toml";
  ASSERT_TRUE(fs::MakeDirs(root + "/bin").ok());
  ASSERT_TRUE(fs::WriteFileAtomic(root + "/.startup.toml", "[startup\nthis is not toml\n").ok());
  ASSERT_TRUE(fs::WriteFileAtomic(root + "/bin/true", "#!/bin/sh\n").ok());
  const std::string pack = std::string(FLINT_BINARY_DIR) + "/flist-snapshotter/flist-tool pack " + root + " " +
                           hub_ + "/flint/bad-toml.fl --store dir://" + store_ + " >" + work_ + "/pack-bad.log 2>&1";
  ASSERT_EQ(Shell(pack), 0) << fs::ReadFile(work_ + "/pack-bad.log").value_or("");
  std::string image = PullImage(hub_addr_ + "/flint/bad-toml.fl");
  ASSERT_FALSE(image.empty());
  v1::PodSandboxConfig sandbox = SandboxConfig("bad-toml");
  std::string pod = RunSandbox(sandbox);
  for (int attempt = 0; attempt < 2; ++attempt) {  // the kubelet retries
    v1::CreateContainerRequest create;
    create.set_pod_sandbox_id(pod);
    *create.mutable_config() = ContainerConfig("app", image, {});
    *create.mutable_sandbox_config() = sandbox;
    v1::CreateContainerResponse created;
    grpc::Status status = flintd_->runtime().CreateContainer(Context(60).get(), create, &created);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << status.error_message();
    EXPECT_THAT(status.error_message(), HasSubstr("startup.toml"));
  }
  EXPECT_TRUE(WaitForLog("flist " + image + ": reusing its idle mount")) << flintd_->Log();
  const std::string mountpoint = FlistMountpoint(image);
  const pid_t server = FlistServerOf(mountpoint);
  EXPECT_GT(server, 1);
  EXPECT_TRUE(WaitForUnmount(mountpoint, server, 10)) << "flist mount left behind by a failed CreateContainer";
  EXPECT_TRUE(WaitForLog("flist mount " + mountpoint + " was idle for 3 s")) << flintd_->Log();
  EXPECT_TRUE(StopAndRemovePod(pod).ok());
}

// An idle mount outlives a flintd restart and still ends when its time is up; a mount in use
// does not.
TEST_F(FlistShortIdleE2E, IdleMountSurvivesARestartAndEndsOnTime) {
  std::string image, pod;
  const std::string id = StartSleeper("idle-restart", &image, &pod);
  ASSERT_FALSE(id.empty()) << "no running flist container";
  const std::string mountpoint = FlistMountpoint(image);
  std::this_thread::sleep_for(std::chrono::seconds(4));
  ASSERT_THAT(fs::ReadFile("/proc/self/mountinfo").value_or(""), HasSubstr(" " + mountpoint + " "))
      << "a mount in use was unmounted";
  const pid_t server = FlistServerOf(mountpoint);
  ASSERT_TRUE(StopAndRemovePod(pod).ok());
  const size_t log_before_restart = flintd_->Log().size();
  ASSERT_TRUE(flintd_->CrashAndRestart([] {}));
  EXPECT_TRUE(WaitForUnmount(mountpoint, server, 10)) << "the idle mount stayed after the restart";
  // (The restarted flintd may answer the harness only after the 3 s: its log tells the order.)
  const std::string log = flintd_->Log().substr(log_before_restart);
  const size_t idled = log.find("flist mount " + mountpoint + " is idle; it is unmounted in 3 s");
  const size_t expired = log.find("flist mount " + mountpoint + " was idle for 3 s");
  EXPECT_NE(idled, std::string::npos) << "the restarted flintd did not keep the idle mount: " << log;
  EXPECT_NE(expired, std::string::npos) << log;
  EXPECT_LT(idled, expired) << log;
  // The image is still there: its next pod mounts it again.
  std::string next;
  EXPECT_THAT(RunAndLog("idle-restart-2", image, "md5sum /data.bin | cut -d' ' -f1", data_md5_, &next),
              HasSubstr(data_md5_));
  EXPECT_TRUE(StopAndRemovePod(next).ok());
}

// flist.mount_idle_seconds: 0 keeps no idle mount: the mount and its flist-mount go with the last
// container.
class FlistNoIdleE2E : public FlistE2E {
 protected:
  std::string ExtraYaml() const override { return FlistE2E::ExtraYaml() + "  mount_idle_seconds: 0\n"; }
};

TEST_F(FlistNoIdleE2E, MountGoesWithItsLastContainer) {
  std::string image, pod;
  ASSERT_FALSE(StartSleeper("no-idle", &image, &pod).empty()) << "no running flist container";
  const std::string mountpoint = FlistMountpoint(image);
  const pid_t server = FlistServerOf(mountpoint);
  ASSERT_GT(server, 1);
  ASSERT_TRUE(StopAndRemovePod(pod).ok());
  EXPECT_THAT(fs::ReadFile("/proc/self/mountinfo").value_or(""), testing::Not(HasSubstr(" " + mountpoint + " ")))
      << "the mount outlived its last container";
  EXPECT_TRUE(WaitForUnmount(mountpoint, server, 5)) << "flist-mount outlived its mount";
  EXPECT_EQ(flintd_->Log().find("is idle"), std::string::npos) << flintd_->Log();
  EXPECT_EQ(MetricValue("flint_flist_mounts{state=\"idle\"}"), 0);
}

// flist.max_idle_mounts: with more mounts idle than that, the one idle longest is unmounted at
// once; the others keep their time.
class FlistOneIdleE2E : public FlistE2E {
 protected:
  std::string ExtraYaml() const override { return FlistE2E::ExtraYaml() + "  max_idle_mounts: 1\n"; }
};

TEST_F(FlistOneIdleE2E, MoreIdleMountsThanAllowedUnmountsTheOneIdleLongest) {
  std::string first_image, first_pod;
  ASSERT_FALSE(StartSleeper("idle-first", &first_image, &first_pod).empty()) << "no running flist container";
  ASSERT_EQ(Shell("cp -a " + work_ + "/rootfs " + work_ + "/second && echo second > " + work_ + "/second/which"), 0);
  const std::string pack = std::string(FLINT_BINARY_DIR) + "/flist-snapshotter/flist-tool pack " + work_ +
                           "/second " + hub_ + "/flint/second.fl --store dir://" + store_ + " >" + work_ +
                           "/pack-second.log 2>&1";
  ASSERT_EQ(Shell(pack), 0) << fs::ReadFile(work_ + "/pack-second.log").value_or("");
  const std::string second_image = PullImage(hub_addr_ + "/flint/second.fl");
  ASSERT_FALSE(second_image.empty());
  ASSERT_NE(second_image, first_image);
  std::string second_pod;
  EXPECT_THAT(RunAndLog("idle-second", second_image, "cat /which; exec sleep 3600", "second", &second_pod),
              HasSubstr("second"));
  const std::string first_mount = FlistMountpoint(first_image), second_mount = FlistMountpoint(second_image);
  const pid_t first_server = FlistServerOf(first_mount), second_server = FlistServerOf(second_mount);
  ASSERT_GT(first_server, 1);
  ASSERT_GT(second_server, 1);

  ASSERT_TRUE(StopAndRemovePod(first_pod).ok());  // one idle mount: within the limit
  EXPECT_TRUE(WaitForLog("flist mount " + first_mount + " is idle")) << flintd_->Log();
  EXPECT_THAT(fs::ReadFile("/proc/self/mountinfo").value_or(""), HasSubstr(" " + first_mount + " "));
  ASSERT_TRUE(StopAndRemovePod(second_pod).ok());  // two: the first goes at once
  EXPECT_TRUE(WaitForUnmount(first_mount, first_server, 10)) << "more idle mounts than flist.max_idle_mounts";
  EXPECT_TRUE(WaitForLog("flist mount " + first_mount + " was idle longest when more than 1 were idle"))
      << flintd_->Log();
  EXPECT_THAT(fs::ReadFile("/proc/self/mountinfo").value_or(""), HasSubstr(" " + second_mount + " "))
      << "the mount idle for the shortest time went too";
  EXPECT_EQ(FlistServerOf(second_mount), second_server);
  EXPECT_EQ(MetricValue("flint_flist_mounts{state=\"idle\"}"), 1);
}

// An idle mount whose flist-mount and keeper were killed is mounted again by the next pod.
TEST_F(FlistE2E, IdleMountWhoseServerDiedIsMountedAgain) {
  std::string image, pod;
  ASSERT_FALSE(StartSleeper("dead-idle", &image, &pod).empty()) << "no running flist container";
  const std::string mountpoint = FlistMountpoint(image);
  ASSERT_TRUE(StopAndRemovePod(pod).ok());
  const pid_t keeper = FlistKeeperOf(mountpoint), server = FlistServerOf(mountpoint);
  ASSERT_GT(keeper, 1);
  ASSERT_GT(server, 1);
  ASSERT_EQ(kill(keeper, SIGKILL), 0);
  ASSERT_EQ(kill(server, SIGKILL), 0);
  struct statfs st {};  // (stat could be answered from the kernel's attribute cache)
  for (int i = 0; i < 50 && (statfs(mountpoint.c_str(), &st) == 0 || errno != ENOTCONN); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_EQ(errno, ENOTCONN) << "the mount still serves with its server and keeper killed";
  std::string next;
  EXPECT_THAT(RunAndLog("dead-idle-2", image, "md5sum /data.bin | cut -d' ' -f1", data_md5_, &next),
              HasSubstr(data_md5_));
  EXPECT_TRUE(WaitForLog("flist " + image + ": mount " + mountpoint + " no longer serves; mounting it again"))
      << flintd_->Log();
  EXPECT_GT(FlistServerOf(mountpoint), 1);
  EXPECT_TRUE(StopAndRemovePod(next).ok());
}

// After a crash, flintd keeps the flist mounts its containers use and releases the ones none
// does (what a crash in CreateContainer, after mounting, leaves).
TEST_F(FlistE2E, RestartReleasesFlistMountsNoContainerUses) {
  std::string image, pod;
  const std::string id = StartSleeper("keep-mount", &image, &pod);
  ASSERT_FALSE(id.empty()) << "no running flist container";
  const std::string used = FlistMountpoint(image);
  ASSERT_THAT(fs::ReadFile("/proc/self/mountinfo").value_or(""), HasSubstr(" " + used + " "));

  const std::string orphan = flintd_->dir() + "/run/flists/0123abcd/mnt";
  ASSERT_TRUE(flintd_->CrashAndRestart([&] {
    ASSERT_TRUE(fs::MakeDirs(orphan, 0755).ok());
    const std::string mount = std::string(FLINT_BINARY_DIR) + "/flist-snapshotter/flist-mount " + hub_ +
                              "/flint/busybox.fl " + orphan + " --cache " + work_ + "/orphan-cache --store dir://" +
                              store_ + " >" + work_ + "/orphan-mount.log 2>&1";
    ASSERT_EQ(Shell(mount), 0) << fs::ReadFile(work_ + "/orphan-mount.log").value_or("");
    ASSERT_THAT(fs::ReadFile("/proc/self/mountinfo").value_or(""), HasSubstr(" " + orphan + " "));
  }));
  const std::string mounts = fs::ReadFile("/proc/self/mountinfo").value_or("");
  EXPECT_THAT(mounts, testing::Not(HasSubstr(" " + orphan + " "))) << "the mount no container uses is still there";
  EXPECT_THAT(mounts, HasSubstr(" " + used + " ")) << "the running container's mount was released";
  EXPECT_EQ(ExecSync(id, {"/bin/sh", "-c", "md5sum /data.bin | cut -d' ' -f1"}).stdout(), data_md5_ + "\n");
  EXPECT_TRUE(StopAndRemovePod(pod).ok());
}

// flist-mount dying under running containers (the OOM killer, a crash): its keeper starts another
// server on the same mount; the containers read on and new ones start on it.
TEST_F(FlistE2E, ContainersReadOnWhenTheFlistServerIsKilled) {
  std::string image, pod;
  const std::string id = StartSleeper("server-killed", &image, &pod);
  ASSERT_FALSE(id.empty()) << "no running flist container";
  const std::string mountpoint = FlistMountpoint(image);
  const pid_t server = FlistServerOf(mountpoint);
  ASSERT_GT(server, 1) << "no keeper holds " << mountpoint;
  ASSERT_EQ(kill(server, SIGKILL), 0);

  // data.bin was never read: its blocks come through the new server.
  EXPECT_EQ(ExecSync(id, {"/bin/sh", "-c", "md5sum /data.bin | cut -d' ' -f1"}).stdout(), data_md5_ + "\n");
  const pid_t next = FlistServerOf(mountpoint);
  EXPECT_GT(next, 1);
  EXPECT_NE(next, server);
  for (int i = 0; i < 50 && MetricValue("flint_flist_mount_takeovers_total") < 1; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(MetricValue("flint_flist_mount_takeovers_total"), 1);
  // The keeper's word reaches flintd's log (its own goes to a file flintd forwards).
  EXPECT_TRUE(WaitForLog("ended; starting another on the same connection (takeover 1)")) << flintd_->Log();
  std::string second;
  EXPECT_THAT(RunAndLog("after-kill", image, "id -u; cat /etc/passwd", "root:x:0:0", &second), HasSubstr("root:x:0:0"));
  EXPECT_TRUE(StopAndRemovePod(second).ok());
  EXPECT_TRUE(StopAndRemovePod(pod).ok());
}

// A block that cannot be fetched fails the reading process with EIO, and flintd's log says which
// image, file, block and store; the mount's log file goes with its mount.
TEST_F(FlistE2E, BlockFailuresReachFlintdsLog) {
  std::string image, pod;
  const std::string id = StartSleeper("block-failure", &image, &pod);
  ASSERT_FALSE(id.empty()) << "no running flist container";
  ASSERT_EQ(Shell("rm -rf " + store_ + "/*"), 0);  // the store loses every block nobody read yet
  v1::ExecSyncResponse read = ExecSync(id, {"/bin/sh", "-c", "cat /untouched.bin > /dev/null"});
  EXPECT_NE(read.exit_code(), 0);
  EXPECT_THAT(read.stderr(), HasSubstr("Input/output error"));
  const std::string hex = image.substr(image.find(':') + 1);
  const std::string tag = "flist-mount[" + hex.substr(0, 12) + "]: ";
  // The mount's own start-up line carries the same tag, so wait for the failure itself.
  ASSERT_TRUE(WaitForLog("flist read /untouched.bin")) << flintd_->Log();
  const std::string log = flintd_->Log();
  const size_t at = log.find("flist read /untouched.bin");  // (a prefetch's warning may come first)
  ASSERT_NE(at, std::string::npos) << log;
  const size_t line_start = log.rfind('\n', at) + 1;
  const std::string line = log.substr(line_start, log.find('\n', at) - line_start);
  EXPECT_THAT(line, HasSubstr(" error "));
  EXPECT_THAT(line, HasSubstr(tag));
  EXPECT_THAT(line, HasSubstr("/untouched.bin block 0"));
  EXPECT_THAT(line, HasSubstr("dir://" + store_));
  // ... and its metrics count the failed read and the failed fetches.
  for (int i = 0; i < 50 && MetricValue("flint_flist_read_errors_total") < 1; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_GE(MetricValue("flint_flist_read_errors_total"), 1);
  EXPECT_GE(MetricValue("flint_flist_fetch_errors_total"), 1);
  EXPECT_EQ(MetricValue("flint_flist_cache_write_errors_total"), 0);
  const std::string mount_log = flintd_->dir() + "/run/flists/" + hex + "/flist-mount.log";
  EXPECT_TRUE(std::filesystem::exists(mount_log));
  EXPECT_TRUE(StopAndRemovePod(pod).ok());
  EXPECT_TRUE(std::filesystem::exists(mount_log)) << "the idle mount lost its log file";
  v1::RemoveImageRequest remove_image;
  remove_image.mutable_image()->set_image(image);
  v1::RemoveImageResponse removed_image;
  ASSERT_TRUE(flintd_->images().RemoveImage(Context().get(), remove_image, &removed_image).ok());
  EXPECT_FALSE(std::filesystem::exists(mount_log)) << "the mount is gone, its log file stayed";
}

// What a mount logs while flintd is down reaches flintd's log once it is back, once, with the
// time it was written (each mount's log keeps a count of the bytes already forwarded).
TEST_F(FlistE2E, BlockFailuresWhileFlintdWasDownReachItsLogWhenItIsBack) {
  std::string image, pod;
  const std::string id = StartSleeper("down-failure", &image, &pod);
  ASSERT_FALSE(id.empty()) << "no running flist container";
  const std::string hex = image.substr(image.find(':') + 1);
  const std::string tag = "flist-mount[" + hex.substr(0, 12) + "]: ";
  ASSERT_EQ(Shell("rm -rf " + store_ + "/*"), 0);  // the store loses every block nobody read yet
  // A failure this flintd forwards ...
  EXPECT_NE(ExecSync(id, {"/bin/sh", "-c", "cat /data.bin > /dev/null"}).exit_code(), 0);
  ASSERT_TRUE(WaitForLog(tag + "flist_fs.cc")) << flintd_->Log();
  ASSERT_TRUE(WaitForLog("flist read /data.bin block 0")) << flintd_->Log();
  // ... and one while no flintd runs, through the image's shared mount as any container would.
  const std::string mountpoint = FlistMountpoint(image);
  ASSERT_TRUE(flintd_->CrashAndRestart(
      [&] { EXPECT_NE(Shell("cat " + mountpoint + "/untouched.bin > /dev/null 2>&1"), 0); }));
  ASSERT_TRUE(WaitForLog("before flintd started] flist_fs.cc")) << flintd_->Log();
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));  // two more polls: nothing twice
  const std::string log = flintd_->Log();
  const size_t at = log.find("flist read /untouched.bin block 0");
  ASSERT_NE(at, std::string::npos) << log;
  EXPECT_EQ(log.find("flist read /untouched.bin block 0", at + 1), std::string::npos) << "forwarded twice: " << log;
  const size_t line_start = log.rfind('\n', at) + 1;
  const std::string line = log.substr(line_start, log.find('\n', at) - line_start);
  EXPECT_THAT(line, HasSubstr(" error "));
  EXPECT_THAT(line, HasSubstr(tag + "["));
  EXPECT_THAT(line, HasSubstr("Z, before flintd started] flist_fs.cc:"));
  EXPECT_THAT(line, HasSubstr("dir://" + store_));
  const size_t before = log.find("flist read /data.bin block 0");
  ASSERT_NE(before, std::string::npos) << log;
  EXPECT_EQ(log.find("flist read /data.bin block 0", before + 1), std::string::npos)
      << "what the first flintd forwarded was forwarded again: " << log;
  EXPECT_TRUE(StopAndRemovePod(pod).ok());
}

TEST_F(FlistE2E, MissingFlistIsNotFoundAndCorruptFlistIsRejected) {
  v1::PullImageRequest request;
  request.mutable_image()->set_image(hub_addr_ + "/flint/nope.fl:latest");
  v1::PullImageResponse response;
  grpc::Status status = flintd_->images().PullImage(Context(60).get(), request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND) << status.error_message();
  ASSERT_TRUE(fs::WriteFileAtomic(hub_ + "/flint/garbage.fl", "this is not an flist").ok());
  request.mutable_image()->set_image(hub_addr_ + "/flint/garbage.fl");
  status = flintd_->images().PullImage(Context(60).get(), request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << status.error_message();
  v1::ListImagesResponse listed;
  ASSERT_TRUE(flintd_->images().ListImages(Context().get(), v1::ListImagesRequest(), &listed).ok());
  EXPECT_EQ(listed.images_size(), 0);
}

// flist.allowed_stores: a flist whose routes send the node to a store the operator did not allow is
// refused at PullImage; one routing to an allowed store runs.
class FlistStorePolicyE2E : public FlistE2E {
 protected:
  std::string ExtraYaml() const override {
    return FlistE2E::ExtraYaml() + "  allowed_stores: [\"dir://" + hub_store_ + "\"]\n";
  }
};

TEST_F(FlistStorePolicyE2E, RoutesToStoresNotAllowedAreRefusedAtPull) {
  v1::PullImageRequest request;
  request.mutable_image()->set_image(hub_addr_ + "/flint/busybox.fl");  // routes to dir://<store_>
  v1::PullImageResponse response;
  grpc::Status status = flintd_->images().PullImage(Context(60).get(), request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED) << status.error_message();
  EXPECT_THAT(status.error_message(), HasSubstr("dir://" + store_));
  EXPECT_THAT(status.error_message(), HasSubstr("flist.allowed_stores"));
  v1::ListImagesResponse listed;
  ASSERT_TRUE(flintd_->images().ListImages(Context().get(), v1::ListImagesRequest(), &listed).ok());
  for (const auto& image : listed.images()) {
    for (const auto& tag : image.repo_tags()) EXPECT_THAT(tag, testing::Not(HasSubstr("busybox.fl")));
  }

  const std::string pack = std::string(FLINT_BINARY_DIR) + "/flist-snapshotter/flist-tool pack " + work_ +
                           "/rootfs " + hub_ + "/flint/allowed.fl --store dir://" + hub_store_ + " >" + work_ +
                           "/pack-allowed.log 2>&1";
  ASSERT_EQ(Shell(pack), 0) << fs::ReadFile(work_ + "/pack-allowed.log").value_or("");
  std::string image = PullImage(hub_addr_ + "/flint/allowed.fl");
  ASSERT_FALSE(image.empty());
  std::string pod;
  EXPECT_THAT(RunAndLog("allowed-store", image, "md5sum /data.bin | cut -d' ' -f1; exec sleep 3600", data_md5_, &pod),
              HasSubstr(data_md5_));
  EXPECT_TRUE(StopAndRemovePod(pod).ok());
}

}  // namespace
}  // namespace flint::e2e
