// Runs real containers (busybox bundle) through flint-shim with runc and crun.
// Needs root.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <thread>

#include "common/sealed_exec_copy.h"
#include "shim/client/shim_client.h"
#include "shim/client/shim_stream_client.h"
#include "shim/test_bundle.h"

namespace flint::shim {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;

struct LogRecord {
  std::string stream, tag, content;
};

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<LogRecord> ParseCriLog(const std::string& path) {
  std::string data = ReadFile(path);
  std::vector<LogRecord> out;
  size_t pos = 0;
  while (pos < data.size()) {
    size_t end = data.find('\n', pos);
    if (end == std::string::npos) end = data.size();
    std::string line = data.substr(pos, end - pos);
    pos = end + 1;
    size_t a = line.find(' '), b = line.find(' ', a + 1), c = line.find(' ', b + 1);
    if (c == std::string::npos) {
      ADD_FAILURE() << "malformed record: " << line;
      continue;
    }
    EXPECT_EQ(line[a - 1], 'Z') << line.substr(0, a);
    out.push_back({line.substr(a + 1, b - a - 1), line.substr(b + 1, c - b - 1), line.substr(c + 1)});
  }
  return out;
}

bool WaitFor(const std::function<bool()>& condition, milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(milliseconds(20));
  }
  return condition();
}

// A zombie counts as gone: its reaper (here pid 1 of the host) may be slow.
bool ProcessAlive(int pid) {
  if (pid <= 0 || kill(pid, 0) != 0) return false;
  std::string stat = ReadFile("/proc/" + std::to_string(pid) + "/stat");
  size_t paren = stat.rfind(')');
  return paren == std::string::npos || paren + 2 >= stat.size() || stat[paren + 2] != 'Z';
}

