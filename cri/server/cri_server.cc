#include "cri/server/cri_server.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>

#include <grpcpp/server_builder.h>

#include "absl/strings/str_cat.h"
#include "common/fs.h"
#include "common/log.h"
#include "cri/server/rpc_interceptor.h"

namespace flint::server {
namespace {
constexpr int kMaxMessageBytes = 16 * 1024 * 1024;  // kubelet's client accepts up to 16 MiB

// flint-shim and flint-pause sit beside flintd when installed, and in their own
// folders of the build tree when run from there.
absl::StatusOr<std::string> FindBinary(const std::string& name, const std::vector<std::string>& relative) {
  char exe[4096] = {};
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  std::string dir = n > 0 ? std::string(exe, static_cast<size_t>(n)) : "";
  dir = dir.substr(0, dir.rfind('/'));
  std::vector<std::string> candidates;
  for (const auto& rel : relative) candidates.push_back(dir + "/" + rel);
  candidates.push_back("/usr/local/bin/" + name);
  candidates.push_back("/usr/bin/" + name);
  for (const auto& path : candidates) {
    if (access(path.c_str(), X_OK) == 0) return path;
  }
  return absl::NotFoundError(absl::StrCat("cannot find ", name, " beside flintd (", dir,
                                          ") or in /usr/local/bin, /usr/bin; install it with flintd"));
}

absl::StatusOr<runtime::PodRuntimeOptions> FindHelperBinaries() {
  runtime::PodRuntimeOptions options;
  absl::StatusOr<std::string> shim = FindBinary("flint-shim", {"flint-shim", "../shim/flint-shim"});
  if (!shim.ok()) return shim.status();
  absl::StatusOr<std::string> pause = FindBinary("flint-pause", {"flint-pause", "oci/flint-pause", "oci/pause/flint-pause"});
  if (!pause.ok()) return pause.status();
  options.shim_binary = *shim;
  options.pause_binary = *pause;
  // Optional: without it flist images can be pulled but not run.
  absl::StatusOr<std::string> flist_mount =
      FindBinary("flist-mount", {"flist-mount", "../flist-snapshotter/flist-mount", "../flist-snapshotter/fuse/flist-mount"});
  if (flist_mount.ok()) {
    options.flist_mount_binary = *flist_mount;
  } else {
    FLINT_LOG(WARN) << flist_mount.status().message() << "; flist images cannot run";
  }
  return options;
}
}  // namespace

CriServer::CriServer(const Config& config) : config_(config) {}

CriServer::~CriServer() {
  Shutdown();
  if (lock_fd_ >= 0) close(lock_fd_);
}

absl::StatusOr<std::unique_ptr<CriServer>> CriServer::Start(const Config& config) {
  std::unique_ptr<CriServer> server(new CriServer(config));
  std::string socket_dir = config.socket.substr(0, config.socket.rfind('/'));
  if (absl::Status s = fs::MakeDirs(socket_dir.empty() ? "/" : socket_dir, 0711); !s.ok()) return s;
  for (const std::string& dir : {config.state_dir, config.root_dir}) {
    if (absl::Status s = fs::MakeDirs(dir, 0711); !s.ok()) return s;
  }

  // The lock beside the socket says who owns it; it dies with the process, so a
  // crashed flintd never blocks the next one.
  std::string lock_path = config.socket + ".lock";
  server->lock_fd_ = open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (server->lock_fd_ < 0) return absl::PermissionDeniedError(absl::StrCat("open ", lock_path, ": ", strerror(errno)));
  if (flock(server->lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    return absl::FailedPreconditionError(absl::StrCat("another flintd already serves ", config.socket,
                                                      " (lock ", lock_path, " is held); stop it first"));
  }
  image::ImageServiceOptions image_options;
  image_options.root = config.root_dir + "/images";
  image_options.registry.mirrors = config.registry.mirrors;
  image_options.registry.insecure.insert(config.registry.insecure.begin(), config.registry.insecure.end());
  image_options.max_concurrent_downloads = config.registry.max_concurrent_downloads;
  image_options.connect_timeout = std::chrono::seconds(config.registry.connect_timeout_seconds);
  image_options.stall_timeout = std::chrono::seconds(config.registry.stall_timeout_seconds);
  absl::StatusOr<std::unique_ptr<image::ImageService>> images = image::ImageService::Open(image_options);
  if (!images.ok()) {
    return absl::Status(images.status().code(),
                        absl::StrCat("open image store ", image_options.root, ": ", images.status().message()));
  }
  server->images_ = std::move(*images);
  cni::CniManagerOptions cni_options;
  cni_options.conf_dir = config.cni.conf_dir;
  cni_options.bin_dirs = config.cni.bin_dirs;
  cni_options.cache_dir = config.root_dir + "/cni";
  cni_options.plugin_timeout = std::chrono::seconds(config.cni.plugin_timeout_seconds);
  server->cni_ = std::make_unique<cni::CniManager>(cni_options);
  if (absl::Status s = server->cni_->StartWatching(); !s.ok()) {
    FLINT_LOG(WARN) << s.message() << "; config changes are still seen on the next pod";
  }

  flist_image::FlistStoreOptions flist_options;
  flist_options.root = config.root_dir + "/flists";
  flist_options.hubs = config.flist.hubs;
  flist_options.mirrors = config.registry.mirrors;
  flist_options.connect_timeout = std::chrono::seconds(config.registry.connect_timeout_seconds);
  flist_options.stall_timeout = std::chrono::seconds(config.registry.stall_timeout_seconds);
  flist_options.allowed_stores = config.flist.allowed_stores;
  absl::StatusOr<std::unique_ptr<flist_image::FlistImageStore>> flists = flist_image::FlistImageStore::Open(flist_options);
  if (!flists.ok()) return flists.status();
  server->flists_ = std::move(*flists);
  absl::StatusOr<runtime::PodRuntimeOptions> runtime_options = FindHelperBinaries();
  if (!runtime_options.ok()) return runtime_options.status();
  absl::StatusOr<std::unique_ptr<runtime::PodRuntime>> pods =
      runtime::PodRuntime::Open(config, *runtime_options, server->images_.get(), server->cni_.get(),
                                server->flists_.get());
  if (!pods.ok()) return absl::Status(pods.status().code(), absl::StrCat("open runtime state: ", pods.status().message()));
  server->pods_ = std::move(*pods);
  server->runtime_service_ = std::make_unique<RuntimeServiceImpl>(config, server->pods_.get(), server->cni_.get());
  server->streaming_runtime_ = std::make_unique<runtime::PodStreamingRuntime>(server->pods_.get());
  streaming::StreamingServerOptions streaming_options;
  streaming_options.address = config.streaming_address;
  absl::StatusOr<std::unique_ptr<streaming::StreamingServer>> streaming =
      streaming::StreamingServer::Start(server->streaming_runtime_.get(), streaming_options);
  if (!streaming.ok()) {
    return absl::Status(streaming.status().code(), absl::StrCat("start streaming server on ", config.streaming_address,
                                                                ": ", streaming.status().message()));
  }
  server->streaming_ = std::move(*streaming);
  server->runtime_service_->set_streaming(server->streaming_.get());
  FLINT_LOG(INFO) << "streaming server on " << server->streaming_->base_url();
  server->image_service_ =
      std::make_unique<ImageServiceImpl>(config, server->images_.get(), server->flists_.get(),
                                         [pods = server->pods_.get()](const std::string& image_id) {
                                           pods->FlistImageRemoved(image_id);
                                         });

  if (unlink(config.socket.c_str()) == 0) FLINT_LOG(INFO) << "removed stale socket " << config.socket;

  grpc::ServerBuilder builder;
  builder.AddListeningPort(absl::StrCat("unix:", config.socket), grpc::InsecureServerCredentials());
  builder.SetMaxReceiveMessageSize(kMaxMessageBytes);
  builder.SetMaxSendMessageSize(kMaxMessageBytes);
  // Idle sync-server threads notice shutdown at their next poll; keep that short.
  builder.SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::CQ_TIMEOUT_MSEC, 200);
  builder.RegisterService(server->runtime_service_.get());
  builder.RegisterService(server->image_service_.get());
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> interceptors;
  interceptors.push_back(std::make_unique<RpcInterceptorFactory>(&server->runtime_service_->metrics()));
  builder.experimental().SetInterceptorCreators(std::move(interceptors));
  server->server_ = builder.BuildAndStart();
  if (!server->server_) return absl::UnavailableError(absl::StrCat("cannot listen on unix:", config.socket));
  if (chmod(config.socket.c_str(), 0660) != 0)
    return absl::PermissionDeniedError(absl::StrCat("chmod ", config.socket, ": ", strerror(errno)));
  FLINT_LOG(INFO) << "serving CRI runtime.v1 on unix://" << config.socket;
  if (!config.metrics_address.empty()) {
    if (absl::Status s = server->runtime_service_->ServeMetrics(config.metrics_address); !s.ok()) return s;
  }
  return server;
}

void CriServer::Shutdown() {
  if (streaming_) streaming_->Stop();  // ends exec/attach sessions (their processes are killed)
  if (!server_) return;
  server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  server_->Wait();
  server_.reset();
  unlink(config_.socket.c_str());
  FLINT_LOG(INFO) << "stopped serving " << config_.socket;
}

void CriServer::Wait() {
  if (server_) server_->Wait();
}

}  // namespace flint::server
