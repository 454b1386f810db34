// ImageService::Pull: resolve the manifest (mirrors first), fetch the config, download and unpack
// the layers in parallel (shared with concurrent pulls), then commit the image in one transaction.
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <thread>

#include "absl/strings/str_cat.h"
#include "common/fs.h"
#include "common/log.h"
#include "cri/image/digest.h"
#include "cri/image/errors.h"
#include "cri/image/image_service.h"
#include "cri/image/layer_unpacker.h"

namespace flint::image {
namespace {

// A mirror failing this way may be fine at the next endpoint.
bool TryNextEndpoint(const absl::Status& s) {
  switch (s.code()) {
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kNotFound:
    case absl::StatusCode::kUnauthenticated:
    case absl::StatusCode::kPermissionDenied:
    case absl::StatusCode::kUnknown:
      return true;
    default:
      return false;
  }
}

std::string BlobPin(const std::string& digest) { return "blob:" + digest; }

}  // namespace

struct ImageService::PullContext {
  Reference ref;
  PullOptions options;
  std::atomic<bool> failed{false};
  std::string top_digest;  // what the tag or digest points to (an index for multi-arch images)
  std::string manifest_digest;
  Manifest manifest;
  ImageConfig config;
  std::vector<std::string> chain_ids;
  bool Cancelled() const { return failed.load() || (options.cancelled && options.cancelled()); }
};

struct ImageService::ResolvedManifest {
  std::string top_digest;
  std::string manifest_digest;
  std::string body;
  Manifest manifest;
};

// Holds pins for the lifetime of a pull stage.
class ImageService::Pins {
 public:
  explicit Pins(ImageService* service) : service_(service) {}
  ~Pins() {
    std::lock_guard<std::mutex> lock(service_->pins_mu_);
    for (const std::string& key : keys_) {
      auto it = service_->pins_.find(key);
      if (--it->second > 0) continue;
      service_->pins_.erase(it);
      if (layer_blobs_.count(key)) {
        // Unpacked by now (or failed): the compressed blob is not needed any more.
        (void)service_->content_.Delete(key.substr(5));
      }
    }
  }
  void Add(const std::string& key, bool is_layer_blob = false) {
    std::lock_guard<std::mutex> lock(service_->pins_mu_);
    ++service_->pins_[key];
    keys_.push_back(key);
    if (is_layer_blob) layer_blobs_.insert(key);
  }