// Runs a command, returns exit code and combined output.
int RunShell(const std::string& command, std::string* output) {
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return -1;
  char buf[4096];
  size_t n;
  output->clear();
  while ((n = fread(buf, 1, sizeof(buf), pipe)) > 0) output->append(buf, n);
  int status = pclose(pipe);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

bool ProcessWithCmdlineExists(const std::string& cmdline) {
  for (const auto& entry : fs::directory_iterator("/proc")) {
    std::string name = entry.path().filename();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    if (ReadFile(entry.path() / "cmdline") == cmdline) return true;
  }
  return false;
}

TestBundleOptions Bundle(std::vector<std::string> args) {
  TestBundleOptions o;
  o.args = std::move(args);
  return o;
}

TestBundleOptions NoPidNamespace(TestBundleOptions o) {
  o.pid_namespace = false;
  return o;
}

ExecRequest Exec(std::vector<std::string> args, absl::Duration timeout) {
  ExecRequest r;
  r.args = std::move(args);
  r.timeout = timeout;
  return r;
}

// crun 1.8 refuses hybrid cgroup hosts where a controller sits on the empty
// cgroup2 mount (hack/setup-host.sh fixes that); detect it once.
std::string CrunSkipReason() {
  static const std::string reason = [] {
    char dir_template[] = "/tmp/fshim-probe-XXXXXX";
    if (mkdtemp(dir_template) == nullptr) return std::string("mkdtemp failed");
    std::string dir = dir_template;
    std::string error, output;
    std::string why;
    if (!WriteTestBundle(dir, Bundle({"true"}), &error)) {
      why = error;
    } else {
      std::string id = "fshim-probe-" + std::to_string(getpid());
      int rc = RunShell("/usr/bin/crun run --bundle " + dir + " " + id, &output);
      if (rc != 0 && output.find("cgroups in hybrid mode not supported") != std::string::npos) {
        why = "crun cannot run on this host (hybrid cgroups with a controller on cgroup2; run "
              "hack/setup-host.sh): " + output;
      }
      std::string ignored;
      RunShell("/usr/bin/crun delete --force " + id, &ignored);
    }
    fs::remove_all(dir);
    return why;
  }();
  return reason;
}

class ShimRuntimeTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root";
    if (access(GetParam().c_str(), X_OK) != 0) GTEST_SKIP() << GetParam() << " not installed";
    if (GetParam().ends_with("crun") && !CrunSkipReason().empty()) GTEST_SKIP() << CrunSkipReason();
    char dir_template[] = "/tmp/fshim-XXXXXX";
    ASSERT_NE(mkdtemp(dir_template), nullptr);
    dir_ = dir_template;
    static int counter = 0;
    id_ = "fshim-" + std::to_string(getpid()) + "-" + std::to_string(counter++);
  }

  void TearDown() override {
    if (dir_.empty()) return;
    if (fs::exists(socket_path())) {
      ShimClient client(socket_path());
      client.set_call_timeout(absl::Seconds(20));
      (void)client.Delete();
    }
    std::string ignored;
    RunShell(GetParam() + " delete --force " + id_, &ignored);
    absl::StatusOr<ShimStatus> status = ShimClient::ReadStatusFile(state_dir());
    if (status.ok()) {
      WaitFor([&] { return !ProcessAlive(status->shim_pid); }, milliseconds(5000));
      if (ProcessAlive(status->shim_pid)) kill(status->shim_pid, SIGKILL);
    }
    fs::remove_all(dir_);
  }

  std::string bundle() const { return dir_ + "/bundle"; }
  std::string state_dir() const { return dir_ + "/state"; }
  std::string log_path() const { return dir_ + "/0.log"; }
  std::string socket_path() const { return dir_ + "/state/shim.sock"; }

  ShimSpawnOptions SpawnOptions(const TestBundleOptions& bundle_options) {
    std::string error;
    fs::create_directories(bundle());
    EXPECT_TRUE(WriteTestBundle(bundle(), bundle_options, &error)) << error;
    ShimSpawnOptions o;
    o.shim_binary = FLINT_SHIM_BINARY;
    o.id = id_;
    o.bundle = bundle();
    o.runtime = GetParam();
    o.state_dir = state_dir();
    o.log_path = log_path();
    o.socket_path = socket_path();
    o.tty = bundle_options.terminal;
    o.timeout = absl::Seconds(30);
    return o;
  }

  absl::StatusOr<ShimClient> SpawnAndStart(const TestBundleOptions& bundle_options) {
    absl::StatusOr<ShimClient> client = ShimClient::Spawn(SpawnOptions(bundle_options));
    if (!client.ok()) return client.status();
    absl::StatusOr<ShimStatus> started = client->Start();
    if (!started.ok()) return started.status();
    return client;
  }

  ShimStatus WaitStopped(ShimClient& client) {
    ShimStatus last;
    WaitFor(
        [&] {
          absl::StatusOr<ShimStatus> s = client.Status();
          if (s.ok()) last = *s;
          return s.ok() && s->state == ContainerState::kStopped;
        },
        milliseconds(15000));
    EXPECT_EQ(last.state, ContainerState::kStopped);
    return last;
  }

  std::string dir_;
  std::string id_;
};

TEST_P(ShimRuntimeTest, WritesCriLogAndRecordsExitCode) {
  absl::StatusOr<ShimClient> client = ShimClient::Spawn(SpawnOptions(
      Bundle({"sh", "-c",
              "echo out; echo err >&2; dd if=/dev/zero bs=20000 count=1 2>/dev/null | tr '\\000' x; echo; "
              "printf tail; exit 3"})));
  ASSERT_TRUE(client.ok()) << client.status();
  absl::StatusOr<ShimStatus> created = client->Status();
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_EQ(created->state, ContainerState::kCreated);
  EXPECT_GT(created->created_at_ns, 0);
  EXPECT_TRUE(ProcessAlive(created->pid));
  ASSERT_TRUE(client->Start().ok());
  ShimStatus done = WaitStopped(*client);
  EXPECT_EQ(done.exit_code, 3);
  EXPECT_FALSE(done.oom_killed);
  EXPECT_GE(done.started_at_ns, done.created_at_ns);
  EXPECT_GE(done.finished_at_ns, done.started_at_ns);

  std::vector<LogRecord> out, err;
  for (const LogRecord& r : ParseCriLog(log_path())) (r.stream == "stdout" ? out : err).push_back(r);
  ASSERT_EQ(err.size(), 1u);
  EXPECT_EQ(err[0].tag, "F");
  EXPECT_EQ(err[0].content, "err");
  ASSERT_EQ(out.size(), 4u);
  EXPECT_EQ(out[0].tag, "F");
  EXPECT_EQ(out[0].content, "out");
  EXPECT_EQ(out[1].tag, "P");
  EXPECT_EQ(out[1].content, std::string(16384, 'x'));
  EXPECT_EQ(out[2].tag, "F");
  EXPECT_EQ(out[2].content, std::string(20000 - 16384, 'x'));
  EXPECT_EQ(out[3].tag, "F");
  EXPECT_EQ(out[3].content, "tail");

  // The file survives the shim: same answer without the socket.
  absl::StatusOr<ShimStatus> from_file = ShimClient::ReadStatusFile(state_dir());
  ASSERT_TRUE(from_file.ok()) << from_file.status();
  EXPECT_EQ(from_file->state, ContainerState::kStopped);
  EXPECT_EQ(from_file->exit_code, 3);
}

