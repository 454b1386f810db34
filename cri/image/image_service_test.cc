// ImageService against an in-process fake registry: content built here with libarchive.
#include "cri/image/image_service.h"

#include <gtest/gtest.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <nlohmann/json.hpp>
#include <thread>

#include "common/fs.h"
#include "cri/image/digest.h"
#include "cri/image/fake_registry.h"
#include "cri/image/test_tar.h"

namespace flint::image {
namespace {

using nlohmann::json;
using testing::Dir;
using testing::FakeRegistry;
using testing::File;
using testing::TarCompression;

struct BuiltImage {
  std::string config_digest;
  std::string manifest_digest;
  std::string index_digest;
  std::vector<std::string> layer_digests;
};

// Publishes a two-layer image (gzip + zstd) as repo:tag, and an index for it as repo:multi.
BuiltImage Publish(FakeRegistry& registry, const std::string& repo, const std::string& marker,
                   bool corrupt_second_layer = false) {
  BuiltImage out;
  std::vector<std::vector<testing::TarEntry>> layers = {
      {Dir("etc"), File("etc/marker", marker), File("bin/tool", "tool", 04755)},
      {Dir("etc"), File("etc/.wh.marker", ""), File("data/x", std::string(200000, 'x'))}};
  json diff_ids = json::array(), layer_descs = json::array();
  for (size_t i = 0; i < layers.size(); ++i) {
    TarCompression c = i == 0 ? TarCompression::kGzip : TarCompression::kZstd;
    std::string blob = testing::TarBytes(layers[i], c);
    diff_ids.push_back(Sha256Digest(testing::TarBytes(layers[i], TarCompression::kNone)));
    std::string digest = Sha256Digest(blob);
    out.layer_digests.push_back(digest);
    layer_descs.push_back({{"mediaType", i == 0 ? "application/vnd.oci.image.layer.v1.tar+gzip"
                                                : "application/vnd.oci.image.layer.v1.tar+zstd"},
                           {"digest", digest},
                           {"size", blob.size()}});
    if (corrupt_second_layer && i == 1) blob[blob.size() / 2] ^= 0x55;
    registry.Serve(repo + "/blobs/" + digest, {"application/octet-stream", blob});
  }
  std::string config = json{{"architecture", "amd64"},
                            {"os", "linux"},
                            {"config", {{"User", "1000:1000"}, {"Env", {"A=" + marker}}}},
                            {"rootfs", {{"type", "layers"}, {"diff_ids", diff_ids}}}}
                           .dump();
  out.config_digest = Sha256Digest(config);
  registry.Serve(repo + "/blobs/" + out.config_digest, {"application/octet-stream", config});
  std::string manifest = json{
      {"schemaVersion", 2},
      {"mediaType", kMediaTypeOciManifest},
      {"config",
       {{"mediaType", "application/vnd.oci.image.config.v1+json"},
        {"digest", out.config_digest},
        {"size", config.size()}}},
      {"layers",
       layer_descs}}.dump();
  out.manifest_digest = Sha256Digest(manifest);
  registry.Serve(repo + "/manifests/latest", {kMediaTypeOciManifest, manifest});
  registry.Serve(repo + "/manifests/" + out.manifest_digest, {kMediaTypeOciManifest, manifest});
  std::string index = json{{"schemaVersion", 2},
                           {"mediaType", kMediaTypeOciIndex},
                           {"manifests",
                            {{{"mediaType", kMediaTypeOciManifest},
                              {"digest", Sha256Digest("other")},
                              {"size", 10},
                              {"platform", {{"os", "linux"}, {"architecture", "s390x"}}}},
                             {{"mediaType", kMediaTypeOciManifest},
                              {"digest", out.manifest_digest},
                              {"size", manifest.size()},
                              {"platform", {{"os", "linux"}, {"architecture", HostPlatform().architecture}}}}}}}
                          .dump();
  out.index_digest = Sha256Digest(index);
  registry.Serve(repo + "/manifests/multi", {kMediaTypeOciIndex, index});
  return out;
}

class ImageServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/var/tmp/flint-image-service-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    root_ = tmpl;
    options_.root = root_ + "/store";
    options_.registry.insecure.insert(registry_.address());
    options_.connect_timeout = std::chrono::seconds(5);
    options_.stall_timeout = std::chrono::seconds(10);
    image_ = Publish(registry_, "flint/app", "v1");
    ref_ = registry_.address() + "/flint/app:latest";
  }
  void TearDown() override {
    service_.reset();
    if (!mounted_.empty()) {
      EXPECT_EQ(umount2(mounted_.c_str(), MNT_DETACH), 0);
    }
    ASSERT_TRUE(fs::RemoveAll(root_).ok());
  }
  ImageService& Service() {
    if (!service_) {
      auto s = ImageService::Open(options_);
      EXPECT_TRUE(s.ok()) << s.status();
      service_ = std::move(*s);
    }
    return *service_;
  }
  bool Exists(const std::string& path) {
    struct stat st;
    return lstat(path.c_str(), &st) == 0;
  }

