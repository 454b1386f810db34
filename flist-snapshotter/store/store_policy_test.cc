#include "flist-snapshotter/store/store_policy.h"

#include <gtest/gtest.h>

namespace flint::flist {
namespace {

TEST(StorePolicyTest, EmptyPolicyAllowsEverything) {
  EXPECT_TRUE(StoreAllowed("dir:///etc", {}));
  EXPECT_TRUE(StoreAllowed("zdb://10.0.0.1:9900", {}));
}

TEST(StorePolicyTest, HostMatchesAnyPortUnlessTheEntryNamesOne) {
  const std::vector<std::string> any_port = {"zdb://Hub.Grid.tf"};
  EXPECT_TRUE(StoreAllowed("zdb://hub.grid.tf:9900", any_port));
  EXPECT_TRUE(StoreAllowed("zdb://hub.grid.tf:9900/namespace", any_port));
  EXPECT_FALSE(StoreAllowed("redis://hub.grid.tf:9900", any_port));  // another scheme
  EXPECT_FALSE(StoreAllowed("zdb://hub.grid.tf.evil.example:9900", any_port));
  EXPECT_FALSE(StoreAllowed("zdb://evil.example/hub.grid.tf", any_port));
  const std::vector<std::string> one_port = {"zdb://hub.grid.tf:9900"};
  EXPECT_TRUE(StoreAllowed("zdb://hub.grid.tf:9900", one_port));
  EXPECT_FALSE(StoreAllowed("zdb://hub.grid.tf:6379", one_port));
  EXPECT_FALSE(StoreAllowed("zdb://hub.grid.tf", one_port));
}

TEST(StorePolicyTest, CredentialsInTheRouteDoNotChangeWhichStoreItIs) {
  EXPECT_TRUE(StoreAllowed("zdb://user:secret@hub.grid.tf:9900/ns", {"zdb://hub.grid.tf:9900"}));
  EXPECT_FALSE(StoreAllowed("zdb://hub.grid.tf@10.0.0.1:9900", {"zdb://hub.grid.tf"}));
}

TEST(StorePolicyTest, PathsMatchAtOrBelowTheEntryWithoutEscapes) {
  const std::vector<std::string> dir = {"dir:///srv/blocks/"};
  EXPECT_TRUE(StoreAllowed("dir:///srv/blocks", dir));
  EXPECT_TRUE(StoreAllowed("dir:///srv/blocks/team-a", dir));
  EXPECT_FALSE(StoreAllowed("dir:///srv/blocks-other", dir));
  EXPECT_FALSE(StoreAllowed("dir:///srv/blocks/../../etc", dir));
  EXPECT_FALSE(StoreAllowed("dir:///srv/blocks/..", dir));
  EXPECT_FALSE(StoreAllowed("dir:///etc", dir));
  EXPECT_TRUE(StoreAllowed("https://cdn.example.com/blocks/v2", {"https://cdn.example.com/blocks"}));
  EXPECT_FALSE(StoreAllowed("https://cdn.example.com/other", {"https://cdn.example.com/blocks"}));
}

TEST(StorePolicyTest, PercentEncodedPathsAreJudgedAsTheStoreReadsThem) {
  // zdb: the namespace is decoded before SELECT (a v1 backend's namespace is encoded in its route).
  EXPECT_TRUE(StoreAllowed("zdb://hub.example:9900/my%20ns", {"zdb://hub.example:9900/my ns"}));
  EXPECT_TRUE(StoreAllowed("zdb://hub.example:9900/my%20ns", {"zdb://hub.example:9900/my%20ns"}));
  EXPECT_FALSE(StoreAllowed("zdb://hub.example:9900/other%20ns", {"zdb://hub.example:9900/my ns"}));
  // HTTP servers decode "%2e%2e" and may then resolve it: no way out of the entry's path.
  const std::vector<std::string> cdn = {"https://cdn.example.com/blocks"};
  EXPECT_FALSE(StoreAllowed("https://cdn.example.com/blocks/%2e%2e/private", cdn));
  EXPECT_FALSE(StoreAllowed("https://cdn.example.com/blocks/%2E%2E", cdn));
  EXPECT_FALSE(StoreAllowed("https://cdn.example.com/blocks%2F..%2Fprivate", cdn));
  EXPECT_TRUE(StoreAllowed("https://cdn.example.com/blocks/v%32", cdn));
  // dir:// reads the path as written, and a decoded escape is refused as well.
  EXPECT_FALSE(StoreAllowed("dir:///srv/blocks/%2E%2E/etc", {"dir:///srv/blocks"}));
}

TEST(StorePolicyTest, UnparsableRoutesAreNotAllowed) {
  EXPECT_FALSE(StoreAllowed("hub.grid.tf:9900", {"zdb://hub.grid.tf"}));
  EXPECT_FALSE(StoreAllowed("zdb://hub.grid.tf:notaport", {"zdb://hub.grid.tf"}));
}

TEST(StorePolicyTest, FlistCheckNamesTheFirstStoreNotAllowedWithoutItsPassword) {
  FlistBuilder builder(FlistVersion::kV2);
  builder.AddRoute({0, 127, "zdb://hub.grid.tf:9900"});
  builder.AddRoute({128, 255, "redis://admin:hunter2@10.1.2.3:6379"});
  const Flist flist = std::move(builder).Finish();
  EXPECT_TRUE(CheckFlistStores(flist, {}).ok());
  EXPECT_TRUE(CheckFlistStores(flist, {"zdb://hub.grid.tf", "redis://10.1.2.3"}).ok());
  const absl::Status denied = CheckFlistStores(flist, {"zdb://hub.grid.tf"});
  EXPECT_EQ(denied.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_NE(denied.message().find("redis://admin@10.1.2.3:6379"), std::string::npos) << denied.message();
  EXPECT_EQ(denied.message().find("hunter2"), std::string::npos) << denied.message();
  EXPECT_NE(denied.message().find("flist.allowed_stores"), std::string::npos) << denied.message();
}

TEST(StorePolicyTest, FlistCheckHidesCredentialsOfAnUnparsableRoute) {
  FlistBuilder builder(FlistVersion::kV2);
  builder.AddRoute({0, 255, "zdb://:hunter/2@10.1.2.3:9900"});
  const absl::Status denied = CheckFlistStores(std::move(builder).Finish(), {"zdb://hub.grid.tf"});
  EXPECT_EQ(denied.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_NE(denied.message().find("\"zdb://***@10.1.2.3:9900\""), std::string::npos) << denied.message();
}

}  // namespace
}  // namespace flint::flist