TEST_P(ShimRuntimeTest, KillSigtermRecords143) {
  // Without a pid namespace `sleep` is not an init, so SIGTERM's default action applies.
  absl::StatusOr<ShimClient> client = SpawnAndStart(NoPidNamespace(Bundle({"sleep", "1000"})));
  ASSERT_TRUE(client.ok()) << client.status();
  ASSERT_TRUE(client->Kill(SIGTERM).ok());
  ShimStatus done = WaitStopped(*client);
  EXPECT_EQ(done.exit_code, 143);
  // Killing a stopped container is not an error.
  EXPECT_TRUE(client->Kill(SIGKILL).ok());
}

TEST_P(ShimRuntimeTest, KillAllSigkillRecords137) {
  absl::StatusOr<ShimClient> client = SpawnAndStart(Bundle({"sleep", "1000"}));
  ASSERT_TRUE(client.ok()) << client.status();
  ASSERT_TRUE(client->Kill(SIGKILL, /*all=*/true).ok());
  EXPECT_EQ(WaitStopped(*client).exit_code, 137);
}

std::string ExeOf(pid_t pid) {
  std::error_code ec;
  return fs::read_symlink("/proc/" + std::to_string(pid) + "/exe", ec).string();
}

// Until `start`, the container's init is still the runtime's own code: its /proc/PID/exe shows
// which binary ran. From the sealed copy neither crun nor runc clones itself again.
TEST_P(ShimRuntimeTest, RunsTheRuntimeFromTheSealedCopyItIsGiven) {
  std::string error;
  const int copy = flint::MakeSealedExecCopy(GetParam(), &error);
  ASSERT_GE(copy, 0) << error;
  ShimSpawnOptions options = SpawnOptions(Bundle({"sh", "-c", "exit 7"}));
  options.runtime_fd = copy;
  absl::StatusOr<ShimClient> client = ShimClient::Spawn(options);
  close(copy);  // the shim holds its own
  ASSERT_TRUE(client.ok()) << client.status();
  absl::StatusOr<ShimStatus> created = client->Status();
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_EQ(ExeOf(created->pid).rfind("/memfd:flint-runtime", 0), 0u) << ExeOf(created->pid);
  ASSERT_TRUE(client->Start().ok());
  EXPECT_EQ(WaitStopped(*client).exit_code, 7);
}

TEST_P(ShimRuntimeTest, WithoutACopyTheRuntimeRunsFromItsPath) {
  absl::StatusOr<ShimClient> client = ShimClient::Spawn(SpawnOptions(Bundle({"sh", "-c", "exit 0"})));
  ASSERT_TRUE(client.ok()) << client.status();
  absl::StatusOr<ShimStatus> created = client->Status();
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_EQ(ExeOf(created->pid).find("flint-runtime"), std::string::npos) << ExeOf(created->pid);
  ASSERT_TRUE(client->Start().ok());
  EXPECT_EQ(WaitStopped(*client).exit_code, 0);
}