  FakeRegistry registry_;
  BuiltImage image_;
  std::string root_, ref_;
  std::string mounted_;  // a test tmpfs, unmounted in TearDown
  ImageServiceOptions options_;
  std::unique_ptr<ImageService> service_;
};

TEST_F(ImageServiceTest, PullsGzipAndZstdLayersAndReportsTheImage) {
  auto image = Service().Pull(ref_, {});
  ASSERT_TRUE(image.ok()) << image.status();
  EXPECT_EQ(image->id, image_.config_digest);
  EXPECT_EQ(image->repo_tags, std::vector<std::string>{ref_});
  EXPECT_EQ(image->repo_digests,
            std::vector<std::string>{registry_.address() + "/flint/app@" + image_.manifest_digest});
  EXPECT_GT(image->size, 200u);
  ASSERT_TRUE(image->uid.has_value());
  EXPECT_EQ(*image->uid, 1000);
  EXPECT_EQ(image->chain_ids.size(), 2u);
  auto dirs = Service().LayerDirs(image->id);
  ASSERT_TRUE(dirs.ok()) << dirs.status();
  ASSERT_EQ(dirs->size(), 2u);
  EXPECT_EQ(fs::ReadFile((*dirs)[0] + "/etc/marker").value_or(""), "v1");
  struct stat st;
  ASSERT_EQ(stat(((*dirs)[0] + "/bin/tool").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 04755u);
  ASSERT_EQ(lstat(((*dirs)[1] + "/etc/marker").c_str(), &st), 0);
  EXPECT_TRUE(S_ISCHR(st.st_mode));
  EXPECT_EQ(fs::ReadFile((*dirs)[1] + "/data/x").value_or("").size(), 200000u);
  // Compressed layer blobs are dropped once unpacked; config and manifest stay.
  EXPECT_FALSE(Exists(options_.root + "/blobs/sha256/" + DigestHex(image_.layer_digests[0])));
  EXPECT_TRUE(Exists(options_.root + "/blobs/sha256/" + DigestHex(image_.config_digest)));
  auto json_config = json::parse(image->config_json);
  EXPECT_EQ(json_config["config"]["User"], "1000:1000");
}

TEST_F(ImageServiceTest, IndexSelectsHostPlatformAndRepoDigestIsTheIndex) {
  auto image = Service().Pull(registry_.address() + "/flint/app:multi", {});
  ASSERT_TRUE(image.ok()) << image.status();
  EXPECT_EQ(image->id, image_.config_digest);
  EXPECT_EQ(image->manifest_digest, image_.manifest_digest);
  EXPECT_EQ(image->repo_digests, std::vector<std::string>{registry_.address() + "/flint/app@" + image_.index_digest});
}

TEST_F(ImageServiceTest, CorruptLayerIsDataLossAndLeavesNothing) {
  FakeRegistry bad;
  Publish(bad, "flint/bad", "v1", /*corrupt_second_layer=*/true);
  options_.registry.insecure.insert(bad.address());
  std::string bad_ref = bad.address() + "/flint/bad:latest";
  auto image = Service().Pull(bad_ref, {});
  ASSERT_FALSE(image.ok());
  EXPECT_EQ(image.status().code(), absl::StatusCode::kDataLoss) << image.status();
  EXPECT_NE(image.status().message().find(image_.layer_digests[1]), std::string::npos) << image.status();
  EXPECT_NE(image.status().message().find(bad_ref), std::string::npos) << image.status();
  auto list = Service().List();
  ASSERT_TRUE(list.ok());
  EXPECT_TRUE(list->empty());
  auto status = Service().Status(bad_ref);
  ASSERT_TRUE(status.ok());
  EXPECT_FALSE(status->has_value());
  // Nothing half-written stays in tmp/; the good first layer may stay cached but is not an image.
  auto usage = fs::MeasureDiskUsage(options_.root + "/tmp");
  ASSERT_TRUE(usage.ok());
  EXPECT_EQ(usage->inodes, 1u);  // the directory itself
}

TEST_F(ImageServiceTest, UnreachableRegistryIsUnavailableQuickly) {
  int port;
  {
    FakeRegistry closed;  // grab a free port, then close it
    port = std::stoi(closed.address().substr(closed.address().find(':') + 1));
  }
  std::string host = "127.0.0.1:" + std::to_string(port);
  options_.registry.insecure.insert(host);
  auto start = std::chrono::steady_clock::now();
  auto image = Service().Pull(host + "/flint/app:latest", {});
  auto elapsed = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(image.ok());
  EXPECT_EQ(image.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(image.status().message().rfind("RegistryUnavailable:", 0), 0u) << image.status();
  EXPECT_NE(image.status().message().find(host), std::string::npos);
  EXPECT_LT(elapsed, std::chrono::seconds(5));
}

TEST_F(ImageServiceTest, MirrorServesAWholeRegistryHost) {
  options_.registry.mirrors["registry.k8s.io"] = {"http://" + registry_.address()};
  auto image = Service().Pull("registry.k8s.io/flint/app:latest", {});
  ASSERT_TRUE(image.ok()) << image.status();
  EXPECT_EQ(image->id, image_.config_digest);
  EXPECT_EQ(image->repo_tags, std::vector<std::string>{"registry.k8s.io/flint/app:latest"});
}

TEST_F(ImageServiceTest, BearerTokenFlow) {
  registry_.RequireBearer("tok-123", "alice", "secret", "refresh-xyz");
  auto anonymous = Service().Pull(ref_, {});
  ASSERT_FALSE(anonymous.ok());
  EXPECT_EQ(anonymous.status().code(), absl::StatusCode::kUnauthenticated) << anonymous.status();

  RegistryAuth basic;
  basic.username = "alice";
  basic.password = "secret";
  auto image = Service().Pull(ref_, basic);
  ASSERT_TRUE(image.ok()) << image.status();
  ASSERT_TRUE(Service().Remove(image->id).ok());

  RegistryAuth encoded;
  encoded.auth = "YWxpY2U6c2VjcmV0";  // alice:secret
  EXPECT_TRUE(Service().Pull(ref_, encoded).ok());

  RegistryAuth refresh;
  refresh.identity_token = "refresh-xyz";
  EXPECT_TRUE(Service().Pull(ref_, refresh).ok());

  int token_requests = registry_.token_requests();
  RegistryAuth direct;
  direct.registry_token = "tok-123";
  EXPECT_TRUE(Service().Pull(ref_, direct).ok());
  EXPECT_EQ(registry_.token_requests(), token_requests);  // sent as is, no token exchange

  RegistryAuth wrong;
  wrong.username = "alice";
  wrong.password = "nope";
  auto denied = Service().Pull(ref_, wrong);
  ASSERT_FALSE(denied.ok());
  EXPECT_EQ(denied.status().code(), absl::StatusCode::kUnauthenticated) << denied.status();
}

TEST_F(ImageServiceTest, FollowsBlobRedirectsBehindBearerAuth) {
  registry_.RequireBearer("tok-123", "alice", "secret", "");
  for (const std::string& digest : image_.layer_digests) {
    registry_.Redirect("flint/app/blobs/" + digest, "/cdn/" + digest);
  }
  RegistryAuth basic;
  basic.username = "alice";
  basic.password = "secret";
  auto image = Service().Pull(ref_, basic);
  ASSERT_TRUE(image.ok()) << image.status();
  auto dirs = Service().LayerDirs(image->id);
  ASSERT_TRUE(dirs.ok());
  EXPECT_EQ(fs::ReadFile((*dirs)[0] + "/etc/marker").value_or(""), "v1");
  EXPECT_EQ(registry_.redirected_requests(), 2);
}

TEST_F(ImageServiceTest, ConcurrentPullsShareDownloads) {
  ImageService& service = Service();
  std::vector<std::thread> threads;
  std::vector<absl::StatusOr<Image>> results(4, absl::UnknownError("not run"));
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&, i] { results[i] = service.Pull(ref_, {}); });
  }
  for (auto& t : threads) t.join();
  for (auto& r : results) {
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->id, image_.config_digest);
  }
  EXPECT_EQ(Service().layer_downloads(), 2u);
  // A second pull finds everything in place.
  ASSERT_TRUE(Service().Pull(ref_, {}).ok());
  EXPECT_EQ(Service().layer_downloads(), 2u);
}

