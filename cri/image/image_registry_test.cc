// ImageService against a real registry (Debian's docker-registry via hack/registry.sh) serving the
// images pushed by hack/images.sh. Skipped when those scripts are missing.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

#include <chrono>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <thread>

#include "common/fs.h"
#include "cri/image/digest.h"
#include "cri/image/fake_registry.h"
#include "cri/image/http_client.h"
#include "cri/image/image_service.h"

namespace flint::image {
namespace {

using nlohmann::json;

const std::string kSource = FLINT_SOURCE_DIR;

struct Published {
  std::string image;     // 127.0.0.1:5055/flint/busybox:latest
  std::string manifest;  // what the tag points to (index digest for multi-arch)
  std::string id;        // config digest of the amd64 image
};

class RegistryEnvironment : public ::testing::Environment {
 public:
  void SetUp() override {
    if (access((kSource + "/hack/registry.sh").c_str(), X_OK) != 0 ||
        access((kSource + "/hack/images.sh").c_str(), X_OK) != 0) {
      skip_reason = "hack/registry.sh or hack/images.sh not present";
      return;
    }
    // Like the e2e fixture, the registries are shared test infrastructure: started when missing and
    // left running, since other test processes may be pulling from them concurrently.
    if (!Run(kSource + "/hack/registry.sh start") || !Run(kSource + "/hack/registry.sh start-auth")) {
      skip_reason = "hack/registry.sh start failed";
      return;
    }
    if (!Run("timeout 600 " + kSource + "/hack/images.sh")) {
      skip_reason = "hack/images.sh failed";
      return;
    }
    const char* dir = std::getenv("FLINT_IMAGES_DIR");
    auto text = fs::ReadFile(std::string(dir != nullptr ? dir : "/var/tmp/flint-images") + "/images.json");
    if (!text.ok()) {
      skip_reason = "images.json missing";
      return;
    }
    json j = json::parse(*text, nullptr, false);
    registry = j.value("registry", "");
    auth_registry = Output(kSource + "/hack/registry.sh addr-auth");
    for (const json& e : j["images"]) {
      Published p{e["image"], e["manifest"], e["config"].is_string() ? e["config"].get<std::string>() : ""};
      if (e.contains("platforms")) {
        for (const json& pl : e["platforms"]) {
          if (pl["platform"] == "linux/amd64") p.id = pl["config"];
        }
      }
      images[p.image] = p;
    }
  }
  static bool Run(const std::string& cmd) { return std::system((cmd + " >/dev/null 2>&1").c_str()) == 0; }
  static std::string Output(const std::string& cmd) {
    std::string out;
    if (FILE* f = popen(cmd.c_str(), "r")) {
      char buf[256];
      while (fgets(buf, sizeof(buf), f) != nullptr) out += buf;
      pclose(f);
    }
    while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
    return out;
  }

  std::string skip_reason;
  std::string registry;       // host:port of the plain registry
  std::string auth_registry;  // host:port of the htpasswd one (user flint, password flintpass)
  std::map<std::string, Published> images;
};

RegistryEnvironment* env = nullptr;

class ImageRegistryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!env->skip_reason.empty()) GTEST_SKIP() << "needs the test registry: " << env->skip_reason;
    char tmpl[] = "/var/tmp/flint-image-registry-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    root_ = tmpl;
    options_.root = root_ + "/store";
    registry_ = env->registry;
    options_.registry.insecure = {registry_, env->auth_registry};
    options_.connect_timeout = std::chrono::seconds(5);
    options_.stall_timeout = std::chrono::seconds(30);
  }
  void TearDown() override {
    service_.reset();
    if (!root_.empty()) {
      ASSERT_TRUE(fs::RemoveAll(root_).ok());
    }
  }
  ImageService& Service() {
    if (!service_) {
      auto s = ImageService::Open(options_);
      EXPECT_TRUE(s.ok()) << s.status();
      service_ = std::move(*s);
    }
    return *service_;
  }
  const Published& Image(const std::string& name) {
    auto it = env->images.find(registry_ + "/" + name);
    EXPECT_NE(it, env->images.end()) << name << " not in images.json";
    static Published none;
    return it == env->images.end() ? none : it->second;
  }
  struct stat Lstat(const std::string& path) {
    struct stat st {};
    EXPECT_EQ(lstat(path.c_str(), &st), 0) << path;
    return st;
  }
  bool Exists(const std::string& path) {
    struct stat st;
    return lstat(path.c_str(), &st) == 0;
  }

  std::string registry_;
  std::string root_;
  ImageServiceOptions options_;
  std::unique_ptr<ImageService> service_;
};