TEST_P(ShimRuntimeTest, ContainerAndShimSurviveTheirLauncher) {
  ShimSpawnOptions options = SpawnOptions(Bundle({"sleep", "1000"}));
  pid_t launcher = fork();
  ASSERT_GE(launcher, 0);
  if (launcher == 0) {
    absl::StatusOr<ShimClient> client = ShimClient::Spawn(options);
    _exit(client.ok() && client->Start().ok() ? 0 : 1);
  }
  int wait_status = 0;
  ASSERT_EQ(waitpid(launcher, &wait_status, 0), launcher);
  ASSERT_TRUE(WIFEXITED(wait_status) && WEXITSTATUS(wait_status) == 0);
  ShimClient client(socket_path());
  absl::StatusOr<ShimStatus> status = client.Status();
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_EQ(status->state, ContainerState::kRunning);
  EXPECT_TRUE(ProcessAlive(status->pid));
  EXPECT_TRUE(ProcessAlive(status->shim_pid));
  // Detached: another session (not its leader, so it never gets a controlling tty), not our child.
  EXPECT_NE(getsid(status->shim_pid), getsid(0));
  EXPECT_NE(getsid(status->shim_pid), status->shim_pid);
  EXPECT_EQ(waitpid(status->shim_pid, nullptr, WNOHANG), -1);
}

TEST_P(ShimRuntimeTest, ExecReturnsOutputExitCodeAndStdin) {
  absl::StatusOr<ShimClient> client = SpawnAndStart(Bundle({"sleep", "1000"}));
  ASSERT_TRUE(client.ok()) << client.status();
  ExecRequest request = Exec({"sh", "-c", "echo hello; echo oops >&2; echo $GREETING; exit 7"}, absl::Seconds(20));
  request.env = {"GREETING=hi"};
  absl::StatusOr<ExecResult> result = client->Exec(request);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->exit_code, 7);
  EXPECT_FALSE(result->timed_out);
  EXPECT_EQ(result->stdout_data, "hello\nhi\n");
  EXPECT_EQ(result->stderr_data, "oops\n");

  ExecRequest cat = Exec({"cat"}, absl::Seconds(20));
  cat.stdin_data = "ping\n";
  absl::StatusOr<ExecResult> echoed = client->Exec(cat);
  ASSERT_TRUE(echoed.ok()) << echoed.status();
  EXPECT_EQ(echoed->exit_code, 0);
  EXPECT_EQ(echoed->stdout_data, "ping\n");
}

TEST_P(ShimRuntimeTest, ExecDoesNotBlockLogPumpOrStatus) {
  absl::StatusOr<ShimClient> client =
      SpawnAndStart(Bundle({"sh", "-c", "while true; do echo tick; sleep 0.05; done"}));
  ASSERT_TRUE(client.ok()) << client.status();
  absl::StatusOr<ExecResult> result;
  std::thread exec_thread([&] {
    ShimClient exec_client(socket_path());
    result = exec_client.Exec(Exec({"sleep", "2"}, absl::Seconds(20)));
  });
  std::this_thread::sleep_for(milliseconds(300));
  uintmax_t before = fs::file_size(log_path());
  auto begin = std::chrono::steady_clock::now();
  absl::StatusOr<ShimStatus> status = client->Status();
  EXPECT_LT(std::chrono::steady_clock::now() - begin, milliseconds(1000));
  std::this_thread::sleep_for(milliseconds(500));
  uintmax_t after = fs::file_size(log_path());
  exec_thread.join();
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_EQ(status->state, ContainerState::kRunning);
  EXPECT_GT(after, before);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->exit_code, 0);
}

TEST_P(ShimRuntimeTest, RejectsStartTwiceAndExecWhenNotRunning) {
  absl::StatusOr<ShimClient> client = ShimClient::Spawn(SpawnOptions(Bundle({"sleep", "1000"})));
  ASSERT_TRUE(client.ok()) << client.status();
  absl::StatusOr<ExecResult> early = client->Exec(Exec({"true"}, absl::Seconds(5)));
  EXPECT_FALSE(early.ok());
  ASSERT_TRUE(client->Start().ok());
  absl::StatusOr<ShimStatus> again = client->Start();
  EXPECT_FALSE(again.ok());
  EXPECT_EQ(again.status().code(), absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(client->Kill(SIGKILL).ok());
  EXPECT_EQ(WaitStopped(*client).exit_code, 137);
  EXPECT_FALSE(client->Exec(Exec({"true"}, absl::Seconds(5))).ok());
}

TEST_P(ShimRuntimeTest, ExecWithTty) {
  absl::StatusOr<ShimClient> client = SpawnAndStart(Bundle({"sleep", "1000"}));
  ASSERT_TRUE(client.ok()) << client.status();
  ExecRequest request = Exec({"sh", "-c", "test -t 1 && echo is-a-tty; echo to-err >&2; exit 5"}, absl::Seconds(20));
  request.tty = true;
  absl::StatusOr<ExecResult> result = client->Exec(request);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->exit_code, 5);
  EXPECT_EQ(result->stdout_data, "is-a-tty\r\nto-err\r\n");
  EXPECT_EQ(result->stderr_data, "");

  // Never 1000: the container's own init is `sleep 1000` (40 + pid % 1000 once made this test
  // find the init when the test's pid ended in 960).
  const std::string seconds = std::to_string(1040 + getpid() % 1000);
  ExecRequest slow = Exec({"sleep", seconds}, absl::Seconds(1));
  slow.tty = true;
  absl::StatusOr<ExecResult> timed_out = client->Exec(slow);
  ASSERT_TRUE(timed_out.ok()) << timed_out.status();
  EXPECT_TRUE(timed_out->timed_out);
  EXPECT_EQ(timed_out->exit_code, 137);
  EXPECT_FALSE(ProcessWithCmdlineExists(std::string("sleep") + '\0' + seconds + '\0'));
}

