#include "flintctl/smoke_test.h"

#include <unistd.h>

#include <chrono>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include <grpcpp/grpcpp.h>

#include "api.grpc.pb.h"

namespace flint::ctl {
namespace {

namespace v1 = runtime::v1;

std::unique_ptr<grpc::ClientContext> Deadline(int seconds) {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(seconds));
  return context;
}

bool Check(const grpc::Status& status, const char* what) {
  if (status.ok()) return true;
  std::cerr << "flintctl smoke-test: " << what << " failed: " << status.error_message() << "\n";
  return false;
}

}  // namespace

int RunSmokeTest(const SmokeTestOptions& options) {
  auto channel = grpc::CreateChannel("unix:" + options.socket, grpc::InsecureChannelCredentials());
  auto runtime = v1::RuntimeService::NewStub(channel);
  auto images = v1::ImageService::NewStub(channel);
  auto step = [](const std::string& text) { std::cout << "==> " << text << std::endl; };

  step("PullImage " + options.image);
  v1::PullImageRequest pull;
  pull.mutable_image()->set_image(options.image);
  v1::PullImageResponse pulled;
  if (!Check(images->PullImage(Deadline(300).get(), pull, &pulled), "PullImage")) return 1;
  std::cout << "    image id " << pulled.image_ref() << "\n";

  std::string name = "flint-smoke-" + std::to_string(getpid());
  char dir_template[] = "/tmp/flint-smoke-XXXXXX";
  std::string log_dir = mkdtemp(dir_template) ? dir_template : "/tmp";
  v1::PodSandboxConfig sandbox;
  sandbox.mutable_metadata()->set_name(name);
  sandbox.mutable_metadata()->set_namespace_("flint-system");
  sandbox.mutable_metadata()->set_uid(name);
  sandbox.set_hostname(name);
  sandbox.set_log_directory(log_dir);
  if (options.host_network)
    sandbox.mutable_linux()->mutable_security_context()->mutable_namespace_options()->set_network(v1::NODE);

  step("RunPodSandbox " + name + (options.runtime_handler.empty() ? "" : " (handler " + options.runtime_handler + ")"));
  v1::RunPodSandboxRequest run;
  *run.mutable_config() = sandbox;
  run.set_runtime_handler(options.runtime_handler);
  v1::RunPodSandboxResponse ran;
  if (!Check(runtime->RunPodSandbox(Deadline(240).get(), run, &ran), "RunPodSandbox")) return 1;
  const std::string pod = ran.pod_sandbox_id();

  int result = 1;
  do {
    v1::PodSandboxStatusRequest pod_status_request;
    pod_status_request.set_pod_sandbox_id(pod);
    v1::PodSandboxStatusResponse pod_status;
    if (!Check(runtime->PodSandboxStatus(Deadline(30).get(), pod_status_request, &pod_status), "PodSandboxStatus")) break;
    std::cout << "    sandbox " << pod.substr(0, 12) << " state "
              << v1::PodSandboxState_Name(pod_status.status().state()) << " ip "
              << (pod_status.status().network().ip().empty() ? "(host network)" : pod_status.status().network().ip())
              << "\n";

    step("CreateContainer + StartContainer");
    v1::CreateContainerRequest create;
    create.set_pod_sandbox_id(pod);
    auto* config = create.mutable_config();
    config->mutable_metadata()->set_name("hello");
    config->mutable_image()->set_image(pulled.image_ref());
    config->mutable_image()->set_user_specified_image(options.image);
    config->add_command("/bin/sh");
    config->add_command("-c");
    config->add_command(options.command);
    config->set_log_path("hello.log");
    *create.mutable_sandbox_config() = sandbox;
    v1::CreateContainerResponse created;
    if (!Check(runtime->CreateContainer(Deadline(120).get(), create, &created), "CreateContainer")) break;
    v1::StartContainerRequest start;
    start.set_container_id(created.container_id());
    v1::StartContainerResponse started;
    if (!Check(runtime->StartContainer(Deadline(60).get(), start, &started), "StartContainer")) break;

    v1::ContainerStatusRequest status_request;
    status_request.set_container_id(created.container_id());
    v1::ContainerStatusResponse status;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (std::chrono::steady_clock::now() < deadline) {
      if (!Check(runtime->ContainerStatus(Deadline(30).get(), status_request, &status), "ContainerStatus")) break;
      if (status.status().state() == v1::CONTAINER_EXITED) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    std::cout << "    container " << created.container_id().substr(0, 12) << " "
              << v1::ContainerState_Name(status.status().state()) << " exit " << status.status().exit_code() << " ("
              << status.status().reason() << ")\n";
    step("container log " + status.status().log_path());
    std::ifstream log(status.status().log_path());
    std::cout << log.rdbuf() << std::flush;
    result = status.status().state() == v1::CONTAINER_EXITED && status.status().exit_code() == 0 ? 0 : 1;
  } while (false);

  step("StopPodSandbox + RemovePodSandbox");
  v1::StopPodSandboxRequest stop;
  stop.set_pod_sandbox_id(pod);
  v1::StopPodSandboxResponse stopped;
  Check(runtime->StopPodSandbox(Deadline(120).get(), stop, &stopped), "StopPodSandbox");
  v1::RemovePodSandboxRequest remove;
  remove.set_pod_sandbox_id(pod);
  v1::RemovePodSandboxResponse removed;
  Check(runtime->RemovePodSandbox(Deadline(120).get(), remove, &removed), "RemovePodSandbox");
  std::string rm = "rm -rf '" + log_dir + "'";
  if (log_dir.rfind("/tmp/flint-smoke-", 0) == 0) (void)system(rm.c_str());
  std::cout << (result == 0 ? "smoke test passed" : "smoke test FAILED") << "\n";
  return result;
}

}  // namespace flint::ctl