TEST_F(ImageRegistryTest, PullsEveryPublishedImageAndEveryReferenceFormAgrees) {
  ASSERT_FALSE(env->images.empty());
  for (const auto& [name, published] : env->images) {
    if (name.find("/flint/large") != std::string::npos) continue;
    auto image = Service().Pull(name, {});
    ASSERT_TRUE(image.ok()) << name << ": " << image.status();
    EXPECT_EQ(image->id, published.id) << name;
    EXPECT_GT(image->size, 0u);
    std::string repo = name.substr(0, name.rfind(':'));
    std::string repo_digest = repo + "@" + published.manifest;
    EXPECT_NE(std::find(image->repo_tags.begin(), image->repo_tags.end(), name), image->repo_tags.end()) << name;
    EXPECT_NE(std::find(image->repo_digests.begin(), image->repo_digests.end(), repo_digest), image->repo_digests.end())
        << name;
    std::string hex = DigestHex(image->id);
    for (const std::string& ref : {name, image->id, hex, hex.substr(0, 12), repo_digest}) {
      auto status = Service().Status(ref);
      ASSERT_TRUE(status.ok()) << ref;
      ASSERT_TRUE(status->has_value()) << ref;
      EXPECT_EQ((*status)->id, image->id) << ref;
    }
  }
  auto busybox = Service().Status(registry_ + "/flint/busybox");  // no tag: latest
  ASSERT_TRUE(busybox.ok() && busybox->has_value());
  EXPECT_EQ((*busybox)->id, Image("flint/busybox:latest").id);
  // Same config in busybox:latest, :1.36 and busybox-docker: one image with all names.
  EXPECT_GE((*busybox)->repo_tags.size(), 3u);
}

TEST_F(ImageRegistryTest, LayersImageHasWhiteoutsOpaqueDirsAndSpecialFilesOnDisk) {
  auto image = Service().Pull(registry_ + "/flint/layers:latest", {});
  ASSERT_TRUE(image.ok()) << image.status();
  auto dirs = Service().LayerDirs(image->id);
  ASSERT_TRUE(dirs.ok());
  ASSERT_EQ(dirs->size(), 3u);
  const std::string& base = (*dirs)[0];
  const std::string& files = (*dirs)[1];
  const std::string& whiteouts = (*dirs)[2];
  EXPECT_TRUE(S_ISREG(Lstat(base + "/bin/busybox").st_mode));
  EXPECT_TRUE(S_ISLNK(Lstat(base + "/bin/sh").st_mode));
  EXPECT_EQ(Lstat(base + "/tmp").st_mode & 07777, 01777u);
  EXPECT_EQ(Lstat(files + "/special/setuid").st_mode & 07777, 04755u);
  EXPECT_EQ(Lstat(files + "/special/hardlink-to-b").st_ino, Lstat(files + "/data/b").st_ino);
  EXPECT_TRUE(S_ISLNK(Lstat(files + "/special/symlink-to-b").st_mode));
  char value[16] = {};
  EXPECT_EQ(getxattr((files + "/special/xattr").c_str(), "user.flint", value, sizeof(value)), 3);
  EXPECT_STREQ(value, "yes");
  struct stat wh = Lstat(whiteouts + "/data/a");
  EXPECT_TRUE(S_ISCHR(wh.st_mode));
  EXPECT_EQ(wh.st_rdev, makedev(0, 0));
  char opaque[4] = {};
  EXPECT_EQ(getxattr((whiteouts + "/opq").c_str(), "trusted.overlay.opaque", opaque, sizeof(opaque)), 1);
  EXPECT_EQ(opaque[0], 'y');
  EXPECT_TRUE(Exists(whiteouts + "/opq/new"));
  EXPECT_FALSE(Exists(whiteouts + "/opq/.wh..wh..opq"));
}

TEST_F(ImageRegistryTest, UserComesFromTheConfig) {
  auto config = Service().Pull(registry_ + "/flint/config:latest", {});
  ASSERT_TRUE(config.ok()) << config.status();
  ASSERT_TRUE(config->uid.has_value());
  EXPECT_EQ(*config->uid, 1000);
  EXPECT_EQ(json::parse(config->config_json)["config"]["WorkingDir"], "/work");
  auto named = Service().Pull(registry_ + "/flint/user-name:latest", {});
  ASSERT_TRUE(named.ok()) << named.status();
  EXPECT_FALSE(named->uid.has_value());
  EXPECT_EQ(named->username, "flint");
  auto uid_group = Service().Pull(registry_ + "/flint/user-uid-group:latest", {});
  ASSERT_TRUE(uid_group.ok()) << uid_group.status();
  ASSERT_TRUE(uid_group->uid.has_value());
  EXPECT_EQ(*uid_group->uid, 1003);
}