TEST_P(ShimRuntimeTest, ExecCapsOutputAt16MiB) {
  absl::StatusOr<ShimClient> client = SpawnAndStart(Bundle({"sleep", "1000"}));
  ASSERT_TRUE(client.ok()) << client.status();
  absl::StatusOr<ExecResult> result = client->Exec(
      Exec({"sh", "-c", "dd if=/dev/zero bs=1048576 count=17 2>/dev/null"}, absl::Seconds(60)));
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->exit_code, 0);
  EXPECT_EQ(result->stdout_data.size(), 16u * 1024 * 1024);
  EXPECT_TRUE(result->stdout_truncated);
}

TEST_P(ShimRuntimeTest, ExecTimeoutKillsTheProcess) {
  absl::StatusOr<ShimClient> client = SpawnAndStart(Bundle({"sleep", "1000"}));
  ASSERT_TRUE(client.ok()) << client.status();
  const std::string seconds = std::to_string(1030 + getpid() % 1000);  // never the init's `sleep 1000`
  auto begin = std::chrono::steady_clock::now();
  absl::StatusOr<ExecResult> result = client->Exec(Exec({"sleep", seconds}, absl::Seconds(1)));
  auto elapsed = std::chrono::steady_clock::now() - begin;
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_TRUE(result->timed_out);
  EXPECT_GE(elapsed, milliseconds(900));
  EXPECT_LT(elapsed, milliseconds(10000));
  EXPECT_FALSE(ProcessWithCmdlineExists(std::string("sleep") + '\0' + seconds + '\0'));
  // The container itself is untouched.
  absl::StatusOr<ShimStatus> status = client->Status();
  ASSERT_TRUE(status.ok());
  EXPECT_EQ(status->state, ContainerState::kRunning);
}

TEST_P(ShimRuntimeTest, ReopenCreatesNewFileWhileRenamedOneStopsGrowing) {
  absl::StatusOr<ShimClient> client =
      SpawnAndStart(Bundle({"sh", "-c", "while true; do echo tick; sleep 0.05; done"}));
  ASSERT_TRUE(client.ok()) << client.status();
  ASSERT_TRUE(WaitFor([&] { return fs::exists(log_path()) && fs::file_size(log_path()) > 0; }, milliseconds(5000)));
  const std::string rotated = log_path() + ".20260101-000000";
  fs::rename(log_path(), rotated);
  ASSERT_TRUE(client->Reopen().ok());
  EXPECT_TRUE(fs::exists(log_path()));  // synchronously, before the reply
  std::this_thread::sleep_for(milliseconds(200));
  uintmax_t rotated_size = fs::file_size(rotated);
  ASSERT_TRUE(WaitFor([&] { return fs::file_size(log_path()) > 0; }, milliseconds(5000)));
  std::this_thread::sleep_for(milliseconds(500));
  EXPECT_EQ(fs::file_size(rotated), rotated_size);
  EXPECT_GT(fs::file_size(log_path()), 0u);
  for (const LogRecord& r : ParseCriLog(log_path())) EXPECT_EQ(r.content, "tick");
}

