// flintd: the Flint CRI daemon.
#include <signal.h>
#include <unistd.h>

#include <cstring>
#include <iostream>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "cri/config/config.h"
#include "cri/server/cri_server.h"

namespace {

constexpr char kDefaultConfigPath[] = "/etc/flint/flint.yaml";

void Usage(std::ostream& out) {
  out << "usage: flintd [--config PATH] [--log-level LEVEL] [--print-default-config] [--version]\n"
         "  --config PATH           configuration file (default /etc/flint/flint.yaml; missing = defaults)\n"
         "  --log-level LEVEL       debug|info|warn|error (overrides the config)\n"
         "  --print-default-config  print the commented default configuration and exit\n";
}

int Run(int argc, char** argv) {
  std::string config_path = kDefaultConfigPath;
  bool config_given = false;
  std::string log_level_override;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto value = [&](const char* name) -> std::string {
      if (i + 1 >= argc) {
        std::cerr << "flintd: " << name << " needs a value\n";
        exit(2);
      }
      return argv[++i];
    };
    if (arg == "--config") {
      config_path = value("--config");
      config_given = true;
    } else if (arg == "--log-level") {
      log_level_override = value("--log-level");
    } else if (arg == "--print-default-config") {
      std::cout << flint::DefaultConfigYaml();
      return 0;
    } else if (arg == "--version") {
      std::cout << "flintd " << FLINT_VERSION << " (CRI runtime.v1)\n";
      return 0;
    } else if (arg == "--help" || arg == "-h") {
      Usage(std::cout);
      return 0;
    } else {
      std::cerr << "flintd: unknown argument " << arg << "\n";
      Usage(std::cerr);
      return 2;
    }
  }

  absl::StatusOr<flint::Config> config = flint::LoadConfig(config_path, config_given);
  if (!config.ok()) {
    std::cerr << "flintd: invalid configuration: " << config.status().message() << "\n";
    return 1;
  }
  if (!log_level_override.empty()) config->log_level = log_level_override;
  absl::StatusOr<flint::log::Level> level = flint::log::ParseLevel(config->log_level);
  if (!level.ok()) {
    std::cerr << "flintd: " << level.status().message() << "\n";
    return 1;
  }
  flint::log::SetLevel(*level);

  // Termination signals are taken synchronously by a waiting thread, not a handler.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  absl::StatusOr<std::unique_ptr<flint::server::CriServer>> server = flint::server::CriServer::Start(*config);
  if (!server.ok()) {
    std::cerr << "flintd: cannot start: " << server.status().message() << "\n";
    return 1;
  }
  FLINT_LOG(INFO) << "flintd " << FLINT_VERSION << " started pid=" << getpid() << " config="
                  << (config_given ? config_path : std::string("(defaults or ") + kDefaultConfigPath + ")")
                  << " root=" << config->root_dir << " state=" << config->state_dir;

  int received = 0;
  sigwait(&signals, &received);
  FLINT_LOG(INFO) << "received " << strsignal(received) << ", shutting down";
  (*server)->Shutdown();
  return 0;
}

}  // namespace

int main(int argc, char** argv) { return Run(argc, argv); }