TEST_F(ImageRegistryTest, RemoveDropsAllNamesAndOnlyUnsharedLayers) {
  std::string latest = registry_ + "/flint/busybox:latest";
  std::string v136 = registry_ + "/flint/busybox:1.36";
  ASSERT_TRUE(Service().Pull(latest, {}).ok());
  auto busybox = Service().Pull(v136, {});
  ASSERT_TRUE(busybox.ok()) << busybox.status();
  EXPECT_EQ(busybox->repo_tags.size(), 2u);
  auto layers = Service().Pull(registry_ + "/flint/layers:latest", {});
  ASSERT_TRUE(layers.ok()) << layers.status();
  auto layer_dirs = Service().LayerDirs(layers->id);
  ASSERT_TRUE(layer_dirs.ok());
  EXPECT_EQ((*Service().LayerDirs(busybox->id))[0], (*layer_dirs)[0]);  // shared base layer

  ASSERT_TRUE(Service().Remove(v136).ok());
  for (const std::string& ref : {latest, v136, busybox->id}) {
    auto status = Service().Status(ref);
    ASSERT_TRUE(status.ok());
    EXPECT_FALSE(status->has_value()) << ref;
  }
  auto list = Service().List();
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ((*list)[0].id, layers->id);
  for (const std::string& d : *layer_dirs) EXPECT_TRUE(Exists(d)) << d;  // still used by flint/layers
  EXPECT_TRUE(Service().Remove(v136).ok());                              // idempotent
  ASSERT_TRUE(Service().Remove(layers->id).ok());
  for (const std::string& d : *layer_dirs) EXPECT_FALSE(Exists(d)) << d;
}

TEST_F(ImageRegistryTest, ConcurrentPullsOfTheSameImageShareWork) {
  ImageService& service = Service();
  std::string ref = registry_ + "/flint/layers:latest";
  std::vector<absl::StatusOr<flint::image::Image>> results(3, absl::UnknownError("not run"));
  std::vector<std::thread> threads;
  for (size_t i = 0; i < results.size(); ++i) threads.emplace_back([&, i] { results[i] = service.Pull(ref, {}); });
  for (auto& t : threads) t.join();
  for (auto& r : results) {
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->id, Image("flint/layers:latest").id);
  }
  EXPECT_EQ(service.layer_downloads(), 3u);  // three layers, each downloaded once
}

TEST_F(ImageRegistryTest, PullByDigestAddsOnlyARepoDigest) {
  const Published& p = Image("flint/busybox:latest");
  std::string ref = registry_ + "/flint/busybox@" + p.manifest;
  auto image = Service().Pull(ref, {});
  ASSERT_TRUE(image.ok()) << image.status();
  EXPECT_TRUE(image->repo_tags.empty());
  EXPECT_EQ(image->repo_digests, std::vector<std::string>{ref});
}

TEST_F(ImageRegistryTest, MirrorRedirectsDockerHubToTheLocalRegistry) {
  options_.registry.mirrors["docker.io"] = {"http://" + registry_};
  auto image = Service().Pull("docker.io/flint/busybox:latest", {});
  ASSERT_TRUE(image.ok()) << image.status();
  EXPECT_EQ(image->id, Image("flint/busybox:latest").id);
  EXPECT_EQ(image->repo_tags, std::vector<std::string>{"docker.io/flint/busybox:latest"});
  auto short_name = Service().Status("flint/busybox");
  ASSERT_TRUE(short_name.ok() && short_name->has_value());
  EXPECT_EQ((*short_name)->id, image->id);
}

TEST_F(ImageRegistryTest, BasicAuthRegistry) {
  std::string ref = env->auth_registry + "/flint/busybox:latest";
  auto anonymous = Service().Pull(ref, {});
  ASSERT_FALSE(anonymous.ok());
  EXPECT_EQ(anonymous.status().code(), absl::StatusCode::kUnauthenticated) << anonymous.status();
  RegistryAuth wrong;
  wrong.username = "flint";
  wrong.password = "wrong";
  auto denied = Service().Pull(ref, wrong);
  ASSERT_FALSE(denied.ok());
  EXPECT_EQ(denied.status().code(), absl::StatusCode::kUnauthenticated) << denied.status();
  RegistryAuth good;
  good.username = "flint";
  good.password = "flintpass";
  auto image = Service().Pull(ref, good);
  ASSERT_TRUE(image.ok()) << image.status();
  EXPECT_EQ(image->id, Image("flint/busybox:latest").id);
}