 private:
  ImageService* service_;
  std::vector<std::string> keys_;
  std::set<std::string> layer_blobs_;
};

absl::StatusOr<Image> ImageService::Pull(const std::string& ref_text, const RegistryAuth& auth,
                                         const PullOptions& options) {
  absl::StatusOr<Reference> ref = ParseReference(ref_text);
  if (!ref.ok()) return ref.status();
  auto started = std::chrono::steady_clock::now();
  HttpTimeouts timeouts{options_.connect_timeout, options_.stall_timeout, std::chrono::seconds(0)};
  std::string mirror_errors;
  for (const Endpoint& endpoint : EndpointsFor(options_.registry, ref->domain)) {
    PullContext ctx;
    ctx.ref = *ref;
    ctx.options = options;
    RegistrySession session(endpoint, ref->repository, auth, timeouts, [&ctx] { return ctx.Cancelled(); });
    absl::StatusOr<Image> image = PullFrom(ctx, session);
    if (image.ok()) {
      auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
      FLINT_LOG(INFO) << "pulled " << ref->String() << " from " << endpoint.base_url << " id=" << image->id
                      << " layers=" << image->chain_ids.size() << " size=" << image->size << " took_ms=" << ms.count();
      return image;
    }
    if (endpoint.mirror && TryNextEndpoint(image.status())) {
      FLINT_LOG(WARN) << "pull " << ref->String() << ": mirror " << endpoint.base_url
                      << " failed, trying the next endpoint: " << image.status();
      absl::StrAppend(&mirror_errors, "; mirror ", endpoint.base_url, ": ", image.status().message());
      continue;
    }
    absl::Status s = image.status();
    if (!mirror_errors.empty()) s = absl::Status(s.code(), absl::StrCat(s.message(), mirror_errors));
    return WithContext(s, absl::StrCat("pull ", ref->String(), " from ", endpoint.base_url));
  }
  return absl::InternalError("no registry endpoint");  // EndpointsFor always includes the registry itself
}

absl::StatusOr<ImageService::ResolvedManifest> ImageService::ResolveManifest(const Reference& ref,
                                                                             RegistrySession& session) {
  auto top = session.GetManifest(ref.digest.empty() ? ref.tag : ref.digest);
  if (!top.ok()) return top.status();
  auto kind = ClassifyManifest(top->content_type, top->body);
  if (!kind.ok()) return WithContext(kind.status(), absl::StrCat("manifest ", top->digest));
  ResolvedManifest out{top->digest, top->digest, std::move(top->body), {}};
  if (*kind == ManifestKind::kIndex) {
    auto entries = ParseIndex(out.body);
    if (!entries.ok()) return WithContext(entries.status(), absl::StrCat("index ", out.top_digest));
    auto chosen = SelectPlatform(*entries, options_.platform);
    if (!chosen.ok()) return WithContext(chosen.status(), absl::StrCat("index ", out.top_digest));
    auto platform_manifest = session.GetManifest(chosen->digest);
    if (!platform_manifest.ok()) return platform_manifest.status();
    auto inner = ClassifyManifest(platform_manifest->content_type, platform_manifest->body);
    if (!inner.ok()) return WithContext(inner.status(), absl::StrCat("manifest ", chosen->digest));
    if (*inner != ManifestKind::kManifest) {
      return absl::InvalidArgumentError(absl::StrCat("manifest ", chosen->digest, ": nested index is not supported"));
    }
    out.manifest_digest = chosen->digest;
    out.body = std::move(platform_manifest->body);
  }
  auto manifest = ParseManifest(out.body);
  if (!manifest.ok()) return WithContext(manifest.status(), absl::StrCat("manifest ", out.manifest_digest));
  out.manifest = std::move(*manifest);
  return out;
}

absl::Status ImageService::FetchConfig(PullContext& ctx, RegistrySession& session) {
  const Descriptor& desc = ctx.manifest.config;
  absl::Status fetched = blob_downloads_.Do(desc.digest, [&] {
    if (content_.Has(desc.digest)) return absl::OkStatus();
    return content_.Ingest(desc.digest, desc.size, absl::StrCat("config from ", session.Describe()),
                           [&](const BlobSink& sink) { return session.GetBlob(desc.digest, sink); });
  });
  if (!fetched.ok()) return fetched;
  auto json = content_.Read(desc.digest);
  if (!json.ok()) return json.status();
  auto config = ParseImageConfig(*json);
  if (!config.ok()) return config.status();
  if (config->diff_ids.size() != ctx.manifest.layers.size()) {
    return absl::InvalidArgumentError(absl::StrCat("manifest ", ctx.manifest_digest, " lists ",
                                                   ctx.manifest.layers.size(), " layers but the config has ",
                                                   config->diff_ids.size(), " diff_ids"));
  }
  ctx.config = std::move(*config);
  std::string chain;
  for (const std::string& diff_id : ctx.config.diff_ids) {
    chain = ChainId(chain, diff_id);
    ctx.chain_ids.push_back(chain);
  }
  return absl::OkStatus();
}

absl::StatusOr<Image> ImageService::PullFrom(PullContext& ctx, RegistrySession& session) {
  auto resolved = ResolveManifest(ctx.ref, session);
  if (!resolved.ok()) return resolved.status();
  ctx.top_digest = resolved->top_digest;
  ctx.manifest_digest = resolved->manifest_digest;
  ctx.manifest = std::move(resolved->manifest);
  const std::string config_digest = ctx.manifest.config.digest;

  Pins pins(this);
  pins.Add(BlobPin(config_digest));
  pins.Add(BlobPin(ctx.manifest_digest));
  if (absl::Status s = FetchConfig(ctx, session); !s.ok()) {
    return WithContext(s, absl::StrCat("config ", config_digest));
  }
  if (!content_.Has(ctx.manifest_digest)) {
    absl::Status s =
        content_.Put(ctx.manifest_digest, resolved->body, absl::StrCat("manifest from ", session.Describe()));
    if (!s.ok()) return s;
  }
  for (const std::string& c : ctx.chain_ids) pins.Add(c);
  for (const Descriptor& l : ctx.manifest.layers) pins.Add(BlobPin(l.digest), /*is_layer_blob=*/true);
  if (absl::Status s = FetchLayers(ctx, session); !s.ok()) return s;

  ImageRecord record;
  record.id = config_digest;
  record.manifest_digest = ctx.manifest_digest;
  record.size = ctx.manifest.config.size;
  for (const Descriptor& l : ctx.manifest.layers) record.size += l.size;
  record.chain_ids = ctx.chain_ids;
  // name:tag@digest pulls by digest; the tag is not verified to point there, so it is not recorded.
  if (!ctx.ref.tag.empty() && ctx.ref.digest.empty()) record.tags.push_back(ctx.ref.TaggedName());
  record.digests.push_back(absl::StrCat(ctx.ref.Name(), "@", ctx.top_digest));
  if (absl::Status s = metadata_->PutImage(record); !s.ok()) return WithContext(s, "commit image " + config_digest);
  auto stored = metadata_->GetImage(config_digest);
  if (!stored.ok()) return stored.status();
  if (!*stored) return absl::InternalError(absl::StrCat("image ", config_digest, " vanished after commit"));
  return ToImage(**stored);
}

absl::Status ImageService::FetchLayers(PullContext& ctx, RegistrySession& session) {
  absl::Status first_error;
  std::mutex error_mu;
  std::atomic<size_t> next{0};
  size_t count = ctx.manifest.layers.size();
  size_t workers = std::min<size_t>(static_cast<size_t>(options_.max_concurrent_downloads), count);
  std::vector<std::thread> threads;
  for (size_t w = 0; w < workers; ++w) {
    threads.emplace_back([&] {
      for (size_t i = next++; i < count && !ctx.failed.load(); i = next++) {
        absl::Status s = EnsureLayer(ctx, session, i);
        if (s.ok()) continue;
        std::lock_guard<std::mutex> lock(error_mu);
        // The first error is the cause; later ones are usually the cancellation it triggers.
        if (first_error.ok()) first_error = s;
        ctx.failed = true;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  if (first_error.ok() && ctx.options.cancelled && ctx.options.cancelled()) {
    return absl::CancelledError("pull cancelled");
  }
  return first_error;
}

absl::Status ImageService::EnsureLayer(PullContext& ctx, RegistrySession& session, size_t index) {
  const std::string& chain_id = ctx.chain_ids[index];
  const Descriptor& desc = ctx.manifest.layers[index];
  const std::string& diff_id = ctx.config.diff_ids[index];
  auto have = metadata_->HasLayer(chain_id);
  if (!have.ok()) return have.status();
  if (*have) return absl::OkStatus();
  // Each layer directory is self-contained (an overlay lowerdir), so layers unpack independently
  // and in any order; only the image commit waits for all of them.
  absl::Status status = layer_unpacks_.Do(chain_id, [&]() -> absl::Status {
    auto again = metadata_->HasLayer(chain_id);  // committed by a job that ended just before ours
    if (!again.ok()) return again.status();
    if (*again) return absl::OkStatus();
    absl::Status blob = blob_downloads_.Do(desc.digest, [&] {
      if (content_.Has(desc.digest)) return absl::OkStatus();
      ++layer_downloads_;
      return content_.Ingest(desc.digest, desc.size, absl::StrCat("layer from ", session.Describe()),
                             [&](const BlobSink& sink) { return session.GetBlob(desc.digest, sink); });
    });
    if (!blob.ok()) return blob;
    if (ctx.Cancelled()) return absl::CancelledError("pull cancelled");
    static std::atomic<uint64_t> counter{0};
    std::string tmp =
        absl::StrCat(content_.TempDir(), "/unpack-", DigestHex(chain_id).substr(0, 12), "-", getpid(), "-", counter++);
    if (absl::Status s = fs::MakeDirs(tmp + "/fs", 0755); !s.ok()) return s;
    auto unpacked = UnpackLayer(content_.BlobPath(desc.digest), tmp + "/fs");
    absl::Status s = unpacked.status();
    if (s.ok() && unpacked->diff_id != diff_id) {
      s = absl::DataLossError(absl::StrCat("uncompressed content has digest ", unpacked->diff_id,
                                           " but the config says diff_id ", diff_id));
    }
    std::string final_dir = absl::StrCat(options_.root, "/snapshots/", DigestHex(chain_id));
    if (s.ok()) s = fs::RemoveAll(final_dir);  // an uncommitted leftover
    if (s.ok() && rename(tmp.c_str(), final_dir.c_str()) != 0) s = ErrnoStatus(errno, "rename " + tmp);
    if (s.ok()) s = metadata_->PutLayer({chain_id, diff_id, static_cast<int64_t>(unpacked->unpacked_bytes)});
    if (!s.ok()) (void)fs::RemoveAll(tmp);
    return s;
  });
  return WithContext(status, absl::StrCat("layer ", desc.digest));
}

}  // namespace flint::image
