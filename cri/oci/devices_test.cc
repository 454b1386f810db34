#include "cri/oci/devices.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "cri/oci/test_util.h"

namespace flint::oci {
namespace {

TEST(DevicesTest, StatLookup) {
  StatDeviceLookup lookup;
  auto null_dev = lookup.Lookup("/dev/null");
  ASSERT_TRUE(null_dev.ok()) << null_dev.status();
  EXPECT_EQ(null_dev->type, 'c');
  EXPECT_EQ(null_dev->major, 1);
  EXPECT_EQ(null_dev->minor, 3);
  testing::TempDir dir;
  testing::WriteFile(dir.Sub("file"), "x");
  EXPECT_EQ(lookup.Lookup(dir.Sub("file")).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(lookup.Lookup(dir.Sub("missing")).status().code(), absl::StatusCode::kNotFound);
}

TEST(DevicesTest, ScanHostDevicesFindsNodesAndSkipsPtys) {
  std::vector<DeviceNode> nodes = ScanHostDevices("/dev");
  auto has = [&](const std::string& p) {
    return std::any_of(nodes.begin(), nodes.end(), [&](const DeviceNode& n) { return n.path == p; });
  };
  EXPECT_TRUE(has("/dev/null"));
  EXPECT_TRUE(has("/dev/zero"));
  EXPECT_FALSE(has("/dev/ptmx"));
  EXPECT_FALSE(has("/dev/console"));
  EXPECT_TRUE(ScanHostDevices("/nonexistent-dir").empty());
}

TEST(DevicesTest, Permissions) {
  EXPECT_EQ(*NormalizeDevicePermissions(""), "rwm");
  EXPECT_EQ(*NormalizeDevicePermissions("mr"), "rm");
  EXPECT_FALSE(NormalizeDevicePermissions("rwx").ok());
}

}  // namespace
}  // namespace flint::oci