TEST_F(ImageRegistryTest, CorruptBlobFromTheRegistryIsDataLoss) {
  // Serve the real busybox manifest and config, with one flipped byte in the layer.
  const Published& p = Image("flint/busybox:latest");
  auto fetch = [](const std::string& path, std::string* content_type) -> std::string {
    HttpRequest req;
    req.url = "http://" + env->registry + "/v2/flint/busybox/" + path;
    req.headers = {ManifestAcceptHeader()};
    req.max_body_bytes = 64 << 20;
    auto resp = HttpDo(req, {std::chrono::seconds(5), std::chrono::seconds(10), std::chrono::seconds(60)});
    EXPECT_TRUE(resp.ok() && resp->status == 200) << path;
    if (content_type != nullptr && resp.ok()) *content_type = resp->headers["content-type"];
    return resp.ok() ? resp->body : "";
  };
  std::string manifest_type;
  std::string manifest = fetch("manifests/" + p.manifest, &manifest_type);
  json m = json::parse(manifest);
  testing::FakeRegistry bad;
  bad.Serve("flint/busybox/manifests/latest", {manifest_type, manifest});
  std::string config_digest = m["config"]["digest"];
  bad.Serve("flint/busybox/blobs/" + config_digest,
            {"application/octet-stream", fetch("blobs/" + config_digest, nullptr)});
  std::string layer_digest = m["layers"][0]["digest"];
  std::string layer = fetch("blobs/" + layer_digest, nullptr);
  ASSERT_FALSE(layer.empty());
  layer[layer.size() / 3] ^= 0x01;
  bad.Serve("flint/busybox/blobs/" + layer_digest, {"application/octet-stream", layer});

  options_.registry.insecure.insert(bad.address());
  auto image = Service().Pull(bad.address() + "/flint/busybox:latest", {});
  ASSERT_FALSE(image.ok());
  EXPECT_EQ(image.status().code(), absl::StatusCode::kDataLoss) << image.status();
  EXPECT_NE(image.status().message().find(layer_digest), std::string::npos) << image.status();
  EXPECT_TRUE(Service().List()->empty());
  auto status = Service().Status(config_digest);
  ASSERT_TRUE(status.ok());
  EXPECT_FALSE(status->has_value());
}

TEST_F(ImageRegistryTest, ColdPullTimeOfBusybox) {
  auto start = std::chrono::steady_clock::now();
  auto image = Service().Pull(registry_ + "/flint/busybox:latest", {});
  auto cold = std::chrono::steady_clock::now() - start;
  ASSERT_TRUE(image.ok()) << image.status();
  start = std::chrono::steady_clock::now();
  ASSERT_TRUE(Service().Pull(registry_ + "/flint/busybox:latest", {}).ok());
  auto warm = std::chrono::steady_clock::now() - start;
  auto ms = [](auto d) { return std::chrono::duration_cast<std::chrono::milliseconds>(d).count(); };
  std::printf("flint/busybox pull: cold %lld ms, warm (already present) %lld ms, size %llu bytes\n",
              static_cast<long long>(ms(cold)), static_cast<long long>(ms(warm)),
              static_cast<unsigned long long>(image->size));
  EXPECT_LT(cold, std::chrono::seconds(30));
}

// flint/large (6 x 50 MB incompressible layers) is built only with FLINT_LARGE_IMAGES=1.
TEST_F(ImageRegistryTest, ColdPullTimeOfTheLargeImage) {
  auto it = env->images.find(registry_ + "/flint/large:latest");
  if (it == env->images.end()) GTEST_SKIP() << "flint/large not published (run with FLINT_LARGE_IMAGES=1)";
  auto start = std::chrono::steady_clock::now();
  auto image = Service().Pull(it->first, {});
  auto cold = std::chrono::steady_clock::now() - start;
  ASSERT_TRUE(image.ok()) << image.status();
  EXPECT_EQ(image->id, it->second.id);
  double seconds = std::chrono::duration<double>(cold).count();
  std::printf("flint/large pull: %.2f s for %llu bytes (%.0f MB/s), %zu layers, %d parallel downloads\n", seconds,
              static_cast<unsigned long long>(image->size), image->size / seconds / 1e6, image->chain_ids.size(),
              options_.max_concurrent_downloads);
}

}  // namespace
}  // namespace flint::image

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  flint::image::env = new flint::image::RegistryEnvironment();
  ::testing::AddGlobalTestEnvironment(flint::image::env);  // gtest owns it
  return RUN_ALL_TESTS();
}
