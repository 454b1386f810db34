#include "flintctl/pack_image.h"

#include <grpcpp/grpcpp.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

#include <nlohmann/json.hpp>

#include "api.grpc.pb.h"
#include "flist-snapshotter/cli/flist_cli.h"

namespace flint::ctl {
namespace {

namespace v1 = runtime::v1;

// The image's layer dirs, bottom first, as flintd reports them.
bool LayerDirs(const std::string& socket, const std::string& image, std::vector<std::string>* dirs,
               std::string* error) {
  auto stub = v1::ImageService::NewStub(grpc::CreateChannel("unix:" + socket, grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  v1::ImageStatusRequest request;
  request.mutable_image()->set_image(image);
  request.set_verbose(true);
  v1::ImageStatusResponse response;
  grpc::Status status = stub->ImageStatus(&context, request, &response);
  if (!status.ok()) {
    *error = "ImageStatus on " + socket + ": " + status.error_message();
    return false;
  }
  if (!response.has_image()) {
    *error = "flintd has no image \"" + image + "\"; pull it first (crictl pull, or any CRI client)";
    return false;
  }
  auto info = response.info().find("info");
  nlohmann::json parsed =
      info == response.info().end() ? nlohmann::json() : nlohmann::json::parse(info->second, nullptr, false);
  if (!parsed.is_object() || !parsed.contains("layerDirs") || !parsed["layerDirs"].is_array()) {
    *error = "\"" + image + "\" has no OCI layers (an flist is packed already)";
    return false;
  }
  for (const auto& dir : parsed["layerDirs"]) dirs->push_back(dir.get<std::string>());
  if (dirs->empty()) {
    *error = "\"" + image + "\" has no layers";
    return false;
  }
  return true;
}

}  // namespace

int RunPackImage(const std::string& socket, const std::vector<std::string>& args, std::ostream& out,
                 std::ostream& err) {
  if (args.size() < 2 || args[0].empty() || args[0][0] == '-') {
    err << "usage: flintctl flist pack-image IMAGE OUT.fl --store URL [--route URL | --no-route] [--tag KEY=VALUE]...\n";
    return 2;
  }
  std::vector<std::string> dirs;
  std::string error;
  if (!LayerDirs(socket, args[0], &dirs, &error)) {
    err << "flintctl: pack-image: " << error << "\n";
    return 1;
  }
  std::string source = dirs.front();
  std::string mountpoint;
  if (dirs.size() > 1) {
    char tmpl[] = "/tmp/flintctl-pack-XXXXXX";
    if (mkdtemp(tmpl) == nullptr) {
      err << "flintctl: pack-image: mkdtemp: " << strerror(errno) << "\n";
      return 1;
    }
    mountpoint = tmpl;
    // overlayfs lists lower dirs top first; without an upper dir the mount is read-only.
    std::string options = "lowerdir=";
    for (auto it = dirs.rbegin(); it != dirs.rend(); ++it) options += (it == dirs.rbegin() ? "" : ":") + *it;
    if (mount("overlay", mountpoint.c_str(), "overlay", MS_RDONLY, options.c_str()) != 0) {
      err << "flintctl: pack-image: mount the image's " << dirs.size() << " layers: " << strerror(errno) << "\n";
      rmdir(mountpoint.c_str());
      return 1;
    }
    source = mountpoint;
  }
  std::vector<std::string> pack = {"pack", source};
  pack.insert(pack.end(), args.begin() + 1, args.end());
  int rc = flist::RunFlistCommand(pack, out, err);
  if (!mountpoint.empty()) {
    if (umount2(mountpoint.c_str(), MNT_DETACH) != 0) {
      err << "flintctl: pack-image: unmount " << mountpoint << ": " << strerror(errno) << "\n";
    }
    rmdir(mountpoint.c_str());
  }
  return rc;
}

}  // namespace flint::ctl
