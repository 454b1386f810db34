#include "cni/test/cni_test_env.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "cni/lib/command.h"
#include "cni/lib/ip_masq.h"

extern char** environ;

namespace flint::cni::testing {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

std::string RandomHex(int digits) {
  std::random_device rd;
  std::string out;
  while (static_cast<int>(out.size()) < digits) out += absl::StrFormat("%08x", rd());
  return out.substr(0, digits);
}

}  // namespace

std::string FlintBinDir() { return FLINT_CNI_TEST_BIN_DIR; }
std::string ReferenceBinDir() { return "/usr/lib/cni"; }
bool HaveReferencePlugins() {
  for (const char* p : {"bridge", "host-local", "portmap"}) {
    if (access((ReferenceBinDir() + "/" + p).c_str(), X_OK) != 0) return false;
  }
  return true;
}

PluginOutcome InvokePlugin(const std::string& binary, const std::map<std::string, std::string>& env,
                           const std::string& config) {
  PluginOutcome outcome;
  std::vector<std::string> envs;
  for (char** e = environ; *e != nullptr; ++e) {
    if (std::string_view(*e).rfind("CNI_", 0) != 0) envs.emplace_back(*e);
  }
  for (const auto& [k, v] : env) envs.push_back(k + "=" + v);
  std::vector<char*> envp;
  for (std::string& e : envs) envp.push_back(e.data());
  envp.push_back(nullptr);

  int in_pipe[2], out_pipe[2];
  if (pipe2(in_pipe, O_CLOEXEC) != 0 || pipe2(out_pipe, O_CLOEXEC) != 0) return outcome;
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in_pipe[0], 0);
  posix_spawn_file_actions_adddup2(&actions, out_pipe[1], 1);
  std::string arg0 = binary;
  char* argv[] = {arg0.data(), nullptr};
  pid_t pid = -1;
  int rc = posix_spawn(&pid, binary.c_str(), &actions, nullptr, argv, envp.data());
  posix_spawn_file_actions_destroy(&actions);
  close(in_pipe[0]);
  close(out_pipe[1]);
  if (rc == 0) {
    // Configs are far below the pipe buffer size, so write-then-read cannot deadlock.
    (void)!write(in_pipe[1], config.data(), config.size());
  }
  close(in_pipe[1]);
  if (rc != 0) {
    close(out_pipe[0]);
    outcome.out = "spawn failed";
    return outcome;
  }
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  char buf[4096];
  for (;;) {
    int left = static_cast<int>(
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count());
    if (left <= 0) {
      kill(pid, SIGKILL);
      outcome.out += "\n<timeout>";
      break;
    }
    pollfd pfd{out_pipe[0], POLLIN, 0};
    if (poll(&pfd, 1, left) <= 0) continue;
    ssize_t n = read(out_pipe[0], buf, sizeof(buf));
    if (n > 0) {
      outcome.out.append(buf, static_cast<size_t>(n));
    } else if (n == 0 || errno != EINTR) {
      break;
    }
  }
  close(out_pipe[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  outcome.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  outcome.json = json::parse(outcome.out, nullptr, false);
  if (outcome.json.is_discarded()) outcome.json = nullptr;
  return outcome;
}

std::pair<int, std::string> Sh(const std::vector<std::string>& argv) {
  absl::StatusOr<CommandOutput> out = RunCommand(argv);
  if (!out.ok()) return {-1, std::string(out.status().message())};
  return {out->exit_code, out->out};
}

std::pair<int, std::string> ShIn(const std::string& netns_name, std::vector<std::string> argv) {
  std::vector<std::string> full = {"ip", "netns", "exec", netns_name};
  full.insert(full.end(), argv.begin(), argv.end());
  return Sh(full);
}

json IpJson(const std::string& netns_name, std::vector<std::string> args) {
  std::vector<std::string> argv = {"ip", "-j"};
  argv.insert(argv.end(), args.begin(), args.end());
  auto [rc, out] = netns_name.empty() ? Sh(argv) : ShIn(netns_name, argv);
  if (rc != 0) return nullptr;
  json j = json::parse(out, nullptr, false);
  return j.is_discarded() ? json(nullptr) : j;
}

bool Ping(const std::string& netns_name, const std::string& ip) {
  // Debian's busybox-static provides ping when iputils is absent.
  std::vector<std::string> ping = access("/usr/bin/ping", X_OK) == 0 || access("/bin/ping", X_OK) == 0
                                      ? std::vector<std::string>{"ping"}
                                      : std::vector<std::string>{"busybox", "ping"};
  ping.insert(ping.end(), {"-c1", "-W2", ip});
  // A few tries so that a loaded CI machine does not turn a slow first ARP into a failure.
  for (int attempt = 0; attempt < 3; ++attempt) {
    if (ShIn(netns_name, ping).first == 0) return true;
  }
  return false;
}

std::string ReadFileOr(const std::string& path, const std::string& fallback) {
  std::ifstream in(path);
  if (!in) return fallback;
  std::stringstream ss;
  ss << in.rdbuf();
  std::string s = ss.str();
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

void CniTestEnv::SetUp() {
  if (geteuid() != 0) GTEST_SKIP() << "needs root (network namespaces, bridges, iptables)";
  if (Sh({"ip", "-V"}).first != 0) GTEST_SKIP() << "needs iproute2";
  suffix_ = RandomHex(6);
  bridge_ = "flt" + suffix_;
  network_ = "fltnet-" + suffix_;
  std::random_device rd;
  unsigned a = 200 + rd() % 50, b = rd() % 256;
  subnet_prefix_ = absl::StrCat("10.", a, ".", b, ".");
  subnet6_prefix_ = absl::StrFormat("fd00:%x:%x::", a, b);
  char tmpl[] = "/tmp/flint-cni-test-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  data_dir_ = tmpl;
}

void CniTestEnv::CleanUp() {
  for (const std::string& id : container_ids_) (void)TeardownIpMasq(network_, id);
  for (const std::string& pod : pods_) Sh({"ip", "netns", "del", pod});
  pods_.clear();
  if (!bridge_.empty()) Sh({"ip", "link", "del", bridge_});
  if (!data_dir_.empty()) {
    std::error_code ec;
    fs::remove_all(data_dir_, ec);
  }
}

void CniTestEnv::TearDown() {
  if (suffix_.empty()) return;  // skipped
  CleanUp();
}

std::string CniTestEnv::NewPod() {
  std::string name = absl::StrCat("flt", suffix_, "-", pods_.size());
  auto [rc, out] = Sh({"ip", "netns", "add", name});
  EXPECT_EQ(rc, 0) << out;
  pods_.push_back(name);
  return name;
}

json CniTestEnv::BridgeConfig(const std::string& type, const std::string& ipam_type, const json& extra) const {
  json c = {
      {"cniVersion", "1.0.0"},
      {"name", network_},
      {"type", type},
      {"bridge", bridge_},
      {"isGateway", true},
      {"ipam",
       {{"type", ipam_type},
        {"dataDir", data_dir_},
        {"ranges", json::array({json::array({{{"subnet", subnet_prefix_ + "0/24"}}})})},
        {"routes", json::array({{{"dst", "0.0.0.0/0"}}})}}},
  };
  c.merge_patch(extra);
  return c;
}

PluginOutcome CniTestEnv::Cni(const std::string& binary, const std::string& command, const json& config,
                              const std::string& container_id, const std::string& netns_name,
                              const std::string& ifname, const std::string& extra_cni_args) {
  {
    std::lock_guard<std::mutex> lock(ids_mu_);
    if (std::find(container_ids_.begin(), container_ids_.end(), container_id) == container_ids_.end()) {
      container_ids_.push_back(container_id);
    }
  }
  std::map<std::string, std::string> env = {
      {"CNI_COMMAND", command},
      {"CNI_CONTAINERID", container_id},
      {"CNI_NETNS", netns_name.empty() ? "" : NetnsPath(netns_name)},
      {"CNI_IFNAME", ifname},
      {"CNI_ARGS", "IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=" + container_id + extra_cni_args},
      {"CNI_PATH", FlintBinDir() + ":" + ReferenceBinDir()},
  };
  return InvokePlugin(binary, env, config.dump());
}

std::vector<std::string> CniTestEnv::ReservedIps() const {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(data_dir_ + "/" + network_, ec)) {
    std::string name = e.path().filename().string();
    if (name != "lock" && name.rfind("last_reserved_ip", 0) != 0) out.push_back(name);
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace flint::cni::testing
