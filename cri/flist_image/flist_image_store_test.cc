#include "cri/flist_image/flist_image_store.h"

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace flint::flist_image
