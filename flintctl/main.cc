// flintctl: Flint's admin CLI for what crictl does not do (effective config, a quick
// daemon check, state dump, flist tools). Not a crictl replacement.
#include <grpcpp/grpcpp.h>

#include <chrono>
#include <iostream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "api.grpc.pb.h"
#include "cri/config/config.h"
#include "flintctl/smoke_test.h"

#ifdef FLINT_HAVE_FLIST_CLI
#include "flist-snapshotter/cli/flist_cli.h"
#include "flintctl/pack_image.h"
#endif

namespace {

namespace v1 = runtime::v1;

void Usage(std::ostream& out) {
  out << "usage: flintctl [--config PATH] [--socket PATH] COMMAND\n"
         "commands:\n"
         "  config                 print the effective configuration (JSON)\n"
         "  default-config         print the commented default configuration\n"
         "  check                  ask flintd over its socket for Version and Status; exit 1 if not ready\n"
         "  dump                   the daemon's verbose Status info (JSON)\n"
         "  smoke-test [--image REF] [--runtime HANDLER] [--host-network]\n"
         "                         run one short-lived pod through flintd and print its output\n"
#ifdef FLINT_HAVE_FLIST_CLI
         "  flist SUBCOMMAND ...   flist tools (inspect, ls, cat, verify, pack); `flintctl flist` for help\n"
         "  flist pack-image IMAGE OUT.fl --store URL [--route URL | --no-route] [--tag KEY=VALUE]...\n"
         "                         pack an OCI image flintd has pulled into an flist\n"
#endif
      ;
}

std::unique_ptr<grpc::ClientContext> Deadline() {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  return context;
}

int Check(const std::string& socket, bool dump) {
  auto stub = v1::RuntimeService::NewStub(grpc::CreateChannel("unix:" + socket, grpc::InsecureChannelCredentials()));
  v1::VersionRequest version_request;
  version_request.set_version("0.1.0");
  v1::VersionResponse version;
  grpc::Status status = stub->Version(Deadline().get(), version_request, &version);
  if (!status.ok()) {
    std::cerr << "flintctl: cannot reach flintd at unix://" << socket << ": " << status.error_message() << "\n";
    return 1;
  }
  v1::StatusRequest status_request;
  status_request.set_verbose(dump);
  v1::StatusResponse runtime_status;
  status = stub->Status(Deadline().get(), status_request, &runtime_status);
  if (!status.ok()) {
    std::cerr << "flintctl: Status failed: " << status.error_message() << "\n";
    return 1;
  }
  if (dump) {
    nlohmann::json info = nlohmann::json::object();
    for (const auto& [key, value] : runtime_status.info()) {
      nlohmann::json parsed = nlohmann::json::parse(value, nullptr, false);
      info[key] = parsed.is_discarded() ? nlohmann::json(value) : parsed;
    }
    std::cout << info.dump(2) << "\n";
    return 0;
  }
  std::cout << "Version:           " << version.version() << "\n"
            << "RuntimeName:       " << version.runtime_name() << "\n"
            << "RuntimeVersion:    " << version.runtime_version() << "\n"
            << "RuntimeApiVersion: " << version.runtime_api_version() << "\n";
  bool ready = true;
  for (const auto& c : runtime_status.status().conditions()) {
    std::cout << c.type() << ": " << (c.status() ? "true" : "false");
    if (!c.status()) std::cout << " (" << c.reason() << ": " << c.message() << ")";
    std::cout << "\n";
    if (c.type() == "RuntimeReady" && !c.status()) ready = false;
  }
  return ready ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  std::string config_path = "/etc/flint/flint.yaml";
  bool config_given = false;
  std::string socket;
  std::vector<std::string> args(argv + 1, argv + argc);
  size_t i = 0;
  for (; i < args.size(); ++i) {
    if (args[i] == "--config" && i + 1 < args.size()) {
      config_path = args[++i];
      config_given = true;
    } else if (args[i] == "--socket" && i + 1 < args.size()) {
      socket = args[++i];
    } else {
      break;
    }
  }
  if (i >= args.size()) {
    Usage(std::cerr);
    return 2;
  }
  std::string command = args[i];
  std::vector<std::string> rest(args.begin() + static_cast<long>(i) + 1, args.end());
  if (command == "default-config") {
    std::cout << flint::DefaultConfigYaml();
    return 0;
  }
  if (command == "help" || command == "--help" || command == "-h") {
    Usage(std::cout);
    return 0;
  }
  absl::StatusOr<flint::Config> config = flint::LoadConfig(config_path, config_given);
  if (!config.ok()) {
    std::cerr << "flintctl: " << config.status().message() << "\n";
    return 1;
  }
#ifdef FLINT_HAVE_FLIST_CLI
  if (command == "flist" && !rest.empty() && rest[0] == "pack-image") {
    return flint::ctl::RunPackImage(socket.empty() ? config->socket : socket,
                                    std::vector<std::string>(rest.begin() + 1, rest.end()), std::cout, std::cerr);
  }
  if (command == "flist") {
    flint::flist::FlistCliConfig flist_config;
    flist_config.default_store = config->flist.default_store;
    return flint::flist::RunFlistCommand(rest, std::cout, std::cerr, flist_config);
  }
#endif
  if (socket.empty()) socket = config->socket;
  if (command == "config") {
    std::cout << nlohmann::json::parse(flint::ConfigToJson(*config)).dump(2) << "\n";
    return 0;
  }
  if (command == "check") return Check(socket, false);
  if (command == "dump") return Check(socket, true);
  if (command == "smoke-test") {
    flint::ctl::SmokeTestOptions options;
    options.socket = socket;
    options.image = "docker.io/library/busybox:latest";
    for (size_t k = 0; k < rest.size(); ++k) {
      if (rest[k] == "--image" && k + 1 < rest.size()) {
        options.image = rest[++k];
      } else if (rest[k] == "--runtime" && k + 1 < rest.size()) {
        options.runtime_handler = rest[++k];
      } else if (rest[k] == "--host-network") {
        options.host_network = true;
      } else {
        std::cerr << "flintctl smoke-test: unknown argument " << rest[k] << "\n";
        return 2;
      }
    }
    return flint::ctl::RunSmokeTest(options);
  }
  std::cerr << "flintctl: unknown command " << command << "\n";
  Usage(std::cerr);
  return 2;
}
