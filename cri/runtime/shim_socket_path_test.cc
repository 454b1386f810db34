#include <sys/un.h>

#include <string>

#include "cri/runtime/pod_runtime.h"
#include "gtest/gtest.h"

namespace flint::runtime {
namespace {

TEST(ShimSocketPathTest, DefaultStateDirFits) {
  EXPECT_TRUE(CheckStateDirFitsShimSockets("/run/flint").ok());
  EXPECT_EQ(ShimSocketPathFor("/run/flint", "abc"), "/run/flint/shims/abc.sock");
  const std::string id = "0123456789abcdef0123456789abcdef" "fedcba9876543210fedcba9876543210";
  EXPECT_EQ(ShimSocketPathFor("/run/flint", id), "/run/flint/shims/0123456789abcdef0123456789abcdef.sock");
}

TEST(ShimSocketPathTest, LongestFittingStateDirIsAcceptedAndOneMoreByteIsRefused) {
  // "/shims/" + 32 hex + ".sock" = 44 bytes; sun_path holds 107 plus the NUL.
  const size_t limit = sizeof(sockaddr_un::sun_path) - 1 - 44;
  std::string fits = "/" + std::string(limit - 1, 'd');
  ASSERT_EQ(fits.size(), limit);
  EXPECT_TRUE(CheckStateDirFitsShimSockets(fits).ok());
  absl::Status too_long = CheckStateDirFitsShimSockets(fits + "x");
  EXPECT_EQ(too_long.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(too_long.message().find("at most 63 bytes"), std::string::npos) << too_long.message();
}

}  // namespace
}  // namespace flint::runtime
