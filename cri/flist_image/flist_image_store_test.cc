#include "cri/flist_image/flist_image_store.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <memory>

#include <nlohmann/json.hpp>

#include "common/fs.h"
#include "flist-snapshotter/store/test_servers.h"

namespace flint::flist_image {
namespace {

constexpr const char* kFixtures = FLINT_FLIST_FIXTURES_DIR;

TEST(FlistReferenceTest, RecognizesFlistReferences) {
  EXPECT_TRUE(IsFlistReference("hub.grid.tf/user/name.flist"));
  EXPECT_TRUE(IsFlistReference("hub.grid.tf/user/name.flist:latest"));
  EXPECT_TRUE(IsFlistReference("https://hub.grid.tf/tf-official-apps/redis.fl"));
  EXPECT_TRUE(IsFlistReference("127.0.0.1:8080/flint/busybox.fl:latest"));
  EXPECT_FALSE(IsFlistReference("docker.io/library/busybox:latest"));
  EXPECT_FALSE(IsFlistReference("registry.k8s.io/flist:1.0"));
  EXPECT_FALSE(IsFlistReference("sha256:abc"));
  EXPECT_FALSE(IsFlistReference("hub.grid.tf/user/.fl"));
}

TEST(FlistReferenceTest, ResolvesHubsMirrorsAndUrls) {
  FlistStoreOptions options;
  options.hubs = {"https://hub.grid.tf", "http://127.0.0.1:8080"};
  options.mirrors["hub.grid.tf"] = {"http://127.0.0.1:9999/"};
  auto hub = ResolveFlistReference("hub.grid.tf/user/name.flist:latest", options);
  ASSERT_TRUE(hub.ok()) << hub.status();
  EXPECT_EQ(hub->name, "hub.grid.tf/user/name.flist:latest");
  EXPECT_EQ(hub->urls, (std::vector<std::string>{"http://127.0.0.1:9999/user/name.flist",
                                                 "https://hub.grid.tf/user/name.flist"}));
  auto local = ResolveFlistReference("127.0.0.1:8080/flint/busybox.fl", options);
  ASSERT_TRUE(local.ok());
  EXPECT_EQ(local->name, "127.0.0.1:8080/flint/busybox.fl:latest");
  EXPECT_EQ(local->urls, (std::vector<std::string>{"http://127.0.0.1:8080/flint/busybox.fl"}));
  auto loopback = ResolveFlistReference("127.0.0.1:7000/x/y.flist", options);
  ASSERT_TRUE(loopback.ok());
  EXPECT_EQ(loopback->urls, (std::vector<std::string>{"http://127.0.0.1:7000/x/y.flist"}));
  auto url = ResolveFlistReference("http://10.0.0.1/a/b.fl:latest", options);
  ASSERT_TRUE(url.ok());
  EXPECT_EQ(url->urls, (std::vector<std::string>{"http://10.0.0.1/a/b.fl"}));
  EXPECT_EQ(url->name, "10.0.0.1/a/b.fl:latest");
  EXPECT_FALSE(ResolveFlistReference("ftp://x/a.fl", options).ok());
  EXPECT_FALSE(ResolveFlistReference("name.fl", options).ok());
  EXPECT_FALSE(ResolveFlistReference("host/a/../../b.fl", options).ok());
}

TEST(FlistImageTest, DefaultStoreComesFromTheHubOfTheImageName) {
  const std::map<std::string, std::string> hub_stores = {{"hub.example.com", "zdb://zdb.example.com:9900"},
                                                         {"127.0.0.1:8080", "dir:///srv/blocks"}};
  FlistImage image;
  image.names = {"hub.example.com/user/app.flist:latest"};
  EXPECT_EQ(DefaultStoreFor(image, hub_stores, "zdb://hub.grid.tf:9900"), "zdb://zdb.example.com:9900");
  image.names = {"127.0.0.1:8080/flint/busybox.fl:latest"};  // the port is part of the host
  EXPECT_EQ(DefaultStoreFor(image, hub_stores, "zdb://hub.grid.tf:9900"), "dir:///srv/blocks");
  image.names = {"127.0.0.1:9090/flint/busybox.fl:latest"};
  EXPECT_EQ(DefaultStoreFor(image, hub_stores, "zdb://hub.grid.tf:9900"), "zdb://hub.grid.tf:9900");
  // One file pulled under two names: the first name whose hub has a store decides.
  image.names = {"hub.grid.tf/user/app.flist:latest", "hub.example.com/user/app.flist:v1"};
  EXPECT_EQ(DefaultStoreFor(image, hub_stores, "zdb://hub.grid.tf:9900"), "zdb://zdb.example.com:9900");
  image.names.clear();
  EXPECT_EQ(DefaultStoreFor(image, hub_stores, ""), "");
}

// What a crash between writing a pulled flist and it reaching the disk leaves: an index naming a
// file that is shorter than the download was (ext4 can keep the rename and lose the data).
TEST(FlistImageStoreTest, OpenDropsImagesWhoseFileIsNotWholeOrMissing) {
  char dir_template[] = "/tmp/flist-store-test-XXXXXX";
  ASSERT_NE(mkdtemp(dir_template), nullptr);
  const std::string root = dir_template;
  ASSERT_TRUE(fs::MakeDirs(root + "/sha256", 0711).ok());
  const std::string whole(64, 'w');
  ASSERT_TRUE(fs::WriteFileAtomic(root + "/sha256/aaaa", whole, 0600).ok());
  ASSERT_TRUE(fs::WriteFileAtomic(root + "/sha256/bbbb", "", 0600).ok());
  nlohmann::json index = {{"images",
                           {{{"id", "sha256:aaaa"}, {"names", {"hub/a.fl:latest"}}, {"file_size", whole.size()}},
                            {{"id", "sha256:bbbb"}, {"names", {"hub/b.fl:latest"}}, {"file_size", 4096}},
                            {{"id", "sha256:cccc"}, {"names", {"hub/c.fl:latest"}}, {"file_size", 10}}}}};
  ASSERT_TRUE(fs::WriteFileAtomic(root + "/index.json", index.dump(), 0600).ok());

  FlistStoreOptions options;
  options.root = root;
  auto store = FlistImageStore::Open(options);
  ASSERT_TRUE(store.ok()) << store.status();
  std::vector<FlistImage> images = (*store)->List();
  ASSERT_EQ(images.size(), 1u);
  EXPECT_EQ(images[0].id, "sha256:aaaa");
  EXPECT_TRUE((*store)->Find("hub/a.fl:latest").has_value());
  EXPECT_FALSE((*store)->Find("hub/b.fl:latest").has_value());
  struct stat st {};
  EXPECT_NE(stat((root + "/sha256/bbbb").c_str(), &st), 0) << "the partial file is removed";
  EXPECT_EQ(stat((root + "/sha256/aaaa").c_str(), &st), 0);
  (void)fs::RemoveAll(root);
}


// The pulled file is on disk before the index names it, and the index is written before memory
// and the files of images a re-pull leaves without a name change: an index write that fails
// (ENOSPC, EIO; here a directory in its way) leaves the store as it was.
class FlistImageStorePullTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char dir_template[] = "/tmp/flist-store-pull-XXXXXX";
    ASSERT_NE(mkdtemp(dir_template), nullptr);
    root_ = dir_template;
    ASSERT_TRUE(server_.ok());
    hello_ = fs::ReadFile(std::string(kFixtures) + "/hello.fl").value_or("");
    alpine_ = fs::ReadFile(std::string(kFixtures) + "/alpine-latest.fl").value_or("");
    ASSERT_FALSE(hello_.empty());
    ASSERT_FALSE(alpine_.empty());
    server_.Set("/user/app.fl", hello_);
    ref_ = server_.base_url() + "/user/app.fl";
    FlistStoreOptions options;
    options.root = root_;
    options.connect_timeout = std::chrono::seconds(5);
    options.stall_timeout = std::chrono::seconds(5);
    auto store = FlistImageStore::Open(options);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
  }
  void TearDown() override { (void)fs::RemoveAll(root_); }