TEST_P(ShimRuntimeTest, DeleteKillsAndCleansUp) {
  absl::StatusOr<ShimClient> client = SpawnAndStart(Bundle({"sleep", "1000"}));
  ASSERT_TRUE(client.ok()) << client.status();
  absl::StatusOr<ShimStatus> running = client->Status();
  ASSERT_TRUE(running.ok());
  absl::StatusOr<ShimStatus> deleted = client->Delete();
  ASSERT_TRUE(deleted.ok()) << deleted.status();
  EXPECT_EQ(deleted->state, ContainerState::kStopped);
  EXPECT_EQ(deleted->exit_code, 137);
  EXPECT_FALSE(ProcessAlive(running->pid));
  EXPECT_TRUE(WaitFor([&] { return !ProcessAlive(running->shim_pid); }, milliseconds(5000)));
  EXPECT_FALSE(fs::exists(socket_path()));
  std::string output;
  EXPECT_NE(RunShell(GetParam() + " state " + id_, &output), 0) << output;
  absl::StatusOr<ShimStatus> from_file = ShimClient::ReadStatusFile(state_dir());
  ASSERT_TRUE(from_file.ok()) << from_file.status();
  EXPECT_EQ(from_file->exit_code, 137);
  EXPECT_EQ(from_file->state, ContainerState::kStopped);
}

TEST_P(ShimRuntimeTest, SpawnReportsRuntimeError) {
  ShimSpawnOptions options = SpawnOptions(Bundle({"true"}));
  fs::remove_all(bundle() + "/rootfs");
  absl::StatusOr<ShimClient> client = ShimClient::Spawn(options);
  ASSERT_FALSE(client.ok());
  EXPECT_NE(client.status().message().find("runtime create"), std::string::npos) << client.status();
  EXPECT_FALSE(fs::exists(socket_path()));
}

TEST_P(ShimRuntimeTest, ReportsOomKill) {
  TestBundleOptions options = Bundle({"dd", "if=/dev/zero", "of=/dev/null", "bs=64M", "count=1"});
  options.memory_limit_bytes = 16 << 20;
  absl::StatusOr<ShimClient> client = SpawnAndStart(options);
  ASSERT_TRUE(client.ok()) << client.status();
  ShimStatus done = WaitStopped(*client);
  EXPECT_EQ(done.exit_code, 137);
  EXPECT_TRUE(done.oom_killed);
}

TEST_P(ShimRuntimeTest, TtyOutputIsLoggedAsStdout) {
  TestBundleOptions options = Bundle({"sh", "-c", "echo tty-hello; echo tty-err >&2"});
  options.terminal = true;
  absl::StatusOr<ShimClient> client = SpawnAndStart(options);
  ASSERT_TRUE(client.ok()) << client.status();
  EXPECT_EQ(WaitStopped(*client).exit_code, 0);
  std::vector<LogRecord> records = ParseCriLog(log_path());
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0].stream, "stdout");
  EXPECT_EQ(records[0].content, "tty-hello\r");
  EXPECT_EQ(records[1].stream, "stdout");
  EXPECT_EQ(records[1].content, "tty-err\r");
}

std::string ReadToEof(int fd) {
  std::string data;
  char buf[4096];
  ssize_t n;
  while ((n = read(fd, buf, sizeof(buf))) > 0) data.append(buf, static_cast<size_t>(n));
  return data;
}

