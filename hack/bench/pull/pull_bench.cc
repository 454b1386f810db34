// A minimal CRI client for the pull benchmark: PullImage on a runtime's CRI socket, timed.
//   pull_bench --socket PATH --image REF [--timeout SECONDS]
// Prints one line: "seconds=<wall time of PullImage> size=<ImageStatus size> image_ref=<id>".
// Works against any CRI runtime.v1 server (flintd, containerd's CRI plugin).
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include <grpcpp/grpcpp.h>

#include "api.grpc.pb.h"

namespace {

namespace v1 = runtime::v1;

int Usage() {
  std::fprintf(stderr, "usage: pull_bench --socket PATH --image REF [--timeout SECONDS]\n");
  return 2;
}

std::unique_ptr<grpc::ClientContext> Deadline(int seconds) {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(seconds));
  return context;
}

}  // namespace

int main(int argc, char** argv) {
  std::string socket, image;
  int timeout = 900;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--socket") == 0) {
      socket = argv[i + 1];
    } else if (std::strcmp(argv[i], "--image") == 0) {
      image = argv[i + 1];
    } else if (std::strcmp(argv[i], "--timeout") == 0) {
      timeout = std::atoi(argv[i + 1]);
    } else {
      return Usage();
    }
  }
  if (socket.empty() || image.empty() || argc % 2 == 0) return Usage();

  auto channel = grpc::CreateChannel("unix:" + socket, grpc::InsecureChannelCredentials());
  if (!channel->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(30))) {
    std::fprintf(stderr, "pull_bench: cannot connect to %s\n", socket.c_str());
    return 1;
  }
  auto images = v1::ImageService::NewStub(channel);

  v1::PullImageRequest pull;
  pull.mutable_image()->set_image(image);
  v1::PullImageResponse pulled;
  auto start = std::chrono::steady_clock::now();
  grpc::Status status = images->PullImage(Deadline(timeout).get(), pull, &pulled);
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (!status.ok()) {
    std::fprintf(stderr, "pull_bench: PullImage %s: %s\n", image.c_str(), status.error_message().c_str());
    return 1;
  }

  v1::ImageStatusRequest query;
  query.mutable_image()->set_image(pulled.image_ref());
  v1::ImageStatusResponse answer;
  status = images->ImageStatus(Deadline(30).get(), query, &answer);
  if (!status.ok() || !answer.has_image()) {
    std::fprintf(stderr, "pull_bench: ImageStatus %s after pull: %s\n", pulled.image_ref().c_str(),
                 status.ok() ? "image not found" : status.error_message().c_str());
    return 1;
  }
  std::printf("seconds=%.3f size=%llu image_ref=%s\n", seconds,
              static_cast<unsigned long long>(answer.image().size()), pulled.image_ref().c_str());
  return 0;
}