TEST_F(ImageServiceTest, RemoveDropsAllNamesAndUnusedLayersButKeepsLeasedOnes) {
  auto by_tag = Service().Pull(ref_, {});
  ASSERT_TRUE(by_tag.ok()) << by_tag.status();
  auto by_digest = Service().Pull(registry_.address() + "/flint/app@" + image_.manifest_digest, {});
  ASSERT_TRUE(by_digest.ok()) << by_digest.status();
  EXPECT_EQ(by_digest->id, by_tag->id);
  EXPECT_EQ(by_digest->repo_tags.size(), 1u);  // the digest pull added no tag
  EXPECT_EQ(by_digest->repo_digests.size(), 1u);
  auto tag_and_digest = Service().Pull(registry_.address() + "/flint/app:v9@" + image_.manifest_digest, {});
  ASSERT_TRUE(tag_and_digest.ok()) << tag_and_digest.status();
  EXPECT_EQ(tag_and_digest->repo_tags, std::vector<std::string>{ref_});  // no unverified ":v9"

  auto dirs = Service().LayerDirs(ref_);
  ASSERT_TRUE(dirs.ok());
  ASSERT_TRUE(Service().LeaseLayers("container-1", by_tag->id).ok());
  ASSERT_TRUE(Service().Remove(registry_.address() + "/flint/app@" + image_.manifest_digest).ok());
  for (const std::string& ref : {ref_, by_tag->id, image_.manifest_digest}) {
    auto status = Service().Status(ref);
    ASSERT_TRUE(status.ok());
    EXPECT_FALSE(status->has_value()) << ref;
  }
  EXPECT_TRUE(Service().List()->empty());
  for (const std::string& d : *dirs) EXPECT_TRUE(Exists(d)) << d;  // leased by container-1
  ASSERT_TRUE(Service().ReleaseLayers("container-1").ok());
  for (const std::string& d : *dirs) EXPECT_FALSE(Exists(d)) << d;
  EXPECT_TRUE(Service().Remove(ref_).ok());  // unknown image: success
}