bool HostHasProcess(const std::string& sleep_arg) {
  const std::string wanted = std::string("sleep") + '\0' + sleep_arg + '\0';
  for (const auto& entry : fs::directory_iterator("/proc")) {
    std::ifstream f(entry.path() / "cmdline");
    std::string cmdline((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    if (cmdline == wanted) return true;
  }
  return false;
}

TEST_P(ShimRuntimeTest, ExecStreamUsesPassedStdioAndKillsOnDisconnect) {
  absl::StatusOr<ShimClient> client = SpawnAndStart(Bundle({"sleep", "1000"}));
  ASSERT_TRUE(client.ok()) << client.status();
  int master_fd = -1;
  // A sleep with a duration no other process uses, found by its command line.
  const std::string exec_marker = std::to_string(100000 + getpid());
  int in[2], out[2], err[2];
  ASSERT_EQ(pipe2(in, O_CLOEXEC), 0);
  ASSERT_EQ(pipe2(out, O_CLOEXEC), 0);
  ASSERT_EQ(pipe2(err, O_CLOEXEC), 0);
  {
    absl::StatusOr<std::unique_ptr<ShimStreamConnection>> conn = ShimStreamConnection::Connect(socket_path());
    ASSERT_TRUE(conn.ok()) << conn.status();
    nlohmann::json request = {{"op", "exec_stream"}, {"args", nlohmann::json::array({"sh", "-c", "read x; echo got-$x; echo e >&2; exit 4"})}};
    ASSERT_TRUE((*conn)->SendRequest(request, {in[0], out[1], err[1]}).ok());
    for (int fd : {in[0], out[1], err[1]}) close(fd);
    ASSERT_EQ(write(in[1], "abc\n", 4), 4);
    close(in[1]);
    EXPECT_EQ(ReadToEof(out[0]), "got-abc\n");
    EXPECT_EQ(ReadToEof(err[0]), "e\n");
    absl::StatusOr<nlohmann::json> done = (*conn)->ReadReply();
    ASSERT_TRUE(done.ok()) << done.status();
    EXPECT_EQ(done->value("exit_code", -1), 4);
    close(out[0]);
    close(err[0]);
  }
  {
    absl::StatusOr<std::unique_ptr<ShimStreamConnection>> conn = ShimStreamConnection::Connect(socket_path());
    ASSERT_TRUE(conn.ok()) << conn.status();
    ASSERT_TRUE((*conn)->SendRequest({{"op", "exec_stream"}, {"args", nlohmann::json::array({"sleep", exec_marker})}, {"tty", true}}).ok());
    int master = -1;
    absl::StatusOr<nlohmann::json> pty = (*conn)->ReadReply(&master);
    ASSERT_TRUE(pty.ok()) << pty.status();
    ASSERT_GE(master, 0);
    master_fd = master;  // kept open: closing the last master would hang up (SIGHUP) the process
    EXPECT_TRUE(WaitFor([&] { return HostHasProcess(exec_marker); }, milliseconds(10000)));
  }  // disconnect
  EXPECT_TRUE(WaitFor([&] { return !HostHasProcess(exec_marker); }, milliseconds(10000)));
  if (master_fd >= 0) close(master_fd);
}

TEST_P(ShimRuntimeTest, AttachDropsSlowClientAndKeepsTheLogComplete) {
  // 300000 lines (12 MiB) after a pause that leaves time to attach.
  absl::StatusOr<ShimClient> client = SpawnAndStart(Bundle(
      {"sh", "-c", "sleep 1; yes 0123456789012345678901234567890123456789 | head -n 300000; echo done; sleep 1000"}));
  ASSERT_TRUE(client.ok()) << client.status();
  absl::StatusOr<std::unique_ptr<ShimStreamConnection>> slow = ShimStreamConnection::Connect(socket_path());
  ASSERT_TRUE(slow.ok()) << slow.status();
  ASSERT_TRUE((*slow)->SendRequest({{"op", "attach"}}).ok());
  ASSERT_TRUE((*slow)->ReadReply().ok());
  // Never reads until the container is done: the shim must not wait for it.
  std::string log;
  EXPECT_TRUE(WaitFor(
      [&] {
        std::ifstream f(log_path());
        log.assign(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
        return log.find(" stdout F done\n") != std::string::npos;
      },
      milliseconds(60000)));
  EXPECT_EQ(std::count(log.begin(), log.end(), '\n'), 300001);
  size_t received = 0;
  bool ended = false;
  for (;;) {
    absl::StatusOr<ShimStreamConnection::Frame> frame = (*slow)->ReadFrame();
    if (!frame.ok()) break;
    if (frame->kind == static_cast<uint8_t>(AttachFrame::kEnd)) ended = true;
    received += frame->data.size();
  }
  EXPECT_FALSE(ended);
  EXPECT_GT(received, 0u);
  EXPECT_LT(received, 300000u * 41) << "the slow client was disconnected";
}

INSTANTIATE_TEST_SUITE_P(Runtimes, ShimRuntimeTest, ::testing::Values("/usr/sbin/runc", "/usr/bin/crun"),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           return fs::path(info.param).filename().string();
                         });

}  // namespace
}  // namespace flint::shim