  // Makes the next index write fail until the returned directory is removed.
  void BlockIndexWrites() {
    ASSERT_EQ(rename((root_ + "/index.json").c_str(), (root_ + "/index.json.saved").c_str()), 0);
    ASSERT_TRUE(fs::MakeDirs(root_ + "/index.json/in-the-way", 0700).ok());
  }
  void UnblockIndexWrites() {
    ASSERT_TRUE(fs::RemoveAll(root_ + "/index.json").ok());
    ASSERT_EQ(rename((root_ + "/index.json.saved").c_str(), (root_ + "/index.json").c_str()), 0);
  }
  size_t StoredFiles() const {
    size_t n = 0;
    for ([[maybe_unused]] const auto& f : std::filesystem::directory_iterator(root_ + "/sha256")) ++n;
    return n;
  }
  static bool Exists(const std::string& path) {
    struct stat st {};
    return stat(path.c_str(), &st) == 0;
  }

  flist::testing::HttpFileServer server_;
  std::string root_, hello_, alpine_, ref_;
  std::unique_ptr<FlistImageStore> store_;
};

TEST_F(FlistImageStorePullTest, FailedIndexWriteLeavesTheStoreAsItWas) {
  absl::StatusOr<FlistImage> first = store_->Pull(ref_);
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_TRUE(Exists(first->path));

  // A re-pull whose content changed cannot be recorded: the old image keeps its name and file.
  server_.Set("/user/app.fl", alpine_);
  BlockIndexWrites();
  absl::StatusOr<FlistImage> second = store_->Pull(ref_);
  ASSERT_FALSE(second.ok());
  EXPECT_NE(second.status().message().find("record flist"), std::string::npos) << second.status();
  std::vector<FlistImage> listed = store_->List();
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].id, first->id);
  EXPECT_TRUE(Exists(first->path)) << "the image still listed lost its file";
  EXPECT_EQ(StoredFiles(), 1u) << "the unrecorded download was left behind";

  // Nor can a remove: the image stays, with its file.
  absl::StatusOr<std::optional<FlistImage>> removed = store_->Remove(first->id);
  EXPECT_FALSE(removed.ok());
  EXPECT_TRUE(store_->Find(first->id).has_value());
  EXPECT_TRUE(Exists(first->path));

  // Once the index can be written, the re-pull moves the name and the old file goes.
  UnblockIndexWrites();
  second = store_->Pull(ref_);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_NE(second->id, first->id);
  listed = store_->List();
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].id, second->id);
  EXPECT_FALSE(Exists(first->path));
  EXPECT_TRUE(Exists(second->path));
}

TEST_F(FlistImageStorePullTest, OpenRemovesFilesNoImageNames) {
  absl::StatusOr<FlistImage> pulled = store_->Pull(ref_);
  ASSERT_TRUE(pulled.ok()) << pulled.status();
  const std::string orphan = root_ + "/sha256/" + std::string(64, 'e');
  ASSERT_TRUE(fs::WriteFileAtomic(orphan, alpine_, 0600).ok());  // a crash before its index write
  FlistStoreOptions options;
  options.root = root_;
  auto reopened = FlistImageStore::Open(options);
  ASSERT_TRUE(reopened.ok()) << reopened.status();
  EXPECT_TRUE((*reopened)->Find(pulled->id).has_value());
  EXPECT_TRUE(Exists(pulled->path));
  EXPECT_FALSE(Exists(orphan));
}

}  // namespace
}  // namespace flint::flist_image