TEST_F(ImageServiceTest, StatusAcceptsEveryReferenceForm) {
  auto image = Service().Pull(ref_, {});
  ASSERT_TRUE(image.ok()) << image.status();
  std::string hex = DigestHex(image->id);
  for (const std::string& ref : {ref_, registry_.address() + "/flint/app", image->id, hex, hex.substr(0, 12),
                                 registry_.address() + "/flint/app@" + image_.manifest_digest}) {
    auto status = Service().Status(ref);
    ASSERT_TRUE(status.ok()) << ref << ": " << status.status();
    ASSERT_TRUE(status->has_value()) << ref;
    EXPECT_EQ((*status)->id, image->id) << ref;
    auto list = Service().List(ref);
    ASSERT_TRUE(list.ok());
    EXPECT_EQ(list->size(), 1u) << ref;
  }
  for (const std::string& ref :
       {registry_.address() + "/flint/app:other", std::string("busybox"), std::string("sha256:00")}) {
    auto status = Service().Status(ref);
    ASSERT_TRUE(status.ok()) << ref;
    EXPECT_FALSE(status->has_value()) << ref;
  }
  auto fs_info = Service().FsInfo();
  ASSERT_TRUE(fs_info.ok());
  EXPECT_EQ(fs_info->mountpoint, options_.root);
  EXPECT_GT(fs_info->used_bytes, 200000u);
  EXPECT_GT(fs_info->inodes_used, 5u);
}

