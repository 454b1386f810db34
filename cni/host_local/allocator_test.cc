#include "cni/host_local/allocator.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include "cni/lib/cni_error.h"

namespace flint::cni {
namespace {

namespace fs = std::filesystem;

class AllocatorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/flint-cni-alloc-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { fs::remove_all(dir_); }

  static RangeSet Set(const char* subnet, const char* start = nullptr, const char* end = nullptr) {
    nlohmann::json j = {{"subnet", subnet}};
    if (start) j["rangeStart"] = start;
    if (end) j["rangeEnd"] = end;
    return {*ParseRange(j)};
  }

  absl::StatusOr<ResultIp> Allocate(const RangeSet& set, const std::string& id, int index = 0,
                                    std::optional<IpAddress> requested = std::nullopt) {
    absl::StatusOr<std::unique_ptr<AllocationStore>> store = AllocationStore::OpenLocked(dir_, "net");
    if (!store.ok()) return store.status();
    return AllocateFromRangeSet(set, index, **store, id, "eth0", requested);
  }

  absl::Status Release(const std::string& id) {
    absl::StatusOr<std::unique_ptr<AllocationStore>> store = AllocationStore::OpenLocked(dir_, "net");
    if (!store.ok()) return store.status();
    return (*store)->ReleaseByOwner(id, "eth0");
  }

  std::string Read(const std::string& name) {
    std::ifstream in(dir_ + "/net/" + name, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

  std::string dir_;
};

TEST_F(AllocatorTest, HandsOutSequentialAddressesSkippingGatewayInReferenceFormat) {
  RangeSet set = Set("10.9.0.0/24");
  absl::StatusOr<ResultIp> a = Allocate(set, "ctr-a");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->address.ToString(), "10.9.0.2/24");  // .1 is the gateway
  EXPECT_EQ(a->gateway->ToString(), "10.9.0.1");
  absl::StatusOr<ResultIp> b = Allocate(set, "ctr-b");
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->address.ToString(), "10.9.0.3/24");
  EXPECT_EQ(Read("10.9.0.2"), "ctr-a\r\neth0");
  EXPECT_EQ(Read("last_reserved_ip.0"), "10.9.0.3");
  EXPECT_TRUE(fs::exists(dir_ + "/net/lock"));
}

TEST_F(AllocatorTest, ContinuesAfterLastReservedAndWrapsAround) {
  RangeSet set = Set("10.9.0.0/29");  // .1 gateway, .2-.6 usable
  for (const char* id : {"a", "b", "c"}) ASSERT_TRUE(Allocate(set, id).ok());
  ASSERT_TRUE(Release("a").ok());  // frees .2, but the next pick continues after .4
  EXPECT_EQ(Allocate(set, "d")->address.address.ToString(), "10.9.0.5");
  EXPECT_EQ(Allocate(set, "e")->address.address.ToString(), "10.9.0.6");
  EXPECT_EQ(Allocate(set, "f")->address.address.ToString(), "10.9.0.2");  // wrapped
}

TEST_F(AllocatorTest, ExhaustionIsReportedWithTheRangeSet) {
  RangeSet set = Set("10.9.0.0/24", "10.9.0.10", "10.9.0.11");
  ASSERT_TRUE(Allocate(set, "a").ok());
  ASSERT_TRUE(Allocate(set, "b").ok());
  absl::StatusOr<ResultIp> c = Allocate(set, "c");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(CniCodeOf(c.status()), static_cast<int>(ErrorCode::kAddressesExhausted));
  EXPECT_EQ(c.status().message(), "no IP addresses available in range set: 10.9.0.10-10.9.0.11");
}

TEST_F(AllocatorTest, DuplicateAllocationForSameOwnerIsRefused) {
  RangeSet set = Set("10.9.0.0/24");
  ASSERT_TRUE(Allocate(set, "a").ok());
  absl::StatusOr<ResultIp> again = Allocate(set, "a");
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(CniCodeOf(again.status()), static_cast<int>(ErrorCode::kAlreadyAllocated));
}

TEST_F(AllocatorTest, ReleaseRemovesOnlyTheOwnersFilesAndIsIdempotent) {
  RangeSet set = Set("10.9.0.0/24");
  ASSERT_TRUE(Allocate(set, "a").ok());
  ASSERT_TRUE(Allocate(set, "b").ok());
  ASSERT_TRUE(Release("a").ok());
  ASSERT_TRUE(Release("a").ok());
  EXPECT_FALSE(fs::exists(dir_ + "/net/10.9.0.2"));
  EXPECT_TRUE(fs::exists(dir_ + "/net/10.9.0.3"));
  // Records written by older reference versions hold only the container id.
  std::ofstream(dir_ + "/net/10.9.0.50") << "legacy";
  ASSERT_TRUE(Release("legacy").ok());
  EXPECT_FALSE(fs::exists(dir_ + "/net/10.9.0.50"));
}

TEST_F(AllocatorTest, Ipv6FilesUseCompressedNames) {
  RangeSet set = Set("fd00:9::/64");
  absl::StatusOr<ResultIp> a = Allocate(set, "a", 1);
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->address.ToString(), "fd00:9::2/64");
  EXPECT_TRUE(fs::exists(dir_ + "/net/fd00:9::2"));
  EXPECT_EQ(Read("last_reserved_ip.1"), "fd00:9::2");
}

