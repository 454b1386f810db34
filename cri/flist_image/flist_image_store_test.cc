#include "cri/flist_image/flist_image_store.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "common/fs.h"

namespace flint::flist_image {
namespace {

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

}  // namespace
}  // namespace flint::flist_image