TEST_F(ImageServiceTest, RestartCleansLeftoversAndKeepsImages) {
  auto image = Service().Pull(ref_, {});
  ASSERT_TRUE(image.ok()) << image.status();
  service_.reset();
  // Leftovers of a killed pull: a partial blob, a partial unpack, an uncommitted layer directory.
  ASSERT_TRUE(fs::WriteFileAtomic(options_.root + "/tmp/partial", "x").ok());
  ASSERT_TRUE(fs::MakeDirs(options_.root + "/tmp/unpack-abc/fs").ok());
  ASSERT_TRUE(fs::MakeDirs(options_.root + "/snapshots/" + std::string(64, 'e') + "/fs").ok());
  auto status = Service().Status(ref_);
  ASSERT_TRUE(status.ok());
  ASSERT_TRUE(status->has_value());
  EXPECT_FALSE(Exists(options_.root + "/tmp/partial"));
  EXPECT_FALSE(Exists(options_.root + "/tmp/unpack-abc"));
  EXPECT_FALSE(Exists(options_.root + "/snapshots/" + std::string(64, 'e')));
  auto dirs = Service().LayerDirs(ref_);
  ASSERT_TRUE(dirs.ok());
  for (const std::string& d : *dirs) EXPECT_TRUE(Exists(d));
}

TEST_F(ImageServiceTest, StalledDownloadIsUnavailableAfterTheStallTimeout) {
  FakeRegistry slow;
  Publish(slow, "flint/slow", "v1");
  slow.StallBlobs();
  options_.registry.insecure.insert(slow.address());
  options_.stall_timeout = std::chrono::seconds(1);
  auto start = std::chrono::steady_clock::now();
  auto image = Service().Pull(slow.address() + "/flint/slow:latest", {});
  auto elapsed = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(image.ok());
  EXPECT_EQ(image.status().code(), absl::StatusCode::kUnavailable) << image.status();
  EXPECT_EQ(image.status().message().rfind("RegistryUnavailable:", 0), 0u) << image.status();
  EXPECT_NE(image.status().message().find("no progress for 1s"), std::string::npos) << image.status();
  EXPECT_LT(elapsed, std::chrono::seconds(5));
  EXPECT_TRUE(Service().List()->empty());
}

TEST_F(ImageServiceTest, CancelledPullStopsAndLeavesNoImage) {
  PullOptions cancelled;
  cancelled.cancelled = [] { return true; };
  auto image = Service().Pull(ref_, {}, cancelled);
  ASSERT_FALSE(image.ok());
  EXPECT_EQ(image.status().code(), absl::StatusCode::kCancelled) << image.status();
  EXPECT_TRUE(Service().List()->empty());
}

TEST_F(ImageServiceTest, FullDiskIsResourceExhausted) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to mount a small tmpfs";
  std::string small = root_ + "/small";
  ASSERT_TRUE(fs::MakeDirs(small).ok());
  ASSERT_EQ(mount("tmpfs", small.c_str(), "tmpfs", 0, "size=160k"), 0) << strerror(errno);
  mounted_ = small;
  options_.root = small + "/store";
  {
    auto service = ImageService::Open(options_);
    ASSERT_TRUE(service.ok()) << service.status();
    auto image = (*service)->Pull(ref_, {});  // the second layer unpacks to 200 kB
    ASSERT_FALSE(image.ok());
    EXPECT_EQ(image.status().code(), absl::StatusCode::kResourceExhausted) << image.status();
    EXPECT_TRUE((*service)->List()->empty());
  }
}

TEST_F(ImageServiceTest, BadReferencesAndMissingImages) {
  auto bad = Service().Pull("Not/Valid", {});
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  auto missing = Service().Pull(registry_.address() + "/flint/none:latest", {});
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound) << missing.status();
}

}  // namespace
}  // namespace flint::image