TEST_F(AllocatorTest, MultiRangeSetMovesToNextRange) {
  nlohmann::json j = nlohmann::json::parse(R"([
      {"subnet": "10.9.0.0/24", "rangeStart": "10.9.0.5", "rangeEnd": "10.9.0.5"},
      {"subnet": "10.9.1.0/24", "rangeStart": "10.9.1.7", "rangeEnd": "10.9.1.8"}])");
  RangeSet set = {*ParseRange(j[0]), *ParseRange(j[1])};
  EXPECT_EQ(Allocate(set, "a")->address.ToString(), "10.9.0.5/24");
  absl::StatusOr<ResultIp> b = Allocate(set, "b");
  EXPECT_EQ(b->address.ToString(), "10.9.1.7/24");
  EXPECT_EQ(b->gateway->ToString(), "10.9.1.1");
}

TEST_F(AllocatorTest, RequestedAddressIsReservedOrRefused) {
  RangeSet set = Set("10.9.0.0/24", "10.9.0.10", "10.9.0.20");
  absl::StatusOr<ResultIp> a = Allocate(set, "a", 0, *IpAddress::Parse("10.9.0.15"));
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->address.ToString(), "10.9.0.15/24");
  EXPECT_EQ(Read("10.9.0.15"), "a\r\neth0");
  absl::StatusOr<ResultIp> taken = Allocate(set, "b", 0, *IpAddress::Parse("10.9.0.15"));
  ASSERT_FALSE(taken.ok());
  EXPECT_EQ(CniCodeOf(taken.status()), static_cast<int>(ErrorCode::kAddressesExhausted));
  EXPECT_NE(taken.status().message().find("not available"), std::string::npos);
  absl::StatusOr<ResultIp> outside = Allocate(set, "c", 0, *IpAddress::Parse("10.9.0.30"));
  ASSERT_FALSE(outside.ok());
  EXPECT_EQ(CniCodeOf(outside.status()), static_cast<int>(ErrorCode::kInvalidNetworkConfig));
  RangeSet with_gw = Set("10.9.0.0/24");
  EXPECT_FALSE(Allocate(with_gw, "d", 0, *IpAddress::Parse("10.9.0.1")).ok());
  EXPECT_TRUE(RangeSetContains(set, *IpAddress::Parse("10.9.0.20")));
  EXPECT_FALSE(RangeSetContains(set, *IpAddress::Parse("10.9.0.21")));
}

TEST_F(AllocatorTest, GarbageCollectionKeepsOnlyValidAttachments) {
  RangeSet set = Set("10.9.0.0/24");
  for (const char* id : {"a", "b", "c"}) ASSERT_TRUE(Allocate(set, id).ok());
  std::ofstream(dir_ + "/net/10.9.0.60") << "legacy-kept";
  std::ofstream(dir_ + "/net/10.9.0.61") << "legacy-gone";
  {
    auto store = AllocationStore::OpenLocked(dir_, "net");
    ASSERT_TRUE(store.ok());
    ASSERT_TRUE((*store)->ReleaseAllExcept({{"b", "eth0"}, {"legacy-kept", "eth0"}, {"c", "net1"}}).ok());
  }
  EXPECT_FALSE(fs::exists(dir_ + "/net/10.9.0.2"));  // a
  EXPECT_TRUE(fs::exists(dir_ + "/net/10.9.0.3"));   // b
  EXPECT_FALSE(fs::exists(dir_ + "/net/10.9.0.4"));  // c, but on another interface
  EXPECT_TRUE(fs::exists(dir_ + "/net/10.9.0.60"));
  EXPECT_FALSE(fs::exists(dir_ + "/net/10.9.0.61"));
  EXPECT_TRUE(fs::exists(dir_ + "/net/last_reserved_ip.0"));
  EXPECT_TRUE(fs::exists(dir_ + "/net/lock"));
}

TEST_F(AllocatorTest, ConcurrentAllocationsAreDistinct) {
  RangeSet set = Set("10.9.0.0/24");
  std::mutex mu;
  std::set<std::string> got;
  std::vector<std::thread> threads;
  for (int i = 0; i < 16; ++i) {
    threads.emplace_back([&, i] {
      absl::StatusOr<ResultIp> ip = Allocate(set, "ctr-" + std::to_string(i));
      std::lock_guard<std::mutex> lock(mu);
      if (ip.ok()) got.insert(ip->address.ToString());
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(got.size(), 16u);
}

}  // namespace
}  // namespace flint::cni
